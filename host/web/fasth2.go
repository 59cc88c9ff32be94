package web

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"time"

	"golang.org/x/net/http2/hpack"

	"github.com/postern/postern/host/connlimit"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/web/internal/balance"
	"github.com/postern/postern/host/web/internal/h2"
)

// The fast path for h2 streams (the h2 server's Fast): what fastpath.go
// does for HTTP/1.1, for a stream of an h2 connection. A stream takes it
// when all of these hold; otherwise the handler (the full path) gets it,
// nothing having been sent anywhere:
//
//   - a GET or HEAD without a body, its :path in origin form as
//     fastTarget takes it, its :authority a plain host as fastHost takes
//     it;
//   - no field the HTTP/1.1 fast path refuses (the forwarding headers
//     the full path rewrites; expect, te, trailer, content-length...); a
//     login (authorization, or a cookie field that mentions the auth
//     cookie) only with a kept decision (fastreuse.go), found with the
//     cookie fields joined as the full path's Cookie header is;
//   - no plugin would be entered for it (plugin.Host.Wants), the pool is
//     plain and reached through the lean client, the route has no
//     no_buffering and no dial_timeout, and the connection limits
//     admitted the connection.
//
// The request goes to the backend as HTTP/1.1: the request line, a Host
// line from :authority, the fields as they came (cookie fields joined in
// one line, RFC 9113 8.2.3), the forwarding headers and Via the full path
// adds. A response parseFastResponse takes is relayed as HEADERS and
// DATA, the whole of a response the backend sent at once in one write;
// any other goes through net/http's parser and the full path's response
// writing (sendResponse). Balancing, retries on other backends, the
// header timeout, 502/503/504, the counters and the access log line are
// the HTTP/1.1 fast path's.

// h2Peer is what the fast path keeps of an h2 connection (h2.Server's
// ConnValue).
type h2Peer struct {
	peer   netip.AddrPort
	peerIP string
	lc     *limitConn // nil: no connection limits
	x      *loopH2    // the connection's event loop side; nil on a goroutine
}

// h2ConnValue parses the connection's peer once.
func h2ConnValue(c net.Conn) any {
	ap, _ := netip.ParseAddrPort(c.RemoteAddr().String())
	p := &h2Peer{peer: netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())}
	p.peerIP = p.peer.Addr().String()
	p.lc, _ = underTLS(c).(*limitConn)
	p.x = asLoopH2(c)
	return p
}

// h2Stream is one fast h2 stream's state.
type h2Stream struct {
	st      *h2.Stream
	peer    *h2Peer
	method  string
	host    string
	path    string // the path, without the query
	head    bool   // a HEAD request
	resp    fastResponse
	cookies int // cookie fields
	// What countH2 counts and logs; counted once it has.
	rt        *route
	fd        *fastDecision
	start     time.Time
	counted   bool
	hdrAt     time.Time
	fields    []hpack.HeaderField
	fieldsBuf [16]hpack.HeaderField
}

// h2Plan is where the fast path sends a stream: the pool's lean client,
// the pool, the route, the kept decision (fd, in fdv) when there is one.
type h2Plan struct {
	c   *h1Client
	p   *pool
	rt  *route
	fd  *fastDecision
	fdv fastDecision
}

// serveFastH2 is the h2 server's Fast for the listener h serves: false
// when the stream is the full path's (nothing was sent).
func (h *handler) serveFastH2(st *h2.Stream) bool {
	var fs h2Stream
	var pl h2Plan
	if !h.planFastH2(st, &fs, &pl) {
		return false
	}
	h.proxyFastH2(&fs, pl.c, pl.p, pl.rt, pl.fd, nil)
	return true
}

// planFastH2 decides whether the fast path takes the stream, and fills in
// fs and pl when it does.
func (h *handler) planFastH2(st *h2.Stream, fs *h2Stream, pl *h2Plan) bool {
	s := h.s
	m := st.Method()
	if m != http.MethodGet && m != http.MethodHead || st.HasBody() {
		return false
	}
	target, host := st.Path(), st.Authority()
	var pathLen int
	if !fastTarget(target, &pathLen) || !fastHost(host) {
		return false
	}
	*fs = h2Stream{st: st, method: m, host: host, path: target[:pathLen], head: m == http.MethodHead}
	cookie := s.cfg.AuthCookie
	reuse := s.decisions != nil // credentials only with a kept decision (fastreuse.go)
	var cr fastCreds
	authCookie := false
	for _, f := range st.Fields() {
		switch fieldNames[f.Name] {
		case fieldOther, fieldDate, fieldContentType, fieldHost:
		case fieldCookie:
			if cookie != "" && strings.Contains(f.Value, cookie) {
				if !reuse {
					return false // it may carry a login
				}
				authCookie = true
			}
			fs.cookies++
		case fieldAuthorization:
			if !reuse || cr.authz != nil {
				return false
			}
			cr.authz = []byte(f.Value)
		default:
			return false
		}
	}
	fs.peer, _ = st.ConnValue().(*h2Peer)
	if fs.peer == nil {
		return false
	}
	if lc := fs.peer.lc; lc != nil && lc.state.Load() != stateAdmitted && lc.firstRequest() != connlimit.OK {
		return false // the full path answers the refusal
	}
	rt := s.routeFor(m, host, fs.path)
	p := s.defPool
	if rt != nil {
		if rt.noBuffering || rt.dialTimeout > 0 {
			return false
		}
		p = rt.pool
	}
	var fd *fastDecision
	fdv := &pl.fdv
	if cr.authz != nil || authCookie {
		// Credentials: only a kept decision takes them here, keyed as
		// the full path keys it (the cookie fields joined, as the
		// request's Cookie header is).
		if authCookie {
			cr.cookie = joinCookies(st.Fields())
		}
		cr.method, cr.path, cr.tls, cr.peerIP, cr.peer = m, fs.path, st.TLS(), fs.peer.peerIP, fs.peer.peer
		if !h.reuseFast(&cr, host, rt, fdv) {
			return false
		}
		fd, p = fdv, fdv.pool
	}
	if p == nil || p.scheme != "http" {
		return false
	}
	c, ok := p.transport.(*h1Client)
	if !ok {
		return false
	}
	if s.plugins != nil && fd == nil {
		hf := plugin.HTTPFields{Method: m, Host: host, Path: fs.path}
		f := plugin.Fields{Protocol: "http", Listener: h.l.Name, Client: fs.peer.peer, AuthMethod: "none", LoginAttempt: 1, HTTP: &hf}
		if s.plugins.Wants(&f, fastHooks, fastEvents) {
			return false
		}
	}
	pl.c, pl.p, pl.rt, pl.fd = c, p, rt, fd
	return true
}

// joinCookies is the request's cookie fields as one Cookie header (RFC
// 9113 8.2.3).
func joinCookies(fields []hpack.HeaderField) string {
	var b strings.Builder
	for _, f := range fields {
		if f.Name == "cookie" {
			if b.Len() > 0 {
				b.WriteString("; ")
			}
			b.WriteString(f.Value)
		}
	}
	return b.String()
}

// h2Resume is an exchange an event loop began (evloop_h2_linux.go) and
// a goroutine continues: the attempt in progress (its index, backend,
// stats and start), the backends tried, the outcome so far, and the
// backend connection with the bytes of its answer read so far.
type h2Resume struct {
	attempt int
	tried   []*balance.Backend
	b       *balance.Backend
	ps      *poolStats
	t0      time.Time
	out     fastOutcome
	pc      *h1Conn
}

// proxyFastH2 sends the stream's request to a backend of p, retrying
// others as the HTTP/1.1 fast path does, and relays the answer. With a
// kept decision (fd) that names upstreams, those are tried in order
// instead. rs, when not nil, is an exchange a loop began: it goes on
// from there (fs.rt, fd and start were set by the loop).
func (h *handler) proxyFastH2(fs *h2Stream, c *h1Client, p *pool, rt *route, fd *fastDecision, rs *h2Resume) {
	s := h.s
	hdrTimeout := s.cfg.UpstreamHeaderTimeout
	if rt != nil {
		hdrTimeout = rt.headerTimeout
	}
	var out fastOutcome
	var triedBuf [4]*balance.Backend
	tried := triedBuf[:0]
	var lastErr error
	attempt := 0
	if rs != nil {
		out, tried, attempt = rs.out, rs.tried, rs.attempt
	} else {
		fs.rt, fs.fd, fs.start = rt, fd, time.Now()
	}
	start := fs.start
	for ; ; attempt++ {
		var b *balance.Backend
		var ps *poolStats
		var pc *h1Conn
		var resp *http.Response
		var err error
		var t0 time.Time
		if rs != nil {
			b, ps, t0 = rs.b, rs.ps, rs.t0
			pc, resp, err = h.resumeH2(fs, c, rs.pc, hdrTimeout, t0)
			rs = nil
		} else {
			var more []*balance.Backend
			var ok bool
			b, ps, more, ok = s.nextAttempt(p, fd, attempt, fs.peer.peer.Addr(), tried, &out)
			tried = more
			if !ok {
				break
			}
			t0 = start
			if attempt > 0 {
				t0 = time.Now()
			}
			pc, resp, err = h.exchangeH2(fs, c, out.upstream, hdrTimeout, t0)
		}
		if err == nil {
			routeReadTimeout(pc, rt)
			fs.hdrAt = time.Now()
			ps.upstream.observe(fs.hdrAt.Sub(t0))
			out.answered = true
			if b != nil {
				p.bal.Success(b)
			}
			h.relayH2(fs, c, pc, resp, &out)
			if b != nil {
				b.Release()
			}
			lastErr = nil
			break
		}
		if b != nil {
			b.Release()
		}
		if fs.st.Err() != nil {
			out.status, out.errMsg = 499, "client went away"
			lastErr = nil
			break
		}
		s.attemptFailed(p, b, &out, err)
		lastErr = err
	}
	if out.status == 0 {
		// No backend answered: the full path's answer.
		if lastErr == nil {
			lastErr = errNoBackend
		}
		status, why := statusFor(lastErr)
		out.status, out.errMsg = status, why
		w, done := fs.st.Respond(fs.method)
		writeStatus(w, status, "")
		out.bytes, _ = done()
	}
	if !fs.counted {
		h.countH2(fs, &out)
	}
}

// continueH2 is a goroutine's part of a stream an event loop began
// (evloop_h2_linux.go): the exchange goes on from rs, and the stream
// ends after it. A panic is a handler's, as the h2 server treats one:
// logged (but http.ErrAbortHandler), the stream reset.
func (h *handler) continueH2(fs *h2Stream, pl *h2Plan, rs *h2Resume) {
	defer fs.st.Finish()
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				h.s.log.Error("panic serving an h2 stream", "client", fs.peer.peerIP, "panic", v)
			}
			fs.st.Reset()
		}
	}()
	h.proxyFastH2(fs, pl.c, pl.p, pl.rt, pl.fd, rs)
}

// countH2 settles the kept decision, counts the stream and writes its
// access log line, once.
func (h *handler) countH2(fs *h2Stream, out *fastOutcome) {
	fs.counted = true
	if fs.fd != nil {
		h.s.settleFast(fs.fd, out)
	}
	h.logFast(fastLog{rt: fs.rt, out: out, d: time.Since(fs.start), host: fs.host, method: fs.method, path: fs.path,
		client: fs.peer.peerIP, proto: "HTTP/2.0", fd: fs.fd})
}

// exchangeH2 sends the request on a kept connection to addr (or a new
// one) and reads the response head: into the connection's buffer when
// parseFastResponse takes it (resp nil; fs.fields has its fields), else
// with net/http's parser. A kept connection the backend had closed is
// replaced once. The stream's early end (its client resetting it, the
// connection closing) aborts the exchange (SetAbort).
func (h *handler) exchangeH2(fs *h2Stream, c *h1Client, addr string, hdrTimeout time.Duration, t0 time.Time) (*h1Conn, *http.Response, error) {
	for try := 0; ; try++ {
		pc, err := c.get(fs.st.ConnContext(), addr, false, t0)
		if err != nil {
			return nil, nil, err
		}
		if !fs.st.SetAbort(pc.abortFn) {
			pc.abort() // the client left first
		}
		pc.nread = 0
		h.writeH2Head(pc.bw, fs)
		var resp *http.Response
		if err = pc.bw.Flush(); err == nil {
			if err = pc.conn.SetReadDeadline(t0.Add(hdrTimeout)); err == nil {
				resp, err = h.readH2Head(fs, pc, c)
			}
		}
		if !fs.st.ClearAbort() || pc.broken.Load() {
			err = context.Canceled
		}
		if err == nil {
			if resp != nil || !fs.resp.whole(pc.br.Buffered(), fs.head) {
				_ = pc.conn.SetReadDeadline(time.Time{})
			}
			return pc, resp, nil
		}
		pc.close(true)
		if err, timeout := h.headTimeout(fs, pc, err, hdrTimeout); timeout {
			return nil, nil, err
		}
		if try > 0 || !pc.reused || pc.nread != 0 || fs.st.Err() != nil {
			return nil, nil, err
		}
	}
}

// headTimeout is the error of an exchange whose head did not come: the
// header timeout's (true) when err is a deadline and neither side left.
func (h *handler) headTimeout(fs *h2Stream, pc *h1Conn, err error, hdrTimeout time.Duration) (error, bool) {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && fs.st.Err() == nil && !pc.broken.Load() {
		if hdrTimeout < h.s.hdrMax {
			return errHeaderTimeout, true
		}
		return h1TimeoutError{}, true
	}
	return err, false
}

// resumeH2 reads the response head of an exchange a loop began, on pc
// (the bytes the loop read first), as exchangeH2 reads it.
func (h *handler) resumeH2(fs *h2Stream, c *h1Client, pc *h1Conn, hdrTimeout time.Duration, t0 time.Time) (*h1Conn, *http.Response, error) {
	if !fs.st.SetAbort(pc.abortFn) {
		pc.abort() // the client left first
	}
	var resp *http.Response
	err := pc.conn.SetReadDeadline(t0.Add(hdrTimeout))
	if err == nil {
		resp, err = h.readH2Head(fs, pc, c)
	}
	if !fs.st.ClearAbort() || pc.broken.Load() {
		err = context.Canceled
	}
	if err == nil {
		if resp != nil || !fs.resp.whole(pc.br.Buffered(), fs.head) {
			_ = pc.conn.SetReadDeadline(time.Time{})
		}
		return pc, resp, nil
	}
	pc.close(true)
	err, _ = h.headTimeout(fs, pc, err, hdrTimeout)
	return nil, nil, err
}

// writeH2Head writes the stream's request to the backend as HTTP/1.1.
func (h *handler) writeH2Head(bw *bufio.Writer, fs *h2Stream) {
	bw.WriteString(fs.method)
	bw.WriteByte(' ')
	bw.WriteString(fs.st.Path())
	bw.WriteString(" HTTP/1.1\r\nHost: ")
	bw.WriteString(fs.host)
	bw.WriteString("\r\n")
	joined := false
	for _, f := range fs.st.Fields() {
		switch f.Name {
		case "host":
			continue
		case "cookie":
			if fs.cookies > 1 {
				if joined {
					continue
				}
				joined = true
				bw.WriteString("cookie: ")
				n := 0
				for _, g := range fs.st.Fields() {
					if g.Name == "cookie" {
						if n > 0 {
							bw.WriteString("; ")
						}
						bw.WriteString(g.Value)
						n++
					}
				}
				bw.WriteString("\r\n")
				continue
			}
		}
		bw.WriteString(f.Name)
		bw.WriteString(": ")
		bw.WriteString(f.Value)
		bw.WriteString("\r\n")
	}
	bw.WriteString("X-Forwarded-For: ")
	bw.WriteString(fs.peer.peerIP)
	bw.WriteString("\r\nX-Real-Ip: ")
	bw.WriteString(fs.peer.peerIP)
	bw.WriteString("\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: ")
	bw.WriteString(fs.host)
	bw.WriteString("\r\n")
	if via := h.s.cfg.Via; via != "" {
		bw.WriteString("Via: 2.0 ")
		bw.WriteString(via)
		bw.WriteString("\r\n")
	}
	bw.WriteString("\r\n")
}

// readH2Head reads the response head: into pc's buffer when
// parseFastResponse takes it (fs.resp; nil returned), else with
// net/http's parser. Interim responses other than 100 go to the client.
func (h *handler) readH2Head(fs *h2Stream, pc *h1Conn, c *h1Client) (*http.Response, error) {
	// The closures see copies, not fs: fs stays on its caller's stack
	// (the interim one escapes, when there is one).
	st, method := fs.st, fs.method
	return readUpstreamHead(pc, c, fs.head, &fs.resp, func() (*http.Request, func(int, http.Header)) {
		return &http.Request{Method: method}, func(code int, h http.Header) {
			removeHopHeaders(h, false)
			st.WriteResponse(code, appendH2Fields(nil, h), nil, false)
		}
	})
}

// relayH2 writes the response to the client: the head parseFastResponse
// took (resp nil) as HEADERS with the body's buffered part in one
// write, then the rest of the body as it comes; a response net/http
// parsed through the full path's sendResponse. pc is kept or closed.
func (h *handler) relayH2(fs *h2Stream, c *h1Client, pc *h1Conn, resp *http.Response, out *fastOutcome) {
	if resp != nil {
		h.relayH2Full(fs, c, pc, resp, out)
		return
	}
	s := h.s
	fr := &fs.resp
	head, _ := pc.br.Peek(fr.size)
	fields := appendHeadFields(fs.fieldsBuf[:0], head, fr)
	if !fr.date {
		fields = append(fields, hpack.HeaderField{Name: "date", Value: httpDate()[0]})
	}
	if s.cfg.Via != "" {
		fields = append(fields, hpack.HeaderField{Name: "via", Value: "2.0 " + s.cfg.Via}) // as the full path's viaValue
	}
	pc.br.Discard(fr.size)
	out.status = fr.code
	n := fr.clen
	if fs.head || !bodyAllowed(fr.code) {
		n = 0
	}
	first := min(n, int64(pc.br.Buffered()))
	body, _ := pc.br.Peek(int(first))
	out.bytes = first
	if first == n {
		// The whole response is here: counted and logged before it
		// leaves, as on the HTTP/1.1 fast path, so that a client that
		// has its answer finds the request in the metrics.
		h.countH2(fs, out)
	}
	werr := fs.st.WriteResponse(fr.code, fields, body, first == n)
	pc.br.Discard(int(first))
	var rerr error
	if werr == nil && first < n {
		if !fs.st.SetAbort(pc.abortFn) {
			pc.abort()
		}
		var written int64
		written, rerr, werr = copyToStream(fs.st, pc.br, n-first)
		out.bytes += written
		if !fs.st.ClearAbort() && rerr == nil && werr == nil {
			rerr = context.Canceled
		}
	}
	h.bodyFailed(out, rerr, werr, fs.st.Err() != nil)
	if rerr != nil {
		fs.st.Reset() // the client must not take the cut body as whole
	}
	if rerr == nil && werr == nil && !fr.close && !pc.broken.Load() {
		pc.reused = false
		c.put(pc, fs.hdrAt)
		return
	}
	pc.close(true)
}

// copyToStream copies n body bytes from br to the stream, ending it
// with the last; it reports the bytes written and the read or write
// error that cut the copy.
func copyToStream(st *h2.Stream, br *bufio.Reader, n int64) (written int64, rerr, werr error) {
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	buf := *bp
	for n > 0 {
		m, err := br.Read(buf[:min(int64(len(buf)), n)])
		if m > 0 {
			n -= int64(m)
			if werr = st.Write(buf[:m], n == 0); werr != nil {
				return written, nil, werr
			}
			written += int64(m)
		}
		if n > 0 && err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return written, err, nil
		}
	}
	return written, nil, nil
}

// relayH2Full writes a response net/http parsed (not the fast path's
// shape) as the full path does.
func (h *handler) relayH2Full(fs *h2Stream, c *h1Client, pc *h1Conn, resp *http.Response, out *fastOutcome) {
	s := h.s
	removeHopHeaders(resp.Header, false)
	if via := s.cfg.Via; via != "" {
		resp.Header.Add("Via", "2.0 "+via)
	}
	out.status = resp.StatusCode
	flush := resp.ContentLength == -1 || isEventStream(resp.Header["Content-Type"])
	w, done := fs.st.Respond(fs.method)
	if !fs.st.SetAbort(pc.abortFn) {
		pc.abort()
	}
	cerr := sendResponse(w, resp, flush)
	aborted := !fs.st.ClearAbort()
	if cerr != nil {
		if cerr.read && fs.st.Err() == nil {
			out.errMsg = "backend body failed: " + cerr.err.Error()
			h.ls.countReadTimeout(cerr.err)
			s.log.Warn("backend body failed mid-response", "backend", out.upstream, "err", cerr.err)
		} else {
			out.errMsg = "writing to the client failed: " + cerr.err.Error()
		}
		fs.st.Reset()
		pc.close(true)
		return
	}
	var err error
	out.bytes, err = done()
	if err == nil && !aborted && !resp.Close && !pc.broken.Load() {
		pc.reused = false
		c.put(pc, fs.hdrAt)
		return
	}
	pc.close(true)
}

// appendHeadFields appends the fields of a response head
// parseFastResponse took, less its hop-by-hop lines, names in lower
// case.
func appendHeadFields(fields []hpack.HeaderField, head []byte, fr *fastResponse) []hpack.HeaderField {
	i, end := fr.line, fr.size-2
	drops := fr.drop[:fr.ndrop]
	for i < end {
		if len(drops) > 0 && drops[0].from == i {
			i = drops[0].to
			drops = drops[1:]
			continue
		}
		name, value, next, ok := nextField(head, i)
		if !ok || name == nil {
			break
		}
		fields = append(fields, hpack.HeaderField{Name: lowerField(name), Value: string(value)})
		i = next
	}
	return fields
}

// appendH2Fields appends a header map's fields, names in lower case.
func appendH2Fields(fields []hpack.HeaderField, h http.Header) []hpack.HeaderField {
	for k, vv := range h {
		name := strings.ToLower(k)
		for _, v := range vv {
			fields = append(fields, hpack.HeaderField{Name: name, Value: v})
		}
	}
	return fields
}

// lowerField is a header name in lower case, without allocating for the
// common ones.
func lowerField(name []byte) string {
	if s, ok := lowerNames[string(name)]; ok {
		return s
	}
	return strings.ToLower(string(name))
}

// lowerNames maps the response header names backends send most, as they
// send them, to their h2 form.
var lowerNames = func() map[string]string {
	m := map[string]string{}
	for _, n := range []string{"Content-Type", "Content-Length", "Date", "Server", "Last-Modified", "ETag", "Etag",
		"Accept-Ranges", "Cache-Control", "Expires", "Vary", "Content-Encoding", "Set-Cookie", "Location",
		"X-Backend", "Age", "Pragma", "Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options"} {
		m[n] = strings.ToLower(n)
		m[strings.ToLower(n)] = strings.ToLower(n)
	}
	return m
}()
