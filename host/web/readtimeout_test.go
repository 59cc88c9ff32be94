package web

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// stallBackend answers /stall with a head promising 100,000 bytes, 1,000
// of them, and then nothing until the connection closes; /pause with
// 2,000 bytes, the second 1,000 after 600 ms; anything else with
// "hello <path>".
func stallBackend(t *testing.T) string {
	t.Helper()
	addr, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		for {
			req, err := http.ReadRequest(br)
			if err != nil {
				return
			}
			if req.URL.Path == "/pause" {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 2000\r\n\r\n"+strings.Repeat("p", 1000))
				time.Sleep(600 * time.Millisecond)
				io.WriteString(c, strings.Repeat("q", 1000))
				continue
			}
			if req.URL.Path == "/stall" {
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("s", 1000))
				io.Copy(io.Discard, br) // until the proxy closes it
				return
			}
			b := "hello " + req.URL.Path
			io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: "+strconv.Itoa(len(b))+"\r\n\r\n"+b)
		}
	})
	return addr
}

// TestUpstreamReadTimeout: a backend that stops mid-body is cut after
// upstream_read_timeout, on the event loop, on a goroutine (fast path
// and full path) and on an h2 stream; the client's response ends
// incomplete, the request is logged with the failure, and the next
// request is served.
func TestUpstreamReadTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name                       string
		loop, full, h2, tls, route bool
	}{
		{name: "event loop", loop: true},
		{name: "event loop, TLS", loop: true, tls: true},
		{name: "goroutine, fast path"},
		{name: "goroutine, full path", full: true},
		{name: "h2, fast path", h2: true},
		{name: "h2, full path", h2: true, full: true},
		// The timeout a route's read_timeout gives, the web-level one an hour.
		{name: "event loop, route", loop: true, route: true},
		{name: "goroutine, fast path, route", route: true},
		{name: "goroutine, full path, route", full: true, route: true},
		{name: "h2, fast path, route", h2: true, route: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := simple("", stallBackend(t))
			cfg.UpstreamReadTimeout = timeout
			if tc.route {
				cfg.UpstreamReadTimeout = time.Hour
				cfg.Routes = []Route{{PathPrefix: "/stall", Pool: "p", ReadTimeout: timeout}}
			}
			cfg.NoFastPath = tc.full
			s, logs, tlsConf := startTimeoutCase(t, cfg, tc.loop, tc.tls, tc.h2)
			sent := time.Now()
			if tc.h2 {
				c := h2Client(t, tlsConf)
				// The stream is reset: before its headers (the buffered
				// head never left) or after them.
				resp, err := c.Get("https://" + s.Addr("https").String() + "/stall")
				if err == nil {
					var n int64
					n, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil || n >= 100000 {
						t.Errorf("read %d bytes, error %v; want the stream cut before the 100,000", n, err)
					}
				}
			} else {
				a := dialRaw(t, s, "web", tlsConf)
				io.WriteString(a, getReq("/stall"))
				// The connection is cut: before the head (a goroutine had
				// it buffered) or after it.
				r, headErr, err := a.tryRead("GET")
				if headErr == nil && (err == nil || len(r.body) >= 100000) {
					t.Errorf("read %d bytes, error %v; want the connection cut before the 100,000", len(r.body), err)
				}
			}
			settled(t, logs, 1)
			if d := time.Since(sent); d < timeout {
				t.Errorf("the request ended %v after it was sent, before the read timeout %v", d, timeout)
			}
			if l := logs.lines(t)[0]; !strings.Contains(asString(l["error"]), "backend body failed") {
				t.Errorf("logged %v, want a backend body failure", l)
			}
			name := "web"
			if tc.h2 {
				name = "https"
			}
			if st := listenerStatsOf(t, s, name); st.ReadTimeouts != 1 || st.SendTimeouts != 0 {
				t.Errorf("ReadTimeouts %d, SendTimeouts %d; want 1 and 0", st.ReadTimeouts, st.SendTimeouts)
			}
			if tc.h2 {
				c := h2Client(t, tlsConf)
				if r, body, _ := h2Get(t, c, s, "GET", "/next"); r.StatusCode != 200 || body != "hello /next" {
					t.Errorf("the next request: %d %q", r.StatusCode, body)
				}
			} else {
				b := dialRaw(t, s, "web", tlsConf)
				b.exchange(t, getReq("/next"), "GET", "hello /next")
			}
		})
	}
}

func asString(v any) string { s, _ := v.(string); return s }

// TestUpstreamReadTimeout_routeLonger: a route's longer read_timeout lets
// a body pause past the web-level timeout and arrive whole.
func TestUpstreamReadTimeout_routeLonger(t *testing.T) {
	for _, tc := range []struct {
		name           string
		loop, full, h2 bool
	}{
		{name: "event loop", loop: true},
		{name: "goroutine, fast path"},
		{name: "goroutine, full path", full: true},
		{name: "h2, fast path", h2: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := simple("", stallBackend(t))
			cfg.UpstreamReadTimeout = 200 * time.Millisecond // the 600 ms pause would be cut
			cfg.Routes = []Route{{PathPrefix: "/pause", Pool: "p", ReadTimeout: time.Hour}}
			cfg.NoFastPath = tc.full
			s, _, tlsConf := startTimeoutCase(t, cfg, tc.loop, false, tc.h2)
			want := strings.Repeat("p", 1000) + strings.Repeat("q", 1000)
			if tc.h2 {
				if r, body, _ := h2Get(t, h2Client(t, tlsConf), s, "GET", "/pause"); r.StatusCode != 200 || body != want {
					t.Errorf("got %d and %d bytes, want 200 and the 2,000", r.StatusCode, len(body))
				}
				return
			}
			dialRaw(t, s, "web", nil).exchange(t, getReq("/pause"), "GET", want)
		})
	}
}
