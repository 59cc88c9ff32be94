package main

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/host/internal/testenv"
)

// busyAddr returns an address something else listens on for the test.
func busyAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln.Addr().String()
}

func freeAddr(t *testing.T) string {
	return fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
}

// listenConfig writes a configuration with mail listeners and web
// listeners (name=address each) and no plugins, admin API off.
func listenConfig(t *testing.T, path, greeting string, mailL, webL []string) {
	t.Helper()
	var b strings.Builder
	b.WriteString("cache_dir: \"\"\nlog: {format: text}\nadmin: {enabled: false}\n")
	if len(mailL) > 0 {
		fmt.Fprintf(&b, "mail:\n  greeting: %q\n  listeners:\n", greeting)
		for _, l := range mailL {
			name, addr, _ := strings.Cut(l, "=")
			fmt.Fprintf(&b, "    - {name: %s, address: %q, protocol: imap, tls: none, route: [\"127.0.0.1:1\"]}\n", name, addr)
		}
	}
	if len(webL) > 0 {
		b.WriteString("web:\n  pool: p\n  pools: [{name: p, backends: [\"127.0.0.1:1\"]}]\n  listeners:\n")
		for _, l := range webL {
			name, addr, _ := strings.Cut(l, "=")
			fmt.Fprintf(&b, "    - {name: %s, address: %q}\n", name, addr)
		}
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
}

// mustBeFree fails unless addr can be listened on: nothing the failed
// start opened is left open.
func mustBeFree(t *testing.T, addr string) {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		t.Errorf("%s left open: %v", addr, err)
		return
	}
	ln.Close()
}

// TestRun_listenAddressInUse: a mail or a web listener on a busy address
// stops `postern run` with an error naming the listener and the address
// (it used to panic in buildFrontends' cleanup), and no listener of the
// file, mail or web, is left open.
func TestRun_listenAddressInUse(t *testing.T) {
	for _, tc := range []struct {
		name       string
		mail, web  func(busy, free1, free2 string) []string
		wantInLogs func(busy string) string
	}{
		{
			name: "mail",
			mail: func(busy, free1, _ string) []string { return []string{"first=" + free1, "imap=" + busy} },
			web:  func(_, _, free2 string) []string { return []string{"http=" + free2} },
			wantInLogs: func(busy string) string {
				return "mail listener imap: address " + busy + " is in use"
			},
		},
		{
			name: "web",
			mail: func(_, free1, _ string) []string { return []string{"imap=" + free1} },
			web:  func(busy, _, free2 string) []string { return []string{"http=" + free2, "https=" + busy} },
			wantInLogs: func(busy string) string {
				return "web listener https: address " + busy + " is in use"
			},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			busy, free1, free2 := busyAddr(t), freeAddr(t), freeAddr(t)
			path := filepath.Join(t.TempDir(), "postern.yaml")
			listenConfig(t, path, "", tc.mail(busy, free1, free2), tc.web(busy, free1, free2))
			logs := &syncBuffer{}
			done := make(chan int, 1)
			go func() { done <- cmdRun(context.Background(), path, nil, logs) }()
			select {
			case code := <-done:
				if code != exitFail {
					t.Errorf("exit %d, want %d", code, exitFail)
				}
			case <-time.After(20 * time.Second):
				t.Fatalf("run did not stop:\n%s", logs)
			}
			if l := logs.String(); !strings.Contains(l, `msg="postern cannot start"`) || !strings.Contains(l, tc.wantInLogs(busy)) {
				t.Errorf("log does not name the listener and the address (%q):\n%s", tc.wantInLogs(busy), l)
			}
			mustBeFree(t, free1)
			mustBeFree(t, free2)
		})
	}
}

// TestRun_reloadListenAddressInUse: a reload whose new listener's address
// is busy is refused with the listener and the address named; the
// running configuration keeps serving, and the other new listener of the
// refused file is not left open.
func TestRun_reloadListenAddressInUse(t *testing.T) {
	a, b, busy := freeAddr(t), freeAddr(t), busyAddr(t)
	path := filepath.Join(t.TempDir(), "postern.yaml")
	listenConfig(t, path, "first config", []string{"a=" + a}, nil)
	logs := &syncBuffer{}
	sigs := make(chan os.Signal, 1)
	done := make(chan int, 1)
	go func() { done <- cmdRun(context.Background(), path, sigs, logs) }()
	waitLog(t, logs, "postern running")

	listenConfig(t, path, "second config", []string{"a=" + a, "b=" + b, "c=" + busy}, nil)
	waitLog(t, logs, "front end reload failed; the previous listeners keep serving")
	if want := "mail listener c: address " + busy + " is in use"; !strings.Contains(logs.String(), want) {
		t.Errorf("no %q in the log:\n%s", want, logs)
	}
	c, err := net.DialTimeout("tcp", a, 2*time.Second)
	if err != nil {
		t.Fatalf("the running listener stopped: %v", err)
	}
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if g, _ := bufio.NewReader(c).ReadString('\n'); !strings.Contains(g, "first config") {
		t.Errorf("greeting %q, want the running configuration's", g)
	}
	c.Close()
	mustBeFree(t, b)

	sigs <- syscall.SIGTERM
	select {
	case code := <-done:
		if code != exitOK {
			t.Errorf("exit %d\n%s", code, logs)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("run did not stop on SIGTERM")
	}
}

// TestCheck_listenAddresses: `postern check` listens briefly on every
// address. A busy one is a warning naming the listener and the address
// (a live node's own postern holds them all); two listeners of the file
// that cannot both bind, or an address this machine does not have, are
// errors.
func TestCheck_listenAddresses(t *testing.T) {
	busyMail, busyWeb, free := busyAddr(t), busyAddr(t), freeAddr(t)
	_, port, _ := net.SplitHostPort(free)
	dir := t.TempDir()
	write := func(name string, mailL, webL []string) string {
		p := filepath.Join(dir, name+".yaml")
		listenConfig(t, p, "", mailL, webL)
		return p
	}
	busyAdmin := busyAddr(t)
	adminConf := filepath.Join(dir, "admin.yaml")
	if err := os.WriteFile(adminConf, []byte("cache_dir: \"\"\nadmin: {address: \""+busyAdmin+"\"}\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name     string
		config   string
		wantCode int
		want     []string // substrings of stderr
	}{
		{"busy admin address the file chose", adminConf, exitOK, []string{"warning: admin.address: address " + busyAdmin + " is in use"}},
		{"all free", write("free", []string{"imap=" + free}, []string{"http=" + freeAddr(t)}), exitOK, nil},
		{"busy mail and web", write("busy", []string{"imap=" + busyMail}, []string{"http=" + busyWeb}), exitOK, []string{
			"warning: mail listener imap: address " + busyMail + " is in use",
			"warning: web listener http: address " + busyWeb + " is in use",
		}},
		{"two listeners of the file on one port", write("conflict", []string{"imap=:" + port, "imap2=127.0.0.1:" + port}, nil), exitFail, []string{
			"mail listener imap2: address 127.0.0.1:" + port + " cannot be bound together with mail listener imap (:" + port + ")",
		}},
		{"not an address of this machine", write("foreign", nil, []string{"http=192.0.2.1:" + port}), exitFail, []string{
			"web listener http: cannot listen on 192.0.2.1:" + port,
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd("check", "-c", tc.config)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d\nstdout: %s\nstderr: %s", code, tc.wantCode, stdout, stderr)
			}
			if len(tc.want) == 0 && stderr != "" {
				t.Errorf("stderr: %q, want nothing", stderr)
			}
			for _, w := range tc.want {
				if !strings.Contains(stderr, w) {
					t.Errorf("stderr without %q:\n%s", w, stderr)
				}
			}
			if code == exitOK && stdout != "ok: 0 plugins loaded\n" {
				t.Errorf("stdout %q", stdout)
			}
		})
	}
	mustBeFree(t, free) // check closed what it opened
}
