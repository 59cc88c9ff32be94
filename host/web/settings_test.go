package web

import (
	"net/netip"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/host/internal/confdecode"
)

// decodeSettings decodes src as the web section of a file in dir.
func decodeSettings(t testing.TB, src, dir string) (Settings, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	var s Settings
	d := confdecode.New("", dir)
	if len(doc.Content) > 0 {
		s.Decode(d, doc.Content[0], "web")
	}
	return s, d.Err()
}

func TestSettings_Decode(t *testing.T) {
	s, err := decodeSettings(t, `
listeners:
  - {name: https, address: ":443", tls: true, proxy_protocol: true, trusted_proxies: [10.0.0.0/8], trusted_forwarders: [192.0.2.0/24]}
  - {name: http, address: ":80", redirect_https: true, https_port: 8443, h2c: true}
pools:
  - {name: p, balance: least-conn, backends: ["127.0.0.1:1", {address: "127.0.0.1:2", weight: 3}],
     max_fails: -1, fail_timeout: 5s, health_path: /h, health_interval: 2s, tls: true, ca_file: ca.pem, server_name: b.example}
routes:
  - {name: soap, hosts: [a.example], path_prefix: /service/soap, methods: [POST], pool: p, buffering: false, websocket: false, max_body_bytes: 1MiB, read_timeout: 10m}
pool: p
user_pool: p
read_header_timeout: 3s
send_timeout: 20s
upstream_read_timeout: 90s
max_header_bytes: 32KiB
via: postern
max_connections: 0
per_client_exempt: []
`, "/etc/postern")
	if err != nil {
		t.Fatal(err)
	}
	l := s.Listeners
	if !s.Enabled() || len(l) != 2 || !l[0].TLS || l[0].TrustedProxies[0] != netip.MustParsePrefix("10.0.0.0/8") || len(l[0].TrustedForwarders) != 1 ||
		!l[1].RedirectHTTPS || l[1].HTTPSPort != 8443 || !l[1].H2C {
		t.Errorf("listeners %+v", l)
	}
	p := s.Pools[0]
	if p.Balance != "least-conn" || len(p.Backends) != 2 || p.Backends[1].Weight != 3 || p.MaxFails != -1 || p.FailTimeout != 5*time.Second ||
		!p.TLS.Enabled || p.TLS.CAFile != "/etc/postern/ca.pem" || p.TLS.ServerName != "b.example" {
		t.Errorf("pool %+v", p)
	}
	r := s.Routes[0]
	if r.Name != "soap" || r.Hosts[0] != "a.example" || r.Methods[0] != "POST" || !r.NoBuffering || !r.NoWebSocket || r.MaxBodyBytes != 1<<20 || r.ReadTimeout != 10*time.Minute {
		t.Errorf("route %+v", r)
	}
	if s.Pool != "p" || s.UserPool != "p" || s.ReadHeaderTimeout != 3*time.Second || s.MaxHeaderBytes != 32<<10 || s.Via != "postern" ||
		s.SendTimeout != 20*time.Second || s.UpstreamReadTimeout != 90*time.Second ||
		s.MaxConnections != -1 || s.PerClientExempt == nil {
		t.Errorf("settings %+v", s.Config)
	}
	if err := s.Validate(); err != nil {
		t.Errorf("Validate: %v", err)
	}
	var none *Settings
	if none.Enabled() || (&Settings{}).Enabled() {
		t.Error("no listener, yet Enabled")
	}
}

func TestSettings_DecodeErrors(t *testing.T) {
	for _, tc := range []struct{ yaml, want string }{
		{"listeners: [{name: a, proxy_protocol: true}]", "line 1: web.listeners[0]: proxy_protocol needs trusted_proxies"},
		{"listeners: [{name: a, trusted_proxies: [10.0.0.0/8]}]", "web.listeners[0]: trusted_proxies without proxy_protocol has no effect"},
		{"listeners: [{https_port: 0}]", "web.listeners[0].https_port: 0: want an integer from 1 to 65535"},
		{"pools: [{backends: [{weight: 0}]}]", "web.pools[0].backends[0].weight: 0: want an integer from 1 to 1000"},
		{"routes: [{methods: GET}]", `web.routes[0].methods: want a list of HTTP methods, got the string "GET"`},
		{"max_header_bytes: 32MiB", "web.max_header_bytes: 32MiB: want 1 to 16777216 bytes"},
		{"pols: []", "web.pols: unknown key (did you mean pools?)"},
	} {
		if _, err := decodeSettings(t, tc.yaml, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.yaml, err, tc.want)
		}
	}
}

// FuzzSettings_Decode: no web section panics the decoder; a listener it
// accepts has PROXY headers exactly when it trusts some proxy.
func FuzzSettings_Decode(f *testing.F) {
	for _, s := range []string{
		"listeners: [{name: a, address: ':1', proxy_protocol: true, trusted_proxies: [10.0.0.0/8]}]",
		"pools: [{name: p, backends: ['127.0.0.1:1', {address: 'b:1', weight: 2}]}]\npool: p",
		"routes: [{hosts: [a], buffering: false}]", "[1]", "pools: [~]", "max_body_bytes: 1GiB",
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
		s.Decode(d, doc.Content[0], "web")
		if d.Err() != nil {
			return
		}
		for _, l := range s.Listeners {
			if l.ProxyProtocol != (len(l.TrustedProxies) > 0) {
				t.Fatalf("accepted listener %+v", l)
			}
		}
	})
}
