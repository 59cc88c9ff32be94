package gssapi_test

import (
	"errors"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/config"

	"github.com/postern/postern/host/internal/gssapi"
	"github.com/postern/postern/host/internal/gssapi/gssapitest"
	"github.com/postern/postern/host/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

var loopback = netip.MustParseAddr("127.0.0.1")

// kdcClient logs user in to the shared KDC with gokrb5's client.
func kdcClient(t *testing.T, k *testenv.KDC, user string, edit func(*config.Config)) *client.Client {
	t.Helper()
	cfg, err := config.Load(k.Krb5Conf)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		edit(cfg)
	}
	cl := client.NewWithPassword(user, k.Realm, k.Users[user], cfg, client.DisablePAFXFAST(true))
	if err := cl.Login(); err != nil {
		t.Fatalf("kinit %s: %v", user, err)
	}
	t.Cleanup(cl.Destroy)
	return cl
}

// run drives a whole exchange and returns the server's final error.
func run(srv *gssapi.Server, x *gssapitest.Exchange) error {
	ch, done, err := srv.Next(x.APReq)
	for err == nil && !done {
		var resp []byte
		if resp, _, err = x.Step(ch); err != nil {
			return err
		}
		ch, done, err = srv.Next(resp)
	}
	return err
}

func wantReason(t *testing.T, err error, want gssapi.Reason) {
	t.Helper()
	if want == "" {
		if err != nil {
			t.Fatalf("unexpected failure: %v", err)
		}
		return
	}
	var ge *gssapi.Error
	if !errors.As(err, &ge) {
		t.Fatalf("error %v, want reason %s", err, want)
	}
	if ge.Reason != want {
		t.Fatalf("reason %s (%v), want %s", ge.Reason, err, want)
	}
}

func TestServer_exchange(t *testing.T) {
	k := testenv.SharedKDC(t)
	bob := kdcClient(t, k, "bob", nil)
	carol := kdcClient(t, k, "carol/admin", nil)
	for _, tc := range []struct {
		name    string
		cl      *client.Client
		spn     string
		service string
		cfg     gssapi.Config
		opts    gssapitest.Options
		login   string // expected login on success
		reason  gssapi.Reason
	}{
		{name: "mutual", spn: "imap/localhost", service: "imap", login: "bob"},
		{name: "pop", spn: "pop/localhost", service: "pop", login: "bob"},
		{name: "no mutual", spn: "imap/localhost", service: "imap", opts: gssapitest.Options{NoMutual: true}, login: "bob"},
		{name: "session key", spn: "imap/localhost", service: "imap", opts: gssapitest.Options{NoSubkey: true}, login: "bob"},
		{name: "sealed answer", spn: "imap/localhost", service: "imap", opts: gssapitest.Options{Seal: true}, login: "bob"},
		{name: "service host", spn: "imap/localhost", service: "imap", cfg: gssapi.Config{ServiceHost: "LOCALHOST"}, login: "bob"},
		{name: "realm to domain", spn: "imap/localhost", service: "imap",
			cfg: gssapi.Config{Realms: map[string]string{"TEST.REALM": "example.com"}}, login: "bob@example.com"},
		{name: "principal map", spn: "imap/localhost", service: "imap",
			cfg: gssapi.Config{Principals: map[string]string{"bob@TEST.REALM": "robert@example.com"}}, login: "robert@example.com"},
		{name: "authzid login", spn: "imap/localhost", service: "imap", opts: gssapitest.Options{AuthzID: "bob"}, login: "bob"},
		{name: "authzid principal", spn: "imap/localhost", service: "imap", opts: gssapitest.Options{AuthzID: "bob@TEST.REALM"}, login: "bob"},
		{name: "authzid other", spn: "imap/localhost", service: "imap", opts: gssapitest.Options{AuthzID: "alice"}, reason: gssapi.ReasonAuthzID},
		{name: "layer integrity", spn: "imap/localhost", service: "imap", opts: gssapitest.Options{Layer: 2}, reason: gssapi.ReasonSecurityLayer},
		{name: "pop ticket to imap", spn: "pop/localhost", service: "imap", reason: gssapi.ReasonWrongService},
		{name: "http ticket", spn: "HTTP/localhost", service: "imap", reason: gssapi.ReasonWrongService},
		{name: "other host", spn: "imap/otherhost", service: "imap", cfg: gssapi.Config{ServiceHost: "localhost"}, reason: gssapi.ReasonWrongService},
		{name: "other host not in keytab", spn: "imap/otherhost", service: "imap", reason: gssapi.ReasonNoKey},
		{name: "clock ahead", spn: "imap/localhost", service: "imap", opts: gssapitest.Options{ClockSkew: 10 * time.Minute}, reason: gssapi.ReasonClockSkew},
		{name: "clock behind", spn: "imap/localhost", service: "imap", cfg: gssapi.Config{MaxClockSkew: 30 * time.Second},
			opts: gssapitest.Options{ClockSkew: -time.Minute}, reason: gssapi.ReasonClockSkew},
		{name: "instance", cl: carol, spn: "imap/localhost", service: "imap", reason: gssapi.ReasonUnmapped},
		{name: "instance mapped", cl: carol, spn: "imap/localhost", service: "imap",
			cfg: gssapi.Config{Principals: map[string]string{"carol/admin@TEST.REALM": "carol@example.com"}}, login: "carol@example.com"},
		{name: "realm not listed", spn: "imap/localhost", service: "imap",
			cfg: gssapi.Config{Realms: map[string]string{"OTHER.REALM": ""}}, reason: gssapi.ReasonUnmapped},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			cfg.Keytab = k.ServiceKeytab
			a, err := gssapi.NewAcceptor(cfg)
			if err != nil {
				t.Fatal(err)
			}
			cl := tc.cl
			if cl == nil {
				cl = bob
			}
			x, err := gssapitest.New(cl, tc.spn, tc.opts)
			if err != nil {
				t.Fatal(err)
			}
			srv := a.NewServer(tc.service, loopback)
			err = run(srv, x)
			wantReason(t, err, tc.reason)
			if tc.reason != "" {
				// A failed exchange takes no further step.
				if _, _, err := srv.Next([]byte{}); err == nil {
					t.Fatal("Next after a failure succeeded")
				}
				return
			}
			id := srv.Identity()
			principal := cl.Credentials.CName().PrincipalNameString() + "@TEST.REALM"
			if id.User != principal || id.Method != "gssapi" || id.AuthzID != tc.opts.AuthzID || id.Password != "" {
				t.Fatalf("identity %+v, want user %s", id, principal)
			}
			if srv.Principal() != principal || srv.Login() != tc.login {
				t.Fatalf("principal %q login %q, want %q %q", srv.Principal(), srv.Login(), principal, tc.login)
			}
			if login, err := a.MapPrincipal(principal); err != nil || login != tc.login {
				t.Fatalf("MapPrincipal = %q, %v", login, err)
			}
		})
	}
}

func TestServer_replay(t *testing.T) {
	k := testenv.SharedKDC(t)
	bob := kdcClient(t, k, "bob", nil)
	a, err := gssapi.NewAcceptor(gssapi.Config{Keytab: k.ServiceKeytab})
	if err != nil {
		t.Fatal(err)
	}
	x, err := gssapitest.New(bob, "imap/localhost", gssapitest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := run(a.NewServer("imap", loopback), x); err != nil {
		t.Fatal(err)
	}
	_, _, err = a.NewServer("imap", loopback).Next(x.APReq)
	wantReason(t, err, gssapi.ReasonReplay)
}

// TestServer_expired gets a ticket that lives 2 s and presents it after it
// ended, with a 1 s clock-skew allowance.
func TestServer_expired(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for a ticket to expire")
	}
	t.Parallel()
	k := testenv.SharedKDC(t)
	bob := kdcClient(t, k, "bob", func(c *config.Config) { c.LibDefaults.TicketLifetime = 2 * time.Second })
	a, err := gssapi.NewAcceptor(gssapi.Config{Keytab: k.ServiceKeytab, MaxClockSkew: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	tkt, key, err := bob.GetServiceTicket("imap/localhost")
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(3500 * time.Millisecond)
	x, err := gssapitest.NewWithTicket(bob, tkt, key, gssapitest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	wantReason(t, run(a.NewServer("imap", loopback), x), gssapi.ReasonExpired)
}

func TestServer_badTokens(t *testing.T) {
	k := testenv.SharedKDC(t)
	bob := kdcClient(t, k, "bob", nil)
	a, err := gssapi.NewAcceptor(gssapi.Config{Keytab: k.ServiceKeytab})
	if err != nil {
		t.Fatal(err)
	}
	x, err := gssapitest.New(bob, "imap/localhost", gssapitest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	good := x.APReq
	tamper := func(at int) []byte {
		b := append([]byte{}, good...)
		b[at] ^= 0x55
		return b
	}
	for _, tc := range []struct {
		name   string
		tok    []byte
		reason gssapi.Reason
	}{
		{"empty", []byte{}, gssapi.ReasonMalformed},
		{"garbage", []byte("this is not a kerberos token"), gssapi.ReasonMalformed},
		{"truncated", good[:len(good)/2], gssapi.ReasonMalformed},
		{"spnego", append([]byte{0x60, 0x06, 0x06, 0x04, 0x2b, 0x06, 0x01, 0x05}, 0x05, 0x02), gssapi.ReasonMalformed},
		{"krb error token", gssapi.MarshalContextToken(gssapi.TokError, []byte{0x7e, 0x00}), gssapi.ReasonClientError},
		{"ap-rep token", gssapi.MarshalContextToken(gssapi.TokAPRep, []byte{0x6f, 0x00}), gssapi.ReasonMalformed},
		// The last bytes are the encrypted authenticator: it no longer
		// decrypts with the session key.
		{"tampered authenticator", tamper(len(good) - 5), gssapi.ReasonBadTicket},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := a.NewServer("imap", loopback).Next(tc.tok)
			wantReason(t, err, tc.reason)
		})
	}

	// A garbage answer to the offer, and a non-empty answer to the AP-REP.
	srv := a.NewServer("imap", loopback)
	if _, _, err := srv.Next(good); err != nil {
		t.Fatal(err)
	}
	_, _, err = srv.Next([]byte("no"))
	wantReason(t, err, gssapi.ReasonMalformed)

	x, _ = gssapitest.New(bob, "imap/localhost", gssapitest.Options{})
	srv = a.NewServer("imap", loopback)
	ch, _, err := srv.Next(x.APReq)
	if err != nil {
		t.Fatal(err)
	}
	resp, _, _ := x.Step(ch)
	if _, _, err := srv.Next(resp); err != nil {
		t.Fatal(err)
	}
	_, _, err = srv.Next([]byte("garbage instead of a wrap token"))
	wantReason(t, err, gssapi.ReasonSecurityLayer)
}

func TestServer_noInitialResponse(t *testing.T) {
	k := testenv.SharedKDC(t)
	a, err := gssapi.NewAcceptor(gssapi.Config{Keytab: k.ServiceKeytab})
	if err != nil {
		t.Fatal(err)
	}
	ch, done, err := a.NewServer("imap", loopback).Next(nil)
	if err != nil || done || len(ch) != 0 {
		t.Fatalf("Next(nil) = %q, %v, %v; want an empty challenge", ch, done, err)
	}
}

func TestAcceptor_keytab(t *testing.T) {
	k := testenv.SharedKDC(t)
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		body []byte
	}{
		{"missing", nil},
		{"garbage", []byte("not a keytab")},
		{"empty keytab", []byte{0x05, 0x02}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(dir, tc.name)
			if tc.body != nil {
				os.WriteFile(p, tc.body, 0o600)
			}
			if _, err := gssapi.NewAcceptor(gssapi.Config{Keytab: p}); err == nil {
				t.Fatal("NewAcceptor accepted a bad keytab")
			}
		})
	}
	if _, err := gssapi.NewAcceptor(gssapi.Config{}); err == nil {
		t.Fatal("NewAcceptor without a keytab succeeded")
	}

	kt := k.Keytab(t, "imap/localhost")
	a, err := gssapi.NewAcceptor(gssapi.Config{Keytab: kt})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		service string
		want    bool
	}{{"imap", true}, {"pop", false}, {"smtp", false}} {
		if got := a.Offers(tc.service); got != tc.want {
			t.Errorf("Offers(%s) = %v, want %v", tc.service, got, tc.want)
		}
	}
	other, _ := gssapi.NewAcceptor(gssapi.Config{Keytab: kt, ServiceHost: "otherhost"})
	if other.Offers("imap") {
		t.Error("Offers(imap) for a host the keytab has no key for")
	}
}

// TestAcceptor_keytabRemoved stops offering GSSAPI once the keytab is gone
// (checked every 5 s at most).
func TestAcceptor_keytabRemoved(t *testing.T) {
	if testing.Short() {
		t.Skip("waits for the keytab check")
	}
	t.Parallel()
	k := testenv.SharedKDC(t)
	kt := k.Keytab(t, "imap/localhost")
	a, err := gssapi.NewAcceptor(gssapi.Config{Keytab: kt})
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(kt)
	deadline := time.Now().Add(8 * time.Second)
	for a.Offers("imap") {
		if time.Now().After(deadline) {
			t.Fatal("still offered 8 s after the keytab was removed")
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestAcceptor_sharedReplayCache: a configuration reload builds a new
// Acceptor; with the running ReplayCache handed to it, an AP-REQ accepted
// by the old one is refused by the new one. A cache of its own (nil
// Replay) would accept it again: the window the shared cache closes.
func TestAcceptor_sharedReplayCache(t *testing.T) {
	k := testenv.SharedKDC(t)
	bob := kdcClient(t, k, "bob", nil)
	cache := gssapi.NewReplayCache()
	before, err := gssapi.NewAcceptor(gssapi.Config{Keytab: k.ServiceKeytab, Replay: cache})
	if err != nil {
		t.Fatal(err)
	}
	x, err := gssapitest.New(bob, "imap/localhost", gssapitest.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := run(before.NewServer("imap", loopback), x); err != nil {
		t.Fatal(err)
	}
	after, err := gssapi.NewAcceptor(gssapi.Config{Keytab: k.ServiceKeytab, Replay: cache})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = after.NewServer("imap", loopback).Next(x.APReq)
	wantReason(t, err, gssapi.ReasonReplay)

	own, err := gssapi.NewAcceptor(gssapi.Config{Keytab: k.ServiceKeytab})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := own.NewServer("imap", loopback).Next(x.APReq); err != nil {
		t.Errorf("an acceptor with a cache of its own refused the AP-REQ: %v", err)
	}
}
