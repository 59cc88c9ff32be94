package web

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugin"
)

// facade is three real backends behind one listener: "static" and "api"
// reached by routes, "app" the default pool; users go to "app" too.
func facade(static, api, app string) Config {
	return Config{
		Listeners: []Listener{{Name: "web"}},
		Pools: []Pool{
			{Name: "static", Backends: []Backend{{Address: static}}},
			{Name: "api", Backends: []Backend{{Address: api}}},
			{Name: "app", Backends: []Backend{{Address: app}}},
		},
		Pool: "app",
		Routes: []Route{
			{Name: "static-host", Hosts: []string{"static.example.com", "*.cdn.example.com"}, Pool: "static"},
			{Name: "uploads", PathPrefix: "/upload/", Methods: []string{"POST", "PUT"}, Pool: "static", MaxBodyBytes: 1024},
			{Name: "api", Hosts: []string{"www.example.com"}, PathPrefix: "/api/", Pool: "api"},
			{Name: "api-any-host", PathPrefix: "/v2/", Pool: "api", NoWebSocket: true},
		},
	}
}

// TestServer_routes sends requests to one listener and checks which of
// three real backends each reached, by host, path, method, the default,
// and a route plugin naming a pool.
func TestServer_routes(t *testing.T) {
	static := newBackend(t, "static", nil)
	api := newBackend(t, "api", nil)
	app := newBackend(t, "app", nil)
	rr := guest(t, "route-rewrite")
	h := pluginHost(t, nil,
		plugin.Spec{Name: "login-path", Path: guest(t, "login-path")},
		plugin.Spec{Name: "route", Path: rr, Hooks: []abi.Hook{abi.HookRoute},
			Config: []byte(`{"pools":{"carol":"api","dave":"api","mallory":"no-such-pool"}}`)},
		plugin.Spec{Name: "rewrite", Path: rr, Hooks: []abi.Hook{abi.HookRewrite}, Config: []byte(`{"pool_header":true}`)},
	)
	s, logs := start(t, Options{Config: facade(static.addr, api.addr, app.addr), Plugins: h})
	c := client(t, nil)
	tests := []struct {
		name, method, host, path string
		want                     string // backend, or the proxy's status text
		status                   int
		route                    string // the access log's route; "" none
	}{
		{"exact host", "GET", "static.example.com", "/img/a.png", "static", 200, "static-host"},
		{"host any case with port", "GET", "STATIC.Example.com:8080", "/x", "static", 200, "static-host"},
		{"wildcard host", "GET", "eu.cdn.example.com", "/x", "static", 200, "static-host"},
		{"wildcard is not the bare name", "GET", "cdn.example.com", "/x", "app", 200, ""},
		{"host and path", "GET", "www.example.com", "/api/users", "api", 200, "api"},
		{"path without the host", "GET", "other.example.com", "/api/users", "app", 200, ""},
		{"prefix needs its slash", "GET", "www.example.com", "/api", "app", 200, ""},
		{"method", "POST", "www.example.com", "/upload/f", "static", 200, "uploads"},
		{"other method", "GET", "www.example.com", "/upload/f", "app", 200, ""},
		{"dot segments resolved", "GET", "x.example.com", "/public/../v2/items", "api", 200, "api-any-host"},
		{"encoded dot segments resolved", "GET", "x.example.com", "/public/..%2Fv2/items", "api", 200, "api-any-host"},
		{"doubled slash", "GET", "x.example.com", "/x//../v2/items", "api", 200, "api-any-host"},
		{"default", "GET", "www.example.com", "/", "app", 200, ""},
		{"plugin names a pool", "GET", "www.example.com", "/home/carol/inbox", "api", 200, ""},
		{"plugin pool beats the route", "GET", "static.example.com", "/home/dave/x", "api", 200, "static-host"},
		{"plugin names an unknown pool", "GET", "www.example.com", "/home/mallory/", "Bad Gateway\n", 502, ""},
		{"user without a plugin pool", "GET", "www.example.com", "/home/erin/", "app", 200, ""},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest(tc.method, urlOf(s, "web", "/"), nil)
			req.URL.Opaque = tc.path // as sent, not cleaned by the client
			req.Host = tc.host
			resp, got := do(t, c, req)
			if resp.StatusCode != tc.status || got.Backend != tc.want {
				t.Fatalf("%s %s%s: %d from %q, want %d from %q", tc.method, tc.host, tc.path, resp.StatusCode, got.Backend, tc.status, tc.want)
			}
			// The rewrite hook reads the pool used in the pool field.
			if tc.status == 200 && got.Header.Get("X-Pool") != tc.want {
				t.Errorf("rewrite read pool %q, want %q", got.Header.Get("X-Pool"), tc.want)
			}
			var line map[string]any
			waitFor(t, func() bool {
				ls := logs.lines(t)
				if len(ls) > i {
					line = ls[i]
				}
				return line != nil
			})
			if r, _ := line["route"].(string); r != tc.route {
				t.Errorf("access log route = %q, want %q", r, tc.route)
			}
		})
	}
	if !strings.Contains(logs.String(), `"msg":"route plugin named an unknown pool"`) ||
		!strings.Contains(logs.String(), `"pool":"no-such-pool"`) {
		t.Errorf("no error line naming the unknown pool:\n%s", logs.String())
	}
}

// TestServer_routeOptions checks the per-route options against real
// backends: header timeouts both shorter and longer than the web-level
// one, a route's body limit, unbuffered responses and WebSocket refusal.
func TestServer_routeOptions(t *testing.T) {
	release := make(chan struct{})
	be := newBackend(t, "be", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/slow", "/poll/slow", "/quick/slow":
			time.Sleep(1500 * time.Millisecond)
			io.WriteString(w, "late")
		case "/poll/stream", "/buffered/stream":
			w.Header().Set("Content-Length", "10")
			io.WriteString(w, "first")
			http.NewResponseController(w).Flush()
			select {
			case <-release:
			case <-time.After(10 * time.Second):
			}
			io.WriteString(w, "later")
		default:
			n, _ := io.Copy(io.Discard, r.Body)
			fmt.Fprintf(w, "read %d", n)
		}
	}))
	cfg := simple("", be.addr)
	cfg.Pools[0].MaxFails = -1 // the timeouts must not mark the one backend down
	cfg.UpstreamHeaderTimeout = 600 * time.Millisecond
	cfg.MaxBodyBytes = 1 << 20
	cfg.Routes = []Route{
		{Name: "poll", PathPrefix: "/poll/", Pool: "p", HeaderTimeout: 20 * time.Second, NoBuffering: true},
		{Name: "quick", PathPrefix: "/quick/", Pool: "p", HeaderTimeout: 100 * time.Millisecond, DialTimeout: time.Second},
		{Name: "small", PathPrefix: "/small/", Pool: "p", MaxBodyBytes: 16},
		{Name: "nows", PathPrefix: "/nows/", Pool: "p", NoWebSocket: true},
	}
	s, _ := start(t, Options{Config: cfg})
	c := client(t, nil)

	t.Run("header timeouts", func(t *testing.T) {
		for _, tc := range []struct {
			path   string
			status int
		}{
			{"/slow", 504},       // the web-level 600 ms
			{"/poll/slow", 200},  // the route's 20 s
			{"/quick/slow", 504}, // the route's 100 ms
			{"/quick/fast", 200},
		} {
			resp, got := get(t, c, urlOf(s, "web", tc.path))
			if resp.StatusCode != tc.status {
				t.Errorf("%s: %d %q, want %d", tc.path, resp.StatusCode, got.Backend, tc.status)
			}
		}
	})
	t.Run("body limits", func(t *testing.T) {
		for _, tc := range []struct {
			path   string
			size   int
			chunk  bool
			status int
		}{
			{"/small/x", 16, false, 200},
			{"/small/x", 17, false, 413},
			{"/small/x", 17, true, 413}, // no Content-Length: cut while streaming
			{"/other", 4096, false, 200},
		} {
			var body io.Reader = bytes.NewReader(make([]byte, tc.size))
			if tc.chunk {
				body = io.MultiReader(body) // hides the length
			}
			req, _ := http.NewRequest("POST", urlOf(s, "web", tc.path), body)
			resp, got := do(t, c, req)
			if resp.StatusCode != tc.status {
				t.Errorf("POST %s of %d bytes (chunked %v): %d %q, want %d", tc.path, tc.size, tc.chunk, resp.StatusCode, got.Backend, tc.status)
			}
		}
	})
	t.Run("no buffering", func(t *testing.T) {
		resp, err := c.Get(urlOf(s, "web", "/poll/stream"))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		first := make([]byte, 5)
		done := make(chan error, 1)
		go func() { _, err := io.ReadFull(resp.Body, first); done <- err }()
		select {
		case err := <-done:
			if err != nil || string(first) != "first" {
				t.Fatalf("read %q, %v", first, err)
			}
		case <-time.After(8 * time.Second):
			t.Fatal("the first part did not arrive before the backend finished")
		}
		close(release)
		rest, _ := io.ReadAll(resp.Body)
		if string(rest) != "later" {
			t.Errorf("rest = %q", rest)
		}
	})
	t.Run("websocket refused", func(t *testing.T) {
		for _, tc := range []struct {
			path   string
			status int
		}{{"/nows/socket", 403}, {"/ws", 200}} { // 200: the test backend's answer
			conn, err := net.Dial("tcp", s.Addr("web").String())
			if err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(10 * time.Second))
			fmt.Fprintf(conn, "GET %s HTTP/1.1\r\nHost: x.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", tc.path)
			resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
			conn.Close()
			if err != nil {
				t.Fatal(err)
			}
			if tc.status == 403 && resp.StatusCode != 403 {
				t.Errorf("%s: %s, want 403", tc.path, resp.Status)
			}
			if tc.status != 403 && resp.StatusCode == 403 {
				t.Errorf("%s: refused on a route that allows WebSocket", tc.path)
			}
		}
	})
}

func TestConfig_ValidateRoutes(t *testing.T) {
	base := func() Config {
		c := facade("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")
		c.Listeners[0].Address = "127.0.0.1:0"
		return c
	}
	tests := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"valid", func(*Config) {}, ""},
		{"catch-all", func(c *Config) { c.Routes = append(c.Routes, Route{Pool: "app"}) }, ""},
		{"no pool", func(c *Config) { c.Routes[0].Pool = "" }, "routes[0] (static-host).pool: empty"},
		{"unknown pool", func(c *Config) { c.Routes[1].Pool = "x" }, `routes[1] (uploads).pool: "x" is not among pools`},
		{"host with port", func(c *Config) { c.Routes[0].Hosts = []string{"a.example.com:443"} }, "routes[0] (static-host).hosts[0]"},
		{"bare wildcard", func(c *Config) { c.Routes[0].Hosts = []string{"*"} }, "hosts[0]"},
		{"inner wildcard", func(c *Config) { c.Routes[0].Hosts = []string{"a.*.com"} }, "hosts[0]"},
		{"path without slash", func(c *Config) { c.Routes[2].PathPrefix = "api/" }, `path_prefix: "api/" must start with /`},
		{"lower-case method", func(c *Config) { c.Routes[1].Methods = []string{"post"} }, "methods[0]"},
		{"negative timeout", func(c *Config) { c.Routes[0].HeaderTimeout = -1 }, "negative"},
		{"tls options without tls", func(c *Config) { c.Pools[0].TLS.CAFile = "/x" }, "pools[0].tls: ca_file"},
		{"cert without key", func(c *Config) { c.Pools[0].TLS = PoolTLS{Enabled: true, CertFile: "/c"} }, "cert_file and key_file go together"},
		{"skip verify with a CA", func(c *Config) { c.Pools[0].TLS = PoolTLS{Enabled: true, CAFile: "/c", InsecureSkipVerify: true} }, "insecure_skip_verify ignores ca_file"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := base()
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Validate() = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestRoute_matchDoesNotAllocate keeps the per-request route scan cheap.
func TestRoute_matchDoesNotAllocate(t *testing.T) {
	s, err := New(Options{Config: func() Config {
		c := facade("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")
		c.Listeners[0].Address = "127.0.0.1:0"
		return c
	}()})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://www.example.com:8080/api/users/x", nil)
	if rt := s.matchRoute(req); rt == nil || rt.name != "api" {
		t.Fatalf("matched %v", rt)
	}
	if n := testing.AllocsPerRun(100, func() { s.matchRoute(req) }); n != 0 {
		t.Errorf("matchRoute allocates %v times per request", n)
	}
}

// FuzzRouteMatch feeds arbitrary hosts, paths and methods to the route
// matcher: no panic, and a route's answer never depends on anything but
// its conditions (a catch-all always matches).
func FuzzRouteMatch(f *testing.F) {
	for _, s := range []string{"/", "/api/x", "/a/../api/", "//v2//", "/%2e%2e/x", "", "/upload/", "/.", "/.."} {
		f.Add("www.example.com", s, "GET")
	}
	f.Add("[::1]:80", "/x", "POST")
	f.Add("STATIC.example.com.", "/", "PUT")
	f.Add("a.cdn.example.com:", "/x/.", "")
	cfg := facade("127.0.0.1:1", "127.0.0.1:2", "127.0.0.1:3")
	cfg.Listeners[0].Address = "127.0.0.1:0"
	cfg.Routes = append(cfg.Routes, Route{Name: "all", Pool: "app"})
	s, err := New(Options{Config: cfg})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, host, p, method string) {
		r := &http.Request{Method: method, Host: host, URL: &url.URL{Path: p}}
		rt := s.matchRoute(r)
		if rt == nil {
			t.Fatalf("no route for %q %q %q despite the catch-all", method, host, p)
		}
		c := cleanPath(p)
		if !strings.HasPrefix(p, "/") {
			return // "*" (OPTIONS *): never a prefix route's
		}
		if !strings.HasPrefix(c, "/") {
			t.Fatalf("cleanPath(%q) = %q", p, c)
		}
		if strings.Contains(c, "/../") || strings.HasSuffix(c, "/..") {
			t.Fatalf("cleanPath(%q) = %q keeps a dot-dot segment", p, c)
		}
	})
}
