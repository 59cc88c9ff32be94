package main

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/host/internal/testenv"
)

// TestRun_shutdownAnnounce: after SIGTERM with shutdown.announce set,
// /readyz answers 503 while the listeners still accept; then the proxy
// stops.
func TestRun_shutdownAnnounce(t *testing.T) {
	dir := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfg := filepath.Join(dir, "postern.yaml")
	conf := fmt.Sprintf(`cache_dir: ""
log: {format: text}
admin: {address: "127.0.0.1:0"}
shutdown: {announce: 1500ms, grace: 1s}
mail:
  listeners:
    - {name: imap, address: %q, protocol: imap, tls: none, allow_plaintext_login: true, route: ["127.0.0.1:1"]}
`, addr)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	base, logs, sigs, done := runAdmin(t, cfg)
	waitLog(t, logs, "postern running")
	if code, _ := httpDo(t, "GET", base+"/readyz"); code != 200 {
		t.Fatalf("readyz before SIGTERM: %d", code)
	}
	start := time.Now()
	sigs <- syscall.SIGTERM
	waitLog(t, logs, "still serving while load balancers notice /readyz")
	if code, _ := httpDo(t, "GET", base+"/readyz"); code != 503 {
		t.Errorf("readyz during the announce: %d, want 503", code)
	}
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("the listener closed during the announce: %v", err)
	}
	c.Close()
	select {
	case <-done:
		if d := time.Since(start); d < 1500*time.Millisecond {
			t.Errorf("stopped after %v, before the announce period", d)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop")
	}
	if _, err := net.DialTimeout("tcp", addr, 500*time.Millisecond); err == nil {
		t.Error("still listening after the stop")
	}
}
