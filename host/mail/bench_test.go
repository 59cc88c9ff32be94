package mail

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/postern/postern/host/internal/authhttp"
	"github.com/postern/postern/host/internal/guestbuild"
	"github.com/postern/postern/host/internal/testenv"
)

// TestBench_mail is the mail front end's benchmark, run by `make bench`
// (POSTERN_BENCH=1): Postern as its own process (bin/postern run), the
// load generator bench/mailload as another, against a real Dovecot and
// against bench/lightimap, a backend light enough that the proxy is the
// bottleneck. It prints a table and writes it to build/bench/mail.txt.
// It asserts nothing about speed: numbers go into the closing notes.
func TestBench_mail(t *testing.T) {
	if os.Getenv("POSTERN_BENCH") == "" {
		t.Skip("set POSTERN_BENCH=1 (make bench) to run the mail benchmark")
	}
	root, err := guestbuild.Root()
	if err != nil {
		t.Fatal(err)
	}
	bin := t.TempDir()
	for _, p := range []string{"host/cmd/postern", "bench/mailload", "bench/lightimap"} {
		cmd := exec.Command("go", "build", "-o", filepath.Join(bin, filepath.Base(p)), "./"+p)
		cmd.Dir = root
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("build %s: %v\n%s", p, err, out)
		}
	}
	d := testenv.SharedDovecot(t)
	// A 1 MiB message in bob's INBOX for the FETCH runs.
	seedMessage(t, d.IMAP, "bob@example.com", "secret", 1<<20)

	lightIMAP := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	light := start(t, filepath.Join(bin, "lightimap"), "-imap", lightIMAP, "-pop3", "", "-size", strconv.Itoa(1<<20))
	waitPort(t, lightIMAP)
	_ = light

	certPEM, keyPEM, _ := testenv.SelfSigned("localhost")
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "tls.crt"), certPEM, 0o600)
	os.WriteFile(filepath.Join(dir, "tls.key"), keyPEM, 0o600)
	ports := map[string]string{}
	for _, n := range []string{"dovecot", "light", "lighttls"} {
		ports[n] = fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
	}
	conf := fmt.Sprintf(`cache_dir: ""
log: {level: warn}
tls:
  certs: [{cert: tls.crt, key: tls.key}]
mail:
  listeners:
    - {name: dovecot, address: "%s", protocol: imap, tls: none, allow_plaintext_login: true, route: ["%s"]}
    - {name: light, address: "%s", protocol: imap, tls: none, allow_plaintext_login: true, route: ["%s"]}
    - {name: lighttls, address: "%s", protocol: imap, tls: implicit, route: ["%s"]}
`, ports["dovecot"], d.IMAP, ports["light"], lightIMAP, ports["lighttls"], lightIMAP)
	cfgPath := filepath.Join(dir, "postern.yaml")
	os.WriteFile(cfgPath, []byte(conf), 0o600)
	proxy := start(t, filepath.Join(bin, "postern"), "run", "-c", cfgPath)
	for _, a := range ports {
		waitPort(t, a)
	}
	pid := proxy.Process.Pid

	load := func(args ...string) map[string]any {
		t.Helper()
		out, err := exec.Command(filepath.Join(bin, "mailload"), args...).Output()
		if err != nil {
			t.Fatalf("mailload %v: %v\n%s", args, err, out)
		}
		var m map[string]any
		lines := bytes.Split(bytes.TrimSpace(out), []byte("\n"))
		json.Unmarshal(lines[len(lines)-1], &m)
		if m["errors"].(float64) > 0 {
			t.Logf("mailload %v: %v errors, first: %v", args, m["errors"], m["first_error"])
		}
		return m
	}
	var report strings.Builder
	row := func(format string, a ...any) {
		fmt.Fprintf(&report, format+"\n", a...)
	}
	row("| run | target | result | p50 | p99 | proxy CPU |")
	row("|---|---|---|---|---|---|")
	for _, tc := range []struct{ name, mode, addr, extra string }{
		{"logins/s", "login", d.IMAP, "Dovecot direct"},
		{"logins/s", "login", ports["dovecot"], "Postern -> Dovecot"},
		{"logins/s", "login", lightIMAP, "lightimap direct"},
		{"logins/s", "login", ports["light"], "Postern -> lightimap"},
		{"FETCH 1 MiB", "fetch", d.IMAP, "Dovecot direct"},
		{"FETCH 1 MiB", "fetch", ports["dovecot"], "Postern -> Dovecot"},
		{"FETCH 1 MiB", "fetch", lightIMAP, "lightimap direct"},
		{"FETCH 1 MiB", "fetch", ports["light"], "Postern -> lightimap (plain)"},
		{"FETCH 1 MiB", "fetch", ports["lighttls"], "Postern TLS -> lightimap"},
	} {
		c := "16"
		if tc.mode == "fetch" {
			c = "4"
		}
		args := []string{"-addr", tc.addr, "-mode", tc.mode, "-c", c, "-d", "5s"}
		if tc.addr == ports["lighttls"] {
			args = append(args, "-tls")
		}
		cpu0 := cpuTime(t, pid)
		m := load(args...)
		cpu := cpuTime(t, pid) - cpu0
		ops := m["ops"].(float64)
		cpuPer := "-"
		if strings.HasPrefix(tc.extra, "Postern") && ops > 0 {
			cpuPer = fmt.Sprintf("%.0f µs/op", float64(cpu.Microseconds())/ops)
		}
		val := fmt.Sprintf("%.0f/s", m["ops_per_sec"])
		if tc.mode == "fetch" {
			val = fmt.Sprintf("%.0f MB/s", m["mb_per_sec"])
		}
		row("| %s | %s | %s | %.2f ms | %.2f ms | %s |", tc.name, tc.extra, val, m["p50_ms"], m["p99_ms"], cpuPer)
	}

	// Memory per idle logged-in session: 2,000 sessions held through the
	// proxy to lightimap; the proxy's RSS before and while they are held.
	rss0 := rss(t, pid)
	hold := exec.Command(filepath.Join(bin, "mailload"), "-addr", ports["light"], "-mode", "hold", "-c", "2000", "-hold", "6s")
	stdout, _ := hold.StdoutPipe()
	if err := hold.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(stdout)
	sc.Scan() // {"holding": N}
	var h struct{ Holding int }
	json.Unmarshal(sc.Bytes(), &h)
	time.Sleep(2 * time.Second)
	rss1 := rss(t, pid)
	hold.Wait()
	if h.Holding > 0 {
		row("")
		row("Idle logged-in sessions held: %d; proxy RSS %d KiB -> %d KiB: %.1f KiB per session",
			h.Holding, rss0, rss1, float64(rss1-rss0)/float64(h.Holding))
	}
	benchRouteChain(t, bin, lightIMAP, row)
	t.Log("\n" + report.String())
	os.MkdirAll(filepath.Join(root, "build", "bench"), 0o755)
	os.WriteFile(filepath.Join(root, "build", "bench", "mail.txt"), []byte(report.String()), 0o644)
}

func start(t *testing.T, bin string, args ...string) *exec.Cmd {
	t.Helper()
	cmd := exec.Command(bin, args...)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		}
	})
	return cmd
}

func waitPort(t *testing.T, addr string) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		c, err := netDial(addr)
		if err == nil {
			c.Close()
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s not listening: %v", addr, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// cpuTime returns a process's user+system CPU time from /proc.
func cpuTime(t *testing.T, pid int) time.Duration {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		t.Fatal(err)
	}
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100 // USER_HZ
}

// rss returns a process's resident set in KiB.
func rss(t *testing.T, pid int) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(l, "VmRSS:") {
			v, _ := strconv.ParseInt(strings.Fields(l)[1], 10, 64)
			return v
		}
	}
	return 0
}

// seedMessage appends a message of about size bytes to user's INBOX, once.
func seedMessage(t *testing.T, addr, user, pass string, size int) {
	c, err := imapclient.DialInsecure(addr, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	b.WriteString("Subject: bench\r\n\r\n")
	for b.Len() < size {
		b.WriteString(strings.Repeat("x", 76) + "\r\n")
	}
	ap := c.Append("INBOX", int64(b.Len()), nil)
	ap.Write(b.Bytes())
	ap.Close()
	if _, err := ap.Wait(); err != nil {
		t.Fatal(err)
	}
}

func netDial(addr string) (net.Conn, error) { return net.DialTimeout("tcp", addr, time.Second) }

// BenchmarkLogin measures one IMAP login through an in-process front end
// to bench/lightimap (connect, greeting, LOGIN, LOGOUT), for profiling:
//
//	go test -run '^$' -bench Login -cpuprofile /tmp/login.pprof ./host/mail
func BenchmarkLogin(b *testing.B) {
	root, err := guestbuild.Root()
	if err != nil {
		b.Fatal(err)
	}
	bin := filepath.Join(b.TempDir(), "lightimap")
	cmd := exec.Command("go", "build", "-o", bin, "./bench/lightimap")
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("%v\n%s", err, out)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(b))
	light := exec.Command(bin, "-imap", addr, "-pop3", "")
	if err := light.Start(); err != nil {
		b.Fatal(err)
	}
	defer light.Process.Kill()
	for i := 0; ; i++ {
		if c, err := netDial(addr); err == nil {
			c.Close()
			break
		}
		time.Sleep(10 * time.Millisecond)
	}
	srv, err := New(Config{
		Listeners: []Listener{{Name: "imap", Address: "127.0.0.1:0", Protocol: IMAP, TLS: TLSNone, AllowPlaintextLogin: true, Route: []string{addr}}},
		Logger:    slogDiscard(),
	})
	if err != nil {
		b.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		b.Fatal(err)
	}
	defer srv.Shutdown(contextBackground())
	proxy := srv.Addr("imap").String()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		buf := make([]byte, 4096)
		for pb.Next() {
			c, err := netDial(proxy)
			if err != nil {
				b.Error(err)
				return
			}
			rd := bufio.NewReader(c)
			rd.ReadString('\n')
			c.Write([]byte("a LOGIN bob secret\r\n"))
			for {
				l, err := rd.ReadString('\n')
				if err != nil || strings.HasPrefix(l, "a ") {
					break
				}
			}
			c.Write([]byte("b LOGOUT\r\n"))
			for {
				l, err := rd.ReadString('\n')
				if err != nil || strings.HasPrefix(l, "b ") {
					break
				}
			}
			c.Close()
			_ = buf
		}
	})
}

// benchRouteChain measures IMAP logins through Postern with route-lookup
// alone and with route-cache in front of it (warm), each in its own
// postern process, against an auth_http lookup service routing every user
// to lightimap and a real memcached, and counts the lookups per login.
func benchRouteChain(t *testing.T, bin, lightIMAP string, row func(string, ...any)) {
	mc := testenv.SharedMemcached(t)
	host, port, _ := net.SplitHostPort(lightIMAP)
	p, _ := strconv.Atoi(port)
	lookup, err := authhttp.NewServer(map[string]authhttp.Route{"bob@example.com": {Server: host, Port: p}})
	if err != nil {
		t.Fatal(err)
	}
	defer lookup.Close()
	row("")
	row("| route chain | lookup service latency | logins/s | p99 | lookups per login |")
	row("|---|---|---|---|---|")
	for _, run := range []struct {
		chain string
		delay time.Duration
	}{{"route-lookup", 0}, {"route-cache,route-lookup", 0}, {"route-lookup", 5 * time.Millisecond}, {"route-cache,route-lookup", 5 * time.Millisecond}} {
		chain := run.chain
		lookup.SetDelay(run.delay)
		dir := t.TempDir()
		addr := fmt.Sprintf("127.0.0.1:%d", testenv.FreePort(t))
		var plugins strings.Builder
		for _, name := range strings.Split(chain, ",") {
			fmt.Fprintf(&plugins, "    - name: %s\n      path: %s\n", name, guestbuild.Build(t, "plugins/"+name))
			if name == "route-lookup" {
				fmt.Fprintf(&plugins, "      http_allow: [%q]\n      config: {servers: [%q]}\n", lookup.Addr(), lookup.URL())
			}
		}
		conf := fmt.Sprintf("cache_dir: \"\"\nlog: {level: warn}\nstore: {memcached: [%q]}\nplugins:\n  chain:\n%s"+
			"mail:\n  listeners:\n    - {name: imap, address: %q, protocol: imap, tls: none, allow_plaintext_login: true}\n",
			mc, plugins.String(), addr)
		cfg := filepath.Join(dir, "postern.yaml")
		os.WriteFile(cfg, []byte(conf), 0o600)
		proc := start(t, filepath.Join(bin, "postern"), "run", "-c", cfg)
		waitPort(t, addr)
		// Warm the cache (and the plugin instances) before measuring.
		exec.Command(filepath.Join(bin, "mailload"), "-addr", addr, "-mode", "login", "-c", "4", "-n", "50").Run()
		before := lookup.Lookups()
		out, err := exec.Command(filepath.Join(bin, "mailload"), "-addr", addr, "-mode", "login", "-c", "16", "-d", "5s").Output()
		if err != nil {
			t.Fatalf("mailload: %v %s", err, out)
		}
		var m map[string]any
		json.Unmarshal(bytes.TrimSpace(out), &m)
		ops := m["ops"].(float64)
		row("| %s | %v | %.0f/s | %.2f ms | %.3f |", chain, run.delay, m["ops_per_sec"], m["p99_ms"], float64(lookup.Lookups()-before)/ops)
		proc.Process.Signal(os.Interrupt)
		proc.Wait()
	}
}
