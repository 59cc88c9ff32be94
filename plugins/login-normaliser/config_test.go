package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	s, err := parseConfig(nil)
	if err != nil {
		t.Fatal(err)
	}
	if !s.lowercase || s.defaultDomain != "" || strings.Join(s.suffixes, ",") != "tb,wm,ni" || s.maxLength != 256 {
		t.Errorf("defaults = %+v", s)
	}
	s = mustConfig(t, "testdata/zimbra.json")
	if s.defaultDomain != "example.com" || s.byListener["imap-a"] != "a.example" || s.bySNI["mail.b.example"] != "b.example" ||
		s.aliases["old@example.com"] != "new@example.com" {
		t.Errorf("zimbra.json = %+v", s)
	}
	s = mustConfig(t, "testdata/strip.json")
	if s.lowercase || !s.strip["corp.example"] || len(s.suffixes) != 0 || s.maxLength != 64 {
		t.Errorf("strip.json = %+v", s)
	}
	s, err = parseConfig([]byte(`{"aliases":{"Old@X":"new@y"},"default_domain":"@Example.com"}`))
	if err != nil || s.aliases["old@x"] != "new@y" || s.defaultDomain != "Example.com" {
		t.Errorf("aliases are folded like logins and a leading @ is dropped: %+v %v", s, err)
	}
}

func TestParseConfig_errors(t *testing.T) {
	tests := []struct{ config, want string }{
		{`{"lowercase":"yes"}`, "login-normaliser: config: lowercase: JSON string is not the expected type"},
		{`{"default_domian":"x"}`, `login-normaliser: config: json: unknown field "default_domian"`},
		{`{"default_domain":"a b"}`, `login-normaliser: config: default_domain: "a b" is not a domain`},
		{`{"default_domain":"@"}`, `login-normaliser: config: default_domain: "" is not a domain`},
		{`{"domains":{"listener":{"imap-a":""}}}`, "login-normaliser: config: domains.listener.imap-a: empty"},
		{`{"domains":{"sni":{"m.example":"a/b"}}}`, `login-normaliser: config: domains.sni.m.example: "a/b" is not a domain`},
		{`{"domains":{"port":{}}}`, `login-normaliser: config: json: unknown field "port"`},
		{`{"strip_domains":["ok.example",""]}`, "login-normaliser: config: strip_domains[1]: empty"},
		{`{"default_domain":"a.example","strip_domains":["A.example"]}`, `login-normaliser: config: default_domain: "a.example" is also in strip_domains`},
		{`{"domains":{"listener":{"x":"b.example"}},"strip_domains":["b.example"]}`, `login-normaliser: config: domains.listener.x: "b.example" is also in strip_domains`},
		{`{"suffixes":["tb","t/b"]}`, `login-normaliser: config: suffixes[1]: "t/b"`},
		{`{"suffixes":[""]}`, `login-normaliser: config: suffixes[0]: ""`},
		{`{"aliases":{"a":""}}`, `login-normaliser: config: aliases: "a": "": neither side may be empty`},
		{`{"aliases":{"a":"b\nc"}}`, "login-normaliser: config: aliases.a: the account contains CR, LF or NUL"},
		{`{"aliases":{"A":"x","a":"y"}}`, `login-normaliser: config: aliases.a: two aliases read as "a" once lower-cased`},
		{`{"max_length":0}`, "login-normaliser: config: max_length: 0 is outside 1..65536"},
		{`{} {}`, "login-normaliser: config: trailing data"},
		{`"x"`, "login-normaliser: config: the configuration must be a JSON object"},
	}
	for _, tc := range tests {
		_, err := parseConfig([]byte(tc.config))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("parseConfig(%s)\n = %v\nwant %q...", tc.config, err, tc.want)
		}
	}
}

// FuzzParseConfig checks that no configuration makes init panic and that
// an accepted one never both adds and strips a domain.
func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"aliases":{"ß@x":"y"},"lowercase":true,"max_length":65536}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseConfig(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "login-normaliser: config: ") {
				t.Fatalf("error without the component prefix: %v", err)
			}
			return
		}
		if s.defaultDomain != "" && s.strip[strings.ToLower(s.defaultDomain)] {
			t.Fatal("default domain is also stripped")
		}
		if s.maxLength < 1 || s.maxLength > maxMaxLength {
			t.Fatalf("max_length %d accepted", s.maxLength)
		}
		s.normalise(input{login: "Bob/TB", listener: "imap-a", sni: "x"})
	})
}
