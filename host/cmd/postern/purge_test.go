package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/host/internal/testenv"
	"github.com/postern/postern/host/kv"
)

// purgeConfig writes a configuration whose store is the given memcached
// servers (none: in-process) and returns its path.
func purgeConfig(t *testing.T, servers ...string) string {
	t.Helper()
	return purgeConfigPlaced(t, "", "", servers...)
}

// purgeConfigPlaced is purgeConfig with store.distribution and
// store.key_form ("" leaves them out).
func purgeConfigPlaced(t *testing.T, dist, form string, servers ...string) string {
	t.Helper()
	y := "cache_dir: \"\"\nplugins:\n  chain: []\n"
	if len(servers) > 0 {
		// A generous timeout: the machine running the tests may be busy.
		y += "store:\n  memcached: [" + strings.Join(servers, ", ") + "]\n  timeout: 2s\n"
		if dist != "" {
			y += "  distribution: " + dist + "\n"
		}
		if form != "" {
			y += "  key_form: " + form + "\n"
		}
	}
	path := filepath.Join(t.TempDir(), "postern.yaml")
	if err := os.WriteFile(path, []byte(y), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestPurgeRoute: the purge deletes every key of a login on every server,
// whatever the distribution, in the configured key form.
func TestPurgeRoute(t *testing.T) {
	addrs := []string{testenv.Memcached(t), testenv.Memcached(t)}
	for _, tc := range []struct{ name, dist, form string }{
		{"default", "", ""}, {"zimbra-nginx sha256", "zimbra-nginx", "sha256"}, {"ketama", "ketama", "raw"},
	} {
		t.Run(tc.name, func(t *testing.T) { testPurgeRoute(t, addrs, tc.dist, tc.form) })
	}
}

func testPurgeRoute(t *testing.T, addrs []string, dist, form string) {
	ctx := context.Background()
	// One client per server, so each key is written to both servers, as
	// proxies with different server lists would leave them.
	var each []*kv.Memcached
	for _, a := range addrs {
		st, err := kv.NewMemcached([]string{a}, kv.MemcachedOptions{Timeout: time.Second, KeyForm: form})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { st.Close() })
		each = append(each, st)
	}
	present := []string{
		"route:proto=imap;user=bob@example.com",
		"route:proto=pop3ssl;user=bob@example.com",
		"alias:user=bob@example.com;ip=192.0.2.1",
		"alias:user=bob@example.com;vhost=mail.example.com",
		"route:proto=httpssl;id=cc00ce85-8c0b-49eb-8e08-a8aab43ce836",
	}
	other := "route:proto=imap;user=alice@example.com"
	for _, st := range each {
		for _, k := range append(present, other) {
			if err := st.Set(ctx, k, []byte("10.0.0.5:143"), time.Hour); err != nil {
				t.Fatal(err)
			}
		}
	}
	only := "route:proto=http;user=bob@example.com"
	if err := each[1].Set(ctx, only, []byte("10.0.0.5:8080"), time.Hour); err != nil {
		t.Fatal(err)
	}

	code, out, errOut := runCmd("purge-route", "-c", purgeConfigPlaced(t, dist, form, addrs...),
		"-ip", "192.0.2.1", "-vhost", "mail.example.com", "-id", "cc00ce85-8c0b-49eb-8e08-a8aab43ce836", "bob@example.com")
	if code != exitOK {
		t.Fatalf("exit %d, stderr %s", code, errOut)
	}
	for _, want := range []string{
		"route:proto=imap;user=bob@example.com deleted on 2 of 2 servers",
		"route:proto=pop3ssl;user=bob@example.com deleted on 2 of 2 servers",
		"route:proto=http;user=bob@example.com deleted on 1 of 2 servers",
		"route:proto=pop3;user=bob@example.com deleted on 0 of 2 servers",
		"alias:user=bob@example.com;ip=192.0.2.1 deleted on 2 of 2 servers",
		"alias:user=bob@example.com;vhost=mail.example.com deleted on 2 of 2 servers",
		"route:proto=http;id=cc00ce85-8c0b-49eb-8e08-a8aab43ce836 deleted on 0 of 2 servers",
		"route:proto=httpssl;id=cc00ce85-8c0b-49eb-8e08-a8aab43ce836 deleted on 2 of 2 servers",
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 10 {
		t.Errorf("%d lines, want 10 (6 routes, 2 aliases, 2 routes by id):\n%s", n, out)
	}
	for i, st := range each {
		for _, k := range append(present, only) {
			if _, err := st.Get(ctx, k); !errors.Is(err, kv.ErrNotFound) {
				t.Errorf("server %d still holds %s (%v)", i, k, err)
			}
		}
		if _, err := st.Get(ctx, other); err != nil {
			t.Errorf("server %d lost another user's key: %v", i, err)
		}
	}
}

func TestPurgeRoute_InProcess(t *testing.T) {
	code, out, errOut := runCmd("purge-route", "-c", purgeConfig(t), "bob")
	if code != exitOK || !strings.Contains(out, "nothing to purge") {
		t.Fatalf("exit %d, stdout %q, stderr %q; want a note that there is nothing to purge", code, out, errOut)
	}
}

func TestPurgeRoute_Unreachable(t *testing.T) {
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	code, out, errOut := runCmd("purge-route", "-c", purgeConfig(t, addr), "bob")
	if code != exitFail || !strings.Contains(errOut, "memcached "+addr) {
		t.Fatalf("exit %d, stdout %q, stderr %q; want a failure naming the server", code, out, errOut)
	}
}

func TestPurgeRoute_Usage(t *testing.T) {
	cfg := purgeConfig(t)
	tests := []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"no login", []string{"-c", cfg}, "name at least one login"},
		{"flag after login", []string{"-c", cfg, "bob", "-ip", "192.0.2.1"}, "flags come before the logins"},
		{"bad ip", []string{"-c", cfg, "-ip", "proxy1", "bob"}, `-ip "proxy1" is not an IP address`},
		{"bad vhost", []string{"-c", cfg, "-vhost", "a b", "bob"}, `-vhost "a b" is not a host name`},
		{"empty id", []string{"-c", cfg, "-id", "", "bob"}, "-id: an empty account id"},
		{"unknown flag", []string{"-x"}, "flag provided but not defined"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := runCmd(append([]string{"purge-route"}, tc.args...)...)
			if code != exitUsage || !strings.Contains(errOut, tc.wantErr) {
				t.Fatalf("exit %d, stderr %q; want %d and %q", code, errOut, exitUsage, tc.wantErr)
			}
		})
	}
	if code, _, errOut := runCmd("purge-route", "-c", filepath.Join(t.TempDir(), "missing.yaml"), "bob"); code != exitFail || !strings.Contains(errOut, "-c") {
		t.Errorf("missing config: exit %d, stderr %q", code, errOut)
	}
}
