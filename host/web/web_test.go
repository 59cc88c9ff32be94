package web

import (
	"bufio"
	"context"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/host/tlsstore"
)

func TestConfig_Validate(t *testing.T) {
	ok := simple("", "127.0.0.1:1")
	tests := []struct {
		name string
		edit func(*Config)
		want string // "" means valid
	}{
		{"valid", func(*Config) {}, ""},
		{"no listeners", func(c *Config) { c.Listeners = nil }, "listeners: none"},
		{"listener without name", func(c *Config) { c.Listeners[0].Name = "" }, "listeners[0].name: empty"},
		{"duplicate listener", func(c *Config) { c.Listeners = append(c.Listeners, c.Listeners[0]) }, `listeners[1].name: "web" used twice`},
		{"bad address", func(c *Config) { c.Listeners[0].Address = "8080" }, "listeners[0].address"},
		{"redirect on TLS", func(c *Config) { c.Listeners[0].TLS, c.Listeners[0].RedirectHTTPS = true, true }, "would loop"},
		{"h2c on TLS", func(c *Config) { c.Listeners[0].TLS, c.Listeners[0].H2C = true, true }, "h2c is for plain"},
		{"bad balance", func(c *Config) { c.Pools[0].Balance = "random" }, "pools[0].balance"},
		{"no backends", func(c *Config) { c.Pools[0].Backends = nil }, "pools[0].backends: none"},
		{"backend port", func(c *Config) { c.Pools[0].Backends[0].Address = "h:0" }, "pools[0].backends[0].address"},
		{"backend no host", func(c *Config) { c.Pools[0].Backends[0].Address = ":80" }, "has no host"},
		{"negative weight", func(c *Config) { c.Pools[0].Backends[0].Weight = -1 }, "weight: -1"},
		{"health path", func(c *Config) { c.Pools[0].HealthPath = "ping" }, "must start with /"},
		{"max fails", func(c *Config) { c.Pools[0].MaxFails = -2 }, "max_fails"},
		{"no default pool", func(c *Config) { c.Pool = "" }, "pool: empty"},
		{"unknown pool", func(c *Config) { c.Pool = "nope" }, `pool: "nope" is not among pools`},
		{"unknown user pool", func(c *Config) { c.UserPool = "nope" }, `user_pool: "nope"`},
		{"duplicate pool", func(c *Config) { c.Pools = append(c.Pools, c.Pools[0]) }, `pools[1].name: "p" used twice`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			c.Listeners = append([]Listener(nil), ok.Listeners...)
			c.Listeners[0].Address = "127.0.0.1:0"
			c.Pools = []Pool{{Name: "p", Backends: []Backend{{Address: "127.0.0.1:1"}}}}
			tc.edit(&c)
			err := c.Validate()
			if tc.want == "" {
				if err != nil {
					t.Fatalf("Validate() = %v, want nil", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "web: ") {
				t.Fatalf("Validate() = %v, want an error containing %q", err, tc.want)
			}
		})
	}
	if _, err := New(Options{Config: Config{Listeners: []Listener{{Name: "s", Address: "127.0.0.1:0", TLS: true}},
		Pools: ok.Pools, Pool: "p"}}); err == nil || !strings.Contains(err.Error(), "no certificate store") {
		t.Errorf("New with TLS and no store = %v", err)
	}
}

func TestServer_TLS_SNI_twoVhosts_HTTP2(t *testing.T) {
	dir := t.TempDir()
	mailPair, mailCert := vhostCert(t, dir, "mail", "mail.one.test")
	webPair, webCert := vhostCert(t, dir, "web", "*.two.test")
	st, err := tlsstore.New(tlsstore.Options{Certs: []tlsstore.Pair{mailPair, webPair}})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	be := newBackend(t, "a", nil)
	cfg := simple("", be.addr)
	cfg.Listeners = []Listener{{Name: "https", TLS: true}}
	s, _ := start(t, Options{Config: cfg, Certs: st})
	addr := s.Addr("https").String()
	_, port, _ := net.SplitHostPort(addr)

	for _, tc := range []struct {
		host  string
		root  *x509.Certificate
		h2    bool
		proto string
	}{
		{"mail.one.test", mailCert, true, "HTTP/2.0"},
		{"webmail.two.test", webCert, true, "HTTP/2.0"},
		{"mail.one.test", mailCert, false, "HTTP/1.1"},
	} {
		t.Run(tc.host+" "+tc.proto, func(t *testing.T) {
			// The client trusts only the expected certificate, so the
			// handshake itself checks the SNI choice.
			c := tlsClient(t, tc.root, tc.h2)
			c.Transport.(*http.Transport).DialContext = func(ctx context.Context, network, _ string) (net.Conn, error) {
				return (&net.Dialer{}).DialContext(ctx, network, addr)
			}
			resp, got := get(t, c, "https://"+tc.host+":"+port+"/echo")
			if resp.StatusCode != 200 {
				t.Fatalf("status %d", resp.StatusCode)
			}
			if resp.Proto != tc.proto {
				t.Errorf("proto = %s, want %s", resp.Proto, tc.proto)
			}
			if leaf := resp.TLS.PeerCertificates[0]; !leaf.Equal(tc.root) {
				t.Errorf("served %v for SNI %s", leaf.DNSNames, tc.host)
			}
			if got.Header.Get("X-Forwarded-Proto") != "https" {
				t.Errorf("X-Forwarded-Proto = %q", got.Header.Get("X-Forwarded-Proto"))
			}
			if got.Host != tc.host+":"+port {
				t.Errorf("backend Host = %q", got.Host)
			}
		})
	}
}

func TestServer_forwardingHeaders(t *testing.T) {
	be := newBackend(t, "a", nil)
	cfg := simple("", be.addr)
	cfg.Via = "postern"
	s, logs := start(t, Options{Config: cfg})
	c := client(t, nil)
	resp, got := get(t, c, urlOf(s, "web", "/echo?x=1"),
		"X-Forwarded-For", "198.51.100.1",
		"Connection", "X-Hop",
		"X-Hop", "secret-hop",
		"Keep-Alive", "timeout=5",
		"Proxy-Authorization", "Basic Zm9vOmJhcg==",
		"X-Keep", "yes")
	if resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	tests := []struct{ header, want string }{
		{"X-Forwarded-For", "198.51.100.1, 127.0.0.1"},
		{"X-Real-Ip", "127.0.0.1"},
		{"X-Forwarded-Proto", "http"},
		{"Via", "1.1 postern"},
		{"X-Keep", "yes"},
		{"X-Hop", ""},
		{"Keep-Alive", ""},
		{"Proxy-Authorization", ""},
	}
	for _, tc := range tests {
		if g := got.Header.Get(tc.header); g != tc.want {
			t.Errorf("backend saw %s = %q, want %q", tc.header, g, tc.want)
		}
	}
	if got.Query != "x=1" || got.Path != "/echo" {
		t.Errorf("backend saw %s?%s", got.Path, got.Query)
	}
	if v := resp.Header.Get("Via"); v != "1.1 postern" {
		t.Errorf("response Via = %q", v)
	}
	lines := logs.lines(t)
	if len(lines) != 1 {
		t.Fatalf("%d access log lines, want 1: %s", len(lines), logs.String())
	}
	l := lines[0]
	for k, want := range map[string]any{"status": 200.0, "method": "GET", "path": "/echo", "upstream": be.addr, "client": "127.0.0.1"} {
		if l[k] != want {
			t.Errorf("access log %s = %v, want %v", k, l[k], want)
		}
	}
	if l["bytes"].(float64) <= 0 || l["request"] == "" {
		t.Errorf("access log without bytes or request id: %v", l)
	}
}

func TestServer_accessLogRedacts(t *testing.T) {
	be := newBackend(t, "a", nil)
	s, logs := start(t, Options{Config: simple("", be.addr)})
	c := client(t, nil)
	req, _ := http.NewRequest(http.MethodGet, urlOf(s, "web", "/echo?zauthtoken=tok-in-query"), nil)
	req.SetBasicAuth("bob@example.com", "hunter2-password")
	req.Header.Set("Cookie", "ZM_AUTH_TOKEN=cookie-secret-value; other=x")
	resp, got := do(t, c, req)
	if resp.StatusCode != 200 {
		t.Fatal(resp.Status)
	}
	if got.Header.Get("Cookie") == "" || got.Header.Get("Authorization") == "" {
		t.Error("cookies and Authorization must still reach the backend")
	}
	out := logs.String()
	for _, secret := range []string{"hunter2-password", "cookie-secret-value", "tok-in-query", "Ym9i"} {
		if strings.Contains(out, secret) {
			t.Errorf("log contains %q:\n%s", secret, out)
		}
	}
	if l := logs.lines(t)[0]; l["user"] != "bob@example.com" {
		t.Errorf("user = %v, want the basic auth user", l["user"])
	}
}

// wsEcho is a WebSocket backend that echoes each (small, masked) frame
// back unmasked.
func wsEcho() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
			http.Error(w, "want websocket", 400)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			wsAccept(r.Header.Get("Sec-WebSocket-Key")))
		brw.Flush()
		// Echo frames back: a client frame is masked, the echo unmasks it.
		for {
			var hdr [2]byte
			if _, err := io.ReadFull(brw, hdr[:]); err != nil {
				return
			}
			n := int(hdr[1] & 0x7f)
			var mask [4]byte
			io.ReadFull(brw, mask[:])
			payload := make([]byte, n)
			if _, err := io.ReadFull(brw, payload); err != nil {
				return
			}
			for i := range payload {
				payload[i] ^= mask[i%4]
			}
			conn.Write(append([]byte{hdr[0], byte(n)}, payload...))
		}
	})
}

// wsFrame is msg as a masked text frame.
func wsFrame(msg string) []byte {
	mask := [4]byte{1, 2, 3, 4}
	frame := []byte{0x81, 0x80 | byte(len(msg))}
	frame = append(frame, mask[:]...)
	for i := range len(msg) {
		frame = append(frame, msg[i]^mask[i%4])
	}
	return frame
}

func TestServer_WebSocketEcho(t *testing.T) {
	be := newBackend(t, "ws", wsEcho())
	s, logs := start(t, Options{Config: simple("", be.addr)})
	conn, err := net.Dial("tcp", s.Addr("web").String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(key) {
		t.Fatalf("upgrade answer %s, accept %q", resp.Status, resp.Header.Get("Sec-WebSocket-Accept"))
	}
	for _, msg := range []string{"hello", "through postern", "x"} {
		if _, err := conn.Write(wsFrame(msg)); err != nil {
			t.Fatal(err)
		}
		echo := make([]byte, 2+len(msg))
		if _, err := io.ReadFull(br, echo); err != nil {
			t.Fatal(err)
		}
		if string(echo[2:]) != msg || echo[0] != 0x81 {
			t.Fatalf("echo = %q, want %q", echo[2:], msg)
		}
	}
	conn.Close()
	waitFor(t, func() bool { return len(logs.lines(t)) == 1 })
	if l := logs.lines(t)[0]; l["status"] != 101.0 {
		t.Errorf("logged status %v, want 101", l["status"])
	}
}

func wsAccept(key string) string {
	h := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	return base64.StdEncoding.EncodeToString(h[:])
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServer_balancing(t *testing.T) {
	tests := []struct {
		mode    string
		weights []int
		want    []int // hits per backend out of 12
	}{
		{"round-robin", []int{1, 1, 1}, []int{4, 4, 4}},
		{"weighted", []int{4, 1, 1}, []int{8, 2, 2}},
		{"least-conn", []int{1, 1, 1}, []int{4, 4, 4}}, // sequential: nothing in flight, rotates
		{"ip-hash", []int{1, 1, 1}, nil},               // one client: one backend
	}
	for _, tc := range tests {
		t.Run(tc.mode, func(t *testing.T) {
			var bes []*backend
			cfg := simple(tc.mode)
			for i, w := range tc.weights {
				b := newBackend(t, fmt.Sprint(i), nil)
				bes = append(bes, b)
				cfg.Pools[0].Backends = append(cfg.Pools[0].Backends, Backend{Address: b.addr, Weight: w})
			}
			s, _ := start(t, Options{Config: cfg})
			c := client(t, nil)
			for range 12 {
				if resp, _ := get(t, c, urlOf(s, "web", "/echo")); resp.StatusCode != 200 {
					t.Fatal(resp.Status)
				}
			}
			var got []int
			for _, b := range bes {
				got = append(got, b.Hits())
			}
			if tc.want == nil {
				nonzero := 0
				for _, h := range got {
					if h != 0 {
						nonzero++
						if h != 12 {
							t.Errorf("ip-hash split one client: %v", got)
						}
					}
				}
				if nonzero != 1 {
					t.Errorf("ip-hash: hits %v, want all on one backend", got)
				}
				return
			}
			if fmt.Sprint(got) != fmt.Sprint(tc.want) {
				t.Errorf("hits = %v, want %v", got, tc.want)
			}
		})
	}
}

func TestServer_backendKilled(t *testing.T) {
	a := newBackend(t, "a", nil)
	b := newBackend(t, "b", nil)
	cfg := simple("round-robin", a.addr, b.addr)
	cfg.Pools[0].FailTimeout = time.Minute
	s, logs := start(t, Options{Config: cfg})
	c := client(t, nil)
	for range 4 {
		if resp, _ := get(t, c, urlOf(s, "web", "/echo")); resp.StatusCode != 200 {
			t.Fatal(resp.Status)
		}
	}
	a.srv.CloseClientConnections()
	a.srv.Close() // killed mid-test: its port now refuses connections
	before := b.Hits()
	for i := range 10 {
		resp, got := get(t, c, urlOf(s, "web", "/echo"))
		if resp.StatusCode != 200 || got.Backend != "b" {
			t.Fatalf("request %d after the kill: %s from %q", i, resp.Status, got.Backend)
		}
	}
	if b.Hits()-before != 10 {
		t.Errorf("b got %d of 10", b.Hits()-before)
	}
	if n := strings.Count(logs.String(), "backend marked down"); n != 1 {
		t.Errorf("backend marked down %d times, want once (then skipped):\n%s", n, logs.String())
	}
}

func TestServer_retryPOSTOnConnectFailure(t *testing.T) {
	dead := newBackend(t, "dead", nil)
	dead.srv.Close()
	b := newBackend(t, "b", nil)
	cfg := simple("round-robin", dead.addr, b.addr)
	cfg.Pools[0].MaxFails = -1 // keep trying the dead one: every other request retries
	s, _ := start(t, Options{Config: cfg})
	c := client(t, nil)
	for i := range 6 {
		// Not idempotent, but the connect failed before any byte was sent.
		req, _ := http.NewRequest(http.MethodPost, urlOf(s, "web", "/echo"), strings.NewReader(strings.Repeat("x", i+1)))
		resp, got := do(t, c, req)
		if resp.StatusCode != 200 || got.Backend != "b" || got.Body != int64(i+1) {
			t.Fatalf("POST %d: %s from %q, body %d", i, resp.Status, got.Backend, got.Body)
		}
	}
}

func TestServer_errorStatuses(t *testing.T) {
	slow := newBackend(t, "slow", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(5 * time.Second):
		case <-r.Context().Done():
		}
	}))
	dead := newBackend(t, "dead", nil)
	dead.srv.Close()

	t.Run("502 then 503 for a dead backend", func(t *testing.T) {
		s, _ := start(t, Options{Config: simple("", dead.addr)})
		c := client(t, nil)
		resp, body := get(t, c, urlOf(s, "web", "/"))
		if resp.StatusCode != http.StatusBadGateway || body.Backend != "Bad Gateway\n" {
			t.Errorf("first: %s %q", resp.Status, body.Backend)
		}
		resp, _ = get(t, c, urlOf(s, "web", "/"))
		if resp.StatusCode != http.StatusServiceUnavailable {
			t.Errorf("while marked down: %s, want 503", resp.Status)
		}
	})
	t.Run("504 on upstream header timeout", func(t *testing.T) {
		cfg := simple("", slow.addr)
		cfg.UpstreamHeaderTimeout = 200 * time.Millisecond
		cfg.Pools[0].MaxFails = -1
		s, _ := start(t, Options{Config: cfg})
		resp, _ := get(t, client(t, nil), urlOf(s, "web", "/slow"))
		if resp.StatusCode != http.StatusGatewayTimeout {
			t.Errorf("%s, want 504", resp.Status)
		}
	})
	t.Run("413 over max body", func(t *testing.T) {
		be := newBackend(t, "a", nil)
		cfg := simple("", be.addr)
		cfg.MaxBodyBytes = 100
		s, _ := start(t, Options{Config: cfg})
		c := client(t, nil)
		req, _ := http.NewRequest(http.MethodPost, urlOf(s, "web", "/echo"), strings.NewReader(strings.Repeat("x", 101)))
		if resp, _ := do(t, c, req); resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("with Content-Length: %s, want 413", resp.Status)
		}
		// Chunked: the limit trips while streaming.
		req, _ = http.NewRequest(http.MethodPost, urlOf(s, "web", "/echo"), io.MultiReader(strings.NewReader(strings.Repeat("x", 200))))
		req.ContentLength = -1
		if resp, _ := do(t, c, req); resp.StatusCode != http.StatusRequestEntityTooLarge {
			t.Errorf("chunked: %s, want 413", resp.Status)
		}
		req, _ = http.NewRequest(http.MethodPost, urlOf(s, "web", "/echo"), strings.NewReader(strings.Repeat("x", 100)))
		if resp, got := do(t, c, req); resp.StatusCode != 200 || got.Body != 100 {
			t.Errorf("at the limit: %s, body %d", resp.Status, got.Body)
		}
	})
	t.Run("400 and 431 from the server", func(t *testing.T) {
		be := newBackend(t, "a", nil)
		cfg := simple("", be.addr)
		cfg.MaxHeaderBytes = 1024
		s, _ := start(t, Options{Config: cfg})
		for _, tc := range []struct {
			raw  string
			want string
		}{
			{"GARBAGE\r\n\r\n", "400"},
			{"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + strings.Repeat("a", 8192) + "\r\n\r\n", "431"},
		} {
			conn, err := net.Dial("tcp", s.Addr("web").String())
			if err != nil {
				t.Fatal(err)
			}
			conn.SetDeadline(time.Now().Add(5 * time.Second))
			io.WriteString(conn, tc.raw)
			line, _ := bufio.NewReader(conn).ReadString('\n')
			conn.Close()
			if !strings.Contains(line, " "+tc.want+" ") {
				t.Errorf("status line %q, want %s", line, tc.want)
			}
		}
	})
}

func TestServer_redirectHTTPS(t *testing.T) {
	be := newBackend(t, "a", nil)
	cfg := simple("", be.addr)
	cfg.Listeners = []Listener{{Name: "plain", RedirectHTTPS: true, HTTPSPort: 8443}, {Name: "plain443", RedirectHTTPS: true}}
	s, _ := start(t, Options{Config: cfg})
	c := client(t, nil)
	tests := []struct {
		listener, method, host, path, want string
		code                               int
	}{
		{"plain", "GET", "mail.test", "/a/b?c=d", "https://mail.test:8443/a/b?c=d", 301},
		{"plain", "POST", "mail.test:80", "/x", "https://mail.test:8443/x", 308},
		{"plain443", "GET", "mail.test:8080", "/", "https://mail.test/", 301},
		{"plain443", "GET", "[2001:db8::1]:80", "/", "https://[2001:db8::1]/", 301},
	}
	for _, tc := range tests {
		req, _ := http.NewRequest(tc.method, urlOf(s, tc.listener, tc.path), nil)
		req.Host = tc.host
		resp, _ := do(t, c, req)
		if resp.StatusCode != tc.code || resp.Header.Get("Location") != tc.want {
			t.Errorf("%s %s%s: %d %q, want %d %q", tc.method, tc.host, tc.path, resp.StatusCode, resp.Header.Get("Location"), tc.code, tc.want)
		}
	}
	if be.Hits() != 0 {
		t.Error("a redirecting listener proxied a request")
	}
}

func TestServer_h2c(t *testing.T) {
	be := newBackend(t, "a", nil)
	cfg := simple("", be.addr)
	cfg.Listeners[0].H2C = true
	s, _ := start(t, Options{Config: cfg})
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	resp, got := get(t, client(t, tr), urlOf(s, "web", "/echo"))
	if resp.Proto != "HTTP/2.0" || got.Backend != "a" {
		t.Errorf("h2c: %s from %q", resp.Proto, got.Backend)
	}
}

func TestServer_activeHealth(t *testing.T) {
	healthy := true
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	flaky := newBackend(t, "flaky", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		<-mu
		h := healthy
		mu <- struct{}{}
		if r.URL.Path == "/health" && !h {
			w.WriteHeader(503)
			return
		}
		w.WriteHeader(200)
	}))
	good := newBackend(t, "good", nil)
	cfg := simple("round-robin", flaky.addr, good.addr)
	cfg.Pools[0].HealthPath = "/health"
	cfg.Pools[0].HealthInterval = 20 * time.Millisecond
	s, _ := start(t, Options{Config: cfg})
	<-mu
	healthy = false
	mu <- struct{}{}
	p := s.pools["p"]
	waitFor(t, func() bool { return !p.bal.Up(p.bal.Backends()[0]) })
	c := client(t, nil)
	for range 4 {
		if _, got := get(t, c, urlOf(s, "web", "/echo")); got.Backend != "good" {
			t.Fatalf("request went to %q while flaky fails its check", got.Backend)
		}
	}
	<-mu
	healthy = true
	mu <- struct{}{}
	waitFor(t, func() bool { return p.bal.Up(p.bal.Backends()[0]) })
}

var _ = tls.VersionTLS12
