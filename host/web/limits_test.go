package web

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/host/connlimit"
	"github.com/postern/postern/host/internal/proxyproto"
	"github.com/postern/postern/host/tlsstore"
)

// rawConn is a client connection driven by hand.
type rawConn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func rawDial(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, c: c, br: bufio.NewReader(c)}
}

// get sends GET / and returns the response with its body read.
func (rc *rawConn) get() (*http.Response, string) {
	rc.t.Helper()
	if _, err := io.WriteString(rc.c, "GET /echo HTTP/1.1\r\nHost: example.com\r\n\r\n"); err != nil {
		rc.t.Fatal(err)
	}
	resp, err := http.ReadResponse(rc.br, nil)
	if err != nil {
		rc.t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b)
}

// eof checks that the server closed the connection.
func (rc *rawConn) eof() {
	rc.t.Helper()
	rc.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if n, err := rc.br.ReadByte(); err != io.EOF {
		rc.t.Fatalf("want EOF, got %v %v", n, err)
	}
}

const (
	webBusy      = "Too many connections, try again later.\n"
	webPerClient = "Too many connections from your address, try again later.\n"
)

// refusedGet sends a request on a new connection and checks the 503.
func refusedGet(t *testing.T, addr, body string) {
	t.Helper()
	rc := rawDial(t, addr)
	resp, got := rc.get()
	if resp.StatusCode != http.StatusServiceUnavailable || got != body ||
		resp.Header.Get("Retry-After") != "10" || !resp.Close {
		t.Fatalf("got %d %q, Retry-After %q, close %v; want 503 %q, Retry-After 10, Connection: close",
			resp.StatusCode, got, resp.Header.Get("Retry-After"), resp.Close, body)
	}
	rc.eof()
}

func okGet(t *testing.T, rc *rawConn) {
	t.Helper()
	if resp, body := rc.get(); resp.StatusCode != http.StatusOK {
		t.Fatalf("got %d %q, want 200", resp.StatusCode, body)
	}
}

func wantWebRefused(t *testing.T, s *Server, listener string, why connlimit.Reason, n int64) {
	t.Helper()
	if got := s.limiter.Listener(listener).Refused(why); got != n {
		t.Fatalf("%s: refused %s = %d, want %d", listener, why.Label("pre_request"), got, n)
	}
}

func waitWebOpen(t *testing.T, s *Server, listener string, conns, early int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, e := s.limiter.Listener(listener).Open()
		if c == conns && e == early {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d connections, %d before a request; want %d, %d", listener, c, e, conns, early)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func limitedWeb(t *testing.T, cfg func(*Config), reg *connlimit.Registry) (*Server, string, *logBuf) {
	t.Helper()
	b := newBackend(t, "b1", nil)
	c := simple("round-robin", b.addr)
	cfg(&c)
	s, logs := start(t, Options{Config: c, Limiter: reg})
	return s, s.Addr("web").String(), logs
}

func TestLimits_perListener(t *testing.T) {
	s, addr, logs := limitedWeb(t, func(c *Config) { c.MaxConnections = 2 }, nil)
	a := rawDial(t, addr)
	okGet(t, a)
	rawDial(t, addr) // idle, not yet a request
	waitWebOpen(t, s, "web", 2, 1)
	refusedGet(t, addr, webBusy)
	wantWebRefused(t, s, "web", connlimit.PerListener, 1)
	a.c.Close()
	waitWebOpen(t, s, "web", 1, 1)
	okGet(t, rawDial(t, addr))
	if !strings.Contains(logs.String(), `"reason":"per_listener"`) {
		t.Error("no refusal in the log")
	}
}

func TestLimits_perClient(t *testing.T) {
	t.Run("socket", func(t *testing.T) {
		s, addr, _ := limitedWeb(t, func(c *Config) {
			c.MaxConnectionsPerClient = 2
			c.PerClientExempt = []netip.Prefix{} // loopback is exempt by default
		}, nil)
		okGet(t, rawDial(t, addr))
		rawDial(t, addr)
		waitWebOpen(t, s, "web", 2, 1)
		refusedGet(t, addr, webPerClient)
		wantWebRefused(t, s, "web", connlimit.PerClient, 1)
	})
	t.Run("loopback exempt by default", func(t *testing.T) {
		_, addr, _ := limitedWeb(t, func(c *Config) { c.MaxConnectionsPerClient = 1 }, nil)
		for range 3 {
			okGet(t, rawDial(t, addr))
		}
	})
	t.Run("proxy protocol", func(t *testing.T) {
		// The client is the PROXY header's source, checked at the first
		// request; the balancer's own address is never limited.
		s, addr, _ := limitedWeb(t, func(c *Config) {
			c.MaxConnectionsPerClient = 2
			c.PerClientExempt = []netip.Prefix{}
			c.Listeners[0].ProxyProtocol = true
			c.Listeners[0].TrustedProxies = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
		}, nil)
		from := func(client string) *rawConn {
			rc := rawDial(t, addr)
			rc.c.Write(proxyproto.AppendV2(nil, netip.MustParseAddrPort(client), netip.MustParseAddrPort("192.0.2.1:80")))
			return rc
		}
		okGet(t, from("198.51.100.7:1000"))
		okGet(t, from("198.51.100.7:1001"))
		rc := from("198.51.100.7:1002")
		if resp, body := rc.get(); resp.StatusCode != 503 || body != webPerClient || !resp.Close {
			t.Fatalf("got %d %q", resp.StatusCode, body)
		}
		rc.eof()
		okGet(t, from("198.51.100.8:1000"))
		wantWebRefused(t, s, "web", connlimit.PerClient, 1)
	})
}

// A connection leaves the pre-request count at its first request.
func TestLimits_preRequest(t *testing.T) {
	s, addr, _ := limitedWeb(t, func(c *Config) { c.MaxPreRequest = 2 }, nil)
	a := rawDial(t, addr)
	rawDial(t, addr)
	waitWebOpen(t, s, "web", 2, 2)
	refusedGet(t, addr, webBusy)
	wantWebRefused(t, s, "web", connlimit.Early, 1)
	okGet(t, a)
	waitWebOpen(t, s, "web", 2, 1)
	c := rawDial(t, addr) // a's place before its request
	waitWebOpen(t, s, "web", 3, 2)
	refusedGet(t, addr, webBusy)
	okGet(t, c)
	okGet(t, a) // keep-alive: still served
}

// A TLS listener answers the refusal over TLS, in h2 when the client
// speaks it (Connection: close becomes a GOAWAY).
func TestLimits_refusalOverTLS(t *testing.T) {
	dir := t.TempDir()
	pair, root := vhostCert(t, dir, "mail", "mail.example.com")
	certs, err := tlsstore.New(tlsstore.Options{Certs: []tlsstore.Pair{pair}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { certs.Close() })
	b := newBackend(t, "b1", nil)
	c := simple("round-robin", b.addr)
	c.Listeners[0].TLS = true
	c.MaxPreRequest = 1
	s, _ := start(t, Options{Config: c, Certs: certs})
	addr := s.Addr("web").String()
	rawDial(t, addr) // holds the only pre-request place
	waitWebOpen(t, s, "web", 1, 1)
	for _, h2 := range []bool{true, false} {
		cl := tlsClient(t, root, h2)
		cl.Transport.(*http.Transport).DialContext = func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "tcp", addr)
		}
		resp, body := get(t, cl, "https://mail.example.com/echo")
		if resp.StatusCode != 503 || body.Backend != webBusy || resp.Header.Get("Retry-After") != "10" {
			t.Fatalf("h2 %v: got %s %d %q", h2, resp.Proto, resp.StatusCode, body.Backend)
		}
		if (resp.ProtoMajor == 2) != h2 {
			t.Fatalf("h2 %v: answered in %s", h2, resp.Proto)
		}
	}
	wantWebRefused(t, s, "web", connlimit.Early, 2)
}

// The session cap is the process's: mail and web share the Registry.
func TestLimits_global(t *testing.T) {
	reg := connlimit.New()
	reg.SetMaxSessions(2)
	s, addr, _ := limitedWeb(t, func(*Config) {}, reg)
	a := rawDial(t, addr)
	okGet(t, a)
	okGet(t, rawDial(t, addr))
	refusedGet(t, addr, webBusy)
	wantWebRefused(t, s, "web", connlimit.Global, 1)
	a.c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for reg.Sessions() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions", reg.Sessions())
		}
		time.Sleep(5 * time.Millisecond)
	}
	okGet(t, rawDial(t, addr))
}
