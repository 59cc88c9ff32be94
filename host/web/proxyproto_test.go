package web

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/host/internal/proxyproto"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/tlsstore"
)

// proxyV1 is a PROXY v1 line for src → dst.
func proxyV1(src, dst string) []byte {
	s, d := netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst)
	fam := "TCP4"
	if s.Addr().Is6() {
		fam = "TCP6"
	}
	return fmt.Appendf(nil, "PROXY %s %s %s %d %d\r\n", fam, s.Addr(), d.Addr(), s.Port(), d.Port())
}

// proxyV2 is a PROXY v2 header for src → dst.
func proxyV2(src, dst string) []byte {
	return proxyproto.AppendV2(nil, netip.MustParseAddrPort(src), netip.MustParseAddrPort(dst))
}

// proxyV2Local is a v2 LOCAL header (a balancer's health check).
func proxyV2Local() []byte {
	h := proxyV2("192.0.2.1:1", "192.0.2.2:2")[:16]
	h[12], h[13], h[14], h[15] = 0x20, 0x00, 0, 0
	return h
}

// exchange dials addr as a balancer would: it sends header, then (over
// TLS when tc is set) one GET /echo with the extra headers, and returns
// the status and what the backend saw. sameWrite sends the header and a
// plain request in one write, so the request arrives with the header.
func exchange(t *testing.T, addr string, header []byte, tc *tls.Config, sameWrite bool, hdr ...string) (int, seen) {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(15 * time.Second))
	req, _ := http.NewRequest(http.MethodGet, "http://mail.one.test/echo", nil)
	req.Close = true
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	var rw net.Conn = conn
	if tc == nil && sameWrite {
		var b strings.Builder
		b.Write(header)
		if err := req.Write(&b); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(conn, b.String()); err != nil {
			t.Fatal(err)
		}
	} else {
		if _, err := conn.Write(header); err != nil {
			t.Fatal(err)
		}
		if tc != nil {
			tlsConn := tls.Client(conn, tc)
			if err := tlsConn.Handshake(); err != nil {
				t.Fatalf("TLS handshake after the PROXY header: %v", err)
			}
			rw = tlsConn
		}
		if err := req.Write(rw); err != nil {
			t.Fatal(err)
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(rw), req)
	if err != nil {
		t.Fatalf("reading the response: %v", err)
	}
	defer resp.Body.Close()
	var got seen
	if err := json.NewDecoder(resp.Body).Decode(&got); err != nil {
		t.Fatalf("backend answer: %v", err)
	}
	return resp.StatusCode, got
}

// refused reports whether the server closed conn without answering.
func refused(t *testing.T, conn net.Conn) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	b, err := io.ReadAll(conn)
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		t.Fatal("connection still open after 10s; want it closed")
	}
	if len(b) > 0 {
		t.Fatalf("server answered %q; want the connection closed", b)
	}
}

// ppServer starts a server with a plain ("web") and a TLS ("https")
// listener that expect PROXY headers from 127.0.0.0/8, a listener
// ("strict") that trusts only 192.0.2.0/24, and a throttle plugin
// counting per client IP in st.
func ppServer(t *testing.T, st kv.Store, pool Pool) (*Server, *logBuf, *x509.Certificate) {
	t.Helper()
	pair, cert := vhostCert(t, t.TempDir(), "mail", "mail.one.test")
	certs, err := tlsstore.New(tlsstore.Options{Certs: []tlsstore.Pair{pair}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { certs.Close() })
	loop := []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	cfg := Config{
		Listeners: []Listener{
			{Name: "web", ProxyProtocol: true, TrustedProxies: loop},
			{Name: "https", TLS: true, ProxyProtocol: true, TrustedProxies: loop},
			{Name: "strict", ProxyProtocol: true, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}},
		},
		Pools: []Pool{pool}, Pool: pool.Name,
	}
	opts := Options{Config: cfg, Certs: certs}
	if st != nil {
		opts.Plugins = pluginHost(t, st, plugin.Spec{Name: "throttle", Path: guest(t, "throttle"),
			Config: []byte(`{"limit":1000,"window_s":60,"prefix":"t:"}`)})
	}
	s, logs := start(t, opts)
	return s, logs, cert
}

func TestServer_proxyProtocol(t *testing.T) {
	be := newBackend(t, "a", nil)
	store := kv.NewMemory(kv.MemoryOptions{})
	defer store.Close()
	s, logs, cert := ppServer(t, store, Pool{Name: "p", Backends: []Backend{{Address: be.addr}}})
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	tc := &tls.Config{RootCAs: roots, ServerName: "mail.one.test"}

	tests := []struct {
		name      string
		listener  string
		header    []byte
		sameWrite bool
		xff       string // sent by the client
		want      string // the client everyone must see
		wantXFF   string
	}{
		{"v1 tcp4", "web", proxyV1("203.0.113.7:51000", "192.0.2.1:80"), true, "", "203.0.113.7", "203.0.113.7"},
		{"v1 tcp4 separate writes", "web", proxyV1("203.0.113.8:51000", "192.0.2.1:80"), false, "", "203.0.113.8", "203.0.113.8"},
		{"v1 tcp6", "web", proxyV1("[2001:db8::7]:51000", "[2001:db8::1]:80"), true, "", "2001:db8::7", "2001:db8::7"},
		{"v2 ipv4", "web", proxyV2("198.51.100.20:4000", "192.0.2.1:80"), true, "", "198.51.100.20", "198.51.100.20"},
		{"v2 ipv6", "web", proxyV2("[2001:db8::20]:4000", "[2001:db8::1]:80"), false, "", "2001:db8::20", "2001:db8::20"},
		{"v2 with client xff", "web", proxyV2("198.51.100.21:4000", "192.0.2.1:80"), true, "6.6.6.6", "198.51.100.21", "6.6.6.6, 198.51.100.21"},
		{"v2 local keeps socket", "web", proxyV2Local(), true, "", "127.0.0.1", "127.0.0.1"},
		{"v1 unknown keeps socket", "web", []byte("PROXY UNKNOWN\r\n"), true, "", "127.0.0.1", "127.0.0.1"},
		{"tls v1", "https", proxyV1("203.0.113.30:51000", "192.0.2.1:443"), false, "", "203.0.113.30", "203.0.113.30"},
		{"tls v2 ipv4", "https", proxyV2("203.0.113.31:51000", "192.0.2.1:443"), false, "", "203.0.113.31", "203.0.113.31"},
		{"tls v2 ipv6", "https", proxyV2("[2001:db8::31]:51000", "[2001:db8::1]:443"), false, "", "2001:db8::31", "2001:db8::31"},
		{"tls v2 local", "https", proxyV2Local(), false, "", "127.0.0.1", "127.0.0.1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg *tls.Config
			if tt.listener == "https" {
				cfg = tc
			}
			var hdr []string
			if tt.xff != "" {
				hdr = []string{"X-Forwarded-For", tt.xff}
			}
			before := len(logs.lines(t))
			status, got := exchange(t, s.Addr(tt.listener).String(), tt.header, cfg, tt.sameWrite, hdr...)
			if status != 200 {
				t.Fatalf("status %d", status)
			}
			if g := got.Header.Get("X-Real-Ip"); g != tt.want {
				t.Errorf("backend X-Real-IP = %q, want %q", g, tt.want)
			}
			if g := got.Header.Get("X-Forwarded-For"); g != tt.wantXFF {
				t.Errorf("backend X-Forwarded-For = %q, want %q", g, tt.wantXFF)
			}
			wantProto := map[string]string{"web": "http", "https": "https"}[tt.listener]
			if g := got.Header.Get("X-Forwarded-Proto"); g != wantProto {
				t.Errorf("X-Forwarded-Proto = %q, want %q", g, wantProto)
			}
			// The throttle plugin counts per plugin.Fields.Client.
			if _, err := store.Get(context.Background(), "t:proto=h,ip="+tt.want); err != nil {
				t.Errorf("the throttle plugin did not see client %s: %v", tt.want, err)
			}
			var line map[string]any
			waitFor(t, func() bool {
				lines := logs.lines(t)
				if len(lines) > before {
					line = lines[len(lines)-1]
					return true
				}
				return false
			})
			if line["client"] != tt.want || line["listener"] != tt.listener {
				t.Errorf("access log client %v listener %v, want %s %s", line["client"], line["listener"], tt.want, tt.listener)
			}
		})
	}
}

func TestServer_proxyProtocolRefused(t *testing.T) {
	be := newBackend(t, "a", nil)
	s, logs, cert := ppServer(t, nil, Pool{Name: "p", Backends: []Backend{{Address: be.addr}}})
	request := "GET /echo HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"
	tests := []struct {
		name, listener string
		send           []byte
		log            string
	}{
		{"no header from a trusted peer", "web", []byte(request), "no valid PROXY header"},
		{"bad v1 header", "web", []byte("PROXY TCP4 bad\r\n" + request), "no valid PROXY header"},
		{"bad v2 version", "web", append(append(proxyV2("198.51.100.1:1", "192.0.2.1:80")[:12:12], 0x31, 0x11, 0, 0), request...), "no valid PROXY header"},
		{"TLS ClientHello without header", "https", nil, "no valid PROXY header"},
		{"untrusted peer with a valid header", "strict", append(proxyV2("198.51.100.1:1", "192.0.2.1:80"), request...), "not among trusted_proxies"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			conn, err := net.Dial("tcp", s.Addr(tt.listener).String())
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			if tt.send == nil { // a TLS client that sends no PROXY header
				roots := x509.NewCertPool()
				roots.AddCert(cert)
				tc := tls.Client(conn, &tls.Config{RootCAs: roots, ServerName: "mail.one.test"})
				_ = tc.SetDeadline(time.Now().Add(10 * time.Second))
				if err := tc.Handshake(); err == nil {
					t.Fatal("TLS handshake succeeded without a PROXY header")
				} else if ne := net.Error(nil); errors.As(err, &ne) && ne.Timeout() {
					t.Fatalf("handshake timed out instead of being closed: %v", err)
				}
			} else {
				if _, err := conn.Write(tt.send); err != nil {
					t.Fatal(err)
				}
				refused(t, conn)
			}
			waitFor(t, func() bool { return strings.Contains(logs.String(), tt.log) })
		})
	}
	if n := be.Hits(); n != 0 {
		t.Errorf("backend got %d requests from refused connections", n)
	}
	if strings.Contains(logs.String(), `"msg":"http request"`) {
		t.Errorf("a refused connection reached the handler:\n%s", logs)
	}
}

// TestServer_proxyProtocolSlowClient: connections that send nothing, or
// half a header, do not hold up accepting others.
func TestServer_proxyProtocolSlowClient(t *testing.T) {
	be := newBackend(t, "a", nil)
	s, _, cert := ppServer(t, nil, Pool{Name: "p", Backends: []Backend{{Address: be.addr}}})
	roots := x509.NewCertPool()
	roots.AddCert(cert)
	for _, l := range []string{"web", "https"} {
		t.Run(l, func(t *testing.T) {
			addr := s.Addr(l).String()
			for _, partial := range []string{"", "PROXY TCP4 203.0", "\r\n\r\n\x00"} {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if _, err := io.WriteString(c, partial); err != nil {
					t.Fatal(err)
				}
			}
			var tc *tls.Config
			if l == "https" {
				tc = &tls.Config{RootCAs: roots, ServerName: "mail.one.test"}
			}
			start := time.Now()
			status, got := exchange(t, addr, proxyV1("203.0.113.9:1000", "192.0.2.1:80"), tc, false)
			if status != 200 || got.Header.Get("X-Real-Ip") != "203.0.113.9" {
				t.Fatalf("status %d, X-Real-IP %q", status, got.Header.Get("X-Real-Ip"))
			}
			// The header timeout is 5 s: a blocked accept loop would
			// take at least that long.
			if d := time.Since(start); d > 3*time.Second {
				t.Errorf("request behind three silent connections took %v; the accept loop waits for them", d)
			}
		})
	}
}

// TestServer_proxyProtocolIPHash: ip-hash balances on the header's source,
// not on the balancer's address.
func TestServer_proxyProtocolIPHash(t *testing.T) {
	a, b := newBackend(t, "a", nil), newBackend(t, "b", nil)
	s, _, _ := ppServer(t, nil, Pool{Name: "p", Balance: "ip-hash", Backends: []Backend{{Address: a.addr}, {Address: b.addr}}})
	addr := s.Addr("web").String()
	first := map[string]string{}
	for round := range 2 {
		for i := range 16 {
			src := fmt.Sprintf("10.1.%d.1:1000", i)
			_, got := exchange(t, addr, proxyV2(src, "192.0.2.1:80"), nil, true)
			if round == 0 {
				first[src] = got.Backend
			} else if first[src] != got.Backend {
				t.Errorf("source %s went to %s, then to %s", src, first[src], got.Backend)
			}
		}
	}
	if a.Hits() == 0 || b.Hits() == 0 {
		t.Errorf("16 sources all on one backend (a %d, b %d): ip-hash used the balancer's address", a.Hits(), b.Hits())
	}
}

// TestProxyConn_deadlines: a connection that does not finish its header
// within the timeout is closed; after the header the server's own read
// deadline (none here) applies again, and the bytes sent with the header
// are read first.
func TestProxyConn_deadlines(t *testing.T) {
	raw, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &proxyListener{Listener: raw, name: "t", timeout: 150 * time.Millisecond,
		trusted: []netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, log: slog.New(slog.DiscardHandler)}
	defer ln.Close()
	accept := func() net.Conn {
		t.Helper()
		c, err := ln.Accept()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		return c
	}

	slow, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer slow.Close()
	c := accept()
	start := time.Now()
	if _, err := c.Read(make([]byte, 1)); err == nil {
		t.Fatal("Read without a header succeeded")
	}
	if d := time.Since(start); d < 100*time.Millisecond || d > 3*time.Second {
		t.Errorf("header timeout after %v, want about 150ms", d)
	}
	if got := c.RemoteAddr().String(); got != slow.LocalAddr().String() {
		t.Errorf("RemoteAddr after a failed header = %s, want the socket's %s", got, slow.LocalAddr())
	}

	good, err := net.Dial("tcp", raw.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer good.Close()
	if _, err := good.Write(append(proxyV2("[2001:db8::5]:7000", "[2001:db8::1]:443"), "early"...)); err != nil {
		t.Fatal(err)
	}
	c = accept()
	if got, want := c.RemoteAddr().String(), "[2001:db8::5]:7000"; got != want {
		t.Errorf("RemoteAddr = %s, want %s", got, want)
	}
	if got, want := c.LocalAddr().String(), "[2001:db8::1]:443"; got != want {
		t.Errorf("LocalAddr = %s, want %s", got, want)
	}
	time.Sleep(300 * time.Millisecond) // past the header deadline
	go func() { _, _ = io.WriteString(good, "-late") }()
	buf := make([]byte, 64)
	var got []byte
	for len(got) < len("early-late") {
		n, err := c.Read(buf)
		if err != nil {
			t.Fatalf("Read after the header: %v (the header deadline outlived the header?)", err)
		}
		got = append(got, buf[:n]...)
	}
	if string(got) != "early-late" {
		t.Errorf("read %q, want early-late", got)
	}
	// A deadline the server sets afterwards still works.
	_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
	if _, err := c.Read(buf); err == nil {
		t.Error("SetReadDeadline after the header had no effect")
	}
}

// TestServer_trustedForwarders: X-Forwarded-For decides the client only
// when the direct peer (the socket's, or the PROXY header's source) is a
// trusted forwarder; the forwarded list gets the direct peer appended.
func TestServer_trustedForwarders(t *testing.T) {
	be := newBackend(t, "a", nil)
	cfg := simple("", be.addr)
	cfg.Listeners = []Listener{
		{Name: "web", TrustedForwarders: prefixes("127.0.0.0/8")},
		{Name: "untrusting"},
		{Name: "pp", ProxyProtocol: true, TrustedProxies: prefixes("127.0.0.0/8"), TrustedForwarders: prefixes("192.0.2.0/24")},
	}
	s, logs := start(t, Options{Config: cfg})
	c := client(t, nil)
	const spoofed = "6.6.6.6, 198.51.100.9, 127.0.0.5"
	tests := []struct {
		name, listener string
		header         []byte // PROXY header; nil: a plain client
		xff            string
		want, wantXFF  string
		wantPeer       string // in the access log when it differs from the client
	}{
		{"trusted peer", "web", nil, spoofed, "198.51.100.9", spoofed + ", 127.0.0.1", "127.0.0.1"},
		{"trusted peer, no xff", "web", nil, "", "127.0.0.1", "127.0.0.1", ""},
		{"untrusting listener", "untrusting", nil, spoofed, "127.0.0.1", spoofed + ", 127.0.0.1", ""},
		{"PROXY source is a trusted forwarder", "pp", proxyV2("192.0.2.10:1000", "192.0.2.1:80"), "198.51.100.9", "198.51.100.9", "198.51.100.9, 192.0.2.10", "192.0.2.10"},
		{"PROXY source is not", "pp", proxyV2("203.0.113.7:1000", "192.0.2.1:80"), "198.51.100.9", "203.0.113.7", "198.51.100.9, 203.0.113.7", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(logs.lines(t))
			var got seen
			var hdr []string
			if tt.xff != "" {
				hdr = []string{"X-Forwarded-For", tt.xff}
			}
			if tt.header == nil {
				resp, g := get(t, c, urlOf(s, tt.listener, "/echo"), hdr...)
				if resp.StatusCode != 200 {
					t.Fatal(resp.Status)
				}
				got = g
			} else {
				_, got = exchange(t, s.Addr(tt.listener).String(), tt.header, nil, true, hdr...)
			}
			if g := got.Header.Get("X-Real-Ip"); g != tt.want {
				t.Errorf("X-Real-IP = %q, want %q", g, tt.want)
			}
			if g := got.Header.Get("X-Forwarded-For"); g != tt.wantXFF {
				t.Errorf("X-Forwarded-For = %q, want %q", g, tt.wantXFF)
			}
			var line map[string]any
			waitFor(t, func() bool {
				lines := logs.lines(t)
				if len(lines) > before {
					line = lines[len(lines)-1]
					return true
				}
				return false
			})
			peer, _ := line["peer"].(string)
			if line["client"] != tt.want || peer != tt.wantPeer {
				t.Errorf("access log client %v peer %q, want %s %q", line["client"], peer, tt.want, tt.wantPeer)
			}
		})
	}
}
