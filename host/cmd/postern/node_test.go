package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/host/internal/testenv"
)

// TestNode_sameOutput runs a node and checks that `postern call -node`
// and `postern garpu|garpb|gamau|gamcs -node` print byte for byte what the
// file mode prints for the same configuration, that a reload changes the
// node's answer, and that a store change (restart-only) does not.
func TestNode_sameOutput(t *testing.T) {
	const token = "node-test-token-0123456789"
	dir := t.TempDir()
	cfg := filepath.Join(dir, "postern.yaml")
	imap := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	web := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	write := func(route, memcached string) {
		t.Helper()
		conf := fmt.Sprintf(`cache_dir: ""
log: {format: text}
admin: {address: "127.0.0.1:0", token: %q}
store:
  memcached: [%s]
plugins:
  chain:
    - name: trap
      path: %s
      on_failure: {login: closed}
    - name: all
      path: %s
      config:
        servers:
          - http://mbox1.example.com:7072/service/extension/nginx-lookup
          - https://mbox2.example.com/service/extension/nginx-lookup?v=1
mail:
  listeners:
    - {name: imap, address: %q, protocol: imap, tls: none, allow_plaintext_login: true, route: [%s]}
web:
  listeners: [{name: http, address: %q}]
  pool: mailboxes
  pools:
    - name: mailboxes
      backends: ["127.0.0.1:1", {address: "[::1]:2", weight: 2}]
`, token, memcached, fixture(t, "trap.wasm"), fixture(t, "all_hooks.wasm"), imap, route, web)
		if err := os.WriteFile(cfg+".tmp", []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(cfg+".tmp", cfg); err != nil {
			t.Fatal(err)
		}
	}
	write(`"10.0.0.5:143", "10.0.0.6:143"`, `"127.0.0.1:11311", "/run/memcached/mc.sock"`)
	base, logs, sigs, done := runAdmin(t, cfg)
	waitLog(t, logs, `msg="postern running"`)
	t.Setenv(nodeTokenEnv, token)

	same := func(t *testing.T, fileArgs, nodeArgs []string) string {
		t.Helper()
		fc, fout, ferr := runCmd(fileArgs...)
		nc, nout, nerr := runCmd(nodeArgs...)
		if fc != nc || fout != nout {
			t.Errorf("%q: exit %d\n%s(stderr %s)\n%q: exit %d\n%s(stderr %s)", fileArgs, fc, fout, ferr, nodeArgs, nc, nout, nerr)
		}
		return nout
	}
	for _, c := range []string{"garpu", "getAllReverseProxyBackends", "gamau", "gamcs"} {
		t.Run(c, func(t *testing.T) {
			out := same(t, []string{c, "-c", cfg}, []string{c, "-node", base})
			if out == "" {
				t.Error("no output")
			}
			same(t, []string{"zmprov", "-c", cfg, c}, []string{"zmprov", "-node", base, c})
		})
	}
	calls := []struct {
		name   string
		args   []string
		first  string
		status int
	}{
		{"route decided", []string{"-hook", "route", "-field", "login=bob@example.com", "-field", "password=hunter2", "-field", "client_ip=192.0.2.7"},
			"route: done by all", exitOK},
		{"http rewrite", []string{"-hook", "rewrite", "-field", "http_path=/home/bob", "-field", "header:Cookie=ZM_AUTH_TOKEN=x"},
			"rewrite: done by all", exitOK},
		{"a plugin fails", []string{"-hook", "login", "-field", "login=bob"}, "login: tempfail by trap: plugin trap: hook login: trap", exitFail},
	}
	for _, tc := range calls {
		t.Run("call "+tc.name, func(t *testing.T) {
			out := same(t, append([]string{"call", "-c", cfg}, tc.args...), append([]string{"call", "-node", base}, tc.args...))
			if !strings.HasPrefix(out, tc.first) || strings.Contains(out, "hunter2") {
				t.Errorf("output:\n%s", out)
			}
		})
	}
	t.Run("refused", func(t *testing.T) {
		t.Setenv(nodeTokenEnv, "wrong")
		code, _, stderr := runCmd("call", "-node", base, "-hook", "route")
		if code != exitFail || !strings.Contains(stderr, "bearer token") || !strings.Contains(stderr, nodeTokenEnv) {
			t.Errorf("wrong token: exit %d, %s", code, stderr)
		}
		if code, _, stderr := runCmd("call", "-node", base, "-event", "login_failed"); code != exitUsage || !strings.Contains(stderr, "hook chains only") {
			t.Errorf("event: exit %d, %s", code, stderr)
		}
		if code, _, stderr := runCmd("garpb", "-node", "127.0.0.1:9090"); code != exitUsage || !strings.Contains(stderr, "base URL") {
			t.Errorf("bad URL: exit %d, %s", code, stderr)
		}
		for _, args := range [][]string{{"call", "-c", cfg, "-node", base, "-hook", "route"}, {"gamcs", "-c", cfg, "-node", base},
			{"zmprov", "-c", cfg, "-node", base, "gamcs"}, {"zmprov", "-c", cfg, "gamcs", "-node", base}} {
			if code, _, stderr := runCmd(args...); code != exitUsage || !strings.Contains(stderr, "not both") {
				t.Errorf("%q: exit %d, %s", args, code, stderr)
			}
		}
	})
	if strings.Contains(logs.String(), "hunter2") {
		t.Error("the node logged a password")
	}

	// A reload: the node answers with the new routes; the store, which
	// needs a restart, is still the one it runs with.
	write(`"10.0.0.7:143"`, `"127.0.0.1:11411"`)
	sigs <- syscall.SIGHUP
	waitLog(t, logs, "front ends reloaded")
	if _, out, _ := runCmd("garpb", "-node", base); !strings.HasPrefix(out, "    server 10.0.0.7:143;\n") {
		t.Errorf("garpb after the reload:\n%s", out)
	}
	if _, out, _ := runCmd("gamcs", "-node", base); out != "127.0.0.1:11311 /run/memcached/mc.sock \n" {
		t.Errorf("gamcs after the reload (the store is restart-only): %q", out)
	}

	sigs <- syscall.SIGTERM
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop")
	}
}
