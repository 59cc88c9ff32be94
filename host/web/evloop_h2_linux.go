//go:build linux

package web

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/postern/postern/host/web/internal/balance"
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
// The streams the fast path takes run on the loop too (loopFastH2, the
// h2 server's LoopFast): the exchange with the backend is the HTTP/1.1
// loop's (a kept socket in the loop's set, or one a goroutine dials),
// and a response that comes whole within loopRBSize and fits the
// flow-control windows leaves as HEADERS and DATA in the connection's
// next write. Any other response (larger, chunked, a head the fast
// parser does not take, a window too small, a connection whose client
// is slow to read) goes on in a goroutine from the bytes read so far
// (h2Resume), as an HTTP/1.1 exchange does (handoffExchange); so does a
// stream no backend answered (its error page may wait for window). The
// other streams run on goroutines (Fast, the handler) as on a
// connection of their own.

// h2OutHigh is how many sealed bytes a connection may hold before its
// stream goroutines wait for the socket to take some.
const h2OutHigh = 64 << 10

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
	streams    map[*loopH2x]struct{}

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
			if cap(x.in) >= x.d.MaxBuffer() {
				gone = true // not expected: Feed ends the connection first
				break
			}
			x.in = append(x.in, make([]byte, min(cap(x.in), x.d.MaxBuffer()-cap(x.in)))...)[:len(x.in)]
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
	for sx := range x.streams {
		if !sx.deadline.IsZero() && now.After(sx.deadline) {
			sx.timeout()
		}
	}
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
	x.in = nil
	for sx := range x.streams {
		sx.clientGone()
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
	// A loop that ended (post refused) closed what it owned.
	if l := x.l; l != nil && x.closeAsked.CompareAndSwap(false, true) {
		l.post(x.close)
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

func (x *loopH2) SetDeadline(t time.Time) error    { return x.SetReadDeadline(t) }
func (x *loopH2) SetWriteDeadline(time.Time) error { return nil }
func (x *loopH2) Read([]byte) (int, error) {
	return 0, errors.New("web: an h2 connection on a loop is read by its loop")
}
func (x *loopH2) LocalAddr() net.Addr                  { return x.tc.LocalAddr() }
func (x *loopH2) RemoteAddr() net.Addr                 { return x.tc.RemoteAddr() }
func (x *loopH2) NetConn() net.Conn                    { return x.tc }
func (x *loopH2) ConnectionState() tls.ConnectionState { return x.tc.ConnectionState() }

// roomNow reports whether the loop may write a response now: out does
// not hold more than a goroutine's write would wait for.
func (x *loopH2) roomNow() bool {
	x.omu.Lock()
	defer x.omu.Unlock()
	return len(x.out) <= h2OutHigh
}

// loopH2x is an h2 stream the fast path serves on the loop: what
// proxyFastH2 keeps on its stack, as loopReq is for HTTP/1.1.
type loopH2x struct {
	x          *loopH2
	h          *handler
	fs         h2Stream
	pl         h2Plan
	state      int
	hdrTimeout time.Duration
	attempt    int
	tries      int // exchanges with this attempt's backend (a stale kept socket is replaced once)
	tried      []*balance.Backend
	triedBuf   [4]*balance.Backend
	b          *balance.Backend
	ps         *poolStats
	out        fastOutcome
	lastErr    error
	t0         time.Time
	up         *loopUp
	rb         []byte // the backend's answer
	nread      int
	total      int       // the answer's size, head and body, once the head is parsed
	deadline   time.Time // the head's (header timeout) or the body's (read timeout)
	abortFn    func()    // SetAbort's: posts clientGone
	dialing    bool      // a dial's answer is to come
	reusable   bool      // nothing but the loop refers to it (leave)
}

// loopH2x states.
const (
	h2xDialing = iota + 1 // a new backend connection is being made
	h2xWaiting            // the request is sent: waiting for the head
	h2xBody               // the head came: waiting for the rest of the body
	h2xDone               // answered, handed to a goroutine, or gone
)

// loopFastH2 is the h2 server's LoopFast: the stream is the loop's when
// the fast path takes it (planFastH2) on a connection on a loop.
func (h *handler) loopFastH2(st *h2.Stream) bool {
	peer, _ := st.ConnValue().(*h2Peer)
	if peer == nil || peer.x == nil {
		return false
	}
	l := peer.x.l
	sx := l.getH2x()
	sx.x, sx.h = peer.x, h
	if !h.planFastH2(st, &sx.fs, &sx.pl) {
		l.putH2x(sx)
		return false
	}
	sx.begin()
	return true
}

// getH2x lends a stream's state from the loop's free list.
func (l *eventLoop) getH2x() *loopH2x {
	if n := len(l.h2xFree); n > 0 {
		sx := l.h2xFree[n-1]
		l.h2xFree = l.h2xFree[:n-1]
		return sx
	}
	sx := &loopH2x{}
	// A reset seen by another goroutine (the send timeout's sweep) comes
	// to the loop. A state whose abort may still come is not reused.
	sx.abortFn = func() { sx.x.l.post(sx.clientGone) }
	return sx
}

// putH2x takes back a stream's state nothing refers to any more.
func (l *eventLoop) putH2x(sx *loopH2x) {
	*sx = loopH2x{abortFn: sx.abortFn}
	if len(l.h2xFree) < maxFreeBufs {
		l.h2xFree = append(l.h2xFree, sx)
	}
}

func (sx *loopH2x) begin() {
	x, fs, pl := sx.x, &sx.fs, &sx.pl
	l := x.l
	fs.rt, fs.fd, fs.start = pl.rt, pl.fd, l.now
	sx.hdrTimeout = sx.h.s.cfg.UpstreamHeaderTimeout
	if pl.rt != nil {
		sx.hdrTimeout = pl.rt.headerTimeout
	}
	sx.tried = sx.triedBuf[:0]
	if x.streams == nil {
		x.streams = map[*loopH2x]struct{}{}
	}
	x.streams[sx] = struct{}{}
	if !fs.st.SetAbort(sx.abortFn) {
		sx.clientGone()
		return
	}
	sx.nextAttempt()
}

// nextAttempt sends the request to the next backend, or ends the stream
// with the full path's answer when none is left.
func (sx *loopH2x) nextAttempt() {
	pl := &sx.pl
	b, ps, more, ok := sx.h.s.nextAttempt(pl.p, pl.fd, sx.attempt, sx.fs.peer.peer.Addr(), sx.tried, &sx.out)
	sx.tried = more
	if !ok {
		sx.noAnswer()
		return
	}
	sx.b, sx.ps = b, ps
	sx.t0 = sx.fs.start
	if sx.attempt > 0 {
		sx.t0 = sx.x.l.now
	}
	sx.attempt++
	sx.tries = 0
	sx.exchange()
}

// exchange sends the request on a kept socket to the attempt's backend,
// or on a new one.
func (sx *loopH2x) exchange() {
	l := sx.x.l
	if u := l.takeIdle(sx.out.upstream); u != nil {
		sx.send(u)
		return
	}
	sx.state = h2xDialing
	sx.deadline = time.Time{}
	sx.dialing = true
	l.dial(sx.pl.c, sx.fs.st.ConnContext(), sx.out.upstream, func(u *loopUp, err error) bool {
		sx.dialing = false
		switch {
		case sx.state != h2xDialing:
			return false
		case err != nil:
			sx.attemptFailed(err)
		default:
			sx.send(u)
		}
		return true
	})
}

// send writes the request on u and waits for the answer.
func (sx *loopH2x) send(u *loopUp) {
	l := sx.x.l
	sx.up = u
	sx.tries++
	l.fds.set(u.fd, loopFD{x: sx, up: u})
	uw := l.uw
	uw.Reset(upWriter(u.fd))
	sx.h.writeH2Head(uw, &sx.fs)
	err := uw.Flush()
	uw.Reset(nil)
	if err != nil {
		sx.upFailed(err)
		return
	}
	sx.nread = len(u.pending)
	if len(u.pending) > 0 {
		sx.rb = append(l.getRB(), u.pending...)
	}
	u.pending = u.pending[:0]
	sx.state = h2xWaiting
	sx.deadline = sx.t0.Add(sx.hdrTimeout)
}

// upFailed is an exchange that failed before any byte of an answer: a
// stale kept socket is replaced once, else the attempt failed.
func (sx *loopH2x) upFailed(err error) {
	u := sx.up
	sx.up = nil
	sx.x.l.closeUp(u)
	if u.reused && sx.nread == 0 && sx.tries == 1 {
		sx.exchange()
		return
	}
	sx.attemptFailed(err)
}

// attemptFailed counts a failed attempt and tries the next backend.
func (sx *loopH2x) attemptFailed(err error) {
	if sx.b != nil {
		sx.b.Release()
	}
	sx.h.s.attemptFailed(sx.pl.p, sx.b, &sx.out, err)
	sx.b = nil
	sx.lastErr = err
	sx.releaseRB()
	sx.nextAttempt()
}

// onUpstream reads the backend's answer.
func (sx *loopH2x) onUpstream(uint32) {
	l := sx.x.l
	if sx.rb == nil {
		sx.rb = l.getRB()
	}
	if len(sx.rb) == cap(sx.rb) {
		sx.handoff() // past what the loop relays
		return
	}
	n, err := readAnswer(sx.up.fd, sx.rb, sx.state == h2xWaiting, sx.nread)
	switch {
	case err != nil && sx.state == h2xWaiting:
		sx.upFailed(err)
		return
	case err != nil:
		sx.bodyFailed(err)
		return
	case n == 0:
		return
	}
	sx.nread += n
	sx.rb = sx.rb[:len(sx.rb)+n]
	if sx.state == h2xWaiting {
		sx.gotHead()
	} else if len(sx.rb) >= sx.total {
		sx.respond()
	}
}

// gotHead parses the response head once it is all there: a response the
// loop relays waits for the rest of its body, any other goes to a
// goroutine.
func (sx *loopH2x) gotHead() {
	limit := min(4096, int(sx.pl.c.maxHdr))
	end := indexHeadEnd(sx.rb)
	if end < 0 {
		if len(sx.rb) >= limit {
			sx.handoff()
		}
		return
	}
	fs := &sx.fs
	fr := &fs.resp
	if end+4 > limit || !parseFastResponse(sx.rb[:end+4], fs.head, fr) {
		sx.handoff()
		return
	}
	n := fr.clen
	if fs.head || !bodyAllowed(fr.code) {
		n = 0
	}
	if int64(fr.size)+n > int64(cap(sx.rb)) {
		sx.handoff()
		return
	}
	sx.total = fr.size + int(n)
	fs.hdrAt = sx.x.l.now
	if len(sx.rb) < sx.total {
		sx.state = h2xBody
		sx.deadline = time.Time{}
		d := sx.h.s.cfg.UpstreamReadTimeout
		if rt := sx.pl.rt; rt != nil {
			d = rt.readTimeout
		}
		if d > 0 {
			sx.deadline = sx.x.l.now.Add(d)
		}
		return
	}
	sx.respond()
}

// respond writes the whole response as HEADERS and DATA (END_STREAM),
// in the connection's next write, and keeps the backend socket; a
// response the windows or the connection's queue cannot take now goes to
// a goroutine.
func (sx *loopH2x) respond() {
	fs := &sx.fs
	fr := &fs.resp
	l := sx.x.l
	body := sx.rb[fr.size:sx.total]
	if !sx.x.roomNow() || !fs.st.Reserve(len(body)) {
		sx.handoff()
		return
	}
	sx.ps.upstream.observe(fs.hdrAt.Sub(sx.t0))
	sx.out.answered = true
	if sx.b != nil {
		sx.pl.p.bal.Success(sx.b)
	}
	s := sx.h.s
	fields := appendHeadFields(fs.fieldsBuf[:0], sx.rb[:fr.size], fr)
	if !fr.date {
		fields = append(fields, hpack.HeaderField{Name: "date", Value: httpDate()[0]})
	}
	if s.cfg.Via != "" {
		fields = append(fields, hpack.HeaderField{Name: "via", Value: "2.0 " + s.cfg.Via})
	}
	sx.out.status = fr.code
	sx.out.bytes = int64(len(body))
	// Counted and logged before it leaves, as relayH2 does.
	if ls := sx.h.ls; ls != nil {
		ls.loop.Add(1)
	}
	sx.h.countH2(fs, &sx.out)
	fs.st.WriteReserved(fr.code, fields, body, true)
	u := sx.up
	sx.up = nil
	if len(sx.rb) > sx.total {
		// More than the Content-Length: the start of the next response
		// on the socket, as on a goroutine's buffered connection.
		u.pending = append(u.pending[:0], sx.rb[sx.total:]...)
	}
	if fr.close {
		l.closeUp(u)
	} else {
		l.keep(u, fs.hdrAt)
	}
	sx.end()
}

// bodyFailed is the backend's body cut short (or its read timeout)
// before the response left: the stream is reset, as a goroutine's relay
// resets one cut mid-body.
func (sx *loopH2x) bodyFailed(err error) {
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	sx.x.l.closeUp(sx.up)
	sx.up = nil
	sx.out.status = sx.fs.resp.code
	sx.out.errMsg = "backend body failed: " + err.Error()
	sx.h.s.log.Warn("backend body failed mid-response", "backend", sx.out.upstream, "err", err)
	sx.h.countH2(&sx.fs, &sx.out)
	sx.fs.st.Reset()
	sx.end()
}

// timeout acts on the stream's passed deadline (the loop's sweep).
func (sx *loopH2x) timeout() {
	switch sx.state {
	case h2xWaiting:
		var err error = h1TimeoutError{}
		if sx.hdrTimeout < sx.h.s.hdrMax {
			err = errHeaderTimeout
		}
		sx.x.l.closeUp(sx.up)
		sx.up = nil
		sx.attemptFailed(err)
	case h2xBody:
		if ls := sx.h.ls; ls != nil {
			ls.readTimeouts.Add(1)
		}
		sx.bodyFailed(errBodyTimeout)
	}
}

// clientGone is the stream reset by its client, or its connection gone.
func (sx *loopH2x) clientGone() {
	if sx.state == h2xDone {
		return
	}
	if sx.up != nil {
		sx.x.l.closeUp(sx.up)
		sx.up = nil
	}
	sx.out.status, sx.out.errMsg = 499, "client went away"
	sx.h.countH2(&sx.fs, &sx.out)
	sx.end()
}

// noAnswer ends a stream no backend answered with the full path's
// answer, written by a goroutine (it may wait for window).
func (sx *loopH2x) noAnswer() {
	err := sx.lastErr
	if err == nil {
		err = errNoBackend
	}
	status, why := statusFor(err)
	sx.out.status, sx.out.errMsg = status, why
	sx.leave()
	h, fs, out := sx.h, &sx.fs, &sx.out
	go func() {
		defer fs.st.Finish()
		w, done := fs.st.Respond(fs.method)
		writeStatus(w, status, "")
		out.bytes, _ = done()
		h.countH2(fs, out)
	}()
}

// handoff gives the exchange to a goroutine, from the bytes the backend
// sent so far (proxyFastH2 with an h2Resume): a response the loop does
// not relay.
func (sx *loopH2x) handoff() {
	l := sx.x.l
	u := sx.up
	sx.up = nil
	l.fds.del(u.fd)
	l.ctl(syscall.EPOLL_CTL_DEL, u.fd, 0)
	conn, err := fdConn(u.fd)
	if err != nil {
		sx.attemptFailed(err)
		return
	}
	rs := &h2Resume{attempt: sx.attempt - 1, tried: append([]*balance.Backend(nil), sx.tried...), b: sx.b, ps: sx.ps,
		t0: sx.t0, out: sx.out, pc: handedConn(sx.pl.c, u, conn, sx.rb)}
	sx.b = nil
	sx.leave()
	if ls := sx.h.ls; ls != nil {
		ls.handoffs.Add(1)
	}
	h, fs, pl := sx.h, &sx.fs, &sx.pl
	go h.continueH2(fs, pl, rs)
}

// leave ends the loop's part of the stream: its goroutine (noAnswer,
// handoff) ends the stream.
func (sx *loopH2x) leave() {
	sx.state = h2xDone
	sx.deadline = time.Time{}
	delete(sx.x.streams, sx)
	sx.reusable = sx.fs.st.ClearAbort() && !sx.dialing
	sx.releaseRB()
}

// end ends the stream on the loop; its state goes back to the loop's
// free list unless a posted abort or a dial may still come to it.
func (sx *loopH2x) end() {
	sx.leave()
	if sx.b != nil {
		sx.b.Release()
		sx.b = nil
	}
	sx.fs.st.Finish()
	if sx.reusable {
		sx.x.l.putH2x(sx)
	}
}

func (sx *loopH2x) releaseRB() {
	if sx.rb == nil {
		return
	}
	if l := sx.x.l; cap(sx.rb) == loopRBSize && len(l.rbBufs) < maxFreeBufs {
		l.rbBufs = append(l.rbBufs, sx.rb[:0])
	}
	sx.rb = nil
}

// asLoopH2 is c as an h2 connection on a loop, or nil.
func asLoopH2(c net.Conn) *loopH2 {
	x, _ := c.(*loopH2)
	return x
}
