package web

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/tlsstore"
)

// reuseSetup is a server whose chain is the reuse test guest (and, with
// rewrite, the route-rewrite guest at rewrite only), a mailbox backend
// for bob (a 401 for /denied) and the pool's backend for the others.
type reuseSetup struct {
	s       *Server
	logs    *logBuf
	h       *plugin.Host
	mailbox *backend
	c       *http.Client
}

func newReuseSetup(t *testing.T, guestCfg string, cfg func(*Config), specs ...plugin.Spec) *reuseSetup {
	t.Helper()
	mailbox := newBackend(t, "mailbox", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/denied" {
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		_, _ = w.Write([]byte("ok"))
	}))
	pool := newBackend(t, "pool", nil)
	guestCfg = strings.ReplaceAll(guestCfg, "MAILBOX", mailbox.addr)
	specs = append([]plugin.Spec{{Name: "reuse", Path: guest(t, "reuse"), Config: []byte(guestCfg)}}, specs...)
	h := pluginHost(t, kv.NewMemory(kv.MemoryOptions{}), specs...)
	c := simple("", pool.addr)
	if cfg != nil {
		cfg(&c)
	}
	s, logs := start(t, Options{Config: c, Plugins: h})
	return &reuseSetup{s: s, logs: logs, h: h, mailbox: mailbox, c: client(t, nil)}
}

// get sends a request as user:pass (no user: anonymous) with extra
// headers and returns the status and the backend that answered.
func (rs *reuseSetup) get(t *testing.T, path, user, pass string, hdr ...string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, urlOf(rs.s, "web", path), nil)
	if user != "" {
		req.SetBasicAuth(user, pass)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i] == "Host" {
			req.Host = hdr[i+1]
			continue
		}
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, got := do(t, rs.c, req)
	if got.Backend == "" && resp.StatusCode == 200 {
		got.Backend = "mailbox"
	}
	return resp.StatusCode, got.Backend
}

// calls is how often the reuse guest was entered (hooks and events).
func (rs *reuseSetup) calls() int64 { return rs.h.Plugin("reuse").Stats().Calls.Load() }

func (rs *reuseSetup) reused() int64 { return rs.s.Stats().Listeners[0].Reused }

// waitCalls waits for route_decided, which runs behind the response.
func (rs *reuseSetup) waitCalls(t *testing.T, want int64) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for rs.calls() < want && time.Now().Before(deadline) {
		time.Sleep(2 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // and nothing more arrives
	if got := rs.calls(); got != want {
		t.Fatalf("reuse guest entered %d times, want %d", got, want)
	}
}

// A first request with credentials enters login, throttle, route and
// route_decided: four calls.
const chainCalls = 4

func TestServer_decisionReuse(t *testing.T) {
	rs := newReuseSetup(t, `{"reuse_ms":60000,"routes":{"bob@example.com":"MAILBOX"}}`, nil)

	for i := range 3 {
		if code, be := rs.get(t, "/echo", "Bob@Example.com", "secret"); code != 200 || be != "mailbox" {
			t.Fatalf("request %d: %d from %q, want 200 from mailbox", i, code, be)
		}
	}
	rs.waitCalls(t, chainCalls)
	if n := rs.reused(); n != 2 {
		t.Errorf("Reused = %d, want 2", n)
	}
	// A reused GET without a body, which no plugin wants at rewrite or
	// response, goes the fast path (fastreuse.go).
	if n := rs.s.Stats().Listeners[0].FastPath; n != 2 {
		t.Errorf("FastPath = %d, want the 2 reused requests", n)
	}
	lines := rs.logs.lines(t)
	if len(lines) != 3 {
		t.Fatalf("%d access lines, want 3", len(lines))
	}
	for i, l := range lines {
		v, _ := l["plugins"].(string)
		if reused := strings.HasPrefix(v, "reused"); reused != (i > 0) {
			t.Errorf("access line %d: plugins %q; reused want %v", i, v, i > 0)
		}
		if l["user"] != "bob@example.com" {
			t.Errorf("access line %d: user %v, want the account the login hook set", i, l["user"])
		}
	}

	// Anything in the key that differs runs the chains: the password, the
	// Host header, another user.
	calls := rs.calls()
	for _, tc := range []struct {
		name, user, pass string
		hdr              []string
	}{
		{"another password", "Bob@Example.com", "other", nil},
		{"another Host", "Bob@Example.com", "secret", []string{"Host", "other.example.com"}},
		{"another user", "alice", "secret", nil},
	} {
		code, _ := rs.get(t, "/echo", tc.user, tc.pass, tc.hdr...)
		if code != 200 {
			t.Fatalf("%s: %d", tc.name, code)
		}
		calls += chainCalls
		rs.waitCalls(t, calls)
	}
	// Each of those is kept too: repeating them reuses.
	if code, _ := rs.get(t, "/echo", "alice", "secret"); code != 200 {
		t.Fatal(code)
	}
	rs.waitCalls(t, calls)
	// Anonymous requests are never keyed: the chain runs each time (login
	// and throttle and route; route_decided too, once a backend answered).
	for range 2 {
		if code, be := rs.get(t, "/echo", "", ""); code != 200 || be != "pool" {
			t.Fatalf("anonymous: %d from %q", code, be)
		}
	}
	rs.waitCalls(t, calls+2*chainCalls)
}

// TestServer_decisionReuse_dropped: a 401 from the upstream, a backend that
// does not answer, expiry and a plugin reload each make the next request
// run the chains again.
func TestServer_decisionReuse_dropped(t *testing.T) {
	t.Run("401", func(t *testing.T) {
		rs := newReuseSetup(t, `{"reuse_ms":60000,"routes":{"bob":"MAILBOX"}}`, nil)
		for i := range 3 {
			if code, _ := rs.get(t, "/denied", "bob", "wrong"); code != 401 {
				t.Fatalf("request %d: %d, want the upstream's 401", i, code)
			}
		}
		rs.waitCalls(t, 3*chainCalls)
		if n := rs.reused(); n != 0 {
			t.Errorf("Reused = %d after refused credentials, want 0", n)
		}
	})
	t.Run("no backend answered", func(t *testing.T) {
		rs := newReuseSetup(t, `{"reuse_ms":60000,"routes":{"bob":"127.0.0.1:1"}}`, nil)
		for i := range 2 {
			if code, _ := rs.get(t, "/echo", "bob", "x"); code != 502 {
				t.Fatalf("request %d: %d, want 502", i, code)
			}
		}
		rs.waitCalls(t, 2*(chainCalls-1)) // no route_decided without an answer
	})
	t.Run("401 to a reused request", func(t *testing.T) {
		rs := newReuseSetup(t, `{"reuse_ms":60000,"routes":{"bob":"MAILBOX"}}`, nil)
		rs.get(t, "/echo", "bob", "x")
		if code, _ := rs.get(t, "/denied", "bob", "x"); code != 401 || rs.reused() != 1 {
			t.Fatalf("%d, reused %d: want a reused request answered 401", code, rs.reused())
		}
		rs.get(t, "/echo", "bob", "x")
		rs.waitCalls(t, 2*chainCalls) // the 401 dropped the decision: the chains ran again
	})
	t.Run("a reused request no backend answered", func(t *testing.T) {
		gone := newBackend(t, "gone", nil)
		rs := newReuseSetup(t, `{"reuse_ms":60000,"routes":{"bob":"`+gone.addr+`"}}`, nil)
		rs.get(t, "/echo", "bob", "x")
		if code, be := rs.get(t, "/echo", "bob", "x"); code != 200 || be != "gone" || rs.reused() != 1 {
			t.Fatalf("%d from %q, reused %d: want a reused 200 from gone", code, be, rs.reused())
		}
		rs.waitCalls(t, chainCalls)
		gone.srv.CloseClientConnections()
		gone.srv.Close()
		if code, _ := rs.get(t, "/echo", "bob", "x"); code != 502 {
			t.Fatalf("%d, want 502", code)
		}
		if n := rs.reused(); n != 2 {
			t.Fatalf("Reused = %d, want 2 (the 502 was reused too)", n)
		}
		rs.get(t, "/echo", "bob", "x")
		rs.waitCalls(t, 2*chainCalls-1) // the chains again; no route_decided without an answer
	})
	t.Run("expiry", func(t *testing.T) {
		rs := newReuseSetup(t, `{"reuse_ms":150,"routes":{"bob":"MAILBOX"}}`, nil)
		rs.get(t, "/echo", "bob", "x")
		rs.get(t, "/echo", "bob", "x")
		rs.waitCalls(t, chainCalls)
		time.Sleep(200 * time.Millisecond)
		rs.get(t, "/echo", "bob", "x")
		rs.waitCalls(t, 2*chainCalls)
	})
	t.Run("reload", func(t *testing.T) {
		rs := newReuseSetup(t, `{"reuse_ms":60000,"routes":{"bob":"MAILBOX"}}`, nil)
		rs.get(t, "/echo", "bob", "x")
		rs.waitCalls(t, chainCalls)
		// A new configuration of the plugin: route bob elsewhere.
		spec := plugin.Spec{Name: "reuse", Path: guest(t, "reuse"), Config: []byte(`{"reuse_ms":60000}`)}
		if err := rs.h.Load(context.Background(), []plugin.Spec{spec}); err != nil {
			t.Fatal(err)
		}
		if code, be := rs.get(t, "/echo", "bob", "x"); code != 200 || be != "pool" {
			t.Errorf("after a reload: %d from %q, want the new decision (pool)", code, be)
		}
	})
}

// TestServer_decisionReuse_notKept: what must run the chains every time.
func TestServer_decisionReuse_notKept(t *testing.T) {
	routes := `"routes":{"bob":"MAILBOX","carol":"MAILBOX","mallory":"MAILBOX"},"slow":"carol","refuse":"mallory"`
	t.Run("a delay", func(t *testing.T) {
		rs := newReuseSetup(t, `{"reuse_ms":60000,`+routes+`}`, nil)
		for range 2 {
			if code, _ := rs.get(t, "/echo", "carol", "x"); code != 200 {
				t.Fatal(code)
			}
		}
		rs.waitCalls(t, 2*chainCalls)
	})
	t.Run("a refusal", func(t *testing.T) {
		rs := newReuseSetup(t, `{"reuse_ms":60000,`+routes+`}`, nil)
		for range 2 {
			if code, _ := rs.get(t, "/echo", "mallory", "x"); code != 429 {
				t.Fatalf("%d, want 429", code)
			}
		}
		rs.waitCalls(t, 2*2) // login and throttle, twice
	})
	t.Run("a plugin without a reuse", func(t *testing.T) {
		rs := newReuseSetup(t, `{"reuse_ms":60000,`+routes+`}`, nil,
			plugin.Spec{Name: "other", Path: guest(t, "reuse"), Config: []byte(`{}`)})
		for range 2 {
			rs.get(t, "/echo", "bob", "x")
		}
		rs.waitCalls(t, 2*chainCalls)
	})
	t.Run("decision_reuse off", func(t *testing.T) {
		rs := newReuseSetup(t, `{"reuse_ms":60000,`+routes+`}`, func(c *Config) { c.NoDecisionReuse = true })
		for range 2 {
			rs.get(t, "/echo", "bob", "x")
		}
		rs.waitCalls(t, 2*chainCalls)
		if rs.s.decisions != nil {
			t.Error("decisions kept with NoDecisionReuse")
		}
	})
}

// TestServer_decisionReuse_rewriteRuns: the rewrite hook runs for every
// request, reused or not, and sees the reused fields.
func TestServer_decisionReuse_rewriteRuns(t *testing.T) {
	rs := newReuseSetup(t, `{"reuse_ms":60000}`, nil,
		plugin.Spec{Name: "rw", Path: guest(t, "route-rewrite"), Hooks: []abi.Hook{abi.HookRewrite}})
	if d, _ := rs.h.Reuse(); d != time.Minute {
		t.Fatalf("Reuse() = %v: a plugin serving only rewrite must not turn reuse off", d)
	}
	for i := range 3 {
		req, _ := http.NewRequest(http.MethodGet, urlOf(rs.s, "web", "/old/x"), nil)
		req.SetBasicAuth("bob", "x")
		resp, got := do(t, rs.c, req)
		if resp.StatusCode != 200 || got.Path != "/new/x" || got.Header.Get("X-Rewritten") != "1" {
			t.Fatalf("request %d: %s, path %q, X-Rewritten %q; want the rewrite every time", i, resp.Status, got.Path, got.Header.Get("X-Rewritten"))
		}
	}
	if n := rs.h.Plugin("rw").Stats().Calls.Load(); n != 3 {
		t.Errorf("rewrite entered %d times, want 3", n)
	}
	if n := rs.reused(); n != 2 {
		t.Errorf("Reused = %d, want 2", n)
	}
	// A request the host answers itself (the rewrite's redirect) was sent
	// to no backend: it leaves the kept decision.
	if code, _ := rs.get(t, "/moved", "bob", "x"); code != 302 {
		t.Fatalf("/moved: %d, want the rewrite's 302", code)
	}
	rs.get(t, "/echo", "bob", "x")
	if n := rs.reused(); n != 4 {
		t.Errorf("Reused = %d after a redirect, want 4 (the decision kept)", n)
	}
	rs.waitCalls(t, chainCalls)
}

// TestDecisions_bounded: the kept decisions never pass maxDecisions.
func TestDecisions_bounded(t *testing.T) {
	d := newDecisions()
	now := time.Now().UnixNano()
	for i := range maxDecisions + 100 {
		var k [32]byte
		copy(k[:], fmt.Sprintf("%032d", i))
		exp := now + int64(time.Minute)
		if i%2 == 0 {
			exp = now - 1 // expired: swept first
		}
		d.put(k, &decision{expires: exp}, now)
	}
	if n := d.len(); n > maxDecisions {
		t.Errorf("%d decisions kept, over %d", n, maxDecisions)
	}
	var k [32]byte
	copy(k[:], fmt.Sprintf("%032d", maxDecisions+99))
	if d.get(k, 0, now) == nil {
		t.Error("the last decision put is not kept")
	}
}

// TestServer_decisionReuse_cookie: the auth cookie is a credential like
// basic auth: its value is in the key (as net/http reads it, on both
// paths), and a reused request with it goes the fast path.
func TestServer_decisionReuse_cookie(t *testing.T) {
	rs := newReuseSetup(t, `{"reuse_ms":60000,"routes":{"":"MAILBOX","bob":"MAILBOX"}}`, nil)
	fast := func() int64 { return rs.s.Stats().Listeners[0].FastPath }
	for i := range 3 {
		if code, be := rs.get(t, "/echo", "", "", "Cookie", "ZM_AUTH_TOKEN=tok1"); code != 200 || be != "mailbox" {
			t.Fatalf("request %d: %d from %q", i, code, be)
		}
	}
	rs.waitCalls(t, chainCalls)
	if r, f := rs.reused(), fast(); r != 2 || f != 2 {
		t.Fatalf("Reused %d, FastPath %d; want 2 and 2", r, f)
	}
	// The same value quoted, among other cookies: net/http reads the same
	// value, so the same key.
	if code, _ := rs.get(t, "/echo", "", "", "Cookie", `lang=de; ZM_AUTH_TOKEN="tok1"`); code != 200 || rs.reused() != 3 {
		t.Fatalf("%d, reused %d: want the kept decision", code, rs.reused())
	}
	calls := int64(chainCalls)
	for _, tc := range []struct {
		name string
		user string
		hdr  []string
	}{
		{"another token", "", []string{"Cookie", "ZM_AUTH_TOKEN=tok2"}},
		{"basic auth and the cookie", "bob", []string{"Cookie", "ZM_AUTH_TOKEN=tok1"}},
	} {
		for i := range 2 {
			if code, _ := rs.get(t, "/echo", tc.user, "x", tc.hdr...); code != 200 {
				t.Fatalf("%s %d: %d", tc.name, i, code)
			}
		}
		calls += chainCalls // the first ran the chains, the second reused
		rs.waitCalls(t, calls)
	}
	// A Cookie line that only mentions the name carries no auth cookie:
	// anonymous, never reused.
	before := rs.reused()
	for range 2 {
		rs.get(t, "/echo", "", "", "Cookie", "XZM_AUTH_TOKEN=1")
	}
	if rs.reused() != before {
		t.Errorf("a request without the auth cookie was reused")
	}
}

// TestServer_decisionReuse_tls: over TLS the key has the TLS version and
// the server name; HTTP/1.1 requests and h2 streams take kept decisions
// on their fast paths, keyed as the full path keeps them.
func TestServer_decisionReuse_tls(t *testing.T) {
	for _, h2 := range []bool{false, true} {
		t.Run(fmt.Sprintf("h2=%v", h2), func(t *testing.T) {
			mailbox := newBackend(t, "mailbox", nil)
			pool := newBackend(t, "pool", nil)
			h := pluginHost(t, kv.NewMemory(kv.MemoryOptions{}),
				plugin.Spec{Name: "reuse", Path: guest(t, "reuse"), Config: []byte(`{"reuse_ms":60000,"routes":{"":"` + mailbox.addr + `","bob":"` + mailbox.addr + `"}}`)})
			pair, cert := vhostCert(t, t.TempDir(), "mail", "mail.one.test")
			certs, err := tlsstore.New(tlsstore.Options{Certs: []tlsstore.Pair{pair}})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { certs.Close() })
			cfg := simple("", pool.addr)
			cfg.Listeners = []Listener{{Name: "web", TLS: true}}
			s, _ := start(t, Options{Config: cfg, Plugins: h, Certs: certs})
			c := tlsClient(t, cert, h2)
			addr := s.Addr("web").String()
			c.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}
			_, port, _ := net.SplitHostPort(addr)
			for i := range 3 {
				req, _ := http.NewRequest(http.MethodGet, "https://mail.one.test:"+port+"/echo", nil)
				req.SetBasicAuth("bob", "x")
				resp, got := do(t, c, req)
				if resp.StatusCode != 200 || got.Backend != "mailbox" || (resp.ProtoMajor == 2) != h2 {
					t.Fatalf("request %d: %s %s from %q", i, resp.Proto, resp.Status, got.Backend)
				}
			}
			// The auth cookie among others: Go's h2 client sends them as
			// separate cookie fields, which the fast path joins as the
			// full path's Cookie header has them, so the key is the one
			// the full path kept.
			for i := range 3 {
				req, _ := http.NewRequest(http.MethodGet, "https://mail.one.test:"+port+"/echo", nil)
				req.Header.Set("Cookie", "lang=de; ZM_AUTH_TOKEN=tok1")
				resp, got := do(t, c, req)
				if resp.StatusCode != 200 || got.Backend != "mailbox" {
					t.Fatalf("cookie request %d: %s %s from %q", i, resp.Proto, resp.Status, got.Backend)
				}
			}
			// An h2 stream is counted just after its response is written.
			deadline := time.Now().Add(5 * time.Second)
			for s.Stats().Listeners[0].FastPath < 4 && time.Now().Before(deadline) {
				time.Sleep(time.Millisecond)
			}
			ls := s.Stats().Listeners[0]
			if ls.Reused != 4 || ls.FastPath != 4 {
				t.Errorf("Reused %d, FastPath %d; want 4 and 4", ls.Reused, ls.FastPath)
			}
		})
	}
}
