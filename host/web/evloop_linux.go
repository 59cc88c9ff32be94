//go:build linux

package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/postern/postern/host/web/internal/balance"
)

// The event loops (on unless Config.NoEventLoop) serve the fast path's
// requests of HTTP/1.1 connections, plain or TLS (evloop_tls_linux.go),
// without a goroutine per connection: one loop per CPU (GOMAXPROCS), each
// a goroutine with its own epoll set (parked in
// Go's poller on the set's descriptor when nothing is ready), owning the
// client sockets and its own kept backend sockets,
// reading and writing them without blocking, as nginx's workers do. The
// per-request work is the fast path's own (planFast, writeFastHead,
// parseFastResponse, the relay's head, finishFast); only the waiting
// changes. bench/web's reference proxies show why: the same proxying as
// a goroutine per connection costs about 1.5x the CPU per request of an
// event loop, which is what separates Go from nginx there.
//
// A connection goes to a goroutine (the lean server's serve loop, from
// the bytes the loop already read) when it needs anything else: a request
// the fast path does not take (a body, a login to decide...), a response
// the fast path does not relay (chunked, 1xx, a head over 4 KiB: the
// exchange continues in the goroutine from the bytes read so far), or a
// head over the buffer. Once that request is answered the goroutine gives
// it back (h1ServerConn.run), unless it keeps coming back only to be
// handed over again (stay, backoff).
//
// Sockets the loop owns are taken out of Go's poller (duplicated, the
// net.Conn closed), so that their events wake only their loop.

// eventLoops are a server's loops, started by the first listener that
// uses them.
type eventLoops struct {
	once  sync.Once
	loops []*eventLoop
	next  uint32
	mu    sync.Mutex
	err   error
}

// eventLoopSupported reports whether this build has the event loop.
const eventLoopSupported = true

// pick returns the loop for a new connection (round robin), starting the
// loops first.
func (ls *eventLoops) pick() (*eventLoop, error) {
	ls.once.Do(func() {
		for range runtime.GOMAXPROCS(0) {
			l, err := newEventLoop()
			if err != nil {
				ls.err = err
				return
			}
			ls.loops = append(ls.loops, l)
			go l.run()
		}
	})
	if ls.err != nil {
		return nil, ls.err
	}
	ls.mu.Lock()
	ls.next++
	l := ls.loops[ls.next%uint32(len(ls.loops))]
	ls.mu.Unlock()
	return l, nil
}

// stop ends the loops (Server.Close and Shutdown, once every listener is
// done with them): they close what they still own.
func (ls *eventLoops) stop() {
	ls.mu.Lock()
	loops := ls.loops
	ls.mu.Unlock()
	for _, l := range loops {
		l.post(func() { l.stopping = true })
	}
}

type eventLoop struct {
	ep, efd int
	epf     *os.File        // ep in Go's poller
	eprc    syscall.RawConn // its wait

	mu    sync.Mutex
	posts []func()
	ended bool // the loop has returned: posts are refused

	uw *bufio.Writer // request heads to backends

	// Buffers lent to connections while they have a request: an idle
	// connection holds none.
	inBufs, rbBufs [][]byte
	outBufs        [][]byte // TLS connections' sealed records (evloop_tls_linux.go)
	h2xFree        []*loopH2x

	fds      fdTable
	conns    map[*loopConn]struct{}
	h2conns  map[*loopH2]struct{}
	idle     map[string]*[]*loopUp // kept backend sockets by address, oldest first
	stopping bool
	swept    time.Time
	// now is the clock when the current batch of events came back: the
	// time of every step in it (a request's start, its response head,
	// its end), one clock reading per batch instead of four per request.
	now time.Time
}

// loopFD is what a socket in the loop's epoll set belongs to.
type loopFD struct {
	lc *loopConn // the client connection (client) or the one whose request uses up
	up *loopUp   // a backend socket, idle when lc (and x) is nil
	h2 *loopH2   // an h2 client connection (evloop_h2_linux.go)
	x  *loopH2x  // the h2 stream whose request uses up
}

// loopUp is a backend socket the loop owns.
type loopUp struct {
	fd     int
	addr   string
	c      *h1Client
	reused bool
	idleAt time.Time
	// pending are bytes read past the last response: the next
	// exchange's response starts with them.
	pending []byte
}

func newEventLoop() (*eventLoop, error) {
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, os.NewSyscallError("epoll_create1", err)
	}
	efd, _, errno := syscall.Syscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if errno != 0 {
		syscall.Close(ep)
		return nil, os.NewSyscallError("eventfd2", errno)
	}
	l := &eventLoop{ep: ep, efd: int(efd), conns: map[*loopConn]struct{}{}, h2conns: map[*loopH2]struct{}{}, idle: map[string]*[]*loopUp{},
		uw: bufio.NewWriterSize(nil, 8<<10)}
	if err := syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, l.efd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(l.efd)}); err != nil {
		syscall.Close(ep)
		syscall.Close(l.efd)
		return nil, os.NewSyscallError("epoll_ctl", err)
	}
	// The loop waits for its epoll set in Go's poller (the set's own
	// descriptor is readable when it has events), not in a blocking
	// epoll_wait: a goroutine blocked in a system call keeps its P until
	// the runtime's monitor takes it back, up to 10 ms later on an idle
	// process, and every other goroutine waits for a P meanwhile.
	if err := syscall.SetNonblock(ep, true); err != nil {
		syscall.Close(ep)
		syscall.Close(l.efd)
		return nil, err
	}
	l.epf = os.NewFile(uintptr(ep), "epoll")
	rc, err := l.epf.SyscallConn()
	if err != nil {
		l.epf.Close()
		syscall.Close(l.efd)
		return nil, err
	}
	l.eprc = rc
	return l, nil
}

// post runs f on the loop; false when the loop has ended (f will not
// run).
func (l *eventLoop) post(f func()) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.ended {
		return false
	}
	l.posts = append(l.posts, f)
	var one = [8]byte{1}
	syscall.Write(l.efd, one[:])
	return true
}

// Buffer sizes: a request head (as the goroutine server's reader) and
// backend reads.
const (
	loopInSize  = 4 << 10
	loopRBSize  = 16 << 10
	maxFreeBufs = 256
)

func (l *eventLoop) getIn() []byte {
	if n := len(l.inBufs); n > 0 {
		b := l.inBufs[n-1]
		l.inBufs = l.inBufs[:n-1]
		return b
	}
	return make([]byte, 0, loopInSize)
}

func (l *eventLoop) getRB() []byte {
	if n := len(l.rbBufs); n > 0 {
		b := l.rbBufs[n-1]
		l.rbBufs = l.rbBufs[:n-1]
		return b
	}
	return make([]byte, 0, loopRBSize)
}

// putBufs takes back a connection's buffers when it has no request.
func (lc *loopConn) putBufs() {
	l, r := lc.l, &lc.r
	if lc.in != nil && len(lc.in) == 0 {
		if len(l.inBufs) < maxFreeBufs {
			l.inBufs = append(l.inBufs, lc.in)
		}
		lc.in = nil
	}
	if r.rb != nil && cap(r.rb) == loopRBSize {
		if len(l.rbBufs) < maxFreeBufs {
			l.rbBufs = append(l.rbBufs, r.rb[:0])
		}
	}
	r.rb = nil
	if len(lc.out) == 0 && cap(lc.out) > loopRBSize {
		lc.out = nil
	}
	lc.putOut()
	if sc := lc.sc; sc.bw != nil {
		sc.bw.Reset(nil)
		h1WriterPool.Put(sc.bw)
		sc.bw = nil
	}
}

// putOut takes back a TLS connection's emptied records buffer (a plain
// connection's out is used only when its socket is full: it keeps it).
func (lc *loopConn) putOut() {
	if lc.tc == nil || lc.out == nil || len(lc.out) > 0 {
		return
	}
	if l := lc.l; len(l.outBufs) < maxFreeBufs && cap(lc.out) <= loopRBSize {
		l.outBufs = append(l.outBufs, lc.out)
	}
	lc.out = nil
}

// sweepEvery is how often the loop checks its connections' deadlines:
// timeouts are that coarse.
const sweepEvery = 250 * time.Millisecond

func (l *eventLoop) run() {
	events := make([]syscall.EpollEvent, 128)
	var posts []func()
	var n int
	wait := func(uintptr) bool {
		n = pollNow(l.ep, events)
		return n > 0
	}
	for {
		n = pollNow(l.ep, events)
		l.now = time.Now() // one clock reading per batch of events, as nginx's ngx_time_update
		if n == 0 {
			// Nothing ready: park until the set has events, or the next
			// sweep.
			l.epf.SetReadDeadline(l.now.Add(sweepEvery))
			if err := l.eprc.Read(wait); err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
				panic("web: waiting for the event loop's epoll set: " + err.Error())
			}
			l.now = time.Now()
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			if fd == l.efd {
				var b [8]byte
				syscall.Read(l.efd, b[:])
				l.mu.Lock()
				posts, l.posts = l.posts, posts[:0]
				l.mu.Unlock()
				for _, f := range posts {
					f()
				}
				clear(posts)
				continue
			}
			e, ok := l.fds.get(fd)
			if !ok {
				continue
			}
			switch {
			case e.h2 != nil:
				e.h2.onEvent(ev.Events)
			case e.x != nil:
				e.x.onUpstream(ev.Events)
			case e.up == nil:
				e.lc.onClient(ev.Events)
			case e.lc == nil:
				l.dropIdle(e.up) // an idle backend socket closed or sent something: not reusable
			default:
				e.lc.onUpstream(ev.Events)
			}
		}
		if l.stopping {
			for lc := range l.conns {
				lc.close()
			}
			for x := range l.h2conns {
				x.close()
			}
			for _, ups := range l.idle {
				for _, u := range *ups {
					l.closeUp(u)
				}
			}
			clear(l.idle)
			if len(l.conns) == 0 && len(l.h2conns) == 0 {
				l.mu.Lock()
				l.ended = true
				l.mu.Unlock()
				syscall.Close(l.efd)
				l.epf.Close()
				return
			}
		}
		if l.now.Sub(l.swept) >= sweepEvery {
			l.swept = l.now
			l.sweep(l.now)
		}
	}
}

// sweep acts on the deadlines that passed, and drops kept backend
// sockets idle past their client's idle timeout.
func (l *eventLoop) sweep(now time.Time) {
	for lc := range l.conns {
		if !lc.deadline.IsZero() && now.After(lc.deadline) {
			lc.timeout()
		}
	}
	for x := range l.h2conns {
		x.sweep(now)
	}
	for addr, lp := range l.idle {
		ups := *lp
		i := 0
		for i < len(ups) && now.Sub(ups[i].idleAt) > ups[i].c.idleTimeout {
			l.closeUp(ups[i])
			i++
		}
		if i == len(ups) {
			delete(l.idle, addr)
		} else if i > 0 {
			*lp = append(ups[:0], ups[i:]...)
		}
	}
}

func (l *eventLoop) ctl(op, fd int, events uint32) {
	syscall.EpollCtl(l.ep, op, fd, &syscall.EpollEvent{Events: events, Fd: int32(fd)})
}

func (l *eventLoop) closeUp(u *loopUp) {
	l.fds.del(u.fd)
	syscall.Close(u.fd) // leaves the epoll set with it
}

func (l *eventLoop) dropIdle(u *loopUp) {
	if lp := l.idle[u.addr]; lp != nil {
		ups := *lp
		for i, x := range ups {
			if x == u {
				*lp = append(ups[:i], ups[i+1:]...)
				break
			}
		}
	}
	l.closeUp(u)
}

// takeIdle returns the newest kept socket to addr, or nil.
func (l *eventLoop) takeIdle(addr string) *loopUp {
	lp := l.idle[addr]
	if lp == nil || len(*lp) == 0 {
		return nil
	}
	ups := *lp
	u := ups[len(ups)-1]
	ups[len(ups)-1] = nil
	*lp = ups[:len(ups)-1]
	return u
}

func (l *eventLoop) keep(u *loopUp, now time.Time) {
	lp := l.idle[u.addr]
	if lp == nil {
		lp = new([]*loopUp)
		l.idle[u.addr] = lp
	}
	if len(*lp) >= u.c.maxIdle {
		l.closeUp(u)
		return
	}
	u.idleAt, u.reused = now, true
	l.fds.set(u.fd, loopFD{up: u})
	*lp = append(*lp, u)
}

// rawFD takes conn's socket out of Go's poller: a duplicate the loop
// owns, non-blocking; conn is closed (close closes it: the wrapper's own
// Close comes later, when the connection ends).
func rawFD(conn net.Conn, close func() error) (int, error) {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return -1, errors.New("not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return -1, err
	}
	fd := -1
	cerr := rc.Control(func(s uintptr) {
		fd, err = dupCloexec(int(s))
	})
	if cerr != nil {
		return -1, cerr
	}
	if err != nil {
		return -1, err
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		return -1, err
	}
	close()
	return fd, nil
}

func dupCloexec(fd int) (int, error) {
	r, _, errno := syscall.Syscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return -1, os.NewSyscallError("fcntl", errno)
	}
	return int(r), nil
}

// fdConn gives a socket the loop owned back to Go's poller as a net.Conn;
// fd is closed either way.
func fdConn(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "")
	defer f.Close()
	return net.FileConn(f)
}

// loopConn is a client connection on a loop.
type loopConn struct {
	l  *eventLoop
	sc *h1ServerConn
	h  *handler
	fd int
	// TLS listeners: the connection's tls.Conn and the transport under it
	// (evloop_tls_linux.go); nil for a plain one. tlsMore: a full lc.in
	// stopped a read, and tls.Conn may hold more.
	tc      *tls.Conn
	tr      *tlsTransport
	tlsMore bool

	in     []byte // bytes from the client not yet served
	out    []byte // bytes for the client its socket has not taken yet
	outErr error
	events uint32
	state  int
	served bool // a request was served (idle timeout, not header timeout)
	n      int  // requests this loop served on it
	// returned: a goroutine gave it back (it was handed over before).
	returned bool
	closing  bool      // close once out is written
	firstAt  time.Time // when the pending head's first bytes came
	// deadline is when the wait in progress ends: the client's next
	// request, its head, or the backend's response head; zero: none.
	deadline time.Time

	r loopReq // the request in flight
}

// Client connection states.
const (
	lcIdle    = iota // waiting for (the rest of) a request head
	lcWaiting        // the request is sent: waiting for the backend's head
	lcDialing        // a new backend connection is being made
	lcBody           // relaying the response body
	lcDone           // closed or handed over
)

// loopReq is the fast path's state of one request on the loop: what
// proxyFast keeps on its stack.
type loopReq struct {
	pl         fastPlan
	res        fastOutcome
	start, t0  time.Time
	hdrTimeout time.Duration
	attempt    int
	tries      int // exchanges with this attempt's backend (a stale kept socket is replaced once)
	tried      []*balance.Backend
	triedBuf   [4]*balance.Backend
	b          *balance.Backend
	ps         *poolStats
	lastErr    error
	up         *loopUp
	rb         []byte // the backend's bytes: the head, then body bytes not yet relayed
	nread      int
	remain     int64 // body bytes still to relay
}

// adopt moves a new connection of hs (its begin done) onto a loop; false:
// it stays a goroutine's (the caller serves it).
func (hs *h1Server) adopt(sc *h1ServerConn, h *handler) bool {
	lc := hs.takeOver(sc, h)
	if lc == nil {
		return false
	}
	lc.start()
	return true
}

// takeOver takes sc's socket for a loop: nil when it cannot (it stays
// a goroutine's). start puts it on the loop; until then nothing of the
// loop touches sc.
func (hs *h1Server) takeOver(sc *h1ServerConn, h *handler) *loopConn {
	l, err := hs.loops.pick()
	if err != nil {
		return nil
	}
	conn := sc.conn
	var tc *tls.Conn
	var tr *tlsTransport
	if c, ok := conn.(*tls.Conn); ok {
		if tr, ok = c.NetConn().(*tlsTransport); !ok || tr.direct {
			return nil
		}
		tc, conn = c, tr.Conn
	}
	closeRaw := conn.Close
	if lc, ok := conn.(*limitConn); ok {
		conn, closeRaw = lc.Conn, lc.Conn.Close
	}
	if _, ok := conn.(*net.TCPConn); !ok {
		return nil
	}
	fd, err := rawFD(conn, closeRaw)
	if err != nil {
		return nil
	}
	lc := &loopConn{l: l, sc: sc, h: h, fd: fd, tc: tc, tr: tr, served: sc.fromLoop, returned: sc.fromLoop}
	if tr != nil {
		tr.lc = lc
	}
	return lc
}

// limiter is the connection's limitConn (the listener limits
// connections), or nil.
func (sc *h1ServerConn) limiter() *limitConn {
	l, _ := underTLS(sc.conn).(*limitConn)
	return l
}

// start registers lc with its loop.
func (lc *loopConn) start() {
	l, sc := lc.l, lc.sc
	sc.loop.Store(lc)
	ok := l.post(func() {
		l.conns[lc] = struct{}{}
		l.fds.set(lc.fd, loopFD{lc: lc})
		lc.events = syscall.EPOLLIN | syscall.EPOLLRDHUP
		l.ctl(syscall.EPOLL_CTL_ADD, lc.fd, lc.events)
		lc.wait(time.Now())
		if lc.tc != nil {
			// tls.Conn may hold a request already (read with the
			// handshake's last record, or left by the goroutine).
			lc.tlsMore = true
			lc.next()
		}
	})
	if !ok { // the loops ended (Shutdown)
		syscall.Close(lc.fd)
		if c := sc.limiter(); c != nil {
			c.Close()
		}
		sc.cancelConn()
		sc.hs.forget(sc)
	}
}

// wait sets the deadline of waiting for a request.
func (lc *loopConn) wait(now time.Time) {
	hs := lc.sc.hs
	d := hs.idleTimeout
	if !lc.served || d <= 0 {
		d = hs.hdrTimeout
	}
	lc.deadline = time.Time{}
	if d > 0 {
		lc.deadline = now.Add(d)
	}
}

func (lc *loopConn) setEvents(ev uint32) {
	if ev != lc.events {
		lc.events = ev
		lc.l.ctl(syscall.EPOLL_CTL_MOD, lc.fd, ev)
	}
}

// close ends the connection on the loop.
func (lc *loopConn) close() {
	if lc.state == lcDone {
		return
	}
	lc.closeNotify() // as tls.Conn.Close: best effort, the socket is not waited for
	l := lc.l
	if u := lc.r.up; u != nil {
		lc.r.up = nil
		l.closeUp(u)
	}
	lc.state = lcDone
	l.fds.del(lc.fd)
	delete(l.conns, lc)
	syscall.Close(lc.fd)
	if lc.out != nil {
		lc.out = lc.out[:0]
		lc.putOut()
	}
	sc := lc.sc
	if c := sc.limiter(); c != nil {
		c.Close() // gives its place back (its socket is closed already)
	}
	sc.cancelConn()
	if sc.bw != nil {
		sc.bw.Reset(nil)
		h1WriterPool.Put(sc.bw)
		sc.bw = nil
	}
	sc.hs.forget(sc)
}

// onClient handles the client socket's events.
func (lc *loopConn) onClient(ev uint32) {
	if ev&syscall.EPOLLOUT != 0 && len(lc.out) > 0 {
		lc.flushOut()
		if lc.state == lcDone {
			return
		}
	}
	if ev&(syscall.EPOLLIN|syscall.EPOLLRDHUP|syscall.EPOLLHUP|syscall.EPOLLERR) == 0 {
		return
	}
	if lc.in == nil {
		lc.in = lc.l.getIn()
	}
	if len(lc.in) == cap(lc.in) {
		// Full (a pipelined request waits for the one in flight): read
		// nothing more until it ends, and hear no half-close either
		// (level-triggered, it would wake the loop until then).
		lc.setEvents(lc.events &^ (syscall.EPOLLIN | syscall.EPOLLRDHUP))
		return
	}
	var got, gone bool
	if lc.tc != nil {
		got, gone = lc.readTLS()
	} else {
		got, gone = lc.readPlain()
	}
	if gone {
		lc.clientGone()
		return
	}
	if !got {
		if lc.state == lcIdle {
			lc.putBufs()
		}
		return
	}
	if lc.state == lcIdle && len(lc.out) == 0 && !lc.closing {
		lc.serveInput()
	}
}

// readPlain reads what the client sent into lc.in (readTLS's plain
// counterpart): got when bytes came, gone when the client closed or the
// socket failed.
func (lc *loopConn) readPlain() (got, gone bool) {
	n, err := rawRead(lc.fd, lc.in[len(lc.in):cap(lc.in)])
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return false, false
	}
	if n <= 0 {
		return false, true
	}
	if len(lc.in) == 0 {
		lc.firstAt = lc.l.now
	}
	lc.in = lc.in[:len(lc.in)+n]
	return true, false
}

// clientGone is the client closing its side (or an error).
func (lc *loopConn) clientGone() {
	switch lc.state {
	case lcWaiting, lcDialing, lcBody:
		r := &lc.r
		r.res.status, r.res.errMsg = 499, "client went away"
		if r.b != nil {
			r.b.Release()
			r.b = nil
		}
		lc.finish()
	}
	lc.close()
}

// timeout acts on a passed deadline.
func (lc *loopConn) timeout() {
	switch lc.state {
	case lcIdle:
		if lc.closing && len(lc.out) > 0 {
			lc.h.ls.countSendTimeout() // the last bytes before the close were not taken (sendWait)
		}
		lc.close() // no request, or a head too slow: nothing to answer, as the goroutine server
	case lcBody:
		if len(lc.out) == 0 {
			if ls := lc.h.ls; ls != nil {
				ls.readTimeouts.Add(1)
			}
			lc.bodyFailed(errBodyTimeout) // the backend sent nothing more (readWait)
			return
		}
		lc.h.ls.countSendTimeout()
		// The client took nothing (sendWait).
		r := &lc.r
		r.res.errMsg = "the client took no response bytes for send_timeout"
		if r.b != nil {
			r.b.Release()
			r.b = nil
		}
		lc.finish()
		lc.close()
	case lcWaiting:
		r := &lc.r
		var err error = h1TimeoutError{}
		if r.hdrTimeout < lc.h.s.hdrMax {
			err = errHeaderTimeout
		}
		lc.l.closeUp(r.up)
		r.up = nil
		lc.attemptFailed(err)
	}
}

// serveInput serves the request whose head lc.in holds, or hands the
// connection over.
func (lc *loopConn) serveInput() {
	hs := lc.sc.hs
	end := indexHeadEnd(lc.in)
	if end < 0 {
		if len(lc.in) == cap(lc.in) {
			lc.handoff(nil) // a head over the buffer: the full path's parser and limits
			return
		}
		if !lc.firstAt.IsZero() && hs.hdrTimeout > 0 {
			lc.deadline = lc.firstAt.Add(hs.hdrTimeout)
		}
		return
	}
	sc := lc.sc
	if !parseFastRequest(lc.in[:end+4], hs.authCookie, hs.reuseAuth, &sc.fast.req) {
		lc.handoff(nil)
		return
	}
	r := &lc.r
	*r = loopReq{}
	if !lc.h.planFast(sc, &r.pl) {
		lc.handoff(nil)
		return
	}
	if sc.bw == nil {
		sc.bw = h1WriterPool.Get().(*bufio.Writer)
	}
	if lc.tc != nil {
		sc.bw.Reset(tlsLoopWriter{lc})
	} else {
		sc.bw.Reset(loopWriter{lc})
	}
	lc.deadline = time.Time{}
	s := lc.h.s
	r.start = lc.l.now
	r.hdrTimeout = s.cfg.UpstreamHeaderTimeout
	if rt := r.pl.rt; rt != nil {
		r.hdrTimeout = rt.headerTimeout
	}
	lc.nextAttempt()
}

// indexHeadEnd is the index of the blank line's CRLFCRLF, or -1.
func indexHeadEnd(b []byte) int { return bytes.Index(b, []byte("\r\n\r\n")) }

// rawRead and rawWrite are read(2) and write(2) on a non-blocking socket
// without telling the scheduler (syscall.RawSyscall): they never block,
// and the scheduler's entry and exit cost more than they do.
func rawRead(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func rawWrite(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// pollNow is epoll_wait without waiting, as a raw system call: a busy
// loop finds its next events without entering the scheduler's blocking
// system call path.
func pollNow(ep int, events []syscall.EpollEvent) int {
	n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_PWAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e != 0 {
		return 0
	}
	return int(n)
}

// fdTable maps the loop's sockets to what they belong to, by descriptor.
type fdTable []loopFD

func (t *fdTable) set(fd int, e loopFD) {
	if fd >= len(*t) {
		*t = append(*t, make([]loopFD, fd+1-len(*t)+64)...)
	}
	(*t)[fd] = e
}

func (t fdTable) get(fd int) (loopFD, bool) {
	if fd < 0 || fd >= len(t) {
		return loopFD{}, false
	}
	e := t[fd]
	return e, e.lc != nil || e.up != nil || e.h2 != nil
}

func (t fdTable) del(fd int) {
	if fd >= 0 && fd < len(t) {
		t[fd] = loopFD{}
	}
}

// nextAttempt sends the request to the next backend, as proxyFast's loop,
// or ends it with the full path's answer when none is left.
func (lc *loopConn) nextAttempt() {
	r := &lc.r
	if r.tried == nil {
		r.tried = r.triedBuf[:0]
	}
	b, ps, tried, ok := lc.h.s.nextAttempt(r.pl.p, r.pl.fd, r.attempt, lc.sc.fast.peer.Addr(), r.tried, &r.res)
	r.tried, r.b = tried, b
	if !ok {
		lc.endRequest()
		return
	}
	r.ps = ps
	r.t0 = r.start
	if r.attempt > 0 {
		r.t0 = lc.l.now
	}
	r.attempt++
	r.tries = 0
	lc.exchange()
}

// exchange sends the request to r.res.upstream on a kept socket, or on a
// new one (dialled by a goroutine: the loop does not wait).
func (lc *loopConn) exchange() {
	r := &lc.r
	addr := r.res.upstream
	if u := lc.l.takeIdle(addr); u != nil {
		lc.send(u)
		return
	}
	lc.state = lcDialing
	lc.deadline = time.Time{}
	lc.l.dial(r.pl.c, lc.sc.ctx, addr, func(u *loopUp, err error) bool {
		switch {
		case lc.state != lcDialing:
			return false
		case err != nil:
			lc.attemptFailed(err)
		default:
			lc.send(u)
		}
		return true
	})
}

// dial makes a new backend socket to addr with c's dialer, on a goroutine
// (the loop does not wait), and gives it to done on the loop, in the
// loop's epoll set; or the error, u nil. done returns false when the
// socket is no longer wanted: it is closed.
func (l *eventLoop) dial(c *h1Client, ctx context.Context, addr string, done func(u *loopUp, err error) bool) {
	go func() {
		conn, err := c.dial(ctx, "tcp", addr)
		fd := -1
		if err == nil {
			fd, err = rawFD(conn, conn.Close)
			if err != nil {
				conn.Close()
			}
		}
		ok := l.post(func() {
			if err != nil {
				done(nil, err)
				return
			}
			syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
			u := &loopUp{fd: fd, addr: addr, c: c}
			l.ctl(syscall.EPOLL_CTL_ADD, fd, syscall.EPOLLIN|syscall.EPOLLRDHUP)
			if !done(u, nil) {
				l.closeUp(u)
			}
		})
		if !ok && fd >= 0 {
			syscall.Close(fd) // the loop ended
		}
	}()
}

// send writes the request head on u and waits for the answer.
func (lc *loopConn) send(u *loopUp) {
	r := &lc.r
	r.up = u
	r.tries++
	lc.l.fds.set(u.fd, loopFD{lc: lc, up: u})
	uw := lc.l.uw
	uw.Reset(upWriter(u.fd))
	lc.h.writeFastHead(uw, lc.sc, r.pl.host)
	if err := uw.Flush(); err != nil {
		uw.Reset(nil)
		lc.upFailed(err)
		return
	}
	r.nread = len(u.pending)
	if len(u.pending) > 0 {
		r.rb = append(lc.l.getRB(), u.pending...)
	}
	u.pending = u.pending[:0]
	lc.state = lcWaiting
	lc.deadline = r.t0.Add(r.hdrTimeout)
}

// upFailed is an exchange that failed before any byte of an answer: a
// stale kept socket is replaced once, else the attempt failed.
func (lc *loopConn) upFailed(err error) {
	r := &lc.r
	u := r.up
	r.up = nil
	lc.l.closeUp(u)
	if u.reused && r.nread == 0 && r.tries == 1 {
		lc.exchange()
		return
	}
	lc.attemptFailed(err)
}

// attemptFailed counts a failed attempt and tries the next backend.
func (lc *loopConn) attemptFailed(err error) {
	r := &lc.r
	if r.b != nil {
		r.b.Release()
	}
	lc.h.s.attemptFailed(r.pl.p, r.b, &r.res, err)
	r.b = nil
	r.lastErr = err
	lc.nextAttempt()
}

// onUpstream handles the request's backend socket's events.
func (lc *loopConn) onUpstream(ev uint32) {
	r := &lc.r
	if lc.state == lcBody && len(lc.out) > 0 {
		return // the client has not taken the last bytes yet (EPOLLIN is off)
	}
	if r.rb == nil {
		r.rb = lc.l.getRB()
	}
	if cap(r.rb)-len(r.rb) < 1024 {
		r.rb = append(r.rb, make([]byte, loopRBSize)...)[:len(r.rb)]
	}
	n, err := readAnswer(r.up.fd, r.rb, lc.state == lcWaiting, r.nread)
	switch {
	case err != nil && lc.state == lcWaiting:
		lc.upFailed(err)
		return
	case err != nil:
		lc.bodyFailed(err)
		return
	case n == 0:
		return
	}
	r.nread += n
	r.rb = r.rb[:len(r.rb)+n]
	if lc.state == lcWaiting {
		lc.gotHead()
		return
	}
	lc.relayBody()
}

// readAnswer reads what a backend socket sent into rb's spare capacity:
// n 0 and no error when nothing came yet. An ended socket is io.EOF, or
// io.ErrUnexpectedEOF when a head was awaited (head) and part of it had
// come (nread).
func readAnswer(fd int, rb []byte, head bool, nread int) (int, error) {
	n, err := rawRead(fd, rb[len(rb):cap(rb)])
	if err == syscall.EAGAIN || err == syscall.EINTR {
		return 0, nil
	}
	if n <= 0 {
		if err == nil {
			err = io.EOF
			if head && nread > 0 {
				err = io.ErrUnexpectedEOF
			}
		}
		return 0, err
	}
	return n, nil
}

// gotHead parses the response head once it is all there.
func (lc *loopConn) gotHead() {
	r := &lc.r
	sc := lc.sc
	// A head over the fast path's buffer, or over the response header
	// limit, is the goroutine's, as readFastHead leaves it to net/http.
	limit := min(4096, int(r.pl.c.maxHdr))
	end := indexHeadEnd(r.rb)
	if end < 0 {
		if len(r.rb) < limit {
			return
		}
		lc.handoffExchange()
		return
	}
	if end+4 > limit || !parseFastResponse(r.rb[:end+4], sc.fast.req.method == "HEAD", &sc.fast.resp) {
		lc.handoffExchange()
		return
	}
	sc.fast.hdrAt = lc.l.now
	r.ps.upstream.observe(sc.fast.hdrAt.Sub(r.t0))
	r.res.answered = true
	if r.b != nil {
		r.pl.p.bal.Success(r.b)
	}
	lc.deadline = time.Time{}
	// The head, as relayFast writes it.
	fr := &sc.fast.resp
	lc.h.writeFastRespHead(sc, r.rb[:fr.size])
	r.res.status = fr.code
	r.remain = fr.clen
	if sc.fast.req.method == "HEAD" || !bodyAllowed(fr.code) {
		r.remain = 0
	}
	r.rb = r.rb[:copy(r.rb, r.rb[fr.size:])]
	lc.state = lcBody
	lc.relayBody()
}

// relayBody passes the body bytes read so far to the client, and ends the
// request when the body is complete.
func (lc *loopConn) relayBody() {
	r := &lc.r
	if len(r.rb) > 0 {
		k := int(min(int64(len(r.rb)), r.remain))
		if _, err := lc.sc.bw.Write(r.rb[:k]); err != nil {
			// The client is gone: so is the rest of the body.
			r.res.errMsg = "writing to the client failed: " + err.Error()
			if r.b != nil {
				r.b.Release()
				r.b = nil
			}
			lc.finish()
			lc.close()
			return
		}
		r.res.bytes += int64(k)
		r.remain -= int64(k)
		if len(r.rb) > k {
			// More than the Content-Length: what follows is read as the
			// start of the next response on the socket, as on a
			// goroutine's buffered connection.
			r.up.pending = append(r.up.pending[:0], r.rb[k:]...)
		}
		r.rb = r.rb[:0]
	}
	if r.remain > 0 {
		if len(lc.out) > 0 {
			lc.l.ctl(syscall.EPOLL_CTL_MOD, r.up.fd, syscall.EPOLLRDHUP) // until the client takes what it has
			lc.sendWait()
		} else {
			lc.readWait()
		}
		return
	}
	if u := r.up; u != nil {
		r.up = nil
		if lc.sc.fast.resp.close {
			lc.l.closeUp(u)
		} else {
			lc.l.keep(u, lc.sc.fast.hdrAt)
		}
	}
	if r.b != nil {
		r.b.Release()
		r.b = nil
	}
	lc.endRequest()
}

// bodyFailed is the backend's body cut short: the client connection is
// cut too, as relayFast does.
func (lc *loopConn) bodyFailed(err error) {
	r := &lc.r
	if err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	r.res.errMsg = "backend body failed: " + err.Error()
	lc.h.s.log.Warn("backend body failed mid-response", "backend", r.res.upstream, "err", err)
	if r.b != nil {
		r.b.Release()
		r.b = nil
	}
	lc.sc.bw.Flush()
	lc.finish()
	lc.close()
}

// finish counts the request and writes its log line.
func (lc *loopConn) finish() {
	r := &lc.r
	if r.pl.fd != nil {
		lc.h.s.settleFast(r.pl.fd, &r.res)
	}
	lc.n++
	if lc.h.ls != nil {
		lc.h.ls.loop.Add(1)
	}
	lc.sc.fast.end = lc.l.now
	lc.h.finishFast(lc.sc, r.pl.rt, r.start, &r.res, r.pl.host, r.pl.path, r.pl.fd)
}

// endRequest ends the request: the full path's answer when no backend
// answered, the counters and log line, the flush; then the next request,
// or the close.
func (lc *loopConn) endRequest() {
	r := &lc.r
	sc := lc.sc
	if r.res.status == 0 {
		err := r.lastErr
		if err == nil {
			err = errNoBackend
		}
		status, why := statusFor(err)
		r.res.status, r.res.errMsg = status, why
		w := sc.fastWriter()
		writeStatus(w, status, "")
		r.res.bytes = w.written
	}
	lc.finish()
	var err error
	if sc.fast.stub != nil {
		err = sc.resp.finish()
	} else {
		err = sc.bw.Flush()
	}
	lc.served = true
	head := len(sc.fast.req.head)
	lc.in = lc.in[:copy(lc.in, lc.in[head:])]
	if err != nil || sc.fast.req.close || sc.hs.shutting.Load() {
		lc.closeAfterOut()
		return
	}
	lc.state = lcIdle
	lc.firstAt = time.Time{}
	if len(lc.in) > 0 {
		lc.firstAt = sc.fast.end
	}
	lc.setEvents(lc.events | syscall.EPOLLIN | syscall.EPOLLRDHUP)
	lc.wait(sc.fast.end)
	lc.putBufs()
	if len(lc.out) == 0 {
		lc.next()
	}
}

// next serves what an idle connection with nothing left to write has
// read already: what tls.Conn holds back first (tlsMore).
func (lc *loopConn) next() {
	if lc.tlsMore {
		if lc.in == nil {
			lc.in = lc.l.getIn()
		}
		if _, gone := lc.readTLS(); gone {
			lc.clientGone()
			return
		}
	}
	if len(lc.in) > 0 {
		lc.serveInput()
	} else if lc.in != nil {
		lc.putBufs()
	}
}

// closeAfterOut closes the connection once the client has taken its
// last bytes (half-closing it first, as closeWrite does).
func (lc *loopConn) closeAfterOut() {
	lc.closeNotify()
	if len(lc.out) == 0 || lc.outErr != nil {
		syscall.Shutdown(lc.fd, syscall.SHUT_WR)
		lc.close()
		return
	}
	lc.state, lc.closing = lcIdle, true // flushOut closes it once the client took the rest
	lc.sendWait()
}

// readWait starts the backend's read timeout (Config.UpstreamReadTimeout):
// the rest of the body is awaited from the backend; timeout cuts the
// response if none comes for that long.
func (lc *loopConn) readWait() {
	lc.deadline = time.Time{}
	d := lc.h.s.cfg.UpstreamReadTimeout
	if rt := lc.r.pl.rt; rt != nil {
		d = rt.readTimeout
	}
	if d > 0 {
		lc.deadline = lc.l.now.Add(d)
	}
}

// sendWait starts the send timeout (Config.SendTimeout): the client
// has bytes waiting in lc.out, and the connection waits for it to take
// them; timeout closes it if it takes none for that long.
func (lc *loopConn) sendWait() {
	if d := lc.sc.hs.sendTimeout; d > 0 {
		lc.deadline = lc.l.now.Add(d)
	}
}

// flushOut writes what the client has not taken yet.
func (lc *loopConn) flushOut() {
	for len(lc.out) > 0 {
		n, err := rawWrite(lc.fd, lc.out)
		if err == syscall.EAGAIN {
			return
		}
		if err != nil {
			lc.outErr = err
			lc.out = lc.out[:0]
			lc.clientGone()
			return
		}
		lc.out = lc.out[:copy(lc.out, lc.out[n:])]
		if len(lc.out) > 0 && (lc.state == lcBody || lc.closing) {
			lc.sendWait() // it took some: the send timeout starts again
		}
	}
	lc.setEvents(lc.events &^ syscall.EPOLLOUT)
	if lc.closing {
		syscall.Shutdown(lc.fd, syscall.SHUT_WR)
		lc.close()
		return
	}
	r := &lc.r
	switch lc.state {
	case lcBody:
		lc.readWait() // the backend's turn again
		lc.l.ctl(syscall.EPOLL_CTL_MOD, r.up.fd, syscall.EPOLLIN|syscall.EPOLLRDHUP)
	case lcIdle:
		lc.next()
	}
}

// loopWriter is the client's socket as the response writer's destination:
// what the socket does not take at once waits in lc.out.
type loopWriter struct{ lc *loopConn }

func (w loopWriter) Write(p []byte) (int, error) {
	lc := w.lc
	if lc.outErr != nil {
		return 0, lc.outErr
	}
	if len(lc.out) > 0 {
		lc.out = append(lc.out, p...)
		return len(p), nil
	}
	if err := lc.writeNow(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// writeNow writes p on the client socket without waiting; what the socket
// does not take is queued in lc.out, for EPOLLOUT. p is lc.out itself
// (TLS records) or, lc.out being empty, the caller's bytes.
func (lc *loopConn) writeNow(p []byte) error {
	n, err := rawWrite(lc.fd, p)
	if err == syscall.EAGAIN {
		n, err = 0, nil
	}
	if err != nil {
		lc.outErr = os.NewSyscallError("write", err)
		lc.out = lc.out[:0]
		return lc.outErr
	}
	lc.out = append(lc.out[:0], p[n:]...) // overlapping when p is lc.out: append moves as copy does
	if len(lc.out) > 0 {
		lc.setEvents(lc.events | syscall.EPOLLOUT)
	}
	return nil
}

// upWriter writes a request head on a backend socket: a bodiless head
// on a fresh or idle socket fits its send buffer, so what it does not take
// at once is an error.
type upWriter int

func (fd upWriter) Write(p []byte) (int, error) {
	n, err := rawWrite(int(fd), p)
	if err != nil {
		return max(n, 0), os.NewSyscallError("write", err)
	}
	if n < len(p) {
		return n, io.ErrShortWrite
	}
	return n, nil
}

// handoff gives the connection to a goroutine (the lean server's serve
// loop) from the bytes read so far; cont, when not nil, runs first (an
// exchange to finish). It comes back when its request is answered
// (h1ServerConn.run; takeOver, start).
func (lc *loopConn) handoff(cont func() error) {
	l, sc := lc.l, lc.sc
	l.fds.del(lc.fd)
	delete(l.conns, lc)
	l.ctl(syscall.EPOLL_CTL_DEL, lc.fd, 0)
	lc.state = lcDone
	sc.loop.Store(nil)
	if sc.bw != nil {
		sc.bw.Reset(nil)
		h1WriterPool.Put(sc.bw)
		sc.bw = nil
	}
	if lc.tr != nil {
		lc.tr.lc = nil
		lc.putOut()
	}
	conn, err := fdConn(lc.fd)
	if err != nil {
		sc.hs.errLog.Printf("web: handing a connection from the event loop to a goroutine: %v", err)
		if c := sc.limiter(); c != nil {
			c.Close()
		}
		sc.cancelConn()
		sc.hs.forget(sc)
		return
	}
	switch c := sc.limiter(); {
	case c != nil:
		c.Conn = conn
	case lc.tr != nil:
		lc.tr.Conn = conn
	default:
		sc.conn = conn
	}
	sc.prefix = append([]byte(nil), lc.in...)
	if lc.returned && lc.n == 0 {
		sc.backoff = min(max(2*sc.backoff, 16), 256)
	} else {
		sc.backoff = 0
	}
	sc.stay = sc.backoff
	sc.fromLoop = true
	if lc.h.ls != nil {
		lc.h.ls.handoffs.Add(1)
	}
	go sc.resume(!lc.served, cont)
}

// handoffExchange hands the connection over in the middle of an exchange
// whose response the fast path does not relay (not HTTP/1.1 with a
// Content-Length, a head over the buffer...): the goroutine reads it from
// the bytes read so far, as proxyFast would.
func (lc *loopConn) handoffExchange() {
	l, r := lc.l, &lc.r
	u := r.up
	r.up = nil
	l.fds.del(u.fd)
	l.ctl(syscall.EPOLL_CTL_DEL, u.fd, 0)
	conn, err := fdConn(u.fd)
	if err != nil {
		lc.attemptFailed(err)
		return
	}
	pc := handedConn(r.pl.c, u, conn, r.rb)
	rs := &fastResume{start: r.start, t0: r.t0, attempt: r.attempt, tried: append([]*balance.Backend(nil), r.tried...),
		b: r.b, ps: r.ps, out: r.res, pc: pc}
	pl := new(fastPlan)
	*pl = r.pl
	if r.pl.fd != nil {
		pl.fd = &pl.fdv
	}
	lc.in = lc.in[:copy(lc.in, lc.in[len(lc.sc.fast.req.head):])]
	h, sc := lc.h, lc.sc
	lc.handoff(func() error {
		sc.watchAborts()
		return h.proxyFastFrom(sc, pl.c, pl.p, pl.rt, pl.host, pl.path, pl.fd, rs)
	})
}

// handedConn is the lean client's connection for a backend socket a
// loop hands to a goroutine in the middle of an exchange (conn, back in
// Go's poller): its reads begin with rb, the bytes the loop read.
func handedConn(c *h1Client, u *loopUp, conn net.Conn, rb []byte) *h1Conn {
	pc := &h1Conn{c: c, conn: conn, addr: u.addr, werr: make(chan error, 1), reused: u.reused, readTimeout: c.readTimeout}
	pc.br = h1Readers.Get().(*bufio.Reader)
	pc.br.Reset(pc)
	pc.bw = h1Writers.Get().(*bufio.Writer)
	pc.bw.Reset(conn)
	pc.abortFn = pc.abort
	pc.prefix = append([]byte(nil), rb...)
	return pc
}

// postCloseIfIdle is closeIfIdle for a connection on a loop.
func (lc *loopConn) postCloseIfIdle() {
	lc.l.post(func() {
		if lc.state == lcIdle && len(lc.in) == 0 && len(lc.out) == 0 {
			lc.close()
		}
	})
}

// postClose closes a connection on a loop (Close).
func (lc *loopConn) postClose() { lc.l.post(lc.close) }
