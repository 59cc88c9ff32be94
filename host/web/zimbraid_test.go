package web

import (
	"context"
	"encoding/hex"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/postern/postern/host/internal/authhttp"
	"github.com/postern/postern/host/internal/testenv"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
	"github.com/postern/postern/storekeys"
)

// TestServer_zimbraIDRoutes: web requests through the real front end with
// the bundled route-cache and route-lookup (zimbra_id), a real lookup
// server and a real memcached, in Zimbra's order: a user in the path, then
// the ZM_AUTH_TOKEN cookie, then the pool.
func TestServer_zimbraIDRoutes(t *testing.T) {
	mc, err := kv.NewMemcached([]string{testenv.SharedMemcached(t)}, kv.MemcachedOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer mc.Close()
	pool := newBackend(t, "pool", nil)
	mailbox := newBackend(t, "mailbox", nil)
	bobs := newBackend(t, "bob-mailbox", nil)
	id := fmt.Sprintf("cc00ce85-8c0b-49eb-%d", time.Now().UnixNano())
	route := func(b *backend) authhttp.Route {
		host, port, _ := net.SplitHostPort(b.addr)
		p, _ := strconv.Atoi(port)
		return authhttp.Route{Server: host, Port: p}
	}
	bob := "bob-" + id
	srv, err := authhttp.NewServer(map[string]authhttp.Route{id: route(mailbox), bob: route(bobs)})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	h := pluginHost(t, mc,
		plugin.Spec{Name: "login-path", Path: guest(t, "login-path")},
		plugin.Spec{Name: "route-cache", Path: plugintest.CPlugin(t, "plugins/route-cache/c"), Config: []byte(`{"zimbra_id":true}`)},
		plugin.Spec{Name: "route-lookup", Path: plugintest.CPlugin(t, "plugins/route-lookup/c"), HTTPAllow: []string{srv.Addr()},
			Config: []byte(`{"servers":["` + srv.URL() + `"],"zimbra_id":true}`)},
	)
	s, _ := start(t, Options{Config: simple("ip-hash", pool.addr), Plugins: h})
	c := client(t, nil)
	cookie := func(id string) string {
		data := "id=" + strconv.Itoa(len(id)) + ":" + id + ";exp=13:1896504658160;type=6:zimbra;"
		return "ZM_AUTH_TOKEN=0_9a8b7c_" + hex.EncodeToString([]byte(data))
	}

	_, got := get(t, c, urlOf(s, "web", "/mail"), "Cookie", cookie(id))
	if got.Backend != "mailbox" || srv.Lookups() != 1 {
		t.Fatalf("by token: backend %q, %d lookups; want the mailbox after one lookup", got.Backend, srv.Lookups())
	}
	if req := srv.Requests()[0]; req.Problem != "" || req.Method != "zimbraId" || req.User != id || req.Protocol != "http" {
		t.Errorf("lookup request %+v", req)
	}
	// route_decided runs after the response: wait for the cached route.
	key := storekeys.RouteID("http", id)
	deadline := time.Now().Add(5 * time.Second)
	for {
		if v, err := mc.Get(context.Background(), key); err == nil && string(v) == mailbox.addr {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not stored", key)
		}
		time.Sleep(20 * time.Millisecond)
	}
	defer mc.Delete(context.Background(), key)
	if _, got = get(t, c, urlOf(s, "web", "/mail"), "Cookie", "a=1; "+cookie(id)); got.Backend != "mailbox" || srv.Lookups() != 1 {
		t.Fatalf("again: backend %q, %d lookups; want the mailbox from the cache", got.Backend, srv.Lookups())
	}
	if _, got = get(t, c, urlOf(s, "web", "/mail?zauthtoken="+cookie(id)[len("ZM_AUTH_TOKEN="):])); got.Backend != "mailbox" {
		t.Fatalf("token in the query: backend %q", got.Backend)
	}

	start := time.Now()
	if _, got = get(t, c, urlOf(s, "web", "/"), "Cookie", cookie("unknown-"+id)); got.Backend != "pool" || time.Since(start) > 5*time.Second {
		t.Fatalf("unknown id: backend %q after %v; want the pool at once", got.Backend, time.Since(start))
	}
	n := srv.Lookups()
	if _, got = get(t, c, urlOf(s, "web", "/")); got.Backend != "pool" || srv.Lookups() != n {
		t.Fatalf("no token: backend %q, %d lookups (was %d); want the pool without a lookup", got.Backend, srv.Lookups(), n)
	}
	// A user in the path wins over the token.
	if _, got = get(t, c, urlOf(s, "web", "/home/"+bob+"/inbox"), "Cookie", cookie(id)); got.Backend != "bob-mailbox" {
		t.Fatalf("path user with a token: backend %q, want bob's", got.Backend)
	}
	if reqs := srv.Requests(); reqs[len(reqs)-1].Method != "username" || reqs[len(reqs)-1].User != bob {
		t.Errorf("path user lookup %+v", reqs[len(reqs)-1])
	}
	_ = mc.Delete(context.Background(), storekeys.Route("http", bob))
}
