package web

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
)

// slowStore delays every Set, as a memcached at its timeout would.
type slowStore struct {
	kv.Store
	delay time.Duration
	sets  atomic.Int64
}

func (s *slowStore) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	time.Sleep(s.delay)
	s.sets.Add(1)
	return s.Store.Set(ctx, key, v, ttl)
}

// TestServer_eventsDoNotDelayResponses: a route_decided listener whose
// store write takes 500 ms must not change when the client has its whole
// response, for a small Content-Length body (sent by net/http only when
// the handler returns) and a chunked one; the event still runs.
func TestServer_eventsDoNotDelayResponses(t *testing.T) {
	const sleep = 500 * time.Millisecond
	st := &slowStore{Store: kv.NewMemory(kv.MemoryOptions{}), delay: sleep}
	small := newBackend(t, "small", nil)
	chunked := newBackend(t, "chunked", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("part one\n"))
		w.(http.Flusher).Flush()
		w.Write([]byte("part two\n"))
	}))
	h := pluginHost(t, st, plugin.Spec{Name: "events", Path: guest(t, "events")})
	if !h.Hears(abi.EventRouteDecided) {
		t.Fatal("the events guest does not listen for route_decided")
	}
	for _, tc := range []struct{ name, addr, path string }{
		{"content-length", small.addr, "/echo"},
		{"chunked", chunked.addr, "/chunked"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s, _ := start(t, Options{Config: simple("", tc.addr), Plugins: h})
			c := client(t, nil)
			// Warm up: the first request creates the plugin's instance.
			warm := st.sets.Load()
			get(t, c, urlOf(s, "web", tc.path))
			waitSets := func(n int64) {
				deadline := time.Now().Add(10 * time.Second)
				for st.sets.Load() < n && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
			}
			waitSets(warm + 1)
			before := st.sets.Load()
			for i := range 3 {
				t0 := time.Now()
				resp, got := get(t, c, urlOf(s, "web", tc.path)) // reads the whole body
				took := time.Since(t0)
				if resp.StatusCode != 200 || got.Backend == "" {
					t.Fatalf("request %d: %s %q", i, resp.Status, got.Backend)
				}
				if took > sleep/2 {
					t.Errorf("request %d: the whole response took %v; the event sleeps %v", i, took, sleep)
				}
			}
			waitSets(before + 3)
			if n := st.sets.Load() - before; n != 3 {
				t.Errorf("%d events wrote to the store, want 3", n)
			}
		})
	}
}
