package web

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/net/http/httpguts"
)

// h1Client is a synchronous HTTP/1.1 client for plain (non-TLS) backends:
// the request is written and the response read on the caller's goroutine
// (the handler's), with no per-connection read and write loops and no
// channel hand-offs, which is what http.Transport spends most of its CPU
// on per proxied request. Requests with a body are the exception: the
// body is written on a goroutine of its own while the response is read,
// so a backend that answers before it has read the whole body (413, 401)
// is heard, as with http.Transport.
//
// Upgrade requests (WebSocket) and CONNECT go to std, an http.Transport,
// whose 101 handling the reverse proxy needs. TLS pools never use an
// h1Client (they keep their own http.Transport, for h2 too).
//
// Idle connections are kept per backend address, most recently used
// first, at most maxIdle each, and closed when unused for idleTimeout
// (found when the address is next used, or by CloseIdleConnections).
type h1Client struct {
	dial        func(ctx context.Context, network, addr string) (net.Conn, error)
	std         *http.Transport // upgrades and CONNECT
	maxIdle     int             // idle connections per address
	idleTimeout time.Duration
	hdrTimeout  time.Duration // response header timeout (the transports' longest)
	readTimeout time.Duration // Config.UpstreamReadTimeout: each read of a body
	maxHdr      int64         // response header bytes, 1xx responses each

	mu     sync.Mutex
	idle   map[string][]*h1Conn // per address, oldest first
	closed bool                 // shut down: connections are closed, not kept
}

// h1IdleTimeout is how long an idle backend connection is kept, as
// http.Transport's IdleConnTimeout in newTransport.
const h1IdleTimeout = 90 * time.Second

// h1Max1xx bounds the interim responses before the final one, as
// http.Transport does.
const h1Max1xx = 5

// newH1Client returns the lean client of the server's plain backends;
// std serves its upgrade requests.
func (s *Server) newH1Client(std *http.Transport) *h1Client {
	return &h1Client{
		dial:        s.dial,
		std:         std,
		maxIdle:     s.cfg.UpstreamIdleConns,
		idleTimeout: h1IdleTimeout,
		hdrTimeout:  s.hdrMax,
		readTimeout: s.cfg.UpstreamReadTimeout,
		maxHdr:      int64(s.cfg.MaxHeaderBytes),
		idle:        map[string][]*h1Conn{},
	}
}

// h1Conn is one backend connection. It is the bufio.Reader's source, to
// bound the bytes of response headers and to see whether any byte of a
// response arrived.
type h1Conn struct {
	c       *h1Client
	conn    net.Conn
	addr    string
	br      *bufio.Reader
	bw      *bufio.Writer
	limit   int64  // bytes Read may still return; response headers are bounded
	nread   int64  // bytes read since the request was sent
	prefix  []byte // response bytes the event loop read before handing the exchange over (evloop_linux.go)
	idleAt  time.Time
	reused  bool
	writing bool          // the body writer is running (it owns bw)
	werr    chan error    // the body writer's result
	body    bodyErrReader // the request body, remembering its read error
	abortFn func()        // sets a deadline in the past (context.AfterFunc)
	broken  atomic.Bool   // aborted by the request's context
	// inBody: the response's headers were read; each read of the
	// socket from here waits at most readTimeout (a deadline set per
	// read that reaches the socket: a body already buffered with its
	// head sets none). put clears it; get sets readTimeout to the
	// client's, which a route's read_timeout overrides.
	inBody      bool
	readTimeout time.Duration

	// With a body, the header timeout starts when the body writer is
	// done (a long upload is not a late response), unless the headers
	// came first.
	dmu        sync.Mutex
	gotHeaders bool
}

var (
	h1Readers = sync.Pool{New: func() any { return bufio.NewReaderSize(nil, 4<<10) }}
	h1Writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 4<<10) }}
)

// errH1HeaderTooLarge is a backend's response headers over MaxHeaderBytes.
type h1HeaderTooLargeError struct{ limit int64 }

func (e h1HeaderTooLargeError) Error() string {
	return fmt.Sprintf("backend response headers exceeded %d bytes; aborted", e.limit)
}

// errBadStatus is a backend status line whose code is not one a response
// can carry (http.ReadResponse takes any three digits): a failed attempt,
// 502, not a panic in the response writer.
func errBadStatus(code int) error {
	return fmt.Errorf("backend sent an invalid status code %03d", code)
}

// h1TimeoutError is the response header timeout expiring (a net.Error
// whose Timeout is true, as http.Transport's, so the client gets 504).
type h1TimeoutError struct{}

func (h1TimeoutError) Error() string   { return "timeout awaiting response headers" }
func (h1TimeoutError) Timeout() bool   { return true }
func (h1TimeoutError) Temporary() bool { return true }

func (pc *h1Conn) Read(p []byte) (int, error) {
	if pc.limit <= 0 {
		return 0, h1HeaderTooLargeError{pc.c.maxHdr}
	}
	if int64(len(p)) > pc.limit {
		p = p[:pc.limit]
	}
	var n int
	var err error
	if len(pc.prefix) > 0 {
		n = copy(p, pc.prefix)
		pc.prefix = pc.prefix[n:]
	} else {
		if pc.inBody && pc.readTimeout > 0 {
			_ = pc.conn.SetReadDeadline(time.Now().Add(pc.readTimeout))
			if pc.broken.Load() {
				// The abort's past deadline may have come before this one.
				_ = pc.conn.SetReadDeadline(aLongTimeAgo)
			}
		}
		n, err = pc.conn.Read(p)
	}
	pc.limit -= int64(n)
	pc.nread += int64(n)
	return n, err
}

func (pc *h1Conn) abort() {
	pc.broken.Store(true)
	_ = pc.conn.SetDeadline(aLongTimeAgo)
}

// aLongTimeAgo is a deadline in the past: set on a connection, it makes
// blocked and future reads and writes fail at once.
var aLongTimeAgo = time.Unix(1, 0)

// close closes the connection; its buffers go back to their pools unless
// another goroutine may still use them (recycle false).
func (pc *h1Conn) close(recycle bool) {
	pc.conn.Close()
	if !recycle {
		return
	}
	pc.br.Reset(nil)
	h1Readers.Put(pc.br)
	if !pc.writing {
		pc.bw.Reset(nil)
		h1Writers.Put(pc.bw)
	}
	pc.br, pc.bw = nil, nil
}

// isUpgrade reports whether req asks to switch protocols (the reverse
// proxy keeps Connection: Upgrade and Upgrade on such requests).
func isUpgrade(req *http.Request) bool {
	if req.Method == http.MethodConnect {
		return true
	}
	if _, ok := req.Header["Upgrade"]; ok {
		return true
	}
	for _, v := range req.Header["Connection"] {
		if strings.Contains(strings.ToLower(v), "upgrade") {
			return true
		}
	}
	return false
}

// RoundTrip sends req to req.URL.Host over a kept-alive or new
// connection and returns the response once its headers are read; the
// connection returns to the pool when the body has been read to its end
// (and neither side said Connection: close), and is closed when the body
// is closed before that. A failure on a reused connection before any
// byte of a response arrived (the backend closed it while idle) is
// retried once on a new connection when the request can be sent again
// (no body, or GetBody set).
func (c *h1Client) RoundTrip(req *http.Request) (*http.Response, error) {
	if isUpgrade(req) {
		return c.std.RoundTrip(req)
	}
	ctx := req.Context()
	hasBody := req.Body != nil && req.Body != http.NoBody
	for attempt := 0; ; attempt++ {
		pc, err := c.get(ctx, req.URL.Host, hasBody && req.GetBody == nil, time.Now())
		if err != nil {
			if hasBody {
				req.Body.Close()
			}
			return nil, err
		}
		resp, err, retry := c.exchange(ctx, pc, req, hasBody)
		if err == nil {
			return resp, nil
		}
		if !retry || attempt > 0 || (hasBody && req.GetBody == nil) {
			return nil, err
		}
		if hasBody {
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, err
			}
			r2 := new(http.Request)
			*r2 = *req
			r2.Body = body
			req = r2
		}
	}
}

// h1CheckIdle: a kept connection idle longer than this is checked
// (connAlive) before it is used.
const h1CheckIdle = time.Second

// get returns an idle connection to addr, or dials one. check: the
// request cannot be retried, so an idle connection is checked first. now
// is the caller's clock reading (one per request is enough).
func (c *h1Client) get(ctx context.Context, addr string, check bool, now time.Time) (*h1Conn, error) {
	c.mu.Lock()
	if l := c.idle[addr]; len(l) > 0 {
		// Oldest first: drop the expired ones from the front.
		var stale []*h1Conn
		i := 0
		for i < len(l) && now.Sub(l[i].idleAt) > c.idleTimeout {
			i++
		}
		if i > 0 {
			stale = append(stale, l[:i]...)
			clear(l[:i])
			l = l[i:]
		}
		var pc *h1Conn
		if n := len(l); n > 0 {
			pc = l[n-1]
			l[n-1] = nil
			l = l[:n-1]
		}
		if len(l) == 0 && pc == nil {
			delete(c.idle, addr) // unused for idleTimeout
		} else {
			c.idle[addr] = l // an emptied list keeps its array for put
		}
		c.mu.Unlock()
		for _, s := range stale {
			s.close(true)
		}
		if pc != nil {
			// A request that cannot be sent again, and a connection idle
			// for a while, first check that the backend has not closed it
			// (http.Transport's read loop notices such closes as they come).
			if check || now.Sub(pc.idleAt) > h1CheckIdle {
				// The fast path leaves a header deadline on a connection
				// whose whole response was buffered (it is set anew before
				// each read); the check's read must not see it.
				_ = pc.conn.SetReadDeadline(time.Time{})
				if !connAlive(pc.conn) {
					pc.close(true)
					return c.get(ctx, addr, check, now)
				}
			}
			pc.reused = true
			pc.readTimeout = c.readTimeout
			return pc, nil
		}
	} else {
		c.mu.Unlock()
	}
	conn, err := c.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	pc := &h1Conn{c: c, conn: conn, addr: addr, werr: make(chan error, 1), readTimeout: c.readTimeout}
	pc.br = h1Readers.Get().(*bufio.Reader)
	pc.br.Reset(pc)
	pc.bw = h1Writers.Get().(*bufio.Writer)
	pc.bw.Reset(conn)
	pc.abortFn = pc.abort
	return pc, nil
}

// put keeps pc for the next request to its address, or closes it when
// the address has maxIdle idle connections already. now is the caller's
// clock reading, the connection's idle time's start.
func (c *h1Client) put(pc *h1Conn, now time.Time) {
	pc.idleAt = now
	pc.inBody = false
	c.mu.Lock()
	l := c.idle[pc.addr]
	if len(l) >= c.maxIdle || c.closed {
		c.mu.Unlock()
		pc.close(true)
		return
	}
	c.idle[pc.addr] = append(l, pc)
	c.mu.Unlock()
}

// CloseIdleConnections closes every idle connection, and those of the
// upgrade transport.
func (c *h1Client) CloseIdleConnections() {
	c.mu.Lock()
	idle := c.idle
	c.idle = map[string][]*h1Conn{}
	c.mu.Unlock()
	for _, l := range idle {
		for _, pc := range l {
			pc.close(true)
		}
	}
	c.std.CloseIdleConnections()
}

// shutdown closes the idle connections, and each connection in use when
// its exchange ends: the server is going away (Server.Shutdown).
func (c *h1Client) shutdown() {
	c.mu.Lock()
	c.closed = true
	c.mu.Unlock()
	c.CloseIdleConnections()
}

// idleCount is the number of idle connections to addr (tests).
func (c *h1Client) idleCount(addr string) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.idle[addr])
}

// bodyErrReader keeps the error reading the request body, which
// Request.Write hides in a type errors.As cannot see through.
type bodyErrReader struct {
	rc  io.ReadCloser
	err error
}

func (b *bodyErrReader) Close() error { return b.rc.Close() }

func (b *bodyErrReader) Read(p []byte) (int, error) {
	n, err := b.rc.Read(p)
	if err != nil && err != io.EOF {
		b.err = err
	}
	return n, err
}

// writeBody writes req with its body, on its own goroutine; on an error
// the connection is closed, so the response read fails too.
func (pc *h1Conn) writeBody(req *http.Request) {
	err := req.Write(pc.bw)
	if err == nil {
		err = pc.bw.Flush()
	}
	if pc.body.err != nil {
		err = pc.body.err
	}
	if err == nil {
		pc.dmu.Lock()
		if !pc.gotHeaders {
			_ = pc.conn.SetReadDeadline(time.Now().Add(pc.c.hdrTimeout))
			if pc.broken.Load() {
				_ = pc.conn.SetReadDeadline(aLongTimeAgo) // the abort came between
			}
		}
		pc.dmu.Unlock()
	}
	pc.werr <- err
	if err != nil {
		pc.conn.Close()
	}
}

// exchange sends req on pc and reads the response headers. retry
// reports a failure that another connection may not have: pc was reused
// and no byte of a response arrived.
func (c *h1Client) exchange(ctx context.Context, pc *h1Conn, req *http.Request, hasBody bool) (resp *http.Response, err error, retry bool) {
	stop := context.AfterFunc(ctx, pc.abortFn)
	pc.nread = 0
	fail := func(err error) (*http.Response, error, bool) {
		stop()
		werr := error(nil)
		if pc.writing {
			select {
			case werr = <-pc.werr:
				pc.writing = false
			default:
			}
		}
		pc.close(true)
		if ctx.Err() != nil {
			return nil, context.Cause(ctx), false
		}
		if werr != nil && pc.body.err != nil {
			return nil, werr, false // the client's body failed
		}
		return nil, err, pc.reused && pc.nread == 0
	}
	if hasBody {
		// No header deadline while the body is being written; one the
		// fast path left on a kept connection goes too.
		_ = pc.conn.SetReadDeadline(time.Time{})
		// The body writer owns a copy of the request (and bw) from here:
		// RoundTrip must not change req.
		pc.body = bodyErrReader{rc: req.Body}
		wr := new(http.Request)
		*wr = *req
		wr.Body = &pc.body
		pc.writing = true
		pc.gotHeaders = false
		go pc.writeBody(wr)
	} else {
		var err error
		if !writeBodilessHead(pc.bw, req) {
			err = req.Write(pc.bw)
		}
		if err == nil {
			err = pc.bw.Flush()
		}
		if err != nil {
			return fail(err)
		}
		if err := pc.conn.SetReadDeadline(time.Now().Add(c.hdrTimeout)); err != nil {
			return fail(err)
		}
		if pc.broken.Load() {
			return fail(ctx.Err())
		}
	}
	pc.limit = c.maxHdr
	for n1xx := 0; ; {
		resp, err = http.ReadResponse(pc.br, req)
		if err != nil {
			break
		}
		code := resp.StatusCode
		if code < 100 {
			// http.ReadResponse takes "000"; no writer can send it on.
			err = errBadStatus(code)
			break
		}
		if code > 199 || code == http.StatusSwitchingProtocols {
			break
		}
		// An interim response: 103 Early Hints goes to the client (the
		// Got1xxResponse trace of forward); 100 Continue does not, as
		// the server sent its own when the body was read.
		if n1xx++; n1xx > h1Max1xx {
			err = errors.New("backend sent too many 1xx informational responses")
			break
		}
		pc.limit = c.maxHdr
		if code != http.StatusContinue {
			if tr := httptrace.ContextClientTrace(ctx); tr != nil && tr.Got1xxResponse != nil {
				if err = tr.Got1xxResponse(code, textproto.MIMEHeader(resp.Header)); err != nil {
					break
				}
			}
		}
	}
	pc.limit = math.MaxInt64
	if err != nil {
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() && ctx.Err() == nil && !pc.broken.Load() {
			err = h1TimeoutError{}
		}
		return fail(err)
	}
	// Clear the header deadline, then look at the abort: it may have
	// come before the clearing.
	if hasBody {
		pc.dmu.Lock()
		pc.gotHeaders = true
		_ = pc.conn.SetReadDeadline(time.Time{})
		pc.dmu.Unlock()
	} else {
		_ = pc.conn.SetReadDeadline(time.Time{})
	}
	if pc.broken.Load() {
		return fail(ctx.Err())
	}
	pc.inBody = resp.StatusCode != http.StatusSwitchingProtocols // a switched connection has no body to time
	if d, ok := ctx.Value(readTimeoutKey{}).(time.Duration); ok {
		pc.readTimeout = d // the route's (proxy.go)
	}
	reuse := !resp.Close && !req.Close && resp.StatusCode != http.StatusSwitchingProtocols
	if resp.Body == http.NoBody {
		c.release(pc, stop, reuse)
		return resp, nil, false
	}
	resp.Body = &h1Body{rc: resp.Body, pc: pc, stop: stop, reuse: reuse}
	return resp, nil, false
}

// release ends an exchange whose response was read to its end: pc goes
// back to the pool when reuse holds, the context did not abort it and
// the request body was written whole.
func (c *h1Client) release(pc *h1Conn, stop func() bool, reuse bool) {
	if !stop() {
		reuse = false // the context's abort ran, or is running
	}
	if pc.writing {
		var err error
		select {
		case err = <-pc.werr:
		default:
			// The backend answered before the body was written whole;
			// give the writer a moment, as http.Transport does.
			t := time.NewTimer(50 * time.Millisecond)
			select {
			case err = <-pc.werr:
			case <-t.C:
				err = errors.New("request body still being written")
			}
			t.Stop()
		}
		if err != nil {
			reuse = false
			// The writer may still run: it keeps bw.
			pc.close(false)
			return
		}
		pc.writing = false
	}
	if !reuse {
		pc.close(true)
		return
	}
	pc.reused = false
	c.put(pc, time.Now())
}

// h1Body is a response body: read to its end it returns the connection
// to the pool; closed before that it closes the connection.
type h1Body struct {
	rc    io.ReadCloser
	pc    *h1Conn
	stop  func() bool
	reuse bool
	done  atomic.Bool
	eof   atomic.Bool // read to its end (set before done)
}

var errBodyClosed = errors.New("http: read on closed response body")

func (b *h1Body) Read(p []byte) (int, error) {
	if b.done.Load() {
		if b.eof.Load() {
			return 0, io.EOF
		}
		return 0, errBodyClosed
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof.Store(true)
		if b.done.CompareAndSwap(false, true) {
			b.pc.c.release(b.pc, b.stop, b.reuse)
		}
	} else if err != nil {
		b.finish()
	}
	return n, err
}

// Close closes the connection unless the body was read to its end.
func (b *h1Body) Close() error {
	b.finish()
	return nil
}

func (b *h1Body) finish() {
	if b.done.CompareAndSwap(false, true) {
		b.stop()
		// A Read may be running on another goroutine: the buffers are
		// left to the collector.
		b.pc.close(false)
	}
}

// writeBodilessHead writes the head of a request without a body as
// Request.Write would (request line, Host, the header fields sorted,
// "Content-Length: 0" for methods that expect a body, Connection: close
// when req.Close), without its formatting allocations. It returns false,
// having written nothing, for what it leaves to Request.Write: CONNECT,
// an opaque URL, trailers or transfer codings, a Host with bytes a Host
// may not have, no User-Agent key (Request.Write adds Go's), and a header
// name or value Request.Write refuses (its error is then the answer).
func writeBodilessHead(bw *bufio.Writer, req *http.Request) bool {
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	if req.Method == http.MethodConnect || req.URL.Opaque != "" || req.Trailer != nil ||
		len(req.TransferEncoding) > 0 || !httpguts.ValidHostHeader(host) || req.Header["User-Agent"] == nil {
		return false
	}
	var keysBuf [24]string
	keys := keysBuf[:0]
	for k, vv := range req.Header {
		switch k {
		case "Host", "Content-Length", "Transfer-Encoding", "Trailer":
			continue
		}
		if !httpguts.ValidHeaderFieldName(k) {
			return false
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				return false
			}
		}
		keys = append(keys, k)
	}
	slices.Sort(keys)
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	bw.WriteString(method)
	bw.WriteByte(' ')
	if uri := req.URL.RequestURI(); uri != "" {
		bw.WriteString(uri)
	} else {
		bw.WriteByte('/')
	}
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(host)
	bw.WriteString("\r\n")
	// User-Agent right after Host, its first value only; "" asks for none.
	if ua := req.Header["User-Agent"]; len(ua) > 0 && ua[0] != "" {
		writeField(bw, "User-Agent", ua[0])
	}
	for _, k := range keys {
		if k == "User-Agent" {
			continue
		}
		for _, v := range req.Header[k] {
			writeField(bw, k, v)
		}
	}
	switch method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		bw.WriteString("Content-Length: 0\r\n")
	}
	if req.Close {
		bw.WriteString("Connection: close\r\n")
	}
	_, err := bw.WriteString("\r\n")
	return err == nil
}
