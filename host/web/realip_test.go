package web

import (
	"net/netip"
	"strings"
	"testing"
)

func prefixes(s ...string) []netip.Prefix {
	var out []netip.Prefix
	for _, p := range s {
		out = append(out, netip.MustParsePrefix(p))
	}
	return out
}

func TestRealClient(t *testing.T) {
	lb := prefixes("10.0.0.0/8", "2001:db8:f::/48")
	tests := []struct {
		name    string
		peer    string
		xff     []string
		trusted []netip.Prefix
		want    string
	}{
		{"no forwarders configured", "10.0.0.1:1", []string{"198.51.100.1"}, nil, "10.0.0.1:1"},
		{"untrusted peer: xff ignored", "203.0.113.5:1", []string{"198.51.100.1"}, lb, "203.0.113.5:1"},
		{"untrusted peer claiming a trusted hop", "203.0.113.5:1", []string{"198.51.100.1, 10.0.0.2"}, lb, "203.0.113.5:1"},
		{"trusted peer without xff", "10.0.0.1:1", nil, lb, "10.0.0.1:1"},
		{"trusted peer, one entry", "10.0.0.1:1", []string{"198.51.100.1"}, lb, "198.51.100.1:0"},
		{"spoofed entries before the client are ignored", "10.0.0.1:1", []string{"1.1.1.1, 2.2.2.2, 198.51.100.1"}, lb, "198.51.100.1:0"},
		{"trusted hops skipped", "10.0.0.1:1", []string{"6.6.6.6, 198.51.100.1, 10.0.0.3, 10.9.9.9"}, lb, "198.51.100.1:0"},
		{"spoofed trusted address left of the client", "10.0.0.1:1", []string{"10.0.0.7, 198.51.100.1, 10.0.0.3"}, lb, "198.51.100.1:0"},
		{"every entry trusted: the leftmost", "10.0.0.1:1", []string{"10.0.0.4, 10.0.0.3"}, lb, "10.0.0.4:0"},
		{"several header lines, in order", "10.0.0.1:1", []string{"6.6.6.6, 198.51.100.1", "10.0.0.3"}, lb, "198.51.100.1:0"},
		{"empty entries and blanks", "10.0.0.1:1", []string{",, \t198.51.100.1\t ,, ", ""}, lb, "198.51.100.1:0"},
		{"garbage stops the walk at the last address", "10.0.0.1:1", []string{"198.51.100.1, unknown, 10.0.0.3"}, lb, "10.0.0.3:0"},
		{"garbage right of everything: the peer", "10.0.0.1:1", []string{"198.51.100.1, _hidden"}, lb, "10.0.0.1:1"},
		{"ipv4 with port", "10.0.0.1:1", []string{"198.51.100.1:4711"}, lb, "198.51.100.1:4711"},
		{"ipv6 with port", "10.0.0.1:1", []string{"[2001:db8::9]:443"}, lb, "[2001:db8::9]:443"},
		{"ipv6 hops", "[2001:db8:f::1]:1", []string{"2001:db8::9, 2001:db8:f::2"}, lb, "[2001:db8::9]:0"},
		{"mapped entry unmapped", "10.0.0.1:1", []string{"::ffff:198.51.100.1"}, lb, "198.51.100.1:0"},
		{"mapped trusted hop skipped", "10.0.0.1:1", []string{"198.51.100.1, ::ffff:10.0.0.3"}, lb, "198.51.100.1:0"},
		{"mapped peer", "[::ffff:10.0.0.1]:1", []string{"198.51.100.1"}, lb, "198.51.100.1:0"},
		{"zone dropped", "10.0.0.1:1", []string{"fe80::1%eth0"}, lb, "[fe80::1]:0"},
		{"mapped prefix from the config", "10.0.0.1:1", []string{"198.51.100.1, 10.0.0.3"}, unmapPrefixes(prefixes("::ffff:10.0.0.0/104")), "198.51.100.1:0"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			peer := netip.MustParseAddrPort(tc.peer)
			got := realClient(peer, tc.xff, tc.trusted)
			if got.String() != tc.want {
				t.Errorf("realClient(%s, %q) = %s, want %s", tc.peer, tc.xff, got, tc.want)
			}
		})
	}
}

// FuzzRealClient: any X-Forwarded-For gives the peer or one of its
// entries, never a panic; an untrusted peer always stays the client.
func FuzzRealClient(f *testing.F) {
	f.Add("1.1.1.1, 198.51.100.1, 10.0.0.3", true)
	f.Add("[2001:db8::9]:443,,", true)
	f.Add("198.51.100.1", false)
	trusted := prefixes("10.0.0.0/8")
	f.Fuzz(func(t *testing.T, xff string, peerTrusted bool) {
		peer := netip.MustParseAddrPort("203.0.113.5:1")
		if peerTrusted {
			peer = netip.MustParseAddrPort("10.0.0.1:1")
		}
		got := realClient(peer, []string{xff}, trusted)
		if !peerTrusted && got != peer {
			t.Fatalf("untrusted peer replaced by %s", got)
		}
		if got == peer {
			return
		}
		for _, e := range strings.Split(xff, ",") {
			if a, ok := parseForwardedFor(strings.Trim(e, " \t")); ok && a == got {
				return
			}
		}
		t.Fatalf("client %s is neither the peer nor an entry of %q", got, xff)
	})
}

func TestConfig_ValidateProxy(t *testing.T) {
	tests := []struct {
		name string
		edit func(*Listener)
		want string
	}{
		{"proxy protocol with proxies", func(l *Listener) { l.ProxyProtocol, l.TrustedProxies = true, prefixes("10.0.0.0/8") }, ""},
		{"forwarders alone", func(l *Listener) { l.TrustedForwarders = prefixes("10.0.0.0/8") }, ""},
		{"proxy protocol without proxies", func(l *Listener) { l.ProxyProtocol = true }, "listeners[0].trusted_proxies: empty with proxy_protocol"},
		{"proxies without proxy protocol", func(l *Listener) { l.TrustedProxies = prefixes("10.0.0.0/8") }, "set without proxy_protocol"},
		{"zero proxy prefix", func(l *Listener) { l.ProxyProtocol, l.TrustedProxies = true, []netip.Prefix{{}} }, "trusted_proxies[0]: not a CIDR prefix"},
		{"zero forwarder prefix", func(l *Listener) { l.TrustedForwarders = []netip.Prefix{{}} }, "trusted_forwarders[0]: not a CIDR prefix"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := simple("", "127.0.0.1:1")
			c.Listeners[0].Address = "127.0.0.1:0"
			tc.edit(&c.Listeners[0])
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}
