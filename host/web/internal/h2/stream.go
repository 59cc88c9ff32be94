package h2

import (
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// stream is one request and its response. The fields under "mu" are the
// connection's mu's.
type stream struct {
	c  *conn
	id uint32
	// task is what the stream's goroutine does: run, or answer status
	// (a request the handler never sees), or nothing (a reset one).
	status int
	reset  bool

	// The request, as it came.
	method, scheme, authority, path string
	fields                          []hpack.HeaderField // regular fields
	declared                        int64               // content-length, -1 none
	bodyless                        bool                // the HEADERS ended the stream
	body                            body

	// mu
	sendWindow  int64
	recvWindow  int64
	recvUnacked int64
	received    int64
	remoteDone  bool // END_STREAM came (half-closed remote)
	resetSent   bool
	resetGot    bool
	localDone   bool // our END_STREAM went out
	// windowSince is when the writer began waiting for window (monoNow),
	// 0 when it is not waiting (the send timeout's sweep reads it).
	windowSince int64
	// The stream's context is made when first asked for (the handler
	// always asks; Fast seldom does: a context per stream, registered
	// with the connection's, costs more than the rest of a small
	// request's bookkeeping). abortErr says why the stream ended before
	// its response did; onAbort is Fast's hook for that moment.
	ctx      context.Context
	cancel   context.CancelCauseFunc
	abortErr error
	onAbort  func()

	// The writer's (the stream goroutine's) only.
	headersSent bool
}

// Stream is a request as Server.Fast sees it: its fields as they came,
// and the writes of a response.
type Stream struct{ st *stream }

// Method is the request's :method.
func (s *Stream) Method() string { return s.st.method }

// Scheme is the request's :scheme.
func (s *Stream) Scheme() string { return s.st.scheme }

// Authority is the request's :authority, or its host field's value when
// it had no :authority.
func (s *Stream) Authority() string { return s.st.authority }

// Path is the request's :path, as sent (the query included).
func (s *Stream) Path() string { return s.st.path }

// Fields returns the request's regular header fields, names in lower
// case, in the order they came (cookie fields as sent, not joined). The
// slice is the stream's: do not change it.
func (s *Stream) Fields() []hpack.HeaderField { return s.st.fields }

// HasBody reports whether the request has a body (its HEADERS did not
// end the stream).
func (s *Stream) HasBody() bool { return !s.st.bodyless }

// Context is canceled when the client resets the stream, the connection
// ends or the stream is done. It is made on the first call; Fast should
// prefer Err and SetAbort, which cost nothing.
func (s *Stream) Context() context.Context { return s.st.context() }

// Err says why the stream ended before its response did (the client
// reset it, the connection ended); nil while it has not.
func (s *Stream) Err() error {
	s.st.c.mu.Lock()
	defer s.st.c.mu.Unlock()
	return s.st.abortErr
}

// SetAbort registers f to be called, once, when the stream is reset or
// its connection ends (on the goroutine that sees it: f must not block);
// false, and f is not kept, when that has happened already. One f at a
// time: a second SetAbort replaces the first.
func (s *Stream) SetAbort(f func()) bool {
	st := s.st
	st.c.mu.Lock()
	defer st.c.mu.Unlock()
	if st.abortErr != nil {
		return false
	}
	st.onAbort = f
	return true
}

// ClearAbort removes SetAbort's f; false when f was called (or is being
// called) before it could be removed.
func (s *Stream) ClearAbort() bool {
	st := s.st
	st.c.mu.Lock()
	defer st.c.mu.Unlock()
	ok := st.onAbort != nil
	st.onAbort = nil
	return ok
}

// context makes the stream's context on first use.
func (st *stream) context() context.Context {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.ctx == nil {
		st.ctx, st.cancel = context.WithCancelCause(c.ctx)
		if st.abortErr != nil {
			st.cancel(st.abortErr)
		}
	}
	return st.ctx
}

// abort ends the stream early: its abort hook runs, its context (if made)
// is canceled, its body fails.
func (st *stream) abort(err error) {
	c := st.c
	c.mu.Lock()
	if st.abortErr == nil {
		st.abortErr = err
	}
	f, cancel := st.onAbort, st.cancel
	st.onAbort = nil
	c.cond.Broadcast()
	c.mu.Unlock()
	if f != nil {
		f()
	}
	if cancel != nil {
		cancel(err)
	}
	st.body.end(err, nil)
}

// ConnValue is what Server.ConnValue made for the stream's connection
// (nil without it).
func (s *Stream) ConnValue() any { return s.st.c.value }

// ConnContext is the connection's context (ServeConn's ctx).
func (s *Stream) ConnContext() context.Context { return s.st.c.ctx }

// RemoteAddr is the client's address, as net.Conn gives it.
func (s *Stream) RemoteAddr() string { return s.st.c.remote }

// TLS is the connection's TLS state; nil on a plain connection.
func (s *Stream) TLS() *tls.ConnectionState { return s.st.c.tls }

// WriteResponse sends the response head (status and fields, names in
// lower case, no connection-specific ones), then body; end ends the
// stream with the last frame. HEADERS and the first DATA go in one
// write. It returns an error when the stream or the connection is gone.
func (s *Stream) WriteResponse(status int, fields []hpack.HeaderField, body []byte, end bool) error {
	return s.st.writeHead(status, fields, body, end)
}

// Write sends body bytes as DATA; end ends the stream with the last
// frame. It waits for flow-control window as needed.
func (s *Stream) Write(p []byte, end bool) error {
	return s.st.writeData(p, end, true)
}

// Reset ends the stream with RST_STREAM INTERNAL_ERROR: a response cut
// short, which the client must not take as complete.
func (s *Stream) Reset() { s.st.resetByUs(http2.ErrCodeInternal) }

// onHeaders opens a stream, or takes a stream's trailers.
func (c *conn) onHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return http2.ConnectionError(http2.ErrCodeProtocol) // RFC 9113 5.1.1
	}
	c.mu.Lock()
	if err := c.countEmpty(len(f.Fields) == 0); err != nil {
		c.mu.Unlock()
		return err
	}
	if st := c.streams[id]; st != nil {
		c.mu.Unlock()
		return c.onTrailers(st, f)
	}
	if id <= c.maxID {
		reset := c.wasReset(id)
		c.mu.Unlock()
		if reset {
			return nil // sent before the client read our RST_STREAM (its block is decoded: HPACK stays in step)
		}
		return http2.ConnectionError(http2.ErrCodeProtocol) // a closed stream's id (RFC 9113 5.1.1)
	}
	c.maxID = id
	if c.goAwaySent || c.closed {
		c.mu.Unlock()
		return nil // past our GOAWAY: not served (the client retries it)
	}
	if c.active >= int(c.s.maxStreams()) {
		c.refused++
		refused := c.refused
		c.mu.Unlock()
		if refused > maxRefused {
			return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
		}
		c.writeRST(id, http2.ErrCodeRefusedStream)
		return nil
	}
	st := &stream{c: c, id: id, declared: -1, sendWindow: c.peerWindow, recvWindow: initialRecvWindow}
	st.body.st = st
	st.body.cond.L = &st.body.mu
	st.remoteDone = f.StreamEnded()
	st.bodyless = st.remoteDone
	c.streams[id] = st
	c.active++
	c.opened++
	c.mu.Unlock()

	code, status := st.takeRequest(f)
	switch {
	case code != 0:
		st.resetByUs(code)
		st.reset = true
	case status != 0:
		st.status = status
	case st.remoteDone:
		st.body.end(nil, nil)
	}
	c.startStream(st)
	return nil
}

// takeRequest checks the request's fields (RFC 9113 8.2, 8.3) and keeps
// them: a stream error code for a malformed request, or a status to
// answer it with.
func (st *stream) takeRequest(f *http2.MetaHeadersFrame) (http2.ErrCode, int) {
	if f.Truncated {
		return 0, http.StatusRequestHeaderFieldsTooLarge
	}
	for _, hf := range f.PseudoFields() {
		switch hf.Name {
		case ":method":
			st.method = hf.Value
		case ":scheme":
			st.scheme = hf.Value
		case ":authority":
			st.authority = hf.Value
		case ":path":
			st.path = hf.Value
		default: // :protocol (no extended CONNECT) or :status
			return http2.ErrCodeProtocol, 0
		}
	}
	if st.method == "" {
		return http2.ErrCodeProtocol, 0
	}
	if st.method == http.MethodConnect {
		if st.scheme != "" || st.path != "" || st.authority == "" {
			return http2.ErrCodeProtocol, 0
		}
	} else if st.scheme == "" || st.path == "" || st.path[0] != '/' && !(st.path == "*" && st.method == http.MethodOptions) {
		return http2.ErrCodeProtocol, 0
	}
	st.fields = f.RegularFields()
	for _, hf := range st.fields {
		switch hf.Name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			return http2.ErrCodeProtocol, 0
		case "te":
			if hf.Value != "trailers" {
				return http2.ErrCodeProtocol, 0
			}
		case "host":
			if st.authority == "" {
				st.authority = hf.Value
			}
		case "trailer":
			// The declared trailers, whose values the trailers' HEADERS
			// fills in: the map is made here, before that frame can be
			// read.
			if st.body.trailer == nil {
				st.body.trailer = http.Header{}
			}
			for _, k := range strings.Split(hf.Value, ",") {
				if k = http.CanonicalHeaderKey(strings.TrimSpace(k)); k != "" && httpguts.ValidTrailerHeader(k) {
					st.body.trailer[k] = nil
				}
			}
		case "content-length":
			n, err := strconv.ParseUint(hf.Value, 10, 63)
			if err != nil || st.declared >= 0 && st.declared != int64(n) {
				return http2.ErrCodeProtocol, 0
			}
			st.declared = int64(n)
		}
	}
	if st.remoteDone && st.declared > 0 {
		return http2.ErrCodeProtocol, 0
	}
	return 0, 0
}

// onTrailers takes a HEADERS frame on an open stream: the request's
// trailers, which must end the stream and have no pseudo-header fields.
func (c *conn) onTrailers(st *stream, f *http2.MetaHeadersFrame) error {
	c.mu.Lock()
	closed := st.remoteDone || st.resetSent
	c.mu.Unlock()
	if closed {
		st.resetByUs(http2.ErrCodeStreamClosed)
		return nil
	}
	if !f.StreamEnded() || len(f.PseudoFields()) > 0 {
		st.resetByUs(http2.ErrCodeProtocol)
		return nil
	}
	c.mu.Lock()
	st.remoteDone = true
	bad := st.declared >= 0 && st.received != st.declared
	c.mu.Unlock()
	if bad {
		st.resetByUs(http2.ErrCodeProtocol)
		return nil
	}
	trailer := make(http.Header, len(f.RegularFields()))
	for _, hf := range f.RegularFields() {
		k := http.CanonicalHeaderKey(hf.Name)
		if !httpguts.ValidTrailerHeader(k) {
			st.resetByUs(http2.ErrCodeProtocol)
			return nil
		}
		trailer[k] = append(trailer[k], hf.Value)
	}
	st.body.end(nil, trailer)
	return nil
}

// Reserve takes the flow-control windows for a response body of n
// bytes, for a caller that must not wait (Server.LoopFast): false, and
// nothing taken, when n does not fit the windows or one DATA frame.
// WriteReserved then sends it.
func (s *Stream) Reserve(n int) bool {
	st := s.st
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if st.gone() != nil {
		return true // WriteReserved says so
	}
	k := int64(n)
	if k > st.sendWindow || k > c.sendWindow || k > int64(c.peerMaxFrame) {
		return false
	}
	st.sendWindow -= k
	c.sendWindow -= k
	return true
}

// WriteReserved is WriteResponse for a body whose windows Reserve took;
// it does not wait (a driven connection's writes queue).
func (s *Stream) WriteReserved(status int, fields []hpack.HeaderField, body []byte, end bool) error {
	if err := s.st.check(); err != nil {
		return err
	}
	return s.st.sendHead(status, fields, body, len(body), end)
}

// Finish ends a stream Server.LoopFast took, once its response is done
// (or it was reset): the stream leaves the connection as one whose
// goroutine returned.
func (s *Stream) Finish() { s.st.done() }

// run serves the stream (Server.Fast, or the handler; a status of its
// own for a request the handler never sees) and ends it.
func (st *stream) run() {
	defer st.done()
	s := st.c.s
	switch {
	case st.reset:
	case st.status != 0:
		st.writeHead(st.status, nil, nil, true)
	case s.Fast != nil && st.fast():
	default:
		st.serveHandler()
	}
}

// fast offers the stream to Server.Fast; a panic there is a handler's:
// logged (but http.ErrAbortHandler), the stream reset.
func (st *stream) fast() (served bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				st.c.s.logf("http2: panic serving %s: %v", st.c.remote, v)
			}
			st.resetByUs(http2.ErrCodeInternal)
			served = true
		}
	}()
	return st.c.s.Fast(&Stream{st})
}

// done ends the stream's goroutine: the stream leaves the connection, a
// request body not read returns its window, and a stream the client had
// not finished sending is reset (NO_ERROR: its response is complete,
// RFC 9113 8.1).
func (st *stream) done() {
	c := st.c
	unread := st.body.discard()
	c.mu.Lock()
	delete(c.streams, st.id)
	c.active--
	reset := !st.remoteDone && !st.resetSent && !st.resetGot && !c.closed
	if reset {
		st.resetSent = true
	}
	last := c.active == 0
	closeNow := last && (c.peerGoAway || c.goAwaySent)
	cancel := st.cancel
	c.mu.Unlock()
	if cancel != nil {
		cancel(errStreamDone)
	}
	c.giveBack(nil, unread)
	if reset {
		c.writeRST(st.id, http2.ErrCodeNo)
	}
	if closeNow {
		c.closeSoon()
	}
}

var errStreamDone = errors.New("h2: stream done")

// cancelBy marks the stream reset by the client (or ended with its
// connection): its context is canceled and its body and writers fail.
func (st *stream) cancelBy(err error) {
	c := st.c
	c.mu.Lock()
	st.resetGot = true
	c.mu.Unlock()
	st.abort(err)
}

// resetByUs sends RST_STREAM with code (once) and fails the stream as
// cancelBy does.
func (st *stream) resetByUs(code http2.ErrCode) {
	c := st.c
	c.mu.Lock()
	send := !st.resetSent && !st.resetGot && !st.localDone
	st.resetSent = true
	c.mu.Unlock()
	if send {
		c.writeRST(st.id, code)
	}
	st.abort(errors.New("h2: stream reset: " + code.String()))
}

// gone is the error a write to the stream gets, or nil (mu held).
func (st *stream) gone() error {
	switch {
	case st.c.closed:
		return errConnClosed
	case st.resetGot || st.resetSent:
		return errors.New("h2: stream reset")
	case st.localDone:
		return errors.New("h2: stream already ended")
	}
	return nil
}

// check is gone, with mu taken here.
func (st *stream) check() error {
	st.c.mu.Lock()
	defer st.c.mu.Unlock()
	return st.gone()
}

// takeWindow waits until the stream may send some of n bytes, and takes
// up to n, within the peer's frame size (mu taken here).
func (st *stream) takeWindow(n int) (int, error) {
	c := st.c
	c.mu.Lock()
	defer c.mu.Unlock()
	for {
		if err := st.gone(); err != nil {
			st.waited()
			return 0, err
		}
		if w := min(st.sendWindow, c.sendWindow); w > 0 {
			k := min(int64(n), w, int64(c.peerMaxFrame))
			st.sendWindow -= k
			c.sendWindow -= k
			st.waited()
			return int(k), nil
		}
		if st.windowSince == 0 {
			st.windowSince = monoNow()
			c.windowWaiters++
		}
		c.cond.Wait()
	}
}

// waited ends the stream's wait for window, if it waited (mu held).
func (st *stream) waited() {
	if st.windowSince != 0 {
		st.windowSince = 0
		st.c.windowWaiters--
	}
}

// writeHead writes HEADERS (:status and fields), then body as DATA;
// end: the last frame ends the stream. HEADERS and as much of the body
// as the windows allow go in one write.
func (st *stream) writeHead(status int, fields []hpack.HeaderField, body []byte, end bool) error {
	c := st.c
	if err := c.waitRoom(); err != nil {
		return err
	}
	take := 0
	var err error
	if len(body) > 0 {
		if take, err = st.takeWindow(len(body)); err != nil {
			return err
		}
	} else if err = st.check(); err != nil {
		return err
	}
	return st.sendHead(status, fields, body, take, end)
}

// sendHead writes HEADERS and the first take bytes of body (their
// window taken), then the rest of body as writeData does.
func (st *stream) sendHead(status int, fields []hpack.HeaderField, body []byte, take int, end bool) error {
	c := st.c
	var err error
	endHeaders := end && len(body) == 0
	c.wmu.Lock()
	c.hbuf.b = c.hbuf.b[:0]
	var sb [3]byte
	c.enc.WriteField(hpack.HeaderField{Name: ":status", Value: statusString(status, sb[:])})
	for _, hf := range fields {
		c.enc.WriteField(hf)
	}
	c.writeBlockLocked(st.id, c.hbuf.b, endHeaders)
	informational := status >= 100 && status < 200
	if !informational {
		st.headersSent = true
	}
	if take > 0 {
		c.writeDataLocked(st.id, end && take == len(body), body[:take])
	}
	err = c.flushLocked()
	c.wmu.Unlock()
	if end && (endHeaders || take == len(body)) {
		st.ended()
	}
	if err != nil || take == len(body) {
		return err
	}
	return st.writeData(body[take:], end, true)
}

// writeBlockLocked writes a header block as HEADERS and as many
// CONTINUATION frames as the peer's frame size needs (wmu held).
func (c *conn) writeBlockLocked(id uint32, block []byte, end bool) {
	c.mu.Lock()
	max := c.peerMaxFrame
	c.mu.Unlock()
	first := block[:min(len(block), max)]
	rest := block[len(first):]
	flags := http2.Flags(0)
	if end {
		flags |= http2.FlagHeadersEndStream
	}
	if len(rest) == 0 {
		flags |= http2.FlagHeadersEndHeaders
	}
	c.writeFrameLocked(http2.FrameHeaders, flags, id, first)
	for len(rest) > 0 {
		chunk := rest[:min(len(rest), max)]
		rest = rest[len(chunk):]
		flags := http2.Flags(0)
		if len(rest) == 0 {
			flags = http2.FlagContinuationEndHeaders
		}
		c.writeFrameLocked(http2.FrameContinuation, flags, id, chunk)
	}
}

// writeData sends p as DATA frames within the windows; end ends the
// stream with the last one (an empty p with end sends an empty DATA
// frame with END_STREAM). flush: flush after the last frame (each frame
// that had to wait for window is flushed before the wait).
func (st *stream) writeData(p []byte, end, flush bool) error {
	c := st.c
	if len(p) == 0 {
		if !end {
			return nil
		}
		if err := st.check(); err != nil {
			return err
		}
		c.wmu.Lock()
		c.writeDataLocked(st.id, true, nil)
		err := c.flushLocked()
		c.wmu.Unlock()
		st.ended()
		return err
	}
	for len(p) > 0 {
		if err := c.waitRoom(); err != nil {
			return err
		}
		n, err := st.takeWindow(len(p))
		if err != nil {
			return err
		}
		last := n == len(p)
		c.wmu.Lock()
		if err = c.writeDataLocked(st.id, end && last, p[:n]); err != nil {
			// The buffer flushed itself and the socket failed: a frame
			// that is not flushed here would otherwise report nothing.
			c.failLocked(err)
		}
		if !last || flush || c.werr != nil {
			err = c.flushLocked()
		}
		c.wmu.Unlock()
		if err != nil {
			return err
		}
		p = p[n:]
	}
	if end {
		st.ended()
	}
	return nil
}

// writeTrailers sends the trailers as the HEADERS that ends the stream.
func (st *stream) writeTrailers(fields []hpack.HeaderField) error {
	c := st.c
	if err := st.check(); err != nil {
		return err
	}
	c.wmu.Lock()
	c.hbuf.b = c.hbuf.b[:0]
	for _, hf := range fields {
		c.enc.WriteField(hf)
	}
	c.writeBlockLocked(st.id, c.hbuf.b, true)
	err := c.flushLocked()
	c.wmu.Unlock()
	st.ended()
	return err
}

// ended records our END_STREAM.
func (st *stream) ended() {
	st.c.mu.Lock()
	st.localDone = true
	st.c.mu.Unlock()
}

// statusString is the status code's three digits, in buf when it is not
// a common one.
func statusString(code int, buf []byte) string {
	switch code {
	case 200:
		return "200"
	case 204:
		return "204"
	case 206:
		return "206"
	case 301:
		return "301"
	case 302:
		return "302"
	case 304:
		return "304"
	case 400:
		return "400"
	case 404:
		return "404"
	case 500:
		return "500"
	case 502:
		return "502"
	case 503:
		return "503"
	}
	return string(strconv.AppendInt(buf[:0], int64(code), 10))
}

// request builds the http.Request the handler gets.
func (st *stream) request() (*http.Request, error) {
	c := st.c
	r := &http.Request{
		Method:     st.method,
		Proto:      "HTTP/2.0",
		ProtoMajor: 2,
		Header:     make(http.Header, len(st.fields)),
		Host:       st.authority,
		RemoteAddr: c.remote,
		TLS:        c.tls,
		RequestURI: st.path,
	}
	var cookies []string
	for _, hf := range st.fields {
		switch hf.Name {
		case "cookie":
			cookies = append(cookies, hf.Value) // joined (RFC 9113 8.2.3)
			continue
		case "host":
			continue // r.Host
		}
		k := http.CanonicalHeaderKey(hf.Name)
		r.Header[k] = append(r.Header[k], hf.Value)
	}
	if len(cookies) > 0 {
		r.Header["Cookie"] = []string{strings.Join(cookies, "; ")}
	}
	var err error
	if st.method == http.MethodConnect {
		r.URL = &url.URL{Host: st.authority}
		r.RequestURI = st.authority
	} else if r.URL, err = url.ParseRequestURI(st.path); err != nil {
		return nil, err
	}
	switch {
	case st.bodyless:
		r.Body = http.NoBody
	default:
		r.Body = &st.body
		r.ContentLength = st.declared
		if _, ok := r.Header["Expect"]; ok && strings.EqualFold(r.Header.Get("Expect"), "100-continue") {
			st.body.expect = true
			delete(r.Header, "Expect")
		}
	}
	if len(r.Header["Trailer"]) > 0 {
		// The declared trailers' map, made by takeRequest before the
		// trailers could come.
		r.Trailer = st.body.trailer
		delete(r.Header, "Trailer")
	}
	return r.WithContext(st.context()), nil
}

// body is a request body: DATA payloads the reader goroutine appends,
// the handler reads. It holds at most the stream's receive window.
type body struct {
	st      *stream
	mu      sync.Mutex
	cond    sync.Cond
	buf     []byte
	err     error // io.EOF at the end, or why it failed
	closed  bool  // the handler closed it: data is dropped
	expect  bool  // 100-continue to send at the first read
	trailer http.Header
}

// write appends p; false when the handler closed the body.
func (b *body) write(p []byte) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed || b.err != nil {
		return false
	}
	b.buf = append(b.buf, p...)
	b.cond.Signal()
	return true
}

// end ends the body: err nil is its normal end (trailers, if any, are
// copied into the request's Trailer). The first end counts.
func (b *body) end(err error, trailer http.Header) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return
	}
	if err == nil {
		err = io.EOF
		for k, vv := range trailer {
			if _, declared := b.trailer[k]; declared {
				b.trailer[k] = vv // only declared ones, as net/http
			}
		}
	}
	b.err = err
	b.cond.Broadcast()
}

// Read reads the body, giving the window back as it is consumed.
func (b *body) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.expect {
		b.expect = false
		if len(b.buf) == 0 && b.err == nil {
			b.mu.Unlock()
			b.st.writeHead(http.StatusContinue, nil, nil, false)
			b.mu.Lock()
		}
	}
	for len(b.buf) == 0 && b.err == nil && !b.closed {
		b.cond.Wait()
	}
	if b.closed {
		b.mu.Unlock()
		return 0, errBodyClosed
	}
	if len(b.buf) == 0 {
		err := b.err
		b.mu.Unlock()
		return 0, err
	}
	n := copy(p, b.buf)
	b.buf = b.buf[n:]
	if len(b.buf) == 0 {
		b.buf = nil
	}
	b.mu.Unlock()
	b.st.c.giveBack(b.st, int64(n))
	return n, nil
}

// Close drops the rest of the body.
func (b *body) Close() error {
	n := b.discard()
	b.st.c.giveBack(nil, int64(n))
	return nil
}

// discard drops what is buffered and marks the body closed; it returns
// how many bytes it dropped.
func (b *body) discard() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	n := int64(len(b.buf))
	b.buf = nil
	b.closed = true
	b.cond.Broadcast()
	return n
}
