package postern_test

import (
	"bytes"
	"errors"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/event/loginfailed"
	"github.com/postern/postern/guest-sdk/event/routedecided"
	"github.com/postern/postern/guest-sdk/hook/login"
	"github.com/postern/postern/guest-sdk/hook/rewrite"
	"github.com/postern/postern/guest-sdk/hook/route"
	"github.com/postern/postern/guest-sdk/hook/throttle"
	"github.com/postern/postern/guest-sdk/sdktest"
)

// The init function registered once for the test binary; tests steer it
// through these variables.
var (
	initErr    error
	initConfig []byte
)

func init() {
	postern.OnInit(func(cfg []byte) error {
		initConfig = cfg
		return initErr
	})
}

// inHook runs fn inside hook and returns the verdict.
func inHook(h *sdktest.Host, hook abi.Hook, fn func() postern.Verdict) abi.Verdict {
	switch hook {
	case abi.HookLogin:
		login.Handle(fn)
	case abi.HookThrottle:
		throttle.Handle(fn)
	case abi.HookRoute:
		route.Handle(fn)
	case abi.HookRewrite:
		rewrite.Handle(fn)
	}
	return h.CallHook(hook)
}

func TestGet_Sizes(t *testing.T) {
	for _, n := range []int{0, 1, 511, 512, 513, 4096, abi.MaxFieldBytes} {
		t.Run(strconv.Itoa(n), func(t *testing.T) { testGetSize(t, n) })
	}
}

func testGetSize(t *testing.T, n int) {
	h := sdktest.New(t)
	want := strings.Repeat("a", n)
	h.Fields[abi.FieldLogin] = want
	var got string
	var appended []byte
	var err, aerr error
	inHook(h, abi.HookLogin, func() postern.Verdict {
		got, err = postern.Get(abi.FieldLogin)
		appended, aerr = postern.AppendGet([]byte("x"), abi.FieldLogin)
		return postern.Continue
	})
	if err != nil || got != want {
		t.Errorf("Get of %d bytes = %d bytes, %v", n, len(got), err)
	}
	if aerr != nil || string(appended) != "x"+want {
		t.Errorf("AppendGet of %d bytes = %d bytes, %v", n, len(appended), aerr)
	}
}

func TestAccess(t *testing.T) {
	tests := []struct {
		name  string
		proto string
		hook  abi.Hook
		op    func() error
		want  error
	}{
		{"password in login", "imap", abi.HookLogin, get(abi.FieldPassword), nil},
		{"password in throttle", "imap", abi.HookThrottle, get(abi.FieldPassword), abi.ErrNotAvailable},
		{"set login in login", "imap", abi.HookLogin, func() error { return postern.SetLogin("x") }, nil},
		{"set login in route", "imap", abi.HookRoute, func() error { return postern.SetLogin("x") }, abi.ErrReadOnly},
		{"set account in route", "imap", abi.HookRoute, func() error { return postern.SetAccount("x") }, nil},
		{"set upstreams in login", "imap", abi.HookLogin, func() error { return postern.SetUpstreams([]string{"a:1"}) }, abi.ErrNotAvailable},
		{"header in imap", "imap", abi.HookLogin, getKey(abi.FieldHTTPHeader, "Host"), abi.ErrNotAvailable},
		{"http path in imap", "imap", abi.HookRoute, get(abi.FieldHTTPPath), abi.ErrNotAvailable},
		{"unknown field", "imap", abi.HookLogin, get(abi.FieldMax + 1), abi.ErrUnknownField},
		{"field zero", "imap", abi.HookLogin, get(0), abi.ErrUnknownField},
		{"keyed access on plain field", "imap", abi.HookLogin, getKey(abi.FieldLogin, "x"), abi.ErrNotAvailable},
		{"plain access on keyed field", "http", abi.HookLogin, get(abi.FieldHTTPHeader), abi.ErrNotAvailable},
		{"missing header", "http", abi.HookLogin, getKey(abi.FieldHTTPHeader, "X-None"), abi.ErrNotFound},
		{"set header outside rewrite", "http", abi.HookRoute, func() error { return postern.SetHeader("X-A", "1") }, abi.ErrReadOnly},
		{"set header in rewrite", "http", abi.HookRewrite, func() error { return postern.SetHeader("X-A", "1") }, nil},
		{"bad header name", "http", abi.HookRewrite, func() error { return postern.SetHeader("X A", "1") }, abi.ErrInvalid},
		{"set cookie", "http", abi.HookRewrite, func() error { return postern.SetKey(abi.FieldHTTPCookie, "c", "1") }, abi.ErrReadOnly},
		{"redirect outside rewrite", "http", abi.HookRoute, func() error { return postern.Redirect(302, "/x") }, abi.ErrNotAvailable},
		{"redirect bad code", "http", abi.HookRewrite, func() error { return postern.Redirect(200, "/x") }, abi.ErrInvalid},
		{"redirect", "http", abi.HookRewrite, func() error { return postern.Redirect(302, "https://a/") }, nil},
		{"path without slash", "http", abi.HookRewrite, func() error { return postern.SetHTTPPath("x") }, abi.ErrInvalid},
		{"message with newline", "imap", abi.HookLogin, func() error { return postern.SetMessage("a\nb") }, abi.ErrInvalid},
		{"message too large", "imap", abi.HookLogin, func() error { return postern.SetMessage(strings.Repeat("m", abi.MaxFieldBytes+1)) }, abi.ErrTooLarge},
		{"negative delay", "imap", abi.HookThrottle, func() error { return postern.SetDelay(-time.Second) }, abi.ErrInvalid},
		{"plain set of keyed field is not available before read-only", "http", abi.HookLogin, func() error { return postern.Set(abi.FieldHTTPHeader, "x") }, abi.ErrNotAvailable},
		{"imap id outside imap", "pop3", abi.HookLogin, getKey(abi.FieldIMAPID, "name"), abi.ErrNotFound},
		{"imap id in imap", "imap", abi.HookLogin, getKey(abi.FieldIMAPID, "NAME"), nil},
		{"redirect 303 is not in the ABI", "http", abi.HookRewrite, func() error { return postern.Redirect(303, "/x") }, abi.ErrInvalid},
		{"boolean", "imap", abi.HookRoute, func() error { return postern.Set(abi.FieldCacheAlias, "yes") }, abi.ErrInvalid},
		{"delay over host maximum", "imap", abi.HookThrottle, func() error { return postern.SetDelay(time.Hour) }, abi.ErrInvalid},
		{"set pool in route", "http", abi.HookRoute, func() error { return postern.SetPool("api") }, nil},
		{"set pool with a space", "http", abi.HookRoute, func() error { return postern.SetPool("a b") }, abi.ErrInvalid},
		{"set pool in rewrite", "http", abi.HookRewrite, func() error { return postern.SetPool("api") }, abi.ErrReadOnly},
		{"pool in login", "http", abi.HookLogin, get(abi.FieldPool), abi.ErrNotAvailable},
		{"pool in imap", "imap", abi.HookRoute, func() error { return postern.SetPool("api") }, abi.ErrNotAvailable},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := sdktest.New(t)
			h.Fields[abi.FieldProtocol] = tc.proto
			h.Headers["Host"] = []string{"mail.example"}
			h.IMAPID["name"] = "Thunderbird"
			var err error
			inHook(h, tc.hook, func() postern.Verdict { err = tc.op(); return postern.Continue })
			if !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
				t.Errorf("err = %v, want %v", err, tc.want)
			}
		})
	}
}

func get(f abi.Field) func() error {
	return func() error { _, err := postern.Get(f); return err }
}

func getKey(f abi.Field, k string) func() error {
	return func() error { _, err := postern.GetKey(f, k); return err }
}

func TestTypedAccessors(t *testing.T) {
	h := sdktest.New(t)
	h.Fields[abi.FieldProtocol] = "http"
	h.Fields[abi.FieldClientIP] = "2001:db8::7"
	h.Fields[abi.FieldClientPort] = "54321"
	h.Fields[abi.FieldLocalIP] = "192.0.2.1"
	h.Fields[abi.FieldLocalPort] = "443"
	h.Fields[abi.FieldLogin] = "bob"
	h.Fields[abi.FieldLoginAttempt] = "2"
	h.Fields[abi.FieldHTTPPath] = "/mail"
	h.Headers["x-forwarded-for"] = []string{"a", "b"}
	h.Headers["Cookie"] = []string{"ZM_AUTH_TOKEN=tok; other=1"}
	h.Cookies["explicit"] = "yes"
	inHook(h, abi.HookRewrite, func() postern.Verdict {
		checks := []struct {
			name      string
			got, want any
		}{
			{"Protocol", postern.Protocol(), "http"},
			{"ClientIP", postern.ClientIP(), netip.MustParseAddr("2001:db8::7")},
			{"ClientPort", postern.ClientPort(), 54321},
			{"LocalIP", postern.LocalIP(), netip.MustParseAddr("192.0.2.1")},
			{"LocalPort", postern.LocalPort(), 443},
			{"Login", postern.Login(), "bob"},
			{"LoginAttempt", postern.LoginAttempt(), 2},
			{"Password not in rewrite", postern.Password(), ""},
			{"HTTPPath", postern.HTTPPath(), "/mail"},
			{"Header any case, joined", postern.Header("X-Forwarded-For"), "a, b"},
			{"Header missing", postern.Header("X-None"), ""},
			{"Cookie from header", postern.Cookie("ZM_AUTH_TOKEN"), "tok"},
			{"Cookie explicit", postern.Cookie("explicit"), "yes"},
			{"HeaderNames", strings.Join(postern.HeaderNames(), ","), "Cookie,X-Forwarded-For"},
			{"Upstreams empty", len(postern.Upstreams()), 0},
		}
		for _, c := range checks {
			if c.got != c.want {
				t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
			}
		}
		for _, err := range []error{
			postern.SetHTTPHost("new.example"), postern.SetHTTPPath("/new"), postern.SetHTTPQuery("a=1"),
			postern.SetHeader("X-New", "v"), postern.DeleteHeader("x-forwarded-for"),
		} {
			if err != nil {
				t.Errorf("setter: %v", err)
			}
		}
		if err := postern.DeleteHeader("X-None"); err != abi.ErrNotFound {
			t.Errorf("DeleteHeader(missing) = %v, want ErrNotFound", err)
		}
		return postern.Done
	})
	if h.Fields[abi.FieldHTTPHost] != "new.example" || h.Fields[abi.FieldHTTPPath] != "/new" || h.Fields[abi.FieldHTTPQuery] != "a=1" {
		t.Errorf("rewrite fields = %q %q %q", h.Fields[abi.FieldHTTPHost], h.Fields[abi.FieldHTTPPath], h.Fields[abi.FieldHTTPQuery])
	}
	if got := h.Headers["X-New"]; len(got) != 1 || got[0] != "v" {
		t.Errorf("X-New = %q", got)
	}
	if _, ok := h.Headers["x-forwarded-for"]; ok {
		t.Error("x-forwarded-for not deleted")
	}
}

func TestLists(t *testing.T) {
	tests := []struct {
		name    string
		set     []string
		wantErr error
		want    string
	}{
		{"two", []string{"10.0.0.1:143", "[2001:db8::1]:143"}, nil, "10.0.0.1:143\x00[2001:db8::1]:143"},
		{"one", []string{"mail.example:993"}, nil, "mail.example:993"},
		{"empty", nil, nil, ""},
		{"no port", []string{"10.0.0.1"}, abi.ErrInvalid, "old:1"},
		{"port zero", []string{"a:0"}, abi.ErrInvalid, "old:1"},
		{"NUL in item", []string{"a:1\x00b:2"}, abi.ErrInvalid, "old:1"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := sdktest.New(t)
			h.Fields[abi.FieldUpstreams] = "old:1"
			var got []string
			var err error
			inHook(h, abi.HookRoute, func() postern.Verdict {
				err = postern.SetUpstreams(tc.set)
				got = postern.Upstreams()
				return postern.Done
			})
			if err != tc.wantErr {
				t.Fatalf("SetUpstreams err = %v, want %v", err, tc.wantErr)
			}
			if h.Fields[abi.FieldUpstreams] != tc.want {
				t.Errorf("field = %q, want %q", h.Fields[abi.FieldUpstreams], tc.want)
			}
			if strings.Join(got, "\x00") != tc.want {
				t.Errorf("Upstreams() = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestVerdicts(t *testing.T) {
	tests := []struct {
		name      string
		fn        func() postern.Verdict
		want      abi.Verdict
		wantMsg   string
		wantDelay string
	}{
		{"continue", func() postern.Verdict { return postern.Continue }, abi.VerdictContinue, "", ""},
		{"done", func() postern.Verdict { return postern.Done }, abi.VerdictDone, "", ""},
		{"refuse", func() postern.Verdict { return postern.Refuse("go away") }, abi.VerdictRefuse, "go away", ""},
		{"refuse too long is cut", func() postern.Verdict { return postern.Refuse(strings.Repeat("é", abi.MaxFieldBytes)) },
			abi.VerdictRefuse, strings.Repeat("é", abi.MaxFieldBytes/2), ""},
		{"tempfail", func() postern.Verdict { return postern.TempFail("down") }, abi.VerdictTempFail, "down", ""},
		{"tempfail without message", func() postern.Verdict { return postern.TempFail("") }, abi.VerdictTempFail, "", ""},
		{"retry rounds up", func() postern.Verdict { return postern.Retry(1500 * time.Microsecond) }, abi.VerdictRetry, "", "2"},
		{"retry", func() postern.Verdict { return postern.Retry(3 * time.Second) }, abi.VerdictRetry, "", "3000"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := sdktest.New(t)
			if v := inHook(h, abi.HookThrottle, tc.fn); v != tc.want {
				t.Errorf("verdict = %v, want %v", v, tc.want)
			}
			if got := h.Fields[abi.FieldMessage]; got != tc.wantMsg {
				t.Errorf("message = %d bytes %.20q, want %d bytes", len(got), got, len(tc.wantMsg))
			}
			if got := h.Fields[abi.FieldDelayMS]; got != tc.wantDelay {
				t.Errorf("delay = %q, want %q", got, tc.wantDelay)
			}
		})
	}
}

func TestInit(t *testing.T) {
	t.Cleanup(func() { initErr = nil })
	h := sdktest.New(t)
	if err := h.Init([]byte(`{"a":1}`)); err != nil {
		t.Fatalf("Init: %v", err)
	}
	if string(initConfig) != `{"a":1}` {
		t.Errorf("config = %q", initConfig)
	}
	initErr = errors.New(`missing key "servers"; add it to the plugin's config`)
	err := h.Init(nil)
	if err == nil || err.Error() != initErr.Error() {
		t.Errorf("Init refused with %v, want %v", err, initErr)
	}
	if h.Fields[abi.FieldMessage] != "" {
		t.Errorf("init message leaked into the session: %q", h.Fields[abi.FieldMessage])
	}
}

func TestInit_Implicit(t *testing.T) {
	h := sdktest.New(t)
	h.Config = []byte("cfg")
	initConfig = nil
	var cfg []byte
	inHook(h, abi.HookLogin, func() postern.Verdict { cfg = postern.Config(); return postern.Continue })
	if string(initConfig) != "cfg" || string(cfg) != "cfg" {
		t.Errorf("init saw %q, hook saw %q; want cfg", initConfig, cfg)
	}
}

func TestEvents(t *testing.T) {
	h := sdktest.New(t)
	h.Fields[abi.FieldUpstreams] = "a:1\x00b:2"
	h.Fields[abi.FieldMessage] = "bad password"
	h.Fields[abi.FieldLogin] = "bob"
	var ups []string
	var setErr error
	routedecided.Handle(func() { ups = postern.Upstreams(); setErr = postern.SetMessage("x") })
	h.FireEvent(abi.EventRouteDecided)
	if strings.Join(ups, ",") != "a:1,b:2" {
		t.Errorf("upstreams in event = %q", ups)
	}
	if setErr != abi.ErrReadOnly {
		t.Errorf("SetMessage in event = %v, want ErrReadOnly", setErr)
	}
	var msg string
	loginfailed.Handle(func() { msg = postern.Message() })
	h.FireEvent(abi.EventLoginFailed)
	if msg != "bad password" {
		t.Errorf("message in login_failed = %q", msg)
	}
}

func TestKV(t *testing.T) {
	h := sdktest.New(t)
	big := bytes.Repeat([]byte("v"), 100_000)
	inHook(h, abi.HookRoute, func() postern.Verdict {
		steps := []struct {
			name string
			err  error
			want error
		}{
			{"set", postern.KVSet("k", []byte("v1"), 0), nil},
			{"add existing", postern.KVAdd("k", []byte("v2"), 0), abi.ErrExists},
			{"incr absent", func() error { _, err := postern.KVIncr("n", 1); return err }(), abi.ErrNotFound},
			{"add counter", postern.KVAdd("n", []byte("1"), time.Minute), nil},
			{"incr non-number", func() error { _, err := postern.KVIncr("k", 1); return err }(), abi.ErrInvalid},
			{"set big", postern.KVSet("big", big, 0), nil},
			{"too large", postern.KVSet("huge", make([]byte, abi.MaxKVValueBytes+1), 0), abi.ErrTooLarge},
			{"key with space", postern.KVSet("a b", nil, 0), abi.ErrInvalid},
			{"empty key", postern.KVSet("", nil, 0), abi.ErrInvalid},
			{"key too long", postern.KVSet(strings.Repeat("k", abi.MaxKeyBytes+1), nil, 0), abi.ErrInvalid},
			{"negative ttl", postern.KVSet("k", nil, -time.Second), abi.ErrInvalid},
			{"delete absent", postern.KVDelete("none"), abi.ErrNotFound},
		}
		for _, s := range steps {
			if s.err != s.want {
				t.Errorf("%s: err = %v, want %v", s.name, s.err, s.want)
			}
		}
		if n, err := postern.KVIncr("n", 4); err != nil || n != 5 {
			t.Errorf("KVIncr = %d, %v; want 5", n, err)
		}
		if v, err := postern.KVGet("k"); err != nil || string(v) != "v1" {
			t.Errorf("KVGet(k) = %q, %v", v, err)
		}
		if v, err := postern.KVGet("big"); err != nil || !bytes.Equal(v, big) {
			t.Errorf("KVGet(big) = %d bytes, %v", len(v), err)
		}
		if err := postern.KVDelete("k"); err != nil {
			t.Errorf("KVDelete: %v", err)
		}
		if _, err := postern.KVGet("k"); !errors.Is(err, abi.ErrNotFound) {
			t.Errorf("KVGet after delete: %v", err)
		}
		return postern.Done
	})
	if it := h.KV["n"]; string(it.Value) != "5" || !it.Expires.Equal(h.Now.Add(time.Minute)) {
		t.Errorf("counter item = %q expires %v", it.Value, it.Expires)
	}
	h.Advance(time.Minute)
	h.KVDown = true
	inHook(h, abi.HookRoute, func() postern.Verdict {
		if _, err := postern.KVGet("n"); err != abi.ErrUnavailable {
			t.Errorf("KVGet with store down = %v, want ErrUnavailable", err)
		}
		return postern.Done
	})
	h.KVDown = false
	inHook(h, abi.HookRoute, func() postern.Verdict {
		if _, err := postern.KVGet("n"); err != abi.ErrNotFound {
			t.Errorf("KVGet after expiry = %v, want ErrNotFound", err)
		}
		return postern.Done
	})
}

func TestHTTPDo(t *testing.T) {
	big := strings.Repeat("b", 3000)
	tests := []struct {
		name    string
		handler func(*postern.HTTPRequest) (*postern.HTTPResponse, error)
		req     postern.HTTPRequest
		want    *postern.HTTPResponse
		wantErr error
	}{
		{
			name: "ok",
			handler: func(r *postern.HTTPRequest) (*postern.HTTPResponse, error) {
				return &postern.HTTPResponse{Status: 200, Header: postern.HTTPHeader{"Auth-Status": {"OK"}},
					Body: []byte(r.Method + " " + r.URL + " " + r.Header.Get("auth-user") + " " + string(r.Body))}, nil
			},
			req:  postern.HTTPRequest{Method: "POST", URL: "http://lookup/x", Header: postern.HTTPHeader{"Auth-User": {"bob"}}, Body: []byte("b")},
			want: &postern.HTTPResponse{Status: 200, Header: postern.HTTPHeader{"Auth-Status": {"OK"}}, Body: []byte("POST http://lookup/x bob b")},
		},
		{
			name: "big body, default method",
			handler: func(r *postern.HTTPRequest) (*postern.HTTPResponse, error) {
				return &postern.HTTPResponse{Status: 404, Body: []byte(r.Method + big)}, nil
			},
			req:  postern.HTTPRequest{URL: "https://lookup/"},
			want: &postern.HTTPResponse{Status: 404, Header: postern.HTTPHeader{}, Body: []byte("GET" + big)},
		},
		{name: "no allowlist", req: postern.HTTPRequest{URL: "http://x/"}, wantErr: abi.ErrDenied},
		{
			name:    "timeout",
			handler: func(*postern.HTTPRequest) (*postern.HTTPResponse, error) { return nil, abi.ErrTimeout },
			req:     postern.HTTPRequest{URL: "http://x/", Timeout: time.Second},
			wantErr: abi.ErrTimeout,
		},
		{
			name:    "header injection",
			handler: func(*postern.HTTPRequest) (*postern.HTTPResponse, error) { panic("not called") },
			req:     postern.HTTPRequest{URL: "http://x/", Header: postern.HTTPHeader{"A": {"1\r\nB: 2"}}},
			wantErr: abi.ErrInvalid,
		},
		{
			name:    "not a URL",
			handler: func(*postern.HTTPRequest) (*postern.HTTPResponse, error) { panic("not called") },
			req:     postern.HTTPRequest{URL: "lookup/x"},
			wantErr: abi.ErrInvalid,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := sdktest.New(t)
			h.HTTP = tc.handler
			var resp *postern.HTTPResponse
			var err error
			inHook(h, abi.HookRoute, func() postern.Verdict { resp, err = postern.HTTPDo(&tc.req); return postern.Continue })
			if err != tc.wantErr {
				t.Fatalf("err = %v, want %v", err, tc.wantErr)
			}
			if tc.want == nil {
				return
			}
			if resp.Status != tc.want.Status || !bytes.Equal(resp.Body, tc.want.Body) || len(resp.Header) != len(tc.want.Header) {
				t.Fatalf("resp = %d %v %.40q, want %d %v %.40q", resp.Status, resp.Header, resp.Body, tc.want.Status, tc.want.Header, tc.want.Body)
			}
			for k := range tc.want.Header {
				if resp.Header.Get(k) != tc.want.Header.Get(k) {
					t.Errorf("header %s = %q, want %q", k, resp.Header.Get(k), tc.want.Header.Get(k))
				}
			}
			if tc.req.Timeout > 0 && h.HTTPRequests[0].Timeout != tc.req.Timeout {
				t.Errorf("timeout = %v", h.HTTPRequests[0].Timeout)
			}
		})
	}
}

func TestHostServices(t *testing.T) {
	h := sdktest.New(t)
	h.Features[abi.FeatureKVShared] = true
	inHook(h, abi.HookLogin, func() postern.Verdict {
		postern.Infof("hello %s", "bob")
		postern.Log(abi.LevelWarn, strings.Repeat("l", abi.MaxLogBytes+10))
		postern.CounterAdd("logins", 2)
		postern.CounterAdd("logins", 1)
		postern.CounterAdd("Bad-Name", 1)
		if !postern.Now().Equal(h.Now) {
			t.Errorf("Now = %v, want %v", postern.Now(), h.Now)
		}
		if !postern.HasFeature(abi.FeatureABI10) || !postern.HasFeature(abi.FeatureKVShared) || postern.HasFeature(abi.FeatureHTTPCall) {
			t.Error("features wrong")
		}
		return postern.Continue
	})
	if len(h.Logs) != 2 || h.Logs[0] != (sdktest.LogLine{Level: abi.LevelInfo, Msg: "hello bob"}) || len(h.Logs[1].Msg) != abi.MaxLogBytes {
		t.Errorf("logs = %.60v", h.Logs)
	}
	if len(h.Counters) != 1 || h.Counters["logins"] != 3 {
		t.Errorf("counters = %v", h.Counters)
	}
}

func TestCanonicalHeaderKey(t *testing.T) {
	for in, want := range map[string]string{
		"x-test": "X-Test", "X-TEST": "X-Test", "content-type": "Content-Type", "Host": "Host",
		"": "", "bad key": "bad key", "a--b": "A--B",
	} {
		if got := postern.CanonicalHeaderKey(in); got != want {
			t.Errorf("CanonicalHeaderKey(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestParseHTTPHeader(t *testing.T) {
	h := postern.ParseHTTPHeader("Auth-Status: OK\r\nauth-wait: 3\r\nX-A: 1\r\nX-A: 2\r\nbroken\r\n")
	if h.Get("Auth-Status") != "OK" || h.Get("Auth-Wait") != "3" || strings.Join(h.Values("x-a"), ",") != "1,2" || len(h) != 3 {
		t.Errorf("ParseHTTPHeader = %v", h)
	}
}

func TestDefaults(t *testing.T) {
	h := sdktest.New(t)
	h.Fields[abi.FieldLogin] = "bob"
	inHook(h, abi.HookRoute, func() postern.Verdict {
		if got := postern.Account(); got != "bob" {
			t.Errorf("Account() before set = %q, want the login", got)
		}
		if got, _ := postern.Get(abi.FieldDelayMS); got != "0" {
			t.Errorf("delay_ms unset = %q, want 0", got)
		}
		if err := postern.Set(abi.FieldCacheAlias, "true"); err != nil || !postern.CacheAlias() {
			t.Errorf("cache_alias true: %v %v", err, postern.CacheAlias())
		}
		if err := postern.SetRouteCached(false); err != nil || postern.RouteCached() {
			t.Errorf("route_cached false: %v", err)
		}
		return postern.Done
	})
	if h.Fields[abi.FieldCacheAlias] != "1" || h.Fields[abi.FieldRouteCached] != "0" {
		t.Errorf("booleans stored as %q %q, want 1 0", h.Fields[abi.FieldCacheAlias], h.Fields[abi.FieldRouteCached])
	}
}

func TestHTTPDo_ResponseLimit(t *testing.T) {
	h := sdktest.New(t)
	h.HTTP = func(*postern.HTTPRequest) (*postern.HTTPResponse, error) {
		return &postern.HTTPResponse{Status: 200, Body: make([]byte, 64<<10+1)}, nil
	}
	inHook(h, abi.HookLogin, func() postern.Verdict {
		if _, err := postern.HTTPDo(&postern.HTTPRequest{URL: "http://x/"}); err != abi.ErrTooLarge {
			t.Errorf("over the response limit: %v, want ErrTooLarge", err)
		}
		if _, err := postern.HTTPDo(&postern.HTTPRequest{Method: "BAD METHOD", URL: "http://x/"}); err != abi.ErrInvalid {
			t.Errorf("bad method: %v, want ErrInvalid", err)
		}
		return postern.Continue
	})
}
