package web

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugin"
)

// handler serves one listener.
type handler struct {
	s  *Server
	l  Listener
	ls *listenerStats
}

type stateKey struct{}

// reqState is one request's decisions, shared by the handler, the
// reverse proxy's hooks and the upstream transport through the context.
type reqState struct {
	f      *plugin.Fields
	client netip.Addr // the client: the peer, or from X-Forwarded-For of a trusted forwarder
	peer   netip.Addr // the direct peer (after a PROXY header), appended to X-Forwarded-For
	https  bool

	route []string // plugin-chosen upstreams, tried in order
	pool  *pool    // else the balanced pool
	via   *pool    // the pool whose transport (TLS settings) reaches the backend
	rt    *route   // the matching Config.Routes entry; nil: none

	ls *listenerStats // the listener's counters
	bs *backendStats  // the last backend tried's counters; nil: none tried

	rel releaseBody // the response body's least-conn release (releaseOnClose)

	upstream  string // last backend tried
	connected bool   // a backend answered
	upStatus  int    // the backend's status (101 for an upgrade)
	errStatus int    // the status the error handler chose
	errMsg    string // why, for the log

	verdicts []byte // "login=continue route=done:x ..." for the log

	clientIP, peerIP string    // client and peer as text, formatted once
	fwd              [5]string // X-Forwarded-For, X-Real-Ip, X-Forwarded-Proto, X-Forwarded-Host values; an empty User-Agent (forward)

	forwardState // forward's outbound URL, guarded body and 1xx trace

	reuse reuseState // decision reuse (reuse.go)
}

// request is what every request allocates up front, in one allocation
// instead of nine: its state (with the forwarding header values), the
// counting writer, the plugin fields and the access log's attributes.
type request struct {
	st    reqState
	lw    logWriter
	f     plugin.Fields
	hf    plugin.HTTPFields
	attrs [16]slog.Attr
	vbuf  [64]byte // room for the usual verdicts
}

func stateFrom(ctx context.Context) *reqState {
	st, _ := ctx.Value(stateKey{}).(*reqState)
	return st
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s := h.s
	start := time.Now()
	rq := new(request)
	lw := &rq.lw
	lw.ResponseWriter = w
	peer := clientAddr(r)
	client := peer
	if len(h.l.TrustedForwarders) > 0 {
		client = realClient(peer, r.Header["X-Forwarded-For"], h.l.TrustedForwarders)
	}
	f := &rq.f
	*f = plugin.Fields{
		Protocol:     "http",
		Listener:     h.l.Name,
		SessionID:    s.newID(),
		Client:       client,
		Local:        localAddr(r),
		AuthMethod:   "none",
		LoginAttempt: 1,
		HTTP:         &rq.hf,
	}
	rq.hf = plugin.HTTPFields{
		Method: r.Method,
		Host:   r.Host,
		Path:   r.URL.EscapedPath(),
		Query:  r.URL.RawQuery,
		Header: r.Header, // rewrite plugins edit the request's own headers
	}
	if r.TLS != nil {
		f.TLSVersion = tlsVersion(r.TLS)
		f.TLSCipher = tls.CipherSuiteName(r.TLS.CipherSuite)
		f.SNI = r.TLS.ServerName
	}
	if user, pass, ok := r.BasicAuth(); ok {
		f.Login, f.Password, f.AuthMethod = user, pass, "basic"
	} else if hasCookie(r, s.cfg.AuthCookie) {
		f.AuthMethod = "cookie"
	}
	st := &rq.st
	*st = reqState{f: f, client: client.Addr(), peer: peer.Addr(), https: r.TLS != nil, ls: h.ls}
	st.verdicts = rq.vbuf[:0]
	st.clientIP = st.client.String()
	st.peerIP = st.clientIP
	if st.peer != st.client {
		st.peerIP = st.peer.String()
	}
	defer func() { s.finish(r, rq, start) }()

	maxBody := s.cfg.MaxBodyBytes
	if rt := s.matchRoute(r); rt != nil {
		st.rt = rt
		rq.hf.Pool = rt.pool.name
		maxBody = rt.maxBody
		if rt.noWebSocket && isWebSocket(r) {
			s.fail(lw, st, http.StatusForbidden, "WebSocket is not allowed here", "websocket refused by route "+rt.name)
			return
		}
	}
	if maxBody > 0 {
		if r.ContentLength > maxBody {
			s.fail(lw, st, http.StatusRequestEntityTooLarge, "", "request body over max_body_bytes")
			return
		}
		if r.Body != nil && r.Body != http.NoBody {
			r.Body = http.MaxBytesReader(lw, r.Body, maxBody)
		}
	}
	if !s.runChains(lw, r, st, &h.l) {
		return
	}
	// The plugins edit the request's header map through the fields; a
	// call that failed after a header write has its fields restored from
	// a snapshot, a copy of the map, which the request must send instead
	// of its own (which kept the failed write).
	if fh := rq.hf.Header; fh != nil {
		r.Header = fh
	}
	if code, loc := f.HTTP.RedirectCode, f.HTTP.RedirectURL; code != 0 {
		if loc != "" {
			lw.Header().Set("Location", loc)
			writeStatus(lw, code, "")
			return
		}
		s.log.Warn("redirect_code without redirect_url ignored", "request", f.SessionID, "code", code)
	}
	stream := st.rt != nil && st.rt.noBuffering
	st.reuse.sent = true
	switch {
	case !isUpgrade(r):
		s.forward(lw, r, st, stream)
	case stream:
		// Upgrades (WebSocket) keep the reverse proxy: it hijacks the
		// client's connection for the 101 and copies both ways.
		s.stream.ServeHTTP(lw, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
	default:
		s.proxy.ServeHTTP(lw, r.WithContext(context.WithValue(r.Context(), stateKey{}, st)))
	}
	if st.reuse.keyed {
		s.settleDecision(st)
	}
	if st.connected && !st.reuse.reused && s.plugins != nil && s.plugins.Hears(abi.EventRouteDecided) {
		f.Upstream = st.upstream
		// Only when a listener's request filter wants this request: no
		// goroutine for an anonymous request a route cache ignores.
		if s.plugins.HearsFor(abi.EventRouteDecided, f) {
			s.fireRouteDecided(lw, r.Context(), f)
		}
	}
}

// maxEventsInFlight bounds the route_decided events running behind
// responses. Past it, an event runs on the request's goroutine after the
// response was flushed: a store that stalls slows its own listeners'
// clients' next requests on that connection, never the response itself,
// and event goroutines cannot pile up without bound.
const maxEventsInFlight = 256

// fireRouteDecided delivers route_decided without delaying the response.
// net/http sends a response with a Content-Length only when the handler
// returns (or on a flush), so an event fired on the handler's goroutine
// would hold the response for as long as the event takes (a store write:
// up to the store's timeout). The event runs on its own goroutine, the
// handler returns and net/http completes the response; f belongs to the
// request's own allocation, which nothing reuses, and events only read it.
func (s *Server) fireRouteDecided(w http.ResponseWriter, ctx context.Context, f *plugin.Fields) {
	ctx = context.WithoutCancel(ctx)
	select {
	case s.eventSem <- struct{}{}:
		s.events.Add(1)
		go func() {
			defer func() { <-s.eventSem; s.events.Done() }()
			_ = s.plugins.Fire(ctx, abi.EventRouteDecided, f)
		}()
	default:
		// Too many events in flight: finish the response first, then run
		// this one here.
		_ = http.NewResponseController(w).Flush()
		_ = s.plugins.Fire(ctx, abi.EventRouteDecided, f)
	}
}

// runChains runs login, throttle, route and rewrite and answers the
// client when one ends the request. It returns false when it answered.
//
// A request that takes a kept decision (reuse.go) runs rewrite only; one
// that may keep its decision keeps it after the route chain.
func (s *Server) runChains(w http.ResponseWriter, r *http.Request, st *reqState, l *Listener) bool {
	f := st.f
	ctx := r.Context()
	hooks := abi.RequestHooks
	if s.reuseDecision(r, st, l) {
		if !s.choosePool(w, st, plugin.Result{}) {
			return false
		}
		hooks = hooks[reusedHooks:]
	}
	delayed := false
	for _, hook := range hooks {
		var res plugin.Result
		if s.plugins != nil && s.plugins.Serves(hook) {
			res = s.plugins.Run(ctx, hook, f)
			st.addVerdict(hook, res)
		}
		switch res.Verdict {
		case abi.VerdictRefuse:
			if hook == abi.HookThrottle {
				ra := s.cfg.RetryAfter
				if f.Delay > 0 {
					ra = f.Delay
				}
				w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(ra.Seconds()))))
				s.fail(w, st, http.StatusTooManyRequests, f.Message, "throttled by "+res.Plugin)
				return false
			}
			s.fail(w, st, http.StatusForbidden, f.Message, "refused by "+res.Plugin)
			return false
		case abi.VerdictTempFail:
			why := "temporary failure in " + res.Plugin
			if res.Err != nil {
				why = res.Err.Error()
			}
			s.fail(w, st, http.StatusServiceUnavailable, f.Message, why)
			return false
		}
		if hook == abi.HookRoute {
			pool := f.HTTP.Pool
			if !s.choosePool(w, st, res) {
				return false
			}
			s.keepDecision(st, pool, delayed || f.Delay > 0)
		}
		if f.Delay > 0 {
			delayed = true
			d := f.Delay
			f.Delay = 0
			t := time.NewTimer(d)
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				st.errStatus, st.errMsg = 499, "client went away during a delay"
				return false
			}
		}
	}
	return true
}

// choosePool decides where the request goes after the route chain: a
// plugin's upstreams; else the pool the pool field names (the matching
// route's, or one a plugin named); else UserPool with a user, Pool
// without. It answers the client and returns false when it cannot.
func (s *Server) choosePool(w http.ResponseWriter, st *reqState, res plugin.Result) bool {
	f := st.f
	var named *pool
	if name := f.HTTP.Pool; name != "" {
		if named = s.pools[name]; named == nil {
			s.log.Error("route plugin named an unknown pool", "plugin", res.Plugin, "pool", name, "request", f.SessionID)
			s.fail(w, st, http.StatusBadGateway, "", "unknown pool "+strconv.Quote(name)+" from route plugin "+res.Plugin)
			return false
		}
	}
	fallback := named
	if fallback == nil {
		if f.EffectiveAccount() != "" {
			fallback = s.userPool
		} else {
			fallback = s.defPool
		}
	}
	switch {
	case len(f.Upstreams) > 0:
		st.route = f.Upstreams
		st.via = fallback
	case named != nil:
		st.pool, st.via = named, named
	case res.Verdict == abi.VerdictDone:
		s.log.Warn("route plugin decided with no upstreams", "plugin", res.Plugin, "request", f.SessionID)
		s.fail(w, st, http.StatusServiceUnavailable, "", "route plugin "+res.Plugin+" set no upstreams")
		return false
	default:
		st.pool, st.via = fallback, fallback
	}
	f.HTTP.Pool = ""
	if st.pool != nil {
		f.HTTP.Pool = st.pool.name // what rewrite and route_decided read
	}
	return true
}

func (st *reqState) addVerdict(hook abi.Hook, res plugin.Result) {
	if res.Plugin == "" && res.Verdict == abi.VerdictContinue {
		return // no plugin had an opinion: keep the log line short
	}
	if len(st.verdicts) > 0 {
		st.verdicts = append(st.verdicts, ' ')
	}
	st.verdicts = append(st.verdicts, hook.String()...)
	st.verdicts = append(st.verdicts, '=')
	st.verdicts = append(st.verdicts, res.Verdict.String()...)
	if res.Plugin != "" {
		st.verdicts = append(st.verdicts, ':')
		st.verdicts = append(st.verdicts, res.Plugin...)
	}
}

// fail answers with status and a small text body: msg (a plugin's
// message) or the status text. why goes to the access log only.
func (s *Server) fail(w http.ResponseWriter, st *reqState, status int, msg, why string) {
	st.errStatus, st.errMsg = status, why
	writeStatus(w, status, msg)
}

func writeStatus(w http.ResponseWriter, status int, msg string) {
	if msg == "" {
		msg = http.StatusText(status)
	}
	h := w.Header()
	h.Set("Content-Type", "text/plain; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(msg + "\n"))
}

func hasCookie(r *http.Request, name string) bool {
	for _, line := range r.Header["Cookie"] {
		if strings.Contains(line, name) {
			if _, err := r.Cookie(name); err == nil {
				return true
			}
			return false
		}
	}
	return false
}

// finish counts the request and writes its access log line.
func (s *Server) finish(r *http.Request, rq *request, start time.Time) {
	lw, st := &rq.lw, &rq.st
	status := lw.status
	if status == 0 {
		status = st.upStatus
	}
	if status == 0 {
		status = st.errStatus
	}
	d := time.Since(start)
	st.ls.count(st.bs, status, d, lw.bytes)
	s.logAccess(r, rq, status, d)
}

// count counts one answered request of the listener (nil: none): its
// duration, body bytes sent, and status class by the backend that
// answered (bs; nil: none did).
func (ls *listenerStats) count(bs *backendStats, status int, d time.Duration, bytesOut int64) {
	if ls == nil {
		return
	}
	ls.duration.observe(d)
	ls.bytesOut.Add(bytesOut)
	if bs != nil {
		bs.byListener[ls.idx][classOf(status)].Add(1)
	} else {
		ls.noUp[classOf(status)].Add(1)
	}
}

// logAccess writes the request's access log line. It never logs a cookie,
// an Authorization value, a query (tokens travel there) or a password.
// The attributes live in the request's own allocation; nothing is built
// when the access logger is off at Info.
func (s *Server) logAccess(r *http.Request, rq *request, status int, d time.Duration) {
	if !s.access.Enabled(context.Background(), accessLevel) {
		return
	}
	lw, st := &rq.lw, &rq.st
	e := accessEntry{
		id: st.f.SessionID, listener: st.f.Listener, client: st.clientIP, user: st.f.EffectiveAccount(),
		host: r.Host, method: r.Method, path: r.URL.EscapedPath(), proto: r.Proto, status: status,
		bytes: lw.bytes, upstream: st.upstream, d: d, errMsg: st.errMsg,
	}
	if st.peer != st.client {
		e.peer = st.peerIP
	}
	if st.rt != nil {
		e.route = st.rt.name
	}
	if len(st.verdicts) > 0 {
		e.plugins = string(st.verdicts)
	}
	s.writeAccess(&e, rq.attrs[:0])
}

// accessLevel is the level of access log lines.
const accessLevel = slog.LevelInfo

// accessEntry is one access log line: the full path's (logAccess) and the
// fast path's (finishFast) are written by writeAccess alike.
type accessEntry struct {
	id, listener, client, peer, user string
	host, method, path, proto        string
	status                           int
	bytes                            int64
	upstream, route, plugins, errMsg string // "": left out (upstream always written)
	d                                time.Duration
}

// writeAccess writes e; attrs is room for its attributes (nil: the
// function's own).
func (s *Server) writeAccess(e *accessEntry, attrs []slog.Attr) {
	attrs = append(attrs,
		slog.String("request", e.id),
		slog.String("listener", e.listener),
		slog.String("client", e.client),
		slog.String("user", e.user),
		slog.String("host", e.host),
		slog.String("method", e.method),
		slog.String("path", e.path),
		slog.String("proto", e.proto),
		slog.Int("status", e.status),
		slog.Int64("bytes", e.bytes),
		slog.String("upstream", e.upstream),
		slog.Duration("duration", e.d),
	)
	if e.peer != "" {
		attrs = append(attrs, slog.String("peer", e.peer))
	}
	if e.route != "" {
		attrs = append(attrs, slog.String("route", e.route))
	}
	if e.plugins != "" {
		attrs = append(attrs, slog.String("plugins", e.plugins))
	}
	if e.errMsg != "" {
		attrs = append(attrs, slog.String("error", e.errMsg))
	}
	// One group attribute without a key: handlers inline its attributes
	// (the slog.Handler contract), and the record needs no slice of its
	// own for the ones past its five inline slots.
	s.access.LogAttrs(context.Background(), accessLevel, "http request", slog.Attr{Value: slog.GroupValue(attrs...)})
}

// logWriter counts what the client was sent.
type logWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
}

func (w *logWriter) WriteHeader(code int) {
	if w.status == 0 && code >= 200 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *logWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	return n, err
}

// Flush lets streamed responses reach the client as they arrive.
func (w *logWriter) Flush() {
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// Hijack hands the connection over for Upgrade responses.
func (w *logWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return http.NewResponseController(w.ResponseWriter).Hijack()
}

// Unwrap gives http.ResponseController the underlying writer.
func (w *logWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// redirectHandler sends every request of a plain listener to https.
type redirectHandler struct{ port int }

func (h *redirectHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	host := r.Host
	if hh, _, err := net.SplitHostPort(host); err == nil {
		host = hh
		if strings.Contains(host, ":") {
			host = "[" + host + "]"
		}
	}
	if host == "" {
		writeStatus(w, http.StatusBadRequest, "")
		return
	}
	if h.port != 0 && h.port != 443 {
		host = host + ":" + strconv.Itoa(h.port)
	}
	code := http.StatusPermanentRedirect
	if r.Method == http.MethodGet || r.Method == http.MethodHead {
		code = http.StatusMovedPermanently
	}
	w.Header().Set("Location", "https://"+host+r.URL.RequestURI())
	writeStatus(w, code, "")
}

// statusFor maps a proxy error to the client's status.
func statusFor(err error) (int, string) {
	var mbe *http.MaxBytesError
	var ne net.Error
	switch {
	case errors.Is(err, errNoBackend):
		return http.StatusServiceUnavailable, err.Error()
	case errors.As(err, &mbe):
		return http.StatusRequestEntityTooLarge, "request body over max_body_bytes"
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		return http.StatusGatewayTimeout, fmt.Sprintf("backend timeout: %v", err)
	}
	return http.StatusBadGateway, fmt.Sprintf("backend failed: %v", err)
}
