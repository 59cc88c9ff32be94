package storekeys

import (
	"crypto/sha256"
	"encoding/hex"
	"slices"
	"strings"
	"testing"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// kinds are the keys built from two values (a one-value key uses a).
var kinds = []struct {
	name   string
	layout layout
	key    func(a, b string) string
	// raw returns the parts as they go into the key.
	raw func(a, b string) []string
}{
	{"route", routeKey, func(a, b string) string { return Route(b, a) }, func(a, b string) []string { return []string{b, a} }},
	{"mail alias", mailAliasKey, MailAlias, func(a, b string) []string { return []string{a, b} }},
	{"web alias", webAliasKey, WebAlias, func(a, b string) []string { return []string{a, b} }},
	{"throttle ip", throttleIPKey, ThrottleIP, func(a, b string) []string {
		if a != "" {
			a = a[:1]
		}
		return []string{a, b}
	}},
	{"throttle user", throttleUserKey, func(a, _ string) string { return ThrottleUser(a) }, func(a, _ string) []string { return []string{a} }},
}

// FuzzKeys checks, for every kind of key and any values: memcached
// accepts the key; the key splits back into its parts in one way only and
// each part unescapes to its value or is the hash of it (so distinct
// values never share a key); and ordinary logins are kept byte for byte
// as Zimbra writes them.
func FuzzKeys(f *testing.F) {
	for _, s := range []string{"bob@example.com", "a b", "a%20b", "", "\x00\r\n\x7f", "jörg", strings.Repeat("z", 260),
		"%sha256:00", "sha256:" + sha(strings.Repeat("z", 260)), "a;vhost=b", "a;ip=b", "i,ip=1"} {
		f.Add(s, "192.0.2.1")
	}
	f.Add("a", "b;vhost=c")
	f.Add("imap", "192.0.2.1,ip=x")
	f.Fuzz(func(t *testing.T, login, host string) {
		for _, k := range kinds {
			key := k.key(login, host)
			checkKey(t, key)
			checkSplit(t, k.layout, key, k.raw(login, host))
		}
		back, ok := unescape(Escape(login), false)
		if !ok || back != login {
			t.Fatalf("Escape(%q) = %q does not unescape back (%q)", login, Escape(login), back)
		}
		if plain := !strings.ContainsFunc(login, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '%' }); plain && len(login) <= 200 {
			if got := Route("imap", login); got != "route:proto=imap;user="+login {
				t.Fatalf("ordinary login %q changed: %q", login, got)
			}
			if got := ThrottleUser(login); got != "throttle:user="+login {
				t.Fatalf("ordinary login %q changed: %q", login, got)
			}
			if got := MailAlias(login, "192.0.2.1"); got != "alias:user="+login+";ip=192.0.2.1" {
				t.Fatalf("ordinary login %q changed: %q", login, got)
			}
		}
	})
}

// FuzzKeys_distinct checks directly that two different pairs of values
// never give one key.
func FuzzKeys_distinct(f *testing.F) {
	f.Add("a b", "h", "a%20b", "h")
	f.Add("a", "b;vhost=c", "a;vhost=b", "c")
	f.Add("a", "b;ip=c", "a;ip=b", "c")
	f.Add(strings.Repeat("x", 300), "h", "%sha256:"+sha(strings.Repeat("x", 300)), "h")
	f.Add(strings.Repeat("x", 300), "h", "sha256:"+sha(strings.Repeat("x", 300)), "h")
	f.Add("imap", "1.2.3.4", "i", "1.2.3.4")
	f.Fuzz(func(t *testing.T, a1, b1, a2, b2 string) {
		for _, k := range kinds {
			r1, r2 := k.raw(a1, b1), k.raw(a2, b2)
			if slices.Equal(r1, r2) {
				continue // the same values (the key ignores the rest)
			}
			if k1, k2 := k.key(a1, b1), k.key(a2, b2); k1 == k2 {
				t.Fatalf("%s: %q and %q share key %q", k.name, r1, r2, k1)
			}
		}
	})
}

// checkSplit splits key as its layout says (a reader who knows only the
// key) and checks each part gives back its raw value.
func checkSplit(t *testing.T, l layout, key string, raw []string) {
	t.Helper()
	rest, ok := strings.CutPrefix(key, l.labels[0])
	if !ok {
		t.Fatalf("key %q does not start with %q", key, l.labels[0])
	}
	parts := []string{rest}
	if len(l.labels) == 2 {
		// The second label starts at the only ';' or ',' of the parts that
		// are not free: the first one when part 0 is not free, the last one
		// when it is.
		i := strings.IndexAny(rest, ";,")
		if l.free == 0 {
			i = strings.LastIndexAny(rest, ";,")
		}
		if i < 0 || !strings.HasPrefix(rest[i:], l.labels[1]) {
			t.Fatalf("key %q: no %q where it must be", key, l.labels[1])
		}
		parts = []string{rest[:i], rest[i+len(l.labels[1]):]}
	}
	if len(parts) != len(raw) {
		t.Fatalf("key %q: %d parts, want %d", key, len(parts), len(raw))
	}
	for i, p := range parts {
		if h, ok := strings.CutPrefix(p, hashPrefix); ok {
			if h != sha(raw[i]) {
				t.Fatalf("key %q: part %d %q is not the hash of %q", key, i, p, raw[i])
			}
			continue
		}
		got, ok := unescape(p, i != l.free)
		if !ok || got != raw[i] {
			t.Fatalf("key %q: part %d %q unescapes to %q (canonical %v), want %q", key, i, p, got, ok, raw[i])
		}
	}
}

// unescape reverses escape, and reports false for anything escape cannot
// have written (a byte that needed escaping, lower-case hex, an escape of
// a byte that did not).
func unescape(s string, delims bool) (string, bool) {
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c != '%' {
			if needsEscape(c, delims) {
				return "", false
			}
			b = append(b, c)
			continue
		}
		if i+2 >= len(s) {
			return "", false
		}
		v, ok1 := upperHex(s[i+1])
		w, ok2 := upperHex(s[i+2])
		if !ok1 || !ok2 || !needsEscape(v<<4|w, delims) {
			return "", false
		}
		b = append(b, v<<4|w)
		i += 2
	}
	return string(b), true
}

func upperHex(c byte) (byte, bool) {
	switch {
	case '0' <= c && c <= '9':
		return c - '0', true
	case 'A' <= c && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}
