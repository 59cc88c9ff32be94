package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/host/plugintest"
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

// reuseCases are the "reuse" rows: the decision reuse init declares, or
// -1 when the configuration is refused (err: the message's start). The
// Go source (natively here), its wasm build and the C build must agree
// on every row (c_test.go TestC_reuse).
var reuseCases = []plugintest.ReuseCase{
	{``, 5 * time.Second, ""},
	{`{}`, 5 * time.Second, ""},
	{`{"reuse":"5s"}`, 5 * time.Second, ""},
	{`{"reuse":2}`, 2 * time.Second, ""},
	{`{"reuse":2.5}`, 2500 * time.Millisecond, ""},
	{`{"reuse":"0"}`, 0, ""},
	{`{"reuse":0}`, 0, ""},
	{`{"reuse":-0.0000000001}`, 0, ""},
	{`{"reuse":"1h"}`, time.Hour, ""},
	{`{"reuse":3600}`, time.Hour, ""},
	{`{"reuse":"1.5ms"}`, 1500 * time.Microsecond, ""},
	{`{"Reuse":"250ms"}`, 250 * time.Millisecond, ""},
	{`{"reuse":"2h"}`, -1, `login-normaliser: config: reuse: "2h" is outside 0..1h; 0 turns decision reuse off`},
	{`{"reuse":3600.001}`, -1, `login-normaliser: config: reuse: 3600.001 is outside 0..1h`},
	{`{"reuse":"-1s"}`, -1, `login-normaliser: config: reuse: "-1s" is outside 0..1h`},
	{`{"reuse":-1}`, -1, `login-normaliser: config: reuse: -1 is outside 0..1h`},
	{`{"reuse":-1e300}`, -1, `login-normaliser: config: reuse: -1e300 is outside 0..1h`},
	{`{"reuse":"soon"}`, -1, `login-normaliser: config: reuse: "soon" is not a duration`},
	{`{"reuse":null}`, -1, `login-normaliser: config: reuse: null is not a duration`},
	{`{"reuse":{"a":[1]}}`, -1, `login-normaliser: config: reuse: {"a":[1]} is not a duration`},
}

func TestParseConfig_reuse(t *testing.T) {
	plugintest.CheckReuse(t, reuseCases, nil, parseConfig, func(s *settings) time.Duration { return s.reuse })
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
