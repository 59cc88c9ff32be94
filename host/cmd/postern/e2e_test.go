package main

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"

	"github.com/postern/postern/host/internal/authhttp"
	"github.com/postern/postern/host/internal/testenv"
	"github.com/postern/postern/host/plugintest"
)

// TestRun_standardDeployment runs `postern run` with the bundled plugins
// (login-normaliser, throttle, route-cache, route-lookup) against a real
// Dovecot, memcached and auth_http lookup service, and an HTTP backend:
// the standard deployment end to end, plus OAuth logins (the oauth plugin
// asking Dovecot's introspection endpoint, the token passed through to
// Dovecot's oauth2 passdb). It then checks that no password, cookie value
// or token (admin or OAuth) reached any log line.
func TestMain(m *testing.M) { testenv.Main(m) }

func TestRun_standardDeployment(t *testing.T) {
	d := testenv.SharedDovecot(t)
	mc := testenv.SharedMemcached(t)
	_, dport, _ := net.SplitHostPort(d.IMAP)
	dp, _ := strconv.Atoi(dport)
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "backend saw %s %s", r.Method, r.URL.Path)
	}))
	defer backend.Close()
	_, bport, _ := net.SplitHostPort(strings.TrimPrefix(backend.URL, "http://"))
	bp, _ := strconv.Atoi(bport)
	lookup, err := authhttp.NewServer(map[string]authhttp.Route{
		"bob@example.com":   {Server: "127.0.0.1", Port: dp},
		"alice@example.com": {Server: "127.0.0.1", Port: dp},
		"web@example.com":   {Server: "127.0.0.1", Port: bp}, // the web user's mailbox server
	})
	if err != nil {
		t.Fatal(err)
	}
	defer lookup.Close()

	dir := t.TempDir()
	certPEM, keyPEM, _ := testenv.SelfSigned("localhost")
	os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600)
	// The bundled plugins' C builds, as deployed (their twin tests hold
	// them to the Go sources).
	plugin := func(name string) string { return plugintest.CPlugin(t, "plugins/"+name+"/c") }
	introURL, _ := url.Parse(d.OAuth.URL)
	introSecret, _ := introURL.User.Password()
	imapAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	webAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	const adminToken = "admin-token-0123456789abcdef"
	conf := fmt.Sprintf(`cache_dir: ""
log: {format: text, level: debug}
store:
  memcached: ["%s"]
plugins:
  chain:
    - name: oauth
      path: %s
      http_allow: ["%s"]
      config: {introspection_url: "http://%s%s", client_id: "%s", client_secret: "%s"}
    - name: login-normaliser
      path: %s
      config: {default_domain: example.com}
    - name: throttle
      path: %s
      config: {user: {limit: 50, window: 1h}, ip: {limit: 500, window: 1h}}
    - name: route-cache
      path: %s
    - name: route-lookup
      path: %s
      http_allow: ["%s"]
      config: {servers: ["%s"]}
tls:
  certs: [{cert: tls.crt, key: tls.key}]
mail:
  listeners:
    - {name: imap, address: "%s", protocol: imap, tls: starttls}
  oauth: {mechanisms: [oauthbearer, xoauth2]}
web:
  listeners:
    - {name: http, address: "%s"}
  pools:
    - {name: mailbox, balance: round-robin, backends: ["%s"]}
  pool: mailbox
admin:
  address: "127.0.0.1:0"
  token: %s
`, mc, plugintest.Build(t, "plugins/oauth"), introURL.Host, introURL.Host, introURL.Path, introURL.User.Username(), introSecret,
		plugin("login-normaliser"), plugin("throttle"), plugin("route-cache"), plugin("route-lookup"),
		lookup.Addr(), lookup.URL(), imapAddr, webAddr, strings.TrimPrefix(backend.URL, "http://"), adminToken)
	cfgPath := filepath.Join(dir, "postern.yaml")
	if err := os.WriteFile(cfgPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}

	logs := &syncBuffer{}
	sigs := make(chan os.Signal, 1)
	exited := make(chan int, 1)
	go func() { exited <- cmdRun(context.Background(), cfgPath, sigs, logs) }()
	deadline := time.Now().Add(30 * time.Second)
	for !strings.Contains(logs.String(), "postern running") {
		select {
		case code := <-exited:
			t.Fatalf("postern run exited with %d:\n%s", code, logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("postern did not start:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}

	tlsCfg := &tls.Config{InsecureSkipVerify: true}
	login := func(user, pass string) error {
		c, err := imapclient.DialStartTLS(imapAddr, &imapclient.Options{TLSConfig: tlsCfg})
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Login(user, pass).Wait(); err != nil {
			return err
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			return err
		}
		return c.Logout().Wait()
	}
	// The normaliser adds the domain; the lookup routes; the cache stores.
	if err := login("bob", "secret"); err != nil {
		t.Fatalf("first login: %v\n%s", err, logs)
	}
	if n := lookup.Lookups(); n != 1 {
		t.Errorf("lookups after the first login: %d, want 1", n)
	}
	if err := login("bob", "secret"); err != nil {
		t.Fatalf("second login: %v", err)
	}
	if n := lookup.Lookups(); n != 1 {
		t.Errorf("lookups after the second login: %d, want 1 (route from memcached)", n)
	}
	// A wrong password drops the cached route: the next login looks up.
	if err := login("bob", "wrong-password-xyz"); err == nil {
		t.Fatal("a wrong password logged in")
	}
	alicePass := testenv.DovecotUsers["alice@example.com"]
	if err := login("alice@example.com", alicePass); err != nil {
		t.Fatalf("alice: %v", err)
	}
	if err := login("bob", "secret"); err != nil {
		t.Fatalf("login after failure: %v", err)
	}
	if n := lookup.Lookups(); n != 3 {
		t.Errorf("lookups: %d, want 3 (bob; alice; bob again: the failure dropped the cached route)", n)
	}

	// The web front end, with a cookie and basic auth that must not be logged.
	req, _ := http.NewRequest("GET", "http://"+webAddr+"/home/bob/inbox?auth=co", nil)
	req.Header.Set("Cookie", "ZM_AUTH_TOKEN=cookie-value-should-not-log")
	req.SetBasicAuth("web", "basic-pass-should-not-log")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.Contains(string(body), "backend saw GET /home/bob/inbox") {
		t.Errorf("web: %d %q", resp.StatusCode, body)
	}
	if n := lookup.Lookups(); n != 4 {
		t.Errorf("the web request was not routed by the lookup service: %d lookups", n)
	}

	// OAuth: go-imap's OAUTHBEARER client with a token Dovecot's
	// introspection endpoint knows; the oauth plugin asks it, then Dovecot.
	oauthTok := d.IssueToken("bob@example.com")
	const wrongTok = "wrong-oauth-token-should-not-log"
	oauthLogin := func(tok string) error {
		c, err := imapclient.DialStartTLS(imapAddr, &imapclient.Options{TLSConfig: tlsCfg})
		if err != nil {
			return err
		}
		defer c.Close()
		if err := c.Authenticate(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: "bob@example.com", Token: tok})); err != nil {
			return err
		}
		if _, err := c.Select("INBOX", nil).Wait(); err != nil {
			return err
		}
		return c.Logout().Wait()
	}
	if err := oauthLogin(oauthTok); err != nil {
		t.Fatalf("OAuth login: %v\n%s", err, logs)
	}
	if err := oauthLogin(wrongTok); err == nil {
		t.Fatal("a wrong token logged in")
	}

	sigs <- syscall.SIGTERM
	select {
	case code := <-exited:
		if code != exitOK {
			t.Errorf("exit %d", code)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("postern did not stop")
	}
	all := logs.String()
	for _, secret := range []string{"secret", "wrong-password-xyz", alicePass, "cookie-value-should-not-log",
		"basic-pass-should-not-log", adminToken, d.MasterPassword, oauthTok, wrongTok, introSecret} {
		if strings.Contains(all, secret) {
			i := strings.Index(all, secret)
			t.Errorf("a secret reached the log: %q in ...%s...", secret, all[max(0, i-200):min(len(all), i+50)])
		}
	}
	for _, want := range []string{"msg=\"mail session\"", "outcome=relayed", "login=bob@example.com", "postern stopped"} {
		if !strings.Contains(all, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}
