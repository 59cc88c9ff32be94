package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/host/internal/testenv"
)

// TestRun_sessionCap: limits.max_sessions caps mail and web connections
// together; over it IMAP gets a BYE and HTTP a 503, while the admin API
// (its own listener, never counted) still answers /healthz and /metrics,
// which counts the refusals. A reload raises the cap for the next
// connection.
func TestRun_sessionCap(t *testing.T) {
	backend := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer backend.Close()
	dir := t.TempDir()
	imapAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	webAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	adminAddr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	cfgPath := filepath.Join(dir, "postern.yaml")
	write := func(maxSessions int) {
		t.Helper()
		conf := fmt.Sprintf(`cache_dir: ""
log: {format: text}
mail:
  listeners:
    - {name: imap, address: %q, protocol: imap, tls: none, route: ["127.0.0.1:1"]}
web:
  listeners: [{name: http, address: %q}]
  pools: [{name: p, backends: [%q]}]
  pool: p
limits: {max_sessions: %d}
admin: {address: %q}
`, imapAddr, webAddr, strings.TrimPrefix(backend.URL, "http://"), maxSessions, adminAddr)
		tmp := cfgPath + ".tmp"
		if err := os.WriteFile(tmp, []byte(conf), 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, cfgPath); err != nil {
			t.Fatal(err)
		}
	}
	write(2)
	logs := &syncBuffer{}
	sigs := make(chan os.Signal, 1)
	exited := make(chan int, 1)
	go func() { exited <- cmdRun(context.Background(), cfgPath, sigs, logs) }()
	defer func() {
		sigs <- syscall.SIGTERM
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			t.Error("did not stop")
		}
		if t.Failed() {
			t.Logf("log:\n%s", logs)
		}
	}()
	deadline := time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "postern running") {
		if time.Now().After(deadline) {
			t.Fatalf("not running:\n%s", logs)
		}
		time.Sleep(20 * time.Millisecond)
	}

	dial := func(addr string) (net.Conn, *bufio.Reader) {
		t.Helper()
		c, err := net.DialTimeout("tcp", addr, 2*time.Second)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(10 * time.Second))
		return c, bufio.NewReader(c)
	}
	line := func(br *bufio.Reader) string {
		l, _ := br.ReadString('\n')
		return strings.TrimRight(l, "\r\n")
	}
	httpGet := func() *http.Response {
		t.Helper()
		c, br := dial(webAddr)
		io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n")
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.ReadAll(resp.Body)
		return resp
	}
	admin := func(path string) (int, string) {
		t.Helper()
		resp, err := http.Get("http://" + adminAddr + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}

	// Two sessions: an IMAP client before login and a web connection.
	_, br := dial(imapAddr)
	if g := line(br); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	if resp := httpGet(); resp.StatusCode != 200 { // its connection stays open (keep-alive)
		t.Fatalf("web: %d", resp.StatusCode)
	}

	_, br = dial(imapAddr)
	if got := line(br); got != "* BYE [UNAVAILABLE] Too many connections, try again later." {
		t.Fatalf("IMAP over the cap: %q", got)
	}
	if resp := httpGet(); resp.StatusCode != 503 || resp.Header.Get("Retry-After") == "" || !resp.Close {
		t.Fatalf("HTTP over the cap: %d %v", resp.StatusCode, resp.Header)
	}
	for range 3 { // never counted, however often it is asked
		if code, body := admin("/healthz"); code != 200 {
			t.Fatalf("/healthz at the cap: %d %s", code, body)
		}
	}
	_, metrics := admin("/metrics")
	for _, want := range []string{
		`postern_connections_refused_total{listener="imap",reason="global"} 1`,
		`postern_connections_refused_total{listener="http",reason="global"} 1`,
		`postern_connections_open{listener="http",state="established"} 1`,
		`postern_connections_open{listener="imap",state="pre_login"} 1`,
		"postern_sessions_open 2",
		"postern_sessions_max 2",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics has no %s", want)
		}
	}

	// A reload applies a new cap to the next connection.
	write(3)
	sigs <- syscall.SIGHUP
	deadline = time.Now().Add(20 * time.Second)
	for !strings.Contains(logs.String(), "configuration reloaded") {
		if time.Now().After(deadline) {
			t.Fatal("no reload")
		}
		time.Sleep(20 * time.Millisecond)
	}
	_, br = dial(imapAddr)
	if g := line(br); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("after raising the cap: %q", g)
	}
}
