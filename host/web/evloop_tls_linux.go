//go:build linux

package web

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"syscall"
)

// TLS connections on the event loops. The handshake is a goroutine's (it
// blocks, and it costs far more than the requests that follow); once it
// is done an HTTP/1.1 connection goes to a loop as a plain one does, and
// the loop reads and writes through the connection's crypto/tls.Conn,
// whose socket is then a tlsTransport in loop mode: reads are read(2) on
// the loop's socket, returning errWouldBlock (a temporary error, which
// tls.Conn does not keep) when there is nothing, and writes queue the
// records for the loop to write in one system call per flush.
//
// The loop must know when tls.Conn holds bytes no event will announce:
// a record read along with the one before it is in no socket buffer any
// more. tlsTransport therefore never hands tls.Conn more than the rest of
// the record it is reading: bytes read past it wait in extra, where the
// loop sees them (pending). Once tls.Conn.Read returns, tls.Conn holds no
// ciphertext, only the plaintext a full read buffer left, which the loop
// knows from the buffer being full.

// errWouldBlock is the loop's socket having nothing to read: temporary,
// so tls.Conn returns it without failing the connection.
var errWouldBlock error = wouldBlock{}

type wouldBlock struct{}

func (wouldBlock) Error() string   { return "read would block" }
func (wouldBlock) Timeout() bool   { return true }
func (wouldBlock) Temporary() bool { return true }

// tlsRecordHeaderLen is the size of a TLS record's header (type, version,
// length).
const tlsRecordHeaderLen = 5

// tlsTransport is the socket under a TLS connection of a listener whose
// connections go to the event loops.
type tlsTransport struct {
	// Conn is the socket (in its limitConn when the listener limits
	// connections) while a goroutine has the connection; while a loop
	// has it, Conn's socket is closed and lc's descriptor is used.
	net.Conn
	lc *loopConn
	h2 *loopH2 // an h2 connection's loop (evloop_h2_linux.go), instead of lc

	extra []byte // bytes read past the record being read
	ebuf  []byte // extra's storage, kept for the next time
	// The record being read: its header bytes seen (hn of them), and
	// left, the bytes of its body not handed over yet.
	hdr  [tlsRecordHeaderLen]byte
	hn   int
	left int
	// direct: reads go straight through (an h2 connection, which never
	// goes to a loop), once extra is empty.
	direct bool
}

// wrapTLS is the connection crypto/tls runs on for a new connection: a
// tlsTransport when the listener's connections go to the loops.
func (hs *h1Server) wrapTLS(c net.Conn) net.Conn {
	if hs.loops == nil {
		return c
	}
	return &tlsTransport{Conn: c}
}

// NetConn is the socket's connection (limits.go's underTLS).
func (t *tlsTransport) NetConn() net.Conn { return t.Conn }

// goDirect stops the record tracking of conn's transport, if it has one:
// the connection stays a goroutine's.
func goDirect(conn *tls.Conn) {
	if t, ok := conn.NetConn().(*tlsTransport); ok {
		t.direct = true
	}
}

func (t *tlsTransport) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	if len(t.extra) > 0 {
		n := copy(p, t.extra)
		if !t.direct {
			n = t.span(p[:n])
		}
		t.extra = t.extra[n:]
		return n, nil
	}
	var n int
	var err error
	if t.lc != nil || t.h2 != nil {
		fd := -1
		if t.lc != nil {
			fd = t.lc.fd
		} else {
			fd = t.h2.fd
		}
		n, err = rawRead(fd, p)
		switch {
		case err == syscall.EAGAIN || err == syscall.EINTR:
			return 0, errWouldBlock
		case err != nil:
			return 0, os.NewSyscallError("read", err)
		case n == 0:
			return 0, io.EOF
		}
	} else {
		n, err = t.Conn.Read(p)
	}
	if t.direct || n <= 0 {
		return n, err
	}
	if k := t.span(p[:n]); k < n {
		// extra is empty here (it is handed over before the socket is
		// read again): its storage is reused.
		t.extra = append(t.ebuf[:0], p[k:n]...)
		t.ebuf = t.extra[:0]
		return k, nil
	}
	return n, err
}

// span is how many bytes at the start of b belong to the record being
// read (its header included); it moves past them.
func (t *tlsTransport) span(b []byte) int {
	k := 0
	if t.left == 0 {
		k = min(tlsRecordHeaderLen-t.hn, len(b))
		copy(t.hdr[t.hn:], b[:k])
		t.hn += k
		if t.hn < tlsRecordHeaderLen {
			return k
		}
		t.hn = 0
		t.left = int(t.hdr[3])<<8 | int(t.hdr[4])
	}
	m := min(t.left, len(b)-k)
	t.left -= m
	return k + m
}

// pending reports bytes read from the socket that tls.Conn has not had.
func (t *tlsTransport) pending() bool { return len(t.extra) > 0 }

func (t *tlsTransport) Write(p []byte) (int, error) {
	if t.h2 != nil {
		return t.h2.queue(p)
	}
	lc := t.lc
	if lc == nil {
		return t.Conn.Write(p)
	}
	if lc.out == nil {
		lc.out = lc.l.getOut()
	}
	lc.out = append(lc.out, p...)
	return len(p), nil
}

// tlsLoopWriter is a TLS client connection as the loop's response
// writer's destination: tls.Conn seals the records (the transport queues
// them in lc.out), then they are written in one system call; what the
// socket does not take waits for EPOLLOUT, as loopWriter's.
type tlsLoopWriter struct{ lc *loopConn }

func (w tlsLoopWriter) Write(p []byte) (int, error) {
	lc := w.lc
	if lc.outErr != nil {
		return 0, lc.outErr
	}
	waiting := len(lc.out) > 0
	if _, err := lc.tc.Write(p); err != nil {
		return 0, err
	}
	if !waiting {
		if err := lc.writeNow(lc.out); err != nil {
			return 0, err
		}
	}
	return len(p), nil
}

// readTLS reads what the client sent into lc.in through tls.Conn: from
// the socket and from what the transport or tls.Conn already hold. It
// reports whether anything came, and gone when the client closed or the
// connection failed.
func (lc *loopConn) readTLS() (got, gone bool) {
	lc.tlsMore = false
	for {
		if len(lc.in) == cap(lc.in) {
			lc.tlsMore = true // more may wait in tls.Conn or the transport
			break
		}
		p := lc.in[len(lc.in):cap(lc.in)]
		n, err := lc.tc.Read(p)
		if n > 0 {
			if len(lc.in) == 0 {
				lc.firstAt = lc.l.now
			}
			lc.in = lc.in[:len(lc.in)+n]
			got = true
			if n == len(p) || lc.tr.pending() {
				continue
			}
			break
		}
		if err == errWouldBlock {
			break
		}
		gone = true
		break
	}
	// tls.Conn may have answered something itself (a key update).
	if len(lc.out) > 0 && lc.events&syscall.EPOLLOUT == 0 && lc.outErr == nil {
		lc.writeNow(lc.out)
	}
	return got, gone
}

// closeNotify queues a TLS connection's close_notify alert before the
// connection closes, as tls.Conn.Close sends it.
func (lc *loopConn) closeNotify() {
	if lc.tc == nil || lc.outErr != nil {
		return
	}
	waiting := len(lc.out) > 0
	lc.tc.CloseWrite()
	if !waiting && len(lc.out) > 0 {
		lc.writeNow(lc.out)
	}
}

// getOut lends a buffer for a TLS connection's records.
func (l *eventLoop) getOut() []byte {
	if n := len(l.outBufs); n > 0 {
		b := l.outBufs[n-1]
		l.outBufs = l.outBufs[:n-1]
		return b
	}
	return make([]byte, 0, loopInSize+512)
}
