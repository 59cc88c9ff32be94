package admin

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/internal/testenv"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu chan struct{}
	b  strings.Builder
}

func newLogBuffer() *logBuffer { return &logBuffer{mu: make(chan struct{}, 1)} }

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu <- struct{}{}
	defer func() { <-l.mu }()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu <- struct{}{}
	defer func() { <-l.mu }()
	return l.b.String()
}

// start runs a Server on 127.0.0.1:0 and returns it with its base URL.
func start(t *testing.T, opts Options) (*Server, string) {
	t.Helper()
	if opts.Address == "" {
		opts.Address = "127.0.0.1:0"
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Shutdown(ctx)
	})
	return s, "http://" + s.Addr().String()
}

type reply struct {
	code int
	body string
	hdr  http.Header
}

// do sends one request; hdr holds extra headers ("Host" sets the Host).
func do(t *testing.T, method, u string, body string, hdr map[string]string) reply {
	t.Helper()
	var rd io.Reader
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, u, rd)
	if err != nil {
		t.Fatal(err)
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return reply{resp.StatusCode, string(b), resp.Header}
}

func fixture(name string) string { return filepath.Join("..", "..", "abi", "testdata", name) }

// newHost loads counter (counts "lookups" and continues) and trap (traps
// in login, failing open) into a real plugin host on st.
func newHost(t *testing.T, st kv.Store) *plugin.Host {
	t.Helper()
	ctx := context.Background()
	h, err := plugin.New(ctx, plugin.Options{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(ctx) })
	if err := h.Load(ctx, []plugin.Spec{
		{Name: "counter", Path: filepath.Join("..", "metrics", "testdata", "counter.wasm")},
		{Name: "trap", Path: fixture("trap.wasm"), OnFailure: map[abi.Hook]plugin.FailurePolicy{abi.HookLogin: plugin.FailOpen}},
	}); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestNew_Address(t *testing.T) {
	tests := []struct {
		name, addr, token, wantErr string
	}{
		{"default", "", "", ""},
		{"loopback v4", "127.0.0.1:9999", "", ""},
		{"loopback other", "127.0.0.2:9999", "", ""},
		{"loopback v6", "[::1]:9999", "", ""},
		{"localhost", "localhost:9999", "", ""},
		{"all interfaces", ":9090", "", "not loopback: set admin.token"},
		{"any v4", "0.0.0.0:9090", "", "not loopback: set admin.token"},
		{"public", "192.0.2.1:9090", "", "not loopback: set admin.token"},
		{"hostname", "admin.example.com:9090", "", "not loopback: set admin.token"},
		{"public with token", "192.0.2.1:9090", "t0k3n", ""},
		{"no port", "127.0.0.1", "", "want host:port"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(Options{Address: tc.addr, Token: tc.token})
			if tc.wantErr == "" && err != nil || tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)) {
				t.Fatalf("New(%q) = %v, want %q", tc.addr, err, tc.wantErr)
			}
			if err != nil && !strings.HasPrefix(err.Error(), "admin: ") {
				t.Errorf("error %q lacks the admin: prefix", err)
			}
		})
	}
}

func TestServer_Auth(t *testing.T) {
	const token = "s3cret-t0ken"
	var reloads atomic.Int32
	reload := func(context.Context) error { reloads.Add(1); return nil }
	logs := newLogBuffer()
	_, open := start(t, Options{Reload: reload, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	_, locked := start(t, Options{Reload: reload, Token: token, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	// A non-loopback server: served through its handler, with the
	// address it would bind.
	remote, err := New(Options{Address: "192.0.2.1:9090", Token: token, Reload: reload})
	if err != nil {
		t.Fatal(err)
	}
	rs := httptest.NewServer(remote.Handler())
	t.Cleanup(rs.Close)

	bearer := map[string]string{"Authorization": "Bearer " + token}
	tests := []struct {
		name     string
		method   string
		base     string
		path     string
		hdr      map[string]string
		wantCode int
		reloads  int32 // reloads the request must cause
	}{
		{"loopback GET without token", "GET", open, "/metrics", nil, 200, 0},
		{"loopback POST without token", "POST", open, "/reload", nil, 200, 1},
		{"token set: GET open on loopback", "GET", locked, "/plugins", nil, 503, 0},
		{"token set: POST without token", "POST", locked, "/reload", nil, 401, 0},
		{"token set: POST wrong token", "POST", locked, "/reload", map[string]string{"Authorization": "Bearer nope"}, 401, 0},
		{"token set: POST token prefix", "POST", locked, "/reload", map[string]string{"Authorization": "Bearer " + token[:5]}, 401, 0},
		{"token set: POST basic scheme", "POST", locked, "/reload", map[string]string{"Authorization": "Basic " + token}, 401, 0},
		{"token set: POST right token", "POST", locked, "/reload", bearer, 200, 1},
		{"remote: GET without token", "GET", rs.URL, "/metrics", nil, 401, 0},
		{"remote: status page without token", "GET", rs.URL, "/", nil, 401, 0},
		{"remote: healthz without token", "GET", rs.URL, "/healthz", nil, 200, 0},
		{"remote: readyz without token", "GET", rs.URL, "/readyz", nil, 503, 0},
		{"remote: GET with token", "GET", rs.URL, "/metrics", bearer, 200, 0},
		{"remote: pprof without token", "GET", rs.URL, "/debug/pprof/", nil, 401, 0},
		{"remote: pprof with token", "GET", rs.URL, "/debug/pprof/", bearer, 200, 0},
		{"loopback pprof without token", "GET", open, "/debug/pprof/heap?debug=1", nil, 200, 0},
		{"remote: POST with token", "POST", rs.URL, "/reload", bearer, 200, 1},
		{"cross-site POST", "POST", open, "/reload", map[string]string{"Sec-Fetch-Site": "cross-site"}, 403, 0},
		{"same-site POST from another port", "POST", open, "/reload", map[string]string{"Sec-Fetch-Site": "same-site"}, 403, 0},
		{"foreign Origin POST", "POST", open, "/reload", map[string]string{"Origin": "http://evil.example"}, 403, 0},
		{"cross-site POST with token", "POST", locked, "/reload", map[string]string{"Authorization": "Bearer " + token, "Sec-Fetch-Site": "cross-site"}, 403, 0},
		{"same-origin POST", "POST", open, "/reload", map[string]string{"Sec-Fetch-Site": "same-origin"}, 200, 1},
		{"DNS rebinding GET", "GET", open, "/metrics", map[string]string{"Host": "evil.example:9090"}, 421, 0},
		{"DNS rebinding POST", "POST", open, "/reload", map[string]string{"Host": "evil.example:9090", "Origin": "http://evil.example:9090"}, 421, 0},
		{"localhost Host", "GET", open, "/healthz", map[string]string{"Host": "localhost:9090"}, 200, 0},
		{"GET on POST endpoint", "GET", open, "/reload", nil, 405, 0},
		{"unknown path", "GET", open, "/nope", nil, 404, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			before := reloads.Load()
			r := do(t, tc.method, tc.base+tc.path, "", tc.hdr)
			if r.code != tc.wantCode {
				t.Errorf("%s %s = %d %q, want %d", tc.method, tc.path, r.code, r.body, tc.wantCode)
			}
			if got := reloads.Load() - before; got != tc.reloads {
				t.Errorf("%d reloads, want %d", got, tc.reloads)
			}
			if r.code == 401 && r.hdr.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
	if strings.Contains(logs.String(), token) {
		t.Errorf("the token is in the log:\n%s", logs)
	}
}

func TestServer_Readyz(t *testing.T) {
	s, base := start(t, Options{})
	get := func() reply { return do(t, "GET", base+"/readyz", "", nil) }
	if r := get(); r.code != 503 || !strings.Contains(r.body, "plugins not loaded yet") {
		t.Errorf("before Attach: %d %q", r.code, r.body)
	}
	if r := do(t, "GET", base+"/healthz", "", nil); r.code != 200 || r.body != "ok\n" {
		t.Errorf("healthz before Attach: %d %q", r.code, r.body)
	}
	st := kv.NewMemory(kv.MemoryOptions{})
	defer st.Close()
	h := newHost(t, st)
	var bound atomic.Bool
	s.Attach(Sources{Plugins: h, Listeners: func() []Listener {
		l := Listener{Name: "imap", Protocol: "imap", Address: "127.0.0.1:143", TLS: "starttls"}
		if bound.Load() {
			l.Bound = "127.0.0.1:143"
		}
		return []Listener{l}
	}})
	if r := get(); r.code != 503 || !strings.Contains(r.body, "listener imap (127.0.0.1:143) not up") {
		t.Errorf("listener down: %d %q", r.code, r.body)
	}
	bound.Store(true)
	if r := get(); r.code != 200 || r.body != "ready\n" {
		t.Errorf("ready: %d %q", r.code, r.body)
	}
	s.Drain()
	if r := get(); r.code != 503 || !strings.Contains(r.body, "shutting down") {
		t.Errorf("draining: %d %q", r.code, r.body)
	}
}

func TestServer_Reload(t *testing.T) {
	fail := errors.New("config: postern.yaml:3: plugins.chain[0].path: empty")
	var next error
	s, base := start(t, Options{ConfigFile: "/etc/postern.yaml", Reload: func(context.Context) error { return next }})
	if r := do(t, "POST", base+"/reload", "", nil); r.code != 200 || !strings.Contains(r.body, `"ok": true`) {
		t.Errorf("good reload: %d %s", r.code, r.body)
	}
	next = fail
	if r := do(t, "POST", base+"/reload", "", nil); r.code != 500 || !strings.Contains(r.body, "plugins.chain[0].path: empty") ||
		!strings.Contains(r.body, "previous configuration keeps serving") {
		t.Errorf("bad reload: %d %s", r.code, r.body)
	}
	s.RecordReload(time.Now(), "sighup", time.Millisecond, nil)
	ev := s.reloads.latest()
	if len(ev) != 3 || ev[0].Source != "sighup" || ev[1].Source != "api" || ev[1].Error == "" || ev[2].Error != "" ||
		ev[2].Kind != "config" || ev[2].Name != "/etc/postern.yaml" {
		t.Errorf("reload ring (newest first): %+v", ev)
	}
	m := do(t, "GET", base+"/metrics", "", nil)
	for _, want := range []string{`postern_config_reloads_total{result="ok"} 2`, `postern_config_reloads_total{result="error"} 1`} {
		if !strings.Contains(m.body, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}

	_, none := start(t, Options{})
	if r := do(t, "POST", none+"/reload", "", nil); r.code != 501 || !strings.Contains(r.body, "SIGHUP") {
		t.Errorf("no reload func: %d %q", r.code, r.body)
	}
}

func TestReloadRing_Bounded(t *testing.T) {
	var r reloadRing
	t0 := time.Unix(1700000000, 0)
	for i := range 30 {
		r.add(ReloadEvent{At: t0.Add(time.Duration(i) * time.Second), Kind: "config"})
	}
	got := r.latest()
	if len(got) != ringSize || !got[0].At.Equal(t0.Add(29*time.Second)) || !got[ringSize-1].At.Equal(t0.Add(10*time.Second)) {
		t.Errorf("%d events, newest %v, oldest %v", len(got), got[0].At, got[len(got)-1].At)
	}
	// An older event sampled late goes in its place, not at the top.
	r.add(ReloadEvent{At: t0.Add(15500 * time.Millisecond), Kind: "plugin"})
	got = r.latest()
	if got[0].Kind != "config" || len(got) != ringSize {
		t.Errorf("late event: %+v", got[:2])
	}
}

func TestServer_PurgeRoute(t *testing.T) {
	ctx := context.Background()
	type store struct {
		name   string
		st     kv.Store
		shared bool
	}
	mc, err := kv.NewMemcached([]string{testenv.SharedMemcached(t)}, kv.MemcachedOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mc.Close() })
	mem := kv.NewMemory(kv.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	// Two servers placed as Zimbra's proxy does, with SHA-256 wire keys:
	// each key is written to one server and the purge finds it there.
	zm, err := kv.NewMemcached([]string{testenv.SharedMemcached(t), testenv.Memcached(t)},
		kv.MemcachedOptions{Timeout: time.Second, Distribution: "zimbra-nginx", KeyForm: "sha256"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { zm.Close() })
	for _, sc := range []store{{"memory", mem, false}, {"memcached", mc, true}, {"memcached-zimbra", zm, true}} {
		t.Run(sc.name, func(t *testing.T) {
			user := "purge-" + sc.name + "@example.com"
			present := []string{
				"route:proto=imap;user=" + user,
				"route:proto=httpssl;user=" + user,
				"alias:user=" + user + ";ip=192.0.2.1",
				"alias:user=" + user + ";vhost=mail.example.com",
				"route:proto=httpssl;id=zid-" + sc.name,
			}
			other := "route:proto=imap;user=other-" + sc.name
			for _, k := range append(present, other) {
				if err := sc.st.Set(ctx, k, []byte("10.0.0.5:143"), time.Hour); err != nil {
					t.Fatal(err)
				}
			}
			s, base := start(t, Options{})
			s.Attach(Sources{Store: sc.st})
			form := url.Values{"login": {user}, "ip": {"192.0.2.1"}, "vhost": {"mail.example.com"}, "id": {"zid-" + sc.name}}
			r := do(t, "POST", base+"/purge-route", form.Encode(), nil)
			if r.code != 200 {
				t.Fatalf("%d %s", r.code, r.body)
			}
			for _, want := range []string{
				`"key": "route:proto=imap;user=` + user + `",` + "\n      \"deleted\": 1,",
				`"key": "route:proto=pop3;user=` + user + `",` + "\n      \"deleted\": 0,",
				`"key": "alias:user=` + user + `;vhost=mail.example.com",` + "\n      \"deleted\": 1,",
				`"key": "route:proto=http;id=zid-` + sc.name + `",` + "\n      \"deleted\": 0,",
				`"key": "route:proto=httpssl;id=zid-` + sc.name + `",` + "\n      \"deleted\": 1,",
			} {
				if !strings.Contains(r.body, want) {
					t.Errorf("reply lacks %q:\n%s", want, r.body)
				}
			}
			if strings.Count(r.body, `"key"`) != 10 || !strings.Contains(r.body, `"shared": `+map[bool]string{true: "true", false: "false"}[sc.shared]) {
				t.Errorf("want 10 keys (6 routes, 2 aliases, 2 routes by id), shared %v:\n%s", sc.shared, r.body)
			}
			for _, k := range present {
				if _, err := sc.st.Get(ctx, k); !errors.Is(err, kv.ErrNotFound) {
					t.Errorf("%s still there (%v)", k, err)
				}
			}
			if _, err := sc.st.Get(ctx, other); err != nil {
				t.Errorf("another user's key was deleted: %v", err)
			}
		})
	}
}

func TestServer_PurgeRoute_BadRequests(t *testing.T) {
	s, base := start(t, Options{})
	mem := kv.NewMemory(kv.MemoryOptions{})
	t.Cleanup(func() { mem.Close() })
	tests := []struct {
		name, body string
		wantCode   int
		wantBody   string
	}{
		{"no login", "ip=192.0.2.1", 400, "name at least one login"},
		{"empty login", "login=", 400, "an empty login"},
		{"empty id", "id=", 400, "an empty account id"},
		{"too many ids", strings.Repeat("login=a&", 600) + strings.Repeat("id=b&", 401), 413, "more than 1000 logins"},
		{"bad ip", "login=bob&ip=proxy1", 400, `ip "proxy1" is not an IP address`},
		{"bad vhost", "login=bob&vhost=a+b", 400, `vhost "a b" is not a host name`},
		{"unknown parameter", "login=bob&user=x", 400, "unknown parameter"},
		{"bad escape", "login=%zz", 400, "send a form"},
		{"too large", "login=" + strings.Repeat("a", maxFormBytes+1), 413, "over 256 KiB"},
		{"too many logins", strings.Repeat("login=a&", maxPurgeLogins+1), 413, "more than 1000 logins"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "POST", base+"/purge-route", tc.body, nil)
			if r.code != tc.wantCode || !strings.Contains(r.body, tc.wantBody) {
				t.Errorf("%d %q, want %d %q", r.code, r.body, tc.wantCode, tc.wantBody)
			}
		})
	}
	// Before the store is attached: unavailable, not a crash.
	if r := do(t, "POST", base+"/purge-route", "login=bob", nil); r.code != 503 {
		t.Errorf("no store: %d %q", r.code, r.body)
	}
	s.Attach(Sources{Store: mem})
	if r := do(t, "POST", base+"/purge-route?login=bob", "", nil); r.code != 200 {
		t.Errorf("login in the query: %d %q", r.code, r.body)
	}
}

func TestServer_PurgeRoute_Unreachable(t *testing.T) {
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t)))
	mc, err := kv.NewMemcached([]string{addr}, kv.MemcachedOptions{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { mc.Close() })
	s, base := start(t, Options{})
	s.Attach(Sources{Store: mc})
	r := do(t, "POST", base+"/purge-route", "login=bob", nil)
	if r.code != 503 || !strings.Contains(r.body, "memcached "+addr) || !strings.Contains(r.body, `"ok": false`) {
		t.Errorf("%d %s", r.code, r.body)
	}
}
