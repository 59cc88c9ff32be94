package web

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/host/web/internal/balance"
)

// Config is the web front end's configuration. Zero durations and limits
// take the defaults named on each field. The `web` section of the
// configuration file decodes into it (Settings.Decode); an embedder fills
// it directly.
type Config struct {
	// Listeners are the HTTP and HTTPS sockets. At least one.
	Listeners []Listener
	// Pools are the named groups of backends.
	Pools []Pool
	// Pool is the load-balanced pool for requests without a user.
	// Required.
	Pool string
	// UserPool serves requests with a user that no route plugin routed;
	// empty means Pool.
	UserPool string
	// Routes map parts of the public host and path space onto pools, as
	// nginx location blocks do: the first route matching a request's
	// host, path and method names its pool and options. A request no
	// route matches goes to UserPool (with a user) or Pool, as without
	// routes. A route plugin's upstreams, or the pool it names, still
	// win (routes.go).
	Routes []Route

	// ReadHeaderTimeout bounds reading a request's headers; 0 means 10 s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle client keep-alive connections; 0 means 60 s.
	IdleTimeout time.Duration
	// SendTimeout closes a client connection that takes none of a
	// response's bytes for this long (nginx's send_timeout: between two
	// writes, not for the whole response), and resets an h2 stream
	// waiting this long for the client's flow-control window; 0 means
	// 60 s. Not with Server "net/http".
	SendTimeout time.Duration
	// MaxHeaderBytes bounds a request's headers (431 above it); 0 means
	// 64 KiB.
	MaxHeaderBytes int
	// MaxBodyBytes bounds a request body (413 above it); 0 means no
	// limit, as Zimbra's proxy allows large attachments.
	MaxBodyBytes int64
	// UpstreamDialTimeout bounds connecting to a backend; 0 means 5 s.
	UpstreamDialTimeout time.Duration
	// UpstreamHeaderTimeout bounds waiting for a backend's response
	// headers (504 after it); 0 means 60 s.
	UpstreamHeaderTimeout time.Duration
	// UpstreamReadTimeout bounds each wait for more of a backend's
	// response body once its headers came (nginx's proxy_read_timeout
	// after the headers): when it passes, the response is cut and so is
	// the client's connection (h2: the stream), as the response is
	// incomplete; 0 means 60 s. Backends reached through net/http's
	// Transport (TLS pools, WebSocket) are not covered.
	UpstreamReadTimeout time.Duration
	// UpstreamIdleConns is the keep-alive pool per backend; 0 means 128.
	UpstreamIdleConns int
	// UpstreamClient is how plain (non-TLS) backends are reached:
	// UpstreamClientLean ("lean", the default for "") exchanges each
	// request on the handler's goroutine over a pool of HTTP/1.1
	// connections (h1client.go); UpstreamClientNetHTTP ("net/http") uses
	// net/http's Transport, as before. TLS pools and upgrade requests
	// (WebSocket) always use net/http's Transport.
	UpstreamClient string
	// Server is what serves plain and TLS listeners: ServerLean
	// ("lean", the default for "") reads each HTTP/1.1 request and
	// writes its response on one goroutine per connection, a small
	// response in one write (h1server.go), and serves the TLS
	// connections that negotiate h2 with the internal/h2 server (a
	// goroutine per stream, HEADERS and DATA in one write, a fast path
	// of its own: fasth2.go); ServerNetHTTP ("net/http") uses net/http's
	// server for both, as before. h2c listeners always use net/http's
	// server.
	Server string
	// NoFastPath sends every request through the full path (handler):
	// its plugins' hooks, net/http's request and response types. By
	// default the lean server serves the requests no plugin wants (by
	// their request filters) on a fast path that forwards their bytes as
	// they came (fastpath.go); `fast_path: false` in the configuration.
	NoFastPath bool
	// NoEventLoop gives every HTTP/1.1 connection (plain or TLS) its
	// goroutine. By default, on Linux, such connections are served
	// on event loops (one per CPU, epoll, no goroutine per connection)
	// for the requests that take the fast path; a connection goes to a
	// goroutine for one that does not, and comes back once it is
	// answered (evloop_linux.go; a TLS connection after its handshake,
	// evloop_tls_linux.go). h2 connections, listeners with ProxyProtocol
	// or H2C, and NoFastPath, never use them. `event_loop: false` in the
	// configuration.
	NoEventLoop bool
	// NoDecisionReuse never reuses a request's login, throttle and route
	// decision for a later request with the same credentials, even when
	// every plugin declared a reuse (ABI 1.2, reuse.go);
	// `decision_reuse: false` in the configuration.
	NoDecisionReuse bool
	// RetryAfter is the Retry-After of a throttle refusal whose plugin set
	// no delay_ms; 0 means 60 s.
	RetryAfter time.Duration
	// Via, when set, is added to the Via header of requests and responses
	// ("1.1 <Via>").
	Via string
	// AuthCookie is the cookie whose presence makes auth_method "cookie";
	// "" means ZM_AUTH_TOKEN. Its value is never logged.
	AuthCookie string

	// Connection limits, per listener, checked when a connection is
	// accepted (the per-client one at the first request when the listener
	// reads PROXY headers). Zero takes the default, a negative value means
	// no limit. A refused client gets 503 with Retry-After and
	// Connection: close.

	// MaxConnections caps one listener's connections (default: no limit;
	// the process-wide session cap applies).
	MaxConnections int
	// MaxConnectionsPerClient caps the connections from one client
	// address to one listener (default 500). The client is the TCP peer,
	// or the PROXY header's source; never X-Forwarded-For, so connections
	// from TrustedForwarders are not limited per client.
	MaxConnectionsPerClient int
	// MaxPreRequest caps one listener's connections that have not yet
	// sent a complete first request: TLS handshakes, PROXY headers and
	// request headers in progress, idle new connections (default 5000).
	MaxPreRequest int
	// PerClientExempt are client addresses MaxConnectionsPerClient does
	// not apply to. Nil: loopback (127.0.0.0/8, ::1); empty: none.
	PerClientExempt []netip.Prefix
}

// The values of Config.UpstreamClient.
const (
	UpstreamClientLean    = "lean"
	UpstreamClientNetHTTP = "net/http"
)

// The values of Config.Server.
const (
	ServerLean    = "lean"
	ServerNetHTTP = "net/http"
)

// Listener is one HTTP or HTTPS socket.
type Listener struct {
	// Name identifies the listener in logs and the listener field.
	Name string
	// Address is host:port to listen on.
	Address string
	// TLS terminates TLS with the certificate store (HTTP/1.1 and h2).
	TLS bool
	// H2C accepts HTTP/2 without TLS (prior knowledge) on a plain
	// listener.
	H2C bool
	// RedirectHTTPS answers every request on this plain listener with a
	// redirect to https:// on HTTPSPort (301 for GET and HEAD, 308
	// otherwise), and proxies nothing.
	RedirectHTTPS bool
	// HTTPSPort is the port in the redirect; 0 or 443 leaves it out.
	HTTPSPort int
	// ProxyProtocol expects every connection to start with a PROXY
	// protocol v1 or v2 header (HAProxy, an AWS NLB), before the TLS
	// ClientHello on a TLS listener. The header's source becomes the
	// client address; a LOCAL or UNKNOWN header (a balancer's health
	// check) keeps the socket's addresses. Connections from addresses
	// outside TrustedProxies, and connections without a valid header
	// within 5 s, are closed. Requires TrustedProxies.
	ProxyProtocol bool
	// TrustedProxies are the balancers allowed to send a PROXY header.
	// Only with ProxyProtocol.
	TrustedProxies []netip.Prefix
	// TrustedForwarders are HTTP proxies whose X-Forwarded-For is
	// believed: when the direct peer (after any PROXY header) is in this
	// list, the client is the rightmost X-Forwarded-For entry that is not
	// itself a trusted forwarder, as nginx's realip module with
	// real_ip_recursive on. From other peers X-Forwarded-For does not
	// change the client address. Empty: never believed.
	TrustedForwarders []netip.Prefix
}

// Pool is a named group of backends with a balancing method and health
// settings.
type Pool struct {
	Name string
	// Balance is round-robin (default), weighted, ip-hash or least-conn.
	Balance string
	// Backends are the members.
	Backends []Backend
	// MaxFails failures within FailTimeout mark a backend down for
	// FailTimeout; 0 means 1, -1 disables passive health.
	MaxFails int
	// FailTimeout: 0 means 10 s.
	FailTimeout time.Duration
	// HealthPath, when set, turns on active checks: GET HealthPath on
	// every backend each HealthInterval; a 2xx or 3xx answer is healthy.
	HealthPath string
	// HealthInterval: 0 means 10 s.
	HealthInterval time.Duration
	// TLS, when Enabled, reaches the backends over TLS (health checks
	// too). The address lists a route plugin names for a request are
	// reached with the TLS settings of the pool the request would
	// otherwise have gone to (its route's pool, else UserPool or Pool).
	TLS PoolTLS
}

// Route is one rule of Config.Routes. Every non-empty condition must
// match; a route without conditions matches every request (a catch-all,
// written last).
type Route struct {
	// Name identifies the route in the access log (route=...) and in
	// errors; "" means "routes[<index>]".
	Name string
	// Hosts are the Host header values the route is for, without the
	// port and in any case: "mail.example.com", or "*.example.com" for
	// any name below example.com (not example.com itself). Empty: any.
	Hosts []string
	// PathPrefix matches the start of the request's path, decoded and
	// with dot segments resolved ("/a/../b" is "/b"), as nginx matches a
	// prefix location: "/app/" matches "/app/x" but not "/app"; "/app"
	// also matches "/application". Empty: any.
	PathPrefix string
	// Methods are the HTTP methods ("GET", exact). Empty: any.
	Methods []string
	// Pool names the pool the route sends requests to. Required.
	Pool string

	// Per-route options; zero values take the web-level settings.

	// DialTimeout bounds connecting to a backend (UpstreamDialTimeout).
	DialTimeout time.Duration
	// HeaderTimeout bounds waiting for the backend's response headers
	// (UpstreamHeaderTimeout): long-poll routes need a longer one.
	HeaderTimeout time.Duration
	// ReadTimeout bounds each wait for more of the response body
	// (UpstreamReadTimeout): streams that go quiet for long need a
	// longer one.
	ReadTimeout time.Duration
	// MaxBodyBytes bounds the request body (413 above it) instead of
	// the web-level MaxBodyBytes; 0 takes that one.
	MaxBodyBytes int64
	// NoBuffering sends every piece of the backend's response to the
	// client as it arrives (a flush after every write, as
	// httputil.ReverseProxy's FlushInterval -1; nginx proxy_buffering off), for long polls and streams whose
	// responses have a Content-Length. (Responses without one, and
	// text/event-stream, are always flushed at once.)
	NoBuffering bool
	// NoWebSocket refuses WebSocket requests (Upgrade: websocket, or an
	// HTTP/2 extended CONNECT for websocket) with 403 before any plugin
	// runs. Other requests are proxied as usual.
	NoWebSocket bool
}

// PoolTLS is how a pool's backends are reached over TLS.
type PoolTLS struct {
	// Enabled speaks TLS to the pool's backends (https). HTTP/2 is used
	// when a backend offers it in ALPN, else HTTP/1.1.
	Enabled bool
	// CAFile is a PEM file of the certificate authorities that sign the
	// backends' certificates; "" means the system's roots.
	CAFile string
	// ServerName is sent as SNI and is the name the backend's
	// certificate must carry; "" means the host of the backend's
	// address (an IP address is then checked against the certificate's
	// IP SANs).
	ServerName string
	// InsecureSkipVerify accepts any certificate the backend presents:
	// the connection is encrypted but anyone on the path can impersonate
	// the backend and read everything, passwords and cookies included.
	// For a test bench only; use CAFile with a private CA instead.
	InsecureSkipVerify bool
	// CertFile and KeyFile are a client certificate (PEM) for backends
	// that require one (mutual TLS). Both or neither.
	CertFile, KeyFile string
}

// Backend is one member of a pool.
type Backend struct {
	Address string // host:port
	Weight  int    // 0 means 1; used by weighted and ip-hash
}

func (c *Config) withDefaults() Config {
	d := *c
	def := func(v *time.Duration, x time.Duration) {
		if *v <= 0 {
			*v = x
		}
	}
	def(&d.ReadHeaderTimeout, 10*time.Second)
	def(&d.IdleTimeout, 60*time.Second)
	def(&d.SendTimeout, 60*time.Second)
	def(&d.UpstreamDialTimeout, 5*time.Second)
	def(&d.UpstreamHeaderTimeout, 60*time.Second)
	def(&d.UpstreamReadTimeout, 60*time.Second)
	def(&d.RetryAfter, 60*time.Second)
	if d.MaxHeaderBytes <= 0 {
		d.MaxHeaderBytes = 64 << 10
	}
	if d.UpstreamIdleConns <= 0 {
		d.UpstreamIdleConns = 128
	}
	if d.UpstreamClient == "" {
		d.UpstreamClient = UpstreamClientLean
	}
	if d.Server == "" {
		d.Server = ServerLean
	}
	if d.AuthCookie == "" {
		d.AuthCookie = "ZM_AUTH_TOKEN"
	}
	if d.UserPool == "" {
		d.UserPool = d.Pool
	}
	d.Listeners = append([]Listener(nil), d.Listeners...)
	for i := range d.Listeners {
		l := &d.Listeners[i]
		l.TrustedProxies = unmapPrefixes(l.TrustedProxies)
		l.TrustedForwarders = unmapPrefixes(l.TrustedForwarders)
	}
	return d
}

// unmapPrefixes returns a copy of ps with IPv4-mapped IPv6 prefixes
// (::ffff:10.0.0.0/104) written as IPv4 ones, because client addresses
// are unmapped before they are matched.
func unmapPrefixes(ps []netip.Prefix) []netip.Prefix {
	if len(ps) == 0 {
		return nil
	}
	out := make([]netip.Prefix, 0, len(ps))
	for _, p := range ps {
		if a := p.Addr(); a.Is4In6() && p.Bits() >= 96 {
			p = netip.PrefixFrom(a.Unmap(), p.Bits()-96)
		}
		out = append(out, p.Masked())
	}
	return out
}

// inPrefixes reports whether a (unmapped) is in one of ps.
func inPrefixes(a netip.Addr, ps []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range ps {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// Validate checks the configuration and returns every problem found, each
// naming the setting (listeners[1].address: ...).
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf("web: "+format, args...)) }
	if len(c.Listeners) == 0 {
		bad("listeners: none; configure at least one address to listen on")
	}
	names := map[string]bool{}
	for i, l := range c.Listeners {
		if l.Name == "" {
			bad("listeners[%d].name: empty; name it for the logs", i)
		} else if names["l:"+l.Name] {
			bad("listeners[%d].name: %q used twice", i, l.Name)
		}
		names["l:"+l.Name] = true
		if _, _, err := net.SplitHostPort(l.Address); err != nil {
			bad("listeners[%d].address: %q is not host:port (%v)", i, l.Address, err)
		}
		if l.RedirectHTTPS && l.TLS {
			bad("listeners[%d]: redirect_https on a TLS listener would loop; set it on the plain listener", i)
		}
		if l.H2C && l.TLS {
			bad("listeners[%d]: h2c is for plain listeners; TLS listeners speak h2 already", i)
		}
		if l.HTTPSPort < 0 || l.HTTPSPort > 65535 {
			bad("listeners[%d].https_port: %d is not a port", i, l.HTTPSPort)
		}
		if l.ProxyProtocol && len(l.TrustedProxies) == 0 {
			bad("listeners[%d].trusted_proxies: empty with proxy_protocol; list the load balancers' addresses (CIDR)", i)
		}
		if !l.ProxyProtocol && len(l.TrustedProxies) > 0 {
			bad("listeners[%d].trusted_proxies: set without proxy_protocol, so it has no effect; set proxy_protocol: true or remove it", i)
		}
		for j, p := range l.TrustedProxies {
			if !p.IsValid() {
				bad("listeners[%d].trusted_proxies[%d]: not a CIDR prefix", i, j)
			}
		}
		for j, p := range l.TrustedForwarders {
			if !p.IsValid() {
				bad("listeners[%d].trusted_forwarders[%d]: not a CIDR prefix", i, j)
			}
		}
	}
	for i, p := range c.PerClientExempt {
		if !p.IsValid() {
			bad("per_client_exempt[%d]: not a CIDR prefix", i)
		}
	}
	for i, p := range c.Pools {
		if p.Name == "" {
			bad("pools[%d].name: empty", i)
		} else if names["p:"+p.Name] {
			bad("pools[%d].name: %q used twice", i, p.Name)
		}
		names["p:"+p.Name] = true
		if _, err := balance.ParseMode(p.Balance); err != nil {
			bad("pools[%d].balance: %v", i, err)
		}
		if len(p.Backends) == 0 {
			bad("pools[%d].backends: none; list at least one host:port", i)
		}
		for j, b := range p.Backends {
			if err := checkHostPort(b.Address); err != nil {
				bad("pools[%d].backends[%d].address: %v", i, j, err)
			}
			if b.Weight < 0 {
				bad("pools[%d].backends[%d].weight: %d is negative", i, j, b.Weight)
			}
		}
		if p.MaxFails < -1 {
			bad("pools[%d].max_fails: %d; use -1 to disable passive health", i, p.MaxFails)
		}
		if p.HealthPath != "" && p.HealthPath[0] != '/' {
			bad("pools[%d].health_path: %q must start with /", i, p.HealthPath)
		}
		if p.FailTimeout < 0 || p.HealthInterval < 0 {
			bad("pools[%d]: negative duration", i)
		}
	}
	for i, r := range c.Routes {
		where := fmt.Sprintf("routes[%d]", i)
		if r.Name != "" {
			where += " (" + r.Name + ")"
		}
		if r.Pool == "" {
			bad("%s.pool: empty; name the pool this route sends requests to", where)
		} else if !names["p:"+r.Pool] {
			bad("%s.pool: %q is not among pools", where, r.Pool)
		}
		for j, h := range r.Hosts {
			if err := checkHostPattern(h); err != nil {
				bad("%s.hosts[%d]: %v", where, j, err)
			}
		}
		if r.PathPrefix != "" && r.PathPrefix[0] != '/' {
			bad("%s.path_prefix: %q must start with /", where, r.PathPrefix)
		}
		for j, m := range r.Methods {
			if m == "" || strings.ToUpper(m) != m || strings.ContainsAny(m, " \t/:") {
				bad("%s.methods[%d]: %q is not an HTTP method in capitals (GET)", where, j, m)
			}
		}
		if r.DialTimeout < 0 || r.HeaderTimeout < 0 || r.ReadTimeout < 0 || r.MaxBodyBytes < 0 {
			bad("%s: negative value", where)
		}
	}
	for i, p := range c.Pools {
		t := p.TLS
		if !t.Enabled && (t.CAFile != "" || t.ServerName != "" || t.InsecureSkipVerify || t.CertFile != "" || t.KeyFile != "") {
			bad("pools[%d].tls: ca_file, server_name, insecure_skip_verify or a client certificate without tls: true has no effect; set tls: true or remove them", i)
		}
		if (t.CertFile == "") != (t.KeyFile == "") {
			bad("pools[%d].tls: cert_file and key_file go together (a client certificate and its key)", i)
		}
		if t.InsecureSkipVerify && t.CAFile != "" {
			bad("pools[%d].tls: insecure_skip_verify ignores ca_file; remove one", i)
		}
	}
	if c.Pool == "" {
		bad("pool: empty; name the pool that serves requests without a user")
	} else if !names["p:"+c.Pool] {
		bad("pool: %q is not among pools", c.Pool)
	}
	if c.UserPool != "" && !names["p:"+c.UserPool] {
		bad("user_pool: %q is not among pools", c.UserPool)
	}
	switch c.UpstreamClient {
	case "", UpstreamClientLean, UpstreamClientNetHTTP:
	default:
		bad("upstream_client: %q; want %q or %q", c.UpstreamClient, UpstreamClientLean, UpstreamClientNetHTTP)
	}
	switch c.Server {
	case "", ServerLean, ServerNetHTTP:
	default:
		bad("server: %q; want %q or %q", c.Server, ServerLean, ServerNetHTTP)
	}
	if c.MaxBodyBytes < 0 || c.MaxHeaderBytes < 0 || c.UpstreamIdleConns < 0 {
		bad("limits: negative value")
	}
	return errors.Join(errs...)
}

// checkHostPattern checks a route's host: a name or "*.suffix".
func checkHostPattern(h string) error {
	name := strings.TrimPrefix(h, "*.")
	if name == "" || strings.ContainsAny(name, "*:/ \t[]") || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") {
		return fmt.Errorf("%q: want a host name such as mail.example.com or *.example.com (no port)", h)
	}
	return nil
}

func checkHostPort(s string) error {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("%q is not host:port (%v)", s, err)
	}
	if h == "" {
		return fmt.Errorf("%q has no host", s)
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port must be 1..65535", s)
	}
	return nil
}
