package web

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugin"
)

// testCA is a certificate authority made for one test.
type testCA struct {
	cert   *x509.Certificate
	key    *ecdsa.PrivateKey
	file   string // the CA certificate, PEM
	serial int64
}

func newTestCA(t *testing.T, dir, name string) *testCA {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature, BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca := &testCA{key: key, file: filepath.Join(dir, name+".crt"), serial: 1}
	ca.cert, _ = x509.ParseCertificate(der)
	if err := os.WriteFile(ca.file, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return ca
}

// issue signs a leaf for names (DNS names, and IP addresses) and writes
// it and its key; usage is server or client auth.
func (ca *testCA) issue(t *testing.T, dir, base string, usage x509.ExtKeyUsage, names ...string) (tls.Certificate, string, string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	ca.serial++
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(ca.serial), Subject: pkix.Name{CommonName: base},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
	cf, kf := filepath.Join(dir, base+".crt"), filepath.Join(dir, base+".key")
	if err := os.WriteFile(cf, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(kf, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return pair, cf, kf
}

// tlsSeen is what a TLS backend reports.
type tlsSeen struct {
	Backend    string
	Proto      string
	SNI        string
	ClientCert string // the client certificate's common name
	Path       string
}

// tlsBackend is a real HTTPS server (h2 and HTTP/1.1) on 127.0.0.1 with
// a certificate from ca for backend.test and 127.0.0.1; clientCA, when
// set, makes it require a client certificate from that authority.
func tlsBackend(t *testing.T, dir, name string, ca *testCA, clientCA *testCA) *httptest.Server {
	t.Helper()
	pair, _, _ := ca.issue(t, dir, name, x509.ExtKeyUsageServerAuth, "backend.test", "127.0.0.1")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s := tlsSeen{Backend: name, Proto: r.Proto, SNI: r.TLS.ServerName, Path: r.URL.Path}
		if len(r.TLS.PeerCertificates) > 0 {
			s.ClientCert = r.TLS.PeerCertificates[0].Subject.CommonName
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(s)
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	if clientCA != nil {
		roots := x509.NewCertPool()
		roots.AddCert(clientCA.cert)
		srv.TLS.ClientCAs = roots
		srv.TLS.ClientAuth = tls.RequireAndVerifyClientCert
		// TLS 1.2: the refusal comes in the handshake. Under TLS 1.3 the
		// client finishes first and the backend's alert arrives with the
		// first read, or as a lost connection, depending on timing.
		srv.TLS.MaxVersion = tls.VersionTLS12
	}
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes are the point
	srv.StartTLS()
	t.Cleanup(srv.Close)
	return srv
}

func addrOf(s *httptest.Server) string { return s.Listener.Addr().String() }

// TestServer_upstreamTLS proxies to real TLS backends: verified by a
// private CA with SNI, HTTP/2 by ALPN, a wrong certificate and a wrong
// name refused with 502 and a log line naming the reason, a backend that
// requires a client certificate, and a route plugin's addresses reached
// with the TLS settings of the pool.
func TestServer_upstreamTLS(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir, "backend-ca")
	other := newTestCA(t, dir, "other-ca")
	clientCA := newTestCA(t, dir, "client-ca")
	_, clientCert, clientKey := clientCA.issue(t, dir, "postern-client", x509.ExtKeyUsageClientAuth, "postern.test")
	_, strayCert, strayKey := other.issue(t, dir, "stray-client", x509.ExtKeyUsageClientAuth, "stray.test")

	plain := tlsBackend(t, dir, "tls", ca, nil)
	mtls := tlsBackend(t, dir, "mtls", ca, clientCA)
	mailbox := tlsBackend(t, dir, "mailbox", ca, nil)

	pool := func(name, addr string, tc PoolTLS) Pool {
		tc.Enabled = true
		return Pool{Name: name, Backends: []Backend{{Address: addr}}, MaxFails: -1, TLS: tc}
	}
	cfg := Config{
		Listeners: []Listener{{Name: "web"}},
		Pools: []Pool{
			pool("verified", addrOf(plain), PoolTLS{CAFile: ca.file, ServerName: "backend.test"}),
			pool("by-ip", addrOf(plain), PoolTLS{CAFile: ca.file}),
			pool("wrong-ca", addrOf(plain), PoolTLS{CAFile: other.file, ServerName: "backend.test"}),
			pool("system-roots", addrOf(plain), PoolTLS{ServerName: "backend.test"}),
			pool("wrong-name", addrOf(plain), PoolTLS{CAFile: ca.file, ServerName: "mailbox.example.com"}),
			pool("skip-verify", addrOf(plain), PoolTLS{InsecureSkipVerify: true}),
			pool("mtls-no-cert", addrOf(mtls), PoolTLS{CAFile: ca.file, ServerName: "backend.test"}),
			pool("mtls-stray-cert", addrOf(mtls), PoolTLS{CAFile: ca.file, ServerName: "backend.test", CertFile: strayCert, KeyFile: strayKey}),
			pool("mtls", addrOf(mtls), PoolTLS{CAFile: ca.file, ServerName: "backend.test", CertFile: clientCert, KeyFile: clientKey}),
			pool("mailboxes", "127.0.0.1:1", PoolTLS{CAFile: ca.file, ServerName: "backend.test"}),
		},
		Pool:     "verified",
		UserPool: "mailboxes",
	}
	for _, p := range cfg.Pools {
		cfg.Routes = append(cfg.Routes, Route{Name: p.Name, PathPrefix: "/" + p.Name + "/", Pool: p.Name})
	}
	h := pluginHost(t, nil,
		plugin.Spec{Name: "login-path", Path: guest(t, "login-path")},
		plugin.Spec{Name: "route", Path: guest(t, "route-rewrite"), Hooks: []abi.Hook{abi.HookRoute},
			Config: []byte(`{"routes":{"bob":"` + addrOf(mailbox) + `"}}`)},
	)
	s, logs := start(t, Options{Config: cfg, Plugins: h})
	c := client(t, nil)
	tests := []struct {
		path       string
		status     int
		backend    string
		clientCert string
		logWhy     string // in the "backend TLS handshake failed" line
	}{
		{"/verified/x", 200, "tls", "", ""},
		{"/by-ip/x", 200, "tls", "", ""},
		{"/wrong-ca/x", 502, "", "", "certificate signed by unknown authority"},
		{"/system-roots/x", 502, "", "", "certificate signed by unknown authority"},
		{"/wrong-name/x", 502, "", "", "not mailbox.example.com"},
		{"/skip-verify/x", 200, "tls", "", ""},
		{"/mtls-no-cert/x", 502, "", "", "handshake failure"},
		{"/mtls-stray-cert/x", 502, "", "", "handshake failure"}, // not sent: another CA than the backend asks for
		{"/mtls/x", 200, "mtls", "postern-client", ""},
		{"/home/bob/inbox", 200, "mailbox", "", ""},
	}
	for _, tc := range tests {
		t.Run(tc.path, func(t *testing.T) {
			before := len(logs.String())
			resp, err := c.Get(urlOf(s, "web", tc.path))
			if err != nil {
				t.Fatal(err)
			}
			var got tlsSeen
			if resp.Header.Get("Content-Type") == "application/json" {
				_ = json.NewDecoder(resp.Body).Decode(&got)
			}
			resp.Body.Close()
			if resp.StatusCode != tc.status || got.Backend != tc.backend {
				t.Fatalf("%d from %q, want %d from %q\n%s", resp.StatusCode, got.Backend, tc.status, tc.backend, logs.String()[before:])
			}
			if tc.status == 200 {
				if got.Proto != "HTTP/2.0" {
					t.Errorf("backend saw %s, want HTTP/2.0 (offered in ALPN)", got.Proto)
				}
				if got.ClientCert != tc.clientCert {
					t.Errorf("backend saw client certificate %q, want %q", got.ClientCert, tc.clientCert)
				}
				return
			}
			var line string
			waitFor(t, func() bool {
				for _, l := range strings.Split(logs.String()[before:], "\n") {
					if strings.Contains(l, `"msg":"backend TLS handshake failed"`) {
						line = l
						return true
					}
				}
				return false
			})
			if !strings.Contains(line, tc.logWhy) || !strings.Contains(line, `"backend":"`+addrOf(plain)) && !strings.Contains(line, `"backend":"`+addrOf(mtls)) {
				t.Errorf("log line %s does not name %q and the backend", line, tc.logWhy)
			}
		})
	}
	// SNI: the configured server name, or none for an IP address.
	resp, err := c.Get(urlOf(s, "web", "/verified/sni"))
	if err != nil {
		t.Fatal(err)
	}
	var got tlsSeen
	_ = json.NewDecoder(resp.Body).Decode(&got)
	resp.Body.Close()
	if got.SNI != "backend.test" {
		t.Errorf("SNI %q, want backend.test", got.SNI)
	}
}

// TestServer_upstreamTLSHTTP1 reaches a TLS backend that offers only
// HTTP/1.1, and checks a health check over TLS marks it up.
func TestServer_upstreamTLSHTTP1(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir, "ca")
	pair, _, _ := ca.issue(t, dir, "h1", x509.ExtKeyUsageServerAuth, "backend.test")
	var checks atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/health" {
			if r.TLS != nil && r.Header.Get("User-Agent") == "postern-health" {
				checks.Add(1)
			}
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{Backend: r.Proto, Path: r.URL.Path})
	}))
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}, NextProtos: []string{"http/1.1"}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	cfg := simple("", addrOf(srv))
	cfg.Pools[0].TLS = PoolTLS{Enabled: true, CAFile: ca.file, ServerName: "backend.test"}
	cfg.Pools[0].HealthPath = "/health"
	cfg.Pools[0].HealthInterval = 100 * time.Millisecond
	s, _ := start(t, Options{Config: cfg})
	c := client(t, nil)
	resp, got := get(t, c, urlOf(s, "web", "/x"))
	if resp.StatusCode != 200 || got.Backend != "HTTP/1.1" {
		t.Fatalf("%d, backend saw %q; want 200 over HTTP/1.1", resp.StatusCode, got.Backend)
	}
	waitFor(t, func() bool { return checks.Load() >= 2 }) // health checks over TLS
	for _, b := range s.Stats().Backends {
		if !b.Up {
			t.Errorf("backend %s down after healthy checks", b.Backend)
		}
	}
}

func TestNew_upstreamTLSFiles(t *testing.T) {
	dir := t.TempDir()
	notPEM := filepath.Join(dir, "x.txt")
	os.WriteFile(notPEM, []byte("hello"), 0o600)
	for _, tc := range []struct {
		tls  PoolTLS
		want string
	}{
		{PoolTLS{Enabled: true, CAFile: filepath.Join(dir, "missing.crt")}, "pool p: tls: ca_file"},
		{PoolTLS{Enabled: true, CAFile: notPEM}, "no PEM certificate"},
		{PoolTLS{Enabled: true, CertFile: notPEM, KeyFile: notPEM}, "cert_file/key_file"},
	} {
		cfg := simple("", "127.0.0.1:1")
		cfg.Listeners[0].Address = "127.0.0.1:0"
		cfg.Pools[0].TLS = tc.tls
		if _, err := New(Options{Config: cfg}); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New with %+v = %v, want %q", tc.tls, err, tc.want)
		}
		if err := cfg.CheckTLSFiles(); err == nil || !strings.Contains(err.Error(), "pools[0] (p).tls: ") {
			t.Errorf("CheckTLSFiles with %+v = %v", tc.tls, err)
		}
	}
}

// TestServer_upstreamTLSWebSocket upgrades through a TLS pool whose
// backend offers h2: the upgrade goes over HTTP/1.1 and bytes flow both
// ways.
func TestServer_upstreamTLSWebSocket(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir, "ca")
	pair, _, _ := ca.issue(t, dir, "ws", x509.ExtKeyUsageServerAuth, "backend.test")
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/proto" { // an ordinary request first: it opens an h2 connection
			io.WriteString(w, r.Proto)
			return
		}
		conn, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			http.Error(w, "no hijack over "+r.Proto, 500)
			return
		}
		defer conn.Close()
		fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
			wsAccept(r.Header.Get("Sec-WebSocket-Key")))
		brw.Flush()
		io.Copy(conn, brw) // echo
	}))
	srv.EnableHTTP2 = true
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{pair}}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	cfg := simple("", addrOf(srv))
	cfg.Pools[0].TLS = PoolTLS{Enabled: true, CAFile: ca.file, ServerName: "backend.test"}
	s, _ := start(t, Options{Config: cfg})
	resp, err := client(t, nil).Get(urlOf(s, "web", "/proto"))
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "HTTP/2.0" {
		t.Fatalf("ordinary request went over %q, want HTTP/2.0", b)
	}
	conn, err := net.Dial("tcp", s.Addr("web").String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	fmt.Fprintf(conn, "GET /ws HTTP/1.1\r\nHost: x.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", key)
	br := bufio.NewReader(conn)
	up, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if up.StatusCode != 101 {
		body, _ := io.ReadAll(up.Body)
		t.Fatalf("upgrade: %s %q", up.Status, body)
	}
	if _, err := conn.Write([]byte("ping over tls")); err != nil {
		t.Fatal(err)
	}
	echo := make([]byte, len("ping over tls"))
	if _, err := io.ReadFull(br, echo); err != nil || string(echo) != "ping over tls" {
		t.Fatalf("echo %q, %v", echo, err)
	}
}

// TestServer_upstreamTLSRetryPOST: a backend whose certificate does not
// verify is skipped like one that refuses connections, even for a POST
// (no byte of it was sent).
func TestServer_upstreamTLSRetryPOST(t *testing.T) {
	dir := t.TempDir()
	ca := newTestCA(t, dir, "ca")
	other := newTestCA(t, dir, "other")
	good := tlsBackend(t, dir, "good", ca, nil)
	bad := tlsBackend(t, dir, "bad", other, nil)
	cfg := simple("round-robin", addrOf(bad), addrOf(good))
	cfg.Pools[0].MaxFails = -1 // keep trying the bad one first, every other request
	cfg.Pools[0].TLS = PoolTLS{Enabled: true, CAFile: ca.file, ServerName: "backend.test"}
	s, _ := start(t, Options{Config: cfg})
	c := client(t, nil)
	for i := range 4 {
		resp, err := c.Post(urlOf(s, "web", "/form"), "text/plain", strings.NewReader("body"))
		if err != nil {
			t.Fatal(err)
		}
		var got tlsSeen
		_ = json.NewDecoder(resp.Body).Decode(&got)
		resp.Body.Close()
		if resp.StatusCode != 200 || got.Backend != "good" {
			t.Fatalf("POST %d: %d from %q, want 200 from good", i, resp.StatusCode, got.Backend)
		}
	}
}
