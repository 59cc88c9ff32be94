package mail

import (
	"encoding/base64"
	"encoding/json"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/host/internal/sasl"
	"github.com/postern/postern/host/internal/testenv"
)

func xoauth2(user, tok string) string {
	return b64([]byte("user=" + user + "\x01auth=Bearer " + tok + "\x01\x01"))
}

func oauthbearer(user, tok string) string {
	return b64([]byte("n,a=" + user + ",\x01host=localhost\x01port=143\x01auth=Bearer " + tok + "\x01\x01"))
}

var bothMechs = OAuth{Mechanisms: []string{"oauthbearer", "xoauth2"}, Scope: "mail", OpenIDConfiguration: "https://idp.example.com/.well-known/openid-configuration"}

// challenge decodes an OAuth error challenge line "+ <base64 json>".
func challenge(t *testing.T, line string) map[string]string {
	t.Helper()
	if !strings.HasPrefix(line, "+ ") {
		t.Fatalf("want an error challenge, got %q", line)
	}
	b, err := base64.StdEncoding.DecodeString(line[2:])
	if err != nil {
		t.Fatalf("challenge %q: %v", line, err)
	}
	var m map[string]string
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatalf("challenge %q: %v", b, err)
	}
	return m
}

// imapTLS dials the proxy's IMAP listener and starts TLS.
func (p *proxy) imapTLS(t *testing.T) *conn {
	c := dial(t, p.addr("imap"))
	c.expect("* OK")
	c.send("s STARTTLS\r\n")
	c.expect("s OK")
	c.startTLS(p.tlsConfig())
	return c
}

func (p *proxy) pop3TLS(t *testing.T) *conn {
	c := dial(t, p.addr("pop3"))
	c.expect("+OK")
	c.send("STLS\r\n")
	c.expect("+OK")
	c.startTLS(p.tlsConfig())
	return c
}

// TestOAuth_passthrough logs in with both mechanisms, in IMAP and POP3,
// with and without an initial response, through to the real Dovecot,
// whose oauth2 passdb asks the test's introspection endpoint: the token
// is passed through (the default).
func TestOAuth_passthrough(t *testing.T) {
	p := startProxy(t, proxyOpts{oauth: bothMechs})
	d := p.dovecot
	tok := d.IssueToken("bob@example.com")
	before := d.OAuth.Requests.Load()

	// IMAP, SASL-IR, XOAUTH2.
	c := p.imapTLS(t)
	c.send("a CAPABILITY\r\n")
	if l := c.expect("* CAPABILITY"); !strings.Contains(l, "AUTH=OAUTHBEARER AUTH=XOAUTH2") {
		t.Fatalf("capabilities %q", l)
	}
	c.until("a OK")
	c.send("b AUTHENTICATE XOAUTH2 " + xoauth2("bob@example.com", tok) + "\r\n")
	c.until("b OK")
	c.send("c SELECT INBOX\r\n")
	c.until("c OK")

	// IMAP, OAUTHBEARER on a continuation line.
	c = p.imapTLS(t)
	c.send("a AUTHENTICATE OAUTHBEARER\r\n")
	c.expect("+ ")
	c.send(oauthbearer("bob@example.com", tok) + "\r\n")
	c.until("a OK")

	// POP3 with an initial response, and on a continuation line.
	c = p.pop3TLS(t)
	c.send("CAPA\r\n")
	if l := c.until("SASL"); !strings.Contains(l, "OAUTHBEARER XOAUTH2") {
		t.Fatalf("SASL capability %q", l)
	}
	c.until(".")
	c.send("AUTH OAUTHBEARER " + oauthbearer("bob@example.com", tok) + "\r\n")
	c.expect("+OK")
	c.send("STAT\r\n")
	c.expect("+OK")
	c = p.pop3TLS(t)
	c.send("AUTH XOAUTH2\r\n")
	c.expect("+ ")
	c.send(xoauth2("bob@example.com", tok) + "\r\n")
	c.expect("+OK")
	if n := d.OAuth.Requests.Load() - before; n < 4 {
		t.Errorf("the introspection endpoint saw %d requests; want one per login (4)", n)
	}
}

// TestOAuth_refused: the mailbox server refuses a token (unknown, or
// another user's); the client gets the mechanism's error challenge,
// answers it, and then NO / -ERR.
func TestOAuth_refused(t *testing.T) {
	p := startProxy(t, proxyOpts{oauth: bothMechs})
	tok := p.dovecot.IssueToken("carol@example.com")
	for _, tc := range []struct {
		name, mech, user, tok, reply, status string
	}{
		{"oauthbearer unknown token", "OAUTHBEARER", "bob@example.com", "not-a-token", "AQ==", "invalid_token"},
		{"xoauth2 unknown token", "XOAUTH2", "bob@example.com", "not-a-token", "", "401"},
		{"xoauth2 another user's token", "XOAUTH2", "bob@example.com", tok, "", "401"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			msg := xoauth2(tc.user, tc.tok)
			if tc.mech == "OAUTHBEARER" {
				msg = oauthbearer(tc.user, tc.tok)
			}
			c := p.imapTLS(t)
			c.send("a AUTHENTICATE " + tc.mech + " " + msg + "\r\n")
			ch := challenge(t, c.line())
			if ch["status"] != tc.status || ch["schemes"] != "bearer" || ch["scope"] != "mail" {
				t.Fatalf("challenge %v", ch)
			}
			if _, ok := ch["openid-configuration"]; ok != (tc.mech == "OAUTHBEARER") {
				t.Fatalf("openid-configuration in %v", ch)
			}
			c.send(tc.reply + "\r\n")
			c.expect("a NO [AUTHENTICATIONFAILED]")
			// The session goes on: a good token now logs in.
			good := p.dovecot.IssueToken("bob@example.com")
			c.send("b AUTHENTICATE XOAUTH2 " + xoauth2("bob@example.com", good) + "\r\n")
			c.until("b OK")

			c = p.pop3TLS(t)
			c.send("AUTH " + tc.mech + " " + msg + "\r\n")
			if ch := challenge(t, c.line()); ch["status"] != tc.status {
				t.Fatalf("challenge %v", ch)
			}
			c.send(tc.reply + "\r\n")
			c.expect("-ERR [AUTH]")
		})
	}
	// A client that hangs up on the challenge (curl does, for XOAUTH2).
	c := p.imapTLS(t)
	c.send("a AUTHENTICATE XOAUTH2 " + xoauth2("bob@example.com", "nope") + "\r\n")
	challenge(t, c.line())
	c.c.Close()
	p.waitIdle(t)
	if strings.Contains(p.logs.String(), tok) || strings.Contains(p.logs.String(), "not-a-token") {
		t.Errorf("a token reached the log:\n%s", p.logs)
	}
}

// TestOAuth_pluginRefuses: a login plugin's refusal gets the error
// challenge without asking the mailbox server.
func TestOAuth_pluginRefuses(t *testing.T) {
	p := startProxy(t, proxyOpts{oauth: bothMechs, plugin: map[string]any{"refuse": "nobody@example.com"}})
	before := p.dovecot.OAuth.Requests.Load()
	c := p.imapTLS(t)
	c.send("a AUTHENTICATE OAUTHBEARER " + oauthbearer("nobody@example.com", "tok") + "\r\n")
	if ch := challenge(t, c.line()); ch["status"] != "invalid_token" {
		t.Fatal(ch)
	}
	c.send("AQ==\r\n")
	c.expect("a NO [AUTHENTICATIONFAILED] Account disabled.")
	if n := p.dovecot.OAuth.Requests.Load() - before; n != 0 {
		t.Errorf("the mailbox server was asked %d times", n)
	}
}

// TestOAuth_offered: the mechanisms are advertised and accepted only when
// configured, and only where a login is allowed (after STARTTLS).
func TestOAuth_offered(t *testing.T) {
	p := startProxy(t, proxyOpts{oauth: OAuth{Mechanisms: []string{"xoauth2"}}})
	c := dial(t, p.addr("imap"))
	if l := c.expect("* OK"); strings.Contains(l, "XOAUTH2") || !strings.Contains(l, "LOGINDISABLED") {
		t.Fatalf("before TLS: %q", l)
	}
	c.send("a AUTHENTICATE XOAUTH2 " + xoauth2("bob@example.com", "t") + "\r\n")
	c.expect("a NO [PRIVACYREQUIRED]")
	c = dial(t, p.addr("pop3"))
	c.expect("+OK")
	c.send("AUTH XOAUTH2 " + xoauth2("bob@example.com", "t") + "\r\n")
	c.expect("-ERR [AUTH]")

	c = p.imapTLS(t)
	c.send("a CAPABILITY\r\n")
	if l := c.expect("* CAPABILITY"); !strings.Contains(l, "AUTH=XOAUTH2") || strings.Contains(l, "OAUTHBEARER") {
		t.Fatalf("capabilities %q", l)
	}
	c.until("a OK")
	c.send("b AUTHENTICATE OAUTHBEARER " + oauthbearer("bob@example.com", "t") + "\r\n")
	c.expect("b NO [CANNOT]")

	q := startProxy(t, proxyOpts{})
	c = q.imapTLS(t)
	c.send("a CAPABILITY\r\n")
	if l := c.expect("* CAPABILITY"); strings.Contains(l, "XOAUTH2") {
		t.Fatalf("not configured, yet %q", l)
	}
	c.until("a OK")
	c.send("b AUTHENTICATE XOAUTH2 " + xoauth2("bob@example.com", "t") + "\r\n")
	c.expect("b NO [CANNOT]")
	c = q.pop3TLS(t)
	c.send("AUTH XOAUTH2 " + xoauth2("bob@example.com", "t") + "\r\n")
	c.expect("-ERR Unsupported")
}

// TestOAuth_tokenLimits: tokens of several KiB pass; one over max_token
// is malformed; a line far past the limit ends the session. (The login
// plugin refuses the user, so the answer to a token that was taken is the
// error challenge: Dovecot 2.3's login processes take lines of 8 KiB at
// most, a token of about 6 KiB, see docs/configuration.md.)
func TestOAuth_tokenLimits(t *testing.T) {
	p := startProxy(t, proxyOpts{oauth: OAuth{Mechanisms: []string{"oauthbearer", "xoauth2"}, MaxToken: 12 << 10},
		plugin: map[string]any{"refuse": "nobody@example.com"}})
	big := strings.Repeat("A", 12<<10)
	for _, tc := range []struct{ name, tok, want string }{
		{"12 KiB token", big, "+ "},
		{"over max_token", big + "A", "a NO [AUTHENTICATIONFAILED] Malformed"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := p.imapTLS(t)
			c.send("a AUTHENTICATE XOAUTH2 " + xoauth2("nobody@example.com", tc.tok) + "\r\n")
			c.expect(tc.want)
			c = p.pop3TLS(t)
			c.send("AUTH XOAUTH2 " + xoauth2("nobody@example.com", tc.tok) + "\r\n")
			c.expect(map[bool]string{true: "+ ", false: "-ERR [AUTH] Malformed"}[tc.want == "+ "])
		})
	}
	c := p.imapTLS(t)
	c.send("a AUTHENTICATE XOAUTH2 " + strings.Repeat("A", 40<<10) + "\r\n")
	c.expect("* BYE Line too long")
	// The long-line allowance is for OAuth exchanges only.
	c = p.imapTLS(t)
	c.send("a LOGIN " + strings.Repeat("A", 10<<10) + " x\r\n")
	c.expect("* BYE Line too long")
	// ... and only once a login is allowed (after STARTTLS).
	c = dial(t, p.addr("pop3"))
	c.expect("+OK")
	c.send("AUTH XOAUTH2 " + strings.Repeat("A", 2<<10) + "\r\n")
	c.expect("-ERR Line too long")
}

// TestOAuth_masterUnverified: with oauth_login master-separator and no
// plugin that checks tokens, a token login is refused (temporary), never
// let through.
func TestOAuth_masterUnverified(t *testing.T) {
	p := startProxy(t, proxyOpts{oauth: bothMechs, upstream: Upstream{OAuthLogin: LoginMasterSeparator,
		MasterUser: testenv.DovecotMaster, MasterPassword: testenv.DovecotMasterPassword}})
	c := p.imapTLS(t)
	c.send("a AUTHENTICATE XOAUTH2 " + xoauth2("bob@example.com", "anything") + "\r\n")
	c.expect("a NO [UNAVAILABLE]")
	if !strings.Contains(p.logs.String(), "no plugin verified it") {
		t.Errorf("log lacks the reason:\n%s", p.logs)
	}
}

// TestOAuth_curl logs in with curl's --oauth2-bearer (OAUTHBEARER, its
// first choice) over STARTTLS, to IMAP and POP3 (--sasl-ir: a short token
// goes in the initial response), through to Dovecot; a wrong token is
// refused with curl's login-denied exit code.
func TestOAuth_curl(t *testing.T) {
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	p := startProxy(t, proxyOpts{oauth: bothMechs})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, p.certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	tok := p.dovecot.IssueToken("bob@example.com")
	run := func(tok string, args ...string) (string, int) {
		cmd := exec.Command(curl, append([]string{"-sS", "--max-time", "20", "--ssl-reqd", "--cacert", ca,
			"-u", "bob@example.com:", "--oauth2-bearer", tok}, args...)...)
		out, err := cmd.CombinedOutput()
		code := 0
		if ee, ok := err.(*exec.ExitError); ok {
			code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return string(out), code
	}
	imapURL := "imap://localhost:" + port(p.addr("imap")) + "/"
	pop3URL := "pop3://localhost:" + port(p.addr("pop3")) + "/"
	logBefore := len(p.dovecot.Log())
	if out, code := run(tok, imapURL); code != 0 || !strings.Contains(out, "INBOX") {
		t.Fatalf("curl imap: exit %d: %s\n%s", code, out, p.logs)
	}
	if out, code := run(tok, "--sasl-ir", pop3URL); code != 0 {
		t.Fatalf("curl pop3: exit %d: %s\n%s", code, out, p.logs)
	}
	// Without --sasl-ir the token goes on the continuation line.
	if out, code := run(tok, pop3URL); code != 0 {
		t.Fatalf("curl pop3 without --sasl-ir: exit %d: %s\n%s", code, out, p.logs)
	}
	// The token was passed through with curl's own choice, OAUTHBEARER:
	// Dovecot logged the three logins with it.
	if dl := p.dovecot.Log()[logBefore:]; strings.Count(dl, "method=OAUTHBEARER") < 3 {
		t.Errorf("Dovecot did not log three OAUTHBEARER logins:\n%s", dl)
	}
	for _, u := range []string{imapURL, pop3URL} {
		if out, code := run("wrong-token", "--sasl-ir", u); code != 67 {
			t.Errorf("curl %s with a wrong token: exit %d (want 67, login denied): %s", u, code, out)
		}
	}
	if !strings.Contains(p.logs.String(), "listener=pop3") || strings.Contains(p.logs.String(), tok) {
		t.Errorf("logs:\n%s", p.logs)
	}
}

func port(addr string) string {
	_, p, _ := net.SplitHostPort(addr)
	return p
}

// TestOAuthMessage: what the proxy sends upstream decodes to the same
// user and token, with the user escaped (RFC 7628) and left out when empty.
func TestOAuthMessage(t *testing.T) {
	for _, c := range []creds{
		{user: "bob@example.com", token: "t", oauthMech: sasl.MethodOAuthBearer},
		{user: "a,b=c", token: "t.u-v", oauthMech: sasl.MethodOAuthBearer},
		{user: "", token: "t", oauthMech: sasl.MethodOAuthBearer},
		{user: "bob@example.com", token: "t", oauthMech: sasl.MethodXOAuth2},
	} {
		mech, msg := oauthMessage(c)
		s, _ := sasl.NewOAuthServer(mech, 0)
		if _, done, err := s.Next(msg); !done || err != nil {
			t.Fatalf("%q: %v", msg, err)
		}
		if id := s.Identity(); id.User != c.user || id.Token != c.token || id.Method != c.oauthMech {
			t.Errorf("%q decodes to %+v", msg, id)
		}
	}
	if _, msg := oauthMessage(creds{user: "a,b", token: "t", oauthMech: sasl.MethodOAuthBearer}); !strings.HasPrefix(string(msg), "n,a=a=2Cb,\x01") {
		t.Errorf("authzid not escaped: %q", msg)
	}
}
