package storekeys

import (
	"strings"
	"testing"
)

func TestRoute(t *testing.T) {
	long := strings.Repeat("a", 240) + "@example.com"
	tests := []struct {
		name, proto, account, want string
	}{
		{"zimbra byte for byte", "imap", "bob@example.com", "route:proto=imap;user=bob@example.com"},
		{"ssl proto", "imapssl", "bob@example.com", "route:proto=imapssl;user=bob@example.com"},
		{"utf-8 kept", "pop3", "jörg@exämple.de", "route:proto=pop3;user=jörg@exämple.de"},
		{"space escaped", "imap", "bob smith", "route:proto=imap;user=bob%20smith"},
		{"percent escaped", "imap", "a%20b", "route:proto=imap;user=a%2520b"},
		{"controls escaped", "imap", "a\r\n\x00\x7f", "route:proto=imap;user=a%0D%0A%00%7F"},
		{"empty account", "http", "", "route:proto=http;user="},
		{"long account hashed", "imap", long,
			"route:proto=imap;user=%sha256:" + sha(long)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Route(tc.proto, tc.account)
			if got != tc.want {
				t.Errorf("Route(%q, %q) = %q, want %q", tc.proto, tc.account, got, tc.want)
			}
			checkKey(t, got)
		})
	}
}

func TestRouteID(t *testing.T) {
	long := strings.Repeat("f", 260)
	tests := []struct {
		name, proto, id, want string
	}{
		{"zimbra byte for byte", "http", "cc00ce85-8c0b-49eb-8e08-a8aab43ce836",
			"route:proto=http;id=cc00ce85-8c0b-49eb-8e08-a8aab43ce836"},
		{"httpssl", "httpssl", "cc00ce85", "route:proto=httpssl;id=cc00ce85"},
		{"odd id escaped", "http", "a b;c", "route:proto=http;id=a%20b;c"},
		{"long id hashed", "http", long, "route:proto=http;id=%sha256:" + sha(long)},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := RouteID(tc.proto, tc.id)
			if got != tc.want {
				t.Errorf("RouteID(%q, %q) = %q, want %q", tc.proto, tc.id, got, tc.want)
			}
			checkKey(t, got)
			if got == Route(tc.proto, tc.id) {
				t.Errorf("RouteID and Route give one key %q", got)
			}
		})
	}
}

func TestAllID(t *testing.T) {
	got := AllID("cc00ce85")
	want := []string{"route:proto=http;id=cc00ce85", "route:proto=httpssl;id=cc00ce85"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("AllID = %q, want %q", got, want)
	}
}

func TestAlias(t *testing.T) {
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"mail", MailAlias("bob", "192.0.2.1"), "alias:user=bob;ip=192.0.2.1"},
		{"mail ipv6", MailAlias("bob", "2001:db8::1"), "alias:user=bob;ip=2001:db8::1"},
		{"web", WebAlias("bob", "mail.example.com"), "alias:user=bob;vhost=mail.example.com"},
		{"web odd login", WebAlias("b b", "mail.example.com"), "alias:user=b%20b;vhost=mail.example.com"},
		{"long vhost hashed, login kept", WebAlias("bob", strings.Repeat("h", 300)),
			"alias:user=bob;vhost=%sha256:" + sha(strings.Repeat("h", 300))},
		{"both long: both hashed", WebAlias(strings.Repeat("u", 300), strings.Repeat("h", 300)),
			"alias:user=%sha256:" + sha(strings.Repeat("u", 300)) + ";vhost=%sha256:" + sha(strings.Repeat("h", 300))},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
			checkKey(t, tc.got)
		})
	}
}

func TestRoute_noCollisions(t *testing.T) {
	logins := []string{"a b", "a%20b", "a%2520b", "sha256:" + sha(strings.Repeat("x", 300)),
		strings.Repeat("x", 300), "%sha256:" + sha(strings.Repeat("x", 300))}
	seen := map[string]string{}
	for _, l := range logins {
		k := Route("imap", l)
		if prev, ok := seen[k]; ok {
			t.Errorf("logins %q and %q share key %q", prev, l, k)
		}
		seen[k] = l
	}
}

func TestThrottle(t *testing.T) {
	long := strings.Repeat("x", 237) // one byte over: "throttle:user=" is 14
	tests := []struct {
		name string
		got  string
		want string
	}{
		{"user: zimbra byte for byte", ThrottleUser("bob@example.com"), "throttle:user=bob@example.com"},
		{"user: no case folding", ThrottleUser("Bob@Example.COM"), "throttle:user=Bob@Example.COM"},
		{"user: utf-8 kept", ThrottleUser("jürgen@example.de"), "throttle:user=jürgen@example.de"},
		{"user: ';' and ',' kept in the login", ThrottleUser("a;b,c"), "throttle:user=a;b,c"},
		{"user: space escaped", ThrottleUser("a b"), "throttle:user=a%20b"},
		{"user: percent escaped", ThrottleUser("a%20b"), "throttle:user=a%2520b"},
		{"user: controls escaped", ThrottleUser("tab\tnl\n\x7f"), "throttle:user=tab%09nl%0A%7F"},
		{"user: longest kept", ThrottleUser(strings.Repeat("x", 236)), "throttle:user=" + strings.Repeat("x", 236)},
		{"user: too long hashed", ThrottleUser(long), "throttle:user=%sha256:" + sha(long)},
		{"user: a login reading like a hash is kept", ThrottleUser("sha256:" + sha(long)), "throttle:user=sha256:" + sha(long)},
		{"ip: imap", ThrottleIP("imap", "192.0.2.7"), "throttle:proto=i,ip=192.0.2.7"},
		{"ip: pop3 ipv6", ThrottleIP("pop3", "2001:db8::1"), "throttle:proto=p,ip=2001:db8::1"},
		{"ip: imapssl counts with imap", ThrottleIP("imapssl", "192.0.2.7"), "throttle:proto=i,ip=192.0.2.7"},
		{"ip: http", ThrottleIP("http", "192.0.2.7"), "throttle:proto=h,ip=192.0.2.7"},
		{"ip: a delimiter in the address escaped", ThrottleIP("imap", "x,ip=y"), "throttle:proto=i,ip=x%2Cip=y"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.got != tc.want {
				t.Errorf("got %q, want %q", tc.got, tc.want)
			}
			checkKey(t, tc.got)
		})
	}
}

// TestKeys_distinct: values that a naive concatenation or escaping maps to
// one key get different keys.
func TestKeys_distinct(t *testing.T) {
	long := strings.Repeat("x", 300)
	tests := []struct {
		name string
		a, b string
	}{
		{"throttle: space and its escape", ThrottleUser("a b"), ThrottleUser("a%20b")},
		{"throttle: long login and its hash read as a login", ThrottleUser(long), ThrottleUser("sha256:" + sha(long))},
		{"throttle: long login and its hashed key read as a login", ThrottleUser(long), ThrottleUser("%sha256:" + sha(long))},
		{"throttle: two long logins", ThrottleUser(strings.Repeat("x", 237)), ThrottleUser(strings.Repeat("x", 238))},
		{"throttle: two addresses", ThrottleIP("imap", "192.0.2.1"), ThrottleIP("imap", "192.0.2.10")},
		{"web alias: the vhost label moved from host to login", WebAlias("a", "b;vhost=c"), WebAlias("a;vhost=b", "c")},
		{"mail alias: the ip label moved from ip to login", MailAlias("a", "b;ip=c"), MailAlias("a;ip=b", "c")},
		{"route: the user label moved from account to proto", Route("imap;user=a", "b"), Route("imap", "a;user=b")},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.a == tc.b {
				t.Errorf("both are %q", tc.a)
			}
		})
	}
}

func TestAll(t *testing.T) {
	got := All("bob@example.com", []string{"192.0.2.1", "192.0.2.1", "192.0.2.2"}, []string{"mail.example.com"})
	want := []string{
		"route:proto=imap;user=bob@example.com",
		"route:proto=pop3;user=bob@example.com",
		"route:proto=http;user=bob@example.com",
		"route:proto=imapssl;user=bob@example.com",
		"route:proto=pop3ssl;user=bob@example.com",
		"route:proto=httpssl;user=bob@example.com",
		"alias:user=bob@example.com;ip=192.0.2.1",
		"alias:user=bob@example.com;ip=192.0.2.2",
		"alias:user=bob@example.com;vhost=mail.example.com",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("All =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

func TestHashed(t *testing.T) {
	if Hashed(Route("imap", "bob")) {
		t.Error("a short key reads as hashed")
	}
	if !Hashed(Route("imap", strings.Repeat("b", 300))) {
		t.Error("a hashed key reads as not hashed")
	}
}

// checkKey fails the test unless memcached accepts k.
func checkKey(t testing.TB, k string) {
	t.Helper()
	if k == "" || len(k) > MaxKeyBytes {
		t.Fatalf("key %q: %d bytes, want 1..%d", k, len(k), MaxKeyBytes)
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c == 0x7f {
			t.Fatalf("key %q: byte %#x at %d", k, c, i)
		}
	}
}
