package mail

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"math/big"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/host/internal/testenv"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
)

// jwtIDP is an identity provider serving a JWKS with one RSA key.
type jwtIDP struct {
	key  *rsa.PrivateKey
	srv  *httptest.Server
	down atomic.Bool
}

func newJWTIDP(t *testing.T) *jwtIDP {
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	p := &jwtIDP{key: k}
	enc := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []any{map[string]string{"kty": "RSA", "kid": "k1", "use": "sig",
		"n": enc(k.N.Bytes()), "e": enc(big.NewInt(int64(k.E)).Bytes())}}})
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if p.down.Load() {
			http.Error(w, "down", http.StatusServiceUnavailable)
			return
		}
		w.Write(jwks)
	}))
	t.Cleanup(p.srv.Close)
	return p
}

// token signs claims for user, valid for an hour, with aud edits.
func (p *jwtIDP) token(kid, user, aud string, exp time.Time) string {
	enc := base64.RawURLEncoding.EncodeToString
	hb, _ := json.Marshal(map[string]string{"alg": "RS256", "kid": kid, "typ": "JWT"})
	cb, _ := json.Marshal(map[string]any{"iss": "https://idp.test/", "aud": aud, "email": user,
		"iat": time.Now().Unix(), "exp": exp.Unix()})
	in := enc(hb) + "." + enc(cb)
	h := sha256.Sum256([]byte(in))
	sig, _ := rsa.SignPKCS1v15(rand.Reader, p.key, crypto.SHA256, h[:])
	return in + "." + enc(sig)
}

// oauthPluginHost loads the bundled oauth plugin with cfg, allowed to
// reach allow.
func oauthPluginHost(t *testing.T, cfg string, allow string) *plugin.Host {
	t.Helper()
	h, err := plugin.New(context.Background(), plugin.Options{Logger: slog.New(slog.NewTextHandler(&logBuffer{}, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	if err := h.Load(context.Background(), []plugin.Spec{{Name: "oauth", Path: plugintest.Build(t, "plugins/oauth"),
		Config: []byte(cfg), HTTPAllow: []string{allow}}}); err != nil {
		t.Fatal(err)
	}
	return h
}

// TestOAuth_masterJWT: the oauth plugin checks JWTs against the IdP's
// JWKS and the proxy logs in to Dovecot as the master user on the token
// user's behalf; every bad token gets the error challenge, a JWKS outage
// a temporary failure.
func TestOAuth_masterJWT(t *testing.T) {
	idp := newJWTIDP(t)
	host := oauthPluginHost(t, `{"jwks_url":"`+idp.srv.URL+`/jwks","issuer":"https://idp.test/","audience":"imap.test","timeout":"2s","jwks_refresh_min":"0s"}`,
		strings.TrimPrefix(idp.srv.URL, "http://"))
	p := startProxy(t, proxyOpts{oauth: bothMechs, host: host, upstream: Upstream{OAuthLogin: LoginMasterSeparator,
		MasterUser: testenv.DovecotMaster, MasterPassword: testenv.DovecotMasterPassword}})
	before := p.dovecot.OAuth.Requests.Load()
	hour := time.Now().Add(time.Hour)

	// A good token, in both protocols and both mechanisms.
	good := idp.token("k1", "bob@example.com", "imap.test", hour)
	c := p.imapTLS(t)
	c.send("a AUTHENTICATE OAUTHBEARER " + oauthbearer("bob@example.com", good) + "\r\n")
	c.until("a OK")
	c.send("b SELECT INBOX\r\n")
	c.until("b OK")
	c = p.pop3TLS(t)
	c.send("AUTH XOAUTH2 " + xoauth2("BOB@example.com", good) + "\r\n")
	c.expect("+OK")
	if n := p.dovecot.OAuth.Requests.Load() - before; n != 0 {
		// Dovecot never saw a token: the logins were the master's.
		t.Errorf("Dovecot introspected %d tokens; the master mode must not pass them on", n)
	}

	for _, tc := range []struct{ name, user, tok string }{
		{"wrong audience", "bob@example.com", idp.token("k1", "bob@example.com", "https://graph.test", hour)},
		{"expired", "bob@example.com", idp.token("k1", "bob@example.com", "imap.test", time.Now().Add(-time.Hour))},
		{"user mismatch", "carol@example.com", good},
		{"signed by someone else", "bob@example.com", newJWTIDP(t).token("k1", "bob@example.com", "imap.test", hour)},
		{"not a JWT", "bob@example.com", "opaque-token"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := p.imapTLS(t)
			c.send("a AUTHENTICATE XOAUTH2 " + xoauth2(tc.user, tc.tok) + "\r\n")
			if ch := challenge(t, c.line()); ch["status"] != "401" {
				t.Fatal(ch)
			}
			c.send("\r\n")
			c.expect("a NO [AUTHENTICATIONFAILED] Invalid or expired token.")
			c = p.pop3TLS(t)
			c.send("AUTH OAUTHBEARER " + oauthbearer(tc.user, tc.tok) + "\r\n")
			if ch := challenge(t, c.line()); ch["status"] != "invalid_token" {
				t.Fatal(ch)
			}
			c.send("AQ==\r\n")
			c.expect("-ERR [AUTH] Invalid or expired token.")
		})
	}

	// The IdP goes down and a token names a key not held: temporary.
	idp.down.Store(true)
	c = p.imapTLS(t)
	c.send("a AUTHENTICATE XOAUTH2 " + xoauth2("bob@example.com", idp.token("k2", "bob@example.com", "imap.test", hour)) + "\r\n")
	c.expect("a NO [UNAVAILABLE]")
	c = p.pop3TLS(t)
	c.send("AUTH XOAUTH2 " + xoauth2("bob@example.com", idp.token("k2", "bob@example.com", "imap.test", hour)) + "\r\n")
	c.expect("-ERR [SYS/TEMP]")
	if strings.Contains(p.logs.String(), good[:60]) {
		t.Error("a token reached the log")
	}
}

// TestOAuth_introspectionPassthrough: the oauth plugin asks the same
// RFC 7662 endpoint Dovecot's oauth2 passdb uses; the token is then
// passed through and Dovecot checks it again.
func TestOAuth_introspectionPassthrough(t *testing.T) {
	d := testenv.SharedDovecot(t)
	u, _ := url.Parse(d.OAuth.URL)
	secret, _ := u.User.Password()
	cfg, _ := json.Marshal(map[string]string{"introspection_url": "http://" + u.Host + u.Path,
		"client_id": u.User.Username(), "client_secret": secret})
	p := startProxy(t, proxyOpts{oauth: bothMechs, host: oauthPluginHost(t, string(cfg), u.Host)})
	tok := d.IssueToken("bob@example.com")
	before := d.OAuth.Requests.Load()
	c := p.imapTLS(t)
	c.send("a AUTHENTICATE XOAUTH2 " + xoauth2("bob@example.com", tok) + "\r\n")
	c.until("a OK")
	if n := d.OAuth.Requests.Load() - before; n != 2 {
		t.Errorf("%d introspections, want 2 (the plugin's, then Dovecot's)", n)
	}
	// Refused by the plugin (bob's token, claimed by carol): its answer
	// about the token is cached, and Dovecot is not asked.
	before = d.OAuth.Requests.Load()
	c = p.imapTLS(t)
	c.send("a AUTHENTICATE XOAUTH2 " + xoauth2("carol@example.com", tok) + "\r\n")
	challenge(t, c.line())
	c.send("\r\n")
	c.expect("a NO [AUTHENTICATIONFAILED]")
	if n := d.OAuth.Requests.Load() - before; n != 0 {
		t.Errorf("%d introspections, want 0 (the plugin's answer cached, Dovecot not asked)", n)
	}
	// An unknown token: the plugin asks, is told inactive, and refuses.
	before = d.OAuth.Requests.Load()
	c = p.imapTLS(t)
	c.send("a AUTHENTICATE OAUTHBEARER " + oauthbearer("bob@example.com", "unknown-token") + "\r\n")
	challenge(t, c.line())
	c.send("AQ==\r\n")
	c.expect("a NO [AUTHENTICATIONFAILED]")
	if n := d.OAuth.Requests.Load() - before; n != 1 {
		t.Errorf("%d introspections, want 1 (the plugin's)", n)
	}
}
