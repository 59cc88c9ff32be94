package web

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
)

// rawRequest sends a request written by hand (headers a Go client would
// not send as given) and returns the response, its body read whole.
func rawRequest(t *testing.T, addr, head string) (*http.Response, string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestForward_requestHeaders: hop-by-hop headers (and those named in
// Connection), Forwarded and the client's X-Forwarded-* do not reach the
// backend; TE: trailers does when the client offered it; an absent
// User-Agent stays absent (not Go's default), a present one is kept.
func TestForward_requestHeaders(t *testing.T) {
	be := newBackend(t, "a", nil)
	for _, cl := range clients {
		t.Run(cl, func(t *testing.T) {
			s := startClient(t, cl, be.addr, nil)
			addr := s.Addr("web").String()
			tests := []struct {
				name   string
				header string            // request header lines
				want   map[string]string // at the backend; "" absent
			}{
				{"hop-by-hop", "Connection: X-Hop, x-other-hop\r\nX-Hop: 1\r\nX-Other-Hop: 2\r\n" +
					"Keep-Alive: timeout=5\r\nProxy-Connection: keep-alive\r\nProxy-Authorization: Basic Zm9vOmJhcg==\r\n" +
					"Proxy-Authenticate: Basic\r\nTrailer: X-Sum\r\nX-Keep: yes\r\n",
					map[string]string{"Connection": "", "X-Hop": "", "X-Other-Hop": "", "Keep-Alive": "", "Proxy-Connection": "",
						"Proxy-Authorization": "", "Proxy-Authenticate": "", "Trailer": "", "X-Keep": "yes"}},
				{"te trailers kept", "Te: deflate, Trailers\r\n", map[string]string{"Te": "trailers"}},
				{"te without trailers", "Te: deflate\r\n", map[string]string{"Te": ""}},
				{"te trailers named in connection", "Connection: TE\r\nTe: trailers\r\n", map[string]string{"Te": "trailers", "Connection": ""}},
				{"forwarding headers", "Forwarded: for=192.0.2.1\r\nX-Forwarded-Host: evil.test\r\nX-Forwarded-Proto: https\r\nX-Forwarded-For: 198.51.100.1\r\n",
					map[string]string{"Forwarded": "", "X-Forwarded-Host": "x.test", "X-Forwarded-Proto": "http",
						"X-Forwarded-For": "198.51.100.1, 127.0.0.1", "X-Real-Ip": "127.0.0.1"}},
				{"no user agent", "", map[string]string{"User-Agent": ""}},
				{"user agent kept", "User-Agent: curl/8\r\n", map[string]string{"User-Agent": "curl/8"}},
			}
			for _, tc := range tests {
				t.Run(tc.name, func(t *testing.T) {
					resp, body := rawRequest(t, addr, "GET /echo HTTP/1.1\r\nHost: x.test\r\n"+tc.header+"Connection: close\r\n\r\n")
					if resp.StatusCode != 200 {
						t.Fatalf("%s %s", resp.Status, body)
					}
					var got seen
					if err := json.Unmarshal([]byte(body), &got); err != nil {
						t.Fatalf("backend answer %q: %v", body, err)
					}
					for k, want := range tc.want {
						vs, ok := got.Header[k]
						if want == "" {
							if ok {
								t.Errorf("backend saw %s: %q, want none", k, vs)
							}
							continue
						}
						if g := strings.Join(vs, ", "); g != want {
							t.Errorf("backend saw %s: %q, want %q", k, g, want)
						}
					}
				})
			}
		})
	}
}

// TestForward_responseHeaders: the backend's hop-by-hop headers (and
// those its Connection names) do not reach the client; the others do,
// with every value.
func TestForward_responseHeaders(t *testing.T) {
	addr, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			if _, ok := readHead(br); !ok {
				return
			}
			io.WriteString(c, "HTTP/1.1 200 OK\r\nConnection: X-Resp-Hop, keep-alive\r\nX-Resp-Hop: 1\r\n"+
				"Keep-Alive: timeout=5\r\nProxy-Authenticate: Basic\r\nProxy-Connection: keep-alive\r\nUpgrade: h2c\r\n"+
				"Set-Cookie: a=1\r\nSet-Cookie: b=2\r\nX-Keep: yes\r\nContent-Length: 2\r\n\r\nok")
		}
	})
	for _, cl := range clients {
		t.Run(cl, func(t *testing.T) {
			s := startClient(t, cl, addr, nil)
			resp, body := rawRequest(t, s.Addr("web").String(), "GET / HTTP/1.1\r\nHost: x.test\r\n\r\n")
			if resp.StatusCode != 200 || body != "ok" {
				t.Fatalf("%s %q", resp.Status, body)
			}
			tests := []struct{ header, want string }{
				{"X-Resp-Hop", ""},
				{"Keep-Alive", ""},
				{"Proxy-Authenticate", ""},
				{"Proxy-Connection", ""},
				{"Upgrade", ""},
				{"Connection", ""},
				{"Set-Cookie", "a=1|b=2"},
				{"X-Keep", "yes"},
				{"Content-Length", "2"},
			}
			for _, tc := range tests {
				if g := strings.Join(resp.Header[tc.header], "|"); g != tc.want {
					t.Errorf("client got %s: %q, want %q", tc.header, g, tc.want)
				}
			}
		})
	}
}

// TestForward_trailers: response trailers, announced and not, reach the
// client as trailers; request trailers reach the backend.
func TestForward_trailers(t *testing.T) {
	be := newBackend(t, "t", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Sum")
		io.WriteString(w, "body "+string(b))
		w.Header().Set("X-Sum", "five")
		w.Header().Set(http.TrailerPrefix+"X-Late", "late")
		w.Header().Set(http.TrailerPrefix+"X-Req-Sum", r.Trailer.Get("X-Req-Sum"))
	}))
	for _, cl := range clients {
		t.Run(cl, func(t *testing.T) {
			s := startClient(t, cl, be.addr, nil)
			c := client(t, nil)
			req, _ := http.NewRequest(http.MethodPost, urlOf(s, "web", "/t"), io.MultiReader(strings.NewReader("a"), strings.NewReader("b")))
			req.ContentLength = -1
			req.Trailer = http.Header{"X-Req-Sum": nil}
			req.Body = readerFunc(req.Body, func() { req.Trailer.Set("X-Req-Sum", "two") })
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := io.ReadAll(resp.Body)
			resp.Body.Close()
			if err != nil || string(b) != "body ab" {
				t.Fatalf("body %q, %v", b, err)
			}
			tests := []struct{ trailer, want string }{
				{"X-Sum", "five"},
				{"X-Late", "late"},
				{"X-Req-Sum", "two"},
			}
			for _, tc := range tests {
				if g := resp.Trailer.Get(tc.trailer); g != tc.want {
					t.Errorf("trailer %s = %q, want %q (trailers %v)", tc.trailer, g, tc.want, resp.Trailer)
				}
			}
		})
	}
}

// eofHook is a request body that calls fn once it reached its end, so a
// client's request trailers can be set after the body, as an upload's
// checksum would be.
type eofHook struct {
	io.ReadCloser
	fn func()
}

func (e *eofHook) Read(p []byte) (int, error) {
	n, err := e.ReadCloser.Read(p)
	if err == io.EOF && e.fn != nil {
		e.fn()
		e.fn = nil
	}
	return n, err
}

func readerFunc(rc io.ReadCloser, fn func()) io.ReadCloser { return &eofHook{ReadCloser: rc, fn: fn} }

// TestForward_flushes: an event stream (even with a Content-Length) and a
// response without a Content-Length reach the client write by write: the
// client reads the first event before the backend sends the second. A
// response with a Content-Length is not flushed per write (the header
// timeout's route test covers NoBuffering).
func TestForward_flushes(t *testing.T) {
	first, second := "data: one\n\n", "data: two\n\n"
	next := make(chan struct{}, 1)
	be := newBackend(t, "f", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/sse":
			w.Header().Set("Content-Type", "text/event-stream; charset=utf-8")
			w.Header().Set("Content-Length", fmt.Sprint(len(first)+len(second)))
		case "/chunked":
			w.Header().Set("Content-Type", "text/plain")
		}
		io.WriteString(w, first)
		http.NewResponseController(w).Flush()
		select {
		case <-next:
		case <-time.After(10 * time.Second):
		}
		io.WriteString(w, second)
	}))
	for _, cl := range clients {
		for _, path := range []string{"/sse", "/chunked"} {
			t.Run(cl+path, func(t *testing.T) {
				s := startClient(t, cl, be.addr, nil)
				c := client(t, nil)
				// The header and the first event must both arrive while
				// the backend holds the second.
				type result struct {
					resp *http.Response
					read string
				}
				got := make(chan result, 1)
				go func() {
					resp, err := c.Get(urlOf(s, "web", path))
					if err != nil {
						got <- result{read: err.Error()}
						return
					}
					b := make([]byte, len(first))
					_, err = io.ReadFull(resp.Body, b)
					got <- result{resp, fmt.Sprint(string(b), err)}
				}()
				var resp *http.Response
				released := false
				select {
				case g := <-got:
					resp = g.resp
					if g.read != first+"<nil>" {
						t.Errorf("first read %q", g.read)
					}
				case <-time.After(5 * time.Second):
					t.Error("the first event did not reach the client before the second was sent")
					next <- struct{}{}
					released = true
					resp = (<-got).resp
				}
				if resp == nil {
					t.FailNow()
				}
				defer resp.Body.Close()
				if !released {
					next <- struct{}{}
				}
				rest, err := io.ReadAll(resp.Body)
				if err != nil || string(rest) != second {
					t.Errorf("rest %q, %v", rest, err)
				}
			})
		}
	}
}

// TestForward_backendDiesMidBody: a backend that closes its connection in
// the middle of a body (with a Content-Length, and chunked) makes the
// proxy cut the client's connection: the client sees an error, never a
// complete response; the access log says why.
func TestForward_backendDiesMidBody(t *testing.T) {
	addr, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		h, ok := readHead(br)
		if !ok {
			return
		}
		if h.Get("X-Mode") == "chunked" {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n")
		} else {
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nhello")
		}
		time.Sleep(50 * time.Millisecond) // the proxy relays the start first
		// The connection closes when serve returns.
	})
	for _, cl := range clients {
		for _, mode := range []string{"length", "chunked"} {
			t.Run(cl+"/"+mode, func(t *testing.T) {
				cfg := simple("", addr)
				cfg.UpstreamClient = cl
				s, logs := start(t, Options{Config: cfg})
				c := client(t, nil)
				req, _ := http.NewRequest(http.MethodGet, urlOf(s, "web", "/"), nil)
				req.Header.Set("X-Mode", mode)
				// With a Content-Length the start of the body is still in
				// the server's buffer when the connection is cut: the
				// client may see no response at all. Chunked (no length:
				// flushed per write), it sees the start, then the cut.
				resp, err := c.Do(req)
				if err == nil {
					var b []byte
					b, err = io.ReadAll(resp.Body)
					resp.Body.Close()
					if err == nil {
						t.Errorf("client read %q without an error: a cut body looked complete", b)
					}
					if mode == "chunked" && string(b) != "hello" {
						t.Errorf("client read %q, want the start of the body", b)
					}
				} else if mode == "chunked" {
					t.Errorf("no response (%v); the start of a chunked body is flushed", err)
				}
				// The access log line is written as the handler unwinds.
				deadline := time.Now().Add(5 * time.Second)
				for !strings.Contains(logs.String(), "backend body failed") && time.Now().Before(deadline) {
					time.Sleep(10 * time.Millisecond)
				}
				if !strings.Contains(logs.String(), "backend body failed") {
					t.Errorf("access log does not say the backend body failed:\n%s", logs.String())
				}
			})
		}
	}
}

// TestRemoveHopHeaders is removeHopHeaders on its own, request and
// response.
func TestRemoveHopHeaders(t *testing.T) {
	tests := []struct {
		name    string
		in      http.Header
		request bool
		want    []string // the keys left, sorted
	}{
		{"nothing to remove", http.Header{"Accept": {"*/*"}, "X-A": {"1"}}, false, []string{"Accept", "X-A"}},
		{"known", http.Header{"Connection": {"keep-alive"}, "Keep-Alive": {"5"}, "Te": {"trailers"}, "Trailer": {"X"},
			"Transfer-Encoding": {"chunked"}, "Upgrade": {"h2c"}, "Proxy-Connection": {"x"}, "Proxy-Authenticate": {"x"},
			"Proxy-Authorization": {"x"}, "X-A": {"1"}}, false, []string{"X-A"}},
		{"named in connection", http.Header{"Connection": {"x-a, X-B", " x-c "}, "X-A": {"1"}, "X-B": {"2"}, "X-C": {"3"}, "X-D": {"4"}},
			false, []string{"X-D"}},
		{"forwarding kept in a response", http.Header{"X-Forwarded-For": {"a"}, "Forwarded": {"b"}}, false, []string{"Forwarded", "X-Forwarded-For"}},
		{"forwarding removed from a request", http.Header{"X-Forwarded-For": {"a"}, "X-Forwarded-Host": {"h"},
			"X-Forwarded-Proto": {"p"}, "Forwarded": {"b"}, "X-Real-Ip": {"c"}}, true, []string{"X-Real-Ip"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			removeHopHeaders(tc.in, tc.request)
			var keys []string
			for k := range tc.in {
				keys = append(keys, k)
			}
			if g, w := fmt.Sprint(slices.Sorted(slices.Values(keys))), fmt.Sprint(tc.want); g != w {
				t.Errorf("left %s, want %s", g, w)
			}
		})
	}
}

func TestHeaderHasToken(t *testing.T) {
	tests := []struct {
		values []string
		want   bool
	}{
		{nil, false},
		{[]string{"trailers"}, true},
		{[]string{"deflate, Trailers"}, true},
		{[]string{"deflate", " trailers "}, true},
		{[]string{"trailersx"}, false},
		{[]string{"deflate;q=0.5"}, false},
	}
	for _, tc := range tests {
		if g := headerHasToken(tc.values, "trailers"); g != tc.want {
			t.Errorf("headerHasToken(%q) = %v, want %v", tc.values, g, tc.want)
		}
	}
}

// TestForward_failedRewriteLeavesNoHeader: a rewrite plugin that sets a
// header and then traps fails open (the request goes on), and the header
// it set does not reach the backend: the host restores the fields' header
// map from its snapshot, and the proxy sends that map, not the request's
// own (which kept the failed call's write).
func TestForward_failedRewriteLeavesNoHeader(t *testing.T) {
	be := newBackend(t, "a", nil)
	h := pluginHost(t, kv.NewMemory(kv.MemoryOptions{}), plugin.Spec{Name: "verdict", Path: guest(t, "verdict")})
	s, logs := start(t, Options{Config: simple("", be.addr), Plugins: h})
	c := client(t, nil)
	for _, upgrade := range []bool{false, true} {
		hdr := []string{"X-Test-Rewrite", "header-then-trap", "X-Keep", "yes"}
		if upgrade {
			// An Upgrade request goes through the reverse proxy; the
			// echo backend answers it as a plain request.
			hdr = append(hdr, "Connection", "Upgrade", "Upgrade", "test")
		}
		resp, got := get(t, c, urlOf(s, "web", "/echo"), hdr...)
		if resp.StatusCode != 200 {
			t.Fatalf("upgrade %v: %s %q (log %s)", upgrade, resp.Status, got.Backend, logs.String())
		}
		if v, ok := got.Header["X-Partial"]; ok {
			t.Errorf("upgrade %v: backend saw X-Partial %q from a rewrite call that trapped", upgrade, v)
		}
		if got.Header.Get("X-Keep") != "yes" {
			t.Errorf("upgrade %v: backend lost X-Keep: %v", upgrade, got.Header)
		}
	}
}
