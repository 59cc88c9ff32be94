package authhttp_test

import (
	"context"
	"encoding/hex"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
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

// TestChain_zimbraID runs route-cache then route-lookup with zimbra_id, Go
// and C builds, against the lookup server and two real memcached servers
// placed as Zimbra's proxy places them (zimbra-nginx, SHA-256 wire keys):
// an anonymous web request with a ZM_AUTH_TOKEN is looked up by the
// account id, the route is stored under Zimbra's id key on the server
// Zimbra would use, the next request is a cache hit, an unknown id falls
// back to the pool, and a purge by id removes the route.
func TestChain_zimbraID(t *testing.T) {
	servers := []string{testenv.SharedMemcached(t), testenv.Memcached(t)}
	st, err := kv.NewMemcached(servers, kv.MemcachedOptions{Timeout: time.Second, Distribution: "zimbra-nginx", KeyForm: "sha256"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	builds := map[string][2]string{
		"go": {plugintest.Build(t, "plugins/route-cache"), plugintest.Build(t, "plugins/route-lookup")},
		"c":  {plugintest.CPlugin(t, "plugins/route-cache/c"), plugintest.CPlugin(t, "plugins/route-lookup/c")},
	}
	for name, b := range builds {
		t.Run(name, func(t *testing.T) {
			id := "cc00ce85-8c0b-49eb-" + name + "-a8aab43ce836"
			srv, err := authhttp.NewServer(map[string]authhttp.Route{id: {Server: "127.0.0.7", Port: 8443, Account: id}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			h, err := plugin.New(context.Background(), plugin.Options{Store: st,
				Logger: slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { h.Close(context.Background()) })
			err = h.Load(context.Background(), []plugin.Spec{
				{Name: "route-cache", Path: b[0], Config: []byte(`{"zimbra_id":true,"web_protocol":"httpssl"}`)},
				{Name: "route-lookup", Path: b[1], HTTPAllow: []string{srv.Addr()},
					Config: []byte(`{"servers":["` + srv.URL() + `"],"zimbra_id":true,"protocol_names":{"http":"httpssl","http+tls":"httpssl"}}`)},
			})
			if err != nil {
				t.Fatal(err)
			}
			ctx := context.Background()
			key := storekeys.RouteID("httpssl", id)
			_ = st.Delete(ctx, key)
			request := func(tokenID string) (*plugin.Fields, plugin.Result) {
				f := plugintest.MailFields("http", "")
				f.AuthMethod = "cookie"
				data := "id=" + strconv.Itoa(len(tokenID)) + ":" + tokenID + ";exp=13:1896504658160;type=6:zimbra;"
				f.HTTP = &plugin.HTTPFields{Method: "GET", Host: "mail.example.com", Path: "/", Header: http.Header{
					"Cookie": {"ZM_LOGIN_CSRF=x; ZM_AUTH_TOKEN=0_5f1e2d_" + hex.EncodeToString([]byte(data))}}}
				r := h.Run(ctx, abi.HookRoute, f)
				if r.Verdict == abi.VerdictDone {
					f.Upstream = f.Upstreams[0]
					if err := h.Fire(ctx, abi.EventRouteDecided, f); err != nil {
						t.Fatal(err)
					}
				}
				return f, r
			}

			f, r := request(id)
			if r.Verdict != abi.VerdictDone || r.Plugin != "route-lookup" || strings.Join(f.Upstreams, ",") != "127.0.0.7:8443" {
				t.Fatalf("first request: %+v upstreams %v; want done by route-lookup", r, f.Upstreams)
			}
			req := srv.Requests()[0]
			if req.Problem != "" || req.Method != "zimbraId" || req.User != id || req.Protocol != "httpssl" ||
				req.Pass != authhttp.PasswordPlaceholder || req.LoginAttempt != "0" || req.ProxyHost != "mail.example.com" {
				t.Errorf("lookup request %+v", req)
			}
			// Stored under Zimbra's key, hashed on the wire, on the server
			// Zimbra's proxy would pick.
			if v, err := st.Get(ctx, key); err != nil || string(v) != "127.0.0.7:8443" {
				t.Fatalf("%s = %q, %v; want the route", key, v, err)
			}
			one, err := kv.NewMemcached([]string{servers[zimbraServer(key, len(servers))]}, kv.MemcachedOptions{KeyForm: "sha256"})
			if err != nil {
				t.Fatal(err)
			}
			defer one.Close()
			if v, err := one.Get(ctx, key); err != nil || string(v) != "127.0.0.7:8443" {
				t.Fatalf("not on Zimbra's server for the key: %q, %v", v, err)
			}

			f, r = request(id)
			if r.Verdict != abi.VerdictDone || r.Plugin != "route-cache" || !f.RouteCached || srv.Lookups() != 1 {
				t.Fatalf("second request: %+v cached %v lookups %d; want a cache hit", r, f.RouteCached, srv.Lookups())
			}

			// An id the service does not know: the pool decides, at once.
			start := time.Now()
			f, r = request("unknown-" + id)
			if r.Verdict != abi.VerdictContinue || len(f.Upstreams) != 0 || f.Delay != 0 || time.Since(start) > 5*time.Second {
				t.Fatalf("unknown id: %+v upstreams %v delay %v; want continue (the pool)", r, f.Upstreams, f.Delay)
			}

			// The purge by id (postern purge-route -id) removes the route.
			if n, err := st.DeleteEverywhere(ctx, storekeys.AllID(id)...); err != nil || n != 1 {
				t.Fatalf("purge: %d, %v", n, err)
			}
			if _, err := st.Get(ctx, key); !errors.Is(err, kv.ErrNotFound) {
				t.Fatalf("after the purge: %v", err)
			}
		})
	}
}

// zimbraServer is Zimbra's nginx placement, restated here: one-at-a-time
// over the key's bytes in 64 bits, modulo the server count.
func zimbraServer(key string, n int) int {
	var h uint64
	for i := 0; i < len(key); i++ {
		h += uint64(key[i])
		h += h << 10
		h ^= h >> 6
	}
	h += h << 3
	h ^= h >> 11
	h += h << 15
	return int(h % uint64(n))
}
