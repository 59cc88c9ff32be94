package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/host/internal/confdecode"
	"github.com/postern/postern/host/mail"
	"github.com/postern/postern/host/tlsstore"
)

// TLS is the `tls` section: the certificates every TLS listener serves,
// chosen by SNI.
type TLS struct {
	// Certs are the per-hostname certificates; names come from each
	// certificate's SANs. Wildcards (*.example.com) are honoured.
	Certs []tlsstore.Pair
	// Default is served to clients without SNI or with an unknown name
	// (default: the first of Certs).
	Default tlsstore.Pair
	// Watch reloads certificates when their files change (default true).
	Watch bool
}

func (t *TLS) configured() bool { return len(t.Certs) > 0 || t.Default.CertFile != "" }

// Mail is the `mail` section, ready for mail.New once TLS and Plugins are
// filled in by the caller.
type Mail struct {
	mail.Config
	// UpstreamCAFile verifies mailbox servers' TLS certificates ("": the
	// system roots).
	UpstreamCAFile string
}

// Enabled reports whether any mail listener is configured.
func (m *Mail) Enabled() bool { return m != nil && len(m.Listeners) > 0 }

func decodeTLS(d *confdecode.Decoder, n *yaml.Node, path string, t *TLS) {
	pair := func(n *yaml.Node, path string, p *tlsstore.Pair) {
		d.Mapping(n, path,
			confdecode.Key("cert", func(n *yaml.Node, pp string) {
				if d.Str(n, pp, &p.CertFile) {
					p.CertFile = d.Path(p.CertFile)
				}
			}),
			confdecode.Key("key", func(n *yaml.Node, pp string) {
				if d.Str(n, pp, &p.KeyFile) {
					p.KeyFile = d.Path(p.KeyFile)
				}
			}),
		)
		if (p.CertFile == "") != (p.KeyFile == "") {
			d.Errorf(n, path, "give both cert and key")
		}
	}
	d.Mapping(n, path,
		confdecode.Key("certs", func(n *yaml.Node, p string) {
			d.Sequence(n, p, "{cert, key} pairs", func(n *yaml.Node, p string) {
				var pr tlsstore.Pair
				pair(n, p, &pr)
				t.Certs = append(t.Certs, pr)
			})
		}),
		confdecode.Key("default", func(n *yaml.Node, p string) { pair(n, p, &t.Default) }),
		confdecode.Key("watch", func(n *yaml.Node, p string) { d.Bool(n, p, &t.Watch) }),
	)
}

func decodeMail(d *confdecode.Decoder, n *yaml.Node, path string, m *Mail) {
	c := &m.Config
	d.Mapping(n, path,
		confdecode.Key("greeting", func(n *yaml.Node, p string) { d.Str(n, p, &c.Greeting) }),
		confdecode.Key("listeners", func(n *yaml.Node, p string) {
			d.Sequence(n, p, "listeners", func(n *yaml.Node, p string) {
				var l mail.Listener
				d.Mapping(n, p,
					confdecode.Key("name", func(n *yaml.Node, p string) { d.Str(n, p, &l.Name) }),
					confdecode.Key("address", func(n *yaml.Node, p string) { d.Str(n, p, &l.Address) }),
					confdecode.Key("protocol", func(n *yaml.Node, p string) { d.OneOf(n, p, &l.Protocol, mail.IMAP, mail.POP3) }),
					confdecode.Key("tls", func(n *yaml.Node, p string) {
						d.OneOf(n, p, &l.TLS, mail.TLSNone, mail.TLSStartTLS, mail.TLSImplicit)
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
					d.OneOf(n, p, &u.TLS, mail.TLSNone, mail.TLSStartTLS, mail.TLSImplicit)
				}),
				confdecode.Key("ca_file", func(n *yaml.Node, p string) {
					if d.Str(n, p, &m.UpstreamCAFile) {
						m.UpstreamCAFile = d.Path(m.UpstreamCAFile)
					}
				}),
				confdecode.Key("client_address", func(n *yaml.Node, p string) {
					d.OneOf(n, p, &u.ClientAddress, mail.ClientAddrAuto, mail.ClientAddrProxyV2, mail.ClientAddrNone)
				}),
				confdecode.Key("login", func(n *yaml.Node, p string) {
					d.OneOf(n, p, &u.Login, mail.LoginAsUser, mail.LoginMasterSeparator, mail.LoginMasterAuthzID)
				}),
				confdecode.Key("gssapi_login", func(n *yaml.Node, p string) {
					d.OneOf(n, p, &u.GSSAPILogin, mail.LoginMasterSeparator, mail.LoginMasterAuthzID)
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

// OpenTLS returns the certificate store of the `tls` section, or nil when
// no certificate is configured.
func (c *Config) OpenTLS(log *slog.Logger) (*tlsstore.Store, error) {
	if !c.TLS.configured() {
		return nil, nil
	}
	s, err := tlsstore.New(tlsstore.Options{Certs: c.TLS.Certs, Default: c.TLS.Default, Watch: c.TLS.Watch, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("config: tls: %w", err)
	}
	return s, nil
}

// UpstreamTLS returns the client TLS config for mailbox servers.
func (m *Mail) UpstreamTLS() (*tls.Config, error) {
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
