package web

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/host/internal/testenv"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
)

// countingStore counts every command sent to the store it wraps.
type countingStore struct {
	kv.Store
	n atomic.Int64
}

func (s *countingStore) Get(ctx context.Context, k string) ([]byte, error) {
	s.n.Add(1)
	return s.Store.Get(ctx, k)
}

func (s *countingStore) Set(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	s.n.Add(1)
	return s.Store.Set(ctx, k, v, ttl)
}

func (s *countingStore) Add(ctx context.Context, k string, v []byte, ttl time.Duration) error {
	s.n.Add(1)
	return s.Store.Add(ctx, k, v, ttl)
}

func (s *countingStore) Incr(ctx context.Context, k string, d uint64) (uint64, error) {
	s.n.Add(1)
	return s.Store.Incr(ctx, k, d)
}

func (s *countingStore) Delete(ctx context.Context, k string) error {
	s.n.Add(1)
	return s.Store.Delete(ctx, k)
}

// standardChain loads the bundled plugins as the standard web chain
// (login-normaliser, throttle, route-cache, route-lookup, and url-rewrite
// with one /zimbra/ rule) with st as the
// store and a lookup service that routes every user to backend. It
// returns the host and the lookup's request count.
func standardChain(t testing.TB, st kv.Store, backend string) (*plugin.Host, *atomic.Int64) {
	t.Helper()
	var lookups atomic.Int64
	host, port, _ := net.SplitHostPort(backend)
	lookup := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lookups.Add(1)
		w.Header().Set("Auth-Status", "OK")
		w.Header().Set("Auth-Server", host)
		w.Header().Set("Auth-Port", port)
	}))
	t.Cleanup(lookup.Close)
	h := pluginHostTB(t, st,
		plugin.Spec{Name: "login-normaliser", Path: plugintest.Build(t, "plugins/login-normaliser"),
			Config: []byte(`{"default_domain":"example.com"}`)},
		plugin.Spec{Name: "throttle", Path: plugintest.Build(t, "plugins/throttle"),
			Config: []byte(`{"ip":{"limit":100000,"window":60},"user":{"limit":100000,"window":60}}`)},
		plugin.Spec{Name: "route-cache", Path: plugintest.Build(t, "plugins/route-cache"), Config: []byte(`{"ttl":"1m"}`)},
		plugin.Spec{Name: "route-lookup", Path: plugintest.Build(t, "plugins/route-lookup"),
			HTTPAllow: []string{strings.TrimPrefix(lookup.URL, "http://")},
			Config:    []byte(`{"servers":["` + lookup.URL + `/service/extension/nginx-lookup"]}`)},
		plugin.Spec{Name: "url-rewrite", Path: plugintest.Build(t, "plugins/url-rewrite"),
			Config: []byte(`{"rules":[{"path":"^/zimbra/(.*)$","rewrite":{"path":"/$1"}}]}`)},
	)
	return h, &lookups
}

// TestServer_anonymousNoStore: with the standard chain against a real
// memcached, a request without a login (no basic auth, no cookie) enters
// no plugin, sends no command to the store and asks the lookup service
// nothing; a request with a login does all three, then is served from the
// cache.
func TestServer_anonymousNoStore(t *testing.T) {
	mc, err := kv.NewMemcached([]string{testenv.SharedMemcached(t)}, kv.MemcachedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	st := &countingStore{Store: mc}
	pool := newBackend(t, "pool", nil)
	mailbox := newBackend(t, "mailbox", nil)
	h, lookups := standardChain(t, st, mailbox.addr)
	s, _ := start(t, Options{Config: simple("", pool.addr), Plugins: h})
	c := client(t, nil)

	for i := range 20 {
		resp, got := get(t, c, urlOf(s, "web", "/echo"))
		if resp.StatusCode != 200 || got.Backend != "pool" {
			t.Fatalf("anonymous request %d: %s from %q", i, resp.Status, got.Backend)
		}
	}
	time.Sleep(50 * time.Millisecond) // any event would have run by now
	if n := st.n.Load(); n != 0 {
		t.Errorf("20 anonymous requests sent %d store commands, want 0", n)
	}
	if n := lookups.Load(); n != 0 {
		t.Errorf("20 anonymous requests made %d lookups, want 0", n)
	}
	// Every plugin of the chain declared a request filter (ABI 1.1): only
	// with a login, url-rewrite its rule's path. No guest was entered.
	for _, p := range h.Plugins() {
		want := "login"
		if p.Name() == "url-rewrite" {
			want = "paths=/zimbra/"
		}
		if n := p.Stats().Calls.Load(); n != 0 || p.Info().Filter != want {
			t.Errorf("plugin %s: entered %d times by anonymous requests, filter %q; want 0 and %q", p.Name(), n, p.Info().Filter, want)
		}
	}

	// With a login: throttle counts, the cache misses, the lookup routes
	// and route_decided stores the route; the next request, with other
	// credentials (another key: no decision to reuse), hits the cache.
	user := "anon-test-" + strings.ReplaceAll(time.Now().Format("150405.000000000"), ".", "")
	for i, pass := range []string{"secret", "other"} {
		req, _ := http.NewRequest(http.MethodGet, urlOf(s, "web", "/echo"), nil)
		req.SetBasicAuth(user, pass)
		resp, got := do(t, c, req)
		if resp.StatusCode != 200 || got.Backend != "mailbox" {
			t.Fatalf("request %d with a login: %s from %q", i, resp.Status, got.Backend)
		}
		if i == 0 {
			deadline := time.Now().Add(5 * time.Second)
			for h.Plugin("route-cache").Counters()["routes_stored"] == 0 && time.Now().Before(deadline) {
				time.Sleep(5 * time.Millisecond)
			}
		}
	}
	if st.n.Load() == 0 {
		t.Error("requests with a login sent no store command: the counting is broken")
	}
	if n := lookups.Load(); n != 1 {
		t.Errorf("two requests of one user made %d lookups, want 1 (then the cache)", n)
	}

	// Every plugin of the chain that serves login, throttle or route
	// declared a reuse (ABI 1.2, 5 s by default): the same credentials
	// again take the kept decision: no guest, no store command, no lookup.
	if d, _ := h.Reuse(); d != 5*time.Second {
		t.Fatalf("Reuse() = %v, want the bundled plugins' 5s", d)
	}
	time.Sleep(50 * time.Millisecond) // the second request's events ran
	calls := func() (n int64) {
		for _, p := range h.Plugins() {
			n += p.Stats().Calls.Load()
		}
		return n
	}
	n0, c0 := st.n.Load(), calls()
	for i := range 5 {
		req, _ := http.NewRequest(http.MethodGet, urlOf(s, "web", "/echo"), nil)
		req.SetBasicAuth(user, "secret")
		if resp, got := do(t, c, req); resp.StatusCode != 200 || got.Backend != "mailbox" {
			t.Fatalf("reused request %d: %s from %q", i, resp.Status, got.Backend)
		}
	}
	time.Sleep(50 * time.Millisecond)
	if n, c := st.n.Load()-n0, calls()-c0; n != 0 || c != 0 {
		t.Errorf("5 requests with kept credentials sent %d store commands and entered %d guests, want 0 and 0", n, c)
	}
	if n := s.Stats().Listeners[0].Reused; n != 5 {
		t.Errorf("Reused = %d, want 5", n)
	}
}
