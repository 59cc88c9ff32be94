package main

import (
	"bufio"
	"context"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/host/internal/testenv"
)

// TestRun_reloadKeepsSocketsAndSessions: a reload with changed front ends
// keeps the unchanged listener's socket (no refused connection), leaves a
// logged-in session untouched, opens a new listener, and a bad file
// leaves everything serving. The file change alone triggers the reload.
func TestRun_reloadKeepsSocketsAndSessions(t *testing.T) {
	d := testenv.SharedDovecot(t)
	dir := t.TempDir()
	a := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	b := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfgPath := filepath.Join(dir, "postern.yaml")
	write := func(greeting string, second bool) {
		t.Helper()
		conf := fmt.Sprintf("cache_dir: \"\"\nlog: {format: text}\nmail:\n  greeting: %q\n  listeners:\n"+
			"    - {name: a, address: %q, protocol: imap, tls: none, allow_plaintext_login: true, route: [%q]}\n", greeting, a, d.IMAP)
		if second {
			conf += fmt.Sprintf("    - {name: b, address: %q, protocol: imap, tls: none, allow_plaintext_login: true, route: [%q]}\n", b, d.IMAP)
		}
		// Write then rename, as editors and deploy tools do.
		tmp := cfgPath + ".tmp"
		if err := os.WriteFile(tmp, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, cfgPath); err != nil {
			t.Fatal(err)
		}
	}
	write("first config", false)
	logs := &syncBuffer{}
	sigs := make(chan os.Signal, 1)
	exited := make(chan int, 1)
	go func() { exited <- cmdRun(context.Background(), cfgPath, sigs, logs) }()
	waitLog := func(want string, n int) {
		t.Helper()
		deadline := time.Now().Add(20 * time.Second)
		for strings.Count(logs.String(), want) < n {
			if time.Now().After(deadline) {
				t.Fatalf("no %d× %q in the log:\n%s", n, want, logs)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitLog("postern running", 1)

	greeting := func(addr string) string {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatalf("dial %s: %v", addr, err)
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(5 * time.Second))
		l, _ := bufio.NewReader(c).ReadString('\n')
		return l
	}
	if g := greeting(a); !strings.Contains(g, "first config") {
		t.Fatalf("greeting %q", g)
	}
	// A session logged in before the reload.
	held, err := net.DialTimeout("tcp", a, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	held.SetDeadline(time.Now().Add(30 * time.Second))
	hr := bufio.NewReader(held)
	hr.ReadString('\n')
	fmt.Fprintf(held, "l LOGIN bob@example.com secret\r\n")
	for l, _ := hr.ReadString('\n'); !strings.HasPrefix(l, "l "); l, _ = hr.ReadString('\n') {
		if l == "" {
			t.Fatal("no login reply")
		}
	}

	// Dial continuously during the reload: no connection may be refused.
	stop := make(chan struct{})
	refused := make(chan error, 1)
	go func() {
		for {
			select {
			case <-stop:
				close(refused)
				return
			default:
			}
			c, err := net.DialTimeout("tcp", a, time.Second)
			if err != nil {
				refused <- err
				close(refused)
				return
			}
			c.Close()
			time.Sleep(2 * time.Millisecond)
		}
	}()
	write("second config", true) // the file watcher reloads
	waitLog("front ends reloaded", 1)
	close(stop)
	if err := <-refused; err != nil {
		t.Errorf("a connection was refused during the reload: %v", err)
	}
	if g := greeting(a); !strings.Contains(g, "second config") {
		t.Errorf("after reload, greeting %q", g)
	}
	if g := greeting(b); !strings.Contains(g, "second config") {
		t.Errorf("new listener: %q", g)
	}
	// The held session still works, on the configuration it started on.
	fmt.Fprintf(held, "n NOOP\r\n")
	for {
		l, err := hr.ReadString('\n')
		if err != nil {
			t.Fatalf("held session broken by the reload: %v", err)
		}
		if strings.HasPrefix(l, "n OK") {
			break
		}
	}

	// A bad file: refused, everything keeps serving.
	if err := os.WriteFile(cfgPath, []byte("mail: {listeners: [{name: a, address: nope}]}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sigs <- syscall.SIGHUP
	waitLog("configuration reload failed", 1)
	if g := greeting(a); !strings.Contains(g, "second config") {
		t.Errorf("after a bad reload, greeting %q", g)
	}

	sigs <- syscall.SIGTERM
	select {
	case <-exited:
	case <-time.After(20 * time.Second):
		t.Fatal("did not stop")
	}
}

// TestSetMaxProcs: max_procs sets GOMAXPROCS, and 0 (a reload that removed
// the key) gives Go's own choice back.
func TestSetMaxProcs(t *testing.T) {
	was := runtime.GOMAXPROCS(0) // go test -cpu may have set it
	t.Cleanup(func() { runtime.GOMAXPROCS(was) })
	runtime.SetDefaultGOMAXPROCS()
	def := runtime.GOMAXPROCS(0)
	log := slog.New(slog.DiscardHandler)
	setMaxProcs(1, log)
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("max_procs 1: GOMAXPROCS is %d", got)
	}
	setMaxProcs(0, log)
	if got := runtime.GOMAXPROCS(0); got != def {
		t.Fatalf("max_procs 0: GOMAXPROCS is %d, want Go's default %d", got, def)
	}
	// With max_procs 0 the GOMAXPROCS environment variable still counts.
	t.Setenv("GOMAXPROCS", "1")
	setMaxProcs(0, log)
	if got := runtime.GOMAXPROCS(0); got != 1 {
		t.Fatalf("max_procs 0, GOMAXPROCS=1 in the environment: GOMAXPROCS is %d", got)
	}
}
