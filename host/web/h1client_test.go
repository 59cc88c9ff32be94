package web

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// clients are the two values of upstream_client; the behaviour tests run
// with both, so the lean client is held to what net/http's Transport does.
var clients = []string{UpstreamClientLean, UpstreamClientNetHTTP}

// countingBackend is an httptest server that counts the connections it
// accepted.
func countingBackend(t *testing.T, h http.Handler) (addr string, accepted *atomic.Int64) {
	t.Helper()
	accepted = new(atomic.Int64)
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = func(_ net.Conn, cs http.ConnState) {
		if cs == http.StateNew {
			accepted.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.Listener.Addr().String(), accepted
}

// rawBackend is a backend on 127.0.0.1 that hands every accepted
// connection to serve, for backends that misbehave. It counts the
// connections accepted and closes them when the test ends.
func rawBackend(t testing.TB, serve func(c net.Conn, br *bufio.Reader)) (addr string, accepted *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	accepted = new(atomic.Int64)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted.Add(1)
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				serve(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String(), accepted
}

// readHead reads a request head and returns its header; ok false at EOF.
func readHead(br *bufio.Reader) (http.Header, bool) {
	tp := textproto.NewReader(br)
	if _, err := tp.ReadLine(); err != nil {
		return nil, false
	}
	h, err := tp.ReadMIMEHeader()
	if err != nil {
		return nil, false
	}
	return http.Header(h), true
}

// startClient starts a server with pool p of addr and the given
// upstream_client.
func startClient(t *testing.T, client string, addr string, edit func(*Config)) *Server {
	t.Helper()
	cfg := simple("", addr)
	cfg.UpstreamClient = client
	// The client's own behaviour: off the event loops, whose requests use
	// the loops' own backend sockets (evloop_test.go has theirs).
	cfg.NoEventLoop = true
	if edit != nil {
		edit(&cfg)
	}
	s, _ := start(t, Options{Config: cfg})
	return s
}

func TestH1Client_isUsed(t *testing.T) {
	be := newBackend(t, "a", nil)
	s := startClient(t, "", be.addr, nil)
	if _, ok := s.transport.(*h1Client); !ok {
		t.Errorf("default client is %T, want *h1Client", s.transport)
	}
	s = startClient(t, UpstreamClientNetHTTP, be.addr, nil)
	if _, ok := s.transport.(*http.Transport); !ok {
		t.Errorf("net/http client is %T, want *http.Transport", s.transport)
	}
	cfg := simple("", be.addr)
	cfg.UpstreamClient = "curl"
	if _, err := New(Options{Config: cfg}); err == nil || !strings.Contains(err.Error(), "upstream_client") {
		t.Errorf("bad upstream_client: %v", err)
	}
}

// TestH1Client_exchange: keep-alive reuse, bodies both ways (length and
// chunked), trailers, bodiless responses, Connection: close.
func TestH1Client_exchange(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("X-Len", fmt.Sprint(len(b)))
		w.Header().Set("X-TE", strings.Join(r.TransferEncoding, ","))
		w.Write(b)
	})
	mux.HandleFunc("/chunked", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Trailer", "X-Sum")
		for i := range 5 {
			fmt.Fprintf(w, "part %d;", i)
			w.(http.Flusher).Flush()
		}
		w.Header().Set("X-Sum", "five")
	})
	mux.HandleFunc("/204", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(204) })
	mux.HandleFunc("/304", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(304) })
	mux.HandleFunc("/head", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "1000")
		if r.Method != http.MethodHead {
			w.Write(make([]byte, 1000))
		}
	})
	mux.HandleFunc("/close", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		io.WriteString(w, "bye")
	})
	for _, cl := range clients {
		t.Run(cl, func(t *testing.T) {
			addr, accepted := countingBackend(t, mux)
			s := startClient(t, cl, addr, nil)
			c := client(t, nil)
			type tc struct {
				name, method, path string
				body               io.Reader
				status             int
				want               string
				check              func(*http.Response) string
			}
			for _, tc := range []tc{
				{"get", "GET", "/echo", nil, 200, "", nil},
				{"post length", "POST", "/echo", strings.NewReader(strings.Repeat("a", 100000)), 200, strings.Repeat("a", 100000),
					func(r *http.Response) string {
						if r.Header.Get("X-Len") != "100000" || r.Header.Get("X-TE") != "" {
							return fmt.Sprint(r.Header)
						}
						return ""
					}},
				{"post chunked", "POST", "/echo", io.MultiReader(strings.NewReader("abc"), strings.NewReader("def")), 200, "abcdef",
					func(r *http.Response) string {
						if r.Header.Get("X-TE") != "chunked" {
							return "backend saw " + r.Header.Get("X-TE")
						}
						return ""
					}},
				{"chunked with trailer", "GET", "/chunked", nil, 200, "part 0;part 1;part 2;part 3;part 4;",
					func(r *http.Response) string {
						if r.Trailer.Get("X-Sum") != "five" {
							return fmt.Sprintf("trailer %v", r.Trailer)
						}
						return ""
					}},
				{"204", "GET", "/204", nil, 204, "", nil},
				{"304", "GET", "/304", nil, 304, "", nil},
				{"head", "HEAD", "/head", nil, 200, "", func(r *http.Response) string {
					if r.ContentLength != 1000 {
						return fmt.Sprint("content length ", r.ContentLength)
					}
					return ""
				}},
				{"get after", "GET", "/head", nil, 200, string(make([]byte, 1000)), nil},
			} {
				req, _ := http.NewRequest(tc.method, urlOf(s, "web", tc.path), tc.body)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatalf("%s: %v", tc.name, err)
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != tc.status || string(b) != tc.want {
					t.Errorf("%s: %d %.40q %v, want %d %.40q", tc.name, resp.StatusCode, b, err, tc.status, tc.want)
				}
				if tc.check != nil {
					if why := tc.check(resp); why != "" {
						t.Errorf("%s: %s", tc.name, why)
					}
				}
			}
			// http.Transport puts a connection back in its pool from its
			// own goroutines, after the request body's writer has
			// finished; a request right after a POST can find the pool
			// still empty and dial (about 1 run in 30). The lean client
			// releases the connection before the response is returned:
			// exactly one.
			kept := accepted.Load()
			if kept != 1 && !(cl == UpstreamClientNetHTTP && kept == 2) {
				t.Errorf("backend accepted %d connections for sequential requests, want 1 (keep-alive)", kept)
			}
			// Connection: close from the backend: a new connection each time.
			for range 3 {
				_, got := get(t, c, urlOf(s, "web", "/close"))
				if got.Backend != "bye" {
					t.Errorf("close: %q", got.Backend)
				}
			}
			if n := accepted.Load(); n != 3 && !(kept == 2 && n == 4) {
				// The first /close used the kept connection; two more dialed
				// (with a second kept one, it served the second /close, or
				// was found closed and the second dialed too).
				t.Errorf("backend accepted %d connections after three Connection: close answers, want 3", n)
			}
			if h, ok := s.transport.(*h1Client); ok {
				if n := h.idleCount(addr); n != 0 {
					t.Errorf("%d idle connections after Connection: close, want 0", n)
				}
			}
		})
	}
}

// TestH1Client_staleIdle: a kept connection the backend closed while it
// was idle is retried on a new one, once, for a request without a body.
func TestH1Client_staleIdle(t *testing.T) {
	for _, cl := range clients {
		t.Run(cl, func(t *testing.T) {
			// One answer per connection, then a close without saying so.
			addr, accepted := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
				if _, ok := readHead(br); ok {
					io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				}
			})
			s := startClient(t, cl, addr, func(c *Config) { c.Pools[0].MaxFails = -1 })
			c := client(t, nil)
			for i := range 4 {
				resp, got := get(t, c, urlOf(s, "web", "/x"))
				if resp.StatusCode != 200 || got.Backend != "ok" {
					t.Errorf("request %d: %d %q", i, resp.StatusCode, got.Backend)
				}
				if i == 1 {
					time.Sleep(50 * time.Millisecond) // the close has arrived
				}
			}
			// A request with a body cannot be sent twice: the closed
			// connection must be noticed before it is used.
			for i := range 3 {
				time.Sleep(50 * time.Millisecond)
				req, _ := http.NewRequest("POST", urlOf(s, "web", "/x"), strings.NewReader("payload"))
				resp, got := do(t, c, req)
				if resp.StatusCode != 200 || got.Backend != "ok" {
					t.Errorf("POST %d on a closed idle connection: %d %q", i, resp.StatusCode, got.Backend)
				}
			}
			if n := accepted.Load(); n != 7 {
				t.Errorf("backend accepted %d connections, want 7", n)
			}
		})
	}
}

// TestH1Client_interim: 103 Early Hints reach the client, 100 Continue
// from the backend does not confuse the exchange, and a request with
// Expect: 100-continue is answered.
func TestH1Client_interim(t *testing.T) {
	for _, cl := range clients {
		t.Run(cl, func(t *testing.T) {
			addr, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
				for {
					h, ok := readHead(br)
					if !ok {
						return
					}
					if h.Get("Expect") == "100-continue" {
						io.WriteString(c, "HTTP/1.1 100 Continue\r\n\r\n")
					}
					n := 0
					if cl := h.Get("Content-Length"); cl != "" {
						fmt.Sscan(cl, &n)
						io.CopyN(io.Discard, br, int64(n))
					}
					io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
					fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(fmt.Sprint(n)), fmt.Sprint(n))
				}
			})
			s := startClient(t, cl, addr, nil)
			c := client(t, &http.Transport{ExpectContinueTimeout: 5 * time.Second})
			var hints []string
			var mu sync.Mutex
			trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				mu.Lock()
				defer mu.Unlock()
				hints = append(hints, fmt.Sprint(code, " ", h.Get("Link")))
				return nil
			}}
			ctx := httptrace.WithClientTrace(context.Background(), trace)
			req, _ := http.NewRequestWithContext(ctx, "GET", urlOf(s, "web", "/"), nil)
			resp, got := do(t, c, req)
			if resp.StatusCode != 200 || got.Backend != "0" {
				t.Errorf("get: %d %q", resp.StatusCode, got.Backend)
			}
			mu.Lock()
			if len(hints) != 1 || hints[0] != "103 </style.css>; rel=preload" {
				t.Errorf("interim responses at the client: %q, want the 103", hints)
			}
			mu.Unlock()
			req, _ = http.NewRequest("PUT", urlOf(s, "web", "/"), strings.NewReader(strings.Repeat("b", 5000)))
			req.Header.Set("Expect", "100-continue")
			resp, got = do(t, c, req)
			if resp.StatusCode != 200 || got.Backend != "5000" {
				t.Errorf("expect 100-continue: %d %q", resp.StatusCode, got.Backend)
			}
		})
	}
}

// TestH1Client_failures: oversized response headers (502), the header
// timeouts, web-wide and a route's (504), a backend that answers garbage
// (502).
func TestH1Client_failures(t *testing.T) {
	addr, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			h, ok := readHead(br)
			if !ok {
				return
			}
			_ = h
			switch h.Get("X-Test") {
			case "big":
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Big: %s\r\nContent-Length: 0\r\n\r\n", strings.Repeat("z", 4000))
			case "slow":
				time.Sleep(time.Second)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
			case "garbage":
				io.WriteString(c, "SMTP ready\r\n\r\n")
				return
			default:
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
		}
	})
	for _, cl := range clients {
		t.Run(cl, func(t *testing.T) {
			s := startClient(t, cl, addr, func(c *Config) {
				c.MaxHeaderBytes = 2048
				c.Pools[0].MaxFails = -1 // the failures must not mark the backend down
				c.UpstreamHeaderTimeout = 300 * time.Millisecond
				c.Routes = []Route{
					{Name: "quick", PathPrefix: "/quick/", Pool: "p", HeaderTimeout: 100 * time.Millisecond},
					{Name: "long", PathPrefix: "/long/", Pool: "p", HeaderTimeout: 3 * time.Second},
				}
			})
			c := client(t, nil)
			for _, tc := range []struct {
				name, path, hdr string
				status          int
				min, max        time.Duration
			}{
				{"big headers", "/x", "big", 502, 0, time.Second},
				{"web-wide header timeout", "/x", "slow", 504, 250 * time.Millisecond, 900 * time.Millisecond},
				{"route header timeout", "/quick/x", "slow", 504, 80 * time.Millisecond, 700 * time.Millisecond},
				{"long route", "/long/x", "slow", 200, 900 * time.Millisecond, 3 * time.Second},
				{"garbage", "/x", "garbage", 502, 0, time.Second},
				{"fine after", "/x", "", 200, 0, time.Second},
			} {
				t0 := time.Now()
				resp, _ := get(t, c, urlOf(s, "web", tc.path), "X-Test", tc.hdr)
				d := time.Since(t0)
				if resp.StatusCode != tc.status || d < tc.min || d > tc.max {
					t.Errorf("%s: %d after %v, want %d within [%v, %v]", tc.name, resp.StatusCode, d, tc.status, tc.min, tc.max)
				}
			}
		})
	}
}

// TestH1Client_slowUpload: the response header timeout starts when the
// request body has been sent; an upload that takes longer is not a late
// response.
func TestH1Client_slowUpload(t *testing.T) {
	for _, cl := range clients {
		t.Run(cl, func(t *testing.T) {
			addr, _ := countingBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n, _ := io.Copy(io.Discard, r.Body)
				fmt.Fprint(w, n)
			}))
			s := startClient(t, cl, addr, func(c *Config) { c.UpstreamHeaderTimeout = 200 * time.Millisecond })
			c := client(t, nil)
			pr, pw := io.Pipe()
			go func() {
				for range 8 {
					time.Sleep(75 * time.Millisecond)
					pw.Write([]byte("0123456789"))
				}
				pw.Close()
			}()
			req, _ := http.NewRequest("POST", urlOf(s, "web", "/up"), pr)
			resp, got := do(t, c, req)
			if resp.StatusCode != 200 || got.Backend != "80" {
				t.Errorf("a 600 ms upload with a 200 ms header timeout: %d %q", resp.StatusCode, got.Backend)
			}
		})
	}
}

// TestH1Client_clientGoesAway: a client that leaves in the middle of a
// response body has the backend connection closed, not pooled.
func TestH1Client_clientGoesAway(t *testing.T) {
	for _, cl := range clients {
		t.Run(cl, func(t *testing.T) {
			closed := make(chan struct{}, 4)
			addr, accepted := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
				if _, ok := readHead(br); !ok {
					return
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 1048576\r\n\r\n")
				c.Write(make([]byte, 1000))
				// Wait for the proxy to close the connection.
				c.SetReadDeadline(time.Now().Add(5 * time.Second))
				if _, err := br.ReadByte(); err == io.EOF {
					closed <- struct{}{}
				}
			})
			s := startClient(t, cl, addr, func(c *Config) { c.Routes = []Route{{PathPrefix: "/", Pool: "p", NoBuffering: true}} })
			conn, err := net.Dial("tcp", s.Addr("web").String())
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(conn, "GET /big HTTP/1.1\r\nHost: x.test\r\n\r\n")
			br := bufio.NewReader(conn)
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.ReadFull(resp.Body, make([]byte, 1000)); err != nil {
				t.Fatal(err)
			}
			conn.Close()
			select {
			case <-closed:
			case <-time.After(5 * time.Second):
				t.Fatal("the backend connection stayed open after the client left")
			}
			if h, ok := s.transport.(*h1Client); ok {
				if n := h.idleCount(addr); n != 0 {
					t.Errorf("%d idle connections, want 0", n)
				}
			}
			if n := accepted.Load(); n != 1 {
				t.Errorf("accepted %d", n)
			}
		})
	}
}

// TestH1Client_concurrent: many requests in flight, with and without
// bodies, over the pool (run with -race).
func TestH1Client_concurrent(t *testing.T) {
	addr, accepted := countingBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %d", r.URL.Path, len(b))
	}))
	s := startClient(t, UpstreamClientLean, addr, func(c *Config) { c.UpstreamIdleConns = 4 })
	c := client(t, &http.Transport{MaxIdleConnsPerHost: 64})
	var wg sync.WaitGroup
	for g := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 25 {
				path := fmt.Sprintf("/g%d/%d", g, i)
				var body io.Reader
				want := path + " 0"
				method := "GET"
				if i%3 == 0 {
					method, body = "POST", strings.NewReader(strings.Repeat("x", i*100))
					want = fmt.Sprintf("%s %d", path, i*100)
				}
				req, _ := http.NewRequest(method, urlOf(s, "web", path), body)
				resp, err := c.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != want {
					t.Errorf("%s %s: %q", method, path, b)
				}
			}
		}()
	}
	wg.Wait()
	h := s.transport.(*h1Client)
	if n := h.idleCount(addr); n > 4 {
		t.Errorf("%d idle connections, over upstream_idle_conns 4", n)
	}
	t.Logf("%d backend connections for 400 requests", accepted.Load())
}

// TestH1Client_shutdownLeavesNothing: after Shutdown no goroutine of the
// client remains and its idle connections are closed.
func TestH1Client_shutdownLeavesNothing(t *testing.T) {
	addr, _ := countingBackend(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}))
	before := runtime.NumGoroutine()
	cfg := simple("", addr)
	cfg.Listeners[0].Address = "127.0.0.1:0"
	s, err := New(Options{Config: cfg, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	tr := &http.Transport{}
	c := &http.Client{Transport: tr}
	for i := range 20 {
		var body io.Reader
		if i%2 == 0 {
			body = strings.NewReader("payload")
		}
		resp, err := c.Post(urlOf(s, "web", "/"), "text/plain", body)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	tr.CloseIdleConnections()
	h := s.transport.(*h1Client)
	if h.idleCount(addr) == 0 {
		t.Error("no idle backend connection before Shutdown")
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	if n := h.idleCount(addr); n != 0 {
		t.Errorf("%d idle backend connections after Shutdown", n)
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		buf := make([]byte, 1<<16)
		t.Errorf("%d goroutines after Shutdown, %d before:\n%s", n, before, buf[:runtime.Stack(buf, true)])
	}
}

func TestIsUpgrade(t *testing.T) {
	for _, tc := range []struct {
		method string
		hdr    http.Header
		want   bool
	}{
		{"GET", http.Header{}, false},
		{"GET", http.Header{"Connection": {"keep-alive"}}, false},
		{"GET", http.Header{"Connection": {"Upgrade"}, "Upgrade": {"websocket"}}, true},
		{"GET", http.Header{"Connection": {"keep-alive, upgrade"}}, true},
		{"CONNECT", http.Header{}, true},
	} {
		if got := isUpgrade(&http.Request{Method: tc.method, Header: tc.hdr}); got != tc.want {
			t.Errorf("%s %v: %v", tc.method, tc.hdr, got)
		}
	}
}

// TestSettings_choices: the keys that pick an implementation (the
// upstream client, the server, the fast path, decision reuse, the event
// loop) take their two values and
// nothing else.
func TestSettings_choices(t *testing.T) {
	for _, tc := range []struct {
		src, want, err string
	}{
		{"upstream_client: net/http\n", UpstreamClientNetHTTP, ""},
		{"upstream_client: lean\n", UpstreamClientLean, ""},
		{"upstream_client: curl\n", "", "upstream_client"},
		{"server: net/http\n", ServerNetHTTP, ""},
		{"server: lean\n", ServerLean, ""},
		{"server: nginx\n", "", "server"},
		{"fast_path: false\n", "off", ""},
		{"fast_path: true\n", "on", ""},
		{"fast_path: sometimes\n", "", "fast_path"},
		{"decision_reuse: false\n", "off", ""},
		{"decision_reuse: true\n", "on", ""},
		{"decision_reuse: 5s\n", "", "decision_reuse"},
		{"event_loop: true\n", "on", ""},
		{"event_loop: false\n", "off", ""},
		{"event_loop: epoll\n", "", "event_loop"},
	} {
		s, err := decodeSettings(t, tc.src, "/etc/postern")
		if tc.err != "" {
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one naming %s", tc.src, err, tc.err)
			}
			continue
		}
		got := s.UpstreamClient
		switch {
		case strings.HasPrefix(tc.src, "server"):
			got = s.Server
		case strings.HasPrefix(tc.src, "fast_path"):
			got = map[bool]string{false: "on", true: "off"}[s.NoFastPath]
		case strings.HasPrefix(tc.src, "decision_reuse"):
			got = map[bool]string{false: "on", true: "off"}[s.NoDecisionReuse]
		case strings.HasPrefix(tc.src, "event_loop"):
			got = map[bool]string{false: "on", true: "off"}[s.NoEventLoop]
		}
		if err != nil || got != tc.want {
			t.Errorf("%q: %q %v, want %q", tc.src, got, err, tc.want)
		}
	}
}

// TestWriteBodilessHead: the lean request head is Request.Write's, byte
// for byte, where it applies, and it leaves the rest to Request.Write.
func TestWriteBodilessHead(t *testing.T) {
	mk := func(method, target string, hdr map[string]string, edit func(*http.Request)) *http.Request {
		r, err := http.NewRequest(method, target, nil)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			r.Header[k] = []string{v}
		}
		if edit != nil {
			edit(r)
		}
		return r
	}
	ua := map[string]string{"User-Agent": ""}
	for _, tc := range []struct {
		name string
		req  *http.Request
		lean bool
	}{
		{"GET with headers", mk("GET", "http://backend/a%20b/c?x=1&y=%2F", map[string]string{
			"User-Agent": "wrk", "Accept": "*/*", "X-Forwarded-For": "192.0.2.1, 10.0.0.1", "Cookie": "a=b; c=d"}, nil), true},
		{"no User-Agent wanted", mk("GET", "http://backend/", ua, nil), true},
		{"rewritten Host", mk("GET", "http://backend/x", ua, func(r *http.Request) { r.Host = "mail.example.com:8443" }), true},
		{"POST without a body", mk("POST", "http://backend/form", ua, nil), true},
		{"DELETE", mk("DELETE", "http://backend/item/1", ua, nil), true},
		{"Connection: close", mk("GET", "http://backend/", ua, func(r *http.Request) { r.Close = true }), true},
		{"several values", mk("GET", "http://backend/", ua, func(r *http.Request) { r.Header["Accept"] = []string{"a", "b"} }), true},
		{"value trimmed", mk("GET", "http://backend/", map[string]string{"User-Agent": "x", "X-Pad": "  v  "}, nil), true},
		{"no User-Agent key", mk("GET", "http://backend/", nil, nil), false},
		{"CRLF in a value", mk("GET", "http://backend/", map[string]string{"User-Agent": "x", "X-Evil": "a\r\nInjected: 1"}, nil), false},
		{"bad header name", mk("GET", "http://backend/", map[string]string{"User-Agent": "x", "Bad Name": "v"}, nil), false},
		{"bad Host", mk("GET", "http://backend/", ua, func(r *http.Request) { r.Host = "a b" }), false},
		{"CONNECT", mk("CONNECT", "http://backend:443", ua, nil), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var lean bytes.Buffer
			bw := bufio.NewWriter(&lean)
			ok := writeBodilessHead(bw, tc.req)
			bw.Flush()
			if ok != tc.lean {
				t.Fatalf("handled %v, want %v (wrote %q)", ok, tc.lean, lean.String())
			}
			if !ok {
				if lean.Len() != 0 {
					t.Errorf("wrote %q before declining", lean.String())
				}
				return
			}
			var std bytes.Buffer
			if err := tc.req.Write(&std); err != nil {
				t.Fatal(err)
			}
			if lean.String() != std.String() {
				t.Errorf("lean head\n%q\nRequest.Write\n%q", lean.String(), std.String())
			}
		})
	}
}
