package config

import (
	"net/netip"
	"strings"
	"testing"
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
