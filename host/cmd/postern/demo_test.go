package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/postern/postern/host/demo"
	"github.com/postern/postern/host/internal/guestbuild"
	"github.com/postern/postern/host/plugintest"
)

// demoPlugins lays out the bundled plugins as `make bundle` does (the
// committed C build where a plugin has one, else its Go build, built once
// per source change) and returns the directory holding them.
func demoPlugins(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	for _, name := range demo.Plugins {
		src := guestbuild.Build(t, "plugins/"+name)
		if _, err := os.Stat(filepath.Join("..", "..", "..", "plugins", name, "c", "plugin.wasm")); err == nil {
			src = plugintest.CPlugin(t, "plugins/"+name+"/c")
		}
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, name+".wasm"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// demoRun is a `postern demo` running in the test process.
type demoRun struct {
	out, logs *syncBuffer
	sigs      chan os.Signal
	finished  chan struct{} // closed when cmdDemo has returned
	code      int           // its exit code, once finished
}

// startDemo runs cmdDemo until its commands are printed; it is stopped at
// the end of the test if it is still running.
func startDemo(t *testing.T, a demoArgs) *demoRun {
	t.Helper()
	d := &demoRun{out: &syncBuffer{}, logs: &syncBuffer{}, sigs: make(chan os.Signal, 1), finished: make(chan struct{})}
	go func() {
		defer close(d.finished)
		d.code = cmdDemo(context.Background(), a, d.sigs, d.out, d.logs)
	}()
	t.Cleanup(func() { d.stop(t) })
	deadline := time.After(2 * time.Minute) // compiling five plugins on a busy 2-core machine
	for !strings.Contains(d.out.String(), "Status page:") {
		select {
		case <-d.finished:
			t.Fatalf("postern demo exited with %d\nstdout:\n%s\nstderr:\n%s", d.code, d.out, d.logs)
		case <-deadline:
			t.Fatalf("postern demo did not start\nstdout:\n%s\nstderr:\n%s", d.out, d.logs)
		case <-time.After(50 * time.Millisecond):
		}
	}
	return d
}

// wait waits up to timeout for the demo to exit and returns its code.
func (d *demoRun) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-d.finished:
		return d.code
	case <-time.After(timeout):
		t.Fatalf("postern demo still running after %v\nstderr:\n%s", timeout, d.logs)
		return -1
	}
}

// stop sends SIGTERM, unless the demo has exited, and returns its code.
func (d *demoRun) stop(t *testing.T) int {
	select {
	case <-d.finished:
		return d.code
	case d.sigs <- syscall.SIGTERM:
	}
	return d.wait(t, 30*time.Second)
}

// TestDemo runs `postern demo` and every command it prints: with curl when
// it is installed, and always with Go clients against the printed
// addresses and certificate.
func TestDemo(t *testing.T) {
	plugins := demoPlugins(t)
	cache := t.TempDir() // shared by the subtests: the second start compiles nothing

	t.Run("printed commands work", func(t *testing.T) {
		d := startDemo(t, demoArgs{plugins: plugins, cacheDir: cache})
		printed, logs := d.out.String(), d.logs
		var commands []string
		for _, l := range strings.Split(printed, "\n") {
			if l = strings.TrimSpace(l); strings.HasPrefix(l, "curl ") {
				commands = append(commands, l)
			}
		}
		demoUser, alice := demo.Users[0], demo.Users[1]
		// What each printed command must show; every command must match
		// exactly one entry, and every entry one command.
		expect := []struct {
			match string // a regular expression matching the command line
			want  []string
		}{
			{`imap://\S+/INBOX;UID=1'$`, []string{"Subject: Welcome to Postern", "From: postmaster@example.com"}},
			{`imap://\S+/INBOX' -X 'FETCH 1:\* ENVELOPE'$`, []string{`"Re: Lunch on Friday?"`, `(NIL NIL "alice" "example.com")`}},
			{`pop3://[0-9.:]+/'$`, []string{fmt.Sprintf("1 %d\r\n2 %d\r\n", len(demoUser.Inbox[0]), len(demoUser.Inbox[1]))}},
			{`pop3://[0-9.:]+/2'$`, []string{"Subject: Lunch on Friday?", "by the station"}},
			{`-u demo:demo 'https://[0-9.:]+/home/demo/'$`, []string{"Inbox of demo@example.com", "1. Welcome to Postern", "Proxied by Postern for 127.0.0.1 over https"}},
			{`'https://[0-9.:]+/~alice'$`, []string{"Inbox of alice@example.com", "Re: Lunch on Friday?"}},
			{`^curl http://[0-9.:]+/metrics$`, []string{"postern_plugin_calls_total", `plugin="route-lookup"`, `plugin="url-rewrite"`}},
		}
		if len(commands) != len(expect) {
			t.Fatalf("printed %d commands, want %d:\n%s", len(commands), len(expect), printed)
		}
		for _, e := range expect {
			n := 0
			for _, c := range commands {
				if regexp.MustCompile(e.match).MatchString(c) {
					n++
				}
			}
			if n != 1 {
				t.Fatalf("%d printed commands contain %q, want 1:\n%s", n, e.match, printed)
			}
		}

		// The printed commands, as a user pastes them.
		if _, err := exec.LookPath("curl"); err != nil {
			t.Log("curl is not installed: the printed commands are checked with Go clients only")
		} else {
			// The metrics last, so that they count the logins before them.
			for _, e := range expect {
				for _, c := range commands {
					if !regexp.MustCompile(e.match).MatchString(c) {
						continue
					}
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					cmd := exec.CommandContext(ctx, "sh", "-c", c)
					var stderr strings.Builder
					cmd.Stderr = &stderr
					got, err := cmd.Output()
					cancel()
					if err != nil {
						t.Errorf("%s\nfailed: %v\n%s\nproxy log:\n%s", c, err, stderr.String(), logs)
						continue
					}
					for _, w := range e.want {
						if !strings.Contains(string(got), w) {
							t.Errorf("%s\nprinted:\n%s\nwant it to contain %q", c, got, w)
						}
					}
				}
			}
		}

		// Go clients, trusting only the printed certificate.
		find := func(re string) string {
			m := regexp.MustCompile(re).FindStringSubmatch(printed)
			if m == nil {
				t.Fatalf("%s not in the output:\n%s", re, printed)
			}
			return m[1]
		}
		pem, err := os.ReadFile(find(`--cacert (\S+)`))
		if err != nil {
			t.Fatal(err)
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(pem) {
			t.Fatal("the printed certificate is not PEM")
		}
		tlsCfg := &tls.Config{RootCAs: roots, ServerName: "127.0.0.1"}

		imapAddr := find(`imap://([0-9.:]+)/`)
		t.Run("imap", func(t *testing.T) {
			for _, tc := range []struct {
				name, user, pass, subject string
			}{
				{"short login", "demo", demoUser.Password, "Welcome to Postern"},
				{"full login, upper case", "ALICE@example.com", alice.Password, "Re: Lunch on Friday?"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					c, err := imapclient.DialStartTLS(imapAddr, &imapclient.Options{TLSConfig: tlsCfg})
					if err != nil {
						t.Fatal(err)
					}
					defer c.Close()
					if err := c.Login(tc.user, tc.pass).Wait(); err != nil {
						t.Fatalf("login: %v", err)
					}
					if _, err := c.Select("INBOX", nil).Wait(); err != nil {
						t.Fatal(err)
					}
					msgs, err := c.Fetch(imap.SeqSetNum(1), &imap.FetchOptions{Envelope: true}).Collect()
					if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != tc.subject {
						t.Fatalf("fetch: %v %+v, want subject %q", err, msgs, tc.subject)
					}
					if err := c.Logout().Wait(); err != nil {
						t.Error(err)
					}
				})
			}
			t.Run("wrong password", func(t *testing.T) {
				c, err := imapclient.DialStartTLS(imapAddr, &imapclient.Options{TLSConfig: tlsCfg})
				if err != nil {
					t.Fatal(err)
				}
				defer c.Close()
				if err := c.Login("demo", "not-the-password").Wait(); err == nil {
					t.Fatal("logged in with a wrong password")
				}
			})
		})

		t.Run("pop3", func(t *testing.T) {
			conn, err := net.DialTimeout("tcp", find(`pop3://([0-9.:]+)/`), 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			conn.SetDeadline(time.Now().Add(30 * time.Second))
			r := bufio.NewReader(conn)
			var w io.Writer = conn
			ok := func(cmd string) string {
				t.Helper()
				if cmd != "" {
					fmt.Fprintf(w, "%s\r\n", cmd)
				}
				l, err := r.ReadString('\n')
				if err != nil || !strings.HasPrefix(l, "+OK") {
					t.Fatalf("%q: %q %v", cmd, l, err)
				}
				return strings.TrimSpace(l)
			}
			ok("") // greeting
			ok("STLS")
			tc := tls.Client(conn, tlsCfg)
			r, w = bufio.NewReader(tc), tc
			ok("USER demo")
			ok("PASS " + demoUser.Password)
			size := len(demoUser.Inbox[0]) + len(demoUser.Inbox[1])
			if got, want := ok("STAT"), fmt.Sprintf("+OK 2 %d", size); got != want {
				t.Errorf("STAT: %q, want %q", got, want)
			}
			ok("QUIT")
		})

		t.Run("https", func(t *testing.T) {
			client := &http.Client{Transport: &http.Transport{TLSClientConfig: tlsCfg}, Timeout: 30 * time.Second}
			defer client.CloseIdleConnections()
			base := "https://" + find(`https://([0-9.:]+)/`)
			for _, tc := range []struct {
				name, path, user, pass string
				status                 int
				want                   string
			}{
				{"routed user", "/home/demo/", "demo", demoUser.Password, 200, "Inbox of demo@example.com"},
				{"rewritten", "/~alice", "", "", 200, "Inbox of alice@example.com"},
				{"wrong password, refused by the backend", "/home/demo/", "demo", "nope", 401, "wrong login or password"},
				{"unknown mailbox", "/home/nobody/", "", "", 404, "no such mailbox"},
			} {
				t.Run(tc.name, func(t *testing.T) {
					req, _ := http.NewRequest("GET", base+tc.path, nil)
					if tc.user != "" {
						req.SetBasicAuth(tc.user, tc.pass)
					}
					resp, err := client.Do(req)
					if err != nil {
						t.Fatal(err)
					}
					body, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != tc.status || !strings.Contains(string(body), tc.want) {
						t.Errorf("GET %s: %d %q, want %d and %q", tc.path, resp.StatusCode, body, tc.status, tc.want)
					}
				})
			}
		})

		if code := d.stop(t); code != exitOK {
			t.Errorf("exit %d\n%s", code, logs)
		}
		for _, want := range []string{"outcome=relayed", "listener=pop3", "login=demo@example.com",
			"login=alice@example.com", `path=/home/demo/ proto=HTTP/2.0 status=200`, `plugins="route=done:route-lookup"`, "postern stopped"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("the log lacks %q", want)
			}
		}
	})

	t.Run("-for stops it", func(t *testing.T) {
		d := startDemo(t, demoArgs{plugins: plugins, cacheDir: cache, duration: 300 * time.Millisecond})
		if code := d.wait(t, 30*time.Second); code != exitOK {
			t.Errorf("exit %d\n%s", code, d.logs)
		}
	})

	t.Run("signal during start", func(t *testing.T) { testSignalDuringStart(t, plugins, cache) })
}

// testSignalDuringStart: Ctrl-C while the plugins load stops the demo
// once they have loaded, cleanly.
func testSignalDuringStart(t *testing.T, plugins, cache string) {
	sigs := make(chan os.Signal, 1)
	sigs <- syscall.SIGINT
	var out, logs syncBuffer
	done := make(chan int, 1)
	go func() {
		done <- cmdDemo(context.Background(), demoArgs{plugins: plugins, cacheDir: cache}, sigs, &out, &logs)
	}()
	select {
	case code := <-done:
		if code != exitOK || !strings.Contains(logs.String(), "postern stopped") {
			t.Errorf("exit %d\n%s", code, logs.String())
		}
	case <-time.After(2 * time.Minute):
		t.Fatalf("did not stop\n%s", logs.String())
	}
}

// TestDemo_refuses checks the errors that stop the demo before it starts.
func TestDemo_refuses(t *testing.T) {
	for _, tc := range []struct {
		name string
		args []string
		code int
		want string
	}{
		{"no plugins built", []string{"-plugins", t.TempDir()}, exitFail, "run `make bundle`"},
		{"negative base", []string{"-addr-base", "-1"}, exitUsage, "want 0 (free ports)"},
		{"base too high", []string{"-addr-base", "65200"}, exitUsage, "want 0 (free ports)"},
		{"an argument", []string{"now"}, exitUsage, `unexpected argument "now"`},
		{"unknown flag", []string{"-port", "1"}, exitUsage, "flag provided but not defined"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var stdout, stderr strings.Builder
			code := run(append([]string{"demo"}, tc.args...), &stdout, &stderr)
			if code != tc.code || !strings.Contains(stderr.String(), tc.want) {
				t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr.String(), tc.code, tc.want)
			}
		})
	}
}
