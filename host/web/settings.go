package web

import (
	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/host/internal/confdecode"
)

// Settings is the `web` section of the configuration file, as data:
// host/config decodes it (Decode), and postern run passes its Config to
// New with the live parts (certificates, plugins, loggers, limiter) in
// Options.
type Settings struct {
	Config
}

// Enabled reports whether any web listener is configured.
func (w *Settings) Enabled() bool { return w != nil && len(w.Listeners) > 0 }

// Decode decodes the section at n (key path path, "web") into w; file
// paths are resolved by d. Config.Validate and the checks that span the
// sections (a TLS listener needs the tls section) are the caller's.
func (w *Settings) Decode(d *confdecode.Decoder, n *yaml.Node, path string) {
	c := &w.Config
	d.Mapping(n, path,
		confdecode.Key("listeners", func(n *yaml.Node, p string) {
			d.Sequence(n, p, "listeners", func(n *yaml.Node, p string) {
				var l Listener
				d.Mapping(n, p,
					confdecode.Key("name", func(n *yaml.Node, p string) { d.Str(n, p, &l.Name) }),
					confdecode.Key("address", func(n *yaml.Node, p string) { d.Str(n, p, &l.Address) }),
					confdecode.Key("tls", func(n *yaml.Node, p string) { d.Bool(n, p, &l.TLS) }),
					confdecode.Key("h2c", func(n *yaml.Node, p string) { d.Bool(n, p, &l.H2C) }),
					confdecode.Key("redirect_https", func(n *yaml.Node, p string) { d.Bool(n, p, &l.RedirectHTTPS) }),
					confdecode.Key("https_port", func(n *yaml.Node, p string) {
						d.Int(n, p, 1, 65535, func(v int64) { l.HTTPSPort = int(v) })
					}),
					confdecode.Key("proxy_protocol", func(n *yaml.Node, p string) { d.Bool(n, p, &l.ProxyProtocol) }),
					confdecode.Key("trusted_proxies", func(n *yaml.Node, p string) { l.TrustedProxies = d.Prefixes(n, p) }),
					confdecode.Key("trusted_forwarders", func(n *yaml.Node, p string) { l.TrustedForwarders = d.Prefixes(n, p) }),
				)
				// Checked here too (Config.Validate checks it for
				// embedders) so the error carries the listener's line.
				if l.ProxyProtocol && len(l.TrustedProxies) == 0 {
					d.Errorf(n, p, "proxy_protocol needs trusted_proxies: list the load balancers' addresses (CIDR) that may send a PROXY header")
				} else if !l.ProxyProtocol && len(l.TrustedProxies) > 0 {
					d.Errorf(n, p, "trusted_proxies without proxy_protocol has no effect; set proxy_protocol: true or remove it")
				}
				c.Listeners = append(c.Listeners, l)
			})
		}),
		confdecode.Key("pools", func(n *yaml.Node, p string) {
			d.Sequence(n, p, "pools", func(n *yaml.Node, p string) {
				var pl Pool
				d.Mapping(n, p,
					confdecode.Key("name", func(n *yaml.Node, p string) { d.Str(n, p, &pl.Name) }),
					confdecode.Key("balance", func(n *yaml.Node, p string) { d.Str(n, p, &pl.Balance) }),
					confdecode.Key("backends", func(n *yaml.Node, p string) {
						d.Sequence(n, p, "backends", func(n *yaml.Node, p string) {
							var b Backend
							if r := d.Resolve(n); r != nil && r.Kind == yaml.ScalarNode {
								d.Str(n, p, &b.Address) // "host:port" alone
							} else {
								d.Mapping(n, p,
									confdecode.Key("address", func(n *yaml.Node, p string) { d.Str(n, p, &b.Address) }),
									confdecode.Key("weight", func(n *yaml.Node, p string) {
										d.Int(n, p, 1, 1000, func(v int64) { b.Weight = int(v) })
									}),
								)
							}
							pl.Backends = append(pl.Backends, b)
						})
					}),
					confdecode.Key("max_fails", func(n *yaml.Node, p string) {
						d.Int(n, p, -1, 1000, func(v int64) { pl.MaxFails = int(v) })
					}),
					confdecode.Key("fail_timeout", func(n *yaml.Node, p string) { d.Duration(n, p, &pl.FailTimeout) }),
					confdecode.Key("health_path", func(n *yaml.Node, p string) { d.Str(n, p, &pl.HealthPath) }),
					confdecode.Key("health_interval", func(n *yaml.Node, p string) { d.Duration(n, p, &pl.HealthInterval) }),
					confdecode.Key("tls", func(n *yaml.Node, p string) { d.Bool(n, p, &pl.TLS.Enabled) }),
					confdecode.Key("ca_file", func(n *yaml.Node, p string) {
						if d.Str(n, p, &pl.TLS.CAFile) {
							pl.TLS.CAFile = d.Path(pl.TLS.CAFile)
						}
					}),
					confdecode.Key("server_name", func(n *yaml.Node, p string) { d.Str(n, p, &pl.TLS.ServerName) }),
					confdecode.Key("insecure_skip_verify", func(n *yaml.Node, p string) { d.Bool(n, p, &pl.TLS.InsecureSkipVerify) }),
					confdecode.Key("cert_file", func(n *yaml.Node, p string) {
						if d.Str(n, p, &pl.TLS.CertFile) {
							pl.TLS.CertFile = d.Path(pl.TLS.CertFile)
						}
					}),
					confdecode.Key("key_file", func(n *yaml.Node, p string) {
						if d.Str(n, p, &pl.TLS.KeyFile) {
							pl.TLS.KeyFile = d.Path(pl.TLS.KeyFile)
						}
					}),
				)
				c.Pools = append(c.Pools, pl)
			})
		}),
		confdecode.Key("routes", func(n *yaml.Node, p string) {
			d.Sequence(n, p, "routes", func(n *yaml.Node, p string) {
				r := Route{}
				buffering, websocket := true, true
				strs := func(n *yaml.Node, p, what string, dst *[]string) {
					d.Sequence(n, p, what, func(n *yaml.Node, p string) {
						var s string
						if d.Str(n, p, &s) {
							*dst = append(*dst, s)
						}
					})
				}
				d.Mapping(n, p,
					confdecode.Key("name", func(n *yaml.Node, p string) { d.Str(n, p, &r.Name) }),
					confdecode.Key("hosts", func(n *yaml.Node, p string) { strs(n, p, "host names", &r.Hosts) }),
					confdecode.Key("path_prefix", func(n *yaml.Node, p string) { d.Str(n, p, &r.PathPrefix) }),
					confdecode.Key("methods", func(n *yaml.Node, p string) { strs(n, p, "HTTP methods", &r.Methods) }),
					confdecode.Key("pool", func(n *yaml.Node, p string) { d.Str(n, p, &r.Pool) }),
					confdecode.Key("dial_timeout", func(n *yaml.Node, p string) { d.Duration(n, p, &r.DialTimeout) }),
					confdecode.Key("header_timeout", func(n *yaml.Node, p string) { d.Duration(n, p, &r.HeaderTimeout) }),
					confdecode.Key("read_timeout", func(n *yaml.Node, p string) { d.Duration(n, p, &r.ReadTimeout) }),
					confdecode.Key("max_body_bytes", func(n *yaml.Node, p string) { d.Size(n, p, 1<<40, func(v int64) { r.MaxBodyBytes = v }) }),
					confdecode.Key("buffering", func(n *yaml.Node, p string) { d.Bool(n, p, &buffering) }),
					confdecode.Key("websocket", func(n *yaml.Node, p string) { d.Bool(n, p, &websocket) }),
				)
				r.NoBuffering, r.NoWebSocket = !buffering, !websocket
				c.Routes = append(c.Routes, r)
			})
		}),
		confdecode.Key("pool", func(n *yaml.Node, p string) { d.Str(n, p, &c.Pool) }),
		confdecode.Key("user_pool", func(n *yaml.Node, p string) { d.Str(n, p, &c.UserPool) }),
		confdecode.Key("read_header_timeout", func(n *yaml.Node, p string) { d.Duration(n, p, &c.ReadHeaderTimeout) }),
		confdecode.Key("idle_timeout", func(n *yaml.Node, p string) { d.Duration(n, p, &c.IdleTimeout) }),
		confdecode.Key("upstream_read_timeout", func(n *yaml.Node, p string) { d.Duration(n, p, &c.UpstreamReadTimeout) }),
		confdecode.Key("send_timeout", func(n *yaml.Node, p string) { d.Duration(n, p, &c.SendTimeout) }),
		confdecode.Key("max_header_bytes", func(n *yaml.Node, p string) {
			d.Size(n, p, 16<<20, func(v int64) { c.MaxHeaderBytes = int(v) })
		}),
		confdecode.Key("max_body_bytes", func(n *yaml.Node, p string) { d.Size(n, p, 1<<40, func(v int64) { c.MaxBodyBytes = v }) }),
		confdecode.Key("upstream_dial_timeout", func(n *yaml.Node, p string) { d.Duration(n, p, &c.UpstreamDialTimeout) }),
		confdecode.Key("upstream_header_timeout", func(n *yaml.Node, p string) { d.Duration(n, p, &c.UpstreamHeaderTimeout) }),
		confdecode.Key("upstream_idle_conns", func(n *yaml.Node, p string) {
			d.Int(n, p, 1, 1<<20, func(v int64) { c.UpstreamIdleConns = int(v) })
		}),
		confdecode.Key("upstream_client", func(n *yaml.Node, p string) {
			if d.Str(n, p, &c.UpstreamClient) && c.UpstreamClient != UpstreamClientLean && c.UpstreamClient != UpstreamClientNetHTTP {
				d.Errorf(n, p, "%q: want %s (the default) or %s", c.UpstreamClient, UpstreamClientLean, UpstreamClientNetHTTP)
			}
		}),
		confdecode.Key("server", func(n *yaml.Node, p string) {
			if d.Str(n, p, &c.Server) && c.Server != ServerLean && c.Server != ServerNetHTTP {
				d.Errorf(n, p, "%q: want %s (the default) or %s", c.Server, ServerLean, ServerNetHTTP)
			}
		}),
		confdecode.Key("fast_path", func(n *yaml.Node, p string) {
			fast := true
			d.Bool(n, p, &fast)
			c.NoFastPath = !fast
		}),
		confdecode.Key("event_loop", func(n *yaml.Node, p string) {
			loop := true
			d.Bool(n, p, &loop)
			c.NoEventLoop = !loop
		}),
		confdecode.Key("decision_reuse", func(n *yaml.Node, p string) {
			reuse := true
			d.Bool(n, p, &reuse)
			c.NoDecisionReuse = !reuse
		}),
		confdecode.Key("retry_after", func(n *yaml.Node, p string) { d.Duration(n, p, &c.RetryAfter) }),
		confdecode.Key("via", func(n *yaml.Node, p string) { d.Str(n, p, &c.Via) }),
		confdecode.Key("auth_cookie", func(n *yaml.Node, p string) { d.Str(n, p, &c.AuthCookie) }),
		confdecode.Key("max_connections", func(n *yaml.Node, p string) { d.ConnLimit(n, p, &c.MaxConnections) }),
		confdecode.Key("max_connections_per_client", func(n *yaml.Node, p string) { d.ConnLimit(n, p, &c.MaxConnectionsPerClient) }),
		confdecode.Key("max_pre_request", func(n *yaml.Node, p string) { d.ConnLimit(n, p, &c.MaxPreRequest) }),
		confdecode.Key("per_client_exempt", func(n *yaml.Node, p string) { c.PerClientExempt = d.Exempt(n, p) }),
	)
}
