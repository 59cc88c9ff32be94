//go:build linux

package web

import (
	"crypto/tls"
	"errors"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/postern/postern/host/web/internal/h2"
)

// h2 connections on the event loops. After its handshake (a goroutine's,
// as for HTTP/1.1) a connection that negotiated h2 goes to a loop, which
// reads it through its tls.Conn (the transport in loop mode, as
// evloop_tls_linux.go does for HTTP/1.1) and feeds the plaintext to the
// h2 server's driven connection (internal/h2, driven.go): frames are
// parsed and handled there, by the code a goroutine per connection runs
// otherwise. What the loop adds:
//
//   - the connection's writes, from the loop or from a stream's
//     goroutine, are sealed by tls.Conn into loopH2.out and written at
//     once without waiting (under omu, which also guards the socket's
//     descriptor against its close); what the socket does not take
//     waits for EPOLLOUT. A stream goroutine waits for room (out under
//     h2OutHigh) before it writes, so out stays bounded; the loop never
//     waits;
//   - the frames one read brings are handled with the writes corked:
//     their answers leave in one write;
//   - deadlines: the preface (the listener's header timeout), a send
//     stall (send_timeout: the socket took none of out for that long),
//     and the read deadline a GOAWAY's close asks for.
//
// Streams still run on goroutines here (Fast, the handler), unless the
// loop takes them itself (Server.LoopFast).

// h2OutHigh is how many sealed bytes a connection may hold before its
// stream goroutines wait for the socket to take some.
const h2OutHigh = 64 << 10

// h2InMax bounds a connection's read buffer: a frame (16 KiB) and a
// header block with its CONTINUATIONs up to the header limit.
func (hs *h1Server) h2InMax() int {
	return max(hs.maxHeader, 64<<10) + 32<<10
}

// loopH2 is an h2 connection on a loop. It is the h2 server's net.Conn
// for it (writes, Close and the deadlines a GOAWAY sets).
type loopH2 struct {
	l  *eventLoop
	sc *h1ServerConn
	fd int
	tc *tls.Conn
	tr *tlsTransport
	d  *h2.Driven

	// The loop's.
	in         []byte
	events     uint32
	closed     bool
	registered bool
	ready      bool // the preface came
	shut       bool // half-close once out is written (CloseWrite)
	prefaceBy  time.Time
	sendBy     time.Time // out waits on EPOLLOUT: the send timeout
	readBy     time.Time // SetReadDeadline (a GOAWAY's close)

	closeAsked atomic.Bool

	// out is what the socket has not taken, under omu.
	omu   sync.Mutex
	room  sync.Cond
	out   []byte
	armed bool // EPOLLOUT is asked for: only the loop writes out
	cork  bool // the loop handles frames: flushes wait for its own
	oerr  error
}

var errH2LoopClosed = errors.New("h2 connection closed")

// adoptH2 moves an h2 connection (its handshake done) onto a loop:
// false when it cannot (it stays a goroutine's).
func (hs *h1Server) adoptH2(sc *h1ServerConn) bool {
	tc, ok := sc.conn.(*tls.Conn)
	if !ok {
		return false
	}
	tr, ok := tc.NetConn().(*tlsTransport)
	if !ok || tr.direct {
		return false
	}
	l, err := hs.loops.pick()
	if err != nil {
		return false
	}
	conn := tr.Conn
	closeRaw := conn.Close
	if lc, ok := conn.(*limitConn); ok {
		conn, closeRaw = lc.Conn, lc.Conn.Close
	}
	if _, ok := conn.(*net.TCPConn); !ok {
		return false
	}
	fd, err := rawFD(conn, closeRaw)
	if err != nil {
		return false
	}
	x := &loopH2{l: l, sc: sc, fd: fd, tc: tc, tr: tr}
	x.room.L = &x.omu
	tr.h2 = x
	hs.forget(sc) // the h2 server tracks it from now on (its Shutdown and Close)
	x.d = hs.h2.ServeDriven(sc.ctx, x, x.waitRoom)
	if x.d == nil {
		return true // shut: Close was posted
	}
	ok = l.post(func() {
		if x.closed {
			return
		}
		x.registered = true
		l.h2conns[x] = struct{}{}
		l.fds.set(fd, loopFD{h2: x})
		x.events = syscall.EPOLLIN | syscall.EPOLLRDHUP
		x.omu.Lock()
		if x.armed {
			x.events |= syscall.EPOLLOUT
			x.sendWait(time.Now())
		}
		x.omu.Unlock()
		l.ctl(syscall.EPOLL_CTL_ADD, fd, x.events)
		if t := hs.hdrTimeout; t > 0 {
			x.prefaceBy = time.Now().Add(t)
		}
		x.read() // tls.Conn may hold the preface already
	})
	if !ok { // the loops ended (Shutdown)
		x.l = nil
		x.close()
	}
	return true
}

// onEvent handles the client socket's events.
func (x *loopH2) onEvent(ev uint32) {
	if ev&syscall.EPOLLOUT != 0 {
		x.writeOut()
		if x.closed {
			return
		}
	}
	if ev&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) != 0 {
		x.read()
	}
}

// read reads what the client sent, through tls.Conn, and feeds it to
// the h2 connection, until the socket, the transport and tls.Conn have
// nothing more; the answers leave in one write after.
func (x *loopH2) read() {
	x.setCork(true)
	gone := false
	for {
		if x.in == nil {
			x.in = x.l.getRB()
		}
		if len(x.in) == cap(x.in) {
			if cap(x.in) >= x.sc.hs.h2InMax() {
				gone = true // a header block past every limit
				break
			}
			x.in = append(x.in, make([]byte, cap(x.in))...)[:len(x.in)]
		}
		p := x.in[len(x.in):cap(x.in)]
		n, err := x.tc.Read(p)
		if n > 0 {
			x.in = x.in[:len(x.in)+n]
		} else if err != errWouldBlock {
			gone = true
		}
		k, ferr := x.d.Feed(x.in)
		x.in = x.in[:copy(x.in, x.in[k:])]
		if ferr != nil {
			gone = true
		}
		if gone || n == 0 || n < len(p) && !x.tr.pending() {
			break
		}
	}
	x.setCork(false)
	if gone {
		x.close()
		return
	}
	if len(x.in) == 0 && cap(x.in) == loopRBSize {
		if l := x.l; len(l.rbBufs) < maxFreeBufs {
			l.rbBufs = append(l.rbBufs, x.in)
		}
		x.in = nil
	}
	if !x.ready && x.d.Ready() {
		x.ready = true
		x.prefaceBy = time.Time{}
	}
}

// setCork holds the connection's flushes while the loop handles frames
// (on), and writes what they left (off).
func (x *loopH2) setCork(on bool) {
	x.omu.Lock()
	x.cork = on
	x.omu.Unlock()
	if !on {
		x.flush()
	}
}

// Write is the h2 server's write: tls.Conn seals p into out (the
// transport's queue), then out is written without waiting.
func (x *loopH2) Write(p []byte) (int, error) {
	if _, err := x.tc.Write(p); err != nil {
		return 0, err
	}
	return len(p), x.flush()
}

// queue is the transport's write in loop mode: sealed records wait in
// out.
func (x *loopH2) queue(p []byte) (int, error) {
	x.omu.Lock()
	defer x.omu.Unlock()
	if x.oerr != nil {
		return 0, x.oerr
	}
	if x.out == nil {
		x.out = getH2Out()
	}
	x.out = append(x.out, p...)
	return len(p), nil
}

var h2Outs = sync.Pool{New: func() any { return make([]byte, 0, 16<<10) }}

func getH2Out() []byte { return h2Outs.Get().([]byte)[:0] }

// releaseOut gives an emptied out back (omu held).
func (x *loopH2) releaseOut() {
	if cap(x.out) <= 64<<10 {
		h2Outs.Put(x.out[:0]) //nolint:staticcheck // a slice header: one allocation per Put, against 16 KiB per connection kept
	}
	x.out = nil
}

// flush writes out without waiting, unless the loop is to (EPOLLOUT, or
// corked); what the socket does not take waits for EPOLLOUT.
func (x *loopH2) flush() error {
	x.omu.Lock()
	defer x.omu.Unlock()
	if x.oerr != nil {
		return x.oerr
	}
	if x.armed || x.cork || len(x.out) == 0 {
		return nil
	}
	if !x.writeLocked() {
		return x.oerr
	}
	if len(x.out) > 0 {
		x.armed = true
		l := x.l
		l.post(func() { x.wantOut() })
	}
	return nil
}

// writeLocked writes what the socket takes of out (omu held); false when
// the socket failed (the connection is closing).
func (x *loopH2) writeLocked() bool {
	n, err := rawWrite(x.fd, x.out)
	if err == syscall.EAGAIN {
		n, err = 0, nil
	}
	if err != nil {
		x.oerr = os.NewSyscallError("write", err)
		x.out = x.out[:0]
		x.room.Broadcast()
		x.Close()
		return false
	}
	x.out = x.out[:copy(x.out, x.out[n:])]
	if len(x.out) == 0 {
		x.releaseOut()
	}
	if len(x.out) <= h2OutHigh {
		x.room.Broadcast()
	}
	return true
}

// wantOut asks for EPOLLOUT, for out's rest (on the loop).
func (x *loopH2) wantOut() {
	if x.closed || !x.registered {
		return // registration asks for it itself
	}
	x.omu.Lock()
	armed := x.armed
	x.omu.Unlock()
	if armed {
		x.setEvents(x.events | syscall.EPOLLOUT)
		x.sendWait(x.l.now)
	}
}

// writeOut writes out on EPOLLOUT.
func (x *loopH2) writeOut() {
	x.omu.Lock()
	if x.oerr != nil || !x.writeLocked() {
		x.omu.Unlock()
		return
	}
	done := len(x.out) == 0
	if done {
		x.armed = false
	}
	x.omu.Unlock()
	if !done {
		x.sendWait(x.l.now) // it took some
		return
	}
	x.sendBy = time.Time{}
	x.setEvents(x.events &^ syscall.EPOLLOUT)
	if x.shut {
		syscall.Shutdown(x.fd, syscall.SHUT_WR)
	}
}

func (x *loopH2) sendWait(now time.Time) {
	if d := x.sc.hs.sendTimeout; d > 0 {
		x.sendBy = now.Add(d)
	}
}

func (x *loopH2) setEvents(ev uint32) {
	if ev != x.events {
		x.events = ev
		x.l.ctl(syscall.EPOLL_CTL_MOD, x.fd, ev)
	}
}

// waitRoom is the stream goroutines' wait before a write: while out holds
// more than h2OutHigh.
func (x *loopH2) waitRoom() error {
	x.omu.Lock()
	defer x.omu.Unlock()
	for len(x.out) > h2OutHigh && x.oerr == nil {
		x.room.Wait()
	}
	return x.oerr
}

// sweep acts on the connection's passed deadlines (the loop's sweep).
func (x *loopH2) sweep(now time.Time) {
	switch {
	case !x.sendBy.IsZero() && now.After(x.sendBy):
		x.sc.hs.sendLS.countSendTimeout()
		x.sc.hs.errLog.Printf("web: h2 client %v took none of a write for %v (send timeout): closing the connection", x.sc.remote, x.sc.hs.sendTimeout)
		x.close()
	case !x.prefaceBy.IsZero() && now.After(x.prefaceBy), !x.readBy.IsZero() && now.After(x.readBy):
		x.close()
	}
}

// close ends the connection on the loop (or, l nil, where it never got
// to one): the h2 connection's streams end, the socket closes.
func (x *loopH2) close() {
	if x.closed {
		return
	}
	x.closed = true
	x.closeAsked.Store(true)
	if l := x.l; l != nil && x.registered {
		l.fds.del(x.fd)
		delete(l.h2conns, x)
	}
	// close_notify, as tls.Conn.Close sends it: best effort.
	x.omu.Lock()
	empty := len(x.out) == 0 && x.oerr == nil
	x.omu.Unlock()
	if empty {
		x.tc.CloseWrite()
	}
	x.omu.Lock()
	if x.oerr == nil && len(x.out) > 0 {
		rawWrite(x.fd, x.out)
	}
	if x.oerr == nil {
		x.oerr = errH2LoopClosed
	}
	if x.out != nil {
		x.out = x.out[:0]
		x.releaseOut()
	}
	x.room.Broadcast()
	syscall.Close(x.fd) // under omu: no goroutine writes on a reused descriptor
	x.omu.Unlock()
	if x.in != nil {
		x.in = nil
	}
	if x.d != nil {
		x.d.Close()
	}
	sc := x.sc
	if c := sc.limiter(); c != nil {
		c.Close() // gives its place back (its socket is closed already)
	}
	sc.cancelConn()
}

// Close is the h2 server's: the connection closes on its loop.
func (x *loopH2) Close() error {
	if x.closeAsked.CompareAndSwap(false, true) {
		if l := x.l; l == nil || !l.post(x.close) {
			// The loop ended: it closed what it owned.
		}
	}
	return nil
}

// CloseWrite half-closes the connection once out is written (a
// GOAWAY's close).
func (x *loopH2) CloseWrite() error {
	x.l.post(func() {
		if x.closed {
			return
		}
		x.shut = true
		x.omu.Lock()
		empty := len(x.out) == 0
		x.omu.Unlock()
		if empty {
			syscall.Shutdown(x.fd, syscall.SHUT_WR)
		}
	})
	return nil
}

// SetReadDeadline closes the connection at t (a GOAWAY's close gives the
// client that long to stop sending).
func (x *loopH2) SetReadDeadline(t time.Time) error {
	x.l.post(func() { x.readBy = t })
	return nil
}

func (x *loopH2) SetDeadline(t time.Time) error      { return x.SetReadDeadline(t) }
func (x *loopH2) SetWriteDeadline(time.Time) error   { return nil }
func (x *loopH2) Read([]byte) (int, error)           { return 0, errors.New("web: an h2 connection on a loop is read by its loop") }
func (x *loopH2) LocalAddr() net.Addr                { return x.tc.LocalAddr() }
func (x *loopH2) RemoteAddr() net.Addr               { return x.tc.RemoteAddr() }
func (x *loopH2) NetConn() net.Conn                  { return x.tc }
func (x *loopH2) ConnectionState() tls.ConnectionState { return x.tc.ConnectionState() }

// loopH2x is an h2 stream whose exchange runs on the loop.
type loopH2x struct{}

func (*loopH2x) onUpstream(uint32) {}
