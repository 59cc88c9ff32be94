package web

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/host/tlsstore"
)

// bothServers runs f against the lean server and net/http's, so the lean
// one is held to net/http's answers.
func bothServers(t *testing.T, f func(t *testing.T, mode string)) {
	for _, mode := range []string{ServerLean, ServerNetHTTP} {
		t.Run(strings.ReplaceAll(mode, "/", "-"), func(t *testing.T) { f(t, mode) })
	}
}

// rawResponse is one response read off a raw connection.
type rawResponse struct {
	status int
	header http.Header
	body   string
	proto  string
	close  bool // Connection: close (http.ReadResponse drops the header)
}

// rawExchange writes raw to a new connection and reads want responses
// (interim 1xx ones count: http.ReadResponse returns them too);
// closed reports whether the server then closed the connection.
func rawExchange(t *testing.T, addr, raw string, want int) (rs []rawResponse, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	br := bufio.NewReader(c)
	method, _, _ := strings.Cut(raw, " ")
	for range want {
		resp, err := http.ReadResponse(br, &http.Request{Method: method})
		if err != nil {
			t.Fatalf("reading response %d of %q: %v", len(rs)+1, raw, err)
		}
		b, err := io.ReadAll(resp.Body)
		if err != nil {
			t.Fatalf("response %d body: %v", len(rs)+1, err)
		}
		rs = append(rs, rawResponse{status: resp.StatusCode, header: resp.Header, body: string(b), proto: resp.Proto, close: resp.Close})
	}
	c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	_, err = br.ReadByte()
	return rs, err == io.EOF
}

func TestH1Server_rawRequests(t *testing.T) {
	big := strings.Repeat("a", 70<<10)
	cases := []struct {
		name   string
		raw    string
		status []int
		closed bool
		check  func(t *testing.T, rs []rawResponse)
	}{
		{name: "pipelined keep-alive", status: []int{200, 200},
			raw:    "GET /echo HTTP/1.1\r\nHost: one.test\r\n\r\nGET /echo HTTP/1.1\r\nHost: two.test\r\nConnection: close\r\n\r\n",
			closed: true,
			check: func(t *testing.T, rs []rawResponse) {
				if !strings.Contains(rs[0].body, "one.test") || !strings.Contains(rs[1].body, "two.test") {
					t.Errorf("answers out of order: %q / %q", rs[0].body, rs[1].body)
				}
				if rs[0].close || !rs[1].close {
					t.Errorf("Connection: close on %v, %v; want the second only", rs[0].close, rs[1].close)
				}
			}},
		{name: "HTTP/1.0 closes", raw: "GET /echo HTTP/1.0\r\nHost: a.test\r\n\r\n", status: []int{200}, closed: true,
			check: func(t *testing.T, rs []rawResponse) {
				if rs[0].proto != "HTTP/1.0" {
					t.Errorf("proto %s, want HTTP/1.0", rs[0].proto)
				}
			}},
		{name: "HTTP/1.0 keep-alive", raw: "GET /echo HTTP/1.0\r\nHost: a.test\r\nConnection: keep-alive\r\n\r\n", status: []int{200},
			check: func(t *testing.T, rs []rawResponse) {
				if rs[0].header.Get("Connection") != "keep-alive" {
					t.Errorf("Connection %q, want keep-alive", rs[0].header.Get("Connection"))
				}
			}},
		{name: "missing Host", raw: "GET /echo HTTP/1.1\r\n\r\n", status: []int{400}, closed: true},
		{name: "two Host headers", raw: "GET /echo HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", status: []int{400}, closed: true},
		{name: "garbage", raw: "HELLO\r\n\r\n", status: []int{400}, closed: true},
		{name: "headers too large", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-Big: " + big + "\r\n\r\n", status: []int{431}, closed: true},
		{name: "HTTP/2.0 on an HTTP/1 listener", raw: "GET / HTTP/2.0\r\nHost: a\r\n\r\n", status: []int{505}, closed: true},
		{name: "bad header name", raw: "GET / HTTP/1.1\r\nHost: a\r\nBad Name: v\r\n\r\n", status: []int{400}, closed: true},
		{name: "control character in a value", raw: "GET / HTTP/1.1\r\nHost: a\r\nX-A: b\x01c\r\n\r\n", status: []int{400}, closed: true},
		{name: "bad transfer encoding", raw: "POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\n", status: []int{501}, closed: true},
		{name: "Expect 100-continue", status: []int{100, 200},
			raw: "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\nhello",
			check: func(t *testing.T, rs []rawResponse) {
				if !strings.Contains(rs[1].body, `"Body":5`) {
					t.Errorf("backend saw %q", rs[1].body)
				}
			}},
		{name: "unknown Expect", raw: "POST /echo HTTP/1.1\r\nHost: a\r\nExpect: magic\r\nContent-Length: 1\r\n\r\nx", status: []int{417}, closed: true},
		{name: "chunked request body", status: []int{200},
			raw: "POST /echo HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
			check: func(t *testing.T, rs []rawResponse) {
				if !strings.Contains(rs[0].body, `"Body":5`) {
					t.Errorf("backend saw %q", rs[0].body)
				}
			}},
		{name: "HEAD", raw: "HEAD /echo HTTP/1.1\r\nHost: a\r\n\r\n", status: []int{200},
			check: func(t *testing.T, rs []rawResponse) {
				if rs[0].body != "" {
					t.Errorf("HEAD answered with a body %q", rs[0].body)
				}
			}},
	}
	be := newBackend(t, "b", nil)
	bothServers(t, func(t *testing.T, mode string) {
		cfg := simple("", be.addr)
		cfg.Server = mode
		cfg.MaxHeaderBytes = 16 << 10
		s, _ := start(t, Options{Config: cfg})
		addr := s.Addr("web").String()
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				rs, closed := rawExchange(t, addr, tc.raw, len(tc.status))
				for i, r := range rs {
					if r.status != tc.status[i] {
						t.Errorf("response %d: %d %q, want %d", i+1, r.status, r.body, tc.status[i])
					}
				}
				if closed != tc.closed {
					t.Errorf("closed %v, want %v", closed, tc.closed)
				}
				if tc.check != nil && !t.Failed() {
					tc.check(t, rs)
				}
			})
		}
	})
}

// TestH1Server_responseFraming: a body of unknown length is chunked
// (the reverse proxy flushes it as it comes), trailers pass, and the
// proxy's own small answers get a Content-Length.
func TestH1Server_responseFraming(t *testing.T) {
	large := strings.Repeat("z", 100<<10)
	be := newBackend(t, "b", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/small":
			w.Write([]byte("small"))
			w.(http.Flusher).Flush() // the backend chunks it: no length reaches the proxy
		case "/large":
			w.Write([]byte(large[:10]))
			w.(http.Flusher).Flush()
			w.Write([]byte(large[10:]))
		case "/trailer":
			w.Header().Set("Trailer", "X-Sum")
			w.Write([]byte("body"))
			w.(http.Flusher).Flush()
			w.Header().Set("X-Sum", "42")
		}
	}))
	bothServers(t, func(t *testing.T, mode string) {
		cfg := simple("", be.addr)
		cfg.Server = mode
		s, _ := start(t, Options{Config: cfg})
		c := client(t, nil)
		resp, err := c.Get(urlOf(s, "web", "/small"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "small" {
			t.Errorf("/small: %q", b)
		}
		resp, err = c.Get(urlOf(s, "web", "/large"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != large || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" {
			t.Errorf("/large: %d bytes, TransferEncoding %v; want %d, chunked", len(b), resp.TransferEncoding, len(large))
		}
		resp, err = c.Get(urlOf(s, "web", "/trailer"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != "body" || resp.Trailer.Get("X-Sum") != "42" {
			t.Errorf("/trailer: %q, trailer %v; want body and X-Sum 42", b, resp.Trailer)
		}
		gone := newBackend(t, "gone", nil)
		gone.srv.Close()
		dead := simple("", gone.addr)
		dead.Server = mode
		s, _ = start(t, Options{Config: dead})
		resp, err = c.Get(urlOf(s, "web", "/"))
		if err != nil {
			t.Fatal(err)
		}
		b, _ = io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusBadGateway || resp.ContentLength != int64(len(b)) || len(b) == 0 {
			t.Errorf("dead backend: %d %q, ContentLength %d; want 502 with its length", resp.StatusCode, b, resp.ContentLength)
		}
	})
}

// TestH1Server_clientGoneCancelsBackend: a client that closes while its
// request waits for a slow backend cancels the backend request.
func TestH1Server_clientGoneCancelsBackend(t *testing.T) {
	cancelled := make(chan struct{}, 1)
	be := newBackend(t, "b", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			cancelled <- struct{}{}
		case <-time.After(20 * time.Second):
		}
	}))
	bothServers(t, func(t *testing.T, mode string) {
		cfg := simple("", be.addr)
		cfg.Server = mode
		s, logs := start(t, Options{Config: cfg})
		c, err := net.Dial("tcp", s.Addr("web").String())
		if err != nil {
			t.Fatal(err)
		}
		io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a\r\n\r\n")
		time.Sleep(100 * time.Millisecond)
		c.Close()
		select {
		case <-cancelled:
		case <-time.After(5 * time.Second):
			t.Fatal("the backend request ran on after the client left")
		}
		waitFor(t, func() bool { return strings.Contains(logs.String(), `"status":499`) })
	})
}

// TestH1Server_oneWritePerResponse: a small proxied response leaves in
// one write on a kept connection.
func TestH1Server_oneWritePerResponse(t *testing.T) {
	be := newBackend(t, "b", nil)
	cfg := simple("", be.addr)
	cfg.Listeners[0].Address = "127.0.0.1:0"
	s, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cl := &countingListener{Listener: ln}
	if err := s.Serve(cl, "web"); err != nil {
		t.Fatal(err)
	}
	defer s.Shutdown(context.Background())
	c := client(t, nil)
	const n = 10
	for range n {
		_, seen := get(t, c, "http://"+ln.Addr().String()+"/echo")
		if seen.Backend != "b" {
			t.Fatalf("answer %+v", seen)
		}
	}
	if w := cl.writes.Load(); w != n {
		t.Errorf("%d writes for %d responses, want one each", w, n)
	}
}

type countingListener struct {
	net.Listener
	writes atomic.Int64
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, l: l}, nil
}

type countingConn struct {
	net.Conn
	l *countingListener
}

func (c *countingConn) Write(p []byte) (int, error) {
	c.l.writes.Add(1)
	return c.Conn.Write(p)
}

// TestH1Server_shutdown: idle connections close at once, a request in
// flight finishes (with Connection: close), then Shutdown returns and no
// goroutine is left.
func TestH1Server_shutdown(t *testing.T) {
	release := make(chan struct{})
	be := newBackend(t, "b", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-release
		io.WriteString(w, "done")
	}))
	before := runtime.NumGoroutine()
	cfg := simple("", be.addr)
	cfg.Listeners[0].Address = "127.0.0.1:0"
	s, err := New(Options{Config: cfg})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	addr := s.Addr("web").String()
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	busy, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	io.WriteString(busy, "GET /wait HTTP/1.1\r\nHost: a\r\n\r\n")
	time.Sleep(100 * time.Millisecond)
	done := make(chan error, 1)
	go func() { done <- s.Shutdown(context.Background()) }()
	idle.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := idle.Read(make([]byte, 1)); err != io.EOF {
		t.Errorf("idle connection: %v, want closed by Shutdown", err)
	}
	select {
	case err := <-done:
		t.Fatalf("Shutdown returned %v with a request in flight", err)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	busy.SetReadDeadline(time.Now().Add(5 * time.Second))
	resp, err := http.ReadResponse(bufio.NewReader(busy), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "done" || !resp.Close {
		t.Errorf("in flight: %q, Connection: close %v; want done, close", b, resp.Close)
	}
	if err := <-done; err != nil {
		t.Errorf("Shutdown: %v", err)
	}
	waitFor(t, func() bool { return runtime.NumGoroutine() <= before+2 }) // the backend's own
	if _, err := net.Dial("tcp", addr); err == nil {
		t.Error("still accepting after Shutdown")
	}
}

// TestH1Server_backendCutMidBody: a backend that dies mid-body cuts the
// client's connection (no short body taken as complete) and the next
// client is served.
func TestH1Server_backendCutMidBody(t *testing.T) {
	be := newBackend(t, "b", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "10000")
		w.Write([]byte(strings.Repeat("x", 100)))
		w.(http.Flusher).Flush()
		conn, _, _ := http.NewResponseController(w).Hijack()
		conn.Close()
	}))
	s, _ := start(t, Options{Config: simple("", be.addr)})
	c := client(t, nil)
	resp, err := c.Get(urlOf(s, "web", "/cut"))
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	if err == nil {
		t.Fatal("a cut body read as complete")
	}
	_, seen := get(t, c, urlOf(s, "web", "/echo"))
	if seen.Backend != "b" {
		t.Errorf("next request: %+v", seen)
	}
}

// TestH1Server_TLS: on a TLS listener, h1 and h2 clients are served (h2
// handed to net/http after the handshake), a plain HTTP request gets
// net/http's 400, and a client that never completes its handshake is
// closed after the header timeout; Shutdown waits for neither.
func TestH1Server_TLS(t *testing.T) {
	dir := t.TempDir()
	pair, cert := vhostCert(t, dir, "mail", "mail.one.test")
	st, err := tlsstore.New(tlsstore.Options{Certs: []tlsstore.Pair{pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	be := newBackend(t, "a", nil)
	bothServers(t, func(t *testing.T, mode string) {
		cfg := simple("", be.addr)
		cfg.Server = mode
		cfg.ReadHeaderTimeout = 300 * time.Millisecond
		cfg.Listeners = []Listener{{Name: "https", TLS: true}}
		s, _ := start(t, Options{Config: cfg, Certs: st})
		addr := s.Addr("https").String()
		_, port, _ := net.SplitHostPort(addr)
		for _, h2 := range []bool{true, false} {
			c := tlsClient(t, cert, h2)
			c.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}
			resp, got := get(t, c, "https://mail.one.test:"+port+"/echo")
			if want := map[bool]int{true: 2, false: 1}[h2]; resp.ProtoMajor != want || got.Header.Get("X-Forwarded-Proto") != "https" {
				t.Errorf("h2 %v: %s, X-Forwarded-Proto %q", h2, resp.Proto, got.Header.Get("X-Forwarded-Proto"))
			}
		}
		rs, closed := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\n\r\n", 1)
		if rs[0].status != http.StatusBadRequest || !strings.Contains(rs[0].body, "HTTPS server") || !closed {
			t.Errorf("plain HTTP to the TLS port: %d %q closed %v", rs[0].status, rs[0].body, closed)
		}
		silent, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer silent.Close()
		silent.SetReadDeadline(time.Now().Add(5 * time.Second))
		t0 := time.Now()
		if _, err := silent.Read(make([]byte, 1)); err != io.EOF {
			t.Errorf("silent client: %v, want closed", err)
		}
		if d := time.Since(t0); d > 3*time.Second {
			t.Errorf("silent client closed after %v, want about the header timeout", d)
		}
	})
}

// TestConfig_server: New refuses an unknown server (the settings keys are in
// TestSettings_choices).
func TestConfig_server(t *testing.T) {
	cfg := simple("", "127.0.0.1:1")
	cfg.Server = "nginx"
	if _, err := New(Options{Config: cfg}); err == nil || !strings.Contains(err.Error(), "server") {
		t.Errorf("bad server: %v", err)
	}
}

// TestH1Server_contextValues: a handler finds the values net/http's server
// gives a request's context (ReverseProxy's abort of a cut body reads
// http.ServerContextKey), and the request's TLS state on a TLS listener.
func TestH1Server_contextValues(t *testing.T) {
	var got struct {
		srv   bool
		local string
	}
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, got.srv = r.Context().Value(http.ServerContextKey).(*http.Server)
		if a, ok := r.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
			got.local = a.String()
		}
	})
	addr := serveH1(t, h)
	rs, _ := rawExchange(t, addr, "GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n", 1)
	if rs[0].status != 200 || !got.srv || got.local != addr {
		t.Errorf("status %d, ServerContextKey %v, LocalAddrContextKey %q (want %s)", rs[0].status, got.srv, got.local, addr)
	}
}

// TestH1Server_unreadBodyAnswered: a handler that answers without reading
// a large body gets its answer to the client, who is still sending, with
// Connection: close. (On loopback the answer arrived even without the
// linger after FIN, rstAvoidanceDelay: this checks the answer, not that.)
func TestH1Server_unreadBodyAnswered(t *testing.T) {
	h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "no", http.StatusForbidden)
	})
	addr := serveH1(t, h)
	for i := range 5 {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		const size = 4 << 20
		go func() {
			fmt.Fprintf(c, "POST /upload HTTP/1.1\r\nHost: a\r\nContent-Length: %d\r\n\r\n", size)
			c.Write(make([]byte, size))
		}()
		c.SetReadDeadline(time.Now().Add(10 * time.Second))
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("attempt %d: %v", i, err)
		}
		if resp.StatusCode != http.StatusForbidden || !resp.Close {
			t.Errorf("attempt %d: %d close %v, want 403 and Connection: close", i, resp.StatusCode, resp.Close)
		}
		c.Close()
	}
}

// serveH1 runs an h1Server with handler h on a loopback listener until
// the test ends, and returns its address.
func serveH1(t *testing.T, h http.Handler) string {
	t.Helper()
	hs := newH1Server(&http.Server{Handler: h, ErrorLog: log.New(io.Discard, "", 0)})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go hs.Serve(ln)
	t.Cleanup(func() { hs.Shutdown(context.Background()) })
	return ln.Addr().String()
}
