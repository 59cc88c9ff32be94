// Package admin is Postern's operator interface over HTTP: health and
// readiness probes, Prometheus metrics, the loaded plugins, a reload and a
// route purge, and a status page for a browser.
//
//	GET  /              status page (HTML): listeners, plugins, recent reloads, counters
//	GET  /healthz       200 "ok" while the process serves HTTP at all
//	GET  /readyz        200 once plugins are loaded and listeners are up, else 503 with why
//	GET  /metrics       Prometheus text format (host/metrics, Go runtime, process)
//	GET  /plugins       JSON: every plugin's info and stats
//	POST /reload        re-read the configuration (what SIGHUP does)
//	POST /purge-route   delete a login's cached routes (form: login=..., ip=..., vhost=..., id=...)
//	POST /call          run one hook chain on the live plugins (JSON: hook, fields); no login, no upstream, no event
//	GET  /upstreams     JSON: what the node points at now (lookup URLs, backends, SOAP URLs, memcached)
//
// # Security
//
// The server binds 127.0.0.1:9090 unless told otherwise. On a loopback
// address it needs no token; bound anywhere else it refuses to start
// without one. With a token set, POST endpoints always require it
// ("Authorization: Bearer <token>", compared in constant time); on a
// non-loopback address every endpoint but /healthz and /readyz does.
// POST endpoints refuse cross-site browser requests (Sec-Fetch-Site,
// Origin), and on loopback any request whose Host is not a loopback name
// (DNS rebinding), so a web page open in the operator's browser cannot
// reload or purge. The token is never logged.
//
// The package only reads the front ends' and plugins' state; it changes
// nothing except through the Reload function and the store it is given.
package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/postern/postern/host/admin/adminconfig"
	"github.com/postern/postern/host/connlimit"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/mail"
	"github.com/postern/postern/host/metrics"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/web"
)

// DefaultAddress is where the admin server listens unless configured.
const DefaultAddress = adminconfig.DefaultAddress

// Options configure a Server.
type Options struct {
	// Address is "host:port" to listen on (default DefaultAddress).
	Address string
	// Token is the bearer token; required when Address is not loopback.
	Token string
	// Reload re-reads the configuration, as SIGHUP does, and returns why
	// it failed. Nil: POST /reload answers 501.
	Reload func(ctx context.Context) error
	// Version is shown on the status page and in postern_build_info.
	Version string
	// ConfigFile is the configuration's path, shown on the status page.
	ConfigFile string
	// Refresh, when positive, makes the status page reload itself this
	// often (a ?refresh=N query overrides it).
	Refresh time.Duration
	// Logger receives one line per POST and per server error (default:
	// discard).
	Logger *slog.Logger
}

// Listener describes one front-end listener on the status page and for
// /readyz.
type Listener struct {
	Name     string `json:"name"`
	Protocol string `json:"protocol"` // imap, pop3, http, https
	Address  string `json:"address"`  // as configured
	TLS      string `json:"tls"`      // none, starttls, implicit
	// Bound is the address actually listened on; "" while not up.
	Bound string `json:"bound"`
}

// Sources are the running proxy's parts. Any may be nil.
type Sources struct {
	Plugins *plugin.Host
	Mail    *mail.Server
	Web     *web.Server
	// Limits are the front ends' connection counts and refusals.
	Limits *connlimit.Registry
	// Store is the key-value store the route cache uses (POST
	// /purge-route); nil: the plugin host's store.
	Store kv.Store
	// Listeners returns the listeners and their bound addresses now.
	Listeners func() []Listener
	// Upstreams returns what the node points at now (GET /upstreams).
	Upstreams func() (Upstreams, error)
}

// Server is the admin HTTP server. Create it with New, Start it, then
// Attach the proxy's parts once they run; until then /readyz is 503.
type Server struct {
	opts     Options
	log      *slog.Logger
	loopback bool
	started  time.Time

	collector *metrics.Collector
	registry  *prometheus.Registry
	handler   http.Handler

	src      atomic.Pointer[Sources]
	draining atomic.Bool

	reloads reloadRing

	mu  sync.Mutex
	ln  net.Listener
	srv *http.Server
}

// New checks opts and builds a Server that listens on nothing yet.
func New(opts Options) (*Server, error) {
	if opts.Address == "" {
		opts.Address = DefaultAddress
	}
	loop, err := IsLoopback(opts.Address)
	if err != nil {
		return nil, err
	}
	if !loop && opts.Token == "" {
		return nil, fmt.Errorf("admin: address %s is not loopback: set admin.token (a bearer token clients send) or bind 127.0.0.1", opts.Address)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{opts: opts, log: opts.Logger, loopback: loop, started: time.Now()}
	s.collector = metrics.New(opts.Version)
	s.registry = metrics.Registry(s.collector)
	s.handler = s.routes()
	return s, nil
}

// IsLoopback reports whether addr ("host:port") binds loopback only:
// 127.0.0.0/8, ::1 or "localhost". An empty host (all interfaces) is not.
func IsLoopback(addr string) (bool, error) { return adminconfig.IsLoopback(addr) }

// Collector returns the metrics collector, for wiring a plugin call
// observer into it.
func (s *Server) Collector() *metrics.Collector { return s.collector }

// Handler returns the server's HTTP handler (for tests and embedding).
func (s *Server) Handler() http.Handler { return s.handler }

// Start listens on the configured address and serves in the background.
func (s *Server) Start() error {
	ln, err := net.Listen("tcp", s.opts.Address)
	if err != nil {
		return fmt.Errorf("admin: listen on %s: %w (set admin.address to a free port, or admin.enabled: false)", s.opts.Address, err)
	}
	s.Serve(ln)
	return nil
}

// Serve serves on ln in the background; the Server owns ln.
func (s *Server) Serve(ln net.Listener) {
	srv := &http.Server{
		Handler:           s.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      2 * time.Minute, // a purge over many servers, a slow reload
		IdleTimeout:       time.Minute,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(s.log.Handler(), slog.LevelWarn),
	}
	s.mu.Lock()
	s.ln, s.srv = ln, srv
	s.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("admin: server stopped", "error", err.Error())
		}
	}()
}

// Addr returns the bound address, or nil before Start.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Shutdown stops the server, waiting for requests in flight until ctx ends.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	srv := s.srv
	s.mu.Unlock()
	if srv == nil {
		return nil
	}
	return srv.Shutdown(ctx)
}

// Attach gives the server the running proxy's parts. /readyz turns 200
// once plugins are attached and every listener is bound.
func (s *Server) Attach(src Sources) {
	s.src.Store(&src)
	s.collector.Set(metrics.Sources{Plugins: src.Plugins, Mail: src.Mail, Web: src.Web, Limits: src.Limits})
	s.samplePluginReloads()
}

// Drain makes /readyz answer 503 from now on: the process is stopping.
func (s *Server) Drain() { s.draining.Store(true) }

// RecordReload records a configuration reload (source "sighup" or "api")
// for the status page and the metrics.
func (s *Server) RecordReload(at time.Time, source string, took time.Duration, err error) {
	s.collector.ConfigReloaded(at, err)
	ev := ReloadEvent{At: at, Kind: "config", Name: s.opts.ConfigFile, Source: source, Took: took}
	if err != nil {
		ev.Error = err.Error()
	}
	s.reloads.add(ev)
}

func (s *Server) sources() Sources {
	if p := s.src.Load(); p != nil {
		return *p
	}
	return Sources{}
}

// ready reports whether the proxy serves, and if not, why.
func (s *Server) ready() (bool, []string) {
	if s.draining.Load() {
		return false, []string{"shutting down"}
	}
	src := s.src.Load()
	if src == nil || src.Plugins == nil {
		return false, []string{"plugins not loaded yet"}
	}
	var why []string
	if src.Listeners != nil {
		for _, l := range src.Listeners() {
			if l.Bound == "" {
				why = append(why, fmt.Sprintf("listener %s (%s) not up", l.Name, l.Address))
			}
		}
	}
	return len(why) == 0, why
}

func (s *Server) routes() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /healthz", s.healthz)
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.registry, promhttp.HandlerOpts{
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelWarn), ErrorHandling: promhttp.ContinueOnError,
	}))
	mux.HandleFunc("GET /plugins", s.plugins)
	mux.HandleFunc("POST /reload", s.reload)
	mux.HandleFunc("POST /purge-route", s.purgeRoute)
	mux.HandleFunc("POST /call", s.call)
	mux.HandleFunc("GET /upstreams", s.upstreams)
	mux.HandleFunc("GET /{$}", s.status)
	// Go's profiler, behind the same guard as every other endpoint
	// (loopback, or the bearer token elsewhere): a CPU profile of a node
	// under load is how its cost is found (RATIONALE.md "Performance").
	mux.HandleFunc("GET /debug/pprof/", pprof.Index)
	mux.HandleFunc("GET /debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("GET /debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("GET /debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("GET /debug/pprof/trace", pprof.Trace)
	return s.guard(mux)
}
