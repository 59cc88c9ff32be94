package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"os"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// runAdmin starts cmdRun on cfg and returns the admin API's base URL, the
// log, the signal channel and the exit code channel.
func runAdmin(t *testing.T, cfg string) (base string, logs *syncBuffer, sigs chan os.Signal, done chan int) {
	t.Helper()
	logs = &syncBuffer{}
	sigs = make(chan os.Signal)
	done = make(chan int, 1)
	go func() { done <- cmdRun(context.Background(), cfg, sigs, logs) }()
	re := regexp.MustCompile(`msg="admin API listening" address=(127\.0\.0\.1:\d+)`)
	deadline := time.Now().Add(20 * time.Second)
	for {
		if m := re.FindStringSubmatch(logs.String()); m != nil {
			base = "http://" + m[1]
			break
		}
		select {
		case code := <-done:
			t.Fatalf("run exited %d:\n%s", code, logs.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("no admin address in the log:\n%s", logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
	return base, logs, sigs, done
}

func httpDo(t *testing.T, method, u string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest(method, u, nil)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func waitLog(t *testing.T, logs *syncBuffer, s string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), s) {
		if time.Now().After(deadline) {
			t.Fatalf("no %q in the log:\n%s", s, logs.String())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func withAdmin(t *testing.T, cfg, section string) string {
	t.Helper()
	f, err := os.OpenFile(cfg, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	f.WriteString(section)
	return cfg
}

func TestCmdRun_Admin(t *testing.T) {
	dir := t.TempDir()
	const adminYAML = "admin: {address: \"127.0.0.1:0\"}\n"
	cfg := withAdmin(t, writeConfig(t, dir, "all:all_hooks.wasm"), adminYAML)
	base, logs, sigs, done := runAdmin(t, cfg)
	waitLog(t, logs, `msg="postern running"`)

	if code, body := httpDo(t, "GET", base+"/readyz"); code != 200 {
		t.Errorf("readyz %d %q", code, body)
	}
	if code, body := httpDo(t, "GET", base+"/plugins"); code != 200 || !strings.Contains(body, `"name": "all"`) {
		t.Errorf("plugins %d %s", code, body)
	}

	// POST /reload does what SIGHUP does: a new chain...
	withAdmin(t, writeConfig(t, dir, "all:all_hooks.wasm", "minimal:minimal.wasm"), adminYAML)
	if code, body := httpDo(t, "POST", base+"/reload"); code != 200 {
		t.Fatalf("reload %d %s", code, body)
	}
	waitLog(t, logs, `plugins="[all minimal]"`)
	if _, body := httpDo(t, "GET", base+"/plugins"); !strings.Contains(body, `"name": "minimal"`) {
		t.Errorf("minimal not loaded:\n%s", body)
	}
	// ...and a bad file keeps the running chain, with the reason.
	os.WriteFile(cfg, []byte("plugins: {chain: [{name: x, path: x.wasm, limits: {instance: 1}}]}\n"), 0o600)
	if code, body := httpDo(t, "POST", base+"/reload"); code != 500 || !strings.Contains(body, "unknown key (did you mean instances?)") {
		t.Errorf("bad reload %d %s", code, body)
	}
	// SIGHUP reloads are on the status page too.
	sigs <- syscall.SIGHUP
	waitLog(t, logs, "configuration reload failed")
	deadline := time.Now().Add(5 * time.Second)
	for {
		_, page := httpDo(t, "GET", base+"/")
		if strings.Contains(page, "<td>sighup</td>") && strings.Count(page, "<td>api</td>") == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("status page lacks the reloads:\n%s", page)
		}
		time.Sleep(10 * time.Millisecond)
	}
	if _, m := httpDo(t, "GET", base+"/metrics"); !strings.Contains(m, `postern_config_reloads_total{result="error"} 2`) ||
		!strings.Contains(m, `postern_config_reloads_total{result="ok"} 1`) {
		t.Errorf("reload metrics:\n%s", m)
	}

	sigs <- syscall.SIGTERM
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d\n%s", code, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop on SIGTERM")
	}
	if c, err := net.DialTimeout("tcp", strings.TrimPrefix(base, "http://"), time.Second); err == nil {
		c.Close()
		t.Error("the admin API still listens after postern stopped")
	}
}

func TestCmdRun_AdminPortBusy(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	t.Run("chosen port: fatal", func(t *testing.T) {
		cfg := withAdmin(t, writeConfig(t, t.TempDir(), "all:all_hooks.wasm"), "admin: {address: \""+ln.Addr().String()+"\"}\n")
		var logs syncBuffer
		if code := cmdRun(context.Background(), cfg, nil, &logs); code != exitFail {
			t.Errorf("exit %d, want %d", code, exitFail)
		}
		if !strings.Contains(logs.String(), `msg="postern cannot start"`) || !strings.Contains(logs.String(), "admin: listen on "+ln.Addr().String()) {
			t.Errorf("log:\n%s", logs.String())
		}
	})
	t.Run("default port: warning", func(t *testing.T) {
		// Hold 127.0.0.1:9090 if it is free; if it is not, it is busy
		// anyway, which is the case under test.
		if l, err := net.Listen("tcp", "127.0.0.1:9090"); err == nil {
			defer l.Close()
		}
		cfg := writeConfig(t, t.TempDir(), "all:all_hooks.wasm")
		var logs syncBuffer
		sigs := make(chan os.Signal)
		done := make(chan int, 1)
		go func() { done <- cmdRun(context.Background(), cfg, sigs, &logs) }()
		waitLog(t, &logs, `msg="postern running"`)
		if !strings.Contains(logs.String(), `msg="admin API not started: its default address is taken`) {
			t.Errorf("no warning:\n%s", logs.String())
		}
		sigs <- syscall.SIGTERM
		if code := <-done; code != exitOK {
			t.Errorf("exit %d", code)
		}
	})
	t.Run("off", func(t *testing.T) {
		cfg := withAdmin(t, writeConfig(t, t.TempDir(), "all:all_hooks.wasm"), "admin: {enabled: false}\n")
		var logs syncBuffer
		sigs := make(chan os.Signal)
		done := make(chan int, 1)
		go func() { done <- cmdRun(context.Background(), cfg, sigs, &logs) }()
		waitLog(t, &logs, `msg="postern running"`)
		if strings.Contains(logs.String(), "admin API") {
			t.Errorf("admin API mentioned while off:\n%s", logs.String())
		}
		sigs <- syscall.SIGTERM
		if code := <-done; code != exitOK {
			t.Errorf("exit %d", code)
		}
	})
}
