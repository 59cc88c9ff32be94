package mail

import (
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/host/internal/confdecode"
)

// decodeSettings decodes src as the mail section of a file in dir.
func decodeSettings(t testing.TB, src, dir string) (Settings, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	var s Settings
	d := confdecode.New("", dir)
	if len(doc.Content) > 0 {
		s.Decode(d, doc.Content[0], "mail")
	}
	return s, d.Err()
}

func TestSettings_Decode(t *testing.T) {
	s, err := decodeSettings(t, `
greeting: hi
listeners:
  - {name: imap, address: ":143", protocol: imap, tls: starttls, proxy_protocol: true, trusted_proxies: [10.0.0.0/8]}
  - {name: pop3s, address: ":995", protocol: pop3, tls: implicit, allow_plaintext_login: true, route: ["127.0.0.1:110"]}
upstream: {tls: starttls, ca_file: ca.pem, client_address: none, login: master-authzid, gssapi_login: master-separator,
           oauth_login: master-authzid, master_user: m, master_password: p, master_separator: "*", connect_timeout: 2s, login_timeout: 3s}
oauth: {mechanisms: [oauthbearer, xoauth2], max_token: 8192, scope: mail, openid_configuration: "https://idp/.well-known/openid-configuration"}
gssapi: {keytab: k.keytab, service_host: mail.example, max_clock_skew: 1m, principals: {a@R: a}, realms: {R: r.example}}
limits: {max_line: 4096, max_literal: 8192, max_auth_failures: 2, max_bad_commands: 3, pre_login_idle: 1m, relay_idle: 2h,
         login_timeout: 20s, tls_handshake: 5s, max_connections: 0, max_connections_per_client: 5, max_prelogin: 7, per_client_exempt: []}
`, "/etc/postern")
	if err != nil {
		t.Fatal(err)
	}
	l0, l1 := s.Listeners[0], s.Listeners[1]
	if !s.Enabled() || s.Greeting != "hi" || len(s.Listeners) != 2 || l0.TLS != TLSStartTLS || l0.TrustedProxies[0] != netip.MustParsePrefix("10.0.0.0/8") ||
		l1.Protocol != POP3 || !l1.AllowPlaintextLogin || l1.Route[0] != "127.0.0.1:110" {
		t.Errorf("listeners %+v", s.Listeners)
	}
	u := s.Upstream
	if u.TLS != TLSStartTLS || s.UpstreamCAFile != "/etc/postern/ca.pem" || u.ClientAddress != ClientAddrNone || u.Login != LoginMasterAuthzID ||
		u.GSSAPILogin != LoginMasterSeparator || u.MasterUser != "m" || u.MasterSeparator != "*" || u.ConnectTimeout != 2*time.Second || u.LoginTimeout != 3*time.Second {
		t.Errorf("upstream %+v", u)
	}
	if o := s.OAuth; strings.Join(o.Mechanisms, ",") != "oauthbearer,xoauth2" || o.MaxToken != 8192 || o.Scope != "mail" ||
		o.OpenIDConfiguration != "https://idp/.well-known/openid-configuration" || u.OAuthLogin != LoginMasterAuthzID {
		t.Errorf("oauth %+v, oauth_login %q", o, u.OAuthLogin)
	}
	if g := s.GSSAPI; g.Keytab != "/etc/postern/k.keytab" || g.ServiceHost != "mail.example" || g.Principals["a@R"] != "a" || g.Realms["R"] != "r.example" {
		t.Errorf("gssapi %+v", g)
	}
	if l := s.Limits; l.MaxLine != 4096 || l.MaxConnections != -1 || l.MaxConnectionsPerClient != 5 || l.PerClientExempt == nil || l.RelayIdle != 2*time.Hour {
		t.Errorf("limits %+v", l)
	}
	var none *Settings
	if none.Enabled() || (&Settings{}).Enabled() {
		t.Error("no listener, yet Enabled")
	}
}

func TestSettings_DecodeErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"listeners: [{protocol: smtp}]", `line 1: mail.listeners[0].protocol: "smtp": want one of [imap pop3]`},
		{"listeners: [{trusted_proxies: [10.0.0.1]}]", `mail.listeners[0].trusted_proxies[0]: "10.0.0.1": want a CIDR prefix such as 10.0.0.0/8`},
		{"upstream: {login: guess}", `mail.upstream.login: "guess": want one of [user master-separator master-authzid]`},
		{"gssapi: {service_host: x}", "mail.gssapi: keytab is required"},
		{"gssapi: {keytab: k, principals: [a]}", "mail.gssapi.principals: want a mapping of principal: login, got a list"},
		{"limits: {max_line: 10}", "mail.limits.max_line: 10: want an integer from 256 to 1048576"},
		{"listener: []", "mail.listener: unknown key (did you mean listeners?)"},
		{"oauth: {mechanisms: [plain]}", `mail.oauth.mechanisms[0]: "plain": want one of [oauthbearer xoauth2]`},
		{"oauth: {scope: mail}", "mail.oauth: mechanisms is required"},
		{"oauth: {mechanisms: [xoauth2], max_token: 100000}", "mail.oauth.max_token: 100000: want an integer from 1 to 65536"},
		{"upstream: {oauth_login: user}", `mail.upstream.oauth_login: "user": want one of [passthrough master-separator master-authzid]`},
	} {
		if _, err := decodeSettings(t, tc.yaml, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.yaml, err, tc.want)
		}
	}
}

func TestSettings_UpstreamTLS(t *testing.T) {
	if c, err := (&Settings{}).UpstreamTLS(); c != nil || err != nil {
		t.Errorf("no ca_file: %v, %v", c, err)
	}
	dir := t.TempDir()
	if _, err := (&Settings{UpstreamCAFile: filepath.Join(dir, "none.pem")}).UpstreamTLS(); err == nil || !strings.Contains(err.Error(), "mail.upstream.ca_file") {
		t.Errorf("missing file: %v", err)
	}
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not PEM"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := (&Settings{UpstreamCAFile: junk}).UpstreamTLS(); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Errorf("junk file: %v", err)
	}
}

// FuzzSettings_Decode: no mail section panics the decoder; what it
// accepts has only known protocols and TLS modes.
func FuzzSettings_Decode(f *testing.F) {
	for _, s := range []string{
		"listeners: [{name: a, address: ':1', protocol: imap, tls: none}]",
		"upstream: {login: master-separator, master_user: m}", "gssapi: {keytab: k, realms: {R: d}}",
		"limits: {max_connections: 0, per_client_exempt: [10.0.0.0/8]}", "[1]", "listeners: [~]",
		"oauth: {mechanisms: [xoauth2], max_token: 9}", "upstream: {oauth_login: passthrough}",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		var doc yaml.Node
		if yaml.Unmarshal([]byte(src), &doc) != nil || len(doc.Content) == 0 {
			return
		}
		var s Settings
		d := confdecode.New("", "/etc")
		s.Decode(d, doc.Content[0], "mail")
		if d.Err() != nil {
			return
		}
		for _, l := range s.Listeners {
			if (l.Protocol != "" && l.Protocol != IMAP && l.Protocol != POP3) || (l.TLS != "" && l.TLS != TLSNone && l.TLS != TLSStartTLS && l.TLS != TLSImplicit) {
				t.Fatalf("accepted listener %+v", l)
			}
		}
		for _, m := range s.OAuth.Mechanisms {
			if m != "oauthbearer" && m != "xoauth2" {
				t.Fatalf("accepted mechanism %q", m)
			}
		}
		if s.GSSAPI.Keytab == "" && (s.GSSAPI.Principals != nil || s.GSSAPI.Realms != nil) {
			t.Fatalf("accepted gssapi without a keytab: %+v", s.GSSAPI)
		}
	})
}
