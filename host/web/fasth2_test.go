package web

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
)

// h2Client is an h2 client of a TLS listener made with fastTLS's
// configuration.
func h2Client(t *testing.T, tc *tls.Config) *http.Client {
	t.Helper()
	tc = tc.Clone()
	tc.NextProtos = []string{"h2"}
	tr := &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: true}
	return client(t, tr)
}

// h2Get sends a request over h2 to the listener "https" of s and reads
// the whole answer; the 1xx statuses seen come back too.
func h2Get(t *testing.T, c *http.Client, s *Server, method, path string, hdr ...string) (*http.Response, string, []int) {
	t.Helper()
	var interim []int
	var mu sync.Mutex
	ctx := httptrace.WithClientTrace(context.Background(), &httptrace.ClientTrace{
		Got1xxResponse: func(code int, _ textproto.MIMEHeader) error {
			mu.Lock()
			interim = append(interim, code)
			mu.Unlock()
			return nil
		},
	})
	req, err := http.NewRequestWithContext(ctx, method, "https://a.test"+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.URL.Host = s.Addr("https").String()
	req.Host = "a.test"
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("%s %s: body: %v", method, path, err)
	}
	if resp.ProtoMajor != 2 {
		t.Fatalf("%s %s: answered in %s", method, path, resp.Proto)
	}
	return resp, string(b), interim
}

// TestFastH2_sameAsFullPath sends each request over h2 to a server with
// the fast path and to one without, and wants the same from both, as
// TestFastPath_sameAsFullPath does for HTTP/1.1: what the backend got,
// what the client got (status, headers but Date, body, 1xx), the access
// log line; and the fast path taken exactly by the streams it is for.
func TestFastH2_sameAsFullPath(t *testing.T) {
	rec, addr := fastBackend(t)
	rec10, addr10 := http10Backend(t)
	certs, tlsConf := fastTLS(t)
	tests := []struct {
		name      string
		method    string
		path      string
		hdr       []string
		fast      bool
		http10    bool
		rawAnswer string
		setup     func(c *Config)
	}{
		{name: "plain GET", path: "/plain", hdr: []string{"User-Agent", "t/1", "Accept", "*/*"}, fast: true},
		{name: "HEAD", method: "HEAD", path: "/head", fast: true},
		{name: "HEAD of a big body", method: "HEAD", path: "/big", fast: true},
		{name: "GET with query", path: "/q?a=1&b=%2F&c", fast: true},
		{name: "two cookie fields joined", path: "/cookies", hdr: []string{"Cookie", "a=1", "Cookie", "b=2"}, fast: true},
		{name: "repeated field", path: "/multi", hdr: []string{"X-Multi", "1", "X-Multi", "2"}, fast: true},
		{name: "Via configured", path: "/via", fast: true, setup: func(c *Config) { c.Via = "postern-test" }},

		{name: "full: Authorization", path: "/auth", hdr: []string{"Authorization", "Basic dXNlcjpwdw=="}},
		{name: "full: auth cookie", path: "/cookie", hdr: []string{"Cookie", "a=b; ZM_AUTH_TOKEN=0_abc"}},
		{name: "full: X-Forwarded-For", path: "/xff", hdr: []string{"X-Forwarded-For", "192.0.2.1"}},
		{name: "full: escape in path", path: "/a%41b"},
		{name: "full: OPTIONS", method: "OPTIONS", path: "/opt"},

		{name: "chunked response", path: "/chunked", fast: true},
		{name: "103 then 200", path: "/early", fast: true},
		{name: "204", path: "/204", fast: true},
		{name: "304", path: "/304", hdr: []string{"If-None-Match", `"v1"`}, fast: true},
		{name: "1 MiB body", path: "/big", fast: true},
		{name: "response head over 4 KiB", path: "/bighead", fast: true},
		{name: "backend Connection close", path: "/close", fast: true},
		{name: "HTTP/1.0 backend without length", path: "/old", fast: true, http10: true},
		{name: "backend without Content-Type or Date", path: "/bare", fast: true,
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
			cfg := func() Config {
				c := simple("", backend)
				c.Listeners = []Listener{{Name: "https", TLS: true}}
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
			var obs [2]fastObs
			for i, s := range []*Server{fast, full} {
				r.reset()
				before := fastCount(t, s, "https")
				c := h2Client(t, tlsConf)
				resp, body, interim := h2Get(t, c, s, method, tc.path, tc.hdr...)
				if resp.StatusCode >= 200 && resp.Header.Get("Date") == "" {
					t.Errorf("server %d: a %d without Date", i, resp.StatusCode)
				}
				settled(t, []*logBuf{fastLogs, fullLogs}[i], 1)
				obs[i] = observe(r, []rawResponse{{status: resp.StatusCode, header: resp.Header, body: body, proto: resp.Proto}})
				obs[i].Resps = append(obs[i].Resps, fmt.Sprint("1xx ", interim))
				moved := fastCount(t, s, "https") - before
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
			for _, b := range obs[0].Backend {
				want := map[string]string{"X-Forwarded-For": "127.0.0.1", "X-Real-Ip": "127.0.0.1", "X-Forwarded-Host": "a.test",
					"X-Forwarded-Proto": "https"}
				switch tc.name {
				case "full: X-Forwarded-For":
					want["X-Forwarded-For"] = "192.0.2.1, 127.0.0.1"
				case "Via configured":
					want["Via"] = "2.0 postern-test"
				case "two cookie fields joined":
					want["Cookie"] = "a=1; b=2"
				case "repeated field":
					want["X-Multi"] = "1,2"
				}
				for k, v := range want {
					if got := strings.Join(b.Header[k], ","); got != v {
						t.Errorf("backend %s = %q, want %q", k, got, v)
					}
				}
			}
			if tc.name == "103 then 200" && !strings.Contains(obs[0].Resps[1], "103") {
				t.Errorf("no 103 reached the client: %v", obs[0].Resps)
			}
		})
	}
}

// TestFastH2_concurrentStreams: many streams at once on one connection,
// each answered with its own path, all on the fast path, the backend
// connections kept.
func TestFastH2_concurrentStreams(t *testing.T) {
	_, addr := fastBackend(t)
	certs, tlsConf := fastTLS(t)
	cfg := simple("", addr)
	cfg.Listeners = []Listener{{Name: "https", TLS: true}}
	s, _ := start(t, Options{Config: cfg, Certs: certs})
	c := h2Client(t, tlsConf)
	before := fastCount(t, s, "https")
	var wg sync.WaitGroup
	const workers, each = 20, 25
	for i := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range each {
				p := fmt.Sprintf("/p%d-%d", i, j)
				req, _ := http.NewRequest("GET", "https://"+s.Addr("https").String()+p, nil)
				req.Host = "a.test"
				resp, err := c.Do(req)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if string(b) != "hello "+p || resp.ProtoMajor != 2 {
					t.Errorf("%s: %s %q", p, resp.Proto, b)
				}
			}
		}()
	}
	wg.Wait()
	// An h2 stream is counted just after its response is written (the
	// HTTP/1.1 fast path counts before its last flush): the last ones
	// may still be counting.
	deadline := time.Now().Add(5 * time.Second)
	for fastCount(t, s, "https")-before < workers*each && time.Now().Before(deadline) {
		time.Sleep(time.Millisecond)
	}
	if got := fastCount(t, s, "https") - before; got != workers*each {
		t.Errorf("FastPath moved by %d, want %d", got, workers*each)
	}
}

// TestFastH2_failures: a dead backend is retried on the other, none
// alive is 502 (connection refused), then 503 once it is marked down, as
// on the HTTP/1.1 fast path; a late backend is 504, and a body cut short resets the stream:
// the client sees an error, not a short body.
func TestFastH2_failures(t *testing.T) {
	_, live := fastBackend(t)
	dead := deadAddr(t)
	certs, tlsConf := fastTLS(t)
	cut, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n"+strings.Repeat("x", 5000))
	})
	late, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		http.ReadRequest(br)
		time.Sleep(3 * time.Second)
	})
	for _, tc := range []struct {
		name     string
		backends []string
		status   int
		bodyErr  bool
		setup    func(c *Config)
	}{
		{name: "dead then live", backends: []string{dead, live}, status: 200},
		{name: "all dead", backends: []string{dead}, status: 502},
		{name: "late", backends: []string{late}, status: 504, setup: func(c *Config) { c.UpstreamHeaderTimeout = 300 * time.Millisecond }},
		{name: "body cut", backends: []string{cut}, bodyErr: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := simple("", tc.backends...)
			cfg.Pools[0].Balance = "round-robin"
			cfg.Listeners = []Listener{{Name: "https", TLS: true}}
			if tc.setup != nil {
				tc.setup(&cfg)
			}
			s, logs := start(t, Options{Config: cfg, Certs: certs})
			c := h2Client(t, tlsConf)
			// The second request finds a dead backend marked down: 503
			// where the first got 502, on both paths.
			for i := range 2 {
				if i == 1 && tc.status >= 500 {
					tc.status = 503
				}
				req, _ := http.NewRequest("GET", "https://"+s.Addr("https").String()+"/x", nil)
				resp, err := c.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				_, err = io.ReadAll(resp.Body)
				resp.Body.Close()
				if tc.bodyErr {
					if err == nil {
						t.Fatal("a cut body read to its end without an error")
					}
					continue
				}
				if err != nil || resp.StatusCode != tc.status {
					t.Fatalf("status %d (%v), want %d", resp.StatusCode, err, tc.status)
				}
			}
			settled(t, logs, 2)
			if fastCount(t, s, "https") != 2 {
				t.Errorf("FastPath %d, want 2", fastCount(t, s, "https"))
			}
		})
	}
}

// deadAddr is an address nothing listens on.
func deadAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

// TestFastH2_clientCancel: a client that cancels its stream while the
// backend has not answered ends the backend exchange (the backend sees
// its connection close) and the request is logged 499; the connection
// goes on serving.
func TestFastH2_clientCancel(t *testing.T) {
	gone := make(chan struct{}, 1)
	slow, _ := rawBackend(t, func(c net.Conn, br *bufio.Reader) {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		if req.URL.Path == "/slow" {
			c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := br.ReadByte(); errors.Is(err, io.EOF) {
				gone <- struct{}{}
			}
			return
		}
		io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	})
	certs, tlsConf := fastTLS(t)
	cfg := simple("", slow)
	cfg.Listeners = []Listener{{Name: "https", TLS: true}}
	s, logs := start(t, Options{Config: cfg, Certs: certs})
	c := h2Client(t, tlsConf)
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "GET", "https://"+s.Addr("https").String()+"/slow", nil)
	go func() { time.Sleep(200 * time.Millisecond); cancel() }()
	if _, err := c.Do(req); err == nil {
		t.Fatal("a canceled request succeeded")
	}
	select {
	case <-gone:
	case <-time.After(5 * time.Second):
		t.Fatal("the backend connection was not closed after the client canceled")
	}
	settled(t, logs, 1)
	if st := logs.lines(t)[0]["status"]; st != float64(499) {
		t.Errorf("logged status %v, want 499", st)
	}
	resp, body, _ := h2Get(t, c, s, "GET", "/after")
	if resp.StatusCode != 200 || body != "ok" {
		t.Errorf("after the cancel: %d %q", resp.StatusCode, body)
	}
}

// TestFastH2_slowReader: a 1 MiB response to a client that reads slowly
// comes whole (flow control holds the stream, not the connection's
// other streams).
func TestFastH2_slowReader(t *testing.T) {
	_, addr := fastBackend(t)
	certs, tlsConf := fastTLS(t)
	cfg := simple("", addr)
	cfg.Listeners = []Listener{{Name: "https", TLS: true}}
	s, _ := start(t, Options{Config: cfg, Certs: certs})
	c := h2Client(t, tlsConf)
	req, _ := http.NewRequest("GET", "https://"+s.Addr("https").String()+"/big", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	// Another stream is served while the big one waits for its reader.
	r2, body, _ := h2Get(t, c, s, "GET", "/other")
	if r2.StatusCode != 200 || body != "hello /other" {
		t.Errorf("second stream: %d %q", r2.StatusCode, body)
	}
	var got bytes.Buffer
	buf := make([]byte, 64<<10)
	for {
		n, err := resp.Body.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Millisecond)
	}
	if !bytes.Equal(got.Bytes(), bigBody) {
		t.Errorf("got %d bytes, not the 1 MiB body", got.Len())
	}
}
