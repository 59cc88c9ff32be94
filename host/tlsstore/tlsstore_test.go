package tlsstore

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// certFiles is a generated certificate on disk.
type certFiles struct {
	Pair
	cert *x509.Certificate
	pem  []byte // certificate PEM
	key  []byte // key PEM
}

var serial int64 = 1000

// genCert writes a self-signed ECDSA certificate for names into dir as
// <base>.crt and <base>.key.
func genCert(t testing.TB, dir, base string, names ...string) certFiles {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial++
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(serial),
		Subject:               pkix.Name{CommonName: base},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		DNSNames:              names,
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	c := certFiles{
		Pair: Pair{CertFile: filepath.Join(dir, base+".crt"), KeyFile: filepath.Join(dir, base+".key")},
		cert: cert,
		pem:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		key:  pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}),
	}
	c.write(t)
	return c
}

// write puts the files in place by rename, as deploy tools do.
func (c certFiles) write(t testing.TB) {
	t.Helper()
	for _, f := range []struct {
		path string
		data []byte
	}{{c.KeyFile, c.key}, {c.CertFile, c.pem}} {
		tmp := f.path + ".tmp"
		if err := os.WriteFile(tmp, f.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, f.path); err != nil {
			t.Fatal(err)
		}
	}
}

func quietLogger() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestStore_Lookup(t *testing.T) {
	dir := t.TempDir()
	a := genCert(t, dir, "a", "mail.example.com", "MAIL.example.org")
	w := genCert(t, dir, "w", "*.example.com")
	dup := genCert(t, dir, "dup", "mail.example.com", "other.example.net")
	def := genCert(t, dir, "def", "default.test")
	s, err := New(Options{Certs: []Pair{a.Pair, w.Pair, dup.Pair}, Default: def.Pair, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	tests := []struct {
		name string
		sni  string
		want certFiles
	}{
		{"exact", "mail.example.com", a},
		{"exact case-insensitive", "Mail.Example.COM", a},
		{"exact with trailing dot", "mail.example.com.", a},
		{"SAN in upper case", "mail.example.org", a},
		{"wildcard", "webmail.example.com", w},
		{"wildcard does not cover two labels", "a.b.example.com", def},
		{"wildcard does not cover the apex", "example.com", def},
		{"earlier pair wins a duplicate", "mail.example.com", a},
		{"later pair's other names", "other.example.net", dup},
		{"the default's own name", "default.test", def},
		{"no SNI", "", def},
		{"unknown name", "nobody.invalid", def},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := s.Lookup(tc.sni)
			if !got.Leaf.Equal(tc.want.cert) {
				t.Errorf("Lookup(%q) = %v, want %v", tc.sni, got.Leaf.DNSNames, tc.want.cert.DNSNames)
			}
		})
	}
}

func TestStore_defaultIsFirstPair(t *testing.T) {
	dir := t.TempDir()
	a := genCert(t, dir, "a", "a.test")
	b := genCert(t, dir, "b", "b.test")
	s, err := New(Options{Certs: []Pair{a.Pair, b.Pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if got := s.Lookup("zzz.test"); !got.Leaf.Equal(a.cert) {
		t.Errorf("default = %v, want the first pair", got.Leaf.DNSNames)
	}
}

func TestNew_errors(t *testing.T) {
	dir := t.TempDir()
	a := genCert(t, dir, "a", "a.test")
	b := genCert(t, dir, "b", "b.test")
	garbage := filepath.Join(dir, "garbage.pem")
	if err := os.WriteFile(garbage, []byte("not pem"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		opts Options
		want string
	}{
		{"nothing", Options{}, "no certificates"},
		{"missing file", Options{Certs: []Pair{{CertFile: filepath.Join(dir, "nope.crt"), KeyFile: a.KeyFile}}}, "nope.crt"},
		{"key does not match", Options{Certs: []Pair{{CertFile: a.CertFile, KeyFile: b.KeyFile}}}, "key matches"},
		{"not PEM", Options{Certs: []Pair{{CertFile: garbage, KeyFile: a.KeyFile}}}, "garbage.pem"},
		{"no key file", Options{Default: Pair{CertFile: a.CertFile}}, "both cert_file and key_file"},
		{"watch a missing directory", Options{Watch: true, Certs: []Pair{a.Pair, {CertFile: "/nonexistent/x.crt", KeyFile: "/nonexistent/x.key"}}}, "tlsstore"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s, err := New(tc.opts)
			if err == nil {
				s.Close()
				t.Fatal("New succeeded, want an error")
			}
			if !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "tlsstore: ") {
				t.Errorf("error = %q, want it to start with tlsstore: and contain %q", err, tc.want)
			}
		})
	}
}

// serve runs a TLS echo server with the store's config on 127.0.0.1.
func serve(t *testing.T, s *Store) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", s.TLSConfig("h2", "http/1.1"))
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var mu sync.Mutex
	var conns []net.Conn
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for _, c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				_, _ = io.Copy(c, c)
			}()
		}
	}()
	return ln.Addr().String()
}

// dial connects with sni, trusting roots, and returns the leaf the server
// presented.
func dial(t *testing.T, addr, sni string, roots ...certFiles) (*tls.Conn, *x509.Certificate) {
	t.Helper()
	pool := x509.NewCertPool()
	for _, r := range roots {
		pool.AddCert(r.cert)
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: sni, RootCAs: pool, NextProtos: []string{"h2"}})
	if err != nil {
		t.Fatalf("dial %s with SNI %q: %v", addr, sni, err)
	}
	return c, c.ConnectionState().PeerCertificates[0]
}

func TestStore_SNI_realClient(t *testing.T) {
	dir := t.TempDir()
	one := genCert(t, dir, "one", "one.test")
	two := genCert(t, dir, "two", "*.two.test")
	s, err := New(Options{Certs: []Pair{one.Pair, two.Pair}, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := serve(t, s)
	tests := []struct {
		sni  string
		want certFiles
	}{
		{"one.test", one},
		{"www.two.test", two},
		{"mail.two.test", two},
	}
	for _, tc := range tests {
		t.Run(tc.sni, func(t *testing.T) {
			// Trusting only the expected certificate makes verification
			// itself check the choice, names included.
			c, leaf := dial(t, addr, tc.sni, tc.want)
			defer c.Close()
			if !leaf.Equal(tc.want.cert) {
				t.Errorf("served %v, want %v", leaf.DNSNames, tc.want.cert.DNSNames)
			}
			if st := c.ConnectionState(); st.NegotiatedProtocol != "h2" {
				t.Errorf("ALPN = %q, want h2", st.NegotiatedProtocol)
			}
		})
	}
}

func TestStore_TLSConfig_refusesOldVersionsAndWeakSuites(t *testing.T) {
	dir := t.TempDir()
	one := genCert(t, dir, "one", "one.test")
	s, err := New(Options{Certs: []Pair{one.Pair}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := serve(t, s)
	tests := []struct {
		name string
		cfg  *tls.Config
	}{
		{"TLS 1.1", &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS11}},
		{"RSA key exchange", &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}}},
		{"CBC", &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12,
			CipherSuites: []uint16{tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := tls.Dial("tcp", addr, tc.cfg)
			if err == nil {
				c.Close()
				t.Fatal("handshake succeeded, want a refusal")
			}
		})
	}
	c, err := tls.Dial("tcp", addr, &tls.Config{InsecureSkipVerify: true, MaxVersion: tls.VersionTLS12})
	if err != nil {
		t.Fatalf("TLS 1.2 with defaults: %v", err)
	}
	c.Close()
}

func TestStore_Watch_reloadKeepsOpenConnections(t *testing.T) {
	dir := t.TempDir()
	old := genCert(t, dir, "site", "site.test")
	s, err := New(Options{Certs: []Pair{old.Pair}, Watch: true, Debounce: 20 * time.Millisecond, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	addr := serve(t, s)
	open, leaf := dial(t, addr, "site.test", old)
	defer open.Close()
	if !leaf.Equal(old.cert) {
		t.Fatal("first handshake did not get the first certificate")
	}

	fresh := genCert(t, t.TempDir(), "site", "site.test")
	fresh.Pair = old.Pair
	fresh.write(t)

	deadline := time.Now().Add(10 * time.Second)
	for {
		c, leaf := dial(t, addr, "site.test", old, fresh)
		c.Close()
		if leaf.Equal(fresh.cert) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the new certificate was not served within 10s of the file change")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// The connection opened before the reload still works.
	if _, err := open.Write([]byte("ping")); err != nil {
		t.Fatalf("write on the old connection: %v", err)
	}
	buf := make([]byte, 4)
	open.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(open, buf); err != nil || string(buf) != "ping" {
		t.Fatalf("echo on the old connection = %q, %v", buf, err)
	}
}

// syncBuffer is a concurrency-safe log sink.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestStore_badFileKeepsOld(t *testing.T) {
	dir := t.TempDir()
	good := genCert(t, dir, "site", "site.test")
	var logs syncBuffer
	s, err := New(Options{Certs: []Pair{good.Pair}, Watch: true, Debounce: 20 * time.Millisecond,
		Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// A truncated certificate, written by the watcher's path.
	if err := os.WriteFile(good.CertFile, good.pem[:len(good.pem)/2], 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "certificate reload failed") {
		if time.Now().After(deadline) {
			t.Fatalf("no reload failure logged within 10s; logs:\n%s", logs.String())
		}
		time.Sleep(20 * time.Millisecond)
	}
	if got := s.Lookup("site.test"); !got.Leaf.Equal(good.cert) {
		t.Error("a bad file replaced the serving certificate")
	}
	// An explicit reload reports the error and also keeps the old one.
	if err := s.Reload(); err == nil || !strings.HasPrefix(err.Error(), "tlsstore: ") {
		t.Errorf("Reload() = %v, want a tlsstore error", err)
	}
	if got := s.Lookup("site.test"); !got.Leaf.Equal(good.cert) {
		t.Error("Reload with a bad file replaced the serving certificate")
	}
	// A key that does not match is refused the same way.
	other := genCert(t, t.TempDir(), "other", "site.test")
	if err := os.WriteFile(good.CertFile, other.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := s.Reload(); err == nil {
		t.Error("Reload with a mismatched key succeeded")
	}
	if got := s.Lookup("site.test"); !got.Leaf.Equal(good.cert) {
		t.Error("a mismatched key replaced the serving certificate")
	}
	// Fixing the files brings the store back.
	good.write(t)
	if err := s.Reload(); err != nil {
		t.Errorf("Reload after repair: %v", err)
	}
}

func TestStore_Close_idempotent(t *testing.T) {
	dir := t.TempDir()
	a := genCert(t, dir, "a", "a.test")
	s, err := New(Options{Certs: []Pair{a.Pair}, Watch: true, Logger: quietLogger()})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if s.Lookup("a.test") == nil {
		t.Error("Lookup after Close returned nil")
	}
}

func FuzzStore_Lookup(f *testing.F) {
	dir := f.TempDir()
	a := genCert(f, dir, "a", "a.example.com", "*.example.com")
	s, err := New(Options{Certs: []Pair{a.Pair}})
	if err != nil {
		f.Fatal(err)
	}
	defer s.Close()
	f.Add("a.example.com")
	f.Fuzz(func(t *testing.T, name string) {
		if s.Lookup(name) == nil {
			t.Fatalf("Lookup(%q) = nil; the default must always answer", name)
		}
	})
}
