//go:build linux

package web

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The event loop's tests (evloop_linux.go). Each puts its listener on the
// loops itself (startLoop), whatever POSTERN_WEB_EVENT_LOOP says, and checks
// the EventLoop counter, so that a loop that never adopts a connection
// fails them.

// loopCount is the listener's EventLoop counter.
func loopCount(t testing.TB, s *Server, listener string) int64 {
	t.Helper()
	return listenerStatsOf(t, s, listener).EventLoop
}

// startLoop starts a server of cfg with its plain listeners on the loops.
func startLoop(t testing.TB, cfg Config) (*Server, *logBuf) {
	t.Helper()
	cfg.NoEventLoop = false
	prev := noEventLoops
	noEventLoops = false // read by Start only; no test runs in parallel
	defer func() { noEventLoops = prev }()
	return start(t, Options{Config: cfg})
}

// wantCounts fails t unless the listener "web" counted loop requests on a
// loop and fast on the fast path (fast < 0: not checked). Call it once
// the requests' access log lines are written (settled).
func wantCounts(t *testing.T, s *Server, loop, fast int64) {
	t.Helper()
	if n := loopCount(t, s, "web"); n != loop {
		t.Errorf("EventLoop %d, want %d", n, loop)
	}
	if fast >= 0 {
		if n := fastCount(t, s, "web"); n != fast {
			t.Errorf("FastPath %d, want %d", n, fast)
		}
	}
}

// loopBody8M is the 8 MiB body of loopBackend's /big8.
var loopBody8M = bytes.Repeat([]byte("0123456789abcdef"), 8<<20/16)

// loopSaw is a request as loopBackend got it.
type loopSaw struct {
	Method, URI, Body, Remote string
}

// loopRec keeps what loopBackend got, in order.
type loopRec struct {
	mu   sync.Mutex
	reqs []loopSaw
}

func (r *loopRec) all() []loopSaw {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]loopSaw(nil), r.reqs...)
}

// loopBackend is a raw keep-alive HTTP/1.1 backend answering by path:
// /chunked (a chunked body, sent in two writes), /early (a 103, then a
// 200), /close (Connection: close, then the close), /slow (after
// 300 ms), /big8 (8 MiB by Content-Length; bigStarted is signalled when
// it starts), /extra (Content-Length: 2 followed by 5 bytes more),
// anything else "hello <method> <uri>" with the request body after
// " body=" if there was one. accepted counts its connections.
func loopBackend(t *testing.T) (rec *loopRec, addr string, accepted *atomic.Int64, bigStarted chan struct{}) {
	t.Helper()
	rec = &loopRec{}
	bigStarted = make(chan struct{}, 1)
	addr, accepted = rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			body, err := io.ReadAll(req.Body)
			if err != nil {
				return
			}
			rec.mu.Lock()
			rec.reqs = append(rec.reqs, loopSaw{Method: req.Method, URI: req.RequestURI, Body: string(body), Remote: c.RemoteAddr().String()})
			rec.mu.Unlock()
			head := req.Method == http.MethodHead
			answer := func(extra, body string) {
				s := fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: %d\r\n%s\r\n", len(body), extra)
				if !head {
					s += body
				}
				io.WriteString(c, s)
			}
			switch req.URL.Path {
			case "/chunked":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n9\r\npart one,\r\n")
				time.Sleep(20 * time.Millisecond) // not a synchronisation: two segments, so the loop hands over a part
				io.WriteString(c, "9\r\n part two\r\n0\r\n\r\n")
			case "/early":
				io.WriteString(c, "HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n")
				answer("", "after the hints")
			case "/close":
				answer("Connection: close\r\n", "bye")
				return
			case "/slow":
				time.Sleep(300 * time.Millisecond)
				answer("", "slow")
			case "/big8":
				select {
				case bigStarted <- struct{}{}:
				default:
				}
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: %d\r\n\r\n", len(loopBody8M))
				if _, err := c.Write(loopBody8M); err != nil {
					return
				}
			case "/extra":
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")
			default:
				b := "hello " + req.Method + " " + req.RequestURI
				if len(body) > 0 {
					b += " body=" + string(body)
				}
				answer("", b)
			}
		}
	})
	return rec, addr, accepted, bigStarted
}

// exchange writes raw on c and reads one response to method; it fails t
// unless the status is 200 and the body is want.
func (c *fastClient) exchange(t *testing.T, raw, method, want string) rawResponse {
	t.Helper()
	io.WriteString(c, raw)
	r, err := c.read(t, method)
	if err != nil || r.status != 200 || r.body != want {
		t.Fatalf("%q: %d %q (body error %v), want 200 %q", firstLine(raw), r.status, r.body, err, want)
	}
	return r
}

func firstLine(s string) string {
	if i := strings.Index(s, "\r\n"); i >= 0 {
		return s[:i]
	}
	return s
}

func getReq(path string) string { return "GET " + path + " HTTP/1.1\r\nHost: a.test\r\n\r\n" }

// TestEventLoop_serves: sequential GETs and a HEAD on one connection are
// served on the loop, over one kept backend connection.
func TestEventLoop_serves(t *testing.T) {
	rec, addr, accepted, _ := loopBackend(t)
	s, logs := startLoop(t, simple("", addr))
	c := dialRaw(t, s, "web", nil)
	for _, p := range []string{"/one", "/two?x=1", "/three"} {
		c.exchange(t, getReq(p), "GET", "hello GET "+p)
	}
	settled(t, logs, 3)
	wantCounts(t, s, 3, 3)
	if n := accepted.Load(); n != 1 {
		t.Errorf("the backend accepted %d connections, want 1 (kept alive)", n)
	}
	r := c.exchange(t, "HEAD /head HTTP/1.1\r\nHost: a.test\r\n\r\n", "HEAD", "")
	if cl := r.header.Get("Content-Length"); cl != fmt.Sprint(len("hello HEAD /head")) {
		t.Errorf("HEAD: Content-Length %q, want the GET's %d", cl, len("hello HEAD /head"))
	}
	if r.header.Get("Date") == "" {
		t.Error("HEAD: no Date")
	}
	settled(t, logs, 4)
	wantCounts(t, s, 4, 4)
	if got := rec.all(); len(got) != 4 || got[3].Method != "HEAD" || accepted.Load() != 1 {
		t.Errorf("backend got %+v on %d connections, want 4 requests (the last a HEAD) on 1", got, accepted.Load())
	}
	// The loop's connection answers the next request after the HEAD.
	c.exchange(t, getReq("/after-head"), "GET", "hello GET /after-head")
	settled(t, logs, 5)
	wantCounts(t, s, 5, 5)
}

// TestEventLoop_handoff: a POST hands the connection to a goroutine, with
// its body; once it is answered the connection is back on a loop.
func TestEventLoop_handoff(t *testing.T) {
	rec, addr, _, _ := loopBackend(t)
	s, logs := startLoop(t, simple("", addr))
	c := dialRaw(t, s, "web", nil)
	c.exchange(t, getReq("/first"), "GET", "hello GET /first")
	settled(t, logs, 1)
	wantCounts(t, s, 1, 1)
	c.exchange(t, "POST /post HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello", "POST", "hello POST /post body=hello")
	c.exchange(t, getReq("/last"), "GET", "hello GET /last")
	settled(t, logs, 3)
	// The POST is the full path's, the last GET the loop's again.
	wantCounts(t, s, 2, 2)
	var got []string
	for _, r := range rec.all() {
		got = append(got, r.Method+" "+r.URI+" "+r.Body)
	}
	if want := []string{"GET /first ", "POST /post hello", "GET /last "}; !reflect.DeepEqual(got, want) {
		t.Errorf("backend got %q, want %q", got, want)
	}
}

// TestEventLoop_pipelined: pipelined requests, a POST among them, are
// answered in order, the ones before the POST on the loop.
func TestEventLoop_pipelined(t *testing.T) {
	rec, addr, _, _ := loopBackend(t)
	s, logs := startLoop(t, simple("", addr))
	c := dialRaw(t, s, "web", nil)
	io.WriteString(c, getReq("/a")+getReq("/b")+
		"POST /c HTTP/1.1\r\nHost: a.test\r\nContent-Length: 7\r\n\r\npayload"+getReq("/d"))
	for _, want := range []string{"hello GET /a", "hello GET /b", "hello POST /c body=payload", "hello GET /d"} {
		r, err := c.read(t, "GET")
		if err != nil || r.status != 200 || r.body != want {
			t.Fatalf("%d %q (body error %v), want 200 %q", r.status, r.body, err, want)
		}
	}
	settled(t, logs, 4)
	wantCounts(t, s, 2, 3)
	if got := rec.all(); len(got) != 4 || got[2].Body != "payload" {
		t.Errorf("backend got %+v, want 4 requests, the POST's body payload", got)
	}
}

// TestEventLoop_chunkedResponse: responses the loop does not relay (a
// chunked body, a 103 before the 200) are handed over mid-exchange, sent
// to the backend once, and the connection serves its next request.
func TestEventLoop_chunkedResponse(t *testing.T) {
	tests := []struct {
		name  string
		path  string
		resps []string // "status body" of each response, a 1xx among them
	}{
		{"chunked", "/chunked", []string{"200 part one, part two"}},
		{"103 then 200", "/early", []string{"103 ", "200 after the hints"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rec, addr, _, _ := loopBackend(t)
			s, logs := startLoop(t, simple("", addr))
			c := dialRaw(t, s, "web", nil)
			c.exchange(t, getReq("/before"), "GET", "hello GET /before")
			settled(t, logs, 1)
			wantCounts(t, s, 1, 1)
			io.WriteString(c, getReq(tc.path))
			var got []string
			for range tc.resps {
				r, err := c.read(t, "GET")
				if err != nil {
					t.Fatalf("%s: body: %v", tc.path, err)
				}
				got = append(got, fmt.Sprintf("%d %s", r.status, r.body))
			}
			if !reflect.DeepEqual(got, tc.resps) {
				t.Errorf("%s: responses %q, want %q", tc.path, got, tc.resps)
			}
			c.exchange(t, getReq("/after"), "GET", "hello GET /after")
			settled(t, logs, 3)
			// Handed over: the fast path's (proxyFastFrom), not the loop's;
			// the next request is the loop's again.
			wantCounts(t, s, 2, 3)
			var uris []string
			for _, r := range rec.all() {
				uris = append(uris, r.URI)
			}
			if want := []string{"/before", tc.path, "/after"}; !reflect.DeepEqual(uris, want) {
				t.Errorf("backend got %q, want %q (each once)", uris, want)
			}
		})
	}
}

// TestEventLoop_slowClientDoesNotBlock: a client that does not read its
// 8 MiB response does not hold up the loop's other connections, and then
// gets all of it.
func TestEventLoop_slowClientDoesNotBlock(t *testing.T) {
	_, addr, _, bigStarted := loopBackend(t)
	s, logs := startLoop(t, simple("", addr))
	a := dialRaw(t, s, "web", nil)
	io.WriteString(a, getReq("/big8"))
	sent := time.Now()
	// 8 MiB is more than A's socket and the server's take while A does not
	// read (a smaller SO_RCVBUF than loopback's 64 KiB segments would stall
	// TCP itself): the loop holds the rest.
	select {
	case <-bigStarted:
	case <-time.After(10 * time.Second):
		t.Fatal("the backend did not get /big8 within 10 s")
	}
	// Each of B's requests on a new connection: the loops take new
	// connections in turn, so about half share A's loop.
	t0 := time.Now()
	for i := range 20 {
		b := dialRaw(t, s, "web", nil)
		b.SetDeadline(time.Now().Add(10 * time.Second))
		p := fmt.Sprintf("/b%d", i)
		b.exchange(t, getReq(p), "GET", "hello GET "+p)
		b.Close()
	}
	if d := time.Since(t0); d > 2*time.Second {
		t.Errorf("20 GETs beside a client not reading took %v, want < 2 s", d)
	}
	time.Sleep(time.Until(sent.Add(time.Second))) // A has not read for 1 s
	r, err := a.read(t, "GET")
	if err != nil || r.status != 200 || len(r.body) != len(loopBody8M) || r.body != string(loopBody8M) {
		t.Errorf("A: %d, %d bytes (body error %v); want 200 and the %d bytes sent", r.status, len(r.body), err, len(loopBody8M))
	}
	settled(t, logs, 21)
	wantCounts(t, s, 21, 21)
}

// TestEventLoop_clientLeaves: a client leaving while the backend works is
// logged as 499, and the server serves the next client.
func TestEventLoop_clientLeaves(t *testing.T) {
	_, addr, _, _ := loopBackend(t)
	s, logs := startLoop(t, simple("", addr))
	c := dialRaw(t, s, "web", nil)
	io.WriteString(c, getReq("/slow"))
	c.Close()
	settled(t, logs, 1)
	if l := logs.lines(t)[0]; l["status"] != float64(499) {
		t.Errorf("logged %v, want status 499", l)
	}
	wantCounts(t, s, 1, 1)
	c = dialRaw(t, s, "web", nil)
	c.exchange(t, getReq("/next"), "GET", "hello GET /next")
	settled(t, logs, 2)
	wantCounts(t, s, 2, 2)
}

// TestEventLoop_backendDown: a refused connection is retried on the other
// backend; with no other, the client gets a 502.
func TestEventLoop_backendDown(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // connections are refused
	_, addr, _, _ := loopBackend(t)

	t.Run("one of two down", func(t *testing.T) {
		s, logs := startLoop(t, simple("", deadAddr, addr))
		c := dialRaw(t, s, "web", nil)
		for _, p := range []string{"/a", "/b", "/c"} {
			c.exchange(t, getReq(p), "GET", "hello GET "+p)
		}
		settled(t, logs, 3)
		wantCounts(t, s, 3, 3)
		if n := poolRetries(s, "p"); n != 1 {
			t.Errorf("pool retries %d, want 1 (the dead backend tried once, then marked down)", n)
		}
	})
	t.Run("only backend down", func(t *testing.T) {
		s, logs := startLoop(t, simple("", deadAddr))
		c := dialRaw(t, s, "web", nil)
		io.WriteString(c, getReq("/a"))
		r, err := c.read(t, "GET")
		if err != nil || r.status != 502 {
			t.Errorf("%d (body error %v), want 502", r.status, err)
		}
		settled(t, logs, 1)
		wantCounts(t, s, 1, 1)
		if l := logs.lines(t)[0]; l["status"] != float64(502) {
			t.Errorf("logged %v, want status 502", l)
		}
	})
}

// TestEventLoop_shutdown: Shutdown closes an idle loop connection at
// once, and lets a request in flight finish, with Connection: close.
func TestEventLoop_shutdown(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		_, addr, _, _ := loopBackend(t)
		s, logs := startLoop(t, simple("", addr))
		idle := dialRaw(t, s, "web", nil)
		idle.exchange(t, getReq("/x"), "GET", "hello GET /x")
		settled(t, logs, 1)
		wantCounts(t, s, 1, 1)
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		t0 := time.Now()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		if d := time.Since(t0); d > time.Second {
			t.Errorf("Shutdown took %v with an idle loop connection, want < 1 s", d)
		}
		if !idle.closed() {
			t.Error("idle loop connection not closed by Shutdown")
		}
	})
	t.Run("in flight", func(t *testing.T) {
		arrived, release := make(chan struct{}, 1), make(chan struct{})
		addr, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				if req.URL.Path == "/wait" {
					arrived <- struct{}{}
					<-release
				}
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\ndone")
			}
		})
		s, logs := startLoop(t, simple("", addr))
		idle := dialRaw(t, s, "web", nil)
		idle.exchange(t, getReq("/first"), "GET", "done")
		busy := dialRaw(t, s, "web", nil)
		io.WriteString(busy, getReq("/wait"))
		<-arrived
		done := make(chan error, 1)
		go func() { done <- s.Shutdown(context.Background()) }()
		if !idle.closed() { // Shutdown has begun
			t.Error("idle loop connection not closed by Shutdown")
		}
		close(release)
		t0 := time.Now()
		r, err := busy.read(t, "GET")
		if err != nil || r.body != "done" || !r.close {
			t.Errorf("in flight: %q %v, Connection: close %v; want done, close", r.body, err, r.close)
		}
		if !busy.closed() {
			t.Error("the connection stayed open after its last response")
		}
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("Shutdown: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatal("Shutdown did not return within 5 s of the last response")
		}
		if d := time.Since(t0); d > time.Second {
			t.Errorf("Shutdown returned %v after the answer, want < 1 s", d)
		}
		settled(t, logs, 2)
		wantCounts(t, s, 2, 2)
	})
}

// TestEventLoop_idleTimeout: the loop closes a connection idle past
// IdleTimeout after a request, and one without a (complete) request past
// ReadHeaderTimeout, within the sweep's coarseness.
func TestEventLoop_idleTimeout(t *testing.T) {
	_, addr, _, _ := loopBackend(t)
	cfg := simple("", addr)
	cfg.IdleTimeout = 300 * time.Millisecond
	cfg.ReadHeaderTimeout = 2 * time.Second
	s, logs := startLoop(t, cfg)
	tests := []struct {
		name string
		send string // after the request, if any
		req  bool
		want time.Duration
	}{
		{"idle after a request", "", true, cfg.IdleTimeout},
		{"no request", "", false, cfg.ReadHeaderTimeout},
		{"partial head after a request", "GET /part HTTP/1.1\r\nHo", true, cfg.ReadHeaderTimeout},
	}
	type result struct {
		name    string
		elapsed time.Duration
		closed  bool
	}
	results := make(chan result, len(tests))
	served := 0
	for _, tc := range tests {
		c := dialRaw(t, s, "web", nil)
		if tc.req {
			c.exchange(t, getReq("/x"), "GET", "hello GET /x")
			served++
		}
		io.WriteString(c, tc.send)
		t0 := time.Now()
		go func() {
			closed := c.closed()
			results <- result{tc.name, time.Since(t0), closed}
		}()
	}
	got := map[string]result{}
	for range tests {
		r := <-results
		got[r.name] = r
	}
	for _, tc := range tests {
		r := got[tc.name]
		if !r.closed || r.elapsed < tc.want/2 || r.elapsed > tc.want+time.Second {
			t.Errorf("%s: closed %v after %v, want closed after %v (+ up to 1 s)", tc.name, r.closed, r.elapsed, tc.want)
		}
	}
	settled(t, logs, served)
	wantCounts(t, s, int64(served), int64(served))
}

// TestEventLoop_backendClose: after a response with Connection: close the
// next request goes on a new backend connection, then kept.
func TestEventLoop_backendClose(t *testing.T) {
	rec, addr, accepted, _ := loopBackend(t)
	s, logs := startLoop(t, simple("", addr))
	c := dialRaw(t, s, "web", nil)
	for _, tc := range []struct{ path, body string }{{"/close", "bye"}, {"/after", "hello GET /after"}, {"/again", "hello GET /again"}} {
		if r := c.exchange(t, getReq(tc.path), "GET", tc.body); r.close {
			t.Errorf("%s: the backend's Connection: close reached the client", tc.path)
		}
	}
	settled(t, logs, 3)
	wantCounts(t, s, 3, 3)
	got := rec.all()
	if len(got) != 3 || got[0].Remote == got[1].Remote || got[1].Remote != got[2].Remote || accepted.Load() != 2 {
		t.Errorf("backend connections %+v (%d accepted); want a new one after the close, then kept", got, accepted.Load())
	}
}

// TestEventLoop_bytesPastLength: a backend sending more than its
// Content-Length on a kept connection gets on the loop what it gets from
// a goroutine (the next response starts with those bytes).
func TestEventLoop_bytesPastLength(t *testing.T) {
	run := func(t *testing.T, loop bool) (out []string, loopN int64) {
		_, addr, _, _ := loopBackend(t)
		cfg := simple("", addr)
		cfg.NoEventLoop = !loop
		var s *Server
		var logs *logBuf
		if loop {
			s, logs = startLoop(t, cfg)
		} else {
			s, logs = start(t, Options{Config: cfg})
		}
		c := dialRaw(t, s, "web", nil)
		for n := range 3 {
			io.WriteString(c, getReq("/extra"))
			r, headErr, err := c.tryRead("GET")
			out = append(out, fmt.Sprintf("%d %q %v %v", r.status, r.body, headErr, err))
			if headErr != nil {
				break
			}
			settled(t, logs, n+1)
		}
		return out, loopCount(t, s, "web")
	}
	onLoop, n := run(t, true)
	onGoroutine, m := run(t, false)
	if !reflect.DeepEqual(onLoop, onGoroutine) {
		t.Errorf("event loop %q, goroutine %q", onLoop, onGoroutine)
	}
	if n < 1 || m != 0 {
		t.Errorf("EventLoop %d and %d (without the loop), want at least 1 and 0", n, m)
	}
	t.Logf("%q", onLoop)
}

// TestEventLoop_bigResponseHead: a response head over max_header_bytes
// (within the loop's 4 KiB, or over it) is refused with 502, as the
// goroutine's fast path refuses it; a head within the limit is relayed.
func TestEventLoop_bigResponseHead(t *testing.T) {
	addr, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			n, _ := strconv.Atoi(strings.TrimPrefix(req.URL.Path, "/"))
			fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nX-Big: %s\r\nContent-Length: 2\r\n\r\nok", strings.Repeat("z", n))
		}
	})
	// A new server each time: a refused head marks its backend down.
	for _, tc := range []struct {
		size   int
		status int
	}{{500, 200}, {2000, 502}, {6000, 502}, {100, 200}} {
		cfg := simple("", addr)
		cfg.MaxHeaderBytes = 1500
		s, logs := startLoop(t, cfg)
		c := dialRaw(t, s, "web", nil)
		io.WriteString(c, getReq(fmt.Sprintf("/%d", tc.size)))
		r, err := c.read(t, "GET")
		if err != nil || r.status != tc.status {
			t.Errorf("a %d-byte header: %d %v, want %d", tc.size, r.status, err, tc.status)
		}
		settled(t, logs, 1)
		c.Close()
		if n, want := loopCount(t, s, "web"), int64(map[bool]int{true: 1}[tc.status == 200]); n != want {
			t.Errorf("a %d-byte header: EventLoop %d, want %d", tc.size, n, want)
		}
	}
}

// TestEventLoop_backoff: a connection whose requests keep needing a
// goroutine is not handed over for each of them. Once it came back only
// to be handed over again it stays on its goroutine (16 requests, then
// 32...); once its requests fit the loop again it is back on one.
func TestEventLoop_backoff(t *testing.T) {
	_, addr, _, _ := loopBackend(t)
	s, logs := startLoop(t, simple("", addr))
	c := dialRaw(t, s, "web", nil)
	post := "POST /p HTTP/1.1\r\nHost: a.test\r\nContent-Length: 1\r\n\r\nx"
	for range 40 {
		c.exchange(t, post, "POST", "hello POST /p body=x")
	}
	settled(t, logs, 40)
	// POST 1 is handed over; it comes back, and POST 2 is handed over
	// at once: it stays for 16 requests (2-17, the handed one counts);
	// POST 18 after the next return: it stays for 32 (18-49).
	if n := listenerStatsOf(t, s, "web").Handoffs; n != 3 {
		t.Errorf("%d hand-overs for 40 POSTs, want 3", n)
	}
	for range 40 {
		c.exchange(t, getReq("/g"), "GET", "hello GET /g")
	}
	settled(t, logs, 80)
	// The stay left after POST 40 is 9 requests: the other 31 GETs are
	// the loop's.
	if n := loopCount(t, s, "web"); n != 31 {
		t.Errorf("EventLoop %d, want 31 (the GETs after the stay)", n)
	}
}

// TestEventLoop_hostnameBackend: a backend named by a host name is dialled
// (and resolved) by a goroutine, and its kept socket serves the loop's
// next requests.
func TestEventLoop_hostnameBackend(t *testing.T) {
	_, addr, accepted, _ := loopBackend(t)
	_, port, _ := net.SplitHostPort(addr)
	s, logs := startLoop(t, simple("", net.JoinHostPort("localhost", port)))
	c := dialRaw(t, s, "web", nil)
	for _, p := range []string{"/h1", "/h2", "/h3"} {
		c.exchange(t, getReq(p), "GET", "hello GET "+p)
	}
	settled(t, logs, 3)
	wantCounts(t, s, 3, 3)
	if n := accepted.Load(); n != 1 {
		t.Errorf("the backend accepted %d connections, want 1 (kept alive)", n)
	}
}
