package mail

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/host/internal/guestbuild"
	"github.com/postern/postern/host/internal/testenv"
	"github.com/postern/postern/host/plugin"
)

func TestMain(m *testing.M) { testenv.Main(m) }

// logBuffer collects log output.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// proxy is a running mail front end in front of the shared Dovecot.
type proxy struct {
	srv     *Server
	dovecot *testenv.Dovecot
	logs    *logBuffer
	roots   *x509.CertPool // trusts the proxy's certificate
	certPEM []byte         // the proxy's certificate
	host    *plugin.Host
}

type proxyOpts struct {
	plugin    map[string]any // router plugin config; nil: no plugin
	route     []string       // listener default route; nil: Dovecot's plain ports
	plaintext bool           // allow plaintext logins
	upstream  Upstream
	limits    Limits
	proxyProt bool
	host      *plugin.Host // plugins to use instead of the router plugin
	oauth     OAuth
}

func startProxy(t *testing.T, o proxyOpts) *proxy {
	t.Helper()
	d := testenv.SharedDovecot(t)
	certPEM, keyPEM, err := testenv.SelfSigned("localhost")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	host := o.host
	if o.plugin != nil {
		host, err = plugin.New(context.Background(), plugin.Options{Logger: logger})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { host.Close(context.Background()) })
		cfgJSON, _ := json.Marshal(o.plugin)
		if err := host.Load(context.Background(), []plugin.Spec{{
			Name: "router", Path: guestbuild.Build(t, "host/mail/testdata/guests/router"), Config: cfgJSON,
		}}); err != nil {
			t.Fatal(err)
		}
	}
	imapRoute, pop3Route := o.route, o.route
	if o.route == nil {
		imapRoute, pop3Route = []string{d.IMAP}, []string{d.POP3}
	}
	var trusted []netip.Prefix
	if o.proxyProt {
		trusted = []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}
	}
	cfg := Config{
		Listeners: []Listener{
			{Name: "imap", Address: "127.0.0.1:0", Protocol: IMAP, TLS: TLSStartTLS, AllowPlaintextLogin: o.plaintext, Route: imapRoute, ProxyProtocol: o.proxyProt, TrustedProxies: trusted},
			{Name: "imaps", Address: "127.0.0.1:0", Protocol: IMAP, TLS: TLSImplicit, Route: imapRoute},
			{Name: "pop3", Address: "127.0.0.1:0", Protocol: POP3, TLS: TLSStartTLS, AllowPlaintextLogin: o.plaintext, Route: pop3Route},
			{Name: "pop3s", Address: "127.0.0.1:0", Protocol: POP3, TLS: TLSImplicit, Route: pop3Route},
		},
		Upstream: o.upstream,
		Limits:   o.limits,
		TLS:      &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Plugins:  host,
		Logger:   logger,
		OAuth:    o.oauth,
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proxy{srv: srv, dovecot: d, logs: logs, roots: roots, certPEM: certPEM, host: host}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if t.Failed() {
			t.Logf("proxy log:\n%s", logs)
		}
	})
	return p
}

func (p *proxy) addr(name string) string { return p.srv.Addr(name).String() }

func (p *proxy) tlsConfig() *tls.Config {
	return &tls.Config{RootCAs: p.roots, ServerName: "localhost"}
}

// waitIdle waits until no session is active: every session ended and
// logged, nothing leaked.
func (p *proxy) waitIdle(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for p.srv.Stats().Active.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still active", p.srv.Stats().Active.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// conn is a line-oriented test client.
type conn struct {
	t  *testing.T
	c  net.Conn
	br *bufio.Reader
}

func dial(t *testing.T, addr string) *conn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.SetDeadline(time.Now().Add(20 * time.Second))
	return &conn{t: t, c: c, br: bufio.NewReader(c)}
}

func (c *conn) send(s string) {
	c.t.Helper()
	if _, err := c.c.Write([]byte(s)); err != nil {
		c.t.Fatalf("send %q: %v", s, err)
	}
}

func (c *conn) line() string {
	c.t.Helper()
	l, err := c.br.ReadString('\n')
	if err != nil {
		c.t.Fatalf("read: %v (got %q)", err, l)
	}
	return strings.TrimRight(l, "\r\n")
}

// expect reads one line and checks its prefix.
func (c *conn) expect(prefix string) string {
	c.t.Helper()
	l := c.line()
	if !strings.HasPrefix(l, prefix) {
		c.t.Fatalf("got %q, want prefix %q", l, prefix)
	}
	return l
}

// until reads lines until one starts with prefix; returns it.
func (c *conn) until(prefix string) string {
	c.t.Helper()
	for i := 0; i < 100; i++ {
		if l := c.line(); strings.HasPrefix(l, prefix) {
			return l
		}
	}
	c.t.Fatalf("no line with prefix %q", prefix)
	return ""
}

func (c *conn) startTLS(cfg *tls.Config) {
	c.t.Helper()
	tc := tls.Client(c.c, cfg)
	if err := tc.Handshake(); err != nil {
		c.t.Fatal(err)
	}
	c.c = tc
	c.br = bufio.NewReader(tc)
}

// eof asserts the server closed the connection.
func (c *conn) eof() {
	c.t.Helper()
	c.c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if l, err := c.br.ReadString('\n'); err == nil {
		c.t.Fatalf("expected the connection to close, got %q", l)
	}
}

func lit(s string) string { return fmt.Sprintf("{%d}", len(s)) }

func newPool(pemCerts []byte) *x509.CertPool {
	p := x509.NewCertPool()
	p.AppendCertsFromPEM(pemCerts)
	return p
}

func tlsClient(roots *x509.CertPool) *tls.Config {
	return &tls.Config{RootCAs: roots, ServerName: "localhost"}
}

func contextWithTimeout(d time.Duration) (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), d)
}

func slogDiscard() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func contextBackground() context.Context { return context.Background() }
