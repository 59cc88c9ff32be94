package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"

	"github.com/postern/postern/host/web/internal/h2"
)

// h1Server serves HTTP/1.1 (and 1.0) on a plain listener: one goroutine
// per connection reads a request, runs the handler on it on the same
// goroutine and writes the response through a buffer, so a small
// response with a Content-Length leaves in one write. It is the lean
// counterpart of h1Client on the client side, and replaces net/http's
// server where that one costs most per request: a background read
// goroutine started and stopped around every request (and the wake-ups
// that hand the next request from it to the connection's goroutine), a
// chunk writer and two buffers per response, and per-request context and
// connection bookkeeping.
//
// It keeps net/http's behaviour where clients or the handler can see it:
// http.ReadRequest parses the request (the same parser), errors before a
// handler runs are answered 400/431/501/505 with Connection: close,
// Expect: 100-continue is answered when the handler first reads the body,
// a body the handler left unread is discarded up to 256 KiB (else the
// connection closes), responses without a Content-Length are sized when
// the handler returns within the buffer and chunked (HTTP/1.1) or closed
// (HTTP/1.0) otherwise, trailers are sent, Hijack works (Upgrade), a
// client that closes its connection while a bodiless request waits for
// its backend cancels the request's context (checked once the request has
// run for clientWatchDelay), and Shutdown closes idle connections, lets
// active ones finish and answers them with Connection: close.
//
// On a TLS listener it makes the handshake itself and serves HTTP/1.1
// over it; a connection that negotiated h2 (ALPN) is served, handshake
// done, by the h2 package's server (internal/h2), with the fast path for
// streams no plugin wants (fasth2.go). h2c listeners keep net/http's
// server; so does Config.Server "net/http".
type h1Server struct {
	handler     http.Handler
	srv         *http.Server // what http.ServerContextKey gives handlers
	connContext func(context.Context, net.Conn) context.Context
	hdrTimeout  time.Duration // ReadHeaderTimeout
	idleTimeout time.Duration
	sendTimeout time.Duration  // Config.SendTimeout (sendtimeout.go)
	sendLS      *listenerStats // counts what the send timeout closes; may be nil
	sweep       sendSweeper
	maxHeader   int
	errLog      *log.Logger

	// fast serves a request whose head parseFastRequest took, or reports
	// that it did not (fastpath.go); nil: every request takes handler.
	fast       func(sc *h1ServerConn) (served bool, err error)
	authCookie string // parseFastRequest's cookie
	reuseAuth  bool   // parseFastRequest's allowAuth: decisions are kept (fastreuse.go)
	// loops, when not nil, serve the connections (evloop_linux.go), with
	// loopH's fast path.
	loops *eventLoops
	loopH *handler

	// TLS listeners: the handshake's configuration and the server of
	// the connections that negotiate h2.
	tlsConfig *tls.Config
	h2        *h2.Server

	mu       sync.Mutex
	ln       net.Listener
	conns    map[*h1ServerConn]struct{}
	shutting atomic.Bool
	done     chan struct{} // closed when the last connection ends after Shutdown
}

// clientWatchDelay is how long a bodiless request runs before its
// connection is watched for the client closing it. Shorter requests are
// not watched (a watch costs a goroutine and two deadline changes); a
// client that leaves one is noticed when its response is written.
const clientWatchDelay = 500 * time.Millisecond

// maxDiscardBytes is how much of a request body the handler left unread
// is read and dropped to keep the connection, as net/http does.
const maxDiscardBytes = 256 << 10

// newH1Server takes its handler, timeouts and limits from srv, the
// net/http server the listener would otherwise run (limitServer's
// ConnContext included).
func newH1Server(srv *http.Server) *h1Server {
	errLog := srv.ErrorLog
	if errLog == nil {
		errLog = log.Default() // as net/http logs without one
	}
	return &h1Server{
		handler:     srv.Handler,
		srv:         srv,
		connContext: srv.ConnContext,
		hdrTimeout:  srv.ReadHeaderTimeout,
		idleTimeout: srv.IdleTimeout,
		maxHeader:   srv.MaxHeaderBytes,
		errLog:      errLog,
		conns:       map[*h1ServerConn]struct{}{},
	}
}

// newH1TLSServer is newH1Server for a TLS listener: srv (configured for
// h2 and with its TLSConfig) serves the connections that negotiate h2.
func newH1TLSServer(srv *http.Server) *h1Server {
	hs := newH1Server(srv)
	hs.tlsConfig = srv.TLSConfig
	hs.h2 = &h2.Server{
		Handler:        srv.Handler,
		MaxHeaderBytes: srv.MaxHeaderBytes,
		IdleTimeout:    srv.IdleTimeout,
		PrefaceTimeout: srv.ReadHeaderTimeout,
		ErrorLog:       hs.errLog,
	}
	return hs
}

// Serve accepts connections on ln until Shutdown or Close; it returns
// http.ErrServerClosed then, as http.Server.Serve does.
func (hs *h1Server) Serve(ln net.Listener) error {
	hs.mu.Lock()
	if hs.shutting.Load() {
		hs.mu.Unlock()
		ln.Close()
		return http.ErrServerClosed
	}
	hs.ln = ln
	hs.mu.Unlock()
	var delay time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if hs.shutting.Load() {
				return http.ErrServerClosed
			}
			if isTemporaryAccept(err) {
				delay = min(max(2*delay, 5*time.Millisecond), time.Second)
				hs.errLog.Printf("web: accept error: %v; retrying in %v", err, delay)
				time.Sleep(delay)
				continue
			}
			return err
		}
		delay = 0
		sc := &h1ServerConn{hs: hs, conn: c}
		hs.mu.Lock()
		if hs.shutting.Load() {
			hs.mu.Unlock()
			c.Close()
			return http.ErrServerClosed
		}
		hs.conns[sc] = struct{}{}
		hs.mu.Unlock()
		hs.armSendSweep()
		if hs.loops != nil && hs.tlsConfig == nil {
			// A plain listener's begin does not block (a TLS one's
			// handshake is its goroutine's: serve).
			if ok, _ := sc.begin(); !ok {
				sc.end(false)
				continue
			}
			if !hs.adopt(sc, hs.loopH) {
				go sc.resume(true, nil)
			}
			continue
		}
		go sc.serve()
	}
}

// isTemporaryAccept reports an accept error worth retrying after a pause
// (EMFILE, ENFILE, ECONNABORTED...), as net/http's server retries: the
// errors' deprecated Temporary method is still what tells them apart.
func isTemporaryAccept(err error) bool {
	var te interface{ Temporary() bool }
	return errors.As(err, &te) && te.Temporary()
}

// Shutdown stops accepting, closes idle connections and waits until the
// active ones have finished their request, or ctx ends (then it returns
// ctx's error and leaves them to Close).
func (hs *h1Server) Shutdown(ctx context.Context) error {
	if hs.h2 == nil {
		return hs.shutdown(ctx)
	}
	// The h2 connections get their GOAWAY at once, beside the HTTP/1.1
	// ones' Connection: close.
	h2err := make(chan error, 1)
	go func() { h2err <- hs.h2.Shutdown(ctx) }()
	err := hs.shutdown(ctx)
	return errors.Join(err, <-h2err)
}

func (hs *h1Server) shutdown(ctx context.Context) error {
	hs.mu.Lock()
	hs.shutting.Store(true)
	if hs.ln != nil {
		hs.ln.Close()
	}
	for sc := range hs.conns {
		sc.closeIfIdle()
	}
	if len(hs.conns) == 0 {
		hs.mu.Unlock()
		return nil
	}
	if hs.done == nil {
		hs.done = make(chan struct{})
	}
	done := hs.done
	hs.mu.Unlock()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Close closes the listener and every connection at once.
func (hs *h1Server) Close() error {
	if hs.h2 != nil {
		hs.h2.Close()
	}
	hs.mu.Lock()
	defer hs.mu.Unlock()
	hs.shutting.Store(true)
	if hs.ln != nil {
		hs.ln.Close()
	}
	for sc := range hs.conns {
		if lc := sc.loop.Load(); lc != nil {
			lc.postClose()
			continue
		}
		sc.conn.Close()
	}
	return nil
}

// forget removes a connection that ended (or was hijacked).
func (hs *h1Server) forget(sc *h1ServerConn) {
	hs.mu.Lock()
	delete(hs.conns, sc)
	if len(hs.conns) == 0 && hs.done != nil {
		close(hs.done)
		hs.done = nil
	}
	hs.mu.Unlock()
}

// Connection states (h1ServerConn.state).
const (
	h1Idle   = iota // waiting for a request: Shutdown may close it
	h1Active        // a request is being read or served
	h1Closed        // closed by Shutdown while idle
)

// h1ServerConn is one client connection. It is the bufio.Reader's
// source: it bounds the bytes of request headers and hands over a byte
// the client watch read.
type h1ServerConn struct {
	hs     *h1Server
	conn   net.Conn
	br     *bufio.Reader
	bw     *bufio.Writer
	remote string // RemoteAddr, formatted once
	ctx    context.Context

	limit   int64 // bytes Read may still return (request headers are bounded)
	hitLim  bool
	pending int    // a byte the watch read: -1 none
	prefix  []byte // bytes the event loop read before handing the connection over (evloop_linux.go)
	stMu    sync.Mutex
	state   int

	// The client watch of the request being served.
	watchT    *time.Timer
	watchMu   sync.Mutex
	watching  bool          // a watch goroutine is reading conn
	watchDone chan struct{} // closed when it has stopped
	watchGone bool          // it saw the client close (or an error)
	cancel    context.CancelFunc
	// cancelConn cancels sc.ctx, the context of every request on the
	// connection.
	cancelConn context.CancelFunc
	bodyless   bool // the current request has no body (the watch may read conn)

	resp h1Response // the current request's, reused

	fast fastConn   // the fast path's state (fastpath.go)
	upMu sync.Mutex // guards fast.upstream

	tlsState *tls.ConnectionState // TLS listeners: the handshake's, shared by the requests
	h2       bool                 // it negotiated h2: the h2 server serves it

	// writing is when the write in progress on conn began (monoNow), 0
	// when none is (sendWriter).
	writing atomic.Int64

	loop atomic.Pointer[loopConn] // the event loop serving it; nil: a goroutine
	// fromLoop: a loop handed it to this goroutine (it goes back when its
	// request is done); toLoop: run's return takes it back (end starts it).
	fromLoop bool
	toLoop   *loopConn
	// stay is how many more requests it serves here before going back;
	// backoff the last stay (doubled each time a connection comes back
	// only to be handed over again at once: every request needing the
	// full path would otherwise cross over twice).
	stay, backoff int
}

// handshake makes the TLS handshake within the header timeout, as
// net/http's server does; a client that speaks plain HTTP to the TLS port
// gets net/http's 400 answer. Failures are logged like net/http's.
func (sc *h1ServerConn) handshake() (*tls.Conn, bool) {
	hs := sc.hs
	tc := tls.Server(hs.wrapTLS(sc.conn), hs.tlsConfig)
	if hs.hdrTimeout > 0 {
		sc.conn.SetDeadline(time.Now().Add(hs.hdrTimeout))
	}
	if err := tc.Handshake(); err != nil {
		reason := err.Error()
		var re tls.RecordHeaderError
		if errors.As(err, &re) && re.Conn != nil && looksLikeHTTP(re.RecordHeader) {
			io.WriteString(re.Conn, "HTTP/1.0 400 Bad Request\r\n\r\nClient sent an HTTP request to an HTTPS server.\n")
			reason = "client sent an HTTP request to an HTTPS server"
		}
		hs.errLog.Printf("http: TLS handshake error from %s: %v", sc.remote, reason)
		return nil, false
	}
	sc.conn.SetDeadline(time.Time{})
	return tc, true
}

// looksLikeHTTP reports whether a TLS record header is the start of a
// plain HTTP request.
func looksLikeHTTP(hdr [5]byte) bool {
	switch string(hdr[:]) {
	case "GET /", "HEAD ", "POST ", "PUT /", "OPTIO":
		return true
	}
	return false
}

func (sc *h1ServerConn) Read(p []byte) (int, error) {
	if sc.limit <= 0 {
		sc.hitLim = true
		return 0, io.EOF
	}
	if int64(len(p)) > sc.limit {
		p = p[:sc.limit]
	}
	if sc.pending >= 0 && len(p) > 0 {
		p[0] = byte(sc.pending)
		sc.pending = -1
		sc.limit--
		return 1, nil
	}
	if len(sc.prefix) > 0 {
		n := copy(p, sc.prefix)
		sc.prefix = sc.prefix[n:]
		sc.limit -= int64(n)
		return n, nil
	}
	n, err := sc.conn.Read(p)
	sc.limit -= int64(n)
	return n, err
}

func (sc *h1ServerConn) setState(st int) bool {
	sc.stMu.Lock()
	defer sc.stMu.Unlock()
	if sc.state == h1Closed {
		return false
	}
	sc.state = st
	return true
}

// closeIfIdle closes the connection when it waits for a request; called
// with hs.mu held.
func (sc *h1ServerConn) closeIfIdle() {
	if lc := sc.loop.Load(); lc != nil {
		lc.postCloseIfIdle()
		return
	}
	sc.stMu.Lock()
	defer sc.stMu.Unlock()
	if sc.state == h1Idle {
		sc.state = h1Closed
		sc.conn.Close()
	}
}

var (
	h1ReaderPool = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	h1WriterPool = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

func (sc *h1ServerConn) serve() {
	if ok, hijacked := sc.begin(); !ok {
		sc.end(hijacked)
		return
	}
	if sc.h2 {
		if sc.hs.loops != nil && sc.hs.adoptH2(sc) {
			return // on a loop (evloop_h2_linux.go)
		}
		goDirect(sc.conn.(*tls.Conn))
		// The h2 server tracks it from now on (its Shutdown and Close).
		sc.hs.forget(sc)
		sc.hs.h2.ServeConn(sc.ctx, sc.conn)
		sc.cancelConn()
		return
	}
	if sc.hs.loops != nil && sc.hs.adopt(sc, sc.hs.loopH) {
		return // a TLS connection, its handshake done
	}
	sc.resume(true, nil)
}

// resume serves a begun connection's requests (first: none was served on
// it yet); cont, when not nil, first finishes a request the event loop
// began (evloop_linux.go), and reports whether the connection must close.
func (sc *h1ServerConn) resume(first bool, cont func() error) {
	hijacked := false
	defer func() {
		sc.recoverPanic(recover())
		sc.end(hijacked)
	}()
	sc.br = h1ReaderPool.Get().(*bufio.Reader)
	sc.br.Reset(sc)
	if cont != nil {
		sc.bw = h1WriterPool.Get().(*bufio.Writer)
		sc.bw.Reset(sendWriter{sc})
		err := cont()
		sc.bw.Reset(nil)
		h1WriterPool.Put(sc.bw)
		sc.bw = nil
		if err != nil {
			sc.cancelConn()
			return
		}
		first = false
	}
	hijacked = sc.run(first)
}

// recoverPanic logs a handler's panic (v, what recover returned), as
// net/http does; http.ErrAbortHandler is not logged.
func (sc *h1ServerConn) recoverPanic(v any) {
	if v != nil && v != http.ErrAbortHandler {
		buf := make([]byte, 64<<10)
		buf = buf[:runtime.Stack(buf, false)]
		sc.hs.errLog.Printf("web: panic serving %v: %v\n%s", sc.remote, v, buf)
	}
}

// end releases the connection when it is done being served.
func (sc *h1ServerConn) end(hijacked bool) {
	if lc := sc.toLoop; lc != nil {
		// Back to a loop (run released what the goroutine held): the
		// last thing this goroutine does with sc.
		sc.toLoop = nil
		lc.start()
		return
	}
	if !hijacked {
		sc.conn.Close()
		if sc.br != nil {
			sc.br.Reset(nil)
			h1ReaderPool.Put(sc.br)
		}
		if sc.bw != nil {
			sc.bw.Reset(nil)
			h1WriterPool.Put(sc.bw)
		}
	}
	if sc.watchT != nil {
		sc.watchT.Stop()
	}
	sc.hs.forget(sc)
}

// begin readies a new connection: the TLS handshake on a TLS listener
// (sc.h2 tells an h2 connection) and the connection's context. It is false when the connection must end.
func (sc *h1ServerConn) begin() (ok, hijacked bool) {
	hs := sc.hs
	sc.pending = -1
	sc.remote = sc.conn.RemoteAddr().String()
	if hs.tlsConfig != nil {
		tc, ok := sc.handshake()
		if !ok {
			return false, false
		}
		if tc.ConnectionState().NegotiatedProtocol == "h2" {
			// The h2 server's from here (serve), with the context an
			// HTTP/1.1 connection would have.
			sc.h2 = true
		}
		sc.conn = tc
		st := tc.ConnectionState()
		sc.tlsState = &st
	}
	// The values net/http's server gives a request's context: its server
	// (httputil.ReverseProxy reads it to decide to abort a response cut
	// mid-body) and the local address.
	ctx := context.WithValue(context.Background(), http.ServerContextKey, hs.srv)
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, sc.conn.LocalAddr())
	if hs.connContext != nil {
		ctx = hs.connContext(ctx, sc.conn)
	}
	// One cancellable context per connection, not per request: it is
	// cancelled when the client is seen to leave (the watch) and when the
	// connection ends. A request's context is therefore still live after
	// its handler returned, until the connection ends; nothing in the
	// handler's path waits on that (response bodies are closed, events
	// run without cancellation). Per request this saves the cancelCtx,
	// its Done channel and the children map every context.AfterFunc of
	// the upstream client would otherwise allocate on it.
	sc.ctx, sc.cancelConn = context.WithCancel(ctx)
	return true, false
}

// run serves the connection's requests until it must close (first: no
// request was served on it yet). It reports whether a handler hijacked it.
func (sc *h1ServerConn) run(first bool) (hijacked bool) {
	hs := sc.hs
	defer func() {
		if sc.toLoop == nil {
			sc.cancelConn()
		}
	}()
	for ; ; first = false {
		if !sc.setState(h1Idle) {
			return false // Shutdown closed it
		}
		if hs.shutting.Load() {
			return false
		}
		if sc.fromLoop && sc.stay > 0 && sc.br.Buffered() == 0 {
			sc.stay-- // back off: its requests keep needing the goroutine
		} else if sc.fromLoop && sc.br.Buffered() == 0 && len(sc.prefix) == 0 && sc.pending < 0 {
			// An event loop handed it over for a request that is done:
			// it waits for the next one on a loop again (a goroutine
			// holds a connection only while it serves a request the
			// loop does not take).
			if lc := hs.takeOver(sc, hs.loopH); lc != nil {
				sc.br.Reset(nil)
				h1ReaderPool.Put(sc.br)
				sc.br = nil
				if sc.watchT != nil {
					sc.watchT.Stop()
				}
				sc.toLoop = lc // end starts it
				return false
			}
			sc.fromLoop = false
		}
		// Wait for the next request's first byte within the idle timeout
		// (the header timeout for the first request).
		wait := hs.idleTimeout
		if first || wait <= 0 {
			wait = hs.hdrTimeout
		}
		if sc.br.Buffered() == 0 {
			if wait > 0 {
				// The fast path's end of the last request is now enough
				// (one clock reading fewer per request).
				now := sc.fast.end
				if now.IsZero() {
					now = time.Now()
				}
				sc.conn.SetReadDeadline(now.Add(wait))
			}
			sc.fast.end = time.Time{}
			sc.limit = 1 << 62
			if _, err := sc.br.Peek(1); err != nil {
				return false
			}
		}
		if !sc.setState(h1Active) {
			return false
		}
		// The writer is held only while a request is served: an idle
		// connection keeps its reader (it waits in it), not 4 KiB more.
		sc.bw = h1WriterPool.Get().(*bufio.Writer)
		sc.bw.Reset(sendWriter{sc})
		hijacked, err := sc.serveOne(first)
		if err != nil || hijacked {
			return hijacked
		}
		sc.bw.Reset(nil)
		h1WriterPool.Put(sc.bw)
		sc.bw = nil
	}
}

// serveOne reads and serves one request. It returns an error when the
// connection must close, and hijacked when the handler took it.
func (sc *h1ServerConn) serveOne(first bool) (hijacked bool, err error) {
	hs := sc.hs
	// The wait for the first byte had a deadline; a head that is not all
	// in the buffer yet gets the header timeout. One that is may take the
	// fast path, which either serves it or leaves it, unread, to the full
	// path below.
	buf, _ := sc.br.Peek(sc.br.Buffered())
	end := bytes.Index(buf, []byte("\r\n\r\n"))
	if end < 0 && hs.hdrTimeout > 0 {
		sc.conn.SetReadDeadline(time.Now().Add(hs.hdrTimeout))
	}
	if end >= 0 && hs.fast != nil && end+4 <= hs.maxHeader+4096 && parseFastRequest(buf[:end+4], hs.authCookie, hs.reuseAuth, &sc.fast.req) {
		if served, err := hs.fast(sc); served {
			return false, err
		}
	}
	// Headers are bounded as net/http bounds them: MaxHeaderBytes plus
	// its 4 KiB of slack, counting what the buffer already holds.
	sc.limit = int64(hs.maxHeader) + 4096 - int64(sc.br.Buffered())
	sc.hitLim = false
	req, err := http.ReadRequest(sc.br)
	if err != nil {
		sc.answerBadRequest(err)
		return false, err
	}
	sc.limit = 1 << 62
	if req.Body != http.NoBody {
		// The body is read without a deadline, as net/http does without a
		// ReadTimeout. A bodiless request leaves the deadline as it was:
		// nothing reads the connection until the next request (whose wait
		// sets its own), except a watch, which clears it.
		sc.conn.SetReadDeadline(time.Time{})
	}
	if code, why := checkRequest(req); code != 0 {
		sc.writeError(code, why)
		return false, errors.New(why)
	}
	req.RemoteAddr = sc.remote
	req.TLS = sc.tlsState
	req = req.WithContext(sc.ctx)
	w := sc.resetResponse(req)
	var ec *expectContinue
	if e := req.Header.Get("Expect"); e != "" {
		if !strings.EqualFold(e, "100-continue") || req.ProtoMajor != 1 || req.ProtoMinor == 0 {
			sc.writeError(http.StatusExpectationFailed, "")
			return false, errors.New("unsupported Expect")
		}
		if req.Body != http.NoBody {
			ec = &expectContinue{rc: req.Body, w: w}
			req.Body = ec
		}
		req.Header.Del("Expect")
	}
	body := req.Body
	sc.startWatch(body == http.NoBody, sc.cancelConn)
	hs.handler.ServeHTTP(w, req)
	sc.stopWatch()
	if w.hijacked {
		return true, nil
	}
	// A body the handler left: drop up to maxDiscardBytes to keep the
	// connection, unless the client still waits for 100 Continue.
	unread := false
	if body != http.NoBody {
		if ec != nil && !ec.sent {
			w.closeAfter = true
		} else if n, _ := io.CopyN(io.Discard, body, maxDiscardBytes+1); n > maxDiscardBytes {
			w.closeAfter, unread = true, true
		}
		body.Close()
	}
	if err := w.finish(); err != nil {
		return false, err
	}
	if w.closeAfter || sc.watchGone {
		sc.closeWrite(unread)
		return false, errors.New("connection: close")
	}
	return false, nil
}

// resetResponse readies the connection's response writer for req. The
// writer and its header map are the connection's, reused: a handler does
// not keep them past its return.
func (sc *h1ServerConn) resetResponse(req *http.Request) *h1Response {
	hdr, hold := sc.resp.header, sc.resp.hold
	clear(hdr)
	sc.resp = h1Response{sc: sc, req: req, contentLength: -1, header: hdr, hold: hold[:0]}
	w := &sc.resp
	w.closeAfter = req.Close || sc.hs.shutting.Load()
	if req.ProtoMajor == 1 && req.ProtoMinor == 0 && !req.Close {
		w.keepAlive10 = true // HTTP/1.0 with Connection: keep-alive
	}
	return w
}

// checkRequest refuses what net/http's server refuses after parsing: a
// version other than 1.x, a missing or malformed Host on HTTP/1.1, an
// invalid header name or value (control characters other than tab). A
// repeated Host never gets here: http.ReadRequest refuses it ("too many
// Host headers", answered 400).
func checkRequest(req *http.Request) (int, string) {
	if req.ProtoMajor != 1 {
		return http.StatusHTTPVersionNotSupported, "unsupported protocol version"
	}
	if req.Host == "" && req.ProtoAtLeast(1, 1) && req.Method != http.MethodConnect {
		return http.StatusBadRequest, "missing required Host header"
	}
	if !httpguts.ValidHostHeader(req.Host) {
		return http.StatusBadRequest, "malformed Host header"
	}
	for k, vv := range req.Header {
		if !httpguts.ValidHeaderFieldName(k) {
			return http.StatusBadRequest, "invalid header name"
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return http.StatusBadRequest, "invalid header value"
			}
		}
	}
	return 0, ""
}

// answerBadRequest answers a request that could not be read, as
// net/http's server does; a connection that closed or timed out quietly
// gets nothing.
func (sc *h1ServerConn) answerBadRequest(err error) {
	var ne net.Error
	switch {
	case sc.hitLim:
		sc.writeError(http.StatusRequestHeaderFieldsTooLarge, "")
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed),
		errors.As(err, &ne) && ne.Timeout():
		// The client left or was too slow: nothing to answer.
	case strings.Contains(err.Error(), "unsupported transfer encoding"):
		sc.writeError(http.StatusNotImplemented, "Unsupported transfer encoding")
	default:
		sc.writeError(http.StatusBadRequest, "")
	}
}

// writeError writes a plain error response and leaves the connection to
// be closed, as net/http's "400 Bad Request" does.
func (sc *h1ServerConn) writeError(code int, msg string) {
	if msg == "" {
		msg = http.StatusText(code)
	}
	sc.conn.SetWriteDeadline(time.Now().Add(time.Second))
	fmt.Fprintf(sc.bw, "HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n%d %s",
		code, http.StatusText(code), code, msg)
	sc.bw.Flush()
	sc.conn.SetWriteDeadline(time.Time{})
	sc.closeWrite(code == http.StatusRequestHeaderFieldsTooLarge)
}

// rstAvoidanceDelay is how long a connection closed with request bytes
// still unread lingers after its FIN, as net/http's closeWriteAndWait:
// closing a socket with unread data sends a RST, which can destroy the
// response before the client has read it.
const rstAvoidanceDelay = 500 * time.Millisecond

// closeWrite sends FIN after the response; unread: the client may still
// be sending (a body the handler left, headers over the limit), so wait
// before the close.
func (sc *h1ServerConn) closeWrite(unread bool) {
	if cw, ok := sc.conn.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	if unread {
		time.Sleep(rstAvoidanceDelay)
	}
}

// startWatch arms the client watch of a bodiless request.
func (sc *h1ServerConn) startWatch(bodyless bool, cancel context.CancelFunc) {
	if !bodyless || sc.br.Buffered() > 0 {
		return // a body is read by the handler; pipelined bytes hide a close
	}
	sc.watchMu.Lock()
	sc.bodyless, sc.cancel = true, cancel
	sc.watchMu.Unlock()
	if sc.watchT == nil {
		sc.watchT = time.AfterFunc(clientWatchDelay, sc.watch)
		return
	}
	sc.watchT.Reset(clientWatchDelay)
}

// watch reads the connection while the request runs: EOF or an error
// means the client left and cancels the request; a byte is kept for the
// next request (pipelining).
func (sc *h1ServerConn) watch() {
	sc.watchMu.Lock()
	if !sc.bodyless {
		sc.watchMu.Unlock()
		return
	}
	sc.watching = true
	sc.conn.SetReadDeadline(time.Time{}) // a bodiless request's stays set (serveOne)
	done := make(chan struct{})
	sc.watchDone = done
	cancel := sc.cancel
	sc.watchMu.Unlock()
	go func() {
		defer close(done)
		var b [1]byte
		n, err := sc.conn.Read(b[:])
		if n == 1 {
			sc.pending = int(b[0])
			return
		}
		var ne net.Error
		if err != nil && !(errors.As(err, &ne) && ne.Timeout()) {
			sc.watchGone = true
			cancel()
		}
	}()
}

// stopWatch ends the watch before the connection is read or written
// again.
func (sc *h1ServerConn) stopWatch() {
	if sc.watchT != nil {
		sc.watchT.Stop()
	}
	sc.watchMu.Lock()
	sc.bodyless = false // a late timer finds nothing to do
	watching, done := sc.watching, sc.watchDone
	sc.watching, sc.watchDone = false, nil
	sc.watchMu.Unlock()
	if watching {
		sc.conn.SetReadDeadline(aLongTimeAgo)
		<-done
		sc.conn.SetReadDeadline(time.Time{})
	}
}

// expectContinue sends "100 Continue" before the first read of a body
// whose client asked for it.
type expectContinue struct {
	rc   io.ReadCloser
	w    *h1Response
	sent bool
}

func (e *expectContinue) Read(p []byte) (int, error) {
	if !e.sent {
		e.sent = true
		if !e.w.wroteHeader {
			bw := e.w.sc.bw
			bw.WriteString("HTTP/1.1 100 Continue\r\n\r\n")
			if err := bw.Flush(); err != nil {
				return 0, err
			}
		}
	}
	return e.rc.Read(p)
}

func (e *expectContinue) Close() error { return e.rc.Close() }

// h1Response is the http.ResponseWriter of h1Server. A body without a
// Content-Length is held (up to h1HoldBytes) until the handler returns,
// to give it one; past that, or on a Flush, it is chunked.
type h1Response struct {
	sc     *h1ServerConn
	req    *http.Request
	header http.Header

	status      int
	wroteHeader bool // WriteHeader (or a Write) chose the status
	committed   bool // the status line and headers are in the writer
	hijacked    bool
	closeAfter  bool
	keepAlive10 bool // an HTTP/1.0 client asked for keep-alive

	contentLength int64 // declared, -1 none
	written       int64 // body bytes written
	chunked       bool
	noBody        bool     // HEAD, 204, 304: the body is not sent
	trailers      []string // declared in Trailer
	hold          []byte   // body held before commit
}

// h1HoldBytes is how much body without a Content-Length is held before the
// response is committed chunked (net/http holds 2 KiB).
const h1HoldBytes = 4 << 10

func (w *h1Response) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header, 8)
	}
	return w.header
}

func (w *h1Response) WriteHeader(code int) {
	if w.hijacked || w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code < 200 && code != http.StatusSwitchingProtocols {
		// An informational response goes out now, with the header map as
		// it is (the reverse proxy fills it with the 1xx's headers).
		bw := w.sc.bw
		writeStatusLine(bw, w.req.ProtoAtLeast(1, 1), code)
		writeHeaderFields(bw, w.header)
		bw.WriteString("\r\n")
		bw.Flush()
		return
	}
	w.wroteHeader = true
	w.status = code
	if cl := w.header.Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.contentLength = n
		} else {
			w.header.Del("Content-Length")
		}
	}
	w.noBody = w.req.Method == http.MethodHead || !bodyAllowed(code)
}

func bodyAllowed(code int) bool {
	return !(code >= 100 && code < 200 || code == http.StatusNoContent || code == http.StatusNotModified)
}

func (w *h1Response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if w.noBody {
		if w.req.Method == http.MethodHead {
			w.written += int64(len(p))
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.contentLength >= 0 && w.written+int64(len(p)) > w.contentLength {
		return 0, http.ErrContentLength
	}
	if !w.committed {
		if w.contentLength < 0 && len(w.hold)+len(p) <= h1HoldBytes && len(w.trailerNames()) == 0 {
			if cap(w.hold) == 0 {
				w.hold = make([]byte, 0, h1HoldBytes)
			}
			w.hold = append(w.hold, p...)
			w.written += int64(len(p))
			return len(p), nil
		}
		if err := w.commit(false); err != nil {
			return 0, err
		}
	}
	w.written += int64(len(p))
	return w.writeBody(p)
}

func (w *h1Response) writeBody(p []byte) (int, error) {
	bw := w.sc.bw
	if w.chunked {
		bw.WriteString(strconv.FormatInt(int64(len(p)), 16))
		bw.WriteString("\r\n")
		n, err := bw.Write(p)
		if err == nil {
			_, err = bw.WriteString("\r\n")
		}
		return n, err
	}
	return bw.Write(p)
}

// trailerNames returns the trailers the handler declared.
func (w *h1Response) trailerNames() []string {
	return w.header["Trailer"]
}

// commit writes the status line and headers. done: the handler has
// returned, so a held body gives the Content-Length.
func (w *h1Response) commit(done bool) error {
	w.committed = true
	h := w.Header()
	proto11 := w.req.ProtoAtLeast(1, 1)
	if len(h["Trailer"]) > 0 {
		for _, v := range h["Trailer"] {
			for _, k := range strings.Split(v, ",") {
				if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" {
					w.trailers = append(w.trailers, k)
				}
			}
		}
	}
	if !w.noBody {
		_, haveType := h["Content-Type"]
		if !haveType && len(w.hold) > 0 && h.Get("Content-Encoding") == "" {
			h.Set("Content-Type", http.DetectContentType(w.hold))
		}
		switch {
		case w.contentLength >= 0:
		case done && len(w.trailers) == 0:
			w.contentLength = int64(len(w.hold))
			h.Set("Content-Length", strconv.Itoa(len(w.hold)))
		case proto11:
			w.chunked = true
			h.Del("Content-Length")
			h.Set("Transfer-Encoding", "chunked")
		default:
			w.closeAfter = true // HTTP/1.0 without a length: the close ends it
		}
	} else if w.req.Method == http.MethodHead && done && w.contentLength < 0 && w.written > 0 && bodyAllowed(w.status) {
		h.Set("Content-Length", strconv.FormatInt(w.written, 10))
	}
	if !w.chunked {
		h.Del("Transfer-Encoding")
	}
	if len(h["Connection"]) > 0 && hasToken(h["Connection"], "close") {
		w.closeAfter = true
	}
	if w.sc.hs.shutting.Load() {
		w.closeAfter = true
	}
	switch {
	case w.closeAfter:
		h.Set("Connection", "close")
	case w.keepAlive10:
		h.Set("Connection", "keep-alive")
	default:
		h.Del("Connection")
	}
	if _, ok := h["Date"]; !ok {
		h["Date"] = httpDate()
	}
	bw := w.sc.bw
	writeStatusLine(bw, proto11, w.status)
	writeHeaderFields(bw, h)
	_, err := bw.WriteString("\r\n")
	if len(w.hold) > 0 {
		hold := w.hold
		w.hold = w.hold[:0]
		if !w.noBody {
			_, err = w.writeBody(hold)
		}
	}
	return err
}

// finish completes the response after the handler returned: headers if
// none went out, the last chunk and trailers, one flush.
func (w *h1Response) finish() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		if err := w.commit(true); err != nil {
			return err
		}
	}
	bw := w.sc.bw
	if w.chunked {
		bw.WriteString("0\r\n")
		for _, k := range w.trailers {
			for _, v := range w.header[k] {
				writeField(bw, k, v)
			}
		}
		for k, vv := range w.header {
			if after, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
				for _, v := range vv {
					writeField(bw, after, v)
				}
			}
		}
		bw.WriteString("\r\n")
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	if !w.noBody && w.contentLength >= 0 && w.written != w.contentLength {
		return errors.New("handler wrote less than its Content-Length")
	}
	return nil
}

// FlushError sends what is buffered; a response without a length is
// committed chunked.
func (w *h1Response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		if err := w.commit(false); err != nil {
			return err
		}
	}
	return w.sc.bw.Flush()
}

// Flush is FlushError without the error (http.Flusher).
func (w *h1Response) Flush() { _ = w.FlushError() }

// Hijack hands the connection to the handler (Upgrade): the status line
// and headers written so far go out first.
func (w *h1Response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	sc := w.sc
	sc.stopWatch()
	if w.wroteHeader && !w.committed {
		w.committed = true
		bw := sc.bw
		writeStatusLine(bw, w.req.ProtoAtLeast(1, 1), w.status)
		writeHeaderFields(bw, w.Header())
		bw.WriteString("\r\n")
	}
	if err := sc.bw.Flush(); err != nil {
		return nil, nil, err
	}
	w.hijacked = true
	sc.conn.SetDeadline(time.Time{})
	// The reader keeps what it buffered; its source must no longer count
	// header bytes.
	sc.limit = 1 << 62
	if tc, ok := sc.conn.(*tls.Conn); ok {
		goDirect(tc) // the handler's for good: never back on a loop
	}
	sc.hs.forget(sc)
	return sc.conn, bufio.NewReadWriter(sc.br, bufio.NewWriter(sc.conn)), nil
}

// SetReadDeadline and SetWriteDeadline serve http.ResponseController.
func (w *h1Response) SetReadDeadline(t time.Time) error  { return w.sc.conn.SetReadDeadline(t) }
func (w *h1Response) SetWriteDeadline(t time.Time) error { return w.sc.conn.SetWriteDeadline(t) }

// EnableFullDuplex serves http.ResponseController: an h1Response lets the
// handler read the body while it writes already.
func (w *h1Response) EnableFullDuplex() error { return nil }

func writeStatusLine(bw *bufio.Writer, proto11 bool, code int) {
	if proto11 {
		bw.WriteString("HTTP/1.1 ")
	} else {
		bw.WriteString("HTTP/1.0 ")
	}
	if code >= 100 && code < 600 {
		if line := statusLines[code]; line != "" {
			bw.WriteString(line)
			return
		}
	}
	text := http.StatusText(code)
	if text == "" {
		text = "status code " + strconv.Itoa(code)
	}
	bw.WriteString(strconv.Itoa(code) + " " + text + "\r\n")
}

// statusLines holds "200 OK\r\n" and the like for every known status.
var statusLines = func() (lines [600]string) {
	for code := 100; code < 600; code++ {
		if text := http.StatusText(code); text != "" {
			lines[code] = strconv.Itoa(code) + " " + text + "\r\n"
		}
	}
	return lines
}()

// writeHeaderFields writes h in key order, leaving out invalid names and
// the trailers' own keys; CR and LF in values become spaces (no response
// splitting), as net/http does.
func writeHeaderFields(bw *bufio.Writer, h http.Header) {
	var keysBuf [24]string
	keys := keysBuf[:0]
	for k := range h {
		if strings.HasPrefix(k, http.TrailerPrefix) || !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			writeField(bw, k, v)
		}
	}
}

func writeField(bw *bufio.Writer, k, v string) {
	bw.WriteString(k)
	bw.WriteString(": ")
	if strings.ContainsAny(v, "\r\n") {
		v = strings.NewReplacer("\r", " ", "\n", " ").Replace(v)
	}
	bw.WriteString(strings.TrimSpace(v))
	bw.WriteString("\r\n")
}

// hasToken reports whether a comma-separated header value list contains
// tok (case-insensitively).
func hasToken(vv []string, tok string) bool {
	for _, v := range vv {
		for _, f := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(f), tok) {
				return true
			}
		}
	}
	return false
}

// httpDate is the Date header's value, formatted once per second; the
// slice is shared by the responses of that second (headers are only
// read once committed).
func httpDate() []string {
	now := time.Now().Unix()
	if d := dateCache.Load(); d != nil && d.unix == now {
		return d.value
	}
	d := &cachedDate{unix: now, value: []string{time.Unix(now, 0).UTC().Format(http.TimeFormat)}}
	dateCache.Store(d)
	return d.value
}

type cachedDate struct {
	unix  int64
	value []string
}

var dateCache atomic.Pointer[cachedDate]
