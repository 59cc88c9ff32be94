package main

import (
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/sdktest"
	"github.com/postern/postern/host/plugintest"
)

// newHost returns a fake host for a first IMAP login of bob on 198.51.100.1
// with the plugin initialised with cfg.
func newHost(t *testing.T, cfg string) *sdktest.Host {
	t.Helper()
	h := sdktest.New(t)
	h.Fields[abi.FieldProtocol] = "imap"
	h.Fields[abi.FieldLogin] = "bob"
	h.Fields[abi.FieldAuthMethod] = "plain"
	h.Fields[abi.FieldLocalIP] = "198.51.100.1"
	if err := h.Init([]byte(cfg)); err != nil {
		t.Fatalf("init: %v", err)
	}
	return h
}

func TestRoute(t *testing.T) {
	tests := []struct {
		name       string
		cfg        string
		fields     map[abi.Field]string
		kv         map[string]string
		kvDown     bool
		want       abi.Verdict
		upstreams  string
		account    string // "" means not written
		counter    string
		kvAfter    map[string]string // "" value: must be absent
		wantLogged bool
	}{
		{name: "miss", want: abi.VerdictContinue, counter: "cache_misses"},
		{name: "route hit", kv: map[string]string{"route:proto=imap;user=bob": "10.0.0.5:143"},
			want: abi.VerdictDone, upstreams: "10.0.0.5:143", counter: "cache_hits"},
		{name: "ipv6 route hit", kv: map[string]string{"route:proto=imap;user=bob": "[2001:db8::5]:143"},
			want: abi.VerdictDone, upstreams: "[2001:db8::5]:143", counter: "cache_hits"},
		{name: "alias then route", kv: map[string]string{
			"alias:user=bob;ip=198.51.100.1":        "bob@example.com",
			"route:proto=imap;user=bob@example.com": "10.0.0.6:143"},
			want: abi.VerdictDone, upstreams: "10.0.0.6:143", account: "bob@example.com", counter: "alias_hits"},
		{name: "alias hit, route miss: account set for the lookup", kv: map[string]string{
			"alias:user=bob;ip=198.51.100.1": "bob@example.com"},
			want: abi.VerdictContinue, account: "bob@example.com", counter: "cache_misses"},
		{name: "alias of another proxy ip is not used", kv: map[string]string{
			"alias:user=bob;ip=198.51.100.2":        "bob@example.com",
			"route:proto=imap;user=bob@example.com": "10.0.0.6:143"},
			want: abi.VerdictContinue, counter: "cache_misses"},
		{name: "web alias by vhost", fields: map[abi.Field]string{abi.FieldProtocol: "http", abi.FieldHTTPHost: "mail.example.com"},
			kv: map[string]string{
				"alias:user=bob;vhost=mail.example.com": "bob@example.com",
				"route:proto=http;user=bob@example.com": "10.0.0.7:8080"},
			want: abi.VerdictDone, upstreams: "10.0.0.7:8080", account: "bob@example.com"},
		{name: "pop3 keys are separate", fields: map[abi.Field]string{abi.FieldProtocol: "pop3"},
			kv:   map[string]string{"route:proto=imap;user=bob": "10.0.0.5:143"},
			want: abi.VerdictContinue},
		{name: "TLS keeps the protocol as is by default", fields: map[abi.Field]string{abi.FieldTLSVersion: "TLS1.3"},
			kv:   map[string]string{"route:proto=imap;user=bob": "10.0.0.5:143"},
			want: abi.VerdictDone, upstreams: "10.0.0.5:143"},
		{name: "ssl_protocols: imapssl for TLS", cfg: `{"ssl_protocols":true}`, fields: map[abi.Field]string{abi.FieldTLSVersion: "TLS1.3"},
			kv: map[string]string{"route:proto=imap;user=bob": "10.0.0.5:143",
				"route:proto=imapssl;user=bob": "10.0.0.5:993"},
			want: abi.VerdictDone, upstreams: "10.0.0.5:993"},
		{name: "gssapi is never cached", fields: map[abi.Field]string{abi.FieldAuthMethod: "gssapi"},
			kv:   map[string]string{"route:proto=imap;user=bob": "10.0.0.5:143"},
			want: abi.VerdictContinue},
		{name: "odd login uses the escaped key", fields: map[abi.Field]string{abi.FieldLogin: "bob smith"},
			kv:   map[string]string{"route:proto=imap;user=bob%20smith": "10.0.0.5:143"},
			want: abi.VerdictDone, upstreams: "10.0.0.5:143"},
		{name: "invalid cached value is dropped", kv: map[string]string{"route:proto=imap;user=bob": "mailbox1:143"},
			want: abi.VerdictContinue, counter: "cache_invalid", kvAfter: map[string]string{"route:proto=imap;user=bob": ""}},
		{name: "store down: continue, count, log once", kvDown: true,
			want: abi.VerdictContinue, counter: "cache_errors", wantLogged: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, tc.cfg)
			for f, v := range tc.fields {
				h.Fields[f] = v
			}
			for k, v := range tc.kv {
				h.KV[k] = sdktest.Item{Value: []byte(v)}
			}
			h.KVDown = tc.kvDown
			if v := h.CallHook(abi.HookRoute); v != tc.want {
				t.Fatalf("verdict %v, want %v", v, tc.want)
			}
			if got := h.Fields[abi.FieldUpstreams]; got != tc.upstreams {
				t.Errorf("upstreams %q, want %q", got, tc.upstreams)
			}
			wantCached := ""
			if tc.want == abi.VerdictDone {
				wantCached = "1"
			}
			if got := h.Fields[abi.FieldRouteCached]; got != wantCached {
				t.Errorf("route_cached %q, want %q", got, wantCached)
			}
			if got := h.Fields[abi.FieldAccount]; got != tc.account {
				t.Errorf("account %q, want %q", got, tc.account)
			}
			if tc.counter != "" && h.Counters[tc.counter] != 1 {
				t.Errorf("counters %v, want %s = 1", h.Counters, tc.counter)
			}
			for k, v := range tc.kvAfter {
				it, ok := h.KV[k]
				if v == "" && ok {
					t.Errorf("key %q still holds %q", k, it.Value)
				}
			}
			if logged := len(h.Logs) > 0; logged != tc.wantLogged {
				t.Errorf("logs %v, want logged=%v", h.Logs, tc.wantLogged)
			}
		})
	}
}

func TestRoute_StoreDownLoggedOncePerInstance(t *testing.T) {
	h := newHost(t, "")
	h.KVDown = true
	for range 5 {
		h.CallHook(abi.HookRoute)
		h.FireEvent(abi.EventRouteDecided)
	}
	if len(h.Logs) != 1 {
		t.Errorf("%d log lines for 10 store failures, want 1: %v", len(h.Logs), h.Logs)
	}
	if h.Counters["cache_errors"] != 5 {
		t.Errorf("cache_errors = %d, want 5 (route_decided had no upstream to store)", h.Counters["cache_errors"])
	}
}

func TestRouteDecided(t *testing.T) {
	tests := []struct {
		name   string
		cfg    string
		fields map[abi.Field]string
		kv     map[string]string
		want   map[string]string // key -> value; "" means absent
	}{
		{name: "stores the route with the configured ttl",
			fields: map[abi.Field]string{abi.FieldUpstreams: "10.0.0.5:143", abi.FieldUpstream: "10.0.0.5:143"},
			want:   map[string]string{"route:proto=imap;user=bob": "10.0.0.5:143", "alias:user=bob;ip=198.51.100.1": ""}},
		{name: "stores the upstream actually used",
			fields: map[abi.Field]string{abi.FieldUpstreams: "10.0.0.5:143\x0010.0.0.6:143", abi.FieldUpstream: "10.0.0.6:143"},
			want:   map[string]string{"route:proto=imap;user=bob": "10.0.0.6:143"}},
		{name: "first upstream when none is reported",
			fields: map[abi.Field]string{abi.FieldUpstreams: "10.0.0.5:143\x0010.0.0.6:143"},
			want:   map[string]string{"route:proto=imap;user=bob": "10.0.0.5:143"}},
		{name: "add keeps an existing route",
			fields: map[abi.Field]string{abi.FieldUpstreams: "10.0.0.9:143"},
			kv:     map[string]string{"route:proto=imap;user=bob": "10.0.0.5:143"},
			want:   map[string]string{"route:proto=imap;user=bob": "10.0.0.5:143"}},
		{name: "account and alias with cache_alias",
			fields: map[abi.Field]string{abi.FieldUpstreams: "10.0.0.5:143", abi.FieldAccount: "bob@example.com", abi.FieldCacheAlias: "1"},
			want: map[string]string{"route:proto=imap;user=bob@example.com": "10.0.0.5:143",
				"alias:user=bob;ip=198.51.100.1": "bob@example.com", "route:proto=imap;user=bob": ""}},
		{name: "no alias without cache_alias",
			fields: map[abi.Field]string{abi.FieldUpstreams: "10.0.0.5:143", abi.FieldAccount: "bob@example.com"},
			want:   map[string]string{"route:proto=imap;user=bob@example.com": "10.0.0.5:143", "alias:user=bob;ip=198.51.100.1": ""}},
		{name: "web alias by vhost",
			fields: map[abi.Field]string{abi.FieldProtocol: "http", abi.FieldHTTPHost: "mail.example.com",
				abi.FieldUpstreams: "10.0.0.7:8080", abi.FieldAccount: "bob@example.com", abi.FieldCacheAlias: "1"},
			want: map[string]string{"route:proto=http;user=bob@example.com": "10.0.0.7:8080",
				"alias:user=bob;vhost=mail.example.com": "bob@example.com"}},
		{name: "not when the cache decided",
			fields: map[abi.Field]string{abi.FieldUpstreams: "10.0.0.5:143", abi.FieldRouteCached: "1"},
			want:   map[string]string{"route:proto=imap;user=bob": ""}},
		{name: "not for gssapi",
			fields: map[abi.Field]string{abi.FieldUpstreams: "10.0.0.5:143", abi.FieldAuthMethod: "gssapi"},
			want:   map[string]string{"route:proto=imap;user=bob": ""}},
		{name: "ssl_protocols", cfg: `{"ssl_protocols":true}`,
			fields: map[abi.Field]string{abi.FieldUpstreams: "10.0.0.5:993", abi.FieldTLSVersion: "TLS1.2"},
			want:   map[string]string{"route:proto=imapssl;user=bob": "10.0.0.5:993", "route:proto=imap;user=bob": ""}},
		{name: "long login is hashed",
			fields: map[abi.Field]string{abi.FieldUpstreams: "10.0.0.5:143", abi.FieldLogin: strings.Repeat("b", 300)},
			want:   map[string]string{"route:proto=imap;user=%sha256:" + sha(strings.Repeat("b", 300)): "10.0.0.5:143"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHost(t, tc.cfg)
			for f, v := range tc.fields {
				h.Fields[f] = v
			}
			for k, v := range tc.kv {
				h.KV[k] = sdktest.Item{Value: []byte(v)}
			}
			h.FireEvent(abi.EventRouteDecided)
			for k, want := range tc.want {
				it, ok := h.KV[k]
				switch {
				case want == "" && ok:
					t.Errorf("%q = %q, want absent", k, it.Value)
				case want != "" && (!ok || string(it.Value) != want):
					t.Errorf("%q = %q (present %v), want %q; store %v", k, it.Value, ok, want, h.KV)
				case want != "" && len(tc.kv) == 0 && !it.Expires.Equal(h.Now.Add(defaultTTL)):
					t.Errorf("%q expires %v, want in %v", k, it.Expires, defaultTTL)
				}
			}
		})
	}
}

func TestLoginFailed(t *testing.T) {
	h := newHost(t, "")
	h.Fields[abi.FieldAccount] = "bob@example.com"
	keep := "route:proto=pop3;user=bob@example.com"
	for _, k := range []string{"route:proto=imap;user=bob", "route:proto=imap;user=bob@example.com",
		"alias:user=bob;ip=198.51.100.1", keep} {
		h.KV[k] = sdktest.Item{Value: []byte("x")}
	}
	h.FireEvent(abi.EventLoginFailed)
	if len(h.KV) != 1 {
		t.Errorf("store after login_failed: %v, want only %q", h.KV, keep)
	}
	if _, ok := h.KV[keep]; !ok {
		t.Errorf("the other protocol's route was deleted")
	}
	if h.Counters["routes_deleted"] != 3 {
		t.Errorf("routes_deleted = %d, want 3", h.Counters["routes_deleted"])
	}
}

func TestTTL(t *testing.T) {
	h := newHost(t, `{"ttl":"10m"}`)
	h.Fields[abi.FieldUpstreams] = "10.0.0.5:143"
	h.FireEvent(abi.EventRouteDecided)
	h.Advance(11 * time.Minute)
	if v := h.CallHook(abi.HookRoute); v != abi.VerdictContinue {
		t.Errorf("verdict %v after the ttl passed, want continue (miss)", v)
	}
}

// reuseCases are the "reuse" rows: the decision reuse init declares, or
// -1 when the configuration is refused (err: part of the message). The
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
	{`{"reuse":-0}`, 0, ""},
	{`{"reuse":"1h"}`, time.Hour, ""},
	{`{"reuse":3600}`, time.Hour, ""},
	{`{"reuse":"1.5ms"}`, 1500 * time.Microsecond, ""},
	{`{"Reuse":"250ms"}`, 250 * time.Millisecond, ""},
	{`{"reuse":"2h"}`, -1, `route-cache: config: reuse "2h": want 0 (no reuse) to 1h`},
	{`{"reuse":3600.001}`, -1, `route-cache: config: reuse 3600.001: want 0 (no reuse) to 1h`},
	{`{"reuse":"-1s"}`, -1, `route-cache: config: reuse "-1s": want 0 (no reuse) to 1h`},
	{`{"reuse":-1}`, -1, `route-cache: config: reuse -1: want 0 (no reuse) to 1h`},
	{`{"reuse":-1e300}`, -1, `route-cache: config: reuse -1e300: want 0 (no reuse) to 1h`},
	{`{"reuse":"soon"}`, -1, `route-cache: config: reuse: "soon" is not a duration`},
	{`{"reuse":null}`, -1, `route-cache: config: reuse: null is not a duration`},
	{`{"reuse":true}`, -1, `route-cache: config: reuse: true is not a duration`},
}

func TestParseConfig_reuse(t *testing.T) {
	plugintest.CheckReuse(t, reuseCases, nil, parseConfig, func(c *config) time.Duration { return c.reuse })
}

func TestParseConfig(t *testing.T) {
	tests := []struct{ name, cfg, wantErr string }{
		{"empty", ``, ``},
		{"object", `{}`, ``},
		{"seconds", `{"ttl":600}`, ``},
		{"unknown key", `{"tll":"1h"}`, `unknown key "tll"`},
		{"bad ttl", `{"ttl":"an hour"}`, `ttl: "an hour" is not a duration`},
		{"short ttl", `{"ttl":"10ms"}`, `ttl 10ms: want at least 1s`},
		{"wrong type", `{"ssl_protocols":"yes"}`, `key "ssl_protocols": want bool`},
		{"zimbra_id", `{"zimbra_id":true,"web_protocol":"httpssl"}`, ``},
		{"web_protocol http", `{"web_protocol":"http"}`, ``},
		{"web_protocol off", `{"web_protocol":""}`, ``},
		{"bad web_protocol", `{"web_protocol":"https"}`, `web_protocol "https": want http or httpssl`},
		{"zimbra_id type", `{"zimbra_id":1}`, `key "zimbra_id": want bool`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := parseConfig([]byte(tc.cfg))
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !strings.HasPrefix(err.Error(), "route-cache: config: ") {
				t.Fatalf("error %v, want one containing %q", err, tc.wantErr)
			}
		})
	}
}
