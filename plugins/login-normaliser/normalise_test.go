package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/sdktest"
)

func mustConfig(t testing.TB, file string) *settings {
	t.Helper()
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	s, err := parseConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNormalise(t *testing.T) {
	zimbra := mustConfig(t, "testdata/zimbra.json")
	strip := mustConfig(t, "testdata/strip.json")
	defaults, _ := parseConfig(nil)
	tests := []struct {
		name              string
		s                 *settings
		in                input
		login, acct, suff string
		events            []string
	}{
		{"already normal", zimbra, input{login: "bob@example.com"}, "bob@example.com", "", "", nil},
		{"lower case", zimbra, input{login: "Bob@Example.COM"}, "bob@example.com", "", "", nil},
		{"default domain", zimbra, input{login: "bob"}, "bob@example.com", "", "", []string{ctrDomainAdded}},
		{"listener domain", zimbra, input{login: "bob", listener: "imap-a"}, "bob@a.example", "", "", []string{ctrDomainAdded}},
		{"sni domain beats listener", zimbra, input{login: "bob", listener: "imap-a", sni: "Mail.B.Example."}, "bob@b.example", "", "", []string{ctrDomainAdded}},
		{"unknown sni: listener", zimbra, input{login: "bob", listener: "imap-a", sni: "other.example"}, "bob@a.example", "", "", []string{ctrDomainAdded}},
		{"suffix", zimbra, input{login: "Bob@Example.com/TB"}, "bob@example.com", "", "tb", []string{ctrSuffixStripped}},
		{"suffix without domain", zimbra, input{login: "bob/wm"}, "bob@example.com", "", "wm", []string{ctrSuffixStripped, ctrDomainAdded}},
		{"unknown suffix kept", zimbra, input{login: "bob@example.com/xx"}, "bob@example.com/xx", "", "", nil},
		{"only the last suffix", zimbra, input{login: "bob/tb/ni"}, "bob/tb@example.com", "", "ni", []string{ctrSuffixStripped, ctrDomainAdded}},
		{"alias", zimbra, input{login: "OLD@example.com"}, "old@example.com", "new@example.com", "", []string{ctrAliased}},
		{"alias after the domain", zimbra, input{login: "postmaster", listener: "imap-a"}, "postmaster@a.example", "admin@example.com", "", []string{ctrDomainAdded, ctrAliased}},
		{"multiple @: the last one splits", zimbra, input{login: "a@b@C.example"}, "a@b@c.example", "", "", nil},
		{"trailing @ takes the domain", zimbra, input{login: "bob@"}, "bob@example.com", "", "", []string{ctrDomainAdded}},
		{"trailing @ without a domain to add", defaults, input{login: "Bob@"}, "bob@", "", "", nil},
		{"a suffix alone is a login", zimbra, input{login: "/TB"}, "/tb@example.com", "", "", []string{ctrDomainAdded}},
		{"lone @ is left", zimbra, input{login: "@"}, "@", "", "", nil},
		{"empty", zimbra, input{login: ""}, "", "", "", []string{ctrEmpty}},
		{"too long", zimbra, input{login: strings.Repeat("A", 257)}, strings.Repeat("A", 257), "", "", []string{ctrTooLong}},
		{"unicode lower case, no IDNA", zimbra, input{login: "JÜRGEN@BÜCHER.EXAMPLE"}, "jürgen@bücher.example", "", "", nil},
		{"not UTF-8: ASCII only", zimbra, input{login: "B\xffOB"}, "b\xffob@example.com", "", "", []string{ctrDomainAdded}},
		{"spaces and controls pass", zimbra, input{login: "Bo b\x01"}, "bo b\x01@example.com", "", "", []string{ctrDomainAdded}},
		{"defaults: lower case and suffixes only", defaults, input{login: "Bob/NI"}, "bob", "", "ni", []string{ctrSuffixStripped}},
		{"strip domain, case kept", strip, input{login: "Bob@CORP.example"}, "Bob", "", "", []string{ctrDomainStripped}},
		{"strip: other domain kept", strip, input{login: "Bob@other.example"}, "Bob@other.example", "", "", nil},
		{"strip: no suffixes configured", strip, input{login: "bob@corp.example/tb"}, "bob@corp.example/tb", "", "", nil},
		{"strip: @domain alone kept", strip, input{login: "@corp.example"}, "@corp.example", "", "", nil},
		{"strip: max_length 64", strip, input{login: strings.Repeat("x", 65)}, strings.Repeat("x", 65), "", "", []string{ctrTooLong}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.s.normalise(tc.in)
			if r.login != tc.login || r.account != tc.acct || r.suffix != tc.suff || !slices.Equal(r.events, tc.events) {
				t.Errorf("normalise(%q) = %q account %q suffix %q events %v;\nwant %q account %q suffix %q events %v",
					tc.in.login, r.login, r.account, r.suffix, r.events, tc.login, tc.acct, tc.suff, tc.events)
			}
		})
	}
}

// TestHook runs the hook through the SDK's fake host: the fields it
// writes and the counters.
func TestHook(t *testing.T) {
	cfg, _ := os.ReadFile("testdata/zimbra.json")
	tests := []struct {
		name                          string
		login, account, listener, sni string
		want                          map[abi.Field]string
		counters                      map[string]int64
	}{
		{name: "suffix and domain", login: "Bob/tb", listener: "imap-a",
			want:     map[abi.Field]string{abi.FieldLogin: "bob@a.example", abi.FieldAccount: "bob@a.example", abi.FieldClientSuffix: "tb"},
			counters: map[string]int64{ctrChanged: 1, ctrSuffixStripped: 1, ctrDomainAdded: 1}},
		{name: "alias sets the account only", login: "old@example.com",
			want:     map[abi.Field]string{abi.FieldLogin: "old@example.com", abi.FieldAccount: "new@example.com", abi.FieldClientSuffix: ""},
			counters: map[string]int64{ctrAliased: 1}},
		{name: "an account another plugin set is kept", login: "BOB", account: "robert@example.com",
			want:     map[abi.Field]string{abi.FieldLogin: "bob@example.com", abi.FieldAccount: "robert@example.com"},
			counters: map[string]int64{ctrChanged: 1, ctrDomainAdded: 1}},
		{name: "unchanged: nothing written", login: "bob@example.com",
			want:     map[abi.Field]string{abi.FieldLogin: "bob@example.com", abi.FieldAccount: ""},
			counters: map[string]int64{}},
		{name: "empty", login: "",
			want:     map[abi.Field]string{abi.FieldLogin: "", abi.FieldAccount: ""},
			counters: map[string]int64{ctrEmpty: 1}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := sdktest.New(t)
			h.Config = cfg
			h.Fields[abi.FieldLogin] = tc.login
			if tc.account != "" {
				h.Fields[abi.FieldAccount] = tc.account
			}
			h.Fields[abi.FieldListener] = tc.listener
			h.Fields[abi.FieldSNI] = tc.sni
			if v := h.CallHook(abi.HookLogin); v != abi.VerdictContinue {
				t.Fatalf("verdict %v, want continue", v)
			}
			for f, want := range tc.want {
				if got := h.Fields[f]; got != want {
					t.Errorf("%s = %q, want %q", f, got, want)
				}
			}
			if !equalCounters(h.Counters, tc.counters) {
				t.Errorf("counters %v, want %v", h.Counters, tc.counters)
			}
		})
	}
}

func equalCounters(a, b map[string]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// FuzzNormalise feeds any login, listener and SNI name through the
// normaliser with the Zimbra-like configuration.
func FuzzNormalise(f *testing.F) {
	for _, seed := range []string{"bob", "Bob@Example.COM/tb", "a@b@c", "@", "bob@", "/tb", "JÜRGEN", "\xff\xfe", "x/ni/wm", ""} {
		f.Add(seed, "imap-a", "mail.b.example")
	}
	s := mustConfig(f, "testdata/zimbra.json")
	f.Fuzz(func(t *testing.T, login, listener, sni string) {
		r := s.normalise(input{login: login, listener: listener, sni: sni})
		switch {
		case login == "":
			if r.login != "" {
				t.Fatalf("empty login became %q", r.login)
			}
			return
		case len(login) > s.maxLength:
			if r.login != login {
				t.Fatalf("a too long login was changed")
			}
			return
		}
		if strings.Contains(login, "@") && strings.Count(r.login, "@") > strings.Count(login, "@") {
			t.Fatalf("%q: a domain was added to a login that had one: %q", login, r.login)
		}
		if r.suffix != "" && !slices.Contains(s.suffixes, r.suffix) {
			t.Fatalf("%q: suffix %q is not configured", login, r.suffix)
		}
		if len(r.login) > len(login)*3+len(s.defaultDomain)+64 {
			t.Fatalf("%q grew to %d bytes", login, len(r.login))
		}
		if strings.ToValidUTF8(login, "") == login && strings.ToValidUTF8(r.login, "") != r.login {
			t.Fatalf("%q: valid UTF-8 became invalid: %q", login, r.login)
		}
	})
}
