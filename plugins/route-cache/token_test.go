package main

import (
	"encoding/hex"
	"fmt"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/sdktest"
)

const zimbraID = "cc00ce85-8c0b-49eb-8e08-a8aab43ce836"

// authToken is a ZM_AUTH_TOKEN of the account id, as Zimbra encodes it.
func authToken(id string) string {
	return "0_3f7d2c_" + hex.EncodeToString([]byte(fmt.Sprintf("id=%d:%s;exp=13:1896504658160;", len(id), id)))
}

// newWebHost returns a fake host with an anonymous web request that
// carries an auth token, and the plugin initialised with cfg.
func newWebHost(t *testing.T, cfg string) *sdktest.Host {
	t.Helper()
	h := sdktest.New(t)
	h.Fields[abi.FieldProtocol] = "http"
	h.Fields[abi.FieldAuthMethod] = "cookie"
	h.Fields[abi.FieldHTTPHost] = "mail.example.com"
	h.Fields[abi.FieldLocalIP] = "198.51.100.1"
	h.Cookies["ZM_AUTH_TOKEN"] = authToken(zimbraID)
	if err := h.Init([]byte(cfg)); err != nil {
		t.Fatalf("init: %v", err)
	}
	return h
}

func TestRoute_zimbraID(t *testing.T) {
	const on = `{"zimbra_id":true}`
	idKey := "route:proto=http;id=" + zimbraID
	tests := []struct {
		name      string
		cfg       string
		setup     func(h *sdktest.Host)
		kv        map[string]string
		want      abi.Verdict
		upstreams string
		counter   string
		gets      bool // the store was asked
	}{
		{name: "hit by the token's id", cfg: on, kv: map[string]string{idKey: "10.0.0.7:8443"},
			want: abi.VerdictDone, upstreams: "10.0.0.7:8443", counter: "cache_hits", gets: true},
		{name: "miss", cfg: on, want: abi.VerdictContinue, counter: "cache_misses", gets: true},
		{name: "web_protocol httpssl, as Zimbra proxies to https", cfg: `{"zimbra_id":true,"web_protocol":"httpssl"}`,
			kv:   map[string]string{idKey: "10.0.0.7:80", "route:proto=httpssl;id=" + zimbraID: "10.0.0.7:443"},
			want: abi.VerdictDone, upstreams: "10.0.0.7:443", gets: true},
		{name: "zauthtoken argument", cfg: on, kv: map[string]string{"route:proto=http;id=q-id": "10.0.0.8:80"},
			setup: func(h *sdktest.Host) {
				delete(h.Cookies, "ZM_AUTH_TOKEN")
				h.Fields[abi.FieldHTTPQuery] = "zauthtoken=" + authToken("q-id")
			},
			want: abi.VerdictDone, upstreams: "10.0.0.8:80", gets: true},
		{name: "a user comes first", cfg: on,
			kv:    map[string]string{idKey: "10.0.0.7:80", "route:proto=http;user=bob": "10.0.0.9:80"},
			setup: func(h *sdktest.Host) { h.Fields[abi.FieldLogin] = "bob" },
			want:  abi.VerdictDone, upstreams: "10.0.0.9:80", gets: true},
		{name: "off by default", kv: map[string]string{idKey: "10.0.0.7:8443"}, want: abi.VerdictContinue},
		{name: "no token: no store round trip", cfg: on, kv: map[string]string{idKey: "10.0.0.7:8443"},
			setup: func(h *sdktest.Host) { delete(h.Cookies, "ZM_AUTH_TOKEN") }, want: abi.VerdictContinue},
		{name: "invalid value dropped", cfg: on, kv: map[string]string{idKey: "nope"},
			want: abi.VerdictContinue, counter: "cache_invalid", gets: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newWebHost(t, tc.cfg)
			if tc.setup != nil {
				tc.setup(h)
			}
			for k, v := range tc.kv {
				h.KV[k] = sdktest.Item{Value: []byte(v)}
			}
			h.KVDown = !tc.gets // a store round trip would then count cache_errors
			if v := h.CallHook(abi.HookRoute); v != tc.want {
				t.Fatalf("verdict %v, want %v", v, tc.want)
			}
			if got := h.Fields[abi.FieldUpstreams]; got != tc.upstreams {
				t.Errorf("upstreams %q, want %q", got, tc.upstreams)
			}
			if tc.counter != "" && h.Counters[tc.counter] != 1 {
				t.Errorf("counters %v, want %s = 1", h.Counters, tc.counter)
			}
			if !tc.gets && h.Counters["cache_errors"] != 0 {
				t.Errorf("the store was asked: %v", h.Counters)
			}
		})
	}
}

func TestRouteDecided_zimbraID(t *testing.T) {
	tests := []struct {
		name    string
		cfg     string
		account string // set by route-lookup from the answer
		alias   bool
		want    map[string]string // "" means absent
	}{
		{name: "stored under the id", cfg: `{"zimbra_id":true}`, account: zimbraID,
			want: map[string]string{"route:proto=http;id=" + zimbraID: "10.0.0.7:80", "route:proto=http;user=" + zimbraID: ""}},
		{name: "under the answer's Auth-User", cfg: `{"zimbra_id":true,"web_protocol":"httpssl"}`, account: "other-id",
			want: map[string]string{"route:proto=httpssl;id=other-id": "10.0.0.7:80"}},
		{name: "no alias without a login", cfg: `{"zimbra_id":true}`, account: zimbraID, alias: true,
			want: map[string]string{"alias:user=;vhost=mail.example.com": ""}},
		{name: "a fallback to the pool is not stored", cfg: `{"zimbra_id":true}`, account: "",
			want: map[string]string{"route:proto=http;id=" + zimbraID: ""}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newWebHost(t, tc.cfg)
			h.Fields[abi.FieldUpstreams] = "10.0.0.7:80"
			h.Fields[abi.FieldUpstream] = "10.0.0.7:80"
			h.Fields[abi.FieldAccount] = tc.account
			if tc.alias {
				h.Fields[abi.FieldCacheAlias] = "1"
			}
			h.FireEvent(abi.EventRouteDecided)
			for k, want := range tc.want {
				it, ok := h.KV[k]
				switch {
				case want == "" && ok:
					t.Errorf("%q = %q, want absent", k, it.Value)
				case want != "" && (!ok || string(it.Value) != want):
					t.Errorf("%q = %q (present %v), want %q; store %v", k, it.Value, ok, want, h.KV)
				}
			}
			if len(h.KV) > 1 {
				t.Errorf("store %v: want at most the one route", h.KV)
			}
		})
	}
}

func TestInit_zimbraIDFilter(t *testing.T) {
	for _, tc := range []struct{ name, cfg, want string }{
		{"off", ``, "1"},
		{"on", `{"zimbra_id":true}`, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := sdktest.New(t)
			if err := h.Init([]byte(tc.cfg)); err != nil {
				t.Fatal(err)
			}
			if got := h.InitFilter(abi.FieldOnlyLogin); got != tc.want {
				t.Errorf("only_login = %q, want %q", got, tc.want)
			}
		})
	}
}
