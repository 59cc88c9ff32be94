package main

import (
	"encoding/hex"
	"errors"
	"fmt"
	"testing"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/sdktest"
)

const zimbraID = "cc00ce85-8c0b-49eb-8e08-a8aab43ce836"

// authToken is a ZM_AUTH_TOKEN of the account id, as Zimbra encodes it
// (the HMAC part is not checked by the proxy, so any hex does).
func authToken(id string) string {
	return "0_3f7d2c_" + hex.EncodeToString([]byte(fmt.Sprintf("id=%d:%s;exp=13:1896504658160;type=6:zimbra;", len(id), id)))
}

// newWebHost returns a fake host with an anonymous HTTPS web request that
// carries an auth token, and the plugin initialised with cfg.
func newWebHost(t *testing.T, cfg string) *sdktest.Host {
	t.Helper()
	h := sdktest.New(t)
	h.Fields[abi.FieldProtocol] = "http"
	h.Fields[abi.FieldAuthMethod] = "cookie"
	h.Fields[abi.FieldClientIP] = "192.0.2.7"
	h.Fields[abi.FieldLocalIP] = "198.51.100.1"
	h.Fields[abi.FieldHTTPHost] = "mail.example.com"
	h.Fields[abi.FieldHTTPPath] = "/"
	h.Fields[abi.FieldTLSVersion] = "TLS1.3"
	h.Cookies["ZM_AUTH_TOKEN"] = authToken(zimbraID)
	if err := h.Init([]byte(cfg)); err != nil {
		t.Fatalf("init: %v", err)
	}
	return h
}

func TestRoute_zimbraID(t *testing.T) {
	on := `{"servers":["` + urlA + `"],"zimbra_id":true}`
	tests := []struct {
		name    string
		cfg     string
		setup   func(h *sdktest.Host)
		reply   func(*postern.HTTPRequest) (*postern.HTTPResponse, error)
		want    abi.Verdict
		headers map[string]string // of the one lookup; nil: no lookup
		account string
	}{
		{
			name: "cookie: zimbraId lookup", cfg: on, reply: ok(),
			want: abi.VerdictDone, account: zimbraID,
			headers: map[string]string{"Auth-Method": "zimbraId", "Auth-User": zimbraID, "Auth-Pass": "_password_",
				"Auth-Protocol": "httpssl", "Auth-Login-Attempt": "0", "Client-IP": "192.0.2.7",
				"X-Proxy-IP": "198.51.100.1", "X-Proxy-Host": "mail.example.com"},
		},
		{
			name: "Auth-User of the answer is the account", cfg: on, reply: ok("Auth-User", "other-id"),
			want: abi.VerdictDone, account: "other-id",
			headers: map[string]string{"Auth-Method": "zimbraId", "Auth-User": zimbraID},
		},
		{
			name: "plain http", cfg: on, reply: ok(), want: abi.VerdictDone, account: zimbraID,
			setup:   func(h *sdktest.Host) { h.Fields[abi.FieldTLSVersion] = "" },
			headers: map[string]string{"Auth-Protocol": "http", "Auth-SSL": ""},
		},
		{
			name: "protocol_names: the upstream scheme, as Zimbra sends it", reply: ok(), want: abi.VerdictDone,
			cfg:     `{"servers":["` + urlA + `"],"zimbra_id":true,"protocol_names":{"http":"httpssl"}}`,
			setup:   func(h *sdktest.Host) { h.Fields[abi.FieldTLSVersion] = "" },
			headers: map[string]string{"Auth-Protocol": "httpssl"}, account: zimbraID,
		},
		{
			name: "zauthtoken argument without the cookie", cfg: on, reply: ok(), want: abi.VerdictDone,
			setup: func(h *sdktest.Host) {
				delete(h.Cookies, "ZM_AUTH_TOKEN")
				h.Fields[abi.FieldHTTPQuery] = "view=x&zauthtoken=" + authToken("id-from-query")
			},
			headers: map[string]string{"Auth-Method": "zimbraId", "Auth-User": "id-from-query"}, account: "id-from-query",
		},
		{
			name: "the cookie wins over the argument", cfg: on, reply: ok(), want: abi.VerdictDone, account: zimbraID,
			setup:   func(h *sdktest.Host) { h.Fields[abi.FieldHTTPQuery] = "zauthtoken=" + authToken("id-from-query") },
			headers: map[string]string{"Auth-User": zimbraID},
		},
		{
			name: "a user (path, basic auth) comes first: username lookup", cfg: on, reply: ok(), want: abi.VerdictDone,
			setup:   func(h *sdktest.Host) { h.Fields[abi.FieldLogin] = "bob@example.com" },
			headers: map[string]string{"Auth-Method": "username", "Auth-User": "bob@example.com"},
		},
		{
			name: "zimbra_id off: no lookup", cfg: `{"servers":["` + urlA + `"]}`, reply: ok(), want: abi.VerdictContinue,
		},
		{
			name: "a token without an id: no lookup", cfg: on, reply: ok(), want: abi.VerdictContinue,
			setup: func(h *sdktest.Host) { h.Cookies["ZM_AUTH_TOKEN"] = "0_ab_" + hex.EncodeToString([]byte("exp=1:1;")) },
		},
		{
			name: "a garbage token: no lookup", cfg: on, reply: ok(), want: abi.VerdictContinue,
			setup: func(h *sdktest.Host) { h.Cookies["ZM_AUTH_TOKEN"] = "not a token" },
		},
		{
			name: "mail is never looked up by token", cfg: on, reply: ok(), want: abi.VerdictContinue,
			setup: func(h *sdktest.Host) { h.Fields[abi.FieldProtocol] = "imap" },
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newWebHost(t, tc.cfg)
			if tc.setup != nil {
				tc.setup(h)
			}
			h.HTTP = tc.reply
			if v := h.CallHook(abi.HookRoute); v != tc.want {
				t.Fatalf("verdict %v, want %v (message %q)", v, tc.want, h.Fields[abi.FieldMessage])
			}
			if tc.headers == nil {
				if len(h.HTTPRequests) != 0 {
					t.Fatalf("%d lookups, want none", len(h.HTTPRequests))
				}
				return
			}
			if len(h.HTTPRequests) != 1 {
				t.Fatalf("%d lookups, want 1", len(h.HTTPRequests))
			}
			for name, want := range tc.headers {
				vs := h.HTTPRequests[0].Header.Values(name)
				switch {
				case want == "" && len(vs) > 0:
					t.Errorf("%s = %q, want it absent", name, vs)
				case want != "" && (len(vs) != 1 || vs[0] != want):
					t.Errorf("%s = %q, want %q", name, vs, want)
				}
			}
			if got := h.Fields[abi.FieldAccount]; got != tc.account {
				t.Errorf("account = %q, want %q", got, tc.account)
			}
			if tc.want == abi.VerdictDone && h.Fields[abi.FieldUpstreams] != "10.0.0.5:143" {
				t.Errorf("upstreams = %q", h.Fields[abi.FieldUpstreams])
			}
		})
	}
}

// TestRoute_zimbraIDFallback: a token lookup that finds no route leaves
// the request to the pool at once (Continue, no delay, no message), as
// Zimbra falls back to its IP hash, whatever the reason.
func TestRoute_zimbraIDFallback(t *testing.T) {
	reply := func(headers ...string) func(*postern.HTTPRequest) (*postern.HTTPResponse, error) {
		return func(*postern.HTTPRequest) (*postern.HTTPResponse, error) {
			hdr := postern.HTTPHeader{}
			for i := 0; i+1 < len(headers); i += 2 {
				hdr.Set(headers[i], headers[i+1])
			}
			return &postern.HTTPResponse{Status: 200, Header: hdr}, nil
		}
	}
	tests := []struct {
		name     string
		reply    func(*postern.HTTPRequest) (*postern.HTTPResponse, error)
		counter  string
		markDown bool
	}{
		{"unknown account, with Zimbra's Auth-Wait", reply("Auth-Status", "account not found", "Auth-Wait", "10"), "lookup_refused", false},
		{"WAIT", reply("Auth-Status", "WAIT", "Auth-Wait", "3"), "lookup_wait", false},
		{"server unreachable", func(*postern.HTTPRequest) (*postern.HTTPResponse, error) {
			return nil, errors.New("connection refused")
		}, "all_down", true},
		{"not an auth_http answer", reply("X", "y"), "all_down", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newWebHost(t, `{"servers":["`+urlA+`"],"zimbra_id":true}`)
			h.HTTP = tc.reply
			if v := h.CallHook(abi.HookRoute); v != abi.VerdictContinue {
				t.Fatalf("verdict %v, want continue", v)
			}
			for _, f := range []abi.Field{abi.FieldDelayMS, abi.FieldMessage, abi.FieldUpstreams, abi.FieldAccount} {
				if v := h.Fields[f]; v != "" && v != "0" {
					t.Errorf("%v = %q, want it unset", f, v)
				}
			}
			if h.Counters["token_fallback"] != 1 || h.Counters[tc.counter] != 1 {
				t.Errorf("counters %v, want token_fallback and %s", h.Counters, tc.counter)
			}
			if got := h.Counters["server_down"] == 1; got != tc.markDown {
				t.Errorf("server marked down: %v, want %v", got, tc.markDown)
			}
		})
	}
}

func TestInit_zimbraIDFilter(t *testing.T) {
	for _, tc := range []struct {
		name, cfg, want string
	}{
		{"off", `{"servers":["` + urlA + `"]}`, "1"},
		{"on", `{"servers":["` + urlA + `"],"zimbra_id":true}`, ""},
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
