package web

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/host/internal/testenv"
	"github.com/postern/postern/host/tlsstore"
)

// TestMain runs the package's tests; POSTERN_WEB_EVENT_LOOP=off runs them
// with every listener a goroutine per connection, off the event loops
// (make test runs both).
func TestMain(m *testing.M) {
	noEventLoops = os.Getenv("POSTERN_WEB_EVENT_LOOP") == "off"
	testenv.Main(m)
}

// seen is what a test backend reports about the request it got.
type seen struct {
	Backend string
	Method  string
	Host    string
	Path    string
	RawPath string
	Query   string
	Header  http.Header
	Body    int64
}

// backend is a real HTTP server on 127.0.0.1 that answers with what it saw.
type backend struct {
	name string
	srv  *httptest.Server
	addr string
	mu   sync.Mutex
	hits int
}

func newBackend(t *testing.T, name string, extra http.Handler) *backend {
	t.Helper()
	b := &backend{name: name}
	b.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b.mu.Lock()
		b.hits++
		b.mu.Unlock()
		if extra != nil && r.URL.Path != "/echo" {
			extra.ServeHTTP(w, r)
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(seen{Backend: name, Method: r.Method, Host: r.Host, Path: r.URL.Path,
			RawPath: r.URL.RawPath, Query: r.URL.RawQuery, Header: r.Header, Body: n})
	}))
	t.Cleanup(b.srv.Close)
	b.addr = b.srv.Listener.Addr().String()
	return b
}

func (b *backend) Hits() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.hits
}

// logBuf collects JSON log lines.
type logBuf struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuf) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// lines returns the access log lines decoded.
func (l *logBuf) lines(t *testing.T) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, line := range bytes.Split([]byte(l.String()), []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("log line %q: %v", line, err)
		}
		if m["msg"] == "http request" {
			out = append(out, m)
		}
	}
	return out
}

// start builds and starts a server on 127.0.0.1:0 listeners; it stops when
// the test ends.
func start(t testing.TB, opts Options) (*Server, *logBuf) {
	t.Helper()
	logs := &logBuf{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	for i := range opts.Config.Listeners {
		if opts.Config.Listeners[i].Address == "" {
			opts.Config.Listeners[i].Address = "127.0.0.1:0"
		}
	}
	s, err := New(opts)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := s.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
	})
	return s, logs
}

// simple is a config with one plain listener "web" and pool "p" of addrs.
func simple(mode string, addrs ...string) Config {
	p := Pool{Name: "p", Balance: mode}
	for _, a := range addrs {
		p.Backends = append(p.Backends, Backend{Address: a})
	}
	return Config{Listeners: []Listener{{Name: "web"}}, Pools: []Pool{p}, Pool: "p"}
}

func urlOf(s *Server, listener, path string) string {
	return "http://" + s.Addr(listener).String() + path
}

// client is an HTTP client that does not follow redirects and closes its
// connections when the test ends.
func client(t *testing.T, tr *http.Transport) *http.Client {
	if tr == nil {
		tr = &http.Transport{}
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func get(t *testing.T, c *http.Client, u string, hdr ...string) (*http.Response, seen) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Add(hdr[i], hdr[i+1])
	}
	return do(t, c, req)
}

func do(t *testing.T, c *http.Client, req *http.Request) (*http.Response, seen) {
	t.Helper()
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var s seen
	if resp.Header.Get("Content-Type") == "application/json" {
		if err := json.Unmarshal(body, &s); err != nil {
			t.Fatalf("backend answer %q: %v", body, err)
		}
	} else {
		s.Backend = string(body) // the proxy's own text body
	}
	return resp, s
}

// vhostCert writes a self-signed certificate for names and returns its
// pair and parsed form.
func vhostCert(t testing.TB, dir, base string, names ...string) (tlsstore.Pair, *x509.Certificate) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sn, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber: sn, Subject: pkix.Name{CommonName: base},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		DNSNames: names, KeyUsage: x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true, IsCA: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	p := tlsstore.Pair{CertFile: filepath.Join(dir, base+".crt"), KeyFile: filepath.Join(dir, base+".key")}
	if err := os.WriteFile(p.CertFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p.KeyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	c, _ := x509.ParseCertificate(der)
	return p, c
}

// tlsClient trusts only root and connects to addr whatever the URL says.
func tlsClient(t *testing.T, root *x509.Certificate, h2 bool) *http.Client {
	pool := x509.NewCertPool()
	pool.AddCert(root)
	tr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: h2}
	if !h2 {
		tr.TLSNextProto = map[string]func(string, *tls.Conn) http.RoundTripper{}
	}
	return client(t, tr)
}
