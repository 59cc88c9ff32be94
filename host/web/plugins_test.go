package web

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/internal/testenv"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
)

// pluginHost loads the test guests in chain order with a store.
func pluginHost(t *testing.T, st kv.Store, specs ...plugin.Spec) *plugin.Host {
	t.Helper()
	return pluginHostTB(t, st, specs...)
}

func pluginHostTB(t testing.TB, st kv.Store, specs ...plugin.Spec) *plugin.Host {
	t.Helper()
	h, err := plugin.New(context.Background(), plugin.Options{Store: st,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	if err := h.Load(context.Background(), specs); err != nil {
		t.Fatal(err)
	}
	return h
}

func guest(t *testing.T, name string) string {
	return plugintest.Build(t, "host/web/testdata/guests/"+name)
}

// TestServer_plugins runs a login plugin (user from the path), a route and
// rewrite plugin, and a throttle plugin counting in a real memcached.
func TestServer_plugins(t *testing.T) {
	mc, err := kv.NewMemcached([]string{testenv.SharedMemcached(t)}, kv.MemcachedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	pool := newBackend(t, "pool", nil)
	bob := newBackend(t, "bob-mailbox", nil)
	users := newBackend(t, "user-pool", nil)
	// A key prefix of this run: the shared memcached outlives tests and
	// serves other packages' throttle tests at the same time.
	prefix := fmt.Sprintf("webtest%d:", time.Now().UnixNano())
	limit := 5
	rr := guest(t, "route-rewrite")
	h := pluginHost(t, mc,
		plugin.Spec{Name: "login-path", Path: guest(t, "login-path")},
		plugin.Spec{Name: "throttle", Path: guest(t, "throttle"), Config: []byte(fmt.Sprintf(`{"limit":%d,"window_s":7,"prefix":%q}`, limit, prefix))},
		plugin.Spec{Name: "route", Path: rr, Hooks: []abi.Hook{abi.HookRoute},
			Config: []byte(`{"routes":{"bob":"` + bob.addr + `"}}`)},
		plugin.Spec{Name: "rewrite", Path: rr, Hooks: []abi.Hook{abi.HookRewrite}},
	)
	cfg := simple("", pool.addr)
	cfg.Pools = append(cfg.Pools, Pool{Name: "users", Backends: []Backend{{Address: users.addr}}})
	cfg.UserPool = "users"
	s, logs := start(t, Options{Config: cfg, Plugins: h})
	c := client(t, nil)

	// Every request comes from 127.0.0.1: reset the counters per case so
	// only the throttle case reaches the limit.
	resetThrottle := func() {
		for _, k := range []string{"proto=h,ip=127.0.0.1", "user=bob", "user=alice"} {
			_ = mc.Delete(context.Background(), prefix+k)
		}
	}
	tests := []struct {
		name        string
		path        string
		basic       string // basic auth user
		wantBackend string
		wantPath    string
		wantQuery   string
		check       func(t *testing.T, resp *http.Response, got seen)
	}{
		{name: "no user: the balanced pool", path: "/echo", wantBackend: "pool", wantPath: "/echo"},
		{name: "user in /home/ path: routed by plugin", path: "/home/bob/inbox", wantBackend: "bob-mailbox", wantPath: "/home/bob/inbox"},
		{name: "user in /dav/ path", path: "/dav/bob/cal", wantBackend: "bob-mailbox", wantPath: "/dav/bob/cal"},
		{name: "ActiveSync User=", path: "/Microsoft-Server-ActiveSync?User=bob&DeviceId=1", wantBackend: "bob-mailbox", wantPath: "/Microsoft-Server-ActiveSync", wantQuery: "User=bob&DeviceId=1"},
		{name: "user without a route: the user pool", path: "/home/alice/", wantBackend: "user-pool", wantPath: "/home/alice/"},
		{name: "basic auth user: routed", path: "/service/soap", basic: "bob", wantBackend: "bob-mailbox", wantPath: "/service/soap"},
		{name: "rewrite path, query and header", path: "/old/thing?a=b", wantBackend: "pool", wantPath: "/new/thing", wantQuery: "rewritten=1",
			check: func(t *testing.T, _ *http.Response, got seen) {
				if got.Header.Get("X-Rewritten") != "1" {
					t.Errorf("X-Rewritten = %q", got.Header.Get("X-Rewritten"))
				}
			}},
		{name: "rewrite host", path: "/vhost/x", wantBackend: "pool", wantPath: "/vhost/x",
			check: func(t *testing.T, _ *http.Response, got seen) {
				if got.Host != "rewritten.test" {
					t.Errorf("backend Host = %q", got.Host)
				}
			}},
		{name: "redirect", path: "/moved", check: func(t *testing.T, resp *http.Response, _ seen) {
			if resp.StatusCode != 302 || resp.Header.Get("Location") != "https://example.test/new" {
				t.Errorf("%s Location %q", resp.Status, resp.Header.Get("Location"))
			}
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resetThrottle()
			req, _ := http.NewRequest(http.MethodGet, urlOf(s, "web", tc.path), nil)
			if tc.basic != "" {
				req.SetBasicAuth(tc.basic, "secret")
			}
			resp, got := do(t, c, req)
			if tc.wantBackend != "" {
				if resp.StatusCode != 200 || got.Backend != tc.wantBackend {
					t.Fatalf("%s from %q, want 200 from %q", resp.Status, got.Backend, tc.wantBackend)
				}
				if got.Path != tc.wantPath || got.Query != tc.wantQuery {
					t.Errorf("backend saw %s?%s, want %s?%s", got.Path, got.Query, tc.wantPath, tc.wantQuery)
				}
			}
			if tc.check != nil {
				tc.check(t, resp, got)
			}
		})
	}

	t.Run("throttle: 429 with Retry-After", func(t *testing.T) {
		resetThrottle()
		for i := range limit {
			if resp, _ := get(t, c, urlOf(s, "web", "/echo")); resp.StatusCode != 200 {
				t.Fatalf("request %d of %d: %s", i+1, limit, resp.Status)
			}
		}
		resp, got := get(t, c, urlOf(s, "web", "/echo"))
		if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") != "7" {
			t.Fatalf("over the limit: %s, Retry-After %q", resp.Status, resp.Header.Get("Retry-After"))
		}
		if got.Backend != "too many requests\n" {
			t.Errorf("body %q, want the plugin's message", got.Backend)
		}
		resetThrottle()
	})

	// The access log names the deciding plugins and the user.
	var routed map[string]any
	for _, l := range logs.lines(t) {
		if l["path"] == "/home/bob/inbox" {
			routed = l
		}
	}
	if routed == nil {
		t.Fatalf("no access log line for /home/bob/inbox:\n%s", logs.String())
	}
	if routed["user"] != "bob" || routed["upstream"] != bob.addr ||
		!strings.Contains(fmt.Sprint(routed["plugins"]), "login=done:login-path") ||
		!strings.Contains(fmt.Sprint(routed["plugins"]), "route=done:route") {
		t.Errorf("access log line %v", routed)
	}
	if strings.Contains(logs.String(), "secret") {
		t.Error("the basic auth password reached the log")
	}
}

// TestServer_routeToDeadUpstream: a plugin's route is tried as given; a
// dead mailbox server is a 502, never a fall back to the pool.
func TestServer_routeToDeadUpstream(t *testing.T) {
	dead := newBackend(t, "dead", nil)
	dead.srv.Close()
	pool := newBackend(t, "pool", nil)
	h := pluginHost(t, kv.NewMemory(kv.MemoryOptions{}),
		plugin.Spec{Name: "login-path", Path: guest(t, "login-path")},
		plugin.Spec{Name: "route", Path: guest(t, "route-rewrite"), Config: []byte(`{"routes":{"bob":"` + dead.addr + `"}}`)},
	)
	s, _ := start(t, Options{Config: simple("", pool.addr), Plugins: h})
	resp, _ := get(t, client(t, nil), urlOf(s, "web", "/home/bob/"))
	if resp.StatusCode != http.StatusBadGateway {
		t.Errorf("route to a dead mailbox server: %s, want 502", resp.Status)
	}
	if pool.Hits() != 0 {
		t.Error("a routed user fell through to the pool")
	}
}

func TestServer_throttleDelay(t *testing.T) {
	// A throttle plugin that refuses without delay_ms gets the configured
	// Retry-After.
	pool := newBackend(t, "pool", nil)
	h := pluginHost(t, kv.NewMemory(kv.MemoryOptions{}),
		plugin.Spec{Name: "throttle", Path: guest(t, "throttle"), Config: []byte(`{"limit":0,"window_s":0}`)})
	cfg := simple("", pool.addr)
	cfg.RetryAfter = 90 * time.Second
	s, _ := start(t, Options{Config: cfg, Plugins: h})
	resp, _ := get(t, client(t, nil), urlOf(s, "web", "/"))
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") != "90" {
		t.Errorf("%s Retry-After %q, want 429 and 90", resp.Status, resp.Header.Get("Retry-After"))
	}
}

func TestServer_verdictStatuses(t *testing.T) {
	pool := newBackend(t, "pool", nil)
	h := pluginHost(t, kv.NewMemory(kv.MemoryOptions{}),
		plugin.Spec{Name: "verdict", Path: guest(t, "verdict")},
		plugin.Spec{Name: "trap", Path: "../../abi/testdata/trap.wasm"}, // login traps: fails closed
	)
	s, logs := start(t, Options{Config: simple("", pool.addr), Plugins: h})
	c := client(t, nil)
	tests := []struct {
		header, value string
		want          int
		body          string
	}{
		{"X-Test-Login", "refuse", 403, "refused by test\n"},
		{"X-Test-Login", "tempfail", 503, "Service Unavailable\n"},
		{"X-Test-Login", "done", 200, ""}, // Done skips the trapping plugin
		{"X-Test-Throttle", "tempfail", 503, ""},
		{"X-Test-Route", "refuse", 403, ""},
		{"X-Test-Route", "done", 503, ""},
		{"X-Test-Rewrite", "refuse", 403, ""},
		{"X-Test-Rewrite", "tempfail", 503, ""},
		{"X-Test-Rewrite", "redirect-no-url", 200, ""},
		{"X-Test-Throttle", "delay", 200, ""},
	}
	for _, tc := range tests {
		t.Run(tc.header+"="+tc.value, func(t *testing.T) {
			hdr := []string{tc.header, tc.value}
			if tc.header != "X-Test-Login" {
				hdr = append(hdr, "X-Test-Login", "done") // past the trap
			}
			start := time.Now()
			resp, got := get(t, c, urlOf(s, "web", "/echo"), hdr...)
			if resp.StatusCode != tc.want {
				t.Fatalf("%s, want %d", resp.Status, tc.want)
			}
			if tc.body != "" && got.Backend != tc.body {
				t.Errorf("body %q, want %q", got.Backend, tc.body)
			}
			if tc.value == "delay" && time.Since(start) < 50*time.Millisecond {
				t.Errorf("delay_ms 50 not waited: %v", time.Since(start))
			}
		})
	}
	// Without X-Test-Login: done, the trap plugin fails the login closed.
	if resp, _ := get(t, c, urlOf(s, "web", "/echo")); resp.StatusCode != 503 {
		t.Errorf("trapping login plugin: %s, want 503", resp.Status)
	}
	if !strings.Contains(logs.String(), "redirect_code without redirect_url ignored") {
		t.Error("a redirect code without URL was not logged")
	}
}
