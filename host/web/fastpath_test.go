package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/tlsstore"
)

// backendSaw is one request as a fast-path test backend got it.
type backendSaw struct {
	Method, URI, Host, Remote string
	Header                    http.Header
}

// recorder keeps what a test backend got, in order.
type recorder struct {
	mu   sync.Mutex
	reqs []backendSaw
}

func (r *recorder) add(req *http.Request) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = append(r.reqs, backendSaw{Method: req.Method, URI: req.RequestURI, Host: req.Host, Remote: req.RemoteAddr,
		Header: req.Header.Clone()})
}

func (r *recorder) all() []backendSaw {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]backendSaw(nil), r.reqs...)
}

func (r *recorder) reset() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reqs = nil
}

// bigBody is the 1 MiB body of /big.
var bigBody = bytes.Repeat([]byte("0123456789abcdef"), 1<<16)

// fastBackend is a net/http backend that records each request and
// answers by path: /chunked (no length), /early (103 then 200), /204,
// /304, /big (1 MiB), /bighead (a 6 KiB header), /close (Connection:
// close), /slow (waits for the client or 4 s), anything else a short
// text body.
func fastBackend(t *testing.T) (*recorder, string) {
	t.Helper()
	rec := &recorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		io.Copy(io.Discard, r.Body)
		h := w.Header()
		switch r.URL.Path {
		case "/chunked":
			h.Set("Content-Type", "text/plain")
			w.Write([]byte("part one, "))
			w.(http.Flusher).Flush()
			w.Write([]byte("part two"))
		case "/early":
			h.Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			h.Del("Link")
			h.Set("Content-Type", "text/plain")
			w.Write([]byte("after the hints"))
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			h.Set("ETag", `"v1"`)
			w.WriteHeader(http.StatusNotModified)
		case "/big":
			h.Set("Content-Type", "application/octet-stream")
			h.Set("Content-Length", fmt.Sprint(len(bigBody)))
			w.Write(bigBody)
		case "/bighead":
			h.Set("X-Big", strings.Repeat("b", 6<<10))
			w.Write([]byte("big head"))
		case "/close":
			h.Set("Connection", "close")
			w.Write([]byte("bye"))
		default:
			h.Set("Content-Type", "text/plain")
			h.Set("X-Backend", "b1")
			w.Write([]byte("hello " + r.URL.RequestURI()))
		}
	}))
	t.Cleanup(srv.Close)
	return rec, srv.Listener.Addr().String()
}

// http10Backend answers every request with an HTTP/1.0 response without
// a length (its body ends at the close), from a raw TCP listener.
func http10Backend(t *testing.T) (*recorder, string) {
	return fixedBackend(t, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\nX-Old: 1\r\n\r\nbody until the close")
}

// fixedBackend answers every request with answer, then closes, from a raw
// TCP listener.
func fixedBackend(t *testing.T, answer string) (*recorder, string) {
	t.Helper()
	rec := &recorder{}
	addr, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		req.RemoteAddr = c.RemoteAddr().String()
		rec.add(req)
		io.WriteString(c, answer)
	})
	return rec, addr
}

// fastPair starts two servers of one configuration: the first with the
// fast path (the default), the second with NoFastPath.
func fastPair(t testing.TB, cfg func() Config, opts Options) (fast, full *Server, fastLogs, fullLogs *logBuf) {
	t.Helper()
	o := opts
	o.Config = cfg()
	fast, fastLogs = start(t, o)
	o = opts
	o.Config = cfg()
	o.Config.NoFastPath = true
	full, fullLogs = start(t, o)
	return fast, full, fastLogs, fullLogs
}

// listenerStatsOf returns the named listener's Stats.
func listenerStatsOf(t testing.TB, s *Server, listener string) ListenerStats {
	t.Helper()
	for _, l := range s.Stats().Listeners {
		if l.Name == listener {
			return l
		}
	}
	t.Fatalf("no listener %q in Stats", listener)
	return ListenerStats{}
}

// fastCount is the listener's FastPath counter.
func fastCount(t testing.TB, s *Server, listener string) int64 {
	t.Helper()
	return listenerStatsOf(t, s, listener).FastPath
}

// settled waits until logs hold n access log lines: the request's
// counters (FastPath among them) are counted before its line is written.
func settled(t *testing.T, logs *logBuf, n int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for len(logs.lines(t)) < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d access log lines, want %d", len(logs.lines(t)), n)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func poolRetries(s *Server, pool string) int64 {
	for _, p := range s.Stats().Pools {
		if p.Name == pool {
			return p.Retries
		}
	}
	return -1
}

// sameLogLine fails t unless two access log lines agree but for their
// time, request id and duration.
func sameLogLine(t *testing.T, fast, full map[string]any) {
	t.Helper()
	a, b := map[string]any{}, map[string]any{}
	for k, v := range fast {
		a[k] = v
	}
	for k, v := range full {
		b[k] = v
	}
	for _, k := range []string{"time", "request", "duration"} {
		delete(a, k)
		delete(b, k)
	}
	if !reflect.DeepEqual(a, b) {
		t.Errorf("access log lines differ:\nfast: %v\nfull: %v", fast, full)
	}
}

// fastClient is a client connection to a listener, plain or TLS.
type fastClient struct {
	net.Conn
	br *bufio.Reader
}

func dialRaw(t testing.TB, s *Server, listener string, tc *tls.Config) *fastClient {
	t.Helper()
	c, err := net.Dial("tcp", s.Addr(listener).String())
	if err != nil {
		t.Fatal(err)
	}
	if tc != nil {
		tlc := tls.Client(c, tc)
		if err := tlc.Handshake(); err != nil {
			c.Close()
			t.Fatal(err)
		}
		c = tlc
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &fastClient{Conn: c, br: bufio.NewReader(c)}
}

// read reads one response (a 1xx one too) to a request of method; err
// is the body's read error.
func (c *fastClient) read(t *testing.T, method string) (rawResponse, error) {
	t.Helper()
	r, headErr, err := c.tryRead(method)
	if headErr != nil {
		t.Fatalf("reading a response: %v", headErr)
	}
	return r, err
}

// tryRead is read without the t.Fatal: headErr is the head's read error.
func (c *fastClient) tryRead(method string) (r rawResponse, headErr, bodyErr error) {
	resp, err := http.ReadResponse(c.br, &http.Request{Method: method})
	if err != nil {
		return r, err, nil
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return rawResponse{status: resp.StatusCode, header: resp.Header, body: string(b), proto: resp.Proto, close: resp.Close}, nil, err
}

// closed reports whether the server closed the connection (within 5 s).
func (c *fastClient) closed() bool {
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, err := c.br.ReadByte()
	return err == io.EOF
}

// normHeader is h without Date, with an absent User-Agent and an empty
// one alike (the accepted difference of the two paths as fastpath.go
// states it; with the lean client the full path in fact sends none
// either, so the "GET without User-Agent" case passes without it).
func normHeader(h http.Header) http.Header {
	h = h.Clone()
	delete(h, "Date")
	if ua, ok := h["User-Agent"]; ok && len(ua) == 1 && ua[0] == "" {
		delete(h, "User-Agent")
	}
	return h
}

// fastObs is what a client and the backend saw of one exchange.
type fastObs struct {
	Backend []backendSaw // Remote cleared
	Resps   []string
}

func observe(rec *recorder, resps []rawResponse) fastObs {
	var o fastObs
	for _, r := range rec.all() {
		r.Remote = ""
		r.Header = normHeader(r.Header)
		o.Backend = append(o.Backend, r)
	}
	for _, r := range resps {
		o.Resps = append(o.Resps, fmt.Sprintf("%s %d close=%v %v body(%d)=%q", r.proto, r.status, r.close,
			sortedHeader(normHeader(r.header)), len(r.body), r.body))
	}
	return o
}

func sortedHeader(h http.Header) string {
	var keys []string
	for k := range h {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		fmt.Fprintf(&b, "%s=%q ", k, h[k])
	}
	return b.String()
}

// fastTLS is a certificate store for mail.one.test and a client
// configuration trusting it (HTTP/1.1 only).
func fastTLS(t testing.TB) (*tlsstore.Store, *tls.Config) {
	t.Helper()
	pair, cert := vhostCert(t, t.TempDir(), "mail", "mail.one.test")
	st, err := tlsstore.New(tlsstore.Options{Certs: []tlsstore.Pair{pair}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	return st, &tls.Config{RootCAs: roots, ServerName: "mail.one.test", NextProtos: []string{"http/1.1"}}
}

// TestFastPath_sameAsFullPath sends each request to a server with the
// fast path and to one without, and wants the same from both: what the
// backend got (method, target, Host, headers) and what the client got
// (status, headers but Date, body); and the fast path taken exactly by
// the requests it is for.
func TestFastPath_sameAsFullPath(t *testing.T) {
	rec, addr := fastBackend(t)
	rec10, addr10 := http10Backend(t)
	certs, tlsConf := fastTLS(t)
	const get = "GET %s HTTP/1.1\r\nHost: a.test\r\n%s\r\n"
	tests := []struct {
		name      string
		raw       string // the request; %s in get is the path, then extra header lines
		method    string
		resps     int // responses to read (a 1xx counts)
		fast      bool
		http10    bool   // the HTTP/1.0 backend
		rawAnswer string // a raw backend's answer
		listener  string
		setup     func(c *Config)
	}{
		{name: "plain GET", raw: fmt.Sprintf(get, "/plain", "User-Agent: t/1\r\nAccept: */*\r\n"), fast: true},
		{name: "GET without User-Agent", raw: fmt.Sprintf(get, "/noua", ""), fast: true},
		{name: "HEAD", raw: "HEAD /head HTTP/1.1\r\nHost: a.test\r\n\r\n", method: "HEAD", fast: true},
		{name: "HEAD of a big body", raw: "HEAD /big HTTP/1.1\r\nHost: a.test\r\n\r\n", method: "HEAD", fast: true},
		{name: "GET with query", raw: fmt.Sprintf(get, "/q?a=1&b=%2F&c", ""), fast: true},
		{name: "keep-alive headers dropped", raw: fmt.Sprintf(get, "/ka",
			"Connection: keep-alive\r\nKeep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nX-Keep: 1\r\n"), fast: true},
		{name: "headers in odd spelling", raw: fmt.Sprintf(get, "/spell", "x-lower: a\r\nX-Multi: 1\r\nx-multi: 2\r\ncookie: a=b\r\n"), fast: true},
		{name: "Via configured", raw: fmt.Sprintf(get, "/via", ""), fast: true, setup: func(c *Config) { c.Via = "postern-test" }},
		{name: "TLS listener", raw: fmt.Sprintf(get, "/tls", ""), fast: true, listener: "https",
			setup: func(c *Config) { c.Listeners = []Listener{{Name: "https", TLS: true}} }},

		{name: "full: Authorization", raw: fmt.Sprintf(get, "/auth", "Authorization: Basic dXNlcjpwdw==\r\n")},
		{name: "full: auth cookie", raw: fmt.Sprintf(get, "/cookie", "Cookie: a=b; ZM_AUTH_TOKEN=0_abc\r\n")},
		{name: "full: POST with a body", raw: "POST /post HTTP/1.1\r\nHost: a.test\r\nContent-Length: 5\r\n\r\nhello", method: "POST"},
		{name: "full: X-Forwarded-For", raw: fmt.Sprintf(get, "/xff", "X-Forwarded-For: 192.0.2.1\r\n")},
		{name: "full: escape in path", raw: fmt.Sprintf(get, "/a%41b", "")},
		{name: "full: HTTP/1.0 request", raw: "GET /ten HTTP/1.0\r\nHost: a.test\r\n\r\n"},

		{name: "chunked response", raw: fmt.Sprintf(get, "/chunked", ""), fast: true},
		{name: "103 then 200", raw: fmt.Sprintf(get, "/early", ""), resps: 2, fast: true},
		{name: "204", raw: fmt.Sprintf(get, "/204", ""), fast: true},
		{name: "304", raw: fmt.Sprintf(get, "/304", "If-None-Match: \"v1\"\r\n"), fast: true},
		{name: "1 MiB body", raw: fmt.Sprintf(get, "/big", ""), fast: true},
		{name: "response head over 4 KiB", raw: fmt.Sprintf(get, "/bighead", ""), fast: true},
		{name: "backend Connection close", raw: fmt.Sprintf(get, "/close", ""), fast: true},
		{name: "HTTP/1.0 backend without length", raw: fmt.Sprintf(get, "/old", ""), fast: true, http10: true},
		{name: "backend without Content-Type or Date", raw: fmt.Sprintf(get, "/bare", ""), fast: true,
			rawAnswer: "HTTP/1.1 200 OK\r\nContent-Length: 15\r\n\r\n<html>hi</html>"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			backend, r := addr, rec
			if tc.http10 {
				backend, r = addr10, rec10
			}
			if tc.rawAnswer != "" {
				r, backend = fixedBackend(t, tc.rawAnswer)
			}
			listener := "web"
			if tc.listener != "" {
				listener = tc.listener
			}
			var tc2 *tls.Config
			if listener == "https" {
				tc2 = tlsConf
			}
			cfg := func() Config {
				c := simple("", backend)
				if tc.setup != nil {
					tc.setup(&c)
				}
				return c
			}
			fast, full, fastLogs, fullLogs := fastPair(t, cfg, Options{Certs: certs})
			method := tc.method
			if method == "" {
				method = "GET"
			}
			n := max(tc.resps, 1)
			var obs [2]fastObs
			for i, s := range []*Server{fast, full} {
				r.reset()
				before := fastCount(t, s, listener)
				c := dialRaw(t, s, listener, tc2)
				io.WriteString(c, tc.raw)
				var resps []rawResponse
				for range n {
					resp, err := c.read(t, method)
					if err != nil {
						t.Fatalf("body: %v", err)
					}
					resps = append(resps, resp)
				}
				c.Close()
				for _, r := range resps {
					if r.status >= 200 && r.header.Get("Date") == "" {
						t.Errorf("server %d: a %d without Date", i, r.status)
					}
				}
				settled(t, []*logBuf{fastLogs, fullLogs}[i], 1)
				obs[i] = observe(r, resps)
				moved := fastCount(t, s, listener) - before
				want := int64(0)
				if tc.fast && s == fast {
					want = 1
				}
				if moved != want {
					t.Errorf("server %d: FastPath moved by %d, want %d", i, moved, want)
				}
			}
			sameLogLine(t, fastLogs.lines(t)[0], fullLogs.lines(t)[0])
			if len(obs[0].Backend) != 1 {
				t.Errorf("the backend got %d requests, want 1", len(obs[0].Backend))
			}
			if !reflect.DeepEqual(obs[0], obs[1]) {
				t.Errorf("fast path and full path differ:\nfast: %+v\nfull: %+v", obs[0], obs[1])
			}
			// The forwarding headers are there (so the comparison
			// compares them); no hop-by-hop header reached the backend.
			for _, b := range obs[0].Backend {
				want := map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Real-Ip": "127.0.0.1", "X-Forwarded-Host": "a.test",
					"X-Forwarded-Proto": "http"}
				if listener == "https" {
					want["X-Forwarded-Proto"] = "https"
				}
				if strings.Contains(tc.name, "X-Forwarded-For") {
					want["X-Forwarded-For"] = "192.0.2.1, 127.0.0.1"
				}
				if tc.name == "Via configured" {
					want["Via"] = "1.1 postern-test"
				}
				for k, v := range want {
					if got := strings.Join(b.Header[k], ","); got != v {
						t.Errorf("backend %s = %q, want %q", k, got, v)
					}
				}
				for _, k := range []string{"Connection", "Keep-Alive", "Proxy-Connection"} {
					if b.Header[k] != nil {
						t.Errorf("backend got %s: %q", k, b.Header[k])
					}
				}
			}
			if tc.name == "103 then 200" && !strings.Contains(obs[0].Resps[0], " 103 ") {
				t.Errorf("first response %s, want the 103", obs[0].Resps[0])
			}
			if tc.name == "Via configured" && !strings.Contains(obs[0].Resps[0], `Via=["1.1 postern-test"]`) {
				t.Errorf("response without Via: %s", obs[0].Resps[0])
			}
		})
	}
}

// TestFastPath_backendClose: after a response with Connection: close the
// next request on the same client connection is served, on a new backend
// connection.
func TestFastPath_backendClose(t *testing.T) {
	rec, addr := fastBackend(t)
	fast, full, fastLogs, fullLogs := fastPair(t, func() Config { return simple("", addr) }, Options{})
	for i, s := range []*Server{fast, full} {
		rec.reset()
		before := fastCount(t, s, "web")
		c := dialRaw(t, s, "web", nil)
		for _, p := range []string{"/close", "/after", "/again"} {
			fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: a.test\r\n\r\n", p)
			if r, err := c.read(t, "GET"); err != nil || r.status != 200 || r.close {
				t.Fatalf("server %d %s: %d close %v %v", i, p, r.status, r.close, err)
			}
		}
		settled(t, []*logBuf{fastLogs, fullLogs}[i], 3)
		got := rec.all()
		if len(got) != 3 || got[0].Remote == got[1].Remote || got[1].Remote != got[2].Remote {
			t.Errorf("server %d: backend connections %+v; want a new one after the close, then kept", i, got)
		}
		if moved, want := fastCount(t, s, "web")-before, int64(3*(1-i)); moved != want {
			t.Errorf("server %d: FastPath moved by %d, want %d", i, moved, want)
		}
	}
}

// TestFastPath_failures: retries, 502/503, 504 and a body cut mid-way
// come out of the fast path as out of the full path.
func TestFastPath_failures(t *testing.T) {
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadAddr := dead.Addr().String()
	dead.Close() // connections are refused
	_, addr := fastBackend(t)

	type result struct {
		statuses []int
		retries  int64
		fast     int64
	}
	run := func(t *testing.T, cfg func() Config, paths ...string) [2]result {
		fast, full, fastLogs, fullLogs := fastPair(t, cfg, Options{})
		var out [2]result
		for i, s := range []*Server{fast, full} {
			c := dialRaw(t, s, "web", nil)
			for _, p := range paths {
				fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: a.test\r\n\r\n", p)
				r, err := c.read(t, "GET")
				if err != nil {
					t.Fatalf("server %d %s: %v", i, p, err)
				}
				out[i].statuses = append(out[i].statuses, r.status)
			}
			settled(t, []*logBuf{fastLogs, fullLogs}[i], len(paths))
			out[i].retries = poolRetries(s, "p")
			out[i].fast = fastCount(t, s, "web")
		}
		if !reflect.DeepEqual(out[0].statuses, out[1].statuses) {
			t.Errorf("statuses: fast path %v, full path %v", out[0].statuses, out[1].statuses)
		}
		// The access log lines agree too (the error's text among them).
		fl, ul := fastLogs.lines(t), fullLogs.lines(t)
		for j := range min(len(fl), len(ul)) {
			for _, k := range []string{"time", "request", "duration"} {
				delete(fl[j], k)
				delete(ul[j], k)
			}
			if !reflect.DeepEqual(fl[j], ul[j]) {
				t.Errorf("access log line %d differs:\nfast: %v\nfull: %v", j, fl[j], ul[j])
			}
		}
		if out[0].fast != int64(len(paths)) || out[1].fast != 0 {
			t.Errorf("FastPath %d and %d, want %d and 0", out[0].fast, out[1].fast, len(paths))
		}
		return out
	}

	t.Run("first backend refuses, second answers", func(t *testing.T) {
		out := run(t, func() Config { return simple("", deadAddr, addr) }, "/a", "/b", "/c")
		for i, o := range out {
			if !reflect.DeepEqual(o.statuses, []int{200, 200, 200}) || o.retries != 1 {
				t.Errorf("server %d: %v, retries %d; want 200s and 1 retry", i, o.statuses, o.retries)
			}
		}
	})
	t.Run("all backends down", func(t *testing.T) {
		out := run(t, func() Config { return simple("", deadAddr) }, "/a", "/b")
		if !reflect.DeepEqual(out[0].statuses, []int{502, 503}) {
			t.Errorf("statuses %v, want 502 then 503", out[0].statuses)
		}
	})
	t.Run("backend header timeout", func(t *testing.T) {
		hung, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		defer hung.Close() // accepts (the kernel does) and never answers
		out := run(t, func() Config {
			c := simple("", hung.Addr().String())
			c.UpstreamHeaderTimeout = 200 * time.Millisecond
			c.Pools[0].MaxFails = -1
			return c
		}, "/hang")
		if !reflect.DeepEqual(out[0].statuses, []int{504}) {
			t.Errorf("statuses %v, want 504", out[0].statuses)
		}
	})
	t.Run("backend closes mid-body", func(t *testing.T) {
		cut := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "10000")
			w.Write([]byte(strings.Repeat("x", 100)))
			w.(http.Flusher).Flush()
			conn, _, _ := http.NewResponseController(w).Hijack()
			conn.Close()
		}))
		defer cut.Close()
		fast, full, fastLogs, fullLogs := fastPair(t, func() Config { return simple("", cut.Listener.Addr().String()) }, Options{})
		for i, s := range []*Server{fast, full} {
			c := dialRaw(t, s, "web", nil)
			io.WriteString(c, "GET /cut HTTP/1.1\r\nHost: a.test\r\n\r\n")
			// Cut either way: the full path (lean server) drops its
			// buffered head, the fast path has flushed head and the
			// bytes it got. Never a complete body.
			r, headErr, err := c.tryRead("GET")
			if headErr != nil {
				if !c.closed() {
					t.Errorf("server %d: no response head (%v) and the connection open", i, headErr)
				}
				continue
			}
			if err == nil {
				t.Errorf("server %d: a cut body read as complete (%d bytes)", i, len(r.body))
			}
			if r.status != 200 || len(r.body) != 100 {
				t.Errorf("server %d: %d with %d bytes, want 200 and the 100 sent", i, r.status, len(r.body))
			}
		}
		settled(t, fastLogs, 1)
		settled(t, fullLogs, 1)
		sameLogLine(t, fastLogs.lines(t)[0], fullLogs.lines(t)[0])
		if fastCount(t, fast, "web") != 1 {
			t.Error("the fast path did not take it")
		}
	})
}

// TestFastPath_rawClient: pipelining, Connection: close and a client
// that leaves while the backend works.
func TestFastPath_rawClient(t *testing.T) {
	_, addr := fastBackend(t)
	fast, full, fastLogs, fullLogs := fastPair(t, func() Config { return simple("", addr) }, Options{})
	logged := [2]int{}
	settle := func(t *testing.T, i, n int) {
		logged[i] += n
		settled(t, []*logBuf{fastLogs, fullLogs}[i], logged[i])
	}

	t.Run("two pipelined GETs", func(t *testing.T) {
		for i, s := range []*Server{fast, full} {
			before := fastCount(t, s, "web")
			c := dialRaw(t, s, "web", nil)
			io.WriteString(c, "GET /one HTTP/1.1\r\nHost: a.test\r\n\r\nGET /two?x HTTP/1.1\r\nHost: a.test\r\n\r\n")
			for _, want := range []string{"hello /one", "hello /two?x"} {
				r, err := c.read(t, "GET")
				if err != nil || r.status != 200 || r.body != want {
					t.Errorf("server %d: %d %q %v, want 200 %q", i, r.status, r.body, err, want)
				}
			}
			settle(t, i, 2)
			if moved, want := fastCount(t, s, "web")-before, int64(2*(1-i)); moved != want {
				t.Errorf("server %d: FastPath moved by %d, want %d", i, moved, want)
			}
		}
	})
	t.Run("Connection close", func(t *testing.T) {
		for i, s := range []*Server{fast, full} {
			before := fastCount(t, s, "web")
			c := dialRaw(t, s, "web", nil)
			io.WriteString(c, "GET /bye HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n")
			r, err := c.read(t, "GET")
			if err != nil || r.status != 200 || !r.close {
				t.Errorf("server %d: %d close %v %v, want 200 with Connection: close", i, r.status, r.close, err)
			}
			if !c.closed() {
				t.Errorf("server %d: the connection stayed open", i)
			}
			settle(t, i, 1)
			if moved, want := fastCount(t, s, "web")-before, int64(1-i); moved != want {
				t.Errorf("server %d: FastPath moved by %d, want %d", i, moved, want)
			}
		}
	})
	t.Run("client leaves while the backend works", func(t *testing.T) {
		type ended struct {
			cancelled bool
			after     time.Duration
		}
		done := make(chan ended, 1)
		slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t0 := time.Now()
			select {
			case <-r.Context().Done():
				done <- ended{true, time.Since(t0)}
			case <-time.After(4 * time.Second):
				done <- ended{false, time.Since(t0)}
			}
		}))
		defer slow.Close()
		fast, full, fastLogs, fullLogs := fastPair(t, func() Config { return simple("", slow.Listener.Addr().String()) }, Options{})
		for i, s := range []*Server{fast, full} {
			c := dialRaw(t, s, "web", nil)
			io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: a.test\r\n\r\n")
			time.Sleep(700 * time.Millisecond) // past clientWatchDelay: the watch is armed
			c.Close()
			e := <-done
			if !e.cancelled {
				t.Errorf("server %d: the backend request ran its %v: not cancelled when the client left", i, e.after)
			}
			logs := []*logBuf{fastLogs, fullLogs}[i]
			settled(t, logs, 1)
			if l := logs.lines(t)[0]; l["status"] != float64(499) {
				t.Errorf("server %d: logged %v, want status 499", i, l)
			}
		}
		sameLogLine(t, fastLogs.lines(t)[0], fullLogs.lines(t)[0])
		if n := fastCount(t, fast, "web"); n != 1 {
			t.Errorf("FastPath %d, want 1", n)
		}
	})
}

// TestFastPath_accessLog: a fast GET's access log line has the keys and
// values of the same request's line on the full path (but its id and
// duration).
func TestFastPath_accessLog(t *testing.T) {
	_, addr := fastBackend(t)
	fast, full, fastLogs, fullLogs := fastPair(t, func() Config { return simple("", addr) }, Options{})
	var lines [2]map[string]any
	for i, s := range []*Server{fast, full} {
		c := dialRaw(t, s, "web", nil)
		io.WriteString(c, "GET /logged?q=1 HTTP/1.1\r\nHost: a.test\r\nUser-Agent: t/1\r\n\r\n")
		if r, err := c.read(t, "GET"); err != nil || r.status != 200 {
			t.Fatalf("server %d: %d %v", i, r.status, err)
		}
		logs := []*logBuf{fastLogs, fullLogs}[i]
		waitFor(t, func() bool { return len(logs.lines(t)) == 1 })
		lines[i] = logs.lines(t)[0]
		for _, k := range []string{"time", "request", "duration"} {
			if _, ok := lines[i][k]; !ok {
				t.Errorf("server %d: no %s in %v", i, k, lines[i])
			}
			delete(lines[i], k)
		}
	}
	if fastCount(t, fast, "web") != 1 {
		t.Fatal("the request did not take the fast path")
	}
	if !reflect.DeepEqual(lines[0], lines[1]) {
		t.Errorf("access log lines differ:\nfast: %v\nfull: %v", lines[0], lines[1])
	}
}

// TestFastPath_plugins: a plugin without a request filter serving a
// request hook takes every request off the fast path; the standard
// chain, whose plugins all filter, leaves anonymous GETs on it.
func TestFastPath_plugins(t *testing.T) {
	rec, addr := fastBackend(t)
	mem := func() kv.Store {
		m := kv.NewMemory(kv.MemoryOptions{})
		t.Cleanup(func() { m.Close() })
		return m
	}
	t.Run("rewrite hook without a filter", func(t *testing.T) {
		rec.reset()
		h := pluginHost(t, mem(),
			plugin.Spec{Name: "rewrite", Path: guest(t, "route-rewrite"), Hooks: []abi.Hook{abi.HookRewrite}})
		s, logs := start(t, Options{Config: simple("", addr), Plugins: h})
		c := dialRaw(t, s, "web", nil)
		io.WriteString(c, "GET /old/thing HTTP/1.1\r\nHost: a.test\r\n\r\n")
		if r, err := c.read(t, "GET"); err != nil || r.status != 200 {
			t.Fatalf("%d %v", r.status, err)
		}
		if got := rec.all(); len(got) != 1 || got[0].URI != "/new/thing?rewritten=1" {
			t.Errorf("backend got %+v, want the rewritten /new/thing?rewritten=1", got)
		}
		if n := h.Plugin("rewrite").Stats().Calls.Load(); n == 0 {
			t.Error("the plugin was not entered")
		}
		settled(t, logs, 1)
		if n := fastCount(t, s, "web"); n != 0 {
			t.Errorf("FastPath %d, want 0", n)
		}
	})
	t.Run("standard chain, anonymous GET", func(t *testing.T) {
		rec.reset()
		h, lookups := standardChain(t, mem(), addr)
		s, logs := start(t, Options{Config: simple("", addr), Plugins: h})
		c := dialRaw(t, s, "web", nil)
		io.WriteString(c, "GET /echo HTTP/1.1\r\nHost: a.test\r\n\r\nGET /zimbra/x HTTP/1.1\r\nHost: a.test\r\n\r\n")
		for _, want := range []string{"/echo", "/x"} {
			if r, err := c.read(t, "GET"); err != nil || r.status != 200 || r.body != "hello "+want {
				t.Fatalf("%d %q %v, want hello %s", r.status, r.body, err, want)
			}
		}
		// /zimbra/x is url-rewrite's path: the full path.
		settled(t, logs, 2)
		if n := fastCount(t, s, "web"); n != 1 {
			t.Errorf("FastPath %d, want 1 (the anonymous /echo)", n)
		}
		if lookups.Load() != 0 {
			t.Error("an anonymous request made a lookup")
		}
	})
}

// TestFastPath_routes: the fast path picks the route the full path picks
// (host without port in any case, path prefix), uses its pool and header
// timeout, and leaves a no_buffering route to the full path.
func TestFastPath_routes(t *testing.T) {
	recA, addrA := fastBackend(t)
	recB, addrB := fastBackend(t)
	hung, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer hung.Close() // the kernel accepts; nothing answers
	cfg := func() Config {
		c := simple("", addrA)
		c.Pools = append(c.Pools, Pool{Name: "q", Backends: []Backend{{Address: addrB}}},
			Pool{Name: "h", Backends: []Backend{{Address: hung.Addr().String()}}, MaxFails: -1})
		c.Routes = []Route{
			{Name: "b-host", Hosts: []string{"b.test"}, Pool: "q"},
			{Name: "hang", PathPrefix: "/hang/", Pool: "h", HeaderTimeout: 200 * time.Millisecond},
			{Name: "stream", PathPrefix: "/stream/", Pool: "p", NoBuffering: true},
			{Name: "head-only", PathPrefix: "/h/", Methods: []string{"HEAD"}, Pool: "q"},
		}
		return c
	}
	fast, full, fastLogs, fullLogs := fastPair(t, cfg, Options{})
	tests := []struct {
		name, method, host, path string
		status                   int
		backend                  string // "a", "b" or "" (none)
		route                    string
		fast                     bool
	}{
		{"default pool", "GET", "a.test", "/x", 200, "a", "", true},
		{"host route", "GET", "b.test", "/x", 200, "b", "b-host", true},
		{"host route, port and case", "GET", "B.Test:8080", "/x", 200, "b", "b-host", true},
		{"route header timeout", "GET", "a.test", "/hang/x", 504, "", "hang", true},
		{"no_buffering route: full path", "GET", "a.test", "/stream/x", 200, "a", "stream", false},
		{"method route, GET", "GET", "a.test", "/h/x", 200, "a", "", true},
		{"method route, HEAD", "HEAD", "a.test", "/h/x", 200, "b", "head-only", true},
	}
	logged := 0
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logged++
			var lines [2]map[string]any
			for i, s := range []*Server{fast, full} {
				recA.reset()
				recB.reset()
				before := fastCount(t, s, "web")
				c := dialRaw(t, s, "web", nil)
				fmt.Fprintf(c, "%s %s HTTP/1.1\r\nHost: %s\r\n\r\n", tc.method, tc.path, tc.host)
				r, err := c.read(t, tc.method)
				if err != nil || r.status != tc.status {
					t.Errorf("server %d: %d %v, want %d", i, r.status, err, tc.status)
				}
				logs := []*logBuf{fastLogs, fullLogs}[i]
				settled(t, logs, logged)
				lines[i] = logs.lines(t)[logged-1]
				got := ""
				switch {
				case len(recA.all()) == 1 && len(recB.all()) == 0:
					got = "a"
				case len(recA.all()) == 0 && len(recB.all()) == 1:
					got = "b"
				case len(recA.all())+len(recB.all()) > 0:
					got = "several"
				}
				if got != tc.backend {
					t.Errorf("server %d: backend %q, want %q", i, got, tc.backend)
				}
				want := int64(0)
				if tc.fast && i == 0 {
					want = 1
				}
				if moved := fastCount(t, s, "web") - before; moved != want {
					t.Errorf("server %d: FastPath moved by %d, want %d", i, moved, want)
				}
				if route, _ := lines[i]["route"].(string); route != tc.route {
					t.Errorf("server %d: logged route %q, want %q", i, route, tc.route)
				}
			}
			for i := range lines {
				for _, k := range []string{"time", "request", "duration"} {
					delete(lines[i], k)
				}
			}
			if !reflect.DeepEqual(lines[0], lines[1]) {
				t.Errorf("access log lines differ:\nfast: %v\nfull: %v", lines[0], lines[1])
			}
		})
	}
}

// TestFastPath_staleBackendConn: a kept backend connection the backend
// closed while idle is replaced without an error to the client or a
// mark against the backend.
func TestFastPath_staleBackendConn(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(r)
		w.Write([]byte("ok"))
	}))
	srv.Config.IdleTimeout = 50 * time.Millisecond
	srv.Start()
	defer srv.Close()
	fast, full, fastLogs, fullLogs := fastPair(t, func() Config { return simple("", srv.Listener.Addr().String()) }, Options{})
	for i, s := range []*Server{fast, full} {
		rec.reset()
		c := dialRaw(t, s, "web", nil)
		for n := range 3 {
			if n > 0 {
				time.Sleep(300 * time.Millisecond) // the backend closes its idle connection
			}
			io.WriteString(c, "GET /s HTTP/1.1\r\nHost: a.test\r\n\r\n")
			if r, err := c.read(t, "GET"); err != nil || r.status != 200 || r.body != "ok" {
				t.Fatalf("server %d request %d: %d %q %v", i, n, r.status, r.body, err)
			}
		}
		settled(t, []*logBuf{fastLogs, fullLogs}[i], 3)
		if got := rec.all(); len(got) != 3 || got[0].Remote == got[1].Remote || got[1].Remote == got[2].Remote {
			t.Errorf("server %d: backend saw %d requests on %v; want 3 on new connections", i, len(got), got)
		}
		for _, b := range s.Stats().Backends {
			if b.Errors != 0 || !b.Up {
				t.Errorf("server %d: backend %+v after a stale connection", i, b)
			}
		}
		if want := int64(3 * (1 - i)); fastCount(t, s, "web") != want {
			t.Errorf("server %d: FastPath %d, want %d", i, fastCount(t, s, "web"), want)
		}
	}
}

// TestFastPath_connectionLimits: the fast path admits a connection at its
// first request as the full path does, and leaves a refused one to the
// full path's 503.
func TestFastPath_connectionLimits(t *testing.T) {
	_, addr := fastBackend(t)
	for _, lim := range []struct {
		name string
		set  func(c *Config)
	}{
		{"MaxConnections", func(c *Config) { c.MaxConnections = 1 }},
		{"MaxConnectionsPerClient", func(c *Config) {
			c.MaxConnectionsPerClient = 1
			c.PerClientExempt = []netip.Prefix{}
		}},
	} {
		t.Run(lim.name, func(t *testing.T) {
			fast, full, fastLogs, fullLogs := fastPair(t, func() Config {
				c := simple("", addr)
				lim.set(&c)
				return c
			}, Options{})
			var got [2][]string
			for i, s := range []*Server{fast, full} {
				first := dialRaw(t, s, "web", nil)
				io.WriteString(first, "GET /first HTTP/1.1\r\nHost: a.test\r\n\r\n")
				r, err := first.read(t, "GET")
				got[i] = append(got[i], fmt.Sprintf("%d %q %v", r.status, r.body, err))
				second := dialRaw(t, s, "web", nil)
				io.WriteString(second, "GET /second HTTP/1.1\r\nHost: a.test\r\n\r\n")
				r, err = second.read(t, "GET")
				got[i] = append(got[i], fmt.Sprintf("%d close=%v %v", r.status, r.close, err))
				second.Close()
				first.Close()
				settled(t, []*logBuf{fastLogs, fullLogs}[i], 1)
			}
			if want := []string{`200 "hello /first" <nil>`, "503 close=true <nil>"}; !reflect.DeepEqual(got[0], want) || !reflect.DeepEqual(got[1], want) {
				t.Errorf("fast path %q, full path %q; want %q", got[0], got[1], want)
			}
			if n := fastCount(t, fast, "web"); n != 1 {
				t.Errorf("FastPath %d, want 1 (the admitted connection's request)", n)
			}
		})
	}
}

// TestFastPath_bytesPastLength: a backend that sends more than its
// Content-Length on a kept connection gets the same treatment on both
// paths (what the next request on that connection reads).
func TestFastPath_bytesPastLength(t *testing.T) {
	addr, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, err := http.ReadRequest(br); err != nil {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokEXTRA")
		}
	})
	fast, full, fastLogs, fullLogs := fastPair(t, func() Config { return simple("", addr) }, Options{})
	var got [2][]string
	for i, s := range []*Server{fast, full} {
		c := dialRaw(t, s, "web", nil)
		for n := range 3 {
			io.WriteString(c, "GET / HTTP/1.1\r\nHost: a.test\r\n\r\n")
			r, err := c.read(t, "GET")
			got[i] = append(got[i], fmt.Sprintf("%d %q %v", r.status, r.body, err))
			settled(t, []*logBuf{fastLogs, fullLogs}[i], n+1)
		}
	}
	if !reflect.DeepEqual(got[0], got[1]) {
		t.Errorf("fast path %q, full path %q", got[0], got[1])
	}
	t.Logf("%q", got[0])
}

// TestFastPath_shutdown: a fast request in flight when Shutdown starts is
// answered, with Connection: close, and its connection closed.
func TestFastPath_shutdown(t *testing.T) {
	for _, noFast := range []bool{false, true} {
		t.Run(fmt.Sprintf("NoFastPath=%v", noFast), func(t *testing.T) {
			arrived, release := make(chan struct{}, 1), make(chan struct{})
			be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				arrived <- struct{}{}
				<-release
				io.WriteString(w, "done")
			}))
			defer be.Close()
			cfg := simple("", be.Listener.Addr().String())
			cfg.NoFastPath = noFast
			s, logs := start(t, Options{Config: cfg})
			idle := dialRaw(t, s, "web", nil)
			busy := dialRaw(t, s, "web", nil)
			io.WriteString(busy, "GET /wait HTTP/1.1\r\nHost: a.test\r\n\r\n")
			<-arrived
			done := make(chan error, 1)
			go func() { done <- s.Shutdown(context.Background()) }()
			if !idle.closed() { // Shutdown has begun
				t.Error("idle connection not closed by Shutdown")
			}
			close(release)
			r, err := busy.read(t, "GET")
			if err != nil || r.body != "done" || !r.close {
				t.Errorf("in flight: %q %v, Connection: close %v; want done, close", r.body, err, r.close)
			}
			if !busy.closed() {
				t.Error("the connection stayed open after its last response")
			}
			if err := <-done; err != nil {
				t.Errorf("Shutdown: %v", err)
			}
			settled(t, logs, 1)
			if want := map[bool]int64{false: 1, true: 0}[noFast]; fastCount(t, s, "web") != want {
				t.Errorf("FastPath %d, want %d", fastCount(t, s, "web"), want)
			}
		})
	}
}

// FuzzFastPathBackend: whatever bytes a backend answers a request with
// (then closing), on the fast path and on the full path, the client gets
// well-formed responses or a cut connection within the timeouts, never a
// hang; the proxy does not panic, and a new connection is served after it.
func FuzzFastPathBackend(f *testing.F) {
	for _, seed := range []string{
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
		"HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 204 No Content\r\n\r\n",
		"HTTP/1.0 200 OK\r\n\r\nuntil the close",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("b", 5000) + "\r\nContent-Length: 0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nContent-Length: 6\r\n\r\ndata:\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\n\r\n",
		"HTTP/1.1 2000 OK\r\n\r\n",
		"garbage\r\n\r\n",
		"",
	} {
		f.Add([]byte(seed))
	}
	// One backend and one pair of servers for all the inputs (a pair per
	// input runs the machine out of ports at fuzzing speed).
	var answer atomic.Pointer[[]byte]
	addr, _ := rawBackend(f, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err == nil {
			c.Write(*answer.Load())
		}
	})
	cfg := func() Config {
		c := simple("", addr)
		c.UpstreamHeaderTimeout = 2 * time.Second
		return c
	}
	fast, full, fastLogs, fullLogs := fastPair(f, cfg, Options{})
	f.Fuzz(func(t *testing.T, in []byte) {
		answer.Store(&in)
		before := fastCount(t, fast, "web")
		logged := [2]int{len(fastLogs.String()), len(fullLogs.String())}
		for _, s := range []*Server{fast, full} {
			for i := range 2 {
				c := dialRaw(t, s, "web", nil)
				c.SetDeadline(time.Now().Add(10 * time.Second))
				io.WriteString(c, "GET /x HTTP/1.1\r\nHost: a.test\r\n\r\n")
				for n := 0; ; n++ {
					r, headErr, _ := c.tryRead(http.MethodGet)
					var ne net.Error
					if errors.As(headErr, &ne) && ne.Timeout() {
						t.Fatalf("connection %d: no answer and no close within 10 s", i)
					}
					if headErr != nil || r.status >= 200 || r.status == http.StatusSwitchingProtocols || n > 10 {
						break // an answer, or the connection cut (a body cut short is a cut too)
					}
				}
				c.Close()
			}
		}
		// Counted after the response went out: wait for the second.
		for deadline := time.Now().Add(5 * time.Second); fastCount(t, fast, "web") < before+2 && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		if n, m := fastCount(t, fast, "web")-before, fastCount(t, full, "web"); n != 2 || m != 0 {
			t.Errorf("FastPath %d and %d (NoFastPath), want 2 and 0", n, m)
		}
		for i, logs := range []*logBuf{fastLogs, fullLogs} {
			if l := logs.String()[logged[i]:]; strings.Contains(l, "panic") {
				t.Fatalf("the proxy panicked:\n%s", l)
			}
		}
	})
}

// TestFastPath_countedBeforeAnswer: a request is in the counters by the
// time its client has the answer, on both paths (the full path's handler
// returns before the server flushes; the fast path counts before its last
// flush), so a client that reads /metrics after a response sees it.
func TestFastPath_countedBeforeAnswer(t *testing.T) {
	be := newBackend(t, "a", nil)
	fast, full, _, _ := fastPair(t, func() Config { return simple("", be.addr) }, Options{})
	for _, s := range []*Server{fast, full} {
		c := dialRaw(t, s, "web", nil)
		for i := 1; i <= 200; i++ {
			io.WriteString(c, "GET /echo HTTP/1.1\r\nHost: a.test\r\n\r\n")
			if r, err := c.read(t, "GET"); err != nil || r.status != 200 {
				t.Fatalf("request %d: %d %v", i, r.status, err)
			}
			var n uint64
			for _, l := range s.Stats().Listeners {
				if l.Name == "web" {
					n = l.Duration.Count
				}
			}
			if n != uint64(i) {
				t.Fatalf("after %d answers the listener counted %d requests", i, n)
			}
		}
	}
}
