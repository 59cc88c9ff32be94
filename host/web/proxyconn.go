package web

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"time"

	"github.com/postern/postern/host/internal/proxyproto"
)

// proxyHeaderTimeout bounds reading a PROXY header from a balancer: it
// sends the header at once, so anything slower is not a balancer.
const proxyHeaderTimeout = 5 * time.Second

// proxyListener accepts connections of a listener with ProxyProtocol on.
// Accept only checks the peer against the trusted balancers and wraps the
// connection; the header is read later by the connection's own goroutine
// (proxyConn), so one client that sends nothing cannot hold up accepting.
//
// The header is not read in http.Server.ConnContext because net/http
// calls ConnContext on the accept goroutine, and on a TLS listener it
// receives the *tls.Conn, above the bytes the header arrives in.
type proxyListener struct {
	net.Listener
	name    string
	trusted []netip.Prefix
	timeout time.Duration
	log     *slog.Logger
}

// Accept returns the next connection from a trusted balancer, closing
// those from other peers.
func (l *proxyListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		peer := addrPortOf(c.RemoteAddr())
		if !inPrefixes(peer.Addr(), l.trusted) {
			l.log.Warn("connection closed: listener expects a PROXY header and the peer is not among trusted_proxies",
				"listener", l.name, "peer", peer.String())
			c.Close()
			continue
		}
		return &proxyConn{Conn: c, l: l}, nil
	}
}

// proxyConn reads the PROXY header on its first Read, RemoteAddr or
// LocalAddr (whichever comes first; net/http calls RemoteAddr first, on
// the connection's goroutine) and from then on reports the header's
// addresses. Bytes that arrived with the header are served before the
// socket is read again. A missing or bad header fails every Read, so the
// server closes the connection.
type proxyConn struct {
	net.Conn
	l    *proxyListener
	once sync.Once

	// Set once by readHeader.
	remote, local net.Addr
	err           error
	br            *bufio.Reader // bytes read past the header; nil once drained (Read only)

	mu          sync.Mutex
	readDL      time.Time // the read deadline the server asked for
	hdrDL       time.Time // the header's deadline while it is read
	headerDone  bool
	headerStart bool
}

func (c *proxyConn) header() { c.once.Do(c.readHeader) }

func (c *proxyConn) readHeader() {
	c.remote, c.local = c.Conn.RemoteAddr(), c.Conn.LocalAddr()
	c.mu.Lock()
	c.headerStart = true
	c.hdrDL = time.Now().Add(c.l.timeout)
	_ = c.Conn.SetReadDeadline(earliest(c.readDL, c.hdrDL))
	c.mu.Unlock()

	br := bufio.NewReaderSize(c.Conn, 256)
	h, err := proxyproto.Read(br)

	c.mu.Lock()
	c.headerDone = true
	_ = c.Conn.SetReadDeadline(c.readDL)
	c.mu.Unlock()

	peer := addrPortOf(c.remote).String()
	if err != nil {
		// A read error, so net/http closes the connection without
		// answering (it answers 400 to other errors).
		c.err = &net.OpError{Op: "read", Net: "tcp", Source: c.local, Addr: c.remote,
			Err: fmt.Errorf("web: PROXY header: %w; check that the balancer sends PROXY v1 or v2 (HAProxy send-proxy, NLB proxy protocol v2)", err)}
		if errors.Is(err, io.EOF) && br.Buffered() == 0 {
			// A TCP health check connects and closes without a byte.
			c.l.log.Debug("connection closed before a PROXY header", "listener", c.l.name, "peer", peer)
		} else {
			c.l.log.Warn("connection closed: no valid PROXY header", "listener", c.l.name, "peer", peer, "err", err)
		}
		return
	}
	if !h.Local {
		c.remote = net.TCPAddrFromAddrPort(unmapPort(h.Source))
		c.local = net.TCPAddrFromAddrPort(unmapPort(h.Dest))
	}
	if br.Buffered() > 0 {
		c.br = br
	}
}

// Read reads the header first, then the bytes after it.
func (c *proxyConn) Read(b []byte) (int, error) {
	c.header()
	if c.err != nil {
		return 0, c.err
	}
	if c.br != nil {
		n, _ := c.br.Read(b) // only buffered bytes: Buffered() > 0
		if c.br.Buffered() == 0 {
			c.br = nil
		}
		return n, nil
	}
	return c.Conn.Read(b)
}

// RemoteAddr is the header's source (the client), or the socket's peer
// for a LOCAL header or when the header failed. It waits for the header.
func (c *proxyConn) RemoteAddr() net.Addr {
	c.header()
	return c.remote
}

// LocalAddr is the header's destination, or the socket's address for a
// LOCAL header or when the header failed. It waits for the header.
func (c *proxyConn) LocalAddr() net.Addr {
	c.header()
	return c.local
}

// SetReadDeadline applies t, but while the header is being read the
// header's own deadline applies too; t is restored afterwards.
func (c *proxyConn) SetReadDeadline(t time.Time) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.readDL = t
	switch {
	case c.headerDone:
		return c.Conn.SetReadDeadline(t)
	case c.headerStart:
		return c.Conn.SetReadDeadline(earliest(t, c.hdrDL))
	}
	return nil // applied when the header is read
}

// SetDeadline sets the write deadline and, as SetReadDeadline, the read
// deadline.
func (c *proxyConn) SetDeadline(t time.Time) error {
	if err := c.Conn.SetWriteDeadline(t); err != nil {
		return err
	}
	return c.SetReadDeadline(t)
}

// earliest returns the earlier of two deadlines, a zero one meaning none.
func earliest(a, b time.Time) time.Time {
	if a.IsZero() || (!b.IsZero() && b.Before(a)) {
		return b
	}
	return a
}

func addrPortOf(a net.Addr) netip.AddrPort {
	if ta, ok := a.(*net.TCPAddr); ok {
		return unmapPort(ta.AddrPort())
	}
	if a == nil {
		return netip.AddrPort{}
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return unmapPort(ap)
}

func unmapPort(ap netip.AddrPort) netip.AddrPort {
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}
