package admin

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/internal/testenv"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/mail"
)

// proxy is a running admin server in front of a real plugin host and a
// real mail front end that logs in to the shared Dovecot.
type proxy struct {
	admin *Server
	base  string
	mail  *mail.Server
}

func startProxy(t *testing.T) *proxy {
	t.Helper()
	d := testenv.SharedDovecot(t)
	st := kv.NewMemory(kv.MemoryOptions{})
	t.Cleanup(func() { st.Close() })
	h := newHost(t, st)
	srv, err := mail.New(mail.Config{
		Listeners: []mail.Listener{{Name: "imap-plain", Address: "127.0.0.1:0", Protocol: mail.IMAP,
			TLS: mail.TLSNone, AllowPlaintextLogin: true, Route: []string{d.IMAP}}},
		Plugins: h,
		Logger:  slog.New(slog.NewTextHandler(io.Discard, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(ctx)
	})
	s, base := start(t, Options{Version: "test-1.0", ConfigFile: "/etc/postern/postern.yaml"})
	s.Attach(Sources{Plugins: h, Mail: srv, Listeners: func() []Listener {
		l := Listener{Name: "imap-plain", Protocol: "imap", Address: "127.0.0.1:0", TLS: "none"}
		if a := srv.Addr("imap-plain"); a != nil {
			l.Bound = a.String()
		}
		return []Listener{l}
	}})
	return &proxy{admin: s, base: base, mail: srv}
}

// imapLogin logs in through the proxy and returns the tagged reply.
func imapLogin(t *testing.T, addr, user, pass string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(20 * time.Second))
	br := bufio.NewReader(c)
	line := func() string {
		l, err := br.ReadString('\n')
		if err != nil {
			t.Fatalf("read: %v (%q)", err, l)
		}
		return strings.TrimRight(l, "\r\n")
	}
	if g := line(); !strings.HasPrefix(g, "* OK") {
		t.Fatalf("greeting %q", g)
	}
	io.WriteString(c, `a LOGIN "`+user+`" "`+pass+`"`+"\r\n")
	for range 50 {
		if l := line(); strings.HasPrefix(l, "a ") {
			if strings.HasPrefix(l, "a OK") {
				io.WriteString(c, "b LOGOUT\r\n")
				for !strings.HasPrefix(line(), "b ") {
				}
			}
			return l
		}
	}
	t.Fatal("no tagged reply")
	return ""
}

// waitIdle waits until the front end has closed every session.
func waitIdle(t *testing.T, srv *mail.Server) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for srv.Stats().Active.Load() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions still active", srv.Stats().Active.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// drive sends two logins through the proxy: one good, one with a wrong
// password.
func drive(t *testing.T, p *proxy) {
	t.Helper()
	addr := p.mail.Addr("imap-plain").String()
	if r := imapLogin(t, addr, "bob@example.com", testenv.DovecotUsers["bob@example.com"]); !strings.HasPrefix(r, "a OK") {
		t.Fatalf("good login: %q", r)
	}
	if r := imapLogin(t, addr, "bob@example.com", "wrong"); !strings.HasPrefix(r, "a NO") {
		t.Fatalf("bad login: %q", r)
	}
	waitIdle(t, p.mail)
}

func TestServer_Metrics(t *testing.T) {
	p := startProxy(t)
	drive(t, p)
	r := do(t, "GET", p.base+"/metrics", "", nil)
	if r.code != 200 || !strings.HasPrefix(r.hdr.Get("Content-Type"), "text/plain") {
		t.Fatalf("%d %s", r.code, r.hdr.Get("Content-Type"))
	}
	for _, want := range []string{
		`postern_build_info{abi="` + abiVersion + `",version="test-1.0"} 1`,
		`postern_mail_connections_total{protocol="imap"} 2`,
		`postern_mail_connections_total{protocol="pop3"} 0`,
		`postern_mail_sessions_active 0`,
		`postern_mail_logins_total{outcome="ok",protocol="imap"} 1`,
		`postern_mail_logins_total{outcome="auth_failed",protocol="imap"} 1`,
		`postern_mail_logins_total{outcome="throttled",protocol="imap"} 0`,
		`postern_mail_upstream_errors_total 0`,
		`postern_plugin_calls_total{plugin="counter"} 2`,
		`postern_plugin_counter_total{name="lookups",plugin="counter"} 2`,
		`postern_plugin_calls_total{plugin="trap"} 2`,
		`postern_plugin_failures_total{hook="login",plugin="trap",reason="trap"} 2`,
		`postern_plugin_traps_total{plugin="trap"} 2`,
		`postern_plugin_reloads_total{plugin="counter"} 1`,
		`postern_plugin_last_reload_success{plugin="trap"} 1`,
		`postern_store_errors_total 0`,
		`postern_config_reloads_total{result="ok"} 0`,
	} {
		if !strings.Contains(r.body, want+"\n") {
			t.Errorf("metrics lack %q", want)
		}
	}
	for _, re := range []string{
		`(?m)^postern_mail_relayed_bytes_total\{direction="out"\} [1-9]\d*$`,
		`(?m)^postern_plugin_info\{abi="1.0",plugin="counter",sha256="[0-9a-f]{64}"\} 1$`,
		`(?m)^go_goroutines \d+$`,
		`(?m)^process_resident_memory_bytes \S+$`,
	} {
		if !regexp.MustCompile(re).MatchString(r.body) {
			t.Errorf("metrics lack a line matching %s", re)
		}
	}
	if t.Failed() {
		t.Logf("metrics:\n%s", r.body)
	}
}

func TestServer_Plugins(t *testing.T) {
	p := startProxy(t)
	drive(t, p)
	r := do(t, "GET", p.base+"/plugins", "", nil)
	if r.code != 200 {
		t.Fatalf("%d %s", r.code, r.body)
	}
	var got []PluginJSON
	if err := json.Unmarshal([]byte(r.body), &got); err != nil {
		t.Fatalf("%v\n%s", err, r.body)
	}
	if len(got) != 2 || got[0].Name != "counter" || got[1].Name != "trap" {
		t.Fatalf("plugins %+v", got)
	}
	c, tr := got[0], got[1]
	if len(c.Hooks) != 1 || c.Hooks[0] != "login" || c.Events == nil || len(c.SHA256) != 64 || c.ABIVersion != "1.0" ||
		c.Counters["lookups"] != 2 || c.Stats.Calls != 2 || c.Stats.Failures != 0 || c.Stats.Reloads != 1 ||
		c.LastReload.Error != "" || c.LastReload.At.IsZero() || c.MaxInstances != 16 {
		t.Errorf("counter: %+v", c)
	}
	if tr.Stats.Calls != 2 || tr.Stats.Failures != 2 || tr.Stats.Traps != 2 {
		t.Errorf("trap: %+v", tr.Stats)
	}
}

func TestServer_StatusPage(t *testing.T) {
	p := startProxy(t)
	drive(t, p)
	p.admin.RecordReload(time.Now(), "sighup", 12*time.Millisecond, nil)
	p.admin.RecordReload(time.Now(), "api", 3*time.Millisecond, errText("config: postern.yaml:4: plugins.chain[1].path: empty: give the plugin's .wasm file"))
	r := do(t, "GET", p.base+"/", "", nil)
	if r.code != 200 || r.hdr.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("%d %s", r.code, r.hdr.Get("Content-Type"))
	}
	bound := p.mail.Addr("imap-plain").String()
	for _, want := range []string{
		"<title>Postern status</title>",
		`<code>test-1.0</code>`,
		`<code>/etc/postern/postern.yaml</code>`,
		`<span class="ok" id="ready">ready</span>`,
		`<td>imap-plain</td><td>imap</td><td class="mono">` + bound + `</td><td>none</td><td><span class="ok">up</span></td>`,
		`<td class="plugin-name">counter</td><td>login</td><td>-</td>`,
		`<td class="plugin-name">trap</td>`,
		`<span class="bad">2</span> (0 timeouts, 2 traps, 0 bad verdicts)`,
		`<td>config <code>/etc/postern/postern.yaml</code></td><td>sighup</td>`,
		`plugins.chain[1].path: empty: give the plugin&#39;s .wasm file`,
		`<td>plugin <code>counter</code></td><td>-</td>`,
		`<tr><td>mail logins ok</td><td class="num">1</td></tr>`,
		`<tr><td>mail logins refused (credentials)</td><td class="num">1</td></tr>`,
		`<tr><td>plugin counter: lookups</td><td class="num">2</td></tr>`,
		`<tr><td>configuration reloads failed</td><td class="num">1</td></tr>`,
		`<a href="/?refresh=5">`,
	} {
		if !strings.Contains(r.body, want) {
			t.Errorf("page lacks %q", want)
		}
	}
	if strings.Contains(r.body, "http-equiv") {
		t.Error("refresh without asking for it")
	}
	if r := do(t, "GET", p.base+"/?refresh=7", "", nil); !strings.Contains(r.body, `<meta http-equiv="refresh" content="7">`) {
		t.Error("?refresh=7 did not set the refresh")
	}
	if r := do(t, "GET", p.base+"/?refresh=-1", "", nil); r.code != 400 {
		t.Errorf("?refresh=-1: %d", r.code)
	}
	if csp := r.hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if t.Failed() {
		t.Logf("page:\n%s", r.body)
	}
}

type errText string

func (e errText) Error() string { return string(e) }

// TestServer_StatusPage_Chromium renders the status page in headless
// Chromium, checks the DOM it built and keeps a screenshot for the docs
// (testdata/status.png).
func TestServer_StatusPage_Chromium(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if _, err2 := os.Stat("/usr/bin/chromium"); err2 == nil {
			bin = "/usr/bin/chromium"
		} else if os.Getenv("CI") != "" {
			t.Fatal("chromium is missing: apt-get install -y chromium")
		} else {
			t.Skip("chromium is missing (apt-get install -y chromium)")
		}
	}
	p := startProxy(t)
	drive(t, p)
	p.admin.RecordReload(time.Now(), "sighup", 12*time.Millisecond, nil)
	dir := t.TempDir()
	run := func(extra ...string) []byte {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		args := append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
			"--disable-background-networking", "--disable-component-update", "--disable-sync",
			"--disable-dev-shm-usage", "--user-data-dir=" + filepath.Join(dir, "profile"), "--window-size=1280,900"}, extra...)
		args = append(args, p.base+"/")
		cmd := exec.CommandContext(ctx, bin, args...)
		var stderr strings.Builder
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("%s: %v\n%s", bin, err, stderr.String())
		}
		return out
	}
	dom := string(run("--dump-dom"))
	for _, want := range []string{`<td class="plugin-name">counter</td>`, `<td class="plugin-name">trap</td>`, "imap-plain", `id="ready">ready<`} {
		if !strings.Contains(dom, want) {
			t.Errorf("rendered DOM lacks %q:\n%s", want, dom)
		}
	}
	png := filepath.Join(dir, "status.png")
	run("--screenshot=" + png)
	b, err := os.ReadFile(png)
	if err != nil {
		t.Fatal(err)
	}
	if len(b) < 20000 || string(b[1:4]) != "PNG" {
		t.Fatalf("screenshot is %d bytes (want a PNG over 20 kB)", len(b))
	}
	// A blank page compresses to a few kB; a page of tables does not.
	if os.Getenv("POSTERN_UPDATE_SCREENSHOT") != "" {
		if err := os.WriteFile(filepath.Join("testdata", "status.png"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// abiVersion is the ABI version this host and the Go SDK declare ("1.1").
var abiVersion = fmt.Sprintf("%d.%d", abi.VersionMajor, abi.VersionMinor)
