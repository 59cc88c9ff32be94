package config

import (
	"net/netip"
	"strings"
	"testing"
)

func TestParse_connectionLimits(t *testing.T) {
	c, err := Parse([]byte(`
mail:
  listeners: [{name: imap, address: ":143", protocol: imap, tls: none}]
  limits: {max_connections: 100, max_connections_per_client: 0, max_prelogin: 10, per_client_exempt: [10.0.0.0/8]}
web:
  listeners: [{name: http, address: ":80"}]
  pools: [{name: p, backends: ["127.0.0.1:8081"]}]
  pool: p
  max_connections: 0
  max_connections_per_client: 20
  max_pre_request: 30
  per_client_exempt: []
limits: {max_sessions: 0}
`), "")
	if err != nil {
		t.Fatal(err)
	}
	ml := c.Mail.Limits
	// 0 in the file is "no limit": -1 to the front end, whose 0 is the default.
	if ml.MaxConnections != 100 || ml.MaxConnectionsPerClient != -1 || ml.MaxPreLogin != 10 ||
		len(ml.PerClientExempt) != 1 || ml.PerClientExempt[0] != netip.MustParsePrefix("10.0.0.0/8") {
		t.Errorf("mail.limits %+v", ml)
	}
	w := c.Web.Config
	if w.MaxConnections != -1 || w.MaxConnectionsPerClient != 20 || w.MaxPreRequest != 30 ||
		w.PerClientExempt == nil || len(w.PerClientExempt) != 0 {
		t.Errorf("web limits %d %d %d %#v", w.MaxConnections, w.MaxConnectionsPerClient, w.MaxPreRequest, w.PerClientExempt)
	}
	if c.Limits.MaxSessions != 0 {
		t.Errorf("limits.max_sessions %d, want 0 (no cap)", c.Limits.MaxSessions)
	}

	// Defaults: left to the front ends (0, nil); the session cap filled in.
	d, err := Parse([]byte("mail: {listeners: [{name: imap, address: ':143', protocol: imap, tls: none}]}\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	if l := d.Mail.Limits; l.MaxConnections != 0 || l.MaxConnectionsPerClient != 0 || l.MaxPreLogin != 0 || l.PerClientExempt != nil {
		t.Errorf("default mail.limits %+v", l)
	}
	if d.Limits.MaxSessions != 20000 {
		t.Errorf("default limits.max_sessions %d", d.Limits.MaxSessions)
	}
}

func TestParse_connectionLimitErrors(t *testing.T) {
	tests := []struct{ yaml, want string }{
		{"limits: {max_sessions: -1}", "limits.max_sessions: -1: want an integer from 0 to 10000000"},
		{"limits: {max_session: 1}", "limits.max_session: unknown key (did you mean max_sessions?)"},
		{"mail: {limits: {max_prelogin: 1.5}}", "mail.limits.max_prelogin"},
		{"mail: {limits: {per_client_exempt: [127.0.0.1]}}", `mail.limits.per_client_exempt[0]: "127.0.0.1": want a CIDR prefix`},
		{"web: {max_connections_per_client: -5}", "web.max_connections_per_client: -5: want an integer from 0 to 10000000"},
	}
	for _, tc := range tests {
		_, err := Parse([]byte(tc.yaml), "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.yaml, err, tc.want)
		}
	}
}
