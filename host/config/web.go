package config

import (
	"net/netip"

	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/host/web"
)

// Web is the `web` section: the HTTP and HTTPS front end.
type Web struct {
	web.Config
}

// Enabled reports whether any web listener is configured.
func (w *Web) Enabled() bool { return w != nil && len(w.Listeners) > 0 }

func (d *decoder) webSection(n *yaml.Node, path string, w *Web) {
	c := &w.Config
	d.mapping(n, path,
		field{"listeners", func(n *yaml.Node, p string) {
			d.sequence(n, p, "listeners", func(n *yaml.Node, p string) {
				var l web.Listener
				d.mapping(n, p,
					field{"name", func(n *yaml.Node, p string) { d.str(n, p, &l.Name) }},
					field{"address", func(n *yaml.Node, p string) { d.str(n, p, &l.Address) }},
					field{"tls", func(n *yaml.Node, p string) { d.boolean(n, p, &l.TLS) }},
					field{"h2c", func(n *yaml.Node, p string) { d.boolean(n, p, &l.H2C) }},
					field{"redirect_https", func(n *yaml.Node, p string) { d.boolean(n, p, &l.RedirectHTTPS) }},
					field{"https_port", func(n *yaml.Node, p string) {
						d.integer(n, p, 1, 65535, func(v int64) { l.HTTPSPort = int(v) })
					}},
					field{"proxy_protocol", func(n *yaml.Node, p string) { d.boolean(n, p, &l.ProxyProtocol) }},
					field{"trusted_proxies", func(n *yaml.Node, p string) { l.TrustedProxies = d.prefixes(n, p) }},
					field{"trusted_forwarders", func(n *yaml.Node, p string) { l.TrustedForwarders = d.prefixes(n, p) }},
				)
				// Checked here too (web.Config.Validate checks it for
				// embedders) so the error carries the listener's line.
				if l.ProxyProtocol && len(l.TrustedProxies) == 0 {
					d.errorf(n, p, "proxy_protocol needs trusted_proxies: list the load balancers' addresses (CIDR) that may send a PROXY header")
				} else if !l.ProxyProtocol && len(l.TrustedProxies) > 0 {
					d.errorf(n, p, "trusted_proxies without proxy_protocol has no effect; set proxy_protocol: true or remove it")
				}
				c.Listeners = append(c.Listeners, l)
			})
		}},
		field{"pools", func(n *yaml.Node, p string) {
			d.sequence(n, p, "pools", func(n *yaml.Node, p string) {
				var pl web.Pool
				d.mapping(n, p,
					field{"name", func(n *yaml.Node, p string) { d.str(n, p, &pl.Name) }},
					field{"balance", func(n *yaml.Node, p string) { d.str(n, p, &pl.Balance) }},
					field{"backends", func(n *yaml.Node, p string) {
						d.sequence(n, p, "backends", func(n *yaml.Node, p string) {
							var b web.Backend
							if r := d.resolve(n); r != nil && r.Kind == yaml.ScalarNode {
								d.str(n, p, &b.Address) // "host:port" alone
							} else {
								d.mapping(n, p,
									field{"address", func(n *yaml.Node, p string) { d.str(n, p, &b.Address) }},
									field{"weight", func(n *yaml.Node, p string) {
										d.integer(n, p, 1, 1000, func(v int64) { b.Weight = int(v) })
									}},
								)
							}
							pl.Backends = append(pl.Backends, b)
						})
					}},
					field{"max_fails", func(n *yaml.Node, p string) {
						d.integer(n, p, -1, 1000, func(v int64) { pl.MaxFails = int(v) })
					}},
					field{"fail_timeout", func(n *yaml.Node, p string) { d.duration(n, p, &pl.FailTimeout) }},
					field{"health_path", func(n *yaml.Node, p string) { d.str(n, p, &pl.HealthPath) }},
					field{"health_interval", func(n *yaml.Node, p string) { d.duration(n, p, &pl.HealthInterval) }},
				)
				c.Pools = append(c.Pools, pl)
			})
		}},
		field{"pool", func(n *yaml.Node, p string) { d.str(n, p, &c.Pool) }},
		field{"user_pool", func(n *yaml.Node, p string) { d.str(n, p, &c.UserPool) }},
		field{"read_header_timeout", func(n *yaml.Node, p string) { d.duration(n, p, &c.ReadHeaderTimeout) }},
		field{"idle_timeout", func(n *yaml.Node, p string) { d.duration(n, p, &c.IdleTimeout) }},
		field{"max_header_bytes", func(n *yaml.Node, p string) {
			d.size(n, p, 16<<20, func(v int64) { c.MaxHeaderBytes = int(v) })
		}},
		field{"max_body_bytes", func(n *yaml.Node, p string) { d.size(n, p, 1<<40, func(v int64) { c.MaxBodyBytes = v }) }},
		field{"upstream_dial_timeout", func(n *yaml.Node, p string) { d.duration(n, p, &c.UpstreamDialTimeout) }},
		field{"upstream_header_timeout", func(n *yaml.Node, p string) { d.duration(n, p, &c.UpstreamHeaderTimeout) }},
		field{"upstream_idle_conns", func(n *yaml.Node, p string) {
			d.integer(n, p, 1, 1<<20, func(v int64) { c.UpstreamIdleConns = int(v) })
		}},
		field{"retry_after", func(n *yaml.Node, p string) { d.duration(n, p, &c.RetryAfter) }},
		field{"via", func(n *yaml.Node, p string) { d.str(n, p, &c.Via) }},
		field{"auth_cookie", func(n *yaml.Node, p string) { d.str(n, p, &c.AuthCookie) }},
		field{"max_connections", func(n *yaml.Node, p string) { d.connLimit(n, p, &c.MaxConnections) }},
		field{"max_connections_per_client", func(n *yaml.Node, p string) { d.connLimit(n, p, &c.MaxConnectionsPerClient) }},
		field{"max_pre_request", func(n *yaml.Node, p string) { d.connLimit(n, p, &c.MaxPreRequest) }},
		field{"per_client_exempt", func(n *yaml.Node, p string) { c.PerClientExempt = d.exempt(n, p) }},
	)
}

// prefixes decodes a list of CIDR prefixes (10.0.0.0/8, 2001:db8::/32).
// A bare address is refused rather than read as a /32, so that a
// forgotten mask cannot silently trust less (or more) than meant.
func (d *decoder) prefixes(n *yaml.Node, path string) []netip.Prefix {
	var out []netip.Prefix
	d.sequence(n, path, "CIDR prefixes", func(n *yaml.Node, p string) {
		var s string
		if !d.str(n, p, &s) {
			return
		}
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			d.errorf(n, p, "%q: want a CIDR prefix such as 10.0.0.0/8 (a single address is 10.0.0.1/32)", s)
			return
		}
		out = append(out, pf)
	})
	return out
}
