package mail

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/postern/postern/host/internal/proxyproto"
	"github.com/postern/postern/host/internal/testenv"
	"net/netip"
)

func TestIMAP_imapclient(t *testing.T) {
	p := startProxy(t, proxyOpts{})
	for _, mode := range []string{"starttls", "implicit"} {
		t.Run(mode, func(t *testing.T) {
			var c *imapclient.Client
			var err error
			opts := &imapclient.Options{TLSConfig: p.tlsConfig()}
			if mode == "starttls" {
				c, err = imapclient.DialStartTLS(p.addr("imap"), opts)
			} else {
				c, err = imapclient.DialTLS(p.addr("imaps"), opts)
			}
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if err := c.Login("bob@example.com", "secret").Wait(); err != nil {
				t.Fatal(err)
			}
			// After login the client sees Dovecot's own capabilities.
			caps := c.Caps()
			if !caps.Has(imap.Cap("IDLE")) || !caps.Has(imap.Cap("NAMESPACE")) {
				t.Errorf("post-login capabilities are not the backend's: %v", caps)
			}
			if _, err := c.Select("INBOX", nil).Wait(); err != nil {
				t.Fatal(err)
			}
			if err := c.Logout().Wait(); err != nil {
				t.Fatal(err)
			}
		})
	}
	p.waitIdle(t)
	logs := p.logs.String()
	if !strings.Contains(logs, "outcome=relayed") || !strings.Contains(logs, "login=bob@example.com") {
		t.Errorf("session log line missing:\n%s", logs)
	}
	if strings.Contains(logs, "secret") {
		t.Errorf("a password reached the log:\n%s", logs)
	}
	// Dovecot saw the client's address and our session id through ID.
	if !strings.Contains(p.dovecot.Log(), "rip=127.0.0.1") {
		t.Errorf("dovecot log lacks the client address")
	}
}

func TestIMAP_preLogin(t *testing.T) {
	p := startProxy(t, proxyOpts{})
	c := dial(t, p.addr("imap"))
	g := c.expect("* OK [CAPABILITY ")
	for _, want := range []string{"STARTTLS", "LOGINDISABLED", "ID", "LITERAL+", "SASL-IR"} {
		if !strings.Contains(g, want) {
			t.Errorf("greeting lacks %s: %q", want, g)
		}
	}
	if strings.Contains(g, "AUTH=PLAIN") {
		t.Errorf("AUTH=PLAIN offered before TLS: %q", g)
	}
	c.send("a1 NOOP\r\n")
	c.expect("a1 OK")
	c.send("a2 ID (\"name\" \"Thunderbird\" \"version\" \"115\")\r\n")
	c.expect("* ID (")
	c.expect("a2 OK")
	c.send("a3 ID NIL\r\n")
	c.until("a3 OK")
	c.send("a4 LOGIN bob@example.com secret\r\n")
	c.expect("a4 NO [PRIVACYREQUIRED]")
	c.send("a5 AUTHENTICATE PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00bob@example.com\x00secret")) + "\r\n")
	c.expect("a5 NO [PRIVACYREQUIRED]")
	c.send("a6 SELECT INBOX\r\n")
	c.expect("a6 BAD")
	c.send("a7 CAPABILITY\r\n")
	c.expect("* CAPABILITY ")
	c.expect("a7 OK")
	c.send("a8 LOGOUT\r\n")
	c.expect("* BYE")
	c.expect("a8 OK")
	c.eof()
}

// TestIMAP_startTLSInjection: commands pipelined with STARTTLS in the clear
// must not run after the handshake.
func TestIMAP_startTLSInjection(t *testing.T) {
	p := startProxy(t, proxyOpts{})
	c := dial(t, p.addr("imap"))
	c.expect("* OK")
	c.send("s STARTTLS\r\nx LOGIN bob@example.com secret\r\n")
	c.expect("s OK")
	c.startTLS(p.tlsConfig())
	c.send("n NOOP\r\n")
	// The first answer after TLS must be to NOOP, not to the injected LOGIN.
	c.expect("n OK")
	c.send("c CAPABILITY\r\n")
	caps := c.expect("* CAPABILITY")
	if strings.Contains(caps, "STARTTLS") || strings.Contains(caps, "LOGINDISABLED") || !strings.Contains(caps, "AUTH=PLAIN") {
		t.Errorf("capabilities after TLS: %q", caps)
	}
	c.expect("c OK")
	c.send("s2 STARTTLS\r\n")
	c.expect("s2 BAD")
	if !strings.Contains(p.logs.String(), "discarded bytes pipelined after STARTTLS") {
		t.Error("the injection was not logged")
	}
}

// loginTLS returns a client after STARTTLS, ready to log in.
func loginTLS(t *testing.T, p *proxy) *conn {
	c := dial(t, p.addr("imap"))
	c.expect("* OK")
	c.send("s STARTTLS\r\n")
	c.expect("s OK")
	c.startTLS(p.tlsConfig())
	return c
}

func TestIMAP_loginForms(t *testing.T) {
	p := startProxy(t, proxyOpts{})
	alice := testenv.DovecotUsers["alice@example.com"] // has " { } \ and a space
	plain := func(user, pass string) string {
		return base64.StdEncoding.EncodeToString([]byte("\x00" + user + "\x00" + pass))
	}
	tests := []struct {
		name  string
		steps func(c *conn)
	}{
		{"sync literals", func(c *conn) {
			c.send("a LOGIN " + lit("alice@example.com") + "\r\n")
			c.expect("+")
			c.send("alice@example.com " + lit(alice) + "\r\n")
			c.expect("+")
			c.send(alice + "\r\n")
		}},
		{"literal+", func(c *conn) {
			c.send("a LOGIN {17+}\r\nalice@example.com {" + fmt.Sprint(len(alice)) + "+}\r\n" + alice + "\r\n")
		}},
		{"quoted", func(c *conn) {
			c.send(`a LOGIN "alice@example.com" "p\"ss w{rd}\\"` + "\r\n")
		}},
		{"sasl-ir plain", func(c *conn) {
			c.send("a AUTHENTICATE PLAIN " + plain("alice@example.com", alice) + "\r\n")
		}},
		{"plain with continuation", func(c *conn) {
			c.send("a AUTHENTICATE PLAIN\r\n")
			c.expect("+ ")
			c.send(plain("alice@example.com", alice) + "\r\n")
		}},
		{"login mechanism", func(c *conn) {
			c.send("a AUTHENTICATE LOGIN\r\n")
			if l := c.expect("+ "); l != "+ "+base64.StdEncoding.EncodeToString([]byte("Username:")) {
				t.Errorf("prompt %q", l)
			}
			c.send(base64.StdEncoding.EncodeToString([]byte("alice@example.com")) + "\r\n")
			c.expect("+ " + base64.StdEncoding.EncodeToString([]byte("Password:")))
			c.send(base64.StdEncoding.EncodeToString([]byte(alice)) + "\r\n")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := loginTLS(t, p)
			tc.steps(c)
			ok := c.until("a ")
			if !strings.HasPrefix(ok, "a OK [CAPABILITY ") {
				t.Fatalf("login: %q", ok)
			}
			c.send("b SELECT INBOX\r\n")
			c.until("b OK")
			c.send("z LOGOUT\r\n")
			c.until("z OK")
			c.eof()
		})
	}
}

func TestIMAP_failures(t *testing.T) {
	p := startProxy(t, proxyOpts{limits: Limits{MaxAuthFailures: 3, MaxBadCommands: 3}})
	t.Run("wrong password is relayed", func(t *testing.T) {
		c := loginTLS(t, p)
		c.send("a LOGIN bob@example.com wrong\r\n")
		c.expect("a NO [AUTHENTICATIONFAILED]")
	})
	t.Run("unknown user", func(t *testing.T) {
		c := loginTLS(t, p)
		c.send("a LOGIN nobody@example.com x\r\n")
		c.expect("a NO [AUTHENTICATIONFAILED]")
	})
	t.Run("abort", func(t *testing.T) {
		c := loginTLS(t, p)
		c.send("a AUTHENTICATE PLAIN\r\n")
		c.expect("+ ")
		c.send("*\r\n")
		c.expect("a BAD")
		c.send("b NOOP\r\n")
		c.expect("b OK")
	})
	t.Run("unknown mechanism", func(t *testing.T) {
		c := loginTLS(t, p)
		c.send("a AUTHENTICATE CRAM-MD5\r\n")
		c.expect("a NO [CANNOT]")
	})
	t.Run("bad base64", func(t *testing.T) {
		c := loginTLS(t, p)
		c.send("a AUTHENTICATE PLAIN !!!\r\n")
		c.expect("a BAD")
	})
	t.Run("too many failures", func(t *testing.T) {
		c := loginTLS(t, p)
		for i := 0; i < 3; i++ {
			c.send(fmt.Sprintf("a%d LOGIN bob@example.com wrong\r\n", i))
			c.expect(fmt.Sprintf("a%d NO", i))
		}
		c.expect("* BYE")
		c.eof()
	})
	t.Run("too many bad commands", func(t *testing.T) {
		c := dial(t, p.addr("imap"))
		c.expect("* OK")
		c.send("a FETCH 1 BODY[]\r\nb FOO\r\n")
		c.expect("a BAD")
		c.expect("b BAD")
		c.send("c BAR\r\n")
		c.expect("c BAD")
		c.expect("* BYE")
		c.eof()
	})
	t.Run("line too long", func(t *testing.T) {
		c := dial(t, p.addr("imap"))
		c.expect("* OK")
		c.send("a LOGIN " + strings.Repeat("x", 9000) + " y\r\n")
		c.expect("* BYE Line too long")
		c.eof()
	})
	t.Run("literal too large", func(t *testing.T) {
		c := loginTLS(t, p)
		c.send("a LOGIN {100000}\r\n")
		c.expect("a BAD")
		c.send("b LOGIN {100000+}\r\n")
		c.expect("* BYE Literal too large")
		c.eof()
	})
	t.Run("bad tag", func(t *testing.T) {
		c := dial(t, p.addr("imap"))
		c.expect("* OK")
		c.send("\r\n")
		c.expect("* BAD")
	})
	p.waitIdle(t)
}

func TestIMAP_idleTimeout(t *testing.T) {
	p := startProxy(t, proxyOpts{limits: Limits{PreLoginIdle: 200 * time.Millisecond}})
	c := dial(t, p.addr("imap"))
	c.expect("* OK")
	c.expect("* BYE Idle")
	c.eof()
}

// TestIMAP_routes: the first upstream refuses connections, the second is
// Dovecot; a backend that drops the connection mid-login is skipped too.
func TestIMAP_routes(t *testing.T) {
	d := testenv.SharedDovecot(t)
	closed := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	// A backend that greets and hangs up when the login arrives.
	mid, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mid.Close()
	go func() {
		for {
			c, err := mid.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				c.Write([]byte("* OK [CAPABILITY IMAP4rev1 LITERAL+] fake\r\n"))
				buf := make([]byte, 1024)
				c.Read(buf)
			}()
		}
	}()
	p := startProxy(t, proxyOpts{route: []string{closed, mid.Addr().String(), d.IMAP}})
	c := loginTLS(t, p)
	c.send("a LOGIN bob@example.com secret\r\n")
	c.until("a OK")
	if got := p.srv.Stats().UpstreamErr.Load(); got != 2 {
		t.Errorf("upstream errors %d, want 2", got)
	}

	p2 := startProxy(t, proxyOpts{route: []string{closed}})
	c = loginTLS(t, p2)
	c.send("a LOGIN bob@example.com secret\r\n")
	c.expect("a NO [UNAVAILABLE]")
}

func TestIMAP_plugins(t *testing.T) {
	d := testenv.SharedDovecot(t)
	p := startProxy(t, proxyOpts{plugin: map[string]any{
		"upstreams": []string{d.IMAP}, "throttle": "slow@example.com",
		"refuse": "nobody@example.com", "tempfail": "broken@example.com",
	}, route: []string{"127.0.0.1:1"}})
	// The login plugin lower-cases; the route plugin routes to Dovecot.
	c := loginTLS(t, p)
	c.send("a LOGIN Bob@Example.COM secret\r\n")
	c.until("a OK")
	c.send("z LOGOUT\r\n")
	c.until("z OK")
	c.c.Close()
	var open []*conn

	c = loginTLS(t, p)
	c.send("a LOGIN slow@example.com x\r\n")
	c.expect("* BYE Slow down, slow@example.com")
	c.expect("a NO LOGIN failed")
	c.eof()

	c = loginTLS(t, p)
	c.send("a LOGIN nobody@example.com x\r\n")
	c.expect("a NO [AUTHENTICATIONFAILED] Account disabled.")
	open = append(open, c)

	c = loginTLS(t, p)
	c.send("a LOGIN broken@example.com x\r\n")
	c.expect("a NO [UNAVAILABLE]")
	open = append(open, c)

	c.c.Close()
	c = loginTLS(t, p)
	c.send("a LOGIN bob@example.com wrong\r\n")
	c.expect("a NO [AUTHENTICATIONFAILED]")
	c.c.Close()
	for _, c := range open {
		c.c.Close()
	}
	p.waitIdle(t)
	logs := p.logs.String()
	for _, want := range []string{
		"event route_decided login=bob@example.com upstream=" + d.IMAP,
		"event login_failed login=bob@example.com upstream=" + d.IMAP + " message=[AUTHENTICATIONFAILED]",
		"outcome=throttled",
	} {
		if !strings.Contains(logs, want) {
			t.Errorf("log lacks %q", want)
		}
	}
}

func TestIMAP_masterLogin(t *testing.T) {
	d := testenv.SharedDovecot(t)
	for _, mode := range []string{LoginMasterSeparator, LoginMasterAuthzID} {
		t.Run(mode, func(t *testing.T) {
			p := startProxy(t, proxyOpts{upstream: Upstream{Login: mode, MasterUser: d.Master, MasterPassword: d.MasterPassword}})
			c := loginTLS(t, p)
			// The backend does not check the user's password in master
			// mode and no plugin verified it: refused, fail closed
			// (verify_test.go has the logins a plugin vouched for).
			c.send("a LOGIN carol@example.com anything\r\n")
			c.until("a NO [UNAVAILABLE]")
			c = loginTLS(t, p)
			c.send("b LOGIN carol@example.com carol-pw\r\n")
			c.until("b NO [UNAVAILABLE]")
		})
	}
}

func TestIMAP_upstreamTLS(t *testing.T) {
	d := testenv.SharedDovecot(t)
	for _, mode := range []string{TLSStartTLS, TLSImplicit} {
		t.Run(mode, func(t *testing.T) {
			route := d.IMAP
			if mode == TLSImplicit {
				route = d.IMAPS
			}
			roots := newPool(d.CertPEM)
			p := startProxy(t, proxyOpts{route: []string{route}, upstream: Upstream{TLS: mode, TLSConfig: tlsClient(roots)}})
			c := loginTLS(t, p)
			c.send("a LOGIN bob@example.com secret\r\n")
			c.until("a OK")
			if !strings.Contains(p.dovecot.Log(), "TLS") {
				t.Log("dovecot log does not mention TLS")
			}
		})
	}
}

// TestIMAP_relayLarge appends and fetches back 1 MiB through the relay.
func TestIMAP_relayLarge(t *testing.T) {
	p := startProxy(t, proxyOpts{})
	c, err := imapclient.DialStartTLS(p.addr("imap"), &imapclient.Options{TLSConfig: p.tlsConfig()})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("carol@example.com", "carol-pw").Wait(); err != nil {
		t.Fatal(err)
	}
	body := make([]byte, 1<<20)
	rand.Read(body)
	msg := []byte("Subject: big\r\n\r\n" + base64.StdEncoding.EncodeToString(body)[:1<<20] + "\r\n")
	name := fmt.Sprintf("big%d", time.Now().UnixNano())
	if err := c.Create(name, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	ap := c.Append(name, int64(len(msg)), nil)
	ap.Write(msg)
	ap.Close()
	if _, err := ap.Wait(); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Select(name, nil).Wait(); err != nil {
		t.Fatal(err)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{BodySection: []*imap.FetchItemBodySection{{}}}).Collect()
	if err != nil || len(msgs) != 1 {
		t.Fatal(err, len(msgs))
	}
	var got []byte
	for _, b := range msgs[0].BodySection {
		got = b.Bytes
	}
	if !bytes.Equal(got, msg) {
		t.Fatalf("fetched %d bytes, want %d identical", len(got), len(msg))
	}
	c.Logout().Wait()
	p.waitIdle(t)
	if in := p.srv.Stats().BytesIn.Load(); in < 1<<20 {
		t.Errorf("bytes in %d", in)
	}
}

// TestIMAP_clientGone closes the client at every step; no session may
// leak and the proxy keeps serving.
func TestIMAP_clientGone(t *testing.T) {
	p := startProxy(t, proxyOpts{})
	steps := []func(c *conn){
		func(c *conn) {},
		func(c *conn) { c.expect("* OK") },
		func(c *conn) { c.expect("* OK"); c.send("a LOGIN {5}\r\n"); c.expect("+") },
		func(c *conn) { c.expect("* OK"); c.send("a LOGIN {5}\r\nab") },
		func(c *conn) { c.expect("* OK"); c.send("s STARTTLS\r\n"); c.expect("s OK") },
		func(c *conn) {
			c.expect("* OK")
			c.send("s STARTTLS\r\n")
			c.expect("s OK")
			c.startTLS(p.tlsConfig())
			c.send("a LOGIN bob@example.com secret\r\n")
		},
		func(c *conn) {
			c.expect("* OK")
			c.send("s STARTTLS\r\n")
			c.expect("s OK")
			c.startTLS(p.tlsConfig())
			c.send("a LOGIN bob@example.com secret\r\n")
			c.until("a OK")
			c.send("b SELECT INBOX\r\n")
		},
	}
	for i, step := range steps {
		c := dial(t, p.addr("imap"))
		step(c)
		c.c.Close()
		_ = i
	}
	p.waitIdle(t)
	c := loginTLS(t, p)
	c.send("a LOGIN bob@example.com secret\r\n")
	c.until("a OK")
}

func TestIMAP_proxyProtocol(t *testing.T) {
	p := startProxy(t, proxyOpts{proxyProt: true, plaintext: true})
	c := dial(t, p.addr("imap"))
	c.send("PROXY TCP4 192.0.2.99 127.0.0.1 40000 143\r\n")
	c.expect("* OK")
	c.send("a LOGIN bob@example.com secret\r\n")
	c.until("a OK")
	c.send("z LOGOUT\r\n")
	c.until("z OK")
	c.c.Close()
	p.waitIdle(t)
	if !strings.Contains(p.logs.String(), "client=192.0.2.99:40000") {
		t.Errorf("the PROXY header's client was not used:\n%s", p.logs)
	}
	if !strings.Contains(p.dovecot.Log(), "rip=192.0.2.99") {
		t.Errorf("dovecot did not see the original client address")
	}
	// v2 works too; a connection without a header is refused.
	c = dial(t, p.addr("imap"))
	c.send(string(proxyproto.AppendV2(nil, netip.MustParseAddrPort("192.0.2.98:1"), netip.MustParseAddrPort("127.0.0.1:143"))))
	c.expect("* OK")
	c = dial(t, p.addr("imap"))
	c.send("a NOOP\r\n")
	c.eof()
}

func TestServer_shutdown(t *testing.T) {
	p := startProxy(t, proxyOpts{})
	pre := dial(t, p.addr("imap"))
	pre.expect("* OK")
	relayed := loginTLS(t, p)
	relayed.send("a LOGIN bob@example.com secret\r\n")
	relayed.until("a OK")
	done := make(chan error)
	go func() {
		ctx, cancel := contextWithTimeout(300 * time.Millisecond)
		defer cancel()
		done <- p.srv.Shutdown(ctx)
	}()
	pre.eof() // pre-login sessions end at once
	relayed.send("b NOOP\r\n")
	relayed.until("b OK") // relayed sessions keep working until the deadline
	if err := <-done; err == nil || !strings.Contains(err.Error(), "closed 1 sessions") {
		t.Errorf("shutdown: %v", err)
	}
	relayed.eof()
	if _, err := net.DialTimeout("tcp", p.addr("imap"), time.Second); err == nil {
		t.Error("still accepting after shutdown")
	}
}
