package web

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"net"
	"net/http"
	"net/netip"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/connlimit"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/web/internal/balance"
)

// The fast path (Config.FastPath) serves, on the lean HTTP/1.1 server,
// the requests no plugin has anything to decide about, without building
// an http.Request, an http.Response or a header map: the request head is
// parsed in place in the connection's read buffer (parseFastRequest),
// written to the backend as it came with the forwarding headers added,
// and the backend's response head is parsed in its buffer
// (parseFastResponse) and written to the client with its body, by length.
//
// A request takes it when all of these hold; otherwise, before anything
// was sent anywhere, it takes the full path (handler.ServeHTTP) from the
// same bytes:
//
//   - it is a GET or HEAD, HTTP/1.1, in origin form, with no body, no
//     Authorization and no auth cookie (unless a kept decision takes them:
//     fastreuse.go), no Upgrade or Expect and none of the
//     forwarding or hop-by-hop headers the full path removes or rewrites
//     (Connection: keep-alive or close, Keep-Alive and Proxy-Connection
//     are left out, as there), and its head is all in the read buffer;
//   - no plugin would be entered for it: no plugin serving a request hook,
//     the response hook or route_decided takes it by its request filter
//     (plugin.Host.Wants), as for an anonymous request when every such
//     plugin declared only_login or paths that do not match;
//   - it goes to a plain pool (no TLS) through the lean client, its route
//     (if one matches) has no no_buffering and no dial_timeout of its own;
//   - the connection limits admit the connection (its first request
//     decides it, as on the full path; a refusal is the full path's to
//     answer).
//
// What the full path would decide for such a request is decided the same
// way here: the matching route's pool or the default pool, the balancer's
// pick, retries on other backends (the request is idempotent), the
// route's header timeout, 502/503/504 answers, the counters, the
// histograms and the access log line. A backend response that is not a
// final HTTP/1.1 response framed by Content-Length (or bodiless), with a
// head within the 4 KiB buffer and without headers the full path removes,
// goes through net/http's parser and the full path's response writing
// (sendResponse) instead; the request is not sent twice.
//
// The difference a client or backend can see: header lines keep the order
// and spelling they came in (the full path writes them sorted, in
// canonical form). A backend body cut short reaches the client as far as
// it came, then the connection is cut (the full path's buffered writer
// may send less before the cut; the client sees a cut either way).

// fastHooks and fastEvents are what the fast path skips; a plugin that
// wants a request at any of them sends it down the full path.
var (
	fastHooks  = []abi.Hook{abi.HookLogin, abi.HookThrottle, abi.HookRoute, abi.HookRewrite, abi.HookResponse}
	fastEvents = []abi.Event{abi.EventRouteDecided}
)

// fastConn is what a client connection keeps for the fast path.
type fastConn struct {
	req      fastRequest
	resp     fastResponse
	admitted bool           // the connection limits admitted it
	peer     netip.AddrPort // the client, parsed once
	peerIP   string
	upstream *h1Conn       // the backend connection of the request in flight (h1ServerConn.upMu)
	abortReg bool          // the connection context's abort of upstream is registered
	stub     *http.Request // the request fastWriter made for this request; nil: none yet
	hdrAt    time.Time     // when the backend's response head was read; zero: not yet
	end      time.Time     // when the last request ended (the server's next idle deadline counts from it)
}

// fastPlan is where the fast path sends a request: planFast's answer.
type fastPlan struct {
	c          *h1Client
	p          *pool
	rt         *route
	host, path string
	fd         *fastDecision // a kept decision (&fdv), or nil
	fdv        fastDecision
}

// serveFast is the lean server's fast path for the listener h serves. It
// reports whether it served the request sc.fast.req (false: nothing was
// sent; the full path takes it), and an error when the connection must
// close.
func (h *handler) serveFast(sc *h1ServerConn) (served bool, err error) {
	var pl fastPlan
	if !h.planFast(sc, &pl) {
		return false, nil
	}
	// Served here from now on. The head leaves the buffer (its bytes stay
	// where they are until the next read, which comes after this request)
	// so that the client watch sees whether more bytes follow.
	sc.br.Discard(len(sc.fast.req.head))
	sc.watchAborts()
	return true, h.proxyFast(sc, pl.c, pl.p, pl.rt, pl.host, pl.path, pl.fd)
}

// watchAborts makes the client leaving (the watch cancels the
// connection's context) abort the backend exchange in flight; once per
// connection.
func (sc *h1ServerConn) watchAborts() {
	fc := &sc.fast
	if fc.abortReg {
		return
	}
	fc.abortReg = true
	context.AfterFunc(sc.ctx, func() {
		sc.upMu.Lock()
		pc := fc.upstream
		fc.upstream = nil
		sc.upMu.Unlock()
		if pc != nil {
			pc.abort()
		}
	})
}

// planFast decides whether the fast path takes sc.fast.req, and where it
// goes (pl); false: the full path takes it. Nothing is read or sent.
func (h *handler) planFast(sc *h1ServerConn, pl *fastPlan) bool {
	s := h.s
	fc := &sc.fast
	fr := &fc.req
	fc.stub, fc.hdrAt = nil, time.Time{}
	if !fc.admitted {
		// The first request decides the connection, as limitServer's
		// handler does; a refusal (which firstRequest keeps) is the full
		// path's to answer.
		if lc, ok := sc.ctx.Value(limitConnKey{}).(*limitConn); ok && lc.firstRequest() != connlimit.OK {
			return false
		}
		fc.admitted = true
		ap, _ := netip.ParseAddrPort(sc.remote)
		fc.peer = netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		fc.peerIP = fc.peer.Addr().String()
	}
	host := string(fr.host)
	path := string(fr.target[:fr.pathLen])
	rt := s.routeFor(fr.method, host, path) // the path is clean and has no escapes (fastTarget)
	p := s.defPool
	if rt != nil {
		if rt.noBuffering || rt.dialTimeout > 0 {
			return false
		}
		p = rt.pool
	}
	pl.fd = nil
	if fr.authz != nil || fr.cookie != nil {
		// Credentials: only a kept decision takes them here (fastreuse.go).
		cr := fastCreds{method: fr.method, path: path, authz: fr.authz, tls: sc.tlsState, peerIP: fc.peerIP, peer: fc.peer}
		if fr.cookie != nil {
			cr.cookie = string(fr.cookie)
		}
		if !h.reuseFast(&cr, host, rt, &pl.fdv) {
			return false
		}
		pl.fd, p = &pl.fdv, pl.fdv.pool
	}
	if p == nil || p.scheme != "http" {
		return false
	}
	c, ok := p.transport.(*h1Client)
	if !ok {
		return false
	}
	if s.plugins != nil && pl.fd == nil {
		hf := plugin.HTTPFields{Method: fr.method, Host: host, Path: path}
		f := plugin.Fields{Protocol: "http", Listener: h.l.Name, Client: fc.peer, AuthMethod: "none", LoginAttempt: 1, HTTP: &hf}
		if s.plugins.Wants(&f, fastHooks, fastEvents) {
			return false
		}
	}
	pl.c, pl.p, pl.rt, pl.host, pl.path = c, p, rt, host, path
	return true
}

// fastOutcome is what proxyFast reports to the counters and the log.
type fastOutcome struct {
	status   int
	bytes    int64 // body bytes sent to the client
	upstream string
	bs       *backendStats
	errMsg   string
	answered bool // a backend answered
}

// proxyFast forwards the request to a backend of p and relays the answer;
// it returns an error when the client connection must close. With a kept
// decision (fd) that names upstreams, those are tried in order instead,
// as the full path tries a route plugin's.
func (h *handler) proxyFast(sc *h1ServerConn, c *h1Client, p *pool, rt *route, host, path string, fd *fastDecision) error {
	return h.proxyFastFrom(sc, c, p, rt, host, path, fd, nil)
}

// fastResume is an attempt the event loop began (evloop_linux.go): its
// request is sent on pc and the response's first bytes are in pc.prefix.
type fastResume struct {
	start, t0 time.Time
	attempt   int // attempts begun, this one included
	tried     []*balance.Backend
	b         *balance.Backend // this attempt's backend (acquired), nil for a kept decision's upstream
	ps        *poolStats
	out       fastOutcome // upstream and bs set
	pc        *h1Conn
}

// proxyFastFrom is proxyFast, continuing the attempt rs when it is not
// nil.
func (h *handler) proxyFastFrom(sc *h1ServerConn, c *h1Client, p *pool, rt *route, host, path string, fd *fastDecision, rs *fastResume) error {
	s := h.s
	fc := &sc.fast
	hdrTimeout := s.cfg.UpstreamHeaderTimeout
	if rt != nil {
		hdrTimeout = rt.headerTimeout
	}
	var out fastOutcome
	var tried []*balance.Backend
	var triedBuf [4]*balance.Backend
	var lastErr error
	var connErr error // the client connection must close
	var start time.Time
	first := 0
	if rs != nil {
		start, out, first = rs.start, rs.out, rs.attempt-1
		tried = append(triedBuf[:0], rs.tried...)
	} else {
		start = time.Now()
	}
	sc.startWatch(true, sc.cancelConn)
	for attempt := first; ; attempt++ {
		if rs != nil {
			// The loop's attempt: its response is read here.
			b, ps, t0, pc := rs.b, rs.ps, rs.t0, rs.pc
			rs = nil
			sc.upMu.Lock()
			fc.upstream = pc
			sc.upMu.Unlock()
			pc.nread = int64(len(pc.prefix))
			resp, err := h.readExchange(sc, c, pc, hdrTimeout, t0)
			routeReadTimeout(pc, rt)
			done, cerr := h.attemptDone(sc, c, p, b, ps, t0, pc, resp, err, &out, &lastErr)
			if done {
				connErr = cerr
				break
			}
			continue
		}
		if tried == nil {
			tried = triedBuf[:0]
		}
		b, ps, more, ok := s.nextAttempt(p, fd, attempt, fc.peer.Addr(), tried, &out)
		tried = more
		if !ok {
			break
		}
		// One clock reading per step: they are not free on every
		// machine (kvm-clock), and a request needs three.
		t0 := start
		if attempt > 0 {
			t0 = time.Now()
		}
		pc, resp, err := h.exchangeFast(sc, c, out.upstream, hdrTimeout, host, t0)
		routeReadTimeout(pc, rt)
		done, cerr := h.attemptDone(sc, c, p, b, ps, t0, pc, resp, err, &out, &lastErr)
		if done {
			connErr = cerr
			break
		}
	}
	sc.stopWatch()
	return h.endFast(sc, rt, start, &out, host, path, fd, lastErr, connErr)
}

// nextAttempt picks the backend of a fast request's attempt (the first
// is 0): a kept decision's upstreams in order, or the balancer's pick
// among the pool's backends not tried yet (acquired, and appended to
// tried, which it returns). It sets out's upstream and backend counters
// and returns the backend (nil for a decision's upstream) and the pool
// counters the attempt counts in; false when no backend is left to try.
func (s *Server) nextAttempt(p *pool, fd *fastDecision, attempt int, client netip.Addr, tried []*balance.Backend,
	out *fastOutcome) (*balance.Backend, *poolStats, []*balance.Backend, bool) {
	var b *balance.Backend
	ps := p.stats
	if fd != nil && fd.addrs != nil {
		if attempt >= len(fd.addrs) {
			return nil, nil, tried, false
		}
		ps = s.stats.route
		out.upstream = fd.addrs[attempt]
		out.bs = ps.routeBackend(out.upstream)
	} else {
		var skip func(*balance.Backend) bool
		if attempt > 0 {
			skip = func(b *balance.Backend) bool { return containsBackend(tried, b) }
		}
		var err error
		if b, err = p.bal.Pick(client, skip); err != nil {
			return nil, nil, tried, false
		}
		tried = append(tried, b)
		b.Acquire()
		out.upstream, out.bs = b.Addr, ps.backends[b.Index]
	}
	if attempt > 0 {
		ps.retries.Add(1)
	}
	return b, ps, tried, true
}

// attemptFailed counts a fast request's failed attempt on its backend
// (b, nil for a kept decision's upstream), marks it down when the
// balancer says so, and logs it.
func (s *Server) attemptFailed(p *pool, b *balance.Backend, out *fastOutcome, err error) {
	out.bs.errors.Add(1)
	if b != nil && p.bal.Fail(b) {
		s.log.Warn("backend marked down", "pool", p.name, "backend", b.Addr, "err", err)
	}
	s.log.Debug("backend attempt failed", "backend", out.upstream, "err", err)
}

// containsBackend reports whether b is in tried.
func containsBackend(tried []*balance.Backend, b *balance.Backend) bool {
	for _, x := range tried {
		if x == b {
			return true
		}
	}
	return false
}

// attemptDone ends an attempt: on success (err nil) the response is
// relayed and done is true (cerr: the client connection must close);
// on failure the backend is counted and marked, lastErr set, and done is
// false (try the next) unless the client went away.
func (h *handler) attemptDone(sc *h1ServerConn, c *h1Client, p *pool, b *balance.Backend, ps *poolStats, t0 time.Time,
	pc *h1Conn, resp *http.Response, err error, out *fastOutcome, lastErr *error) (done bool, cerr error) {
	s := h.s
	if err == nil {
		sc.fast.hdrAt = time.Now()
		ps.upstream.observe(sc.fast.hdrAt.Sub(t0))
		out.answered = true
		if b != nil {
			p.bal.Success(b)
		}
		cerr = h.relayFast(sc, c, pc, resp, out)
		if b != nil {
			b.Release()
		}
		*lastErr = nil
		return true, cerr
	}
	if b != nil {
		b.Release()
	}
	if sc.ctx.Err() != nil {
		out.status, out.errMsg = 499, "client went away"
		*lastErr = nil
		return true, errors.New("client went away")
	}
	s.attemptFailed(p, b, out, err)
	*lastErr = err
	return false, nil
}

// endFast ends a fast request whose backend exchanges are over: the
// answer of the full path when no backend answered (out.status 0; lastErr
// says why), the counters, the access log line, the flush, and the
// connection's end when it must close (its error).
func (h *handler) endFast(sc *h1ServerConn, rt *route, start time.Time, out *fastOutcome, host, path string, fd *fastDecision, lastErr, connErr error) error {
	s := h.s
	if out.status == 0 {
		// No backend answered: the full path's answer.
		if lastErr == nil {
			lastErr = errNoBackend
		}
		status, why := statusFor(lastErr)
		out.status, out.errMsg = status, why
		w := sc.fastWriter()
		writeStatus(w, status, "")
		out.bytes = w.written
	}
	// Counted and logged before the response's last bytes leave, as on
	// the full path (whose handler returns before the server flushes): a
	// client that has its answer finds the request in the metrics.
	if fd != nil {
		s.settleFast(fd, out)
	}
	h.finishFast(sc, rt, start, out, host, path, fd)
	if connErr == nil {
		if sc.fast.stub != nil {
			connErr = sc.resp.finish() // an answer written through the response writer
		} else {
			connErr = sc.bw.Flush()
		}
	}
	if connErr == nil && sc.watchGone {
		connErr = errors.New("client went away")
	}
	if connErr == nil && (sc.fast.req.close || sc.hs.shutting.Load()) {
		sc.closeWrite(false)
		connErr = errors.New("connection: close")
	}
	return connErr
}

// exchangeFast sends the request to addr on a kept connection (or a new
// one) and reads the response head: into the connection's buffer when the
// fast path can relay it (resp nil), else with net/http's parser. A kept
// connection the backend had closed is replaced once, as the lean client
// does.
func (h *handler) exchangeFast(sc *h1ServerConn, c *h1Client, addr string, hdrTimeout time.Duration, host string, t0 time.Time) (*h1Conn, *http.Response, error) {
	fc := &sc.fast
	for try := 0; ; try++ {
		pc, err := c.get(sc.ctx, addr, false, t0)
		if err != nil {
			return nil, nil, err
		}
		sc.upMu.Lock()
		fc.upstream = pc
		sc.upMu.Unlock()
		if sc.ctx.Err() != nil {
			pc.abort() // the context's abort came first
		}
		pc.nread = 0
		h.writeFastHead(pc.bw, sc, host)
		if err = pc.bw.Flush(); err != nil {
			h.takeUpstream(sc, pc)
			pc.close(true)
		} else {
			var resp *http.Response
			if resp, err = h.readExchange(sc, c, pc, hdrTimeout, t0); err == nil {
				return pc, resp, nil
			}
		}
		var ne net.Error
		timeout := errors.As(err, &ne) && ne.Timeout()
		if try > 0 || !pc.reused || pc.nread != 0 || timeout || sc.ctx.Err() != nil {
			return nil, nil, err
		}
	}
}

// readExchange reads the response head of the request sent on pc (into
// pc's buffer when the fast path can relay it: resp nil, else with
// net/http's parser) within the header timeout from t0. On an error pc
// is closed.
func (h *handler) readExchange(sc *h1ServerConn, c *h1Client, pc *h1Conn, hdrTimeout time.Duration, t0 time.Time) (*http.Response, error) {
	fc := &sc.fast
	err := pc.conn.SetReadDeadline(t0.Add(hdrTimeout))
	var resp *http.Response
	if err == nil {
		resp, err = h.readFastHead(sc, pc, c)
	}
	if err == nil {
		// The header deadline ends here, unless the whole response
		// is in the buffer already (the usual small one): then no
		// read follows, the next exchange sets its own, and get
		// clears it before checking an idle connection.
		if resp != nil || !fc.resp.whole(pc.br.Buffered(), fc.req.method == http.MethodHead) {
			_ = pc.conn.SetReadDeadline(time.Time{})
		}
		if pc.broken.Load() {
			err = context.Canceled
		} else {
			return resp, nil
		}
	}
	h.takeUpstream(sc, pc)
	pc.close(true) // an abort only sets deadlines: the buffers are free
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() && sc.ctx.Err() == nil && !pc.broken.Load() {
		err = h1TimeoutError{}
		if hdrTimeout < h.s.hdrMax {
			err = errHeaderTimeout // as the full path times a route's shorter timeout (roundTripWithin)
		}
	}
	return nil, err
}

// takeUpstream ends the request's claim on pc; false when the
// connection's abort took it first (pc is aborted: not to be kept).
func (h *handler) takeUpstream(sc *h1ServerConn, pc *h1Conn) bool {
	sc.upMu.Lock()
	defer sc.upMu.Unlock()
	if sc.fast.upstream != pc {
		return false
	}
	sc.fast.upstream = nil
	return !pc.broken.Load()
}

// writeFastHead writes the request to the backend: the request line and
// header lines as they came (less the dropped ones), then the forwarding
// headers the full path sets (outbound), then the blank line.
func (h *handler) writeFastHead(bw *bufio.Writer, sc *h1ServerConn, host string) {
	fc := &sc.fast
	fr := &fc.req
	writeSpans(bw, fr.head, 0, len(fr.head)-2, fr.drop[:fr.ndrop])
	bw.WriteString("X-Forwarded-For: ")
	bw.WriteString(fc.peerIP)
	bw.WriteString("\r\nX-Real-Ip: ")
	bw.WriteString(fc.peerIP)
	if sc.tlsState != nil {
		bw.WriteString("\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: ")
	} else {
		bw.WriteString("\r\nX-Forwarded-Proto: http\r\nX-Forwarded-Host: ")
	}
	bw.WriteString(host)
	bw.WriteString("\r\n")
	writeVia(bw, h.s.cfg.Via)
	bw.WriteString("\r\n")
}

// writeVia writes the Via line of Config.Via (none when it is ""); the
// fast path's requests and responses are HTTP/1.1, so "1.1 <via>".
func writeVia(bw *bufio.Writer, via string) {
	if via != "" {
		bw.WriteString("Via: 1.1 ")
		bw.WriteString(via)
		bw.WriteString("\r\n")
	}
}

// writeSpans writes head[from:end] less the dropped spans, which lie in
// it in order.
func writeSpans(bw *bufio.Writer, head []byte, from, end int, drops []span) {
	i := from
	for _, d := range drops {
		bw.Write(head[i:d.from])
		i = d.to
	}
	bw.Write(head[i:end])
}

// readFastHead reads the response head into pc's buffer. It returns nil
// when the head is there and parseFastResponse took it (sc.fast.resp);
// otherwise it reads the response with net/http (a head over the buffer,
// 1xx, chunked...) and returns it. An interim response other than
// 100 Continue goes to the client, as the full path sends it.
func (h *handler) readFastHead(sc *h1ServerConn, pc *h1Conn, c *h1Client) (*http.Response, error) {
	return readUpstreamHead(pc, c, sc.fast.req.method == http.MethodHead, &sc.fast.resp,
		func() (*http.Request, func(int, http.Header)) {
			w := sc.fastWriter()
			return w.req, func(code int, h http.Header) {
				hdr := w.Header()
				for k, vv := range h {
					hdr[k] = vv
				}
				w.WriteHeader(code)
				clear(hdr)
			}
		})
}

// routeReadTimeout gives pc rt's read_timeout for the body to come (get
// gave it UpstreamReadTimeout).
func routeReadTimeout(pc *h1Conn, rt *route) {
	if pc != nil && rt != nil {
		pc.readTimeout = rt.readTimeout
	}
}

// readUpstreamHead reads a response head on pc, for the fast paths: into
// pc's buffer when parseFastResponse takes it (fr; resp nil), else, from
// the first byte, with net/http's parser, for the request slow gives; the
// interim responses (1xx but 100) go to the function slow gives with it,
// and the final response is returned.
func readUpstreamHead(pc *h1Conn, c *h1Client, headReq bool, fr *fastResponse,
	slow func() (*http.Request, func(code int, h http.Header))) (*http.Response, error) {
	br := pc.br
	pc.limit = c.maxHdr
	defer func() { pc.limit = math.MaxInt64 }()
	if _, err := br.Peek(1); err != nil {
		return nil, err
	}
	for seen := 0; ; {
		buf, _ := br.Peek(br.Buffered())
		from := max(0, seen-3)
		if i := bytes.Index(buf[from:], []byte("\r\n\r\n")); i >= 0 {
			if parseFastResponse(buf[:from+i+4], headReq, fr) {
				pc.inBody = true
				return nil, nil
			}
			break
		}
		seen = len(buf)
		if seen == br.Size() {
			break // a head over the buffer
		}
		if _, err := br.Peek(seen + 1); err != nil {
			if errors.Is(err, bufio.ErrBufferFull) {
				break
			}
			return nil, err
		}
	}
	req, interim := slow()
	for n1xx := 0; ; {
		resp, err := http.ReadResponse(br, req)
		if err != nil {
			return nil, err
		}
		code := resp.StatusCode
		if code < 100 {
			return nil, errBadStatus(code)
		}
		if code > 199 || code == http.StatusSwitchingProtocols {
			pc.inBody = code != http.StatusSwitchingProtocols // a switched connection has no body to time
			return resp, nil
		}
		if n1xx++; n1xx > h1Max1xx {
			return nil, errors.New("backend sent too many 1xx informational responses")
		}
		pc.limit = c.maxHdr
		if code != http.StatusContinue {
			interim(code, resp.Header)
		}
	}
}

// relayFast writes the response to the client, all but what the buffer
// still holds (proxyFast flushes it after counting the request). It
// returns an error when the client connection must close (the body was
// cut).
func (h *handler) relayFast(sc *h1ServerConn, c *h1Client, pc *h1Conn, resp *http.Response, out *fastOutcome) error {
	if resp != nil {
		return h.relayFull(sc, c, pc, resp, out)
	}
	fr := &sc.fast.resp
	headLen := fr.size
	head, _ := pc.br.Peek(headLen)
	bw := sc.bw
	h.writeFastRespHead(sc, head)
	pc.br.Discard(headLen)
	out.status = fr.code
	n := fr.clen
	if sc.fast.req.method == http.MethodHead || !bodyAllowed(fr.code) {
		n = 0
	}
	written, rerr, werr := copyFixed(bw, pc.br, n)
	out.bytes = written
	complete := rerr == nil && werr == nil // the backend's response was read whole
	reuse := h.takeUpstream(sc, pc) && complete && !fr.close
	h.bodyFailed(out, rerr, werr, sc.ctx.Err() != nil)
	h.endUpstream(sc, c, pc, reuse)
	if rerr != nil {
		return rerr
	}
	return werr
}

// bodyFailed records in out why a relayed body was cut: reading the
// backend (rerr; the client's leaving when clientGone) or writing to the
// client (werr). Nothing when both are nil.
func (h *handler) bodyFailed(out *fastOutcome, rerr, werr error, clientGone bool) {
	switch {
	case rerr != nil && clientGone:
		out.errMsg = "client went away mid-response"
	case rerr != nil:
		out.errMsg = "backend body failed: " + rerr.Error()
		h.ls.countReadTimeout(rerr)
		h.s.log.Warn("backend body failed mid-response", "backend", out.upstream, "err", rerr)
	case werr != nil:
		out.errMsg = "writing to the client failed: " + werr.Error()
	}
}

// writeFastRespHead writes to the client the response head sc.fast.resp
// parsed from head: our status line, its lines as they came less the
// hop-by-hop ones, Date when it had none, Via, Connection: close when the
// connection ends after it.
func (h *handler) writeFastRespHead(sc *h1ServerConn, head []byte) {
	fr := &sc.fast.resp
	bw := sc.bw
	writeStatusLine(bw, true, fr.code)
	writeSpans(bw, head, fr.line, fr.size-2, fr.drop[:fr.ndrop])
	if !fr.date {
		bw.WriteString("Date: ")
		bw.WriteString(httpDate()[0])
		bw.WriteString("\r\n")
	}
	writeVia(bw, h.s.cfg.Via)
	if sc.fast.req.close || sc.hs.shutting.Load() {
		bw.WriteString("Connection: close\r\n")
	}
	bw.WriteString("\r\n")
}

// relayFull writes a response net/http parsed (not the fast path's
// shape) as the full path does.
func (h *handler) relayFull(sc *h1ServerConn, c *h1Client, pc *h1Conn, resp *http.Response, out *fastOutcome) error {
	s := h.s
	w := sc.fastWriter()
	removeHopHeaders(resp.Header, false)
	if via := s.cfg.Via; via != "" {
		resp.Header.Add("Via", "1.1 "+via)
	}
	out.status = resp.StatusCode
	flush := resp.ContentLength == -1 || isEventStream(resp.Header["Content-Type"])
	cerr := sendResponse(w, resp, flush)
	reuse := h.takeUpstream(sc, pc) && cerr == nil && !resp.Close
	h.endUpstream(sc, c, pc, reuse)
	out.bytes = w.written
	if cerr != nil {
		if cerr.read && sc.ctx.Err() == nil {
			out.errMsg = "backend body failed: " + cerr.err.Error()
			h.ls.countReadTimeout(cerr.err)
			s.log.Warn("backend body failed mid-response", "backend", out.upstream, "err", cerr.err)
		} else {
			out.errMsg = "writing to the client failed: " + cerr.err.Error()
		}
		return cerr.err
	}
	return nil // proxyFast finishes w once the request is counted
}

// endUpstream keeps pc for the next request, or closes it.
func (h *handler) endUpstream(sc *h1ServerConn, c *h1Client, pc *h1Conn, reuse bool) {
	if !reuse {
		pc.close(true)
		return
	}
	pc.reused = false
	c.put(pc, h.now(sc))
}

// now is the clock reading of the request's response head, or a new one.
func (h *handler) now(sc *h1ServerConn) time.Time {
	if t := sc.fast.hdrAt; !t.IsZero() {
		return t
	}
	return time.Now()
}

// copyFixed copies n body bytes from br to bw: what br holds first, then
// straight from the backend with a pooled buffer. It reports the bytes
// written and the read or write error that cut it.
func copyFixed(bw *bufio.Writer, br *bufio.Reader, n int64) (written int64, rerr, werr error) {
	for n > 0 && br.Buffered() > 0 {
		chunk, _ := br.Peek(int(min(int64(br.Buffered()), n)))
		m, err := bw.Write(chunk)
		written += int64(m)
		br.Discard(m)
		n -= int64(m)
		if err != nil {
			return written, nil, err
		}
	}
	if n == 0 {
		return written, nil, nil
	}
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	buf := *bp
	for n > 0 {
		m, err := br.Read(buf[:min(int64(len(buf)), n)])
		if m > 0 {
			k, werr := bw.Write(buf[:m])
			written += int64(k)
			n -= int64(k)
			if werr != nil {
				return written, nil, werr
			}
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

// finishFast counts the request and writes its access log line, as
// Server.finish does for the full path.
func (h *handler) finishFast(sc *h1ServerConn, rt *route, start time.Time, out *fastOutcome, host, path string, fd *fastDecision) {
	if sc.loop.Load() == nil { // a loop set its batch's clock
		sc.fast.end = time.Now()
	}
	h.logFast(fastLog{rt: rt, out: out, d: sc.fast.end.Sub(start), host: host, method: sc.fast.req.method, path: path,
		client: sc.fast.peerIP, proto: "HTTP/1.1", fd: fd})
}

// fastLog is what logFast counts and logs of a fast request.
type fastLog struct {
	rt                                *route
	out                               *fastOutcome
	d                                 time.Duration
	host, method, path, client, proto string
	fd                                *fastDecision // a kept decision served it; nil: none
}

// logFast counts a request the fast path served (HTTP/1.1 or h2) and
// writes its access log line.
func (h *handler) logFast(l fastLog) {
	s := h.s
	if h.ls != nil {
		h.ls.fast.Add(1)
		if l.fd != nil {
			h.ls.reused.Add(1)
		}
	}
	h.ls.count(l.out.bs, l.out.status, l.d, l.out.bytes)
	if !s.access.Enabled(context.Background(), accessLevel) {
		return
	}
	e := accessEntry{
		id: s.newID(), listener: h.l.Name, client: l.client, host: l.host,
		method: l.method, path: l.path, proto: l.proto, status: l.out.status, bytes: l.out.bytes,
		upstream: l.out.upstream, d: l.d, errMsg: l.out.errMsg,
	}
	if l.rt != nil {
		e.route = l.rt.name
	}
	if fd := l.fd; fd != nil {
		e.user = fd.user()
		e.plugins = "reused"
		if fd.dec.verdicts != "" {
			e.plugins += " " + fd.dec.verdicts
		}
	}
	s.writeAccess(&e, nil)
}

// fastWriter returns the connection's response writer for an answer the
// fast path does not write itself (an error, a response net/http parsed),
// with a request that has what the writer reads of one.
func (sc *h1ServerConn) fastWriter() *h1Response {
	if sc.fast.stub != nil && sc.resp.req == sc.fast.stub {
		return &sc.resp
	}
	fr := &sc.fast.req
	req := &http.Request{Method: fr.method, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header: http.Header{}, Close: fr.close, RemoteAddr: sc.remote, TLS: sc.tlsState}
	sc.fast.stub = req
	sc.resetResponse(req)
	return &sc.resp
}
