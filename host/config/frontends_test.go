package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/host/mail"
)

func TestParse_mail(t *testing.T) {
	c, err := Parse([]byte(`
tls:
  certs: [{cert: a.crt, key: a.key}]
mail:
  listeners:
    - {name: imap, address: "127.0.0.1:1143", protocol: imap, route: ["127.0.0.1:143"],
       proxy_protocol: true, trusted_proxies: [10.0.0.0/8]}
    - {name: pop3, address: "127.0.0.1:1110", protocol: pop3, tls: none, allow_plaintext_login: true}
  upstream: {login: master-separator, master_user: m, master_password: p, connect_timeout: 2s}
  limits: {max_auth_failures: 5, relay_idle: 30m}
`), "/etc/postern")
	if err != nil {
		t.Fatal(err)
	}
	m := c.Mail
	if !m.Enabled() || len(m.Listeners) != 2 {
		t.Fatalf("%+v", m)
	}
	l := m.Listeners[0]
	if l.Protocol != mail.IMAP || l.Route[0] != "127.0.0.1:143" || !l.ProxyProtocol || l.TrustedProxies[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Errorf("listener %+v", l)
	}
	if m.Upstream.Login != mail.LoginMasterSeparator || m.Upstream.ConnectTimeout != 2*time.Second || m.Limits.RelayIdle != 30*time.Minute {
		t.Errorf("upstream/limits %+v %+v", m.Upstream, m.Limits)
	}
	if c.TLS.Certs[0].CertFile != "/etc/postern/a.crt" {
		t.Errorf("cert path not resolved: %+v", c.TLS.Certs)
	}
}

func TestParse_mailErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"mail: {listeners: [{name: imap, address: ':143', protocol: imap}]}", "tls starttls needs certificates"},
		{"mail: {listeners: [{name: imap, address: ':143', protocol: smtp, tls: none}]}", `line 1: mail.listeners[0].protocol: "smtp": want one of [imap pop3]`},
		{"mail: {upstream: {login: master-separator}, listeners: [{name: a, address: ':1', protocol: imap, tls: none}]}", "needs master_user and master_password"},
		{"mail: {listeners: [{name: a, address: ':1', protocol: imap, tls: none, proxy_protocol: true}]}", "proxy_protocol needs trusted_proxies"},
		{"mail: {listeners: [{name: a, address: ':1', protocol: imap, tls: none, trusted_proxies: [10.0.0.1]}]}", "want a CIDR prefix"},
		{"mail: {listener: []}", "unknown key (did you mean listeners?)"},
	}
	for _, tc := range tests {
		_, err := Parse([]byte(tc.yaml), "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.yaml, err, tc.want)
		}
	}
}
