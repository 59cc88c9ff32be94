package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"net/netip"
	"os"

	"go.yaml.in/yaml/v3"

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

func (d *decoder) tlsSection(n *yaml.Node, path, dir string, t *TLS) {
	pair := func(n *yaml.Node, path string, p *tlsstore.Pair) {
		d.mapping(n, path,
			field{"cert", func(n *yaml.Node, pp string) {
				if d.str(n, pp, &p.CertFile) {
					p.CertFile = resolve(dir, p.CertFile)
				}
			}},
			field{"key", func(n *yaml.Node, pp string) {
				if d.str(n, pp, &p.KeyFile) {
					p.KeyFile = resolve(dir, p.KeyFile)
				}
			}},
		)
		if (p.CertFile == "") != (p.KeyFile == "") {
			d.errorf(n, path, "give both cert and key")
		}
	}
	d.mapping(n, path,
		field{"certs", func(n *yaml.Node, p string) {
			d.sequence(n, p, "{cert, key} pairs", func(n *yaml.Node, p string) {
				var pr tlsstore.Pair
				pair(n, p, &pr)
				t.Certs = append(t.Certs, pr)
			})
		}},
		field{"default", func(n *yaml.Node, p string) { pair(n, p, &t.Default) }},
		field{"watch", func(n *yaml.Node, p string) { d.boolean(n, p, &t.Watch) }},
	)
}

func (d *decoder) mailSection(n *yaml.Node, path, dir string, m *Mail) {
	c := &m.Config
	d.mapping(n, path,
		field{"greeting", func(n *yaml.Node, p string) { d.str(n, p, &c.Greeting) }},
		field{"listeners", func(n *yaml.Node, p string) {
			d.sequence(n, p, "listeners", func(n *yaml.Node, p string) {
				var l mail.Listener
				d.mapping(n, p,
					field{"name", func(n *yaml.Node, p string) { d.str(n, p, &l.Name) }},
					field{"address", func(n *yaml.Node, p string) { d.str(n, p, &l.Address) }},
					field{"protocol", func(n *yaml.Node, p string) { d.oneOf(n, p, &l.Protocol, mail.IMAP, mail.POP3) }},
					field{"tls", func(n *yaml.Node, p string) {
						d.oneOf(n, p, &l.TLS, mail.TLSNone, mail.TLSStartTLS, mail.TLSImplicit)
					}},
					field{"allow_plaintext_login", func(n *yaml.Node, p string) { d.boolean(n, p, &l.AllowPlaintextLogin) }},
					field{"proxy_protocol", func(n *yaml.Node, p string) { d.boolean(n, p, &l.ProxyProtocol) }},
					field{"trusted_proxies", func(n *yaml.Node, p string) {
						d.sequence(n, p, "CIDR prefixes", func(n *yaml.Node, p string) {
							var s string
							if !d.str(n, p, &s) {
								return
							}
							pf, err := netip.ParsePrefix(s)
							if err != nil {
								d.errorf(n, p, "%q: want a CIDR prefix such as 10.0.0.0/8", s)
								return
							}
							l.TrustedProxies = append(l.TrustedProxies, pf)
						})
					}},
					field{"route", func(n *yaml.Node, p string) {
						d.sequence(n, p, "host:port upstreams", func(n *yaml.Node, p string) {
							var s string
							if d.str(n, p, &s) {
								l.Route = append(l.Route, s)
							}
						})
					}},
				)
				c.Listeners = append(c.Listeners, l)
			})
		}},
		field{"upstream", func(n *yaml.Node, p string) {
			u := &c.Upstream
			d.mapping(n, p,
				field{"tls", func(n *yaml.Node, p string) {
					d.oneOf(n, p, &u.TLS, mail.TLSNone, mail.TLSStartTLS, mail.TLSImplicit)
				}},
				field{"ca_file", func(n *yaml.Node, p string) {
					if d.str(n, p, &m.UpstreamCAFile) {
						m.UpstreamCAFile = resolve(dir, m.UpstreamCAFile)
					}
				}},
				field{"client_address", func(n *yaml.Node, p string) {
					d.oneOf(n, p, &u.ClientAddress, mail.ClientAddrAuto, mail.ClientAddrProxyV2, mail.ClientAddrNone)
				}},
				field{"login", func(n *yaml.Node, p string) {
					d.oneOf(n, p, &u.Login, mail.LoginAsUser, mail.LoginMasterSeparator, mail.LoginMasterAuthzID)
				}},
				field{"gssapi_login", func(n *yaml.Node, p string) {
					d.oneOf(n, p, &u.GSSAPILogin, mail.LoginMasterSeparator, mail.LoginMasterAuthzID)
				}},
				field{"master_user", func(n *yaml.Node, p string) { d.str(n, p, &u.MasterUser) }},
				field{"master_password", func(n *yaml.Node, p string) { d.str(n, p, &u.MasterPassword) }},
				field{"master_separator", func(n *yaml.Node, p string) { d.str(n, p, &u.MasterSeparator) }},
				field{"connect_timeout", func(n *yaml.Node, p string) { d.duration(n, p, &u.ConnectTimeout) }},
				field{"login_timeout", func(n *yaml.Node, p string) { d.duration(n, p, &u.LoginTimeout) }},
			)
		}},
		field{"gssapi", func(n *yaml.Node, p string) {
			g := &c.GSSAPI
			d.mapping(n, p,
				field{"keytab", func(n *yaml.Node, p string) {
					if d.str(n, p, &g.Keytab) {
						g.Keytab = resolve(dir, g.Keytab)
					}
				}},
				field{"service_host", func(n *yaml.Node, p string) { d.str(n, p, &g.ServiceHost) }},
				field{"max_clock_skew", func(n *yaml.Node, p string) { d.duration(n, p, &g.MaxClockSkew) }},
				field{"principals", func(n *yaml.Node, p string) { g.Principals = d.stringMap(n, p, "principal: login") }},
				field{"realms", func(n *yaml.Node, p string) { g.Realms = d.stringMap(n, p, "REALM: domain") }},
			)
			if g.Keytab == "" {
				d.errorf(n, p, "keytab is required; remove the gssapi section to turn Kerberos logins off")
			}
		}},
		field{"limits", func(n *yaml.Node, p string) {
			l := &c.Limits
			d.mapping(n, p,
				field{"max_line", func(n *yaml.Node, p string) { d.integer(n, p, 256, 1<<20, func(v int64) { l.MaxLine = int(v) }) }},
				field{"max_literal", func(n *yaml.Node, p string) {
					d.integer(n, p, 256, 1<<20, func(v int64) { l.MaxLiteral = int(v) })
				}},
				field{"max_auth_failures", func(n *yaml.Node, p string) {
					d.integer(n, p, 1, 1000, func(v int64) { l.MaxAuthFailures = int(v) })
				}},
				field{"max_bad_commands", func(n *yaml.Node, p string) {
					d.integer(n, p, 1, 1000, func(v int64) { l.MaxBadCommands = int(v) })
				}},
				field{"pre_login_idle", func(n *yaml.Node, p string) { d.duration(n, p, &l.PreLoginIdle) }},
				field{"relay_idle", func(n *yaml.Node, p string) { d.duration(n, p, &l.RelayIdle) }},
				field{"login_timeout", func(n *yaml.Node, p string) { d.duration(n, p, &l.LoginTimeout) }},
				field{"tls_handshake", func(n *yaml.Node, p string) { d.duration(n, p, &l.TLSHandshake) }},
				field{"max_connections", func(n *yaml.Node, p string) { d.connLimit(n, p, &l.MaxConnections) }},
				field{"max_connections_per_client", func(n *yaml.Node, p string) { d.connLimit(n, p, &l.MaxConnectionsPerClient) }},
				field{"max_prelogin", func(n *yaml.Node, p string) { d.connLimit(n, p, &l.MaxPreLogin) }},
				field{"per_client_exempt", func(n *yaml.Node, p string) { l.PerClientExempt = d.exempt(n, p) }},
			)
		}},
	)
}

// maxConnLimit bounds the connection limits: more than a process can
// have open is a typo.
const maxConnLimit = 10_000_000

// connLimit decodes a connection limit into a front end's field, where 0
// means the default: 0 in the file (no limit) becomes -1.
func (d *decoder) connLimit(n *yaml.Node, path string, dst *int) {
	d.integer(n, path, 0, maxConnLimit, func(v int64) {
		*dst = int(v)
		if v == 0 {
			*dst = -1
		}
	})
}

// exempt decodes per_client_exempt: never nil, since nil means the
// default (loopback) to the front ends and [] means nobody.
func (d *decoder) exempt(n *yaml.Node, path string) []netip.Prefix {
	if ps := d.prefixes(n, path); ps != nil {
		return ps
	}
	return []netip.Prefix{}
}

// stringMap decodes a mapping of strings to strings (values may be empty).
func (d *decoder) stringMap(n *yaml.Node, path, what string) map[string]string {
	if n = d.resolve(n); n == nil || d.null(n, path) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping of %s, got %s", what, kindName(n))
		return nil
	}
	m := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		var k, v string
		if !d.str(n.Content[i], path, &k) {
			continue
		}
		kp := join(path, k)
		if _, dup := m[k]; dup {
			d.errorf(n.Content[i], kp, "duplicate key: remove one")
			continue
		}
		if d.str(n.Content[i+1], kp, &v) {
			m[k] = v
		}
	}
	return m
}

// oneOf decodes a string that must be one of the given values.
func (d *decoder) oneOf(n *yaml.Node, path string, dst *string, values ...string) {
	var s string
	if !d.str(n, path, &s) {
		return
	}
	for _, v := range values {
		if s == v {
			*dst = s
			return
		}
	}
	d.errorf(n, path, "%q: want one of %v", s, values)
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
