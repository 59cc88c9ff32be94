package testenv

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestDovecot(t *testing.T) {
	d := SharedDovecot(t)
	c, err := net.DialTimeout("tcp", d.IMAP, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	r := bufio.NewReader(c)
	line, _ := r.ReadString('\n')
	if !strings.HasPrefix(line, "* OK") {
		t.Fatalf("greeting %q", line)
	}
	// Master login on the user's behalf, with the password in a literal.
	c.Write([]byte("a LOGIN {" + strconv.Itoa(len("bob@example.com*"+DovecotMaster)) + "}\r\n"))
	if l, _ := r.ReadString('\n'); !strings.HasPrefix(l, "+") {
		t.Fatalf("no continuation: %q", l)
	}
	c.Write([]byte("bob@example.com*" + DovecotMaster + " " + quote(DovecotMasterPassword) + "\r\n"))
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("%v\n%s", err, d.Log())
		}
		if strings.HasPrefix(l, "a ") {
			if !strings.HasPrefix(l, "a OK") {
				t.Fatalf("master login: %q\n%s", l, d.Log())
			}
			break
		}
	}

	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(d.CertPEM)
	tc, err := tls.Dial("tcp", d.POP3S, &tls.Config{RootCAs: pool, ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer tc.Close()
	if l, _ := bufio.NewReader(tc).ReadString('\n'); !strings.HasPrefix(l, "+OK") {
		t.Fatalf("pop3s greeting %q", l)
	}
}

func quote(s string) string { return `"` + s + `"` }

// TestDovecot_oauth2 logs in with XOAUTH2 and OAUTHBEARER through the
// oauth2 passdb and its introspection endpoint: an issued token logs in,
// another gets the error challenge and then NO.
func TestDovecot_oauth2(t *testing.T) {
	d := SharedDovecot(t)
	tok := d.IssueToken("bob@example.com")
	b64 := func(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }
	for _, tc := range []struct {
		name, cmd, reply, want string
	}{
		{"xoauth2", "AUTHENTICATE XOAUTH2 " + b64("user=bob@example.com\x01auth=Bearer "+tok+"\x01\x01"), "", "a OK"},
		{"oauthbearer", "AUTHENTICATE OAUTHBEARER " + b64("n,a=bob@example.com,\x01auth=Bearer "+tok+"\x01\x01"), "", "a OK"},
		{"xoauth2 wrong token", "AUTHENTICATE XOAUTH2 " + b64("user=bob@example.com\x01auth=Bearer nope\x01\x01"), "", "a NO"},
		{"oauthbearer wrong token", "AUTHENTICATE OAUTHBEARER " + b64("n,a=bob@example.com,\x01auth=Bearer nope\x01\x01"), "AQ==", "a NO"},
		{"token of another user", "AUTHENTICATE XOAUTH2 " + b64("user=carol@example.com\x01auth=Bearer "+tok+"\x01\x01"), "", "a NO"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, err := net.DialTimeout("tcp", d.IMAP, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			c.SetDeadline(time.Now().Add(10 * time.Second))
			r := bufio.NewReader(c)
			r.ReadString('\n')
			c.Write([]byte("a " + tc.cmd + "\r\n"))
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					t.Fatalf("%v\n%s", err, d.Log())
				}
				if strings.HasPrefix(l, "+ ") {
					c.Write([]byte(tc.reply + "\r\n"))
					continue
				}
				if strings.HasPrefix(l, "a ") {
					if !strings.HasPrefix(l, tc.want) {
						t.Fatalf("%q, want %s\n%s", l, tc.want, d.Log())
					}
					return
				}
			}
		})
	}
}
