package mail

import (
	"encoding/base64"
	"strings"
	"testing"
)

// pop3TLS returns a POP3 client after STLS.
func pop3TLS(t *testing.T, p *proxy) *conn {
	c := dial(t, p.addr("pop3"))
	c.expect("+OK")
	c.send("STLS\r\n")
	c.expect("+OK")
	c.startTLS(p.tlsConfig())
	return c
}

func TestPOP3_preLogin(t *testing.T) {
	p := startProxy(t, proxyOpts{})
	c := dial(t, p.addr("pop3"))
	c.expect("+OK")
	c.send("CAPA\r\n")
	c.expect("+OK")
	var caps []string
	for l := c.line(); l != "."; l = c.line() {
		caps = append(caps, l)
	}
	capText := strings.Join(caps, " ")
	if !strings.Contains(capText, "STLS") || strings.Contains(capText, "SASL") || strings.Contains(capText, "USER") {
		t.Errorf("caps before TLS: %q", capText)
	}
	c.send("USER bob@example.com\r\n")
	c.expect("-ERR [AUTH]")
	c.send("NOOP\r\n")
	c.expect("-ERR")
	c.send("QUIT\r\n")
	c.expect("+OK")
	c.eof()
}

func TestPOP3_logins(t *testing.T) {
	p := startProxy(t, proxyOpts{})
	tests := []struct {
		name  string
		steps func(c *conn)
	}{
		{"user pass", func(c *conn) {
			c.send("USER bob@example.com\r\n")
			c.expect("+OK")
			c.send("PASS secret\r\n")
		}},
		{"auth plain initial response", func(c *conn) {
			c.send("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00bob@example.com\x00secret")) + "\r\n")
		}},
		{"auth plain continuation", func(c *conn) {
			c.send("AUTH PLAIN\r\n")
			c.expect("+ ")
			c.send(base64.StdEncoding.EncodeToString([]byte("\x00bob@example.com\x00secret")) + "\r\n")
		}},
		{"auth login", func(c *conn) {
			c.send("AUTH LOGIN\r\n")
			c.expect("+ " + base64.StdEncoding.EncodeToString([]byte("Username:")))
			c.send(base64.StdEncoding.EncodeToString([]byte("bob@example.com")) + "\r\n")
			c.expect("+ ")
			c.send(base64.StdEncoding.EncodeToString([]byte("secret")) + "\r\n")
		}},
		{"odd password through AUTH", func(c *conn) {
			c.send("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00alice@example.com\x00p\"ss w{rd}\\")) + "\r\n")
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c := pop3TLS(t, p)
			tc.steps(c)
			c.expect("+OK")
			c.send("STAT\r\n")
			c.expect("+OK")
			c.send("QUIT\r\n")
			c.expect("+OK")
			c.eof()
		})
	}
	t.Run("pop3s", func(t *testing.T) {
		c := dial(t, p.addr("pop3s"))
		c.startTLS(p.tlsConfig())
		c.expect("+OK")
		c.send("USER bob@example.com\r\nPASS secret\r\n") // pipelined
		c.expect("+OK")
		c.expect("+OK")
		c.send("QUIT\r\n")
		c.expect("+OK")
	})
}

func TestPOP3_failures(t *testing.T) {
	p := startProxy(t, proxyOpts{limits: Limits{MaxAuthFailures: 2}})
	c := pop3TLS(t, p)
	c.send("USER bob@example.com\r\nPASS wrong\r\n")
	c.expect("+OK")
	c.expect("-ERR [AUTH]")
	c.send("PASS secret\r\n")
	c.expect("-ERR") // USER first
	c.send("AUTH PLAIN\r\n")
	c.expect("+ ")
	c.send("*\r\n")
	c.expect("-ERR")
	c.send("AUTH PLAIN " + base64.StdEncoding.EncodeToString([]byte("\x00bob@example.com\x00wrong")) + "\r\n")
	c.expect("-ERR [AUTH]")
	c.expect("-ERR [AUTH] Too many failed logins")
	c.eof()

	c = pop3TLS(t, p)
	c.send("STLS\r\n")
	c.expect("-ERR")
	c.send(strings.Repeat("x", 1000) + "\r\n")
	c.expect("-ERR Line too long")
	c.eof()
}

func TestPOP3_throttled(t *testing.T) {
	d := startProxy(t, proxyOpts{}).dovecot
	p := startProxy(t, proxyOpts{plugin: map[string]any{"upstreams": []string{d.POP3}, "throttle": "slow@example.com"}})
	c := pop3TLS(t, p)
	c.send("USER slow@example.com\r\nPASS x\r\n")
	c.expect("+OK")
	c.expect("-ERR Slow down, slow@example.com")
	c.eof()
	c = pop3TLS(t, p)
	c.send("USER Bob@Example.com\r\nPASS secret\r\n")
	c.expect("+OK")
	c.expect("+OK")
}
