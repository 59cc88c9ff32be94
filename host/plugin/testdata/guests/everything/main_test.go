package main

import (
	"strconv"
	"strings"
	"testing"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/sdktest"
)

// These native tests pin the contract in the package comment against the
// SDK's fake host; the host's tests check the same strings in wasm.

func session(t *testing.T, proto, cmd string) *sdktest.Host {
	h := sdktest.New(t)
	h.Fields[abi.FieldProtocol] = proto
	h.Fields[abi.FieldLogin] = cmd
	return h
}

func TestCommands(t *testing.T) {
	tests := []struct {
		proto, cmd string
		hook       abi.Hook
		want       abi.Verdict
		wantMsg    string
	}{
		{"imap", "echo", abi.HookLogin, abi.VerdictDone, "protocol=imap login=echo client=192.0.2.7:5555 local=192.0.2.1:143 tls=TLS1.3 sni=mail.example"},
		{"imap", "get:12", abi.HookThrottle, abi.VerdictDone, "get:12"},
		{"imap", "get:13", abi.HookThrottle, abi.VerdictDone, "-2"},
		{"imap", "get:99", abi.HookThrottle, abi.VerdictDone, "-1"},
		{"imap", "set:12:x", abi.HookRoute, abi.VerdictDone, "-3"},
		{"imap", "setlogin:alice", abi.HookLogin, abi.VerdictContinue, "ok"},
		{"imap", "setlogin:alice", abi.HookRoute, abi.VerdictContinue, "-3"},
		{"imap", "kv:k1:hello", abi.HookRoute, abi.VerdictDone, "set=0 get=hello add=-9 add2=0 incr=5 del=0 get2=-5"},
		{"http", "header:x-test", abi.HookLogin, abi.VerdictDone, "a, b"},
		{"http", "header:X-None", abi.HookLogin, abi.VerdictDone, "-5"},
		{"imap", "header:X-Test", abi.HookLogin, abi.VerdictDone, "-2"},
		{"http", "setheader:X-New:1", abi.HookRewrite, abi.VerdictDone, "ok"},
		{"http", "delheader:X-None", abi.HookRewrite, abi.VerdictDone, "-5"},
		{"http", "cookie:c", abi.HookLogin, abi.VerdictDone, "v"},
		{"imap", "imapid:name", abi.HookLogin, abi.VerdictDone, "Thunderbird"},
		{"imap", "upstreams:10.0.0.1:143,10.0.0.2:143", abi.HookRoute, abi.VerdictDone, "ok"},
		{"imap", "upstreams:nope", abi.HookRoute, abi.VerdictDone, "-4"},
		{"imap", "upstreams:a:1", abi.HookLogin, abi.VerdictDone, "-2"},
		{"imap", "refuse:no entry", abi.HookThrottle, abi.VerdictRefuse, "no entry"},
		{"imap", "tempfail:later", abi.HookRoute, abi.VerdictTempFail, "later"},
		{"imap", "log:3", abi.HookLogin, abi.VerdictDone, "3"},
		{"imap", "feature:abi-1.0", abi.HookLogin, abi.VerdictDone, "1"},
		{"imap", "feature:kv-shared", abi.HookLogin, abi.VerdictDone, "0"},
		{"imap", "counter:hits", abi.HookLogin, abi.VerdictDone, "ok"},
		{"imap", "config", abi.HookLogin, abi.VerdictDone, `{"x":1}`},
		{"imap", "big:70000", abi.HookLogin, abi.VerdictDone, "-7"},
		{"imap", "http:http://lookup/x", abi.HookRoute, abi.VerdictDone, "200 1 GET"},
		{"imap", "http:nope", abi.HookRoute, abi.VerdictDone, "-4"},
		{"imap", "whatever", abi.HookRoute, abi.VerdictContinue, ""},
	}
	for _, tc := range tests {
		t.Run(tc.hook.String()+"/"+tc.cmd, func(t *testing.T) {
			h := session(t, tc.proto, tc.cmd)
			h.Config = []byte(`{"x":1}`)
			h.Fields[abi.FieldClientIP] = "192.0.2.7"
			h.Fields[abi.FieldClientPort] = "5555"
			h.Fields[abi.FieldLocalIP] = "192.0.2.1"
			h.Fields[abi.FieldLocalPort] = "143"
			h.Fields[abi.FieldTLSVersion] = "TLS1.3"
			h.Fields[abi.FieldSNI] = "mail.example"
			h.Headers["X-Test"] = []string{"a", "b"}
			h.Headers["Cookie"] = []string{"c=v"}
			h.IMAPID["NAME"] = "Thunderbird"
			h.HTTP = func(r *postern.HTTPRequest) (*postern.HTTPResponse, error) {
				return &postern.HTTPResponse{Status: 200, Body: []byte(r.Header.Get("X-Test") + " " + r.Method)}, nil
			}
			if tc.proto == "imap" && tc.hook == abi.HookRewrite {
				t.Skip("rewrite is HTTP only")
			}
			if v := h.CallHook(tc.hook); v != tc.want {
				t.Errorf("verdict = %v, want %v", v, tc.want)
			}
			if got := h.Fields[abi.FieldMessage]; got != tc.wantMsg {
				t.Errorf("message = %q, want %q", got, tc.wantMsg)
			}
		})
	}
}

func TestFields(t *testing.T) {
	h := session(t, "imap", "fields")
	h.Fields[abi.FieldUpstreams] = "a:1\x00b:2"
	h.CallHook(abi.HookRoute)
	entries := strings.Split(h.Fields[abi.FieldMessage], "\t")
	want := 0 // one entry per plain field; keyed fields are read by key
	for f := abi.Field(1); f <= abi.FieldMax; f++ {
		if !f.Keyed() {
			want++
		}
	}
	if len(entries) != want {
		t.Fatalf("%d entries, want %d: %q", len(entries), want, entries)
	}
	for _, want := range []string{"protocol=imap", "login=fields", "upstreams=a:1,b:2", "http_method!-2", "upstream!-2", "password="} {
		found := false
		for _, e := range entries {
			found = found || e == want
		}
		if !found {
			t.Errorf("no entry %q in %q", want, entries)
		}
	}
}

func TestRetry(t *testing.T) {
	h := session(t, "imap", "retry:250")
	if v := h.CallHook(abi.HookThrottle); v != abi.VerdictRetry || h.Fields[abi.FieldDelayMS] != "250" {
		t.Fatalf("first call: %v delay %q, want retry 250", v, h.Fields[abi.FieldDelayMS])
	}
	if v := h.CallHook(abi.HookThrottle); v != abi.VerdictDone || h.Fields[abi.FieldMessage] != "retried" {
		t.Fatalf("second call: %v %q, want done retried", v, h.Fields[abi.FieldMessage])
	}
}

func TestSideEffects(t *testing.T) {
	h := session(t, "imap", "log:2")
	h.CallHook(abi.HookLogin)
	if len(h.Logs) != 2 || h.Logs[1].Msg != "line 2" || h.Logs[1].Level != abi.LevelInfo {
		t.Errorf("logs = %v", h.Logs)
	}
	h.Fields[abi.FieldLogin] = "counter:hits"
	h.CallHook(abi.HookLogin)
	h.CallHook(abi.HookLogin)
	if h.Counters["hits"] != 6 {
		t.Errorf("counter = %d, want 6", h.Counters["hits"])
	}
	h.Fields[abi.FieldLogin] = "clock"
	h.CallHook(abi.HookLogin)
	if h.Fields[abi.FieldMessage] != strconv.FormatInt(h.Now.UnixNano(), 10) {
		t.Errorf("clock = %q", h.Fields[abi.FieldMessage])
	}
	h.Fields[abi.FieldLogin] = "big:100"
	h.CallHook(abi.HookLogin)
	if h.Fields[abi.FieldMessage] != strings.Repeat("x", 100) {
		t.Errorf("big:100 message = %q", h.Fields[abi.FieldMessage])
	}
	if len(h.KV) != 0 {
		t.Errorf("kv not clean: %v", h.KV)
	}
}

func TestEvents(t *testing.T) {
	h := session(t, "imap", "events")
	h.Fields[abi.FieldUpstreams] = "a:1\x00b:2"
	h.Fields[abi.FieldMessage] = "bad password"
	h.KV["route:events"] = sdktest.Item{Value: []byte("a:1")}
	h.FireEvent(abi.EventRouteDecided)
	h.FireEvent(abi.EventLoginFailed)
	if _, ok := h.KV["route:events"]; ok {
		t.Error("login_failed did not delete route:<login>")
	}
	want := []string{"event route_decided upstreams=a:1,b:2", "event login_failed message=bad password"}
	if len(h.Logs) != 2 || h.Logs[0].Msg != want[0] || h.Logs[1].Msg != want[1] {
		t.Errorf("logs = %v, want %q", h.Logs, want)
	}
	h.CallHook(abi.HookRoute)
	if got := h.Fields[abi.FieldMessage]; !strings.HasPrefix(got, "route_decided=") || strings.Contains(got, "=0") {
		t.Errorf("events = %q, want both counted", got)
	}
}

func TestInit(t *testing.T) {
	tests := []struct {
		config  string
		wantErr string
	}{
		{"", ""},
		{`{}`, ""},
		{`{"refuse": "missing servers"}`, "missing servers"},
		{`nope`, "everything: config is not JSON"},
	}
	for _, tc := range tests {
		t.Run(tc.config, func(t *testing.T) {
			h := sdktest.New(t)
			err := h.Init([]byte(tc.config))
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.wantErr)) {
				t.Fatalf("Init(%q) = %v, want %q", tc.config, err, tc.wantErr)
			}
			if tc.wantErr != "" && h.InitMessage() != err.Error() {
				t.Errorf("init message = %q", h.InitMessage())
			}
		})
	}
}
