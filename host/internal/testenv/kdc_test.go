package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"
	"github.com/jcmturner/gokrb5/v8/keytab"
)

// TestKDC gets a real service ticket for imap/localhost from the KDC with
// gokrb5's client and decrypts it with the service keytab, as the proxy
// will; a ticket for a service outside the keytab must not decrypt.
func TestKDC(t *testing.T) {
	k := SharedKDC(t)
	cfg, err := config.Load(k.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	cl := client.NewWithPassword("bob", k.Realm, k.Users["bob"], cfg, client.DisablePAFXFAST(true))
	defer cl.Destroy()
	if err := cl.Login(); err != nil {
		t.Fatalf("login as bob: %v\nkdc log:\n%s", err, k.Log())
	}
	kt, err := keytab.Load(k.ServiceKeytab)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		spn     string
		decrypt bool
	}{
		{"imap/localhost", true},
		{"pop/localhost", true},
		{"HTTP/localhost", false},
	} {
		t.Run(tc.spn, func(t *testing.T) {
			tkt, _, err := cl.GetServiceTicket(tc.spn)
			if err != nil {
				t.Fatalf("service ticket: %v", err)
			}
			err = tkt.DecryptEncPart(kt, nil)
			if tc.decrypt && err != nil {
				t.Fatalf("decrypt with the service keytab: %v", err)
			}
			if !tc.decrypt && err == nil {
				t.Fatal("a ticket for a service outside the keytab decrypted")
			}
			if tc.decrypt && tkt.DecryptedEncPart.CName.PrincipalNameString() != "bob" {
				t.Fatalf("client name %q", tkt.DecryptedEncPart.CName.PrincipalNameString())
			}
		})
	}
}

// TestKDC_kinit checks that MIT's own tools find the KDC through Env, as
// Cyrus imtest will.
func TestKDC_kinit(t *testing.T) {
	k := SharedKDC(t)
	if _, err := exec.LookPath("kinit"); err != nil {
		if onCI() {
			t.Fatal("kinit not installed (apt-get install krb5-user)")
		}
		t.Skip("kinit not installed (apt-get install krb5-user)")
	}
	kt := k.Keytab(t, "bob")
	cc := filepath.Join(t.TempDir(), "ccache")
	env := append(k.Env(), "KRB5CCNAME=FILE:"+cc)
	if out, err := run(env, "kinit", "-k", "-t", kt, k.Principal("bob")); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	out, err := run(env, "klist")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out, "krbtgt/"+k.Realm+"@"+k.Realm) {
		t.Fatalf("klist shows no TGT:\n%s", out)
	}
	// The exported keytab did not change bob's password.
	cfg, _ := config.Load(k.Krb5Conf)
	cl := client.NewWithPassword("bob", k.Realm, k.Users["bob"], cfg, client.DisablePAFXFAST(true))
	defer cl.Destroy()
	if err := cl.Login(); err != nil {
		t.Fatalf("password login after keytab export: %v", err)
	}
	if _, err := os.Stat(k.ServiceKeytab); err != nil {
		t.Fatal(err)
	}
}
