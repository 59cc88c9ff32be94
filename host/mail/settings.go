package mail

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/netip"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/host/internal/confdecode"
)

// Settings is the `mail` section of the configuration file, as data:
// host/config decodes it (Decode), and postern run fills in the live
// parts of Config (TLS, Plugins, Logger, Stats, Limiter, ...) before
// New. Zero values take the defaults documented on Config's fields.
type Settings struct {
	Config
	// UpstreamCAFile verifies mailbox servers' TLS certificates ("": the
	// system roots); UpstreamTLS reads it.
	UpstreamCAFile string
}

// Enabled reports whether any mail listener is configured.
func (m *Settings) Enabled() bool { return m != nil && len(m.Listeners) > 0 }

// Decode decodes the section at n (key path path, "mail") into m; file
// paths are resolved by d. Checks that span the sections (a TLS listener
// needs certificates) and Config.Validate are the caller's.
func (m *Settings) Decode(d *confdecode.Decoder, n *yaml.Node, path string) {
	c := &m.Config
	d.Mapping(n, path,
		confdecode.Key("greeting", func(n *yaml.Node, p string) { d.Str(n, p, &c.Greeting) }),
		confdecode.Key("listeners", func(n *yaml.Node, p string) {
			d.Sequence(n, p, "listeners", func(n *yaml.Node, p string) {
				var l Listener
				d.Mapping(n, p,
					confdecode.Key("name", func(n *yaml.Node, p string) { d.Str(n, p, &l.Name) }),
					confdecode.Key("address", func(n *yaml.Node, p string) { d.Str(n, p, &l.Address) }),
					confdecode.Key("protocol", func(n *yaml.Node, p string) { d.OneOf(n, p, &l.Protocol, IMAP, POP3) }),
					confdecode.Key("tls", func(n *yaml.Node, p string) {
						d.OneOf(n, p, &l.TLS, TLSNone, TLSStartTLS, TLSImplicit)
					}),
					confdecode.Key("allow_plaintext_login", func(n *yaml.Node, p string) { d.Bool(n, p, &l.AllowPlaintextLogin) }),
					confdecode.Key("proxy_protocol", func(n *yaml.Node, p string) { d.Bool(n, p, &l.ProxyProtocol) }),
					confdecode.Key("trusted_proxies", func(n *yaml.Node, p string) {
						d.Sequence(n, p, "CIDR prefixes", func(n *yaml.Node, p string) {
							var s string
							if !d.Str(n, p, &s) {
								return
							}
							pf, err := netip.ParsePrefix(s)
							if err != nil {
								d.Errorf(n, p, "%q: want a CIDR prefix such as 10.0.0.0/8", s)
								return
							}
							l.TrustedProxies = append(l.TrustedProxies, pf)
						})
					}),
					confdecode.Key("route", func(n *yaml.Node, p string) {
						d.Sequence(n, p, "host:port upstreams", func(n *yaml.Node, p string) {
							var s string
							if d.Str(n, p, &s) {
								l.Route = append(l.Route, s)
							}
						})
					}),
				)
				c.Listeners = append(c.Listeners, l)
			})
		}),
		confdecode.Key("upstream", func(n *yaml.Node, p string) {
			u := &c.Upstream
			d.Mapping(n, p,
				confdecode.Key("tls", func(n *yaml.Node, p string) {
					d.OneOf(n, p, &u.TLS, TLSNone, TLSStartTLS, TLSImplicit)
				}),
				confdecode.Key("ca_file", func(n *yaml.Node, p string) {
					if d.Str(n, p, &m.UpstreamCAFile) {
						m.UpstreamCAFile = d.Path(m.UpstreamCAFile)
					}
				}),
				confdecode.Key("client_address", func(n *yaml.Node, p string) {
					d.OneOf(n, p, &u.ClientAddress, ClientAddrAuto, ClientAddrProxyV2, ClientAddrNone)
				}),
				confdecode.Key("login", func(n *yaml.Node, p string) {
					d.OneOf(n, p, &u.Login, LoginAsUser, LoginMasterSeparator, LoginMasterAuthzID)
				}),
				confdecode.Key("gssapi_login", func(n *yaml.Node, p string) {
					d.OneOf(n, p, &u.GSSAPILogin, LoginMasterSeparator, LoginMasterAuthzID)
				}),
				confdecode.Key("oauth_login", func(n *yaml.Node, p string) {
					d.OneOf(n, p, &u.OAuthLogin, LoginPassthrough, LoginMasterSeparator, LoginMasterAuthzID)
				}),
				confdecode.Key("master_user", func(n *yaml.Node, p string) { d.Str(n, p, &u.MasterUser) }),
				confdecode.Key("master_password", func(n *yaml.Node, p string) { d.Str(n, p, &u.MasterPassword) }),
				confdecode.Key("master_separator", func(n *yaml.Node, p string) { d.Str(n, p, &u.MasterSeparator) }),
				confdecode.Key("connect_timeout", func(n *yaml.Node, p string) { d.Duration(n, p, &u.ConnectTimeout) }),
				confdecode.Key("login_timeout", func(n *yaml.Node, p string) { d.Duration(n, p, &u.LoginTimeout) }),
			)
		}),
		confdecode.Key("gssapi", func(n *yaml.Node, p string) {
			g := &c.GSSAPI
			d.Mapping(n, p,
				confdecode.Key("keytab", func(n *yaml.Node, p string) {
					if d.Str(n, p, &g.Keytab) {
						g.Keytab = d.Path(g.Keytab)
					}
				}),
				confdecode.Key("service_host", func(n *yaml.Node, p string) { d.Str(n, p, &g.ServiceHost) }),
				confdecode.Key("max_clock_skew", func(n *yaml.Node, p string) { d.Duration(n, p, &g.MaxClockSkew) }),
				confdecode.Key("principals", func(n *yaml.Node, p string) { g.Principals = d.StringMap(n, p, "principal: login") }),
				confdecode.Key("realms", func(n *yaml.Node, p string) { g.Realms = d.StringMap(n, p, "REALM: domain") }),
			)
			if g.Keytab == "" {
				d.Errorf(n, p, "keytab is required; remove the gssapi section to turn Kerberos logins off")
			}
		}),
		confdecode.Key("oauth", func(n *yaml.Node, p string) {
			o := &c.OAuth
			d.Mapping(n, p,
				confdecode.Key("mechanisms", func(n *yaml.Node, p string) {
					d.Sequence(n, p, "mechanisms", func(n *yaml.Node, p string) {
						var m string
						d.OneOf(n, p, &m, "oauthbearer", "xoauth2")
						if m != "" {
							o.Mechanisms = append(o.Mechanisms, m)
						}
					})
				}),
				confdecode.Key("max_token", func(n *yaml.Node, p string) {
					d.Int(n, p, 1, 64<<10, func(v int64) { o.MaxToken = int(v) })
				}),
				confdecode.Key("scope", func(n *yaml.Node, p string) { d.Str(n, p, &o.Scope) }),
				confdecode.Key("openid_configuration", func(n *yaml.Node, p string) { d.Str(n, p, &o.OpenIDConfiguration) }),
			)
			if len(o.Mechanisms) == 0 {
				d.Errorf(n, p, "mechanisms is required (oauthbearer, xoauth2); remove the oauth section to turn OAuth logins off")
			}
		}),
		confdecode.Key("limits", func(n *yaml.Node, p string) {
			l := &c.Limits
			d.Mapping(n, p,
				confdecode.Key("max_line", func(n *yaml.Node, p string) { d.Int(n, p, 256, 1<<20, func(v int64) { l.MaxLine = int(v) }) }),
				confdecode.Key("max_literal", func(n *yaml.Node, p string) {
					d.Int(n, p, 256, 1<<20, func(v int64) { l.MaxLiteral = int(v) })
				}),
				confdecode.Key("max_auth_failures", func(n *yaml.Node, p string) {
					d.Int(n, p, 1, 1000, func(v int64) { l.MaxAuthFailures = int(v) })
				}),
				confdecode.Key("max_bad_commands", func(n *yaml.Node, p string) {
					d.Int(n, p, 1, 1000, func(v int64) { l.MaxBadCommands = int(v) })
				}),
				confdecode.Key("pre_login_idle", func(n *yaml.Node, p string) { d.Duration(n, p, &l.PreLoginIdle) }),
				confdecode.Key("relay_idle", func(n *yaml.Node, p string) { d.Duration(n, p, &l.RelayIdle) }),
				confdecode.Key("login_timeout", func(n *yaml.Node, p string) { d.Duration(n, p, &l.LoginTimeout) }),
				confdecode.Key("tls_handshake", func(n *yaml.Node, p string) { d.Duration(n, p, &l.TLSHandshake) }),
				confdecode.Key("max_connections", func(n *yaml.Node, p string) { d.ConnLimit(n, p, &l.MaxConnections) }),
				confdecode.Key("max_connections_per_client", func(n *yaml.Node, p string) { d.ConnLimit(n, p, &l.MaxConnectionsPerClient) }),
				confdecode.Key("max_prelogin", func(n *yaml.Node, p string) { d.ConnLimit(n, p, &l.MaxPreLogin) }),
				confdecode.Key("per_client_exempt", func(n *yaml.Node, p string) { l.PerClientExempt = d.Exempt(n, p) }),
			)
		}),
	)
}

// UpstreamTLS returns the client TLS config for mailbox servers.
func (m *Settings) UpstreamTLS() (*tls.Config, error) {
	if m.UpstreamCAFile == "" {
		return nil, nil
	}
	b, err := os.ReadFile(m.UpstreamCAFile)
	if err != nil {
		return nil, fmt.Errorf("config: mail.upstream.ca_file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("config: mail.upstream.ca_file %s: no PEM certificate in it", m.UpstreamCAFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
