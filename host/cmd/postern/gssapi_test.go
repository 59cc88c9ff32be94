package main

import (
	"bufio"
	"context"
	"encoding/base64"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	krbconfig "github.com/jcmturner/gokrb5/v8/config"

	"github.com/postern/postern/host/internal/gssapi/gssapitest"
	"github.com/postern/postern/host/internal/testenv"
)

// TestRun_gssapiReplayAfterReload: an IMAP AUTHENTICATE GSSAPI succeeds;
// a reload that changes the mail section builds new front ends (and so a
// new Kerberos acceptor); the same AP-REQ presented again after the reload
// is refused with reason replay. Before the replay cache was shared across
// configurations, the new acceptor accepted it.
func TestRun_gssapiReplayAfterReload(t *testing.T) {
	k := testenv.SharedKDC(t)
	d := testenv.SharedDovecot(t)
	addr := freeAddr(t)
	path := filepath.Join(t.TempDir(), "postern.yaml")
	write := func(greeting string) {
		t.Helper()
		conf := fmt.Sprintf(`cache_dir: ""
log: {format: text}
admin: {enabled: false}
mail:
  greeting: %q
  listeners:
    - {name: imap, address: %q, protocol: imap, tls: none, allow_plaintext_login: true, route: [%q]}
  upstream: {master_user: %q, master_password: %q}
  gssapi:
    keytab: %q
    realms: {%s: example.com}
`, greeting, addr, d.IMAP, testenv.DovecotMaster, testenv.DovecotMasterPassword, k.ServiceKeytab, k.Realm)
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write("first config")
	logs := &syncBuffer{}
	sigs := make(chan os.Signal, 1)
	done := make(chan int, 1)
	go func() { done <- cmdRun(context.Background(), path, sigs, logs) }()
	defer func() {
		sigs <- syscall.SIGTERM
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			t.Error("run did not stop on SIGTERM")
		}
		if t.Failed() {
			t.Logf("log:\n%s", logs)
		}
	}()
	waitLog(t, logs, "postern running")

	kcfg, err := krbconfig.Load(k.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	bob := client.NewWithPassword("bob", k.Realm, k.Users["bob"], kcfg, client.DisablePAFXFAST(true))
	if err := bob.Login(); err != nil {
		t.Fatalf("kinit bob: %v", err)
	}
	defer bob.Destroy()
	x, err := gssapitest.New(bob, "imap/localhost", gssapitest.Options{})
	if err != nil {
		t.Fatal(err)
	}

	// authenticate sends the AP-REQ and, with steps, answers the server's
	// challenges; it returns the tagged reply (without steps, the first
	// challenge says the AP-REQ was accepted).
	authenticate := func(wantGreeting string, x *gssapitest.Exchange, steps bool) string {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(20 * time.Second))
		r := bufio.NewReader(c)
		if g, _ := r.ReadString('\n'); !strings.Contains(g, wantGreeting) || !strings.Contains(g, "AUTH=GSSAPI") {
			t.Fatalf("greeting %q, want %q with AUTH=GSSAPI", g, wantGreeting)
		}
		fmt.Fprintf(c, "a AUTHENTICATE GSSAPI %s\r\n", base64.StdEncoding.EncodeToString(x.APReq))
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("no reply: %v", err)
			}
			if strings.HasPrefix(l, "a ") {
				return strings.TrimSpace(l)
			}
			if !strings.HasPrefix(l, "+") {
				continue
			}
			if !steps {
				return "a challenge: the AP-REQ was accepted"
			}
			ch, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(l, "+")))
			if err != nil {
				t.Fatalf("challenge %q: %v", l, err)
			}
			resp, _, err := x.Step(ch)
			if err != nil {
				t.Fatal(err)
			}
			fmt.Fprintf(c, "%s\r\n", base64.StdEncoding.EncodeToString(resp))
		}
	}
	if got := authenticate("first config", x, true); !strings.HasPrefix(got, "a OK") {
		t.Fatalf("first authentication: %q", got)
	}

	write("second config") // the mail section changed: new front ends, new acceptor
	waitLog(t, logs, "front ends reloaded")
	if got := authenticate("second config", x, false); !strings.HasPrefix(got, "a NO [AUTHENTICATIONFAILED]") {
		t.Fatalf("replayed AP-REQ after the reload: %q, want NO [AUTHENTICATIONFAILED]", got)
	}
	waitLog(t, logs, "reason=replay")
}
