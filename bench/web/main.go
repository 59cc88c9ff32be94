// Command webbench measures the web front end side by side with nginx
// (issue 13): wrk (HTTP/1.1) and h2load (h2) against two backends serving
// 1 KiB, directly, through Debian's nginx (proxy_http_version 1.1,
// keepalive 64 upstream, access log off) and through Postern without
// plugins, with the standard chain (login-normaliser, throttle,
// route-cache, route-lookup, url-rewrite) for anonymous requests and for
// requests with a login whose route is cached, plain and over TLS (h1 and
// h2 with the same certificate). Every configuration is run -runs times,
// interleaved, and the medians are printed: req/s, p50, p99 and each
// process's CPU time per request.
//
// The backends, each proxy, memcached and the load generator are separate
// processes (this binary with -role backend / -role proxy), so a proxy's
// CPU time read from /proc/<pid>/stat is its own (nginx: master and
// workers).
//
//	bench/web/run.sh                      # builds everything and runs this
package main

import (
	"bufio"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/tlsstore"
	"github.com/postern/postern/host/web"
)

func main() {
	role := flag.String("role", "", "internal: backend or proxy")
	addr := flag.String("addr", "127.0.0.1:0", "internal: listen address")
	upstreams := flag.String("upstreams", "", "internal: the backends, comma-separated, for the proxy")
	chain := flag.Bool("chain", false, "internal: the proxy loads the standard chain from -wasm-dir")
	memcached := flag.String("memcached-addr", "", "internal: the proxy's store; empty: in-process")
	lookup := flag.String("lookup", "", "internal: the route lookup URL for route-lookup")
	tlsDir := flag.String("tls-dir", "", "internal: cert.pem and key.pem for the proxy's TLS listener")
	wasmDir := flag.String("wasm-dir", "build/wasm/plugins", "the built bundled plugins (make plugins)")
	cpuprofile := flag.String("cpuprofile", "", "write the standard-chain proxy's CPU profile here")
	var proxyEnv envList
	flag.Var(&proxyEnv, "proxy-env", "KEY=VALUE added to the Postern proxies' environment only (GOGC=400); repeatable")
	conns := flag.Int("c", 64, "connections")
	threads := flag.Int("t", 2, "load generator threads")
	dur := flag.Duration("d", 10*time.Second, "duration per run")
	runs := flag.Int("runs", 3, "runs per configuration, interleaved; medians are printed")
	only := flag.String("only", "", "run only configurations whose name contains this; several separated by | (\"nginx|anonymous\")")
	eachRun := flag.Bool("each-run", false, "print every run's numbers to stderr as it ends, not only the medians")
	flag.Parse()
	var err error
	switch *role {
	case "backend":
		err = runBackend(*addr)
	case "proxy":
		err = runProxy(*addr, strings.Split(*upstreams, ","), *chain, *wasmDir, *memcached, *lookup, *tlsDir, *cpuprofile)
	case "refproxy":
		err = runRefProxy(*addr, strings.Split(*upstreams, ","))
	case "loopproxy":
		err = runLoopProxy(*addr, strings.Split(*upstreams, ","))
	case "refh2":
		err = runRefH2(*addr, strings.Split(*upstreams, ","), *tlsDir)
	case "":
		err = orchestrate(opts{wasmDir: *wasmDir, cpuprofile: *cpuprofile, conns: *conns, threads: *threads, d: *dur,
			runs: *runs, proxyEnv: proxyEnv, only: *only, eachRun: *eachRun})
	default:
		err = fmt.Errorf("unknown role %q", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "webbench:", err)
		os.Exit(1)
	}
}

var body1K = []byte(strings.Repeat("x", 1023) + "\n")

// runBackend serves 1 KiB on every path but /__conns, which returns how
// many connections it accepted so far (is the proxy reusing them?).
func runBackend(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	var accepted atomic.Int64
	fmt.Println(ln.Addr().String())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/__conns" {
			fmt.Fprint(w, accepted.Load())
			return
		}
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "1024")
		w.Write(body1K)
	}), ConnState: func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			accepted.Add(1)
		}
	}}
	return srv.Serve(ln)
}

// envList is a repeatable KEY=VALUE flag.
type envList []string

func (e *envList) String() string { return strings.Join(*e, " ") }

func (e *envList) Set(v string) error {
	if !strings.Contains(v, "=") {
		return fmt.Errorf("%q is not KEY=VALUE", v)
	}
	*e = append(*e, v)
	return nil
}

// standardChain is the chain of the issue: the bundled plugins with
// production-like settings. url-rewrite's one rule (/zimbra/ prefix) does
// not match the benchmark's path.
func standardChain(dir, lookup string) []plugin.Spec {
	host := strings.TrimPrefix(lookup, "http://")
	host = host[:strings.IndexByte(host, '/')]
	p := func(name string) string { return filepath.Join(dir, name+".wasm") }
	return []plugin.Spec{
		{Name: "login-normaliser", Path: p("login-normaliser"), Config: []byte(`{"default_domain":"example.com"}`)},
		{Name: "throttle", Path: p("throttle"), Config: []byte(`{"ip":{"limit":100000000,"window":3600},"user":{"limit":100000000,"window":3600}}`)},
		{Name: "route-cache", Path: p("route-cache"), Config: []byte(`{"ttl":"1h"}`)},
		{Name: "route-lookup", Path: p("route-lookup"), HTTPAllow: []string{host}, Config: []byte(`{"servers":["` + lookup + `"]}`)},
		{Name: "url-rewrite", Path: p("url-rewrite"), Config: []byte(`{"rules":[{"path":"^/zimbra/(.*)$","rewrite":{"path":"/$1"}}]}`)},
	}
}

func runProxy(addr string, upstreams []string, chain bool, wasmDir, memcached, lookup, tlsDir, cpuprofile string) error {
	ctx := context.Background()
	quiet := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	var host *plugin.Host
	if chain {
		var st kv.Store = kv.NewMemory(kv.MemoryOptions{})
		if memcached != "" {
			// 1 s, not the default 100 ms: on a shared, loaded machine a
			// timeout would turn the login run into a store-outage run.
			mc, err := kv.NewMemcached([]string{memcached}, kv.MemcachedOptions{Timeout: time.Second})
			if err != nil {
				return err
			}
			st = mc
		}
		h, err := plugin.New(ctx, plugin.Options{Store: st, Logger: quiet})
		if err != nil {
			return err
		}
		if err := h.Load(ctx, standardChain(wasmDir, lookup)); err != nil {
			return err
		}
		host = h
	}
	cfg := web.Config{
		Listeners: []web.Listener{{Name: "web", Address: addr}},
		Pool:      "pool",
	}
	p := web.Pool{Name: "pool"}
	for _, u := range upstreams {
		p.Backends = append(p.Backends, web.Backend{Address: u})
	}
	cfg.Pools = []web.Pool{p}
	// PROXY_ENV=WEB_SERVER=net/http: net/http's server instead of the
	// lean one (web.server), for a side-by-side run.
	cfg.Server = os.Getenv("WEB_SERVER")
	// FAST_PATH=off: every request takes the full path (web.fast_path:
	// false); the "full path" run's proxy has it.
	cfg.NoFastPath = os.Getenv("FAST_PATH") == "off"
	// DECISION_REUSE=off: every request with a login runs the chains
	// (web.decision_reuse: false); the "no reuse" run's proxy has it.
	cfg.NoDecisionReuse = os.Getenv("DECISION_REUSE") == "off"
	// EVENT_LOOP=off: a goroutine per connection on every listener
	// (web.event_loop: false).
	cfg.NoEventLoop = os.Getenv("EVENT_LOOP") == "off"
	var certs *tlsstore.Store
	if tlsDir != "" {
		cfg.Listeners = append(cfg.Listeners, web.Listener{Name: "tls", Address: "127.0.0.1:0", TLS: true})
		s, err := tlsstore.New(tlsstore.Options{Certs: []tlsstore.Pair{{CertFile: filepath.Join(tlsDir, "cert.pem"),
			KeyFile: filepath.Join(tlsDir, "key.pem")}}, Logger: quiet})
		if err != nil {
			return err
		}
		certs = s
	}
	// Access log off, as nginx's access_log off in the same runs (issue 13);
	// PROXY_ENV=ACCESS_LOG=on builds every line, then discards it.
	access := slog.New(slog.DiscardHandler)
	if os.Getenv("ACCESS_LOG") == "on" {
		access = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	srv, err := web.New(web.Options{Config: cfg, Plugins: host, Certs: certs, Logger: quiet, AccessLog: access})
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	tlsAddr := "-"
	if tlsDir != "" {
		tlsAddr = srv.Addr("tls").String()
	}
	fmt.Println(srv.Addr("web").String() + " " + tlsAddr)
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return srv.Shutdown(ctx)
}

// child is a process of the benchmark with the line it printed.
type child struct {
	cmd  *exec.Cmd
	line string
}

func spawnCmd(cmd *exec.Cmd, wantLine bool) (*child, error) {
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	c := &child{cmd: cmd}
	if wantLine {
		line, err := bufio.NewReader(out).ReadString('\n')
		if err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("%v exited before printing its address: %v", cmd.Args, err)
		}
		c.line = strings.TrimSpace(line)
	}
	return c, nil
}

func spawn(env []string, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), env...)
	return spawnCmd(cmd, true)
}

func (c *child) stop() {
	c.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { c.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		c.cmd.Process.Kill()
		<-done
	}
}

// cpuTime returns the user+system CPU time of pid and its children
// processes (nginx's workers) from /proc.
func cpuTime(pid int) time.Duration {
	var total time.Duration
	for _, p := range append([]int{pid}, childPIDs(pid)...) {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
		// fields[0] is field 3 (state); utime is field 14, stime 15.
		ut, _ := strconv.ParseInt(fields[11], 10, 64)
		st, _ := strconv.ParseInt(fields[12], 10, 64)
		const hz = 100 // USER_HZ on Linux
		total += time.Duration(ut+st) * time.Second / hz
	}
	return total
}

// pss returns the proportional set size of pid and its children
// (nginx's workers) from /proc/<pid>/smaps_rollup: RSS with each shared
// page divided among the processes sharing it, so that nginx's forked
// workers are not counted once per worker for the pages they share with
// the master. For a Go process it is its RSS.
func pss(pid int) int64 {
	var total int64
	for _, p := range append([]int{pid}, childPIDs(pid)...) {
		b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(p), "smaps_rollup"))
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(b), "\n") {
			if f := strings.Fields(line); len(f) >= 2 && f[0] == "Pss:" {
				kb, _ := strconv.ParseInt(f[1], 10, 64)
				total += kb << 10
			}
		}
	}
	return total
}

// peakPSS samples pss(pid) every 250 ms until stop is closed, and sends
// the largest value seen.
func peakPSS(pid int, stop <-chan struct{}, peak chan<- int64) {
	var max int64
	t := time.NewTicker(250 * time.Millisecond)
	defer t.Stop()
	for {
		if v := pss(pid); v > max {
			max = v
		}
		select {
		case <-stop:
			peak <- max
			return
		case <-t.C:
		}
	}
}

func childPIDs(pid int) []int {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	var out []int
	for _, f := range strings.Fields(string(b)) {
		if n, err := strconv.Atoi(f); err == nil {
			out = append(out, n)
		}
	}
	return out
}

type result struct {
	rps      float64
	p50, p99 time.Duration
	requests int64
	proxy    time.Duration // proxy CPU time during the run; 0 for direct
	backends time.Duration // both backends' CPU time
	mem      int64         // the proxy's peak PSS during the run (bytes); 0 for direct
	load     time.Duration // the load generator's own CPU time
	conns    int64         // connections the backends accepted during the run
	errors   string
}

var (
	reRPS  = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reP50  = regexp.MustCompile(`\s50%\s+([\d.]+)(us|ms|s)`)
	reP99  = regexp.MustCompile(`\s99%\s+([\d.]+)(us|ms|s)`)
	reReqs = regexp.MustCompile(`(\d+) requests in`)
	reErr  = regexp.MustCompile(`(Socket errors:.*|Non-2xx or 3xx responses:.*)`)
	reH2   = regexp.MustCompile(`finished in [\d.]+s, ([\d.]+) req/s`)
	reH2Rq = regexp.MustCompile(`requests: \d+ total, \d+ started, (\d+) done, (\d+) succeeded, (\d+) failed, (\d+) errored`)
)

func dur(v string, unit string) time.Duration {
	f, _ := strconv.ParseFloat(v, 64)
	return time.Duration(f * float64(map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[unit]))
}

// scenario is one configuration of the table.
type scenario struct {
	name    string
	url     string
	h2      bool
	headers []string
	proxy   *child // nil: direct
	// one: the requests all go to one backend (a login's route), compared
	// with nginx proxying to that backend alone: one backend process
	// costs less CPU per request than two on this machine.
	one bool
}

type opts struct {
	wasmDir, cpuprofile string
	conns, threads      int
	d                   time.Duration
	runs                int
	proxyEnv            []string
	only                string
	eachRun             bool
}

// load runs wrk (h1) or h2load (h2) for one scenario, after a warm-up
// of 2 s at the same concurrency that is not measured: Postern's plugin
// instance pools grow on demand and shrink when idle (30 s), and a Go
// guest's instance costs milliseconds of CPU to create, so without it an
// interleaved run would measure mostly the pools growing back.
func load(o opts, sc scenario, backends []*child, tmp string) (result, error) {
	if sc.proxy != nil {
		var warm *exec.Cmd
		if sc.h2 {
			warm = exec.Command("h2load", "-c", strconv.Itoa(o.conns), "-t", strconv.Itoa(o.threads), "-m", "1", "-D", "2")
		} else {
			warm = exec.Command("wrk", "-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.conns), "-d", "2s")
		}
		for _, h := range sc.headers {
			warm.Args = append(warm.Args, "-H", h)
		}
		warm.Args = append(warm.Args, sc.url)
		_ = warm.Run()
	}
	var r result
	var before time.Duration
	if sc.proxy != nil {
		before = cpuTime(sc.proxy.cmd.Process.Pid)
	}
	var beBefore time.Duration
	var connsBefore int64
	for _, b := range backends {
		beBefore += cpuTime(b.cmd.Process.Pid)
		connsBefore += backendConns(b)
	}
	var cmd *exec.Cmd
	logFile := filepath.Join(tmp, "h2load.log")
	if sc.h2 {
		args := []string{"-c", strconv.Itoa(o.conns), "-t", strconv.Itoa(o.threads), "-m", "1",
			"-D", strconv.Itoa(int(o.d / time.Second)), "--log-file", logFile}
		for _, h := range sc.headers {
			args = append(args, "-H", h)
		}
		cmd = exec.Command("h2load", append(args, sc.url)...)
	} else {
		args := []string{"-t", strconv.Itoa(o.threads), "-c", strconv.Itoa(o.conns), "-d", o.d.String(), "--latency"}
		for _, h := range sc.headers {
			args = append(args, "-H", h)
		}
		cmd = exec.Command("wrk", append(args, sc.url)...)
	}
	stopMem, peak := make(chan struct{}), make(chan int64, 1)
	if sc.proxy != nil {
		go peakPSS(sc.proxy.cmd.Process.Pid, stopMem, peak)
	}
	out, err := cmd.CombinedOutput()
	close(stopMem)
	if sc.proxy != nil {
		r.mem = <-peak
	}
	if err != nil {
		return r, fmt.Errorf("%s: %v: %s", cmd.Path, err, out)
	}
	r.load = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if sc.proxy != nil {
		r.proxy = cpuTime(sc.proxy.cmd.Process.Pid) - before
	}
	var connsAfter int64
	for _, b := range backends {
		r.backends += cpuTime(b.cmd.Process.Pid)
		connsAfter += backendConns(b)
	}
	r.backends -= beBefore
	r.conns = connsAfter - connsBefore
	s := string(out)
	if sc.h2 {
		if m := reH2.FindStringSubmatch(s); m != nil {
			r.rps, _ = strconv.ParseFloat(m[1], 64)
		}
		if m := reH2Rq.FindStringSubmatch(s); m != nil {
			r.requests, _ = strconv.ParseInt(m[2], 10, 64)
			if m[3] != "0" || m[4] != "0" {
				r.errors = "failed " + m[3] + ", errored " + m[4]
			}
		}
		r.p50, r.p99 = h2Percentiles(logFile)
	} else {
		if m := reRPS.FindStringSubmatch(s); m != nil {
			r.rps, _ = strconv.ParseFloat(m[1], 64)
		}
		if m := reP50.FindStringSubmatch(s); m != nil {
			r.p50 = dur(m[1], m[2])
		}
		if m := reP99.FindStringSubmatch(s); m != nil {
			r.p99 = dur(m[1], m[2])
		}
		if m := reReqs.FindStringSubmatch(s); m != nil {
			r.requests, _ = strconv.ParseInt(m[1], 10, 64)
		}
		if m := reErr.FindAllString(s, -1); m != nil {
			r.errors = strings.Join(m, "; ")
		}
	}
	if r.rps == 0 {
		// Nothing completed (every request timed out): report it, go on.
		r.errors = strings.TrimSpace(r.errors + " no request completed; output:\n" + s)
	}
	return r, nil
}

// h2Percentiles reads h2load's per-request log: start, status, elapsed µs.
func h2Percentiles(path string) (p50, p99 time.Duration) {
	f, err := os.Open(path)
	if err != nil {
		return 0, 0
	}
	defer f.Close()
	var us []int64
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fs := strings.Fields(sc.Text())
		if len(fs) >= 3 {
			if v, err := strconv.ParseInt(fs[2], 10, 64); err == nil {
				us = append(us, v)
			}
		}
	}
	if len(us) == 0 {
		return 0, 0
	}
	slices.Sort(us)
	at := func(q float64) time.Duration { return time.Duration(us[int(q*float64(len(us)-1))]) * time.Microsecond }
	return at(.50), at(.99)
}

func backendConns(b *child) int64 {
	resp, err := http.Get("http://" + b.line + "/__conns")
	if err != nil {
		return 0
	}
	defer resp.Body.Close()
	v, _ := io.ReadAll(resp.Body)
	n, _ := strconv.ParseInt(string(v), 10, 64)
	return n
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

// writeCert writes a self-signed certificate for localhost to dir.
func writeCert(dir string) error {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return err
	}
	kder, _ := x509.MarshalECPrivateKey(key)
	if err := os.WriteFile(filepath.Join(dir, "cert.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "key.pem"), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}

// nginxConf is Debian nginx as the issue ran it: keepalive to the
// backends, access log off, round robin, one worker per CPU; the TLS
// server keeps client connections for more than 1,000 requests (h2load).
const nginxConf = `worker_processes auto;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path %[1]s/body;
    proxy_temp_path %[1]s/proxy;
    fastcgi_temp_path %[1]s/fastcgi;
    uwsgi_temp_path %[1]s/uwsgi;
    scgi_temp_path %[1]s/scgi;
    upstream backends {
%[2]s        keepalive 64;
    }
    upstream mailbox {
        server %[5]s;
        keepalive 64;
    }
    server {
        listen %[3]s;
        include %[1]s/proxy.conf;
    }
    server {
        # the login runs' reference: the one backend their route names
        listen %[6]s;
        location / {
            proxy_pass http://mailbox;
            include %[1]s/proxy_headers.conf;
        }
    }
    server {
        # nginx closes a client connection (h2 too) after 1,000 requests
        # by default; h2load does not reconnect (wrk does), so that capped
        # nginx's h2 runs at 64 x 1,000 requests. reuseport spreads the
        # long-lived connections over the workers (without it most land
        # on one). HTTPS h1 measures the same either way.
        listen %[4]s ssl http2 reuseport;
        keepalive_requests 1000000;
        ssl_certificate %[1]s/cert.pem;
        ssl_certificate_key %[1]s/key.pem;
        include %[1]s/proxy.conf;
    }
    server {
        # the h2 login run's reference: the one backend, over h2
        listen %[7]s ssl http2 reuseport;
        keepalive_requests 1000000;
        ssl_certificate %[1]s/cert.pem;
        ssl_certificate_key %[1]s/key.pem;
        location / {
            proxy_pass http://mailbox;
            include %[1]s/proxy_headers.conf;
        }
    }
}
`

// nginxProxyConf is the location the plain and TLS nginx servers share
// (proxy.conf, which includes proxy_headers.conf).
const nginxProxyConf = `location / {
    proxy_pass http://backends;
    include %[1]s/proxy_headers.conf;
}
`

// nginxProxyHeaders are what every nginx location sends upstream: HTTP/1.1
// keep-alive and the forwarding headers Postern sends.
const nginxProxyHeaders = `proxy_http_version 1.1;
proxy_set_header Connection "";
proxy_set_header Host $host;
proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
proxy_set_header X-Real-IP $remote_addr;
proxy_set_header X-Forwarded-Proto $scheme;
`

func orchestrate(o opts) error {
	for _, tool := range []string{"wrk", "h2load", "nginx", "memcached"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found; apt-get install wrk nghttp2-client nginx memcached", tool)
		}
	}
	tmp, err := os.MkdirTemp("", "webbench")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	os.Chmod(tmp, 0o755) // nginx workers run as nobody
	if err := writeCert(tmp); err != nil {
		return err
	}
	var backends []*child
	for range 2 {
		be, err := spawn(nil, "-role", "backend")
		if err != nil {
			return err
		}
		defer be.stop()
		backends = append(backends, be)
	}
	beAddrs := []string{backends[0].line, backends[1].line}

	// memcached for the chain (route cache, throttle counters), one thread.
	mcAddr, err := freePort()
	if err != nil {
		return err
	}
	mcHost, mcPort, _ := net.SplitHostPort(mcAddr)
	mc, err := spawnCmd(exec.Command("memcached", "-l", mcHost, "-p", mcPort, "-U", "0", "-t", "1", "-u", "nobody"), false)
	if err != nil {
		return err
	}
	defer mc.stop()

	// The lookup service routes every user to the first backend.
	var lookups atomic.Int64
	lookupLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	beHost, bePort, _ := net.SplitHostPort(beAddrs[0])
	go http.Serve(lookupLn, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		lookups.Add(1)
		w.Header().Set("Auth-Status", "OK")
		w.Header().Set("Auth-Server", beHost)
		w.Header().Set("Auth-Port", bePort)
	}))
	lookupURL := "http://" + lookupLn.Addr().String() + "/service/extension/nginx-lookup"

	// nginx
	ngPlain, _ := freePort()
	ngTLS, _ := freePort()
	ngOne, _ := freePort()
	ngOneTLS, _ := freePort()
	var servers string
	for _, a := range beAddrs {
		servers += "        server " + a + ";\n"
	}
	conf := filepath.Join(tmp, "nginx.conf")
	if err := os.WriteFile(filepath.Join(tmp, "proxy.conf"), []byte(fmt.Sprintf(nginxProxyConf, tmp)), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(tmp, "proxy_headers.conf"), []byte(nginxProxyHeaders), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, tmp, servers, ngPlain, ngTLS, beAddrs[0], ngOne, ngOneTLS)), 0o644); err != nil {
		return err
	}
	ng, err := spawnCmd(exec.Command("nginx", "-c", conf, "-p", tmp, "-g", "daemon off;"), false)
	if err != nil {
		return err
	}
	defer ng.stop()

	// Postern: no plugins; the standard chain (plain and TLS).
	bare, err := spawn(o.proxyEnv, "-role", "proxy", "-upstreams", strings.Join(beAddrs, ","), "-tls-dir", tmp)
	if err != nil {
		return err
	}
	defer bare.stop()
	chainArgs := []string{"-role", "proxy", "-upstreams", strings.Join(beAddrs, ","), "-chain", "-wasm-dir", o.wasmDir,
		"-memcached-addr", mcAddr, "-lookup", lookupURL, "-tls-dir", tmp}
	stdArgs := chainArgs
	if o.cpuprofile != "" {
		stdArgs = append(stdArgs[:len(stdArgs):len(stdArgs)], "-cpuprofile", o.cpuprofile)
	}
	std, err := spawn(o.proxyEnv, stdArgs...)
	if err != nil {
		return err
	}
	defer std.stop()
	// The same chain with the fast path off: the full path's cost, side
	// by side.
	full, err := spawn(append(append([]string(nil), o.proxyEnv...), "FAST_PATH=off"), chainArgs...)
	if err != nil {
		return err
	}
	defer full.stop()
	// The same chain without decision reuse: every login runs the chains
	// (two store round trips, three guests).
	noReuse, err := spawn(append(append([]string(nil), o.proxyEnv...), "DECISION_REUSE=off"), chainArgs...)
	if err != nil {
		return err
	}
	defer noReuse.stop()
	// The floor for a Go proxy (refproxy.go).
	refp, err := spawn(nil, "-role", "refproxy", "-upstreams", strings.Join(beAddrs, ","))
	if err != nil {
		return err
	}
	defer refp.stop()
	// The same without a goroutine per connection (refloop_linux.go).
	loopp, err := spawn(nil, "-role", "loopproxy", "-upstreams", strings.Join(beAddrs, ","))
	if err != nil {
		return err
	}
	defer loopp.stop()
	// An h2 front end of our own, at its least (refh2.go).
	refh2, err := spawn(nil, "-role", "refh2", "-upstreams", strings.Join(beAddrs, ","), "-tls-dir", tmp)
	if err != nil {
		return err
	}
	defer refh2.stop()
	refh2g, err := spawn([]string{"REF_H2_STREAMS=goroutine"}, "-role", "refh2", "-upstreams", strings.Join(beAddrs, ","), "-tls-dir", tmp)
	if err != nil {
		return err
	}
	defer refh2g.stop()
	addrs := func(c *child) (string, string) {
		f := strings.Fields(c.line)
		return f[0], f[1]
	}
	barePlain, bareTLS := addrs(bare)
	stdPlain, stdTLS := addrs(std)
	fullPlain, _ := addrs(full)
	noReusePlain, _ := addrs(noReuse)
	time.Sleep(300 * time.Millisecond) // nginx binds

	// A user whose route is cached: one request fills the cache.
	const bob = "Authorization: Basic Ym9iOng=" // bob:x
	req, _ := http.NewRequest("GET", "http://"+stdPlain+"/mail/bench", nil)
	req.SetBasicAuth("bob", "x")
	if resp, err := http.DefaultClient.Do(req); err != nil || resp.StatusCode != 200 {
		return fmt.Errorf("warming bob's route: %v %v", resp, err)
	}
	time.Sleep(200 * time.Millisecond) // route_decided stored the route
	// Memory before any load: what each proxy holds started, its plugins
	// compiled and instantiated (the chain's one request above).
	fmt.Printf("PSS at start, before any load (MiB): nginx %.1f, postern no plugins %.1f, postern chain %.1f, go reference proxy %.1f\n",
		float64(pss(ng.cmd.Process.Pid))/(1<<20), float64(pss(bare.cmd.Process.Pid))/(1<<20),
		float64(pss(std.cmd.Process.Pid))/(1<<20), float64(pss(refp.cmd.Process.Pid))/(1<<20))

	const path = "/mail/bench"
	all := []scenario{
		{name: "direct (one backend)", url: "http://" + beAddrs[0] + path},
		{name: "nginx", url: "http://" + ngPlain + path, proxy: ng},
		{name: "go reference proxy", url: "http://" + refp.line + path, proxy: refp},
		{name: "go event-loop proxy", url: "http://" + loopp.line + path, proxy: loopp},
		{name: "postern, no plugins", url: "http://" + barePlain + path, proxy: bare},
		{name: "postern, chain, anonymous", url: "http://" + stdPlain + path, proxy: std},
		{name: "postern, chain, anonymous, full path", url: "http://" + fullPlain + path, proxy: full},
		{name: "nginx, one backend (login ref.)", url: "http://" + ngOne + path, proxy: ng, one: true},
		{name: "postern, chain, login (cached)", url: "http://" + stdPlain + path, headers: []string{bob}, proxy: std, one: true},
		{name: "postern, chain, login (cached), full path", url: "http://" + fullPlain + path, headers: []string{bob}, proxy: full, one: true},
		{name: "postern, chain, login (cached), no reuse", url: "http://" + noReusePlain + path, headers: []string{bob}, proxy: noReuse, one: true},
		{name: "nginx, https h1", url: "https://" + ngTLS + path, proxy: ng},
		{name: "postern, no plugins, https h1", url: "https://" + bareTLS + path, proxy: bare},
		{name: "postern, chain, https h1", url: "https://" + stdTLS + path, proxy: std},
		{name: "nginx, h2", url: "https://" + ngTLS + path, h2: true, proxy: ng},
		{name: "go h2 reference proxy", url: "https://" + refh2.line + path, h2: true, proxy: refh2},
		{name: "go h2 reference proxy, goroutine per stream", url: "https://" + refh2g.line + path, h2: true, proxy: refh2g},
		{name: "postern, no plugins, h2", url: "https://" + bareTLS + path, h2: true, proxy: bare},
		{name: "postern, chain, h2", url: "https://" + stdTLS + path, h2: true, proxy: std},
		{name: "nginx, one backend, h2 (login ref.)", url: "https://" + ngOneTLS + path, h2: true, proxy: ng, one: true},
		{name: "postern, chain, login (cached), h2", url: "https://" + stdTLS + path, headers: []string{bob}, h2: true, proxy: std, one: true},
	}
	var scs []scenario
	for _, sc := range all {
		if o.only == "" {
			scs = append(scs, sc)
			continue
		}
		for _, want := range strings.Split(o.only, "|") {
			if want != "" && strings.Contains(sc.name, want) {
				scs = append(scs, sc)
				break
			}
		}
	}
	res := make([][]result, len(scs))
	lookups0 := lookups.Load()
	for run := 0; run < o.runs; run++ {
		for i, sc := range scs {
			r, err := load(o, sc, backends, tmp)
			if err != nil {
				return err
			}
			if r.errors != "" {
				fmt.Fprintf(os.Stderr, "%s, run %d: %s\n", sc.name, run+1, r.errors)
			}
			if o.eachRun {
				fmt.Fprintf(os.Stderr, "run %d %-32s %8.0f req/s %9s p99 %9s proxy/req %9s load/req %6.1f MiB\n", run+1, sc.name, r.rps,
					r.p99.Round(10*time.Microsecond), perReq(r.proxy, r.requests), perReq(r.load, r.requests), float64(r.mem)/(1<<20))
			}
			res[i] = append(res[i], r)
		}
	}

	fmt.Printf("%d connections, %d threads, %s per run, medians of %d interleaved runs; 1 KiB responses from two backends; %d CPUs; proxy env %q\n",
		o.conns, o.threads, o.d, o.runs, runtime.NumCPU(), strings.Join(o.proxyEnv, " "))
	fmt.Printf("%-32s %8s %7s %9s %9s %9s %9s %9s %6s %8s\n", "run", "req/s", "/nginx", "p50", "p99", "proxy/req", "backends", "load/req", "conns", "proxy MB")
	// nginx reference per transport: plain, https h1, h2.
	ref := map[string]float64{}
	for i, sc := range scs {
		if strings.HasPrefix(sc.name, "nginx") {
			ref[transport(sc)] = median(res[i]).rps
		}
	}
	for i, sc := range scs {
		m := median(res[i])
		rel := "-"
		if n := ref[transport(sc)]; n > 0 && sc.proxy != nil {
			rel = fmt.Sprintf("%.2fx", m.rps/n)
		}
		mem := "-"
		if m.mem > 0 {
			mem = fmt.Sprintf("%.1f", float64(m.mem)/(1<<20))
		}
		fmt.Printf("%-32s %8.0f %7s %9s %9s %9s %9s %9s %6d %8s\n", sc.name, m.rps, rel,
			m.p50.Round(10*time.Microsecond), m.p99.Round(10*time.Microsecond),
			perReq(m.proxy, m.requests), perReq(m.backends, m.requests), perReq(m.load, m.requests), m.conns, mem)
	}
	fmt.Println("proxy/req, backends, load/req: each process's user+system CPU time over the requests completed (nginx: master and")
	fmt.Println("workers); conns: connections the backends accepted during the run (upstream keep-alive reuse); /nginx: req/s")
	fmt.Println("over nginx's on the same transport (login runs: over nginx's to the one backend their route names);")
	fmt.Println("proxy MB: the proxy's peak proportional set size (PSS, MiB) sampled every 250 ms during the run (nginx: master")
	fmt.Println("and workers, shared pages divided among them); one proxy process serves several rows, so it carries what the")
	fmt.Println("rows before it left (the postern, chain proxy serves anonymous, login and TLS rows).")
	fmt.Printf("Lookups during the runs: %d (the login's route came from the cache).\n", lookups.Load()-lookups0)
	return nil
}

func transport(sc scenario) string {
	switch {
	case sc.one && sc.h2:
		return "h2, one backend"
	case sc.one:
		return "http, one backend"
	case sc.h2:
		return "h2"
	case strings.HasPrefix(sc.url, "https"):
		return "https"
	}
	return "http"
}

func perReq(d time.Duration, n int64) string {
	if d <= 0 || n <= 0 {
		return "-"
	}
	return (d / time.Duration(n)).Round(100 * time.Nanosecond).String()
}

// median takes the median of each column separately.
func median(rs []result) result {
	pick := func(f func(result) float64) float64 {
		v := make([]float64, len(rs))
		for i, r := range rs {
			v[i] = f(r)
		}
		sort.Float64s(v)
		return v[len(v)/2]
	}
	var m result
	m.rps = pick(func(r result) float64 { return r.rps })
	m.p50 = time.Duration(pick(func(r result) float64 { return float64(r.p50) }))
	m.p99 = time.Duration(pick(func(r result) float64 { return float64(r.p99) }))
	// CPU per request: the median of the per-request values, expressed
	// against a nominal request count of one million.
	const n = 1_000_000
	m.requests = n
	m.proxy = time.Duration(pick(func(r result) float64 { return float64(r.proxy) / float64(max(r.requests, 1)) * n }))
	m.backends = time.Duration(pick(func(r result) float64 { return float64(r.backends) / float64(max(r.requests, 1)) * n }))
	m.load = time.Duration(pick(func(r result) float64 { return float64(r.load) / float64(max(r.requests, 1)) * n }))
	m.conns = int64(pick(func(r result) float64 { return float64(r.conns) }))
	m.mem = int64(pick(func(r result) float64 { return float64(r.mem) }))
	return m
}
