package web

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/postern/postern/host/web/internal/balance"
)

// Config is the web front end's configuration. Zero durations and limits
// take the defaults named on each field. The lead wires it into the YAML
// configuration; until then an embedder fills it directly.
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

	// ReadHeaderTimeout bounds reading a request's headers; 0 means 10 s.
	ReadHeaderTimeout time.Duration
	// IdleTimeout closes idle client keep-alive connections; 0 means 60 s.
	IdleTimeout time.Duration
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
	// UpstreamIdleConns is the keep-alive pool per backend; 0 means 128.
	UpstreamIdleConns int
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
	def(&d.UpstreamDialTimeout, 5*time.Second)
	def(&d.UpstreamHeaderTimeout, 60*time.Second)
	def(&d.RetryAfter, 60*time.Second)
	if d.MaxHeaderBytes <= 0 {
		d.MaxHeaderBytes = 64 << 10
	}
	if d.UpstreamIdleConns <= 0 {
		d.UpstreamIdleConns = 128
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
	if c.Pool == "" {
		bad("pool: empty; name the pool that serves requests without a user")
	} else if !names["p:"+c.Pool] {
		bad("pool: %q is not among pools", c.Pool)
	}
	if c.UserPool != "" && !names["p:"+c.UserPool] {
		bad("user_pool: %q is not among pools", c.UserPool)
	}
	if c.MaxBodyBytes < 0 || c.MaxHeaderBytes < 0 || c.UpstreamIdleConns < 0 {
		bad("limits: negative value")
	}
	return errors.Join(errs...)
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
