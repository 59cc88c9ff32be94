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
	if s.ip.active() || s.user.active() || s.ip.window != time.Hour || s.user.message != defaultUserMessage {
		t.Errorf("defaults = %+v", s)
	}
	s, err = parseConfig(mustRead(t, "testdata/zimbra.json"))
	if err != nil {
		t.Fatal(err)
	}
	if s.ip.limit != 1000 || s.perProto["imap"] != 500 || s.perProto["http"] != 0 || len(s.perProto) != 3 ||
		s.user.window != time.Hour || len(s.allow) != 3 || s.allow[1].Bits() != 32 {
		t.Errorf("zimbra.json = %+v", s)
	}
	s, err = parseConfig(mustRead(t, "testdata/soft.json"))
	if err != nil {
		t.Fatal(err)
	}
	if s.ip.soft != 20 || s.delay != 2*time.Second || !s.userEveryAttempt || !s.userByAccount || s.ip.window != 10*time.Minute ||
		!strings.HasPrefix(s.ip.message, "Too many") {
		t.Errorf("soft.json = %+v", s)
	}
}

func TestParseConfig_errors(t *testing.T) {
	tests := []struct{ config, want string }{
		{`{"ip":{"limit":-1}}`, "throttle: config: ip.limit: -1 is negative"},
		{`{"ip":{"limit":"ten"}}`, "throttle: config: ip.limit: want a whole number, got JSON string"},
		{`{"ip":{"limt":3}}`, `throttle: config: json: unknown field "limt"`},
		{`{"ip":{"window":0}}`, "throttle: config: ip.window: 0s is outside 1s..720h"},
		{`{"ip":{"window":"1.5s"}}`, "throttle: config: ip.window: 1.5s is not whole seconds"},
		{`{"user":{"window":"soon"}}`, `throttle: config: user.window: "soon" is not a duration`},
		{`{"user":{"window":1.5}}`, "throttle: config: user.window: 1.5 is not a whole number of seconds"},
		{`{"user":{"window":true}}`, "throttle: config: user.window: true is not a whole number"},
		{`{"user":{"limit":3,"soft_limit":3}}`, "throttle: config: user.soft_limit: 3 is not below user.limit 3"},
		{`{"user":{"soft_limit":-2}}`, "throttle: config: user.soft_limit: -2 is negative"},
		{`{"user":{"message":"a\nb"}}`, "throttle: config: user.message: must be one non-empty line"},
		{`{"ip":{"message":""}}`, "throttle: config: ip.message: must be one non-empty line"},
		{`{"user":{"count":"session"}}`, `throttle: config: user.count: "session": want "login"`},
		{`{"user":{"key":"email"}}`, `throttle: config: user.key: "email": want "login" or "account"`},
		{`{"ip":{"protocols":{"smtp":3}}}`, `throttle: config: ip.protocols: unknown protocol "smtp"; use imap, pop3, http`},
		{`{"ip":{"protocols":{"imap":-3}}}`, "throttle: config: ip.protocols.imap: -3 is negative"},
		{`{"allowlist":["10.0.0.0/8","10.0.0/8"]}`, `throttle: config: allowlist[1]: "10.0.0/8" is not an IP address or CIDR`},
		{`{"allowlist":["fe80::1%eth0"]}`, `throttle: config: allowlist[0]: "fe80::1%eth0" is not an IP address or CIDR`},
		{`{"allowlist":["::ffff:0:0/80"]}`, `throttle: config: allowlist[0]`},
		{`{"ip":{"soft_limit":2}}`, "throttle: config: delay: a soft_limit is set but delay is 0"},
		{`{"delay":"1s"}`, "throttle: config: delay: set without ip.soft_limit or user.soft_limit"},
		{`{"ip":{"soft_limit":2},"delay":"6m"}`, "throttle: config: delay: 6m0s is outside 0..5m0s"},
		{`{"ip":{}} {}`, "throttle: config: trailing data"},
		{`{"ip":`, "throttle: config: unexpected EOF"},
		{`[1]`, "throttle: config: the configuration must be a JSON object, got JSON array"},
	}
	for _, tc := range tests {
		_, err := parseConfig([]byte(tc.config))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("parseConfig(%s) = %v, want %q...", tc.config, err, tc.want)
		}
	}
}

// reuseCases are the "reuse" rows: the decision reuse init declares, or
// -1 when the configuration is refused (with the message's start). The
// Go source (natively here), its wasm build and the C build must agree
// on every row (c_test.go TestC_reuse).
var reuseCases = []plugintest.ReuseCase{
	{`{}`, 5 * time.Second, ""},
	{``, 5 * time.Second, ""},
	{`{"reuse":null}`, 5 * time.Second, ""},
	{`{"reuse":"5s"}`, 5 * time.Second, ""},
	{`{"reuse":2}`, 2 * time.Second, ""},
	{`{"reuse":"0"}`, 0, ""},
	{`{"reuse":0}`, 0, ""},
	{`{"reuse":"1h"}`, time.Hour, ""},
	{`{"reuse":3600}`, time.Hour, ""},
	{`{"reuse":"59m60s"}`, time.Hour, ""},
	{`{"reuse":"1.5ms"}`, 1500 * time.Microsecond, ""},
	{`{"REUSE":"250ms"}`, 250 * time.Millisecond, ""},
	{`{"reuse":"2h"}`, -1, `throttle: config: reuse: "2h" is outside 0..1h; 0 turns decision reuse off`},
	{`{"reuse":"1h0.001s"}`, -1, `throttle: config: reuse: "1h0.001s" is outside 0..1h`},
	{`{"reuse":3601}`, -1, `throttle: config: reuse: 3601 is outside 0..1h`},
	{`{"reuse":"-1s"}`, -1, `throttle: config: reuse: "-1s" is outside 0..1h`},
	{`{"reuse":-1}`, -1, `throttle: config: reuse: -1 is outside 0..1h`},
	{`{"reuse":1.5}`, -1, `throttle: config: reuse: 1.5 is not a whole number of seconds`},
	{`{"reuse":"soon"}`, -1, `throttle: config: reuse: "soon" is not a duration`},
	{`{"reuse":true}`, -1, `throttle: config: reuse: true is not a whole number of seconds`},
}

func TestParseConfig_reuse(t *testing.T) {
	plugintest.CheckReuse(t, reuseCases, nil, parseConfig, func(s *settings) time.Duration { return s.reuse })
}

func TestParsePrefix(t *testing.T) {
	tests := []struct{ in, want string }{
		{"192.0.2.7", "192.0.2.7/32"},
		{"10.1.2.3/8", "10.0.0.0/8"},
		{"::ffff:10.0.0.0/104", "10.0.0.0/8"},
		{"::ffff:192.0.2.1", "192.0.2.1/32"},
		{"2001:db8::1", "2001:db8::1/128"},
	}
	for _, tc := range tests {
		p, err := parsePrefix(tc.in)
		if err != nil || p.String() != tc.want {
			t.Errorf("parsePrefix(%q) = %v, %v; want %s", tc.in, p, err, tc.want)
		}
	}
}

// FuzzParseConfig checks that no configuration makes init panic and that
// an accepted one keeps the invariants check relies on.
func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"ip":{"limit":1,"window":"1s","soft_limit":0,"protocols":{"imap":0}},"allowlist":["::/0"]}`))
	f.Add([]byte(`{"user":{"soft_limit":1,"window":2592000},"delay":300}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := parseConfig(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "throttle: config: ") {
				t.Fatalf("error without the component prefix: %v", err)
			}
			return
		}
		for _, c := range []counter{s.ip, s.user} {
			if c.window < time.Second || c.window > maxWindow || c.message == "" || strings.ContainsAny(c.message, "\r\n") {
				t.Fatalf("accepted a bad counter: %+v", c)
			}
			if c.limit > 0 && c.soft >= c.limit {
				t.Fatalf("accepted soft %d >= limit %d", c.soft, c.limit)
			}
		}
		if (s.ip.soft > 0 || s.user.soft > 0) != (s.delay > 0) {
			t.Fatalf("accepted soft limits without a delay or the reverse: %+v", s)
		}
	})
}

func mustRead(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
