package mail

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/host/internal/authhttp"
	"github.com/postern/postern/host/internal/testenv"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
)

// The login-bypass matrix: a password login must never reach a master-mode
// upstream login unless a plugin in this session verified the password.
// These tests run the bundled route-cache and route-lookup plugins against
// the real memcached, the real lookup service (checking passwords) and the
// real Dovecot, for every upstream login mode, with the route cached and
// not, and with the lookup sent the password and not.

// standardRoute is a plugin host with route-cache then route-lookup (their
// bundled C builds) on a memcached store, asking srv.
func standardRoute(t *testing.T, store kv.Store, srv *authhttp.Server, sendPassword bool) *plugin.Host {
	t.Helper()
	logger := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	h, err := plugin.New(context.Background(), plugin.Options{Store: store, Logger: logger})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	cfg := fmt.Sprintf(`{"servers":[%q],"timeout":"2s","send_password":%v}`, srv.URL(), sendPassword)
	if err := h.Load(context.Background(), []plugin.Spec{
		{Name: "route-cache", Path: plugintest.CPlugin(t, "plugins/route-cache/c")},
		{Name: "route-lookup", Path: plugintest.CPlugin(t, "plugins/route-lookup/c"), HTTPAllow: []string{srv.Addr()}, Config: []byte(cfg)},
	}); err != nil {
		t.Fatal(err)
	}
	return h
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// routeKey is Zimbra's route key of an IMAP account (route-cache's).
func routeKey(account string) string { return "route:proto=imap;user=" + account }

func TestLogin_passwordMatrix(t *testing.T) {
	d := testenv.SharedDovecot(t)
	store, err := kv.NewMemcached([]string{testenv.SharedMemcached(t)}, kv.MemcachedOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	host, portText, _ := net.SplitHostPort(d.IMAP)
	port, _ := strconv.Atoi(portText)
	const user, good, wrong = "bob@example.com", "secret", "wrong-password"

	for _, mode := range []string{LoginAsUser, LoginMasterSeparator, LoginMasterAuthzID} {
		for _, send := range []bool{false, true} {
			for _, cached := range []bool{false, true} {
				name := fmt.Sprintf("%s/send_password=%v/cached=%v", mode, send, cached)
				t.Run(name, func(t *testing.T) {
					srv, err := authhttp.NewServer(map[string]authhttp.Route{
						user: {Server: host, Port: port, CheckPassword: good},
					})
					if err != nil {
						t.Fatal(err)
					}
					t.Cleanup(func() { srv.Close() })
					p := startProxy(t, proxyOpts{
						host:     standardRoute(t, store, srv, send),
						upstream: Upstream{Login: mode, MasterUser: d.Master, MasterPassword: d.MasterPassword},
					})
					// Without a plugin that checks passwords, a master
					// login is refused whatever the password; with the
					// client's own password, Dovecot or the lookup checks.
					failClosed := mode != LoginAsUser && !send
					attempt := func(pass, want string) {
						t.Helper()
						ctx := context.Background()
						_ = store.Delete(ctx, routeKey(user))
						if cached {
							if err := store.Set(ctx, routeKey(user), []byte(d.IMAP), time.Minute); err != nil {
								t.Fatal(err)
							}
						}
						srv.Reset()
						c := loginTLS(t, p)
						c.send("a LOGIN " + user + " " + pass + "\r\n")
						got := c.until("a ")
						if !strings.HasPrefix(got, want) {
							t.Fatalf("LOGIN with password %q: got %q, want %q", pass, got, want)
						}
						// A master login with a cached route still asks the
						// lookup, which checks the password.
						lookups := srv.Lookups()
						switch {
						case cached && mode == LoginAsUser && lookups != 0:
							t.Errorf("user mode with a cached route: %d lookups, want 0", lookups)
						case cached && mode != LoginAsUser && send && lookups != 1:
							t.Errorf("master mode with a cached route: %d lookups, want 1 (the cache must not vouch)", lookups)
						}
					}
					switch {
					case failClosed:
						attempt(wrong, "a NO [UNAVAILABLE]")
						attempt(good, "a NO [UNAVAILABLE]")
						if !strings.Contains(p.logs.String(), "no plugin verified it") {
							t.Error("the refusal is not logged with its reason")
						}
					default:
						attempt(wrong, "a NO")
						attempt(good, "a OK")
					}
					if strings.Contains(p.logs.String(), wrong) || strings.Contains(p.logs.String(), d.MasterPassword) {
						t.Error("a password reached the log")
					}
				})
			}
		}
	}
}

// TestLogin_routeCredentialsWin: credentials the lookup hands over
// (Auth-User and Auth-Pass, nginx's way) are used as they are, never
// combined with the master mode again (no "user*master*master").
func TestLogin_routeCredentialsWin(t *testing.T) {
	d := testenv.SharedDovecot(t)
	store := kv.NewMemory(kv.MemoryOptions{})
	host, portText, _ := net.SplitHostPort(d.IMAP)
	port, _ := strconv.Atoi(portText)
	for _, mode := range []string{LoginAsUser, LoginMasterSeparator, LoginMasterAuthzID} {
		t.Run(mode, func(t *testing.T) {
			srv, err := authhttp.NewServer(map[string]authhttp.Route{
				"bob@example.com": {Server: host, Port: port, CheckPassword: "secret",
					Account: "bob@example.com*" + d.Master, Password: d.MasterPassword},
			})
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { srv.Close() })
			p := startProxy(t, proxyOpts{
				host:     standardRoute(t, store, srv, true),
				upstream: Upstream{Login: mode, MasterUser: d.Master, MasterPassword: d.MasterPassword},
			})
			c := loginTLS(t, p)
			c.send("a LOGIN bob@example.com secret\r\n")
			c.until("a OK")
			c = loginTLS(t, p)
			c.send("b LOGIN bob@example.com wrong\r\n")
			c.until("b NO")
		})
	}
}

// TestLogin_routeCredentialsUnverified: a lookup that never saw the
// password (send_password off) handing over master credentials vouches
// for nothing: refused, whatever the mode.
func TestLogin_routeCredentialsUnverified(t *testing.T) {
	d := testenv.SharedDovecot(t)
	host, portText, _ := net.SplitHostPort(d.IMAP)
	port, _ := strconv.Atoi(portText)
	srv, err := authhttp.NewServer(map[string]authhttp.Route{
		"bob@example.com": {Server: host, Port: port, Account: "bob@example.com*" + d.Master, Password: d.MasterPassword},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	p := startProxy(t, proxyOpts{host: standardRoute(t, kv.NewMemory(kv.MemoryOptions{}), srv, false)})
	c := loginTLS(t, p)
	c.send("a LOGIN bob@example.com anything\r\n")
	c.until("a NO [UNAVAILABLE]")
}
