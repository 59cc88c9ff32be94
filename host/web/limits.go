package web

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/host/connlimit"
)

// Connection limits (Config.MaxConnections, MaxConnectionsPerClient,
// MaxPreRequest and the process-wide cap of the connlimit.Registry).
//
// A connection is counted from accept to close. The listener's
// connections and those that have not sent a first request are checked at
// accept, on the accept goroutine, without reading a byte; so is the
// client address, except behind a PROXY header, which is read on the
// connection's own goroutine (proxyconn.go): there the per-client limit
// applies at the first request, when the header has been read.
//
// A refused connection still goes through net/http, so that the client
// gets a 503 in its own protocol (HTTP/1.1 or h2, over TLS on a TLS
// listener), but within refusalTime: its deadlines are clamped, and at
// most connlimit's refusal slots are answered at once in the process;
// past that a refused connection is closed at accept.

// refusalTime bounds answering one refused connection.
const refusalTime = 3 * time.Second

// retryAfter is the Retry-After of a refusal, in seconds: connections end
// within seconds (pre-request ones within read_header_timeout).
const retryAfter = "10"

// limitListener counts the connections of one listener.
type limitListener struct {
	net.Listener
	s       *Server
	name    string
	counts  *connlimit.Listener
	lim     connlimit.Limits
	proxied bool // the client is known after the PROXY header only
}

func (s *Server) limitListener(ln net.Listener, l Listener) net.Listener {
	c := s.cfg
	n := func(v, def int) int {
		switch {
		case v < 0:
			return 0
		case v == 0:
			return def
		}
		return v
	}
	ex := c.PerClientExempt
	if ex == nil {
		ex = connlimit.DefaultExempt()
	}
	// A trusted forwarder carries many clients on its connections.
	ex = append(append([]netip.Prefix(nil), ex...), l.TrustedForwarders...)
	counts := s.limiter.Listener(l.Name)
	counts.SetEarlyLabel("pre_request")
	return &limitListener{
		Listener: ln, s: s, name: l.Name, counts: counts, proxied: l.ProxyProtocol,
		lim: connlimit.Limits{
			MaxConns:     n(c.MaxConnections, 0),
			MaxPerClient: n(c.MaxConnectionsPerClient, connlimit.DefaultMaxPerClient),
			MaxEarly:     n(c.MaxPreRequest, connlimit.DefaultMaxEarly),
			Exempt:       ex,
		},
	}
}

// Accept returns the next connection, admitted or marked refused.
func (ll *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := ll.Listener.Accept()
		if err != nil {
			return nil, err
		}
		var client netip.Addr
		if !ll.proxied {
			client = addrPortOf(c.RemoteAddr()).Addr()
		}
		tk, why := ll.counts.Admit(client, &ll.lim)
		if why == connlimit.OK {
			return &limitConn{Conn: c, ll: ll, ticket: tk}, nil
		}
		peer := ""
		if !ll.proxied {
			peer = client.String()
		}
		ll.logRefusal(why, peer)
		if !ll.s.limiter.TryRefusal() {
			c.Close()
			continue
		}
		lc := &limitConn{Conn: c, ll: ll, slot: true, hard: time.Now().Add(refusalTime)}
		lc.state.Store(int32(why))
		c.SetDeadline(lc.hard)
		return lc, nil
	}
}

func (ll *limitListener) logRefusal(why connlimit.Reason, client string) {
	if !ll.counts.LogRefusal() {
		return
	}
	conns, early := ll.counts.Open()
	ll.s.log.Warn("connection refused by a connection limit (logged at most every 10s per listener)",
		"listener", ll.name, "reason", why.Label("pre_request"), "client", client,
		"connections", conns, "pre_request", early, "sessions", ll.s.limiter.Sessions(),
		"refused_total", ll.counts.Refused(why))
}

// Connection states, besides a refusal's connlimit.Reason.
const (
	stateNew      = 0  // no request yet
	stateAdmitted = -1 // a request came and the limits let it through
)

// limitConn is one counted connection. Close gives its place back.
type limitConn struct {
	net.Conn
	ll     *limitListener
	ticket *connlimit.Ticket // nil when refused at accept
	slot   bool              // holds a refusal slot
	hard   time.Time         // refused: every deadline is at most this

	state atomic.Int32 // stateNew, stateAdmitted or the refusal's Reason
	mu    sync.Mutex   // the first request (h2 streams run concurrently)
	once  sync.Once
}

func (c *limitConn) Close() error {
	err := c.Conn.Close()
	c.once.Do(func() {
		c.ticket.Release()
		if c.slot {
			c.ll.s.limiter.DoneRefusal()
		}
	})
	return err
}

// CloseWrite half-closes the connection when the socket can, as net/http
// does before closing after an error answer (so the client reads it).
func (c *limitConn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

func (c *limitConn) clamp(t time.Time) time.Time {
	if !c.hard.IsZero() && (t.IsZero() || t.After(c.hard)) {
		return c.hard
	}
	return t
}

func (c *limitConn) SetDeadline(t time.Time) error     { return c.Conn.SetDeadline(c.clamp(t)) }
func (c *limitConn) SetReadDeadline(t time.Time) error { return c.Conn.SetReadDeadline(c.clamp(t)) }
func (c *limitConn) SetWriteDeadline(t time.Time) error {
	return c.Conn.SetWriteDeadline(c.clamp(t))
}

// firstRequest decides a connection at its first request: the per-client
// limit behind a PROXY header, then it leaves the pre-request count. It
// returns the refusal's reason, or OK.
func (c *limitConn) firstRequest() connlimit.Reason {
	c.mu.Lock()
	defer c.mu.Unlock()
	switch st := c.state.Load(); {
	case st == stateAdmitted:
		return connlimit.OK
	case st != stateNew:
		return connlimit.Reason(st)
	}
	if c.ll.proxied {
		client := addrPortOf(c.Conn.RemoteAddr()).Addr() // the header's, read by now
		if why := c.ticket.SetClient(client); why != connlimit.OK {
			c.ll.logRefusal(why, client.String())
			c.state.Store(int32(why))
			return why
		}
	}
	c.ticket.Establish()
	c.state.Store(stateAdmitted)
	return connlimit.OK
}

type limitConnKey struct{}

// underTLS is the connection under c's TLS (and under the event loops'
// transport), or c.
func underTLS(c net.Conn) net.Conn {
	for {
		nc, ok := c.(interface{ NetConn() net.Conn })
		if !ok {
			return c
		}
		c = nc.NetConn()
	}
}

// limitServer makes srv's handler answer refused connections with 503
// and move admitted ones out of the pre-request count.
func limitServer(srv *http.Server) {
	next, prev := srv.Handler, srv.ConnContext
	srv.ConnContext = func(ctx context.Context, c net.Conn) context.Context {
		if prev != nil {
			ctx = prev(ctx, c)
		}
		if lc, ok := underTLS(c).(*limitConn); ok {
			return context.WithValue(ctx, limitConnKey{}, lc)
		}
		return ctx
	}
	srv.Handler = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if lc, ok := r.Context().Value(limitConnKey{}).(*limitConn); ok && lc.state.Load() != stateAdmitted {
			if why := lc.firstRequest(); why != connlimit.OK {
				refuse(w, why)
				return
			}
		}
		next.ServeHTTP(w, r)
	})
}

// refuse answers a refused connection's request: 503, Retry-After, and
// Connection: close (on h2, a GOAWAY).
func refuse(w http.ResponseWriter, why connlimit.Reason) {
	text := "Too many connections, try again later.\n"
	if why == connlimit.PerClient {
		text = "Too many connections from your address, try again later.\n"
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("Retry-After", retryAfter)
	h.Set("Connection", "close")
	w.WriteHeader(http.StatusServiceUnavailable)
	io.WriteString(w, text)
}
