package plugin

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/internal/testenv"
	"github.com/postern/postern/host/kv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// everything loads the Go "everything" guest (see its main.go for the
// command contract) into a fresh host.
func everything(t *testing.T, opts Options, spec Spec) (*Host, *logBuffer) {
	t.Helper()
	h, logs := newTestHost(t, opts)
	spec.Name = "everything"
	spec.Path = goGuest(t, "everything")
	if err := h.Load(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	return h, logs
}

// run sends a command through hook and returns the verdict and message.
func run(t *testing.T, h *Host, hook abi.Hook, f *Fields, cmd string) (Result, string) {
	t.Helper()
	f.Login = cmd
	f.Message = ""
	r := h.Run(context.Background(), hook, f)
	return r, f.Message
}

func TestGoGuest_fieldsAndVerdicts(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "x-test=%s", r.Header.Get("X-Test"))
	}))
	defer backend.Close()
	u, _ := url.Parse(backend.URL)
	h, logs := everything(t, Options{}, Spec{
		Config:    []byte(`{"greeting":"hi"}`),
		HTTPAllow: []string{u.Host},
	})
	httpFields := func() *Fields {
		f := mailFields()
		f.Protocol = "http"
		f.HTTP = &HTTPFields{Method: "GET", Host: "mail.example.com", Path: "/home/bob/inbox", Query: "fmt=json",
			Header: http.Header{"Cookie": {"ZM_AUTH_TOKEN=tok123; other=1"}, "User-Agent": {"curl"}}}
		return f
	}
	imap := func() *Fields {
		f := mailFields()
		f.IMAPID = map[string]string{"name": "Thunderbird"}
		f.TLSVersion, f.SNI = "TLS1.3", "imap.example.com"
		return f
	}
	tests := []struct {
		name    string
		hook    abi.Hook
		fields  func() *Fields
		cmd     string
		verdict abi.Verdict
		want    string // message; a trailing "*" matches a prefix
	}{
		{"echo", abi.HookLogin, imap, "echo", abi.VerdictDone,
			"protocol=imap login=echo client=192.0.2.7:51234 local=198.51.100.1:143 tls=TLS1.3 sni=imap.example.com"},
		{"password in login", abi.HookLogin, imap, "get:13", abi.VerdictDone, "secret"},
		{"password in route", abi.HookRoute, imap, "get:13", abi.VerdictDone, "secret"},
		{"no password in throttle", abi.HookThrottle, imap, "get:13", abi.VerdictDone, "-2"},
		{"unknown field", abi.HookLogin, imap, "get:999", abi.VerdictDone, "-1"},
		{"http field in imap", abi.HookLogin, imap, "get:19", abi.VerdictDone, "-2"},
		{"login read-only in route", abi.HookRoute, imap, "set:12:x", abi.VerdictDone, "-3"},
		{"bad delay", abi.HookThrottle, imap, "set:28:soon", abi.VerdictDone, "-4"},
		{"imap id", abi.HookLogin, imap, "imapid:NAME", abi.VerdictDone, "Thunderbird"},
		{"imap id missing", abi.HookLogin, imap, "imapid:version", abi.VerdictDone, "-5"},
		{"upstreams", abi.HookRoute, imap, "upstreams:10.0.0.1:7143,[2001:db8::1]:143", abi.VerdictDone, "ok"},
		{"bad upstream", abi.HookRoute, imap, "upstreams:10.0.0.1", abi.VerdictDone, "-4"},
		{"upstreams outside route", abi.HookLogin, imap, "upstreams:10.0.0.1:143", abi.VerdictDone, "-2"},
		{"refuse", abi.HookThrottle, imap, "refuse:too many logins", abi.VerdictRefuse, "too many logins"},
		{"tempfail", abi.HookRoute, imap, "tempfail:lookup down", abi.VerdictTempFail, "lookup down"},
		{"retry", abi.HookRoute, imap, "retry:10", abi.VerdictDone, "retried"},
		{"header", abi.HookRewrite, httpFields, "header:user-agent", abi.VerdictDone, "curl"},
		{"header missing", abi.HookRewrite, httpFields, "header:X-Nope", abi.VerdictDone, "-5"},
		{"cookie", abi.HookLogin, httpFields, "cookie:ZM_AUTH_TOKEN", abi.VerdictDone, "tok123"},
		{"set header in rewrite", abi.HookRewrite, httpFields, "setheader:X-Route:mbox1", abi.VerdictDone, "ok"},
		{"set header outside rewrite", abi.HookRoute, httpFields, "setheader:X-Route:mbox1", abi.VerdictDone, "-3"},
		{"bad header name", abi.HookRewrite, httpFields, "setheader:X Route:1", abi.VerdictDone, "-4"},
		{"delete header", abi.HookRewrite, httpFields, "delheader:User-Agent", abi.VerdictDone, "ok"},
		{"path", abi.HookRewrite, httpFields, "get:19", abi.VerdictDone, "/home/bob/inbox"},
		{"set path", abi.HookRewrite, httpFields, "set:19:/service/home/bob", abi.VerdictDone, "ok"},
		{"redirect code", abi.HookRewrite, httpFields, "set:29:308", abi.VerdictDone, "ok"},
		{"bad redirect code", abi.HookRewrite, httpFields, "set:29:200", abi.VerdictDone, "-4"},
		{"http call", abi.HookRoute, imap, "http:" + backend.URL + "/lookup", abi.VerdictDone, "200 x-test=1"},
		{"http denied", abi.HookRoute, imap, "http:http://127.0.0.2:9/x", abi.VerdictDone, "-8"},
		{"http bad url", abi.HookRoute, imap, "http:ftp://x/", abi.VerdictDone, "-4"},
		{"clock", abi.HookLogin, imap, "clock", abi.VerdictDone, "*"},
		{"feature abi", abi.HookLogin, imap, "feature:abi-1.0", abi.VerdictDone, "1"},
		{"feature http", abi.HookLogin, imap, "feature:http-call", abi.VerdictDone, "1"},
		{"feature kv-shared", abi.HookLogin, imap, "feature:kv-shared", abi.VerdictDone, "0"},
		{"feature unknown", abi.HookLogin, imap, "feature:teleport", abi.VerdictDone, "0"},
		{"counter", abi.HookLogin, imap, "counter:lookups", abi.VerdictDone, "ok"},
		{"config", abi.HookLogin, imap, "config", abi.VerdictDone, `{"greeting":"hi"}`},
		{"message too big", abi.HookLogin, imap, "big:70000", abi.VerdictDone, "-7"},
		{"message at limit", abi.HookLogin, imap, "big:65536", abi.VerdictDone, strings.Repeat("x", 65536)},
		{"log", abi.HookLogin, imap, "log:3", abi.VerdictDone, "3"},
		{"unknown command continues", abi.HookLogin, imap, "bob", abi.VerdictContinue, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.fields()
			r, msg := run(t, h, tc.hook, f, tc.cmd)
			if r.Err != nil {
				t.Fatalf("%v", r.Err)
			}
			if r.Verdict != tc.verdict {
				t.Errorf("verdict %v, want %v (message %q)", r.Verdict, tc.verdict, msg)
			}
			if p, ok := strings.CutSuffix(tc.want, "*"); ok {
				if !strings.HasPrefix(msg, p) {
					t.Errorf("message %q, want prefix %q", msg, p)
				}
			} else if msg != tc.want {
				t.Errorf("message %q, want %q", msg, tc.want)
			}
		})
	}
	if got := h.Plugin("everything").Counters()["lookups"]; got != 3 {
		t.Errorf("counter lookups = %d, want 3", got)
	}
	if !strings.Contains(logs.String(), `msg="line 3" plugin=everything source=guest`) {
		t.Errorf("guest log lines missing:\n%s", logs)
	}

	// Writes land in the Fields.
	f := imap()
	run(t, h, abi.HookRoute, f, "upstreams:10.0.0.1:7143,[2001:db8::1]:143")
	if got := strings.Join(f.Upstreams, " "); got != "10.0.0.1:7143 [2001:db8::1]:143" {
		t.Errorf("upstreams %q", got)
	}
	f = imap()
	if r, msg := run(t, h, abi.HookLogin, f, "setlogin:bob@example.com"); r.Verdict != abi.VerdictContinue || msg != "ok" || f.Login != "bob@example.com" {
		t.Errorf("setlogin: %+v %q login %q", r, msg, f.Login)
	}
	hf := httpFields()
	run(t, h, abi.HookRewrite, hf, "setheader:X-Route:mbox1")
	if hf.HTTP.Header.Get("X-Route") != "mbox1" {
		t.Errorf("header not set: %v", hf.HTTP.Header)
	}
	clk := imap()
	_, msg := run(t, h, abi.HookLogin, clk, "clock")
	ns, err := strconv.ParseInt(msg, 10, 64)
	if err != nil || time.Since(time.Unix(0, ns)).Abs() > time.Minute {
		t.Errorf("clock %q is not now", msg)
	}
	all := imap()
	all.HTTP = nil
	_, msg = run(t, h, abi.HookRoute, all, "fields")
	for _, want := range []string{"protocol=imap", "client_ip=192.0.2.7", "client_port=51234", "password=secret",
		"login_attempt=1", "http_method!-2", "upstream!-2", "account=fields"} {
		if !strings.Contains(msg, want) {
			t.Errorf("fields report lacks %q:\n%s", want, strings.ReplaceAll(msg, "\t", "\n"))
		}
	}
	if strings.Contains(msg, "account=fields") && strings.Contains(msg, "upstream_password=secret") {
		t.Error("upstream password leaked")
	}
}

func TestGoGuest_kv(t *testing.T) {
	stores := map[string]func(t *testing.T) kv.Store{
		"memory": func(t *testing.T) kv.Store { return kv.NewMemory(kv.MemoryOptions{}) },
		"memcached": func(t *testing.T) kv.Store {
			m, err := kv.NewMemcached([]string{testenv.SharedMemcached(t)}, kv.MemcachedOptions{})
			if err != nil {
				t.Fatal(err)
			}
			return m
		},
	}
	for name, mk := range stores {
		t.Run(name, func(t *testing.T) {
			st := mk(t)
			defer st.Close()
			h, _ := everything(t, Options{Store: st}, Spec{})
			key := "gokv-" + name + strconv.FormatInt(time.Now().UnixNano(), 36)
			for i := 0; i < 2; i++ { // the command cleans up after itself
				_, msg := run(t, h, abi.HookRoute, mailFields(), "kv:"+key+":v1")
				if msg != "set=0 get=v1 add=-9 add2=0 incr=5 del=0 get2=-5" {
					t.Fatalf("round %d: %q", i, msg)
				}
			}
			want := "0"
			if st.Shared() {
				want = "1"
			}
			if _, msg := run(t, h, abi.HookLogin, mailFields(), "feature:kv-shared"); msg != want {
				t.Errorf("kv-shared = %q, want %q", msg, want)
			}
			// login_failed deletes route:<login>.
			if err := st.Set(context.Background(), "route:"+key, []byte("10.0.0.1:143"), 0); err != nil {
				t.Fatal(err)
			}
			f := mailFields()
			f.Login, f.Message = key, "wrong password"
			if err := h.Fire(context.Background(), abi.EventLoginFailed, f); err != nil {
				t.Fatal(err)
			}
			if _, err := st.Get(context.Background(), "route:"+key); !errors.Is(err, kv.ErrNotFound) {
				t.Errorf("route key survived login_failed: %v", err)
			}
		})
	}
}

func TestGoGuest_kvUnavailable(t *testing.T) {
	st, err := kv.NewMemcached([]string{fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))}, kv.MemcachedOptions{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h, logs := everything(t, Options{Store: st}, Spec{})
	for i := 0; i < 3; i++ {
		r, msg := run(t, h, abi.HookRoute, mailFields(), "kv:k:v")
		if r.Err != nil || !strings.HasPrefix(msg, "set=-6 get=-6") {
			t.Fatalf("%+v %q", r, msg)
		}
	}
	if n := strings.Count(logs.String(), "key-value store unavailable"); n != 1 {
		t.Errorf("store failure logged %d times, want once", n)
	}
	if h.StoreErrors() < 3 {
		t.Errorf("store errors %d", h.StoreErrors())
	}
}

func TestGoGuest_failures(t *testing.T) {
	tests := []struct {
		cmd    string
		limits Limits
		kind   error
	}{
		{"panic", Limits{}, ErrTrap},
		{"loop", Limits{CallTimeout: 50 * time.Millisecond}, ErrTimeout},
		{"bomb", Limits{MemoryPages: 512, CallTimeout: 20 * time.Second}, ErrMemory},
	}
	for _, tc := range tests {
		t.Run(tc.cmd, func(t *testing.T) {
			h, _ := everything(t, Options{}, Spec{Limits: tc.limits})
			f := mailFields()
			r, _ := run(t, h, abi.HookLogin, f, tc.cmd)
			if r.Verdict != abi.VerdictTempFail || !errors.Is(r.Err, tc.kind) {
				t.Fatalf("%+v, want tempfail wrapping %v", r, tc.kind)
			}
			// The plugin still serves: a fresh instance replaces the dead one.
			if r, msg := run(t, h, abi.HookLogin, mailFields(), "feature:abi-1.0"); r.Err != nil || msg != "1" {
				t.Fatalf("after %s: %+v %q", tc.cmd, r, msg)
			}
		})
	}
}

func TestGoGuest_initRefuses(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	err := h.Load(context.Background(), []Spec{{Name: "e", Path: goGuest(t, "everything"), Config: []byte(`{"refuse":"servers is empty"}`)}})
	if err == nil || !strings.Contains(err.Error(), "plugin e: init refused its configuration: servers is empty") {
		t.Fatalf("%v", err)
	}
}

func TestGoGuest_events(t *testing.T) {
	h, logs := everything(t, Options{}, Spec{Limits: Limits{Instances: 1}})
	f := mailFields()
	f.Upstreams = []string{"10.0.0.1:143", "10.0.0.2:143"}
	if err := h.Fire(context.Background(), abi.EventRouteDecided, f); err != nil {
		t.Fatal(err)
	}
	if _, msg := run(t, h, abi.HookLogin, mailFields(), "events"); msg != "route_decided=1 login_failed=0" {
		t.Errorf("events %q", msg)
	}
	if !strings.Contains(logs.String(), "event route_decided upstreams=10.0.0.1:143,10.0.0.2:143") {
		t.Errorf("event log missing:\n%s", logs)
	}
}
