package authhttp_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/internal/authhttp"
	"github.com/postern/postern/host/internal/testenv"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
	"github.com/postern/postern/storekeys"
)

// These tests run the bundled route-cache and route-lookup plugins, built
// to .wasm, as one route chain in the real plugin host, against a real
// memcached and the real lookup server. They live here rather than in
// plugins/ because Go keeps host/internal (testenv, this server) out of
// reach of packages outside host/.

func TestMain(m *testing.M) { testenv.Main(m) }

// chain is a plugin host with route-cache (unless lookupOnly) then
// route-lookup, and the lookup server they ask.
type chain struct {
	host  *plugin.Host
	srv   *authhttp.Server
	store kv.Store
}

func newChain(tb testing.TB, store kv.Store, lookupOnly bool, routes map[string]authhttp.Route) *chain {
	tb.Helper()
	srv, err := authhttp.NewServer(routes)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { srv.Close() })
	lookupWasm := plugintest.Build(tb, "plugins/route-lookup")
	var specs []plugin.Spec
	if !lookupOnly {
		specs = append(specs, plugin.Spec{Name: "route-cache", Path: plugintest.Build(tb, "plugins/route-cache")})
	}
	specs = append(specs, plugin.Spec{
		Name: "route-lookup", Path: lookupWasm, HTTPAllow: []string{srv.Addr()},
		Config: []byte(`{"servers":["` + srv.URL() + `"],"timeout":"2s","fail_timeout":"60s"}`),
	})
	var logger *slog.Logger
	if _, ok := tb.(*testing.B); ok {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	} else {
		logger = slog.New(slog.NewTextHandler(testWriter{tb}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	}
	h, err := plugin.New(context.Background(), plugin.Options{Store: store, Logger: logger})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { h.Close(context.Background()) })
	if err := h.Load(context.Background(), specs); err != nil {
		tb.Fatal(err)
	}
	return &chain{host: h, srv: srv, store: store}
}

type testWriter struct{ tb testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.tb.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// login runs the route chain for a first IMAP login and, when a route was
// decided, the route_decided event as the front end will.
func (c *chain) login(tb testing.TB, login string) (*plugin.Fields, plugin.Result) {
	tb.Helper()
	f := plugintest.MailFields("imap", login)
	r := c.host.Run(context.Background(), abi.HookRoute, f)
	if r.Verdict == abi.VerdictDone && len(f.Upstreams) > 0 {
		f.Upstream = f.Upstreams[0]
		if err := c.host.Fire(context.Background(), abi.EventRouteDecided, f); err != nil {
			tb.Fatal(err)
		}
	}
	return f, r
}

func memcachedStore(tb testing.TB, addr string) *kv.Memcached {
	tb.Helper()
	st, err := kv.NewMemcached([]string{addr}, kv.MemcachedOptions{Timeout: 200 * time.Millisecond})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { st.Close() })
	return st
}

// user returns a login unique to the test, so tests sharing one memcached
// do not see each other's keys.
func user(t testing.TB, name string) string {
	return name + "-" + strings.NewReplacer("/", "-", " ", "-").Replace(t.Name()) + "@example.com"
}

func TestChain_CacheThenLookup(t *testing.T) {
	st := memcachedStore(t, testenv.SharedMemcached(t))
	bob := user(t, "bob")
	c := newChain(t, st, false, map[string]authhttp.Route{bob: {Server: "127.0.0.5", Port: 143}})
	ctx := context.Background()
	routeKey := storekeys.Route("imap", bob)
	_ = st.Delete(ctx, routeKey)

	// First login: a miss, one lookup, and route_decided stores the route.
	f, r := c.login(t, bob)
	if r.Verdict != abi.VerdictDone || r.Plugin != "route-lookup" || f.RouteCached {
		t.Fatalf("first login: %+v (route_cached %v), want done by route-lookup", r, f.RouteCached)
	}
	if got := strings.Join(f.Upstreams, ","); got != "127.0.0.5:143" {
		t.Fatalf("upstreams %q", got)
	}
	if n := c.srv.Lookups(); n != 1 {
		t.Fatalf("%d lookups, want 1", n)
	}
	req := c.srv.Requests()[0]
	if req.Problem != "" || req.User != bob || req.Method != "plain" || req.Protocol != "imap" ||
		req.Pass != authhttp.PasswordPlaceholder || req.ClientIP != "192.0.2.7" || req.ProxyIP != "127.0.0.1" {
		t.Errorf("lookup request %+v", req)
	}
	if v, err := st.Get(ctx, routeKey); err != nil || string(v) != "127.0.0.5:143" {
		t.Fatalf("memcached %s = %q, %v; want the route", routeKey, v, err)
	}

	// Second login: a hit, no lookup.
	f, r = c.login(t, bob)
	if r.Verdict != abi.VerdictDone || r.Plugin != "route-cache" || !f.RouteCached {
		t.Fatalf("second login: %+v (route_cached %v), want done by route-cache", r, f.RouteCached)
	}
	if n := c.srv.Lookups(); n != 1 {
		t.Fatalf("%d lookups after a cache hit, want still 1", n)
	}

	// login_failed deletes the key; the next login looks up again.
	f.Message = "[AUTHENTICATIONFAILED] Authentication failed."
	if err := c.host.Fire(ctx, abi.EventLoginFailed, f); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Get(ctx, routeKey); !errors.Is(err, kv.ErrNotFound) {
		t.Fatalf("route key after login_failed: %v, want not found", err)
	}
	c.srv.SetRoute(bob, authhttp.Route{Server: "127.0.0.6", Port: 143}) // the mailbox moved
	f, r = c.login(t, bob)
	if r.Plugin != "route-lookup" || c.srv.Lookups() != 2 || strings.Join(f.Upstreams, ",") != "127.0.0.6:143" {
		t.Fatalf("after login_failed: %+v upstreams %v lookups %d; want a new lookup to the new server", r, f.Upstreams, c.srv.Lookups())
	}
	if v, _ := st.Get(ctx, routeKey); string(v) != "127.0.0.6:143" {
		t.Errorf("memcached holds %q, want the new route", v)
	}
}

func TestChain_Alias(t *testing.T) {
	st := memcachedStore(t, testenv.SharedMemcached(t))
	short := user(t, "al")
	short = strings.TrimSuffix(short, "@example.com")
	account := short + "@example.com"
	c := newChain(t, st, false, map[string]authhttp.Route{
		short:   {Server: "127.0.0.7", Port: 143, Account: account, CacheAlias: true},
		account: {Server: "127.0.0.7", Port: 143, Account: account},
	})
	ctx := context.Background()
	aliasKey := storekeys.MailAlias(short, "127.0.0.1")
	_ = st.Delete(ctx, aliasKey)
	_ = st.Delete(ctx, storekeys.Route("imap", account))

	f, r := c.login(t, short)
	if r.Plugin != "route-lookup" || f.Account != account || f.UpstreamLogin != account || !f.CacheAlias {
		t.Fatalf("first login: %+v account %q upstream_login %q cache_alias %v", r, f.Account, f.UpstreamLogin, f.CacheAlias)
	}
	if v, err := st.Get(ctx, aliasKey); err != nil || string(v) != account {
		t.Fatalf("alias %s = %q, %v", aliasKey, v, err)
	}
	f, r = c.login(t, short)
	if r.Plugin != "route-cache" || f.Account != account || c.srv.Lookups() != 1 {
		t.Fatalf("second login: %+v account %q lookups %d; want a hit through the alias", r, f.Account, c.srv.Lookups())
	}
}

func TestChain_MemcachedDown(t *testing.T) {
	// Nothing listens on this port: every store call fails fast.
	down := memcachedStore(t, fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t)))
	bob := user(t, "bob")
	c := newChain(t, down, false, map[string]authhttp.Route{bob: {Server: "127.0.0.5", Port: 143}})
	for i := range 3 {
		f, r := c.login(t, bob)
		if r.Verdict != abi.VerdictDone || r.Plugin != "route-lookup" || len(f.Upstreams) != 1 {
			t.Fatalf("login %d with memcached down: %+v, want done by route-lookup", i, r)
		}
	}
	if n := c.srv.Lookups(); n != 3 {
		t.Errorf("%d lookups, want 3 (no cache)", n)
	}
	if n := c.host.Plugin("route-cache").Counters()["cache_errors"]; n < 3 {
		t.Errorf("cache_errors = %d, want at least 3", n)
	}
}

func TestChain_LookupDown(t *testing.T) {
	tests := []struct {
		name    string
		failure authhttp.Failure
	}{
		{"http 500", authhttp.Fail500},
		{"garbage", authhttp.FailGarbage},
		{"hang", authhttp.FailHang},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			bob := user(t, "bob")
			c := newChain(t, kv.NewMemory(kv.MemoryOptions{}), true, map[string]authhttp.Route{bob: {Server: "127.0.0.5", Port: 143}})
			c.srv.SetFailure(tc.failure)
			f, r := c.login(t, bob)
			if r.Verdict != abi.VerdictTempFail || len(f.Upstreams) != 0 {
				t.Fatalf("%+v upstreams %v, want tempfail and no route", r, f.Upstreams)
			}
			// The server is now down for fail_timeout: no second request.
			c.srv.SetFailure(authhttp.FailNone)
			if _, r := c.login(t, bob); r.Verdict != abi.VerdictTempFail || c.srv.Lookups() != 1 {
				t.Fatalf("second login: %+v, %d lookups; want tempfail without asking the failed server", r, c.srv.Lookups())
			}
		})
	}
}

func TestChain_WaitThenOK(t *testing.T) {
	bob := user(t, "bob")
	c := newChain(t, kv.NewMemory(kv.MemoryOptions{}), true, map[string]authhttp.Route{
		bob: {Status: "WAIT", Wait: "0", Next: &authhttp.Route{Server: "127.0.0.5", Port: 143}},
	})
	f, r := c.login(t, bob)
	if r.Verdict != abi.VerdictDone || strings.Join(f.Upstreams, ",") != "127.0.0.5:143" || c.srv.Lookups() != 2 {
		t.Fatalf("%+v upstreams %v lookups %d; want done after one retry", r, f.Upstreams, c.srv.Lookups())
	}
}

func TestChain_Refused(t *testing.T) {
	c := newChain(t, kv.NewMemory(kv.MemoryOptions{}), false, nil)
	f, r := c.login(t, user(t, "nobody"))
	if r.Verdict != abi.VerdictRefuse || f.Message != authhttp.UnknownUser {
		t.Fatalf("%+v message %q, want refuse with the lookup's text", r, f.Message)
	}
}

// BenchmarkRouteChain measures one login's route chain plus its
// route_decided event through the real plugin host, against the real
// lookup server and a real memcached: route-lookup alone, and route-cache
// in front of it with the route already cached (a warm cache).
func BenchmarkRouteChain(b *testing.B) {
	addr := testenv.SharedMemcached(b)
	for _, bc := range []struct {
		name       string
		lookupOnly bool
	}{{"lookup_only", true}, {"cache_warm", false}} {
		b.Run(bc.name, func(b *testing.B) {
			bob := user(b, "bench")
			st := memcachedStore(b, addr)
			c := newChain(b, st, bc.lookupOnly, map[string]authhttp.Route{bob: {Server: "127.0.0.5", Port: 143}})
			c.login(b, bob) // warm: instances, connections, and the cache entry
			c.srv.Reset()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, r := c.login(b, bob); r.Verdict != abi.VerdictDone {
					b.Fatalf("%+v", r)
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(c.srv.Lookups())/float64(b.N), "lookups/login")
		})
	}
}
