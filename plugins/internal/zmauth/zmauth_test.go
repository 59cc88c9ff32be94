package zmauth

import (
	"encoding/hex"
	"fmt"
	"strings"
	"testing"
)

// token builds "<ver>_<hmac>_<hex(data)>" as ZimbraAuthToken.getEncoded does.
func token(data string) string {
	return "0_c6bd6e8c4b4b8a1c9a64c7e6f0c4d1b0b5d0f3f8_" + hex.EncodeToString([]byte(data))
}

const zid = "cc00ce85-8c0b-49eb-8e08-a8aab43ce836"

func TestAccountID(t *testing.T) {
	tests := []struct {
		name, token string
		want        string
		ok          bool
	}{
		{"zimbra token", token("id=36:" + zid + ";exp=13:1196504658160;type=6:zimbra;"), zid, true},
		{"id not first", token("exp=13:1196504658160;id=36:" + zid + ";"), zid, true},
		{"no trailing separator", token("id=36:" + zid), zid, true},
		{"upper-case hex", strings.ToUpper(token("id=3:abc;")), "abc", true},
		{"value holds separators", token("id=7:a;b=c:d;"), "a;b=c:d", true},
		{"field named like id", token("xid=3:bad;id=4:good;"), "good", true},
		{"length says where a value ends", token("name=8:id=3:bad;id=2:ok;"), "ok", true},
		{"more underscores: data after the second", "1_ab_" + hex.EncodeToString([]byte("id=1:x")) + "_", "", false},
		{"empty id", token("id=0:;exp=1:1;"), "", false},
		{"no id", token("exp=13:1196504658160;"), "", false},
		{"one underscore", "0_" + hex.EncodeToString([]byte("id=1:x")), "", false},
		{"no underscore", "abc", "", false},
		{"empty", "", "", false},
		{"odd hex", token("id=1:x") + "a", "", false},
		{"not hex", "0_x_zz", "", false},
		{"length past the end", token("id=99:short"), "", false},
		{"no length", token("id=:x;"), "", false},
		{"no colon", token("id=3abc;"), "", false},
		{"huge length", token("id=99999999999999999999999999:x"), "", false},
		{"malformed field stops the parse", token("exp=x;id=1:a;"), "", false},
		{"empty data", "0_0_", "", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := AccountID(tc.token)
			if got != tc.want || ok != tc.ok {
				t.Fatalf("AccountID(%q) = %q, %v; want %q, %v", tc.token, got, ok, tc.want, tc.ok)
			}
		})
	}
}

func TestArg(t *testing.T) {
	tests := []struct {
		query, want string
		ok          bool
	}{
		{"zauthtoken=abc", "abc", true},
		{"a=1&zauthtoken=abc&zauthtoken=def", "abc", true},
		{"a=1&zauthtoken=", "", true},
		{"zauthtoken", "", false},
		{"xzauthtoken=1&zauthtokenx=2", "", false},
		{"flag&zauthtoken=t%5F1", "t%5F1", true}, // raw: no unescaping
		{"", "", false},
	}
	for _, tc := range tests {
		got, ok := Arg(tc.query, "zauthtoken")
		if got != tc.want || ok != tc.ok {
			t.Errorf("Arg(%q) = %q, %v; want %q, %v", tc.query, got, ok, tc.want, tc.ok)
		}
	}
}

func TestToken(t *testing.T) {
	cookies := func(m map[string]string) func(string) string { return func(n string) string { return m[n] } }
	if got := Token(cookies(map[string]string{"ZM_AUTH_TOKEN": "c"}), "zauthtoken=q"); got != "c" {
		t.Errorf("cookie and argument: %q, want the cookie", got)
	}
	if got := Token(cookies(nil), "zauthtoken=q"); got != "q" {
		t.Errorf("argument only: %q", got)
	}
	if got := Token(cookies(map[string]string{"ZM_ADMIN_AUTH_TOKEN": "a"}), ""); got != "" {
		t.Errorf("admin cookie: %q, want none (the admin console is not routed by token)", got)
	}
}

// FuzzAccountID: any token parses without panicking and an id found is
// not empty; a token built from fields always gives back its id.
func FuzzAccountID(f *testing.F) {
	f.Add(token("id=36:"+zid+";exp=13:1196504658160;"), "x")
	f.Add("0_0_", "")
	f.Add(token("id=99999999999999999999:x"), "a;b")
	f.Fuzz(func(t *testing.T, tok, id string) {
		if got, ok := AccountID(tok); ok && got == "" {
			t.Fatal("ok with an empty id")
		}
		if id == "" {
			return
		}
		built := token(fmt.Sprintf("exp=1:9;id=%d:%s;type=6:zimbra;", len(id), id))
		if got, ok := AccountID(built); !ok || got != id {
			t.Fatalf("AccountID of a token with id %q = %q, %v", id, got, ok)
		}
	})
}
