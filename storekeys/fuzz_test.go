package keys

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strings"
	"testing"
)

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// FuzzKeys checks that every key is one memcached accepts, that escaping
// is reversible (so two logins never share a key unless hashed), and that
// ordinary logins are kept byte for byte as Zimbra writes them.
func FuzzKeys(f *testing.F) {
	for _, s := range []string{"bob@example.com", "a b", "a%20b", "", "\x00\r\n\x7f", "jörg", strings.Repeat("z", 260), "%sha256:00"} {
		f.Add(s, "192.0.2.1")
	}
	f.Fuzz(func(t *testing.T, login, host string) {
		for _, k := range []string{Route("imap", login), MailAlias(login, host), WebAlias(login, host)} {
			checkKey(t, k)
		}
		esc := Escape(login)
		back, err := url.PathUnescape(esc)
		if err != nil || back != login {
			t.Fatalf("Escape(%q) = %q does not unescape back (%q, %v)", login, esc, back, err)
		}
		if plain := !strings.ContainsFunc(login, func(r rune) bool { return r <= ' ' || r == 0x7f || r == '%' }); plain && len(login) <= 200 {
			if got := Route("imap", login); got != "route:proto=imap;user="+login {
				t.Fatalf("ordinary login %q changed: %q", login, got)
			}
		}
	})
}
