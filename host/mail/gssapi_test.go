package mail

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"

	"github.com/postern/postern/host/internal/gssapi/gssapitest"
	"github.com/postern/postern/host/internal/testenv"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
)

// lookupServer is a Zimbra-style route lookup service on 127.0.0.1 that
// records the headers of every request and routes to one upstream.
type lookupServer struct {
	srv      *http.Server
	addr     string
	upstream string
	mu       sync.Mutex
	reqs     []http.Header
}

func newLookupServer(t *testing.T, upstream string) *lookupServer {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ls := &lookupServer{addr: ln.Addr().String(), upstream: upstream}
	ls.srv = &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ls.mu.Lock()
		ls.reqs = append(ls.reqs, r.Header.Clone())
		ls.mu.Unlock()
		host, port, _ := net.SplitHostPort(ls.upstream)
		w.Header().Set("Auth-Status", "OK")
		w.Header().Set("Auth-Server", host)
		w.Header().Set("Auth-Port", port)
	})}
	go ls.srv.Serve(ln)
	t.Cleanup(func() { ls.srv.Close() })
	return ls
}

func (ls *lookupServer) requests() []http.Header {
	ls.mu.Lock()
	defer ls.mu.Unlock()
	return append([]http.Header(nil), ls.reqs...)
}

type gssProxyOpts struct {
	gssapi  GSSAPI        // Keytab defaults to the KDC's service keytab
	lookup  *lookupServer // route-cache + route-lookup plugins asking it; nil: no plugins
	store   kv.Store      // the plugins' store
	logger  *slog.Logger  // nil: into p.logs
	noKDC   bool          // no keytab at all
	skipLog bool
}

// startGSSProxy starts a front end with GSSAPI in front of the shared
// Dovecot, logging in there as the master user on the user's behalf.
func startGSSProxy(t *testing.T, k *testenv.KDC, o gssProxyOpts) *proxy {
	t.Helper()
	d := testenv.SharedDovecot(t)
	certPEM, keyPEM, err := testenv.SelfSigned("localhost")
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := tls.X509KeyPair(certPEM, keyPEM)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(certPEM)
	logs := &logBuffer{}
	logger := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var host *plugin.Host
	if o.lookup != nil {
		host, err = plugin.New(context.Background(), plugin.Options{Logger: logger, Store: o.store})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { host.Close(context.Background()) })
		if err := host.Load(context.Background(), []plugin.Spec{
			{Name: "route-cache", Path: plugintest.Build(t, "plugins/route-cache")},
			{Name: "route-lookup", Path: plugintest.Build(t, "plugins/route-lookup"), HTTPAllow: []string{o.lookup.addr},
				Config: []byte(`{"servers":["http://` + o.lookup.addr + `/lookup"],"timeout":"2s"}`)},
		}); err != nil {
			t.Fatal(err)
		}
	}
	g := o.gssapi
	if g.Keytab == "" && !o.noKDC {
		g.Keytab = k.ServiceKeytab
	}
	if g.Realms == nil && !o.noKDC {
		g.Realms = map[string]string{k.Realm: "example.com"} // bob@TEST.REALM logs in as bob@example.com
	}
	cfg := Config{
		Listeners: []Listener{
			{Name: "imap", Address: "127.0.0.1:0", Protocol: IMAP, TLS: TLSStartTLS, AllowPlaintextLogin: true, Route: []string{d.IMAP}},
			{Name: "pop3", Address: "127.0.0.1:0", Protocol: POP3, TLS: TLSStartTLS, AllowPlaintextLogin: true, Route: []string{d.POP3}},
		},
		Upstream: Upstream{MasterUser: testenv.DovecotMaster, MasterPassword: testenv.DovecotMasterPassword},
		TLS:      &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Plugins:  host,
		Logger:   logger,
		GSSAPI:   g,
	}
	srv, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	p := &proxy{srv: srv, dovecot: d, logs: logs, roots: roots, host: host}
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

// krbClient logs a user in to the KDC with gokrb5's client.
func krbClient(t *testing.T, k *testenv.KDC, user string) *client.Client {
	t.Helper()
	cfg, err := config.Load(k.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	cl := client.NewWithPassword(user, k.Realm, k.Users[user], cfg, client.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		t.Fatalf("kinit %s: %v", user, err)
	}
	t.Cleanup(cl.Destroy)
	return cl
}

func b64(b []byte) string { return base64.StdEncoding.EncodeToString(b) }

// challenge reads a "+ <base64>" line.
func (c *conn) challenge(t *testing.T) []byte {
	t.Helper()
	l := c.line()
	if !strings.HasPrefix(l, "+") {
		t.Fatalf("got %q, want a continuation", l)
	}
	b, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(l, "+")))
	if err != nil {
		t.Fatalf("challenge %q: %v", l, err)
	}
	return b
}

// gssapiSteps answers the server's challenges until the exchange is done.
func gssapiSteps(t *testing.T, c *conn, x *gssapitest.Exchange) {
	t.Helper()
	for done := false; !done; {
		resp, d, err := x.Step(c.challenge(t))
		if err != nil {
			t.Fatal(err)
		}
		done = d
		c.send(b64(resp) + "\r\n")
	}
}

func imapCaps(t *testing.T, c *conn) string {
	t.Helper()
	c.send("c CAPABILITY\r\n")
	caps := c.expect("* CAPABILITY")
	c.expect("c OK")
	return caps
}

func pop3Capa(t *testing.T, c *conn) string {
	t.Helper()
	c.send("CAPA\r\n")
	c.expect("+OK")
	var caps []string
	for l := c.line(); l != "."; l = c.line() {
		caps = append(caps, l)
	}
	return strings.Join(caps, "\n")
}

// TestGSSAPI_login logs in with a real Kerberos ticket over IMAP (with and
// without SASL-IR) and POP3, and checks that the proxy logged in to Dovecot
// as bob@example.com with the master user: SELECT and STAT work.
func TestGSSAPI_login(t *testing.T) {
	k := testenv.SharedKDC(t)
	p := startGSSProxy(t, k, gssProxyOpts{})
	bob := krbClient(t, k, "bob")
	for _, tc := range []struct {
		name string
		run  func(t *testing.T)
	}{
		{"imap continuation", func(t *testing.T) {
			c := dial(t, p.addr("imap"))
			if g := c.expect("* OK"); !strings.Contains(g, "AUTH=GSSAPI") {
				t.Errorf("greeting without AUTH=GSSAPI: %q", g)
			}
			x, err := gssapitest.New(bob, "imap/localhost", gssapitest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			c.send("a AUTHENTICATE GSSAPI\r\n")
			if ch := c.challenge(t); len(ch) != 0 {
				t.Fatalf("first challenge %q, want empty", ch)
			}
			c.send(b64(x.APReq) + "\r\n")
			gssapiSteps(t, c, x)
			c.until("a OK")
			c.send("b SELECT INBOX\r\n")
			c.until("b OK")
			c.send("z LOGOUT\r\n")
			c.until("z OK")
		}},
		{"imap sasl-ir", func(t *testing.T) {
			c := dial(t, p.addr("imap"))
			c.expect("* OK")
			x, err := gssapitest.New(bob, "imap/localhost", gssapitest.Options{AuthzID: "bob@example.com"})
			if err != nil {
				t.Fatal(err)
			}
			c.send("a AUTHENTICATE GSSAPI " + b64(x.APReq) + "\r\n")
			gssapiSteps(t, c, x)
			c.until("a OK")
			c.send("b SELECT INBOX\r\n")
			c.until("b OK")
			c.send("z LOGOUT\r\n")
			c.until("z OK")
		}},
		{"imap no mutual", func(t *testing.T) {
			c := dial(t, p.addr("imap"))
			c.expect("* OK")
			x, err := gssapitest.New(bob, "imap/localhost", gssapitest.Options{NoMutual: true})
			if err != nil {
				t.Fatal(err)
			}
			c.send("a AUTHENTICATE GSSAPI " + b64(x.APReq) + "\r\n")
			gssapiSteps(t, c, x)
			c.until("a OK")
			c.send("z LOGOUT\r\n")
			c.until("z OK")
		}},
		{"pop3", func(t *testing.T) {
			c := dial(t, p.addr("pop3"))
			c.expect("+OK")
			if caps := pop3Capa(t, c); !strings.Contains(caps, "SASL PLAIN LOGIN GSSAPI") {
				t.Errorf("CAPA without GSSAPI: %q", caps)
			}
			x, err := gssapitest.New(bob, "pop/localhost", gssapitest.Options{})
			if err != nil {
				t.Fatal(err)
			}
			c.send("AUTH GSSAPI\r\n")
			if ch := c.challenge(t); len(ch) != 0 {
				t.Fatalf("first challenge %q, want empty", ch)
			}
			c.send(b64(x.APReq) + "\r\n")
			gssapiSteps(t, c, x)
			c.expect("+OK")
			c.send("STAT\r\n")
			c.expect("+OK")
			c.send("QUIT\r\n")
			c.expect("+OK")
		}},
	} {
		t.Run(tc.name, tc.run)
	}
	p.waitIdle(t)
	// Dovecot saw master logins for bob@example.com.
	if l := p.dovecot.Log(); !strings.Contains(l, "master") || !strings.Contains(l, "bob@example.com") {
		t.Logf("dovecot log does not mention the master login:\n%s", l)
	}
	if l := p.logs.String(); strings.Count(l, "outcome=relayed") < 4 || !strings.Contains(l, "login=bob@example.com") {
		t.Fatalf("proxy log:\n%s", l)
	}
}

// TestGSSAPI_failures: every failure answers NO [AUTHENTICATIONFAILED] or
// -ERR [AUTH] and logs a line naming the reason, never the token.
func TestGSSAPI_failures(t *testing.T) {
	k := testenv.SharedKDC(t)
	p := startGSSProxy(t, k, gssProxyOpts{})
	bob := krbClient(t, k, "bob")
	carol := krbClient(t, k, "carol/admin")
	newX := func(cl *client.Client, spn string, o gssapitest.Options) *gssapitest.Exchange {
		x, err := gssapitest.New(cl, spn, o)
		if err != nil {
			t.Fatal(err)
		}
		return x
	}
	replayed := newX(bob, "imap/localhost", gssapitest.Options{})
	{
		c := dial(t, p.addr("imap"))
		c.expect("* OK")
		c.send("a AUTHENTICATE GSSAPI " + b64(replayed.APReq) + "\r\n")
		gssapiSteps(t, c, replayed)
		c.until("a OK")
		c.c.Close()
	}
	var tokens []string
	for _, tc := range []struct {
		name   string
		proto  string // "imap" or "pop3"
		token  []byte
		x      *gssapitest.Exchange // when the exchange goes past the AP-REQ
		reason string
	}{
		{name: "wrong service", proto: "imap", token: newX(bob, "pop/localhost", gssapitest.Options{}).APReq, reason: "wrong_service"},
		{name: "wrong service pop3", proto: "pop3", x: newX(bob, "imap/localhost", gssapitest.Options{}), reason: "wrong_service"},
		{name: "service not in keytab", proto: "imap", token: newX(bob, "imap/otherhost", gssapitest.Options{}).APReq, reason: "no_key"},
		{name: "clock skew", proto: "imap", token: newX(bob, "imap/localhost", gssapitest.Options{ClockSkew: -time.Hour}).APReq, reason: "clock_skew"},
		{name: "clock skew pop3", proto: "pop3", x: newX(bob, "pop/localhost", gssapitest.Options{ClockSkew: time.Hour}), reason: "clock_skew"},
		{name: "replay", proto: "imap", token: replayed.APReq, reason: "replay"},
		{name: "garbage", proto: "imap", token: []byte("garbage, not a ticket"), reason: "malformed_token"},
		{name: "garbage pop3", proto: "pop3", token: []byte("garbage, not a ticket"), reason: "malformed_token"},
		{name: "instance principal", proto: "imap", token: newX(carol, "imap/localhost", gssapitest.Options{}).APReq, reason: "principal_not_mapped"},
		{name: "authzid of another user", proto: "imap", x: newX(bob, "imap/localhost", gssapitest.Options{AuthzID: "alice@example.com"}), reason: "authzid_refused"},
		{name: "integrity layer", proto: "pop3", x: newX(bob, "pop/localhost", gssapitest.Options{Layer: 2}), reason: "security_layer"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := dial(t, p.addr(tc.proto))
			c.expect(map[string]string{"imap": "* OK", "pop3": "+OK"}[tc.proto])
			tok := tc.token
			if tc.x != nil {
				tok = tc.x.APReq
			}
			tokens = append(tokens, b64(tok))
			if tc.proto == "imap" {
				c.send("a AUTHENTICATE GSSAPI " + b64(tok) + "\r\n")
			} else {
				// No initial response: it would be over RFC 5034's 255 octets.
				c.send("AUTH GSSAPI\r\n")
				c.challenge(t)
				c.send(b64(tok) + "\r\n")
			}
			if tc.x != nil && (tc.reason == "authzid_refused" || tc.reason == "security_layer") {
				for i := 0; i < 2; i++ {
					resp, _, err := tc.x.Step(c.challenge(t))
					if err != nil {
						t.Fatal(err)
					}
					c.send(b64(resp) + "\r\n")
				}
			}
			if tc.proto == "imap" {
				c.expect("a NO [AUTHENTICATIONFAILED] Authentication failed.")
			} else {
				c.expect("-ERR [AUTH] Authentication failed.")
			}
			c.c.Close()
		})
	}
	p.waitIdle(t)
	logs := p.logs.String()
	for _, want := range []string{"wrong_service", "no_key", "clock_skew", "replay", "malformed_token", "principal_not_mapped", "authzid_refused", "security_layer"} {
		if !strings.Contains(logs, "msg=\"mail: gssapi authentication failed\"") || !strings.Contains(logs, "reason="+want) {
			t.Errorf("no log line with reason=%s", want)
		}
	}
	for _, tok := range tokens {
		if len(tok) > 20 && strings.Contains(logs, tok[:20]) {
			t.Fatal("a token reached the log")
		}
	}
	if n := p.srv.Stats().AuthFailed.Load(); n < 11 {
		t.Errorf("AuthFailed = %d, want at least 11", n)
	}
}

// TestGSSAPI_abort: a client that aborts with "*" gets BAD (IMAP) or -ERR
// (POP3) and may go on.
func TestGSSAPI_abort(t *testing.T) {
	k := testenv.SharedKDC(t)
	p := startGSSProxy(t, k, gssProxyOpts{})
	bob := krbClient(t, k, "bob")
	x, err := gssapitest.New(bob, "imap/localhost", gssapitest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	c := dial(t, p.addr("imap"))
	c.expect("* OK")
	c.send("a AUTHENTICATE GSSAPI " + b64(x.APReq) + "\r\n")
	c.challenge(t) // the AP-REP
	c.send("*\r\n")
	c.expect("a BAD")
	c.send("b NOOP\r\n")
	c.expect("b OK")
	c.c.Close()

	c = dial(t, p.addr("pop3"))
	c.expect("+OK")
	c.send("AUTH GSSAPI\r\n")
	c.challenge(t)
	c.send("*\r\n")
	c.expect("-ERR")
	c.send("QUIT\r\n")
	c.expect("+OK")
	p.waitIdle(t)
}

// TestGSSAPI_notOffered: no AUTH=GSSAPI and no SASL GSSAPI without a
// keytab, with an unreadable one, or with a keytab without the service's
// key; AUTHENTICATE GSSAPI is then an unknown mechanism.
func TestGSSAPI_notOffered(t *testing.T) {
	k := testenv.SharedKDC(t)
	imapOnly := k.Keytab(t, "imap/localhost")
	for _, tc := range []struct {
		name     string
		o        gssProxyOpts
		imap     bool
		pop3     bool
		wantLogs string
	}{
		{name: "no keytab", o: gssProxyOpts{noKDC: true}},
		{name: "missing keytab", o: gssProxyOpts{gssapi: GSSAPI{Keytab: filepath.Join(t.TempDir(), "none.keytab")}}, wantLogs: "GSSAPI disabled"},
		{name: "imap key only", o: gssProxyOpts{gssapi: GSSAPI{Keytab: imapOnly}}, imap: true},
		{name: "other host", o: gssProxyOpts{gssapi: GSSAPI{ServiceHost: "mail.example.com"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := startGSSProxy(t, k, tc.o)
			c := dial(t, p.addr("imap"))
			c.expect("* OK")
			if got := strings.Contains(imapCaps(t, c), "AUTH=GSSAPI"); got != tc.imap {
				t.Errorf("AUTH=GSSAPI advertised: %v, want %v", got, tc.imap)
			}
			if !tc.imap {
				c.send("a AUTHENTICATE GSSAPI\r\n")
				c.expect("a NO [CANNOT]")
			}
			c.c.Close()
			c = dial(t, p.addr("pop3"))
			c.expect("+OK")
			if got := strings.Contains(pop3Capa(t, c), "GSSAPI"); got != tc.pop3 {
				t.Errorf("SASL GSSAPI advertised: %v, want %v", got, tc.pop3)
			}
			c.send("AUTH GSSAPI\r\n")
			c.expect("-ERR")
			c.c.Close()
			p.waitIdle(t)
			if tc.wantLogs != "" && !strings.Contains(p.logs.String(), tc.wantLogs) {
				t.Errorf("log without %q:\n%s", tc.wantLogs, p.logs)
			}
		})
	}
}

// TestGSSAPI_routeLookup: the route lookup sees Auth-Method: gssapi and
// Auth-ID: the principal, with the mapped login as Auth-User, as Zimbra
// sends them; and the route is not cached (asked again at the next login,
// nothing in the store).
func TestGSSAPI_routeLookup(t *testing.T) {
	k := testenv.SharedKDC(t)
	d := testenv.SharedDovecot(t)
	ls := newLookupServer(t, d.IMAP)
	store := kv.NewMemory(kv.MemoryOptions{})
	p := startGSSProxy(t, k, gssProxyOpts{lookup: ls, store: store})
	bob := krbClient(t, k, "bob")
	for i := 0; i < 2; i++ {
		x, err := gssapitest.New(bob, "imap/localhost", gssapitest.Options{})
		if err != nil {
			t.Fatal(err)
		}
		c := dial(t, p.addr("imap"))
		c.expect("* OK")
		c.send("a AUTHENTICATE GSSAPI " + b64(x.APReq) + "\r\n")
		gssapiSteps(t, c, x)
		c.until("a OK")
		c.send("z LOGOUT\r\n")
		c.until("z OK")
		c.c.Close()
	}
	reqs := ls.requests()
	if len(reqs) != 2 {
		t.Fatalf("%d lookups, want 2 (GSSAPI routes are not cached)", len(reqs))
	}
	h := reqs[0]
	user, _ := url.QueryUnescape(h.Get("Auth-User"))
	id, _ := url.QueryUnescape(h.Get("Auth-ID"))
	if h.Get("Auth-Method") != "gssapi" || user != "bob@example.com" || id != "bob@TEST.REALM" || h.Get("Auth-Protocol") != "imap" {
		t.Fatalf("lookup headers %v", h)
	}
	ctx := context.Background()
	for _, key := range []string{"route:proto=imap;user=bob@example.com", "alias:user=bob@example.com;ip=127.0.0.1"} {
		if v, err := store.Get(ctx, key); err == nil {
			t.Errorf("%s cached: %q", key, v)
		} else if !errors.Is(err, kv.ErrNotFound) {
			t.Errorf("%s: %v", key, err)
		}
	}
	p.waitIdle(t)
}

// TestGSSAPI_imtest drives Cyrus imtest (MIT GSSAPI through Cyrus SASL)
// against the proxy: a third-party initiator checks our AP-REP and wrap
// tokens.
func TestGSSAPI_imtest(t *testing.T) {
	imtest := "/usr/lib/cyrus/bin/imtest"
	if _, err := os.Stat(imtest); err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("imtest not installed (apt-get install cyrus-clients libsasl2-modules-gssapi-mit)")
		}
		t.Skip("imtest not installed (apt-get install cyrus-clients libsasl2-modules-gssapi-mit)")
	}
	k := testenv.SharedKDC(t)
	p := startGSSProxy(t, k, gssProxyOpts{})
	dir := t.TempDir()
	env := append(k.Env(), "KRB5CCNAME=FILE:"+filepath.Join(dir, "ccache"), "HOME="+dir)
	kt := k.Keytab(t, "bob")
	if out, err := runEnv(env, "kinit", "-k", "-t", kt, k.Principal("bob")); err != nil {
		t.Fatalf("kinit: %v: %s", err, out)
	}
	_, imapPort, _ := net.SplitHostPort(p.addr("imap"))
	_, pop3Port, _ := net.SplitHostPort(p.addr("pop3"))
	for _, tc := range []struct {
		name, bin, port, stdin, want string
	}{
		{"imap", imtest, imapPort, "x SELECT INBOX\r\ny LOGOUT\r\n", "x OK"},
		{"pop3", filepath.Join(filepath.Dir(imtest), "pop3test"), pop3Port, "STAT\r\nQUIT\r\n", "+OK 0 0"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			// -u: the authorization identity (the mapped login); no TLS.
			cmd := exec.CommandContext(ctx, tc.bin, "-m", "GSSAPI", "-u", "bob@example.com", "-p", tc.port, "localhost")
			cmd.Env = env
			cmd.Stdin = strings.NewReader(tc.stdin)
			out, err := cmd.CombinedOutput()
			s := string(out)
			if !strings.Contains(s, "Authenticated.") || !strings.Contains(s, tc.want) {
				t.Fatalf("%s: %v\n%s", tc.bin, err, s)
			}
		})
	}
	p.waitIdle(t)
}

func runEnv(env []string, name string, args ...string) (string, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	return string(out), err
}
