// Command mailbench is the mail login benchmark of issue 12 (run it with
// bench/mail/run.sh, or bench/mail/soak.sh for the soak): the same load
// against the same lookup service and backends, three ways side by side:
//
//   - direct: mailload straight to the backend (bench/lightimap);
//   - nginx: Debian's nginx with its mail module, 2 workers, one auth_http
//     lookup per login against bench/mail/lookup;
//   - postern: bin/postern run with the standard chain login-normaliser ->
//     throttle -> route-cache -> route-lookup, store.memcached on a
//     memcached this program starts, route-lookup asking the same lookup
//     service.
//
// Every process is separate and on 127.0.0.1; this program starts them,
// reads the proxies' CPU time and RSS from /proc, and kills every process
// it started when it ends (each in its own process group, also killed by
// the kernel if this program dies: Pdeathsig).
//
// -soak D runs the soak instead: Postern alone under mixed load for D.
package main

import (
	"bufio"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

type options struct {
	bin, postern, plugins, out string
	runs, clients, users, idle int
	dur                        time.Duration
	protocols, targets         []string
	posternEnv                 []string
	soak, soakEvery            time.Duration
	soakClients                int
	profile                    string
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "build/bench", "directory holding mailload, lightimap and lookup")
	flag.StringVar(&o.postern, "postern", "bin/postern", "the postern binary")
	flag.StringVar(&o.plugins, "plugins", "build/wasm/plugins", "directory of the bundled plugins' .wasm")
	flag.StringVar(&o.out, "out", "build/bench/mail", "where results (and the soak's CSV) are written")
	flag.IntVar(&o.runs, "runs", 3, "rounds; each runs every target once per protocol")
	flag.DurationVar(&o.dur, "d", 10*time.Second, "length of each load run (16 clients, then 1 client)")
	flag.IntVar(&o.clients, "c", 16, "clients of the main run")
	flag.IntVar(&o.users, "users", 1000, "users u0..u(N-1)")
	flag.IntVar(&o.idle, "idle", 2000, "logged-in idle sessions held while RSS is read (0: skip)")
	protocols := flag.String("protocols", "imap,pop3", "imap, pop3 or both")
	targets := flag.String("targets", "direct,nginx,postern", "which of direct, nginx, postern (C plugin builds), postern-1cpu (the same with max_procs: 1), postern-go (Go builds), in this order")
	posternEnv := flag.String("postern-env", "", "KEY=VALUE ... added to postern's environment only")
	flag.DurationVar(&o.soak, "soak", 0, "run the soak for this long instead of the comparison")
	flag.DurationVar(&o.soakEvery, "soak-every", 30*time.Second, "soak: sampling interval")
	flag.IntVar(&o.soakClients, "soak-clients", 8, "soak: clients looping logins")
	flag.StringVar(&o.profile, "profile", "", "write a CPU profile of postern's main runs into this directory (from its admin API's /debug/pprof/profile)")
	flag.Parse()
	o.protocols = strings.FieldsFunc(*protocols, splitList)
	o.targets = strings.FieldsFunc(*targets, splitList)
	o.posternEnv = strings.Fields(*posternEnv)

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "mailbench: %v: stopping everything it started\n", s)
		stopAll()
		os.Exit(130)
	}()
	var err error
	if o.soak > 0 {
		err = soak(o)
	} else {
		err = compare(o)
	}
	stopAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "mailbench:", err)
		os.Exit(1)
	}
}

func splitList(r rune) bool { return r == ',' || r == ' ' }

// Processes.

type child struct {
	name string
	cmd  *exec.Cmd
	done chan struct{}
	err  error
}

var (
	childMu  sync.Mutex
	children []*child
)

// spawn starts a process in its own process group, with stdout and stderr
// to logPath (stdout to w instead when w is set).
func spawn(name, logPath string, env []string, w io.Writer, args ...string) (*child, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if env != nil {
		cmd.Env = append(os.Environ(), env...)
	}
	lf, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, err
	}
	cmd.Stdout, cmd.Stderr = lf, lf
	if w != nil {
		cmd.Stdout = w
	}
	if err := cmd.Start(); err != nil {
		lf.Close()
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c := &child{name: name, cmd: cmd, done: make(chan struct{})}
	go func() {
		c.err = cmd.Wait()
		lf.Close()
		close(c.done)
	}()
	childMu.Lock()
	children = append(children, c)
	childMu.Unlock()
	return c, nil
}

func (c *child) pid() int { return c.cmd.Process.Pid }

func (c *child) exited() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// stop sends SIGTERM to the child's process group, then SIGKILL after 5 s.
func (c *child) stop() {
	if c.exited() {
		syscall.Kill(-c.pid(), syscall.SIGKILL) // leftovers of the group, if any
		return
	}
	syscall.Kill(-c.pid(), syscall.SIGTERM)
	select {
	case <-c.done:
	case <-time.After(5 * time.Second):
		syscall.Kill(-c.pid(), syscall.SIGKILL)
		<-c.done
	}
	syscall.Kill(-c.pid(), syscall.SIGKILL)
}

func stopAll() {
	childMu.Lock()
	cs := children
	children = nil
	childMu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		cs[i].stop()
	}
}

func forget(c *child) {
	childMu.Lock()
	defer childMu.Unlock()
	for i, x := range children {
		if x == c {
			children = append(children[:i], children[i+1:]...)
			return
		}
	}
}

// Ports: free ports between 20000 and 32000, below Linux's ephemeral range,
// so that the clients' outgoing connections never take them.
var taken = map[int]bool{}

func freePort() (int, error) {
	for i := 0; i < 1000; i++ {
		p := 20000 + rand.Intn(12000)
		if taken[p] {
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
		if err != nil {
			continue
		}
		ln.Close()
		taken[p] = true
		return p, nil
	}
	return 0, errors.New("no free port between 20000 and 32000")
}

func waitPort(c *child, port int, logPath string) error {
	deadline := time.Now().Add(60 * time.Second)
	addr := "127.0.0.1:" + strconv.Itoa(port)
	for {
		if conn, err := net.DialTimeout("tcp", addr, time.Second); err == nil {
			conn.Close()
			return nil
		}
		if c != nil && c.exited() {
			return fmt.Errorf("%s exited (%v) before listening on %s; its log %s:\n%s", c.name, c.err, addr, logPath, tail(logPath))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s after 60 s; its log %s:\n%s", c.name, addr, logPath, tail(logPath))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 3000 {
		b = b[len(b)-3000:]
	}
	return string(b)
}

// /proc readings.

// procTree returns pid and its descendants (nginx: master and workers).
func procTree(pid int) []int {
	ents, _ := os.ReadDir("/proc")
	parent := map[int]int{}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		f := statFields(p)
		if len(f) > 1 {
			pp, _ := strconv.Atoi(f[1])
			parent[p] = pp
		}
	}
	out := []int{pid}
	for changed := true; changed; {
		changed = false
		for p, pp := range parent {
			if contains(out, pp) && !contains(out, p) {
				out = append(out, p)
				changed = true
			}
		}
	}
	return out
}

func contains(s []int, v int) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// statFields returns /proc/pid/stat's fields after the command name:
// [0] is the state (field 3), [11] utime, [12] stime.
func statFields(pid int) []string {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return nil
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 > len(b) {
		return nil
	}
	return strings.Fields(string(b[i+2:]))
}

// cpu returns the user+system CPU time of pids (clock ticks of 10 ms).
func cpu(pids []int) time.Duration {
	var t time.Duration
	for _, p := range pids {
		f := statFields(p)
		if len(f) < 13 {
			continue
		}
		ut, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		t += time.Duration(ut+st) * 10 * time.Millisecond
	}
	return t
}

// memKB sums a /proc/pid/status or smaps_rollup field (VmRSS, Pss) in KiB.
func memKB(pids []int, file, field string) int64 {
	var total int64
	for _, p := range pids {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(p) + "/" + file)
		if err != nil {
			continue
		}
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, field+":") {
				if f := strings.Fields(l); len(f) >= 2 {
					v, _ := strconv.ParseInt(f[1], 10, 64)
					total += v
				}
			}
		}
	}
	return total
}

func rssKB(pids []int) int64 { return memKB(pids, "status", "VmRSS") }
func pssKB(pids []int) int64 { return memKB(pids, "smaps_rollup", "Pss") }

// The environment every target shares.

type env struct {
	o                              options
	dir                            string
	memcached, imapB, pop3B, httpB int
	lookup                         int
	mcProc, lightProc, lookupProc  *child
}

// machineCPU returns the busy and total time of every CPU (/proc/stat).
func machineCPU() (busy, total time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		d := time.Duration(n) * 10 * time.Millisecond
		if i < 8 {
			total += d
			if i != 3 && i != 4 {
				busy += d
			}
		}
	}
	return busy, total
}

// snapshot is the CPU time of every process of a run, and the machine's.
type snapshot struct {
	proxy, backend, lookup, memcached, busy, total time.Duration
}

func (e *env) snap(t *target) snapshot {
	s := snapshot{proxy: cpu(t.pids()), backend: cpu([]int{e.lightProc.pid()}),
		lookup: cpu([]int{e.lookupProc.pid()}), memcached: cpu([]int{e.mcProc.pid()})}
	s.busy, s.total = machineCPU()
	return s
}

func (e *env) log(name string) string { return filepath.Join(e.dir, name+".log") }

func (e *env) bin(name string) string { return filepath.Join(e.o.bin, name) }

// start brings up memcached, the backends and the lookup service.
func (e *env) start(msgSize int, withHTTP bool) error {
	var err error
	ports := []*int{&e.memcached, &e.imapB, &e.pop3B, &e.lookup}
	if withHTTP {
		ports = append(ports, &e.httpB)
	}
	for _, p := range ports {
		if *p, err = freePort(); err != nil {
			return err
		}
	}
	mcArgs := []string{"memcached", "-l", "127.0.0.1", "-p", strconv.Itoa(e.memcached), "-U", "0", "-m", "64", "-c", "4096"}
	if os.Geteuid() == 0 {
		mcArgs = append(mcArgs, "-u", "root") // memcached refuses root without it
	}
	e.mcProc, err = spawn("memcached", e.log("memcached"), nil, nil, mcArgs...)
	if err != nil {
		return fmt.Errorf("%w (apt-get install memcached)", err)
	}
	args := []string{e.bin("lightimap"), "-imap", addr(e.imapB), "-pop3", addr(e.pop3B), "-size", strconv.Itoa(msgSize)}
	if withHTTP {
		args = append(args, "-http", addr(e.httpB))
	}
	e.lightProc, err = spawn("lightimap", e.log("lightimap"), nil, nil, args...)
	if err != nil {
		return err
	}
	e.lookupProc, err = spawn("lookup", e.log("lookup"), nil, nil, e.bin("lookup"), "-addr", addr(e.lookup),
		"-imap", strconv.Itoa(e.imapB), "-pop3", strconv.Itoa(e.pop3B), "-users", strconv.Itoa(e.o.users))
	if err != nil {
		return err
	}
	for _, w := range []struct {
		c    *child
		port int
	}{{e.mcProc, e.memcached}, {e.lightProc, e.imapB}, {e.lightProc, e.pop3B}, {e.lookupProc, e.lookup}} {
		if err := waitPort(w.c, w.port, e.log(w.c.name)); err != nil {
			return err
		}
	}
	return nil
}

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func (e *env) lookups() int64 {
	resp, err := http.Get("http://" + addr(e.lookup) + "/stats")
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	var m map[string]int64
	if json.NewDecoder(resp.Body).Decode(&m) != nil {
		return -1
	}
	return m["lookups"]
}

// metrics sums every sample of each named metric on Postern's admin API
// (nil when it cannot be read).
func (t *target) metrics(names ...string) map[string]float64 {
	if !strings.HasPrefix(t.name, "postern") || t.admin == 0 {
		return nil
	}
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr(t.admin) + "/metrics")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	m := map[string]float64{}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "#") {
			continue
		}
		name := l
		if i := strings.IndexAny(l, "{ "); i >= 0 {
			name = l[:i]
		}
		for _, n := range names {
			if name == n {
				if i := strings.LastIndexByte(l, ' '); i >= 0 {
					v, _ := strconv.ParseFloat(l[i+1:], 64)
					m[n] += v
				}
			}
		}
	}
	return m
}

// cpuProfile saves a CPU profile of postern over d (whole seconds, at
// least 1) to path.
func (t *target) cpuProfile(path string, d time.Duration) error {
	secs := max(1, int((d+time.Second-1)/time.Second))
	c := http.Client{Timeout: time.Duration(secs+30) * time.Second}
	resp, err := c.Get(fmt.Sprintf("http://%s/debug/pprof/profile?seconds=%d", addr(t.admin), secs))
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("/debug/pprof/profile: %s", resp.Status)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return err
	}
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, resp.Body); err != nil {
		f.Close()
		return err
	}
	fmt.Fprintln(os.Stderr, "mailbench: CPU profile in", path)
	return f.Close()
}

const (
	storeErrors    = "postern_store_errors_total"
	pluginFailures = "postern_plugin_failures_total"
)

// A target: where the load goes and which processes are the proxy.
type target struct {
	name       string
	imap, pop3 int
	proc       *child // nil: direct
	admin, web int    // postern: admin API; HTTP listener (soak only)
}

func (t *target) port(proto string) int {
	if proto == "pop3" {
		return t.pop3
	}
	return t.imap
}

func (t *target) pids() []int {
	if t.proc == nil || t.proc.exited() {
		return nil
	}
	return procTree(t.proc.pid())
}

func (t *target) stop() {
	if t.proc != nil {
		t.proc.stop()
		forget(t.proc)
	}
}

func (e *env) startTarget(name string, web bool) (*target, error) {
	switch name {
	case "direct":
		return &target{name: name, imap: e.imapB, pop3: e.pop3B}, nil
	case "nginx":
		return e.startNginx()
	case "postern", "postern-1cpu", "postern-go":
		return e.startPostern(name, web)
	}
	return nil, fmt.Errorf("unknown target %q (direct, nginx, postern, postern-1cpu, postern-go)", name)
}

const nginxModule = "/usr/lib/nginx/modules/ngx_mail_module.so"

func (e *env) startNginx() (*target, error) {
	if _, err := exec.LookPath("nginx"); err != nil {
		return nil, errors.New("nginx not found: apt-get install nginx libnginx-mod-mail")
	}
	if _, err := os.Stat(nginxModule); err != nil {
		return nil, fmt.Errorf("%s not found: apt-get install libnginx-mod-mail", nginxModule)
	}
	t := &target{name: "nginx"}
	var err error
	if t.imap, err = freePort(); err != nil {
		return nil, err
	}
	if t.pop3, err = freePort(); err != nil {
		return nil, err
	}
	dir := filepath.Join(e.dir, "nginx")
	os.MkdirAll(dir, 0o755)
	conf := fmt.Sprintf(`# generated by bench/mail
load_module %s;
daemon off;
master_process on;
worker_processes 2;
worker_rlimit_nofile 16384;
pid %s/nginx.pid;
error_log %s/error.log warn;
events {
    worker_connections 8192;
}
mail {
    server_name bench.local;
    auth_http 127.0.0.1:%d/service/extension/nginx-lookup;
    proxy on;
    server {
        listen 127.0.0.1:%d;
        protocol imap;
    }
    server {
        listen 127.0.0.1:%d;
        protocol pop3;
    }
}
`, nginxModule, dir, dir, e.lookup, t.imap, t.pop3)
	cf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
		return nil, err
	}
	t.proc, err = spawn("nginx", e.log("nginx"), nil, nil, "nginx", "-p", dir, "-c", cf, "-e", filepath.Join(dir, "error.log"))
	if err != nil {
		return nil, err
	}
	for _, p := range []int{t.imap, t.pop3} {
		if err := waitPort(t.proc, p, filepath.Join(dir, "error.log")); err != nil {
			t.stop()
			return nil, err
		}
	}
	// The workers are up once the master has two children.
	for i := 0; i < 200 && len(t.pids()) < 3; i++ {
		time.Sleep(10 * time.Millisecond)
	}
	return t, nil
}

// posternConfig is the standard deployment: the four bundled plugins in
// chain order, memcached, plain IMAP and POP3 listeners (and for the soak
// an HTTP listener in front of lightimap's web server).
func (e *env) posternConfig(t *target, web int, build string, procs int) string {
	p := func(name string) string { return pluginPath(e.o.plugins, name, build) }
	s := fmt.Sprintf(`# generated by bench/mail: the standard chain, throttle limits high enough never to refuse
cache_dir: %q
max_procs: %d
log: {level: warn}
store:
  memcached: [%q]
plugins:
  chain:
    - name: login-normaliser
      path: %s
      config: {default_domain: example.com}
    - name: throttle
      path: %s
      config:
        ip: {limit: 1000000000, window: 3600}
        user: {limit: 1000000000, window: 3600}
    - name: route-cache
      path: %s
    - name: route-lookup
      path: %s
      http_allow: [%q]
      config:
        servers: ["http://%s/service/extension/nginx-lookup"]
mail:
  listeners:
    - {name: imap, address: %q, protocol: imap, tls: none, allow_plaintext_login: true}
    - {name: pop3, address: %q, protocol: pop3, tls: none, allow_plaintext_login: true}
admin:
  address: %q
`, filepath.Join(e.dir, "postern-cache"), procs, addr(e.memcached), p("login-normaliser"), p("throttle"),
		p("route-cache"), p("route-lookup"), addr(e.lookup), addr(e.lookup), addr(t.imap), addr(t.pop3), addr(t.admin))
	if web > 0 {
		s += fmt.Sprintf(`web:
  listeners:
    - {name: http, address: %q}
  pools:
    - {name: backend, backends: [%q]}
  pool: backend
`, addr(web), addr(e.httpB))
	}
	return s
}

var posternChecked bool

// pluginPath is a bundled plugin's .wasm: build "c" is the committed C
// build (plugins/<name>/c/plugin.wasm), "go" the Go build in dir.
func pluginPath(dir, name, build string) string {
	p := filepath.Join(dir, name+".wasm")
	if build == "c" {
		p = filepath.Join("plugins", name, "c", "plugin.wasm")
	}
	abs, _ := filepath.Abs(p)
	return abs
}

// startPostern starts target name: postern (the C plugin builds, Go's
// GOMAXPROCS), postern-1cpu (the same, max_procs: 1) or postern-go (the Go
// plugin builds).
func (e *env) startPostern(name string, withWeb bool) (*target, error) {
	build, procs := "c", 0
	switch name {
	case "postern-go":
		build = "go"
	case "postern-1cpu":
		procs = 1
	}
	for _, n := range []string{"login-normaliser", "throttle", "route-cache", "route-lookup"} {
		if _, err := os.Stat(pluginPath(e.o.plugins, n, build)); err != nil {
			return nil, fmt.Errorf("%v: run make build plugins (Go builds) or make c-plugins (C builds)", err)
		}
	}
	t := &target{name: name}
	var err error
	for _, p := range []*int{&t.imap, &t.pop3, &t.admin} {
		if *p, err = freePort(); err != nil {
			return nil, err
		}
	}
	web := 0
	if withWeb {
		if web, err = freePort(); err != nil {
			return nil, err
		}
	}
	cf := filepath.Join(e.dir, "postern.yaml")
	if err := os.WriteFile(cf, []byte(e.posternConfig(t, web, build, procs)), 0o644); err != nil {
		return nil, err
	}
	if !posternChecked {
		check := exec.Command(e.o.postern, "check", "-c", cf)
		check.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		out, err := check.CombinedOutput()
		if err != nil {
			return nil, fmt.Errorf("postern check -c %s: %v\n%s", cf, err, out)
		}
		posternChecked = true
	}
	t.proc, err = spawn("postern", e.log("postern"), e.o.posternEnv, nil, e.o.postern, "run", "-c", cf)
	if err != nil {
		return nil, err
	}
	ports := []int{t.imap, t.pop3}
	if web > 0 {
		ports = append(ports, web)
		t.web = web
	}
	for _, p := range ports {
		if err := waitPort(t.proc, p, e.log("postern")); err != nil {
			t.stop()
			return nil, err
		}
	}
	return t, nil
}

// Load.

type loadResult struct {
	Ops        int64   `json:"ops"`
	Errors     int64   `json:"errors"`
	Seconds    float64 `json:"seconds"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	LoginP50ms float64 `json:"login_p50_ms"`
	LoginP99ms float64 `json:"login_p99_ms"`
	FirstErr   string  `json:"first_error"`
	Held       int64   `json:"held"`
	clientCPU  time.Duration
}

func (e *env) mailload(args ...string) (loadResult, error) {
	var r loadResult
	cmd := exec.Command(e.bin("mailload"), args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.Output()
	if cmd.ProcessState != nil {
		r.clientCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	lines := strings.Split(strings.TrimSpace(string(out)), "\n")
	if jerr := json.Unmarshal([]byte(lines[len(lines)-1]), &r); jerr != nil {
		if err == nil {
			err = jerr
		}
		return r, fmt.Errorf("mailload %s: %v: %s", strings.Join(args, " "), err, out)
	}
	return r, nil
}

// holder is a mailload holding logged-in idle sessions.
type holder struct {
	c     *child
	lines chan string
	held  int64
}

// startHold logs in n idle sessions (for at most d) and returns once they
// are held.
func (e *env) startHold(proto string, port, n int, d time.Duration) (*holder, error) {
	pr, pw := io.Pipe()
	c, err := spawn("mailload-hold", e.log("mailload-hold"), nil, pw, e.bin("mailload"), "-addr", addr(port), "-proto", proto,
		"-mode", "hold", "-c", strconv.Itoa(n), "-hold", d.String(), "-users", strconv.Itoa(e.o.users))
	if err != nil {
		return nil, err
	}
	h := &holder{c: c, lines: make(chan string, 16)}
	go func() {
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			h.lines <- sc.Text()
		}
		close(h.lines)
	}()
	go func() { <-c.done; pw.Close() }()
	var m struct{ Holding int64 }
	select {
	case l, ok := <-h.lines:
		if !ok {
			forget(c)
			return nil, fmt.Errorf("mailload hold exited: %v\n%s", c.err, tail(e.log("mailload-hold")))
		}
		json.Unmarshal([]byte(l), &m)
	case <-time.After(5 * time.Minute):
		h.end()
		return nil, errors.New("mailload hold: no sessions after 5 minutes")
	}
	h.held = m.Holding
	return h, nil
}

// end closes the sessions and returns mailload's first error, if any.
func (h *holder) end() string {
	h.c.stop()
	forget(h.c)
	var r loadResult
	for l := range h.lines {
		json.Unmarshal([]byte(l), &r)
	}
	return r.FirstErr
}

// hold logs in n idle sessions, calls read while they are held, then ends
// them. It returns how many were held.
func (e *env) hold(proto string, port, n int, read func()) (int64, string, error) {
	h, err := e.startHold(proto, port, n, 10*time.Minute)
	if err != nil {
		return 0, "", err
	}
	time.Sleep(2 * time.Second) // let the proxy settle
	read()
	return h.held, h.end(), nil
}

// workDir is where the generated configurations, postern's compile cache
// and every process's log go: a new directory under out for each
// invocation (two benchmarks in one tree must not share it), removed by
// cleanup when the run succeeded and kept, for a look, when it failed.
func workDir(o options) (dir string, cleanup func(error), err error) {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return "", nil, err
	}
	out, err := filepath.Abs(o.out)
	if err != nil {
		return "", nil, err
	}
	dir, err = os.MkdirTemp(out, "work-")
	if err != nil {
		return "", nil, err
	}
	return dir, func(err error) {
		stopAll()
		if err == nil {
			os.RemoveAll(dir)
		} else {
			fmt.Fprintln(os.Stderr, "mailbench: configurations and logs kept in", dir)
		}
	}, nil
}

// The comparison.

type run struct {
	round                  int
	proto, target          string
	rate, cpuPerLogin      float64 // logins/s, ms
	p50, p99, p50one       float64 // LOGIN ms
	rssStart, rssLoad      int64   // KiB
	rssIdle, pssIdle, held int64
	lookupsPerLogin        float64
	errors                 int64
	storeErrors            int64 // Postern's, during the main run
	pluginFailures         int64
	// CPU per login (ms) of the other processes, and the machine's CPUs
	// busy (%) during the main run: all, and not by this benchmark.
	backendCPU, lookupCPU, memcachedCPU, clientCPU float64
	machineBusy, othersBusy                        float64
	firstErr                                       string
}

func compare(o options) (err error) {
	dir, cleanup, err := workDir(o)
	if err != nil {
		return err
	}
	defer func() { cleanup(err) }()
	e := &env{o: o, dir: dir}
	if err := e.start(4096, false); err != nil {
		return err
	}
	fmt.Printf("mailbench: %d round(s) of %v runs, %d clients, %d users, %d idle sessions; protocols %s; targets %s; logs in %s (removed when it succeeds)\n",
		o.runs, o.dur, o.clients, o.users, o.idle, strings.Join(o.protocols, ","), strings.Join(o.targets, ","), dir)
	var runs []run
	for round := 1; round <= o.runs; round++ {
		for _, proto := range o.protocols {
			for _, tn := range o.targets {
				r, err := e.measure(round, proto, tn)
				if err != nil {
					return fmt.Errorf("round %d %s %s: %w", round, proto, tn, err)
				}
				fmt.Println(r.line())
				runs = append(runs, r)
			}
		}
	}
	table := summary(o, runs)
	fmt.Print("\n" + table)
	path := filepath.Join(o.out, "results.md")
	if err := os.WriteFile(path, []byte(table), 0o644); err == nil {
		fmt.Println("\n(written to " + path + ")")
	}
	return nil
}

func (e *env) measure(round int, proto, tn string) (run, error) {
	r := run{round: round, proto: proto, target: tn}
	t, err := e.startTarget(tn, false)
	if err != nil {
		return r, err
	}
	defer t.stop()
	port := strconv.Itoa(t.port(proto))
	base := []string{"-addr", "127.0.0.1:" + port, "-proto", proto, "-mode", "login", "-users", strconv.Itoa(e.o.users)}
	time.Sleep(500 * time.Millisecond)
	r.rssStart = rssKB(t.pids())
	// Warm-up: every user logs in once (so route-cache holds every route,
	// as in steady production), not measured.
	if _, err := e.mailload(append(base, "-c", strconv.Itoa(e.o.clients), "-n", strconv.Itoa(e.o.users), "-d", "60s")...); err != nil {
		return r, fmt.Errorf("warm-up: %w", err)
	}
	m0 := t.metrics(storeErrors, pluginFailures)
	var profDone chan error
	if e.o.profile != "" && strings.HasPrefix(tn, "postern") {
		profDone = make(chan error, 1)
		path := filepath.Join(e.o.profile, fmt.Sprintf("%s-%s-round%d.pprof", tn, proto, round))
		go func() { profDone <- t.cpuProfile(path, e.o.dur) }()
	}
	l0, s0 := e.lookups(), e.snap(t)
	res, err := e.mailload(append(base, "-c", strconv.Itoa(e.o.clients), "-d", e.o.dur.String())...)
	if err != nil {
		return r, err
	}
	s1, l1 := e.snap(t), e.lookups()
	if profDone != nil {
		if err := <-profDone; err != nil {
			fmt.Fprintln(os.Stderr, "mailbench: profile:", err)
		}
	}
	if m1 := t.metrics(storeErrors, pluginFailures); m0 != nil && m1 != nil {
		r.storeErrors = int64(m1[storeErrors] - m0[storeErrors])
		r.pluginFailures = int64(m1[pluginFailures] - m0[pluginFailures])
	}
	r.rssLoad = rssKB(t.pids())
	r.rate, r.p50, r.p99 = res.OpsPerSec, res.LoginP50ms, res.LoginP99ms
	r.errors, r.firstErr = res.Errors, res.FirstErr
	if res.Ops > 0 {
		per := func(d time.Duration) float64 { return float64(d) / float64(time.Millisecond) / float64(res.Ops) }
		r.cpuPerLogin = per(s1.proxy - s0.proxy)
		r.lookupsPerLogin = float64(l1-l0) / float64(res.Ops)
		r.backendCPU, r.lookupCPU, r.memcachedCPU, r.clientCPU = per(s1.backend-s0.backend), per(s1.lookup-s0.lookup),
			per(s1.memcached-s0.memcached), per(res.clientCPU)
	}
	if total := s1.total - s0.total; total > 0 {
		ours := (s1.proxy - s0.proxy) + (s1.backend - s0.backend) + (s1.lookup - s0.lookup) + (s1.memcached - s0.memcached) + res.clientCPU
		r.machineBusy = float64(s1.busy-s0.busy) / float64(total) * 100
		r.othersBusy = float64(s1.busy-s0.busy-ours) / float64(total) * 100
	}
	one, err := e.mailload(append(base, "-c", "1", "-d", e.o.dur.String())...)
	if err != nil {
		return r, err
	}
	r.p50one = one.LoginP50ms
	r.errors += one.Errors
	if r.firstErr == "" {
		r.firstErr = one.FirstErr
	}
	if e.o.idle > 0 {
		held, ferr, err := e.hold(proto, t.port(proto), e.o.idle, func() {
			r.rssIdle, r.pssIdle = rssKB(t.pids()), pssKB(t.pids())
		})
		if err != nil {
			return r, err
		}
		r.held = held
		if held < int64(e.o.idle) && r.firstErr == "" {
			r.firstErr = "hold: " + ferr
		}
	}
	if t.proc != nil && t.proc.exited() {
		return r, fmt.Errorf("%s exited during the run: %v\n%s", tn, t.proc.err, tail(e.log(tn)))
	}
	return r, nil
}

func (r run) line() string {
	s := fmt.Sprintf("round %d %-4s %-7s %7.0f logins/s  LOGIN p50 %6.2f p99 %6.2f ms  1 client p50 %5.2f ms",
		r.round, r.proto, r.target, r.rate, r.p50, r.p99, r.p50one)
	if r.target != "direct" {
		s += fmt.Sprintf("  CPU %.3f ms/login  RSS %s / %s / %s idle (PSS %s, %d held)  lookups/login %.2f",
			r.cpuPerLogin, mb(r.rssStart), mb(r.rssLoad), mb(r.rssIdle), mb(r.pssIdle), r.held, r.lookupsPerLogin)
	} else if r.held > 0 {
		s += fmt.Sprintf("  (%d idle held)", r.held)
	}
	s += fmt.Sprintf("\n        CPU ms/login: backend %.3f, lookup %.3f, memcached %.3f, mailload %.3f; machine CPUs %.0f%% busy, %.0f%% by processes not this benchmark's",
		r.backendCPU, r.lookupCPU, r.memcachedCPU, r.clientCPU, r.machineBusy, r.othersBusy)
	if r.errors > 0 || r.firstErr != "" {
		s += fmt.Sprintf("  ERRORS %d: %s", r.errors, r.firstErr)
	}
	if r.storeErrors > 0 || r.pluginFailures > 0 {
		s += fmt.Sprintf("  postern store errors %d, plugin failures %d", r.storeErrors, r.pluginFailures)
	}
	return s
}

func mb(kb int64) string {
	if kb <= 0 {
		return "–"
	}
	return fmt.Sprintf("%.1f MB", float64(kb)/1024)
}

func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := append([]float64(nil), v...)
	sort.Float64s(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func summary(o options, runs []run) string {
	var b strings.Builder
	var notes []string
	fmt.Fprintf(&b, "Medians of %d round(s): %d clients x %v (LOGIN p50/p99), 1 client x %v (1-client p50), %d users, %d idle sessions.\n",
		o.runs, o.clients, o.dur, o.dur, o.users, o.idle)
	for _, proto := range o.protocols {
		fmt.Fprintf(&b, "\n%s\n\n", strings.ToUpper(proto))
		b.WriteString("| | logins/s | vs nginx | proxy CPU per login | LOGIN p50 | LOGIN p99 | LOGIN p50, 1 client | RSS at start | RSS after load | RSS, idle sessions | lookups per login | errors |\n")
		b.WriteString("|---|---|---|---|---|---|---|---|---|---|---|---|\n")
		med := map[string]float64{}
		for _, tn := range o.targets {
			var rate, cpuL, p50, p99, one, rs, rl, ri, lk []float64
			var errs, storeErrs, failures int64
			held := int64(-1)
			for _, r := range runs {
				if r.proto != proto || r.target != tn {
					continue
				}
				rate = append(rate, r.rate)
				cpuL = append(cpuL, r.cpuPerLogin)
				p50, p99, one = append(p50, r.p50), append(p99, r.p99), append(one, r.p50one)
				rs, rl, ri = append(rs, float64(r.rssStart)), append(rl, float64(r.rssLoad)), append(ri, float64(r.rssIdle))
				lk = append(lk, r.lookupsPerLogin)
				errs += r.errors
				storeErrs += r.storeErrors
				failures += r.pluginFailures
				if held < 0 || r.held < held {
					held = r.held
				}
			}
			if len(rate) == 0 {
				continue
			}
			med[tn] = median(rate)
			vs := "–"
			if n := med["nginx"]; n > 0 && tn != "nginx" {
				vs = fmt.Sprintf("%.2fx", med[tn]/n)
			} else if tn == "nginx" {
				vs = "1.00x"
			}
			name := map[string]string{"direct": "direct to the backend", "nginx": "nginx, auth_http each login",
				"postern":      "Postern, standard chain + memcached (C plugins)",
				"postern-1cpu": "Postern, the same with max_procs: 1", "postern-go": "Postern, the same with the Go plugin builds"}[tn]
			if tn == "direct" {
				fmt.Fprintf(&b, "| %s | %s | %s | – | %.2f ms | %.2f ms | %.2f ms | – | – | – | – | %d |\n",
					name, spread(rate, "%.0f"), vs, median(p50), median(p99), median(one), errs)
				continue
			}
			idle := fmt.Sprintf("%s (%d sessions)", mb(int64(median(ri))), held)
			if o.idle == 0 {
				idle = "–"
			}
			fmt.Fprintf(&b, "| %s | %s | %s | %.3f ms | %.2f ms | %.2f ms | %.2f ms | %s | %s | %s | %.2f | %d |\n",
				name, spread(rate, "%.0f"), vs, median(cpuL), median(p50), median(p99), median(one),
				mb(int64(median(rs))), mb(int64(median(rl))), idle, median(lk), errs)
			if storeErrs > 0 || failures > 0 {
				notes = append(notes, fmt.Sprintf("%s %s: %d store errors and %d plugin failures during the measured runs (postern_store_errors_total, postern_plugin_failures_total): memcached operations that failed or timed out (the throttle then fails open and route-cache misses), so those logins did not do the standard chain's work.",
					strings.ToUpper(proto), tn, storeErrs, failures))
			}
		}
	}
	b.WriteString("\nlogins/s: median (min–max over rounds). RSS: VmRSS summed over the proxy's processes (nginx: master and workers).\n")
	others := 0.0
	for _, r := range runs {
		others = max(others, r.othersBusy)
	}
	fmt.Fprintf(&b, "Processes other than this benchmark's used up to %.0f%% of the machine's CPUs during a main run (the run lines give each).\n", others)
	for _, n := range notes {
		b.WriteString("\n" + n + "\n")
	}
	return b.String()
}

// spread prints the median, and the range when there are several values.
func spread(v []float64, f string) string {
	s := fmt.Sprintf(f, median(v))
	if len(v) > 1 {
		lo, hi := v[0], v[0]
		for _, x := range v {
			lo, hi = min(lo, x), max(hi, x)
		}
		s += fmt.Sprintf(" ("+f+"–"+f+")", lo, hi)
	}
	return s
}
