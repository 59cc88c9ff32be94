package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fixture returns the absolute path of an abi/testdata guest.
func fixture(t *testing.T, name string) string {
	t.Helper()
	p, err := filepath.Abs(filepath.Join("..", "..", "..", "abi", "testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); err != nil {
		t.Fatal(err)
	}
	return p
}

// writeConfig writes a configuration with the given chain entries (name:
// fixture file) to a temp dir and returns its path.
func writeConfig(t *testing.T, dir string, plugins ...string) string {
	t.Helper()
	var b strings.Builder
	b.WriteString("cache_dir: \"\"\nlog: {format: text}\nplugins:\n  debounce: 10ms\n  chain:\n")
	for _, p := range plugins {
		name, file, _ := strings.Cut(p, ":")
		b.WriteString("    - name: " + name + "\n      path: " + fixture(t, file) + "\n")
	}
	if len(plugins) == 0 {
		b.WriteString("    []\n")
	}
	path := filepath.Join(dir, "postern.yaml")
	if err := os.WriteFile(path, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func runCmd(args ...string) (code int, stdout, stderr string) {
	var out, errb bytes.Buffer
	code = run(args, &out, &errb)
	return code, out.String(), errb.String()
}

func TestRun_Usage(t *testing.T) {
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStdout string // substring
		wantStderr string // substring
	}{
		{"no command", nil, exitUsage, "", "Usage: postern <command>"},
		{"help", []string{"help"}, exitOK, "SIGHUP re-reads the configuration", ""},
		{"help says what run serves", []string{"help"}, exitOK, "serves the IMAP and POP3 listeners", ""},
		{"unknown command", []string{"serve"}, exitUsage, "", `unknown command "serve"`},
		{"version", []string{"version"}, exitOK, "(plugin ABI 1.2)", ""},
		{"bad flag", []string{"check", "-x"}, exitUsage, "", "flag provided but not defined: -x"},
		{"stray argument", []string{"check", "postern.yaml"}, exitUsage, "", `unexpected argument "postern.yaml"`},
		{"call without hook", []string{"call"}, exitUsage, "", "give one of -hook"},
		{"call with both", []string{"call", "-hook", "login", "-event", "login_failed"}, exitUsage, "", "give one of -hook"},
		{"call bad hook", []string{"call", "-hook", "logon"}, exitUsage, "", `hook "logon": want login, throttle, route, rewrite or response`},
		{"call bad event", []string{"call", "-event", "failed"}, exitUsage, "", `event "failed": want route_decided or login_failed`},
		{"call field help", []string{"call", "-field", "help"}, exitOK, "header:Name, imap_id:key", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(tc.args...)
			if code != tc.wantCode || !strings.Contains(stdout, tc.wantStdout) || !strings.Contains(stderr, tc.wantStderr) {
				t.Errorf("run(%q) = %d\nstdout: %s\nstderr: %s\nwant %d, stdout with %q, stderr with %q",
					tc.args, code, stdout, stderr, tc.wantCode, tc.wantStdout, tc.wantStderr)
			}
		})
	}
}

func TestRun_Check(t *testing.T) {
	dir := t.TempDir()
	badKey := filepath.Join(dir, "bad.yaml")
	os.WriteFile(badKey, []byte("plugins:\n  chain:\n    - name: a\n      path: a.wasm\n      limits: {call_timout: 1s}\n"), 0o600)
	noFile := filepath.Join(dir, "nofile.yaml")
	os.WriteFile(noFile, []byte("plugins:\n  chain:\n    - name: gone\n      path: gone.wasm\n"), 0o600)

	tests := []struct {
		name       string
		config     string
		wantCode   int
		wantStdout string // exact
		wantStderr string // exact when wantCode is 0, else a substring
	}{
		{"two plugins", writeConfig(t, t.TempDir(), "all:all_hooks.wasm", "minimal:minimal.wasm"), exitOK, "ok: 2 plugins loaded (all, minimal)\n", ""},
		{"one plugin", writeConfig(t, t.TempDir(), "all:all_hooks.wasm"), exitOK, "ok: 1 plugin loaded (all)\n", ""},
		{"no plugins", writeConfig(t, t.TempDir()), exitOK, "ok: 0 plugins loaded\n", ""},
		{"unknown key", badKey, exitFail, "", badKey + ":5: plugins.chain[0].limits.call_timout: unknown key (did you mean call_timeout?)\n"},
		{"init refuses", writeConfig(t, t.TempDir(), "lookup:init_refuse.wasm"), exitFail, "", `plugin lookup: init refused its configuration: missing key "servers"`},
		{"bad guest", writeConfig(t, t.TempDir(), "old:no_version.wasm"), exitFail, "", "plugin old: "},
		{"missing wasm", noFile, exitFail, "", "plugin gone: open " + filepath.Join(dir, "gone.wasm") + ": no such file or directory (build it with `make plugins`"},
		{"missing config", filepath.Join(dir, "absent.yaml"), exitFail, "", "no such file or directory; pass the configuration file with -c"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd("check", "-c", tc.config)
			okErr := stderr == tc.wantStderr || (tc.wantCode != exitOK && strings.Contains(stderr, tc.wantStderr))
			if code != tc.wantCode || stdout != tc.wantStdout || !okErr {
				t.Errorf("check = %d\nstdout: %q\nstderr: %q\nwant %d, %q, %q", code, stdout, stderr, tc.wantCode, tc.wantStdout, tc.wantStderr)
			}
		})
	}
}

func TestRun_Plugins(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), "all:all_hooks.wasm", "minimal:minimal.wasm")
	t.Run("table", func(t *testing.T) {
		code, stdout, stderr := runCmd("plugins", "-c", cfg)
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if len(lines) != 4 {
			t.Fatalf("want a header, two rows and the reuse line:\n%s", stdout)
		}
		if got := strings.Fields(lines[0]); strings.Join(got, " ") != "NAME HOOKS EVENTS ABI REUSE SHA256 INSTANCES LAST RELOAD" {
			t.Errorf("header %q", lines[0])
		}
		all := strings.Fields(lines[1])
		if len(all) < 9 || all[0] != "all" || all[1] != "login,throttle,route,rewrite" || all[2] != "login_failed,route_decided" ||
			all[3] != "1.0" || all[4] != "-" || len(all[5]) != 12 || all[6] != "1/16" || all[7] != "ok" {
			t.Errorf("row %q", lines[1])
		}
		min := strings.Fields(lines[2])
		if len(min) < 8 || min[0] != "minimal" || min[1] != "-" || min[2] != "-" {
			t.Errorf("row %q", lines[2])
		}
		// all serves login, throttle and route (a 1.0 plugin: no reuse).
		if lines[3] != "web decision reuse: off; these plugins declared none: all" {
			t.Errorf("reuse line %q", lines[3])
		}
	})
	t.Run("json", func(t *testing.T) {
		code, stdout, stderr := runCmd("plugins", "-c", cfg, "-json")
		if code != exitOK {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		var got []pluginJSON
		if err := json.Unmarshal([]byte(stdout), &got); err != nil {
			t.Fatalf("%v\n%s", err, stdout)
		}
		if len(got) != 2 || got[0].Name != "all" || len(got[0].Hooks) != 4 || len(got[0].Events) != 2 ||
			got[0].ABIVersion != "1.0" || len(got[0].SHA256) != 64 || got[0].LastReload.Error != "" ||
			got[0].LastReload.SHA256 != got[0].SHA256 || got[0].MaxInstances != 16 ||
			got[1].Name != "minimal" || got[1].Hooks == nil {
			t.Errorf("unexpected JSON:\n%s", stdout)
		}
	})
	t.Run("reuse on", func(t *testing.T) {
		// The conformance fixture declares a reuse of 2.5 s (ABI 1.2).
		cfg := writeConfig(t, t.TempDir(), "reuse:../../conformance/testdata/reuse.wasm")
		code, stdout, stderr := runCmd("plugins", "-c", cfg)
		lines := strings.Split(strings.TrimSpace(stdout), "\n")
		if code != exitOK || len(lines) != 3 || strings.Fields(lines[1])[4] != "2.5s" ||
			lines[2] != "web decision reuse: 2.5s (every plugin serving login, throttle, route or route_decided for HTTP declared one)" {
			t.Errorf("exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
		}
	})
	t.Run("bad config", func(t *testing.T) {
		code, stdout, stderr := runCmd("plugins", "-c", writeConfig(t, t.TempDir(), "lookup:init_refuse.wasm"))
		if code != exitFail || stdout != "" || !strings.Contains(stderr, "missing key") {
			t.Errorf("exit %d\nstdout %q\nstderr %q", code, stdout, stderr)
		}
	})
}

func TestRun_Call(t *testing.T) {
	cfg := writeConfig(t, t.TempDir(), "all:all_hooks.wasm")
	const secret = "hunter2-s3cret"
	tests := []struct {
		name     string
		args     []string
		wantCode int
		want     []string // lines of stdout, in order (other lines may come between)
		stderr   string   // substring
	}{
		{
			name: "route sets upstreams",
			args: []string{"-hook", "route", "-field", "login=bob", "-field", "password=" + secret,
				"-field", "client_ip=192.0.2.7", "-field", "protocol=imap"},
			want: []string{"route: done by all", "protocol=imap", "client_ip=192.0.2.7", "login=bob",
				"password=<set>", "upstreams=127.0.0.1:1143,127.0.0.1:2143", "message=route"},
		},
		{
			name: "login with every kind of field",
			args: []string{"-hook", "login", "-field", "login=bob", "-field", "client_port=40000", "-field", "local_ip=198.51.100.1",
				"-field", "local_port=993", "-field", "sni=mail.example.org", "-field", "tls_version=TLS1.3", "-field", "auth_method=plain",
				"-field", "account=bob@example.org", "-field", "upstreams=a:1,b:2", "-field", "upstream_password=" + secret,
				"-field", "imap_id:name=Thunderbird"},
			want: []string{"login: done by all", "protocol=imap", "client_port=40000", "local_ip=198.51.100.1", "local_port=993",
				"tls_version=TLS1.3", "sni=mail.example.org", "auth_method=plain", "login=bob", "account=bob@example.org",
				"upstream_password=<set>", "message=login", "imap_id:name=Thunderbird"},
		},
		{
			name: "http rewrite",
			args: []string{"-hook", "rewrite", "-field", "http_method=GET", "-field", "http_host=mail.example.org",
				"-field", "http_path=/", "-field", "http_query=a=1", "-field", "header:X-Test=yes",
				"-field", "header:Authorization=Basic " + secret, "-field", "header:cookie=ZM_AUTH_TOKEN=" + secret},
			want: []string{"rewrite: done by all", "protocol=http", "http_method=GET", "http_host=mail.example.org",
				"http_path=/", "http_query=a=1", "message=rewrite", "header:Authorization=<set>", "header:Cookie=<set>", "header:X-Test=yes"},
		},
		{
			name:   "event",
			args:   []string{"-event", "login_failed", "-field", "login=bob", "-field", "password=" + secret},
			want:   []string{"login_failed: delivered", "login=bob", "password=<set>"},
			stderr: "msg=login_failed plugin=all",
		},
		{
			name:     "typo in a secret field",
			args:     []string{"-hook", "login", "-field", "pasword=" + secret},
			wantCode: exitUsage,
			stderr:   "postern call: -field pasword: unknown field (did you mean password?)",
		},
		{
			name:     "no = in a field",
			args:     []string{"-hook", "login", "-field", "password:" + secret},
			wantCode: exitUsage,
			stderr:   `postern call: -field #1 has no "="`,
		},
		{
			name:     "bad value",
			args:     []string{"-hook", "login", "-field", "client_ip=999.1.1.1"},
			wantCode: exitUsage,
			stderr:   `postern call: -field client_ip: "999.1.1.1" is not an IP address`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(append([]string{"call", "-c", cfg}, tc.args...)...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d\nstdout:\n%s\nstderr:\n%s", code, tc.wantCode, stdout, stderr)
			}
			if strings.Contains(stdout+stderr, secret) {
				t.Errorf("the secret was printed:\nstdout:\n%s\nstderr:\n%s", stdout, stderr)
			}
			if !strings.Contains(stderr, tc.stderr) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.stderr)
			}
			lines := strings.Split(stdout, "\n")
			i := 0
			for _, l := range lines {
				if i < len(tc.want) && l == tc.want[i] {
					i++
				}
			}
			if i < len(tc.want) {
				t.Errorf("stdout lacks %q (in order):\n%s", tc.want[i], stdout)
			}
		})
	}

	t.Run("no plugin decides", func(t *testing.T) {
		code, stdout, _ := runCmd("call", "-c", writeConfig(t, t.TempDir(), "minimal:minimal.wasm"), "-hook", "route", "-field", "login=bob")
		if code != exitOK || !strings.HasPrefix(stdout, "route: continue (no plugin decided; a front end applies its default)\n") {
			t.Errorf("exit %d\n%s", code, stdout)
		}
	})
	t.Run("plugin fails closed", func(t *testing.T) {
		code, stdout, _ := runCmd("call", "-c", writeConfig(t, t.TempDir(), "trap:trap.wasm"), "-hook", "login", "-field", "login=bob")
		if code != exitFail || !strings.HasPrefix(stdout, "login: tempfail by trap: plugin trap: ") {
			t.Errorf("exit %d\n%s", code, stdout)
		}
	})
}

// syncBuffer is a bytes.Buffer safe for the logger and the test to share.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestCmdRun(t *testing.T) {
	dir := t.TempDir()
	cfg := writeConfig(t, dir, "all:all_hooks.wasm")
	sigs := make(chan os.Signal)
	var stderr syncBuffer
	done := make(chan int)
	go func() { done <- cmdRun(context.Background(), cfg, sigs, &stderr) }()

	waitFor := func(s string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !strings.Contains(stderr.String(), s) {
			if time.Now().After(deadline) {
				t.Fatalf("no %q in the log:\n%s", s, stderr.String())
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	waitFor(`msg="postern running"`)
	waitFor(`plugins=[all]`)
	waitFor("postern running")

	// A good new chain is loaded on SIGHUP.
	writeConfig(t, dir, "all:all_hooks.wasm", "minimal:minimal.wasm")
	sigs <- syscall.SIGHUP
	waitFor(`msg="configuration reloaded"`)
	waitFor(`plugins="[all minimal]"`)

	// A bad config is logged and the running chain keeps serving.
	os.WriteFile(cfg, []byte("plugins: {chain: [{name: x, path: x.wasm, limits: {instance: 1}}]}\n"), 0o600)
	sigs <- syscall.SIGHUP
	waitFor(`msg="configuration reload failed; the previous configuration keeps serving"`)
	waitFor("postern.yaml:1: plugins.chain[0].limits.instance: unknown key (did you mean instances?)")

	// So is a chain that fails to load, and restart-only keys are named.
	os.WriteFile(cfg, []byte("cache_dir: \"\"\nlog: {format: json}\nplugins: {chain: [{name: r, path: "+fixture(t, "init_refuse.wasm")+"}]}\n"), 0o600)
	sigs <- syscall.SIGHUP
	waitFor(`keys="[log plugins.debounce]"`)
	waitFor(`msg="plugin reload failed; the previous plugins keep serving"`)

	sigs <- syscall.SIGTERM
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d\n%s", code, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not stop on SIGTERM")
	}
	waitFor(`msg="postern stopped"`)
}

func TestCmdRun_BadConfig(t *testing.T) {
	var stderr syncBuffer
	cfg := writeConfig(t, t.TempDir(), "lookup:init_refuse.wasm")
	if code := cmdRun(context.Background(), cfg, nil, &stderr); code != exitFail {
		t.Errorf("exit %d", code)
	}
	if !strings.Contains(stderr.String(), `msg="postern cannot start"`) {
		t.Errorf("log:\n%s", stderr.String())
	}
}
