package testenv

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
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
