// Package web is Postern's HTTP and HTTPS reverse proxy front end: it
// terminates TLS with a certificate per virtual host (host/tlsstore),
// runs the plugin chains login → throttle → route → rewrite on every
// request, and proxies to the user's mailbox server or to a load-balanced
// pool, streaming bodies both ways (HTTP/1.1, h2 over TLS, optional h2c,
// WebSocket and other Upgrade requests).
//
// # How a request is handled
//
//  1. Fields are filled: protocol "http", listener, request id, client and
//     local addresses, TLS version/cipher/SNI, method, host, escaped path,
//     raw query and the request headers (cookies are read from them).
//     Basic auth gives login, password and auth_method "basic"; the auth
//     cookie (ZM_AUTH_TOKEN) gives auth_method "cookie"; else "none".
//     Other ways of finding the user (a path, a token) are a login plugin's.
//  2. login: Refuse → 403, TempFail → 503.
//  3. throttle: Refuse → 429 with Retry-After (delay_ms, else
//     Config.RetryAfter), TempFail → 503; a delay_ms is waited.
//  4. route: the first of Config.Routes matching the request (checked
//     before login) fills the pool field and sets the request's options.
//     Upstreams set → tried in order (the next on a connect failure).
//     Else a pool named by the pool field → that pool (an unknown name:
//     502). None and the chain continued → Config.UserPool when there is
//     a user, else Config.Pool, balanced. Done with no upstreams → 503.
//     Pools with TLS are reached over HTTPS (h2 when offered).
//  5. rewrite: path, query, host and headers are taken from the fields;
//     redirect_code with redirect_url answers with that redirect.
//  6. The request is proxied. Connect failures try another backend;
//     idempotent requests without a body are also retried on other
//     errors before a response arrived. Errors map to 502 (backend
//     failed), 503 (no backend), 504 (timeout), 413 (body too large).
//  7. route_decided is fired with upstream set, on its own goroutine
//     (at most 256 in flight; past that after a flush of the response), so
//     a slow event never delays the response.
//  8. One access log line (never a cookie, Authorization value or
//     password).
//
// Lifecycle: New, Start, then Shutdown. Certificates and plugins are
// owned by the caller and outlive the server.
package web

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/netip"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/host/connlimit"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/tlsstore"
	"github.com/postern/postern/host/web/internal/balance"
)

// Options are what New needs besides the Config.
type Options struct {
	Config Config
	// Certs serves the TLS listeners; required when any listener has TLS.
	Certs *tlsstore.Store
	// Plugins runs the hook chains; nil means no plugins (the built-in
	// defaults only).
	Plugins *plugin.Host
	// Logger receives the server's own logs; nil means slog.Default().
	Logger *slog.Logger
	// AccessLog receives one line per request; nil means Logger.
	AccessLog *slog.Logger
	// Limiter counts connections against the Config's connection limits
	// and holds the process-wide session cap (shared with the mail front
	// end, and across reloads); nil: the Server's own, without a session
	// cap.
	Limiter *connlimit.Registry
}

// Server is the web front end. Safe for concurrent use.
type Server struct {
	cfg     Config
	certs   *tlsstore.Store
	plugins *plugin.Host
	log     *slog.Logger
	access  *slog.Logger

	pools     map[string]*pool
	defPool   *pool // no user
	userPool  *pool // user, no route
	routes    []*route
	dialer    net.Dialer     // its Timeout is the web-level one; routes change it per dial
	hdrMax    time.Duration  // the transports' ResponseHeaderTimeout: the longest of any route
	transport upstreamClient // plain backends; TLS pools have their own
	proxy     *httputil.ReverseProxy
	stream    *httputil.ReverseProxy // proxy with FlushInterval -1 (routes with NoBuffering)

	idPrefix string
	idSeq    atomic.Uint64

	stats *stats     // counters for the exporters (Stats)
	loops eventLoops // the event loops (Config.NoEventLoop), started by the first connection

	limiter *connlimit.Registry // connection counts (limits.go)

	eventSem chan struct{} // route_decided events running behind responses
	// decisions are the kept login, throttle and route decisions (decision
	// reuse, reuse.go); nil with Config.NoDecisionReuse.
	decisions *decisions
	events    sync.WaitGroup // those events, waited for by Shutdown

	mu            sync.Mutex
	servers       []frontServer
	listeners     map[string]net.Listener
	stop          chan struct{}
	healthStarted bool
	wg            sync.WaitGroup
}

// upstreamClient reaches backends: an *h1Client (plain backends, the
// default) or an *http.Transport (TLS pools, upstream_client net/http).
type upstreamClient interface {
	http.RoundTripper
	CloseIdleConnections()
}

// frontServer serves one listener: an *http.Server (TLS, h2c, or
// Config.Server "net/http") or an *h1Server (plain listeners).
type frontServer interface {
	Shutdown(ctx context.Context) error
	Close() error
}

// pool is a configured pool with its balancer.
type pool struct {
	name      string
	bal       *balance.Pool
	cfg       Pool
	stats     *poolStats
	transport upstreamClient // the Server's plain one, or this TLS pool's own
	scheme    string         // "http" or "https"
}

// New checks the configuration and builds the server without listening.
func New(opts Options) (*Server, error) {
	if err := opts.Config.Validate(); err != nil {
		return nil, err
	}
	cfg := opts.Config.withDefaults()
	for i, l := range cfg.Listeners {
		if l.TLS && opts.Certs == nil {
			return nil, fmt.Errorf("web: listeners[%d] (%s) has TLS but no certificate store was given; configure tls certificates", i, l.Name)
		}
	}
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	log = log.With("component", "web")
	access := opts.AccessLog
	if access == nil {
		access = log
	}
	var idb [4]byte
	_, _ = rand.Read(idb[:])
	s := &Server{
		cfg: cfg, certs: opts.Certs, plugins: opts.Plugins, log: log, access: access,
		pools: map[string]*pool{}, idPrefix: hex.EncodeToString(idb[:]) + "-",
		listeners: map[string]net.Listener{}, stop: make(chan struct{}),
		eventSem: make(chan struct{}, maxEventsInFlight),
		limiter:  opts.Limiter,
	}
	if s.limiter == nil {
		s.limiter = connlimit.New()
	}
	if !cfg.NoDecisionReuse {
		s.decisions = newDecisions()
	}
	for _, pc := range cfg.Pools {
		mode, _ := balance.ParseMode(pc.Balance)
		var specs []balance.Spec
		for _, b := range pc.Backends {
			specs = append(specs, balance.Spec{Addr: b.Address, Weight: b.Weight})
		}
		bp, err := balance.New(balance.Options{Mode: mode, Backends: specs, MaxFails: pc.MaxFails, FailTimeout: pc.FailTimeout})
		if err != nil {
			return nil, fmt.Errorf("web: pool %s: %w", pc.Name, err)
		}
		s.pools[pc.Name] = &pool{name: pc.Name, bal: bp, cfg: pc}
	}
	s.stats = newStats(s)
	s.defPool = s.pools[cfg.Pool]
	s.userPool = s.pools[cfg.UserPool]
	s.routes = s.compileRoutes()
	s.hdrMax = cfg.UpstreamHeaderTimeout
	for _, r := range s.routes {
		s.hdrMax = max(s.hdrMax, r.headerTimeout)
	}
	s.dialer = net.Dialer{Timeout: cfg.UpstreamDialTimeout, KeepAlive: 30 * time.Second}
	if cfg.UpstreamClient == UpstreamClientNetHTTP {
		s.transport = s.newTransport()
	} else {
		s.transport = s.newH1Client(s.newTransport())
	}
	for _, pc := range cfg.Pools {
		p := s.pools[pc.Name]
		p.transport, p.scheme = s.transport, "http"
		if pc.TLS.Enabled {
			tc, err := upstreamTLS(pc.TLS)
			if err != nil {
				return nil, fmt.Errorf("web: pool %s: tls: %w", pc.Name, err)
			}
			tr := s.newTransport()
			tr.TLSClientConfig = tc
			tr.ForceAttemptHTTP2 = true // h2 when the backend offers it (ALPN)
			p.transport = tr
			p.scheme = "https"
		}
	}
	s.proxy = &httputil.ReverseProxy{
		Rewrite:        s.rewrite,
		Transport:      &upstreamTransport{s: s},
		ErrorHandler:   s.proxyError,
		ModifyResponse: s.modifyResponse,
		BufferPool:     bufferPool{},
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	// The unbuffered proxy is a copy: configure s.proxy fully above.
	stream := *s.proxy
	stream.FlushInterval = -1
	s.stream = &stream
	return s, nil
}

// noEventLoops keeps every listener off the event loops whatever
// Config.NoEventLoop says: this package's tests set it
// (POSTERN_WEB_EVENT_LOOP=off) to run the whole suite a goroutine per
// connection.
var noEventLoops bool

// Start listens on every listener and serves in the background. On an
// error nothing is left listening.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var lns []net.Listener
	for _, l := range s.cfg.Listeners {
		ln, err := net.Listen("tcp", l.Address)
		if err != nil {
			for _, o := range lns {
				o.Close()
			}
			return fmt.Errorf("web: listener %s: %w; is another process using %s?", l.Name, err, l.Address)
		}
		lns = append(lns, ln)
	}
	for i, l := range s.cfg.Listeners {
		s.serveLocked(lns[i], l)
	}
	s.startHealthLocked()
	return nil
}

// Serve serves the named listener on ln, a socket the caller opened (a
// configuration reload hands over the previous front end's socket this
// way). Call it once per listener instead of Start; it takes ln.
func (s *Server) Serve(ln net.Listener, name string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, l := range s.cfg.Listeners {
		if l.Name == name {
			s.serveLocked(ln, l)
			s.startHealthLocked()
			return nil
		}
	}
	ln.Close()
	return fmt.Errorf("web: no listener named %q in the configuration", name)
}

func (s *Server) serveLocked(ln net.Listener, l Listener) {
	s.listeners[l.Name] = ln
	if l.ProxyProtocol {
		ln = &proxyListener{Listener: ln, name: l.Name, trusted: l.TrustedProxies, timeout: proxyHeaderTimeout, log: s.log}
	}
	ln = s.limitListener(ln, l)
	srv := s.httpServer(l)
	var fs frontServer = srv
	var serve func() error
	switch {
	case l.TLS && s.cfg.Server == ServerNetHTTP:
		serve = func() error { return srv.ServeTLS(ln, "", "") }
	case l.TLS:
		hs := newH1TLSServer(srv)
		fs = hs
		serve = func() error { return hs.Serve(ln) }
	case l.H2C || s.cfg.Server == ServerNetHTTP:
		serve = func() error { return srv.Serve(ln) }
	default:
		hs := newH1Server(srv)
		fs = hs
		serve = func() error { return hs.Serve(ln) }
	}
	if hs, ok := fs.(*h1Server); ok {
		hs.sendTimeout = s.cfg.SendTimeout
		for _, ls := range s.stats.listeners {
			if ls.name == l.Name {
				hs.sendLS = ls
			}
		}
		if hs.h2 != nil {
			hs.h2.SendTimeout = s.cfg.SendTimeout
			hs.h2.OnSendTimeout = hs.sendLS.countSendTimeout
		}
	}
	if hs, ok := fs.(*h1Server); ok && !s.cfg.NoFastPath {
		if h, ok := s.handlerFor(l).(*handler); ok {
			hs.fast, hs.authCookie, hs.reuseAuth = h.serveFast, s.cfg.AuthCookie, s.decisions != nil
			if hs.h2 != nil {
				hs.h2.Fast, hs.h2.ConnValue = h.serveFastH2, h2ConnValue
			}
			if !s.cfg.NoEventLoop && !noEventLoops && !l.ProxyProtocol && eventLoopSupported {
				hs.loops, hs.loopH = &s.loops, h
				if hs.h2 != nil {
					hs.h2.LoopFast = h.loopFastH2
				}
			}
		}
	}
	s.servers = append(s.servers, fs)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := serve(); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("listener stopped", "listener", l.Name, "err", err)
		}
	}()
	onLoops := false
	if hs, ok := fs.(*h1Server); ok {
		onLoops = hs.loops != nil
	}
	s.log.Info("listening", "listener", l.Name, "addr", ln.Addr().String(), "tls", l.TLS, "proxy_protocol", l.ProxyProtocol, "event_loop", onLoops)
}

// startHealthLocked starts the active health checks once.
func (s *Server) startHealthLocked() {
	if s.healthStarted {
		return
	}
	s.healthStarted = true
	for _, p := range s.pools {
		if p.cfg.HealthPath != "" {
			s.wg.Add(1)
			go s.healthLoop(p)
		}
	}
}

// Addr returns the address a listener is bound to (with the real port
// when configured with port 0), or nil before Start.
func (s *Server) Addr(listener string) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ln, ok := s.listeners[listener]; ok {
		return ln.Addr()
	}
	return nil
}

// Handler returns the handler of the named listener, for embedding the
// front end in another server; nil for an unknown name. The listener's
// TrustedForwarders apply; ProxyProtocol does not (it belongs to the
// socket, which the embedding server owns).
func (s *Server) Handler(listener string) http.Handler {
	for _, l := range s.cfg.Listeners {
		if l.Name == listener {
			return s.handlerFor(l)
		}
	}
	return nil
}

func (s *Server) handlerFor(l Listener) http.Handler {
	if l.RedirectHTTPS {
		return &redirectHandler{port: l.HTTPSPort}
	}
	h := &handler{s: s, l: l}
	for _, ls := range s.stats.listeners {
		if ls.name == l.Name {
			h.ls = ls
		}
	}
	return h
}

func (s *Server) httpServer(l Listener) *http.Server {
	srv := &http.Server{
		Handler:           s.handlerFor(l),
		ReadHeaderTimeout: s.cfg.ReadHeaderTimeout,
		IdleTimeout:       s.cfg.IdleTimeout,
		MaxHeaderBytes:    s.cfg.MaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelDebug),
		Protocols:         new(http.Protocols),
	}
	srv.Protocols.SetHTTP1(true)
	if l.TLS {
		srv.Protocols.SetHTTP2(true)
		srv.TLSConfig = s.certs.TLSConfig("h2", "http/1.1")
	} else if l.H2C {
		srv.Protocols.SetUnencryptedHTTP2(true)
	}
	limitServer(srv)
	return srv
}

// Shutdown stops accepting, waits for requests in flight until ctx ends
// (then closes them) and for the route_decided events they fired, stops
// health checks and closes idle backend connections. Hijacked connections (WebSocket) are closed by their
// peers; they are not waited for.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	servers := s.servers
	s.servers = nil
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	s.mu.Unlock()
	var errs []error
	for _, srv := range servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
			srv.Close()
		}
	}
	s.wg.Wait()
	s.loops.stop()
	// Events still running behind answered requests, until ctx ends: the
	// caller closes the plugin host next.
	done := make(chan struct{})
	go func() { s.events.Wait(); close(done) }()
	select {
	case <-done:
	case <-ctx.Done():
	}
	if h, ok := s.transport.(*h1Client); ok {
		h.shutdown() // connections still in use are closed when they end, not kept
	}
	s.transport.CloseIdleConnections()
	for _, p := range s.pools {
		p.transport.CloseIdleConnections()
	}
	return errors.Join(errs...)
}

// newID returns a request id: a per-process random prefix and a counter.
func (s *Server) newID() string {
	b := make([]byte, 0, 24)
	b = append(b, s.idPrefix...)
	b = strconv.AppendUint(b, s.idSeq.Add(1), 36)
	return string(b)
}

// healthLoop runs the active checks of one pool until Shutdown.
func (s *Server) healthLoop(p *pool) {
	defer s.wg.Done()
	iv := p.cfg.HealthInterval
	if iv <= 0 {
		iv = 10 * time.Second
	}
	client := &http.Client{
		Transport: p.transport,
		Timeout:   min(iv, 5*time.Second),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
	healthy := map[*balance.Backend]bool{}
	check := func() {
		for _, b := range p.bal.Backends() {
			ok := s.checkOnce(client, p.scheme, b.Addr, p.cfg.HealthPath)
			if was, seen := healthy[b]; (seen || !ok) && was != ok {
				s.log.Warn("backend health changed", "pool", p.name, "backend", b.Addr, "healthy", ok)
			}
			healthy[b] = ok
			p.bal.SetHealthy(b, ok)
		}
	}
	check()
	t := time.NewTicker(iv)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
			check()
		}
	}
}

func (s *Server) checkOnce(c *http.Client, scheme, addr, path string) bool {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-s.stop:
			cancel()
		case <-ctx.Done():
		}
	}()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, scheme+"://"+addr+path, nil)
	if err != nil {
		return false
	}
	req.Header.Set("User-Agent", "postern-health")
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode >= 200 && resp.StatusCode < 400
}

// clientAddr parses r.RemoteAddr.
func clientAddr(r *http.Request) netip.AddrPort {
	ap, _ := netip.ParseAddrPort(r.RemoteAddr)
	return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
}

func localAddr(r *http.Request) netip.AddrPort {
	if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if ta, ok := a.(*net.TCPAddr); ok {
			ap := ta.AddrPort()
			return netip.AddrPortFrom(ap.Addr().Unmap(), ap.Port())
		}
	}
	return netip.AddrPort{}
}

func tlsVersion(st *tls.ConnectionState) string {
	switch st.Version {
	case tls.VersionTLS12:
		return "TLS1.2"
	case tls.VersionTLS13:
		return "TLS1.3"
	}
	return tls.VersionName(st.Version)
}

// bufferPool reuses the 32 KiB copy buffers of the reverse proxy.
type bufferPool struct{}

var buffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

func (bufferPool) Get() []byte  { return *buffers.Get().(*[]byte) }
func (bufferPool) Put(b []byte) { buffers.Put(&b) }
