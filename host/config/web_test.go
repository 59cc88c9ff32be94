package config

import (
	"net/netip"
	"strings"
	"testing"
	"time"
)

func TestParse_webProxyProtocol(t *testing.T) {
	c, err := Parse([]byte(`
web:
  listeners:
    - name: http
      address: ":80"
      proxy_protocol: true
      trusted_proxies: [10.0.0.0/8, "2001:db8::/32"]
      trusted_forwarders: [192.0.2.0/24]
    - {name: plain, address: ":8080"}
  pools: [{name: p, backends: ["127.0.0.1:8081"]}]
  pool: p
`), "/etc/postern")
	if err != nil {
		t.Fatal(err)
	}
	l := c.Web.Listeners[0]
	if !l.ProxyProtocol || len(l.TrustedProxies) != 2 || l.TrustedProxies[1] != netip.MustParsePrefix("2001:db8::/32") {
		t.Errorf("proxy settings %+v", l)
	}
	if len(l.TrustedForwarders) != 1 || l.TrustedForwarders[0] != netip.MustParsePrefix("192.0.2.0/24") {
		t.Errorf("trusted_forwarders %v", l.TrustedForwarders)
	}
	if p := c.Web.Listeners[1]; p.ProxyProtocol || p.TrustedProxies != nil || p.TrustedForwarders != nil {
		t.Errorf("defaults: %+v", p)
	}
}

func TestParse_webProxyProtocolErrors(t *testing.T) {
	const head = "web:\n  pools: [{name: p, backends: [\"127.0.0.1:1\"]}]\n  pool: p\n  listeners:\n"
	tests := []struct{ listener, want string }{
		{"    - {name: a, address: ':1', proxy_protocol: true}",
			"line 5: web.listeners[0]: proxy_protocol needs trusted_proxies"},
		{"    - {name: a, address: ':1', trusted_proxies: [10.0.0.0/8]}",
			"line 5: web.listeners[0]: trusted_proxies without proxy_protocol has no effect"},
		{"    - name: a\n      address: ':1'\n      proxy_protocol: true\n      trusted_proxies: [10.0.0.1]",
			`line 8: web.listeners[0].trusted_proxies[0]: "10.0.0.1": want a CIDR prefix`},
		{"    - {name: a, address: ':1', trusted_forwarders: [lb.example.com/8]}",
			`line 5: web.listeners[0].trusted_forwarders[0]: "lb.example.com/8": want a CIDR prefix`},
		{"    - {name: a, address: ':1', trusted_forwarders: 10.0.0.0/8}",
			"web.listeners[0].trusted_forwarders: want a list of CIDR prefixes"},
		{"    - {name: a, address: ':1', proxy_protocol: yes please}",
			"web.listeners[0].proxy_protocol"},
		{"    - {name: a, address: ':1', trusted_proxy: [10.0.0.0/8]}",
			"trusted_proxy: unknown key; known keys: name, address, tls, h2c, redirect_https, https_port, proxy_protocol, trusted_proxies, trusted_forwarders"},
	}
	for _, tc := range tests {
		_, err := Parse([]byte(head+tc.listener+"\n"), "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.listener, err, tc.want)
		}
	}
}

func TestParse_webRoutesAndUpstreamTLS(t *testing.T) {
	c, err := Parse([]byte(`
web:
  listeners: [{name: http, address: ":80"}]
  pools:
    - {name: app, backends: ["10.0.0.1:8080"]}
    - name: mailboxes
      backends: ["10.0.1.1:8443"]
      tls: true
      ca_file: zimbra-ca.pem
      server_name: mailbox.example.com
      cert_file: /etc/ssl/postern.crt
      key_file: postern.key
    - {name: static, backends: ["10.0.2.1:80"]}
  pool: app
  user_pool: mailboxes
  routes:
    - name: static
      hosts: [static.example.com, "*.cdn.example.com"]
      pool: static
    - name: poll
      path_prefix: /service/notify/
      methods: [GET, POST]
      pool: mailboxes
      dial_timeout: 2s
      header_timeout: 10m
      max_body_bytes: 1MiB
      buffering: false
      websocket: false
    - {path_prefix: /, pool: app}
`), "/etc/postern")
	if err != nil {
		t.Fatal(err)
	}
	w := c.Web
	tc := w.Pools[1].TLS
	if !tc.Enabled || tc.CAFile != "/etc/postern/zimbra-ca.pem" || tc.ServerName != "mailbox.example.com" ||
		tc.CertFile != "/etc/ssl/postern.crt" || tc.KeyFile != "/etc/postern/postern.key" || tc.InsecureSkipVerify {
		t.Errorf("pool tls %+v", tc)
	}
	if w.Pools[0].TLS.Enabled {
		t.Errorf("tls on by default")
	}
	if len(w.Routes) != 3 {
		t.Fatalf("routes %+v", w.Routes)
	}
	r := w.Routes[1]
	if r.Name != "poll" || r.PathPrefix != "/service/notify/" || strings.Join(r.Methods, ",") != "GET,POST" || r.Pool != "mailboxes" ||
		r.DialTimeout != 2*time.Second || r.HeaderTimeout != 10*time.Minute || r.MaxBodyBytes != 1<<20 || !r.NoBuffering || !r.NoWebSocket {
		t.Errorf("route %+v", r)
	}
	if s := w.Routes[0]; strings.Join(s.Hosts, ",") != "static.example.com,*.cdn.example.com" || s.NoBuffering || s.NoWebSocket {
		t.Errorf("route %+v", s)
	}
}

func TestParse_webRoutesErrors(t *testing.T) {
	const head = "web:\n  listeners: [{name: a, address: ':1'}]\n  pools: [{name: p, backends: [\"127.0.0.1:1\"]}]\n  pool: p\n"
	tests := []struct{ yaml, want string }{
		{"  routes: [{path_prefix: /x/}]", "routes[0].pool: empty"},
		{"  routes: [{pool: q}]", `routes[0].pool: "q" is not among pools`},
		{"  routes: [{pool: p, hosts: example.com}]", "web.routes[0].hosts: want a list of host names"},
		{"  routes: [{pool: p, hosts: [\"a.example.com:80\"]}]", "hosts[0]"},
		{"  routes: [{pool: p, buffering: maybe}]", "web.routes[0].buffering"},
		{"  routes: [{pool: p, timeout: 1s}]", "timeout: unknown key"},
		{"  pools: [{name: p, backends: [\"127.0.0.1:1\"], ca_file: /x}]", "pools[0].tls: ca_file"},
	}
	for _, tc := range tests {
		h := head
		if strings.HasPrefix(tc.yaml, "  pools:") {
			h = strings.Replace(head, "  pools: [{name: p, backends: [\"127.0.0.1:1\"]}]\n", "", 1)
		}
		_, err := Parse([]byte(h+tc.yaml+"\n"), "")
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.yaml, err, tc.want)
		}
	}
}
