package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/host/admin"
	"github.com/postern/postern/host/internal/testenv"
)

// imapLogin logs bob in through addr and returns the tagged reply.
func imapLogin(t *testing.T, addr string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	r := bufio.NewReader(c)
	if _, err := r.ReadString('\n'); err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "a LOGIN bob@example.com secret\r\n")
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("login: %v", err)
		}
		if strings.HasPrefix(l, "a ") {
			fmt.Fprintf(c, "z LOGOUT\r\n")
			return strings.TrimSpace(l)
		}
	}
}

// copyWasm writes src over dst by a rename, as deploy tools do.
func copyWasm(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst+".tmp", b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(dst+".tmp", dst); err != nil {
		t.Fatal(err)
	}
}

// TestRun_safeSwap: `postern run` with a login plugin that lets every
// login through, against a real Dovecot; the plugin file is swapped for
// a version that traps on every instance's third call. The watcher loads
// it, the third failure rolls it back, and from then on no login fails;
// the rollback is in the log (one error line with both sha256s and
// failures/calls), in /metrics, in /plugins and on the status page.
func TestRun_safeSwap(t *testing.T) {
	d := testenv.SharedDovecot(t)
	dir := t.TempDir()
	wasm := filepath.Join(dir, "gate.wasm")
	copyWasm(t, fixture(t, "login_continue.wasm"), wasm)
	imapAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := filepath.Join(dir, "postern.yaml")
	conf := fmt.Sprintf(`cache_dir: ""
log: {format: text}
admin: {address: "127.0.0.1:0"}
plugins:
  debounce: 10ms
  chain:
    - name: gate
      path: %s
      limits: {instances: 1}
      regression_watch: {calls: 100, for: 1m}
mail:
  listeners:
    - {name: imap, address: %q, protocol: imap, tls: none, allow_plaintext_login: true, route: [%q]}
`, wasm, imapAddr, d.IMAP)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	base, logs, sigs, done := runAdmin(t, cfg)
	waitLog(t, logs, `msg="postern running"`)
	for i := range 5 {
		if r := imapLogin(t, imapAddr); !strings.HasPrefix(r, "a OK") {
			t.Fatalf("login %d with the good version: %q", i, r)
		}
	}
	var before []admin.PluginJSON
	_, body := httpDo(t, "GET", base+"/plugins")
	json.Unmarshal([]byte(body), &before)
	good := before[0].SHA256

	copyWasm(t, fixture(t, "login_trap_third.wasm"), wasm)
	waitLog(t, logs, `msg="plugin reloaded" plugin=gate`)
	// One login in three fails until the third failure rolls back.
	failed := 0
	for i := 0; i < 9; i++ {
		if r := imapLogin(t, imapAddr); !strings.HasPrefix(r, "a OK") {
			if !strings.Contains(r, "[UNAVAILABLE]") {
				t.Errorf("a failed login says %q, want NO [UNAVAILABLE]", r)
			}
			failed++
		}
	}
	if failed != 3 {
		t.Errorf("%d of 9 logins failed on the bad version, want 3", failed)
	}
	waitLog(t, logs, "rolled back to the previous version")
	for i := range 30 {
		if r := imapLogin(t, imapAddr); !strings.HasPrefix(r, "a OK") {
			t.Fatalf("login %d after the rollback failed: %q", i, r)
		}
	}

	var line string
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "rolled back to the previous version") {
			line = l
		}
	}
	var after []admin.PluginJSON
	_, body = httpDo(t, "GET", base+"/plugins")
	if err := json.Unmarshal([]byte(body), &after); err != nil {
		t.Fatal(err)
	}
	p := after[0]
	rb := p.LastRollback
	if p.SHA256 != good || rb == nil || !rb.RolledBack || rb.PreviousSHA256 != good || rb.Failures != 3 || rb.Calls != 9 ||
		p.Stats.Rollbacks != 1 || p.OnRegression != "rollback" || p.Watch != nil {
		t.Fatalf("/plugins after the rollback:\n%s", body)
	}
	for _, want := range []string{"level=ERROR", "plugin=gate", "sha256=" + rb.SHA256, "previous_sha256=" + good, "failures=3", "calls=9"} {
		if !strings.Contains(line, want) {
			t.Errorf("no %q in the log line %q", want, line)
		}
	}
	if _, m := httpDo(t, "GET", base+"/metrics"); !strings.Contains(m, `postern_plugin_rollbacks_total{plugin="gate"} 1`) {
		t.Errorf("no rollback in /metrics")
	}
	if _, page := httpDo(t, "GET", base+"/"); !strings.Contains(page, "rolled back") || !strings.Contains(page, rb.SHA256[:12]) || !strings.Contains(page, "<td>rollback</td>") {
		t.Errorf("the status page does not show the rollback")
	}
	// A SIGHUP does not load the rolled-back file again.
	sigs <- syscall.SIGHUP
	waitLog(t, logs, `msg="configuration reloaded"`)
	for i := range 10 {
		if r := imapLogin(t, imapAddr); !strings.HasPrefix(r, "a OK") {
			t.Fatalf("login %d after SIGHUP failed: %q", i, r)
		}
	}

	sigs <- syscall.SIGTERM
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
	}
}
