// Command webbench measures the web front end with wrk: requests per
// second and p99 latency directly against a backend serving 1 KiB, through
// Postern with no plugins, and through Postern with a route and a rewrite
// plugin; plus the proxy process's CPU time per request.
//
// The backend and each proxy run as separate processes (this binary with
// -role backend / -role proxy), and wrk is a third, so the proxy's CPU time
// read from /proc/<pid>/stat is its own.
//
//	go build -o /tmp/webbench ./bench/web && /tmp/webbench -wasm build/bench/route-rewrite.wasm
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/web"
)

func main() {
	role := flag.String("role", "", "internal: backend or proxy")
	addr := flag.String("addr", "127.0.0.1:0", "internal: listen address")
	upstream := flag.String("upstream", "", "internal: backend address for the proxy")
	wasm := flag.String("wasm", "", "the route-rewrite test guest (.wasm); empty skips the plugin run")
	cpuprofile := flag.String("cpuprofile", "", "write the plugin proxy's CPU profile here")
	uninterruptible := flag.Bool("uninterruptible", false, "load the plugins with limits.uninterruptible (internal for -role proxy; adds a run otherwise)")
	var proxyEnv envList
	flag.Var(&proxyEnv, "proxy-env", "KEY=VALUE added to the proxies' environment only (GOGC=400, GOMAXPROCS=1); repeatable")
	conns := flag.Int("c", 64, "wrk connections")
	threads := flag.Int("t", 2, "wrk threads")
	dur := flag.Duration("d", 10*time.Second, "wrk duration per run")
	flag.Parse()
	var err error
	switch *role {
	case "backend":
		err = runBackend(*addr)
	case "proxy":
		err = runProxy(*addr, *upstream, *wasm, *cpuprofile, *uninterruptible)
	case "":
		err = orchestrate(*wasm, *cpuprofile, *conns, *threads, *dur, *uninterruptible, proxyEnv)
	default:
		err = fmt.Errorf("unknown role %q", *role)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "webbench:", err)
		os.Exit(1)
	}
}

var body1K = []byte(strings.Repeat("x", 1023) + "\n")

func runBackend(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	return http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Header().Set("Content-Length", "1024")
		w.Write(body1K)
	}))
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

func runProxy(addr, upstream, wasm, cpuprofile string, uninterruptible bool) error {
	ctx := context.Background()
	var host *plugin.Host
	if wasm != "" {
		h, err := plugin.New(ctx, plugin.Options{Store: kv.NewMemory(kv.MemoryOptions{})})
		if err != nil {
			return err
		}
		routes := fmt.Sprintf(`{"routes":{"bob":%q}}`, upstream)
		lim := plugin.Limits{Uninterruptible: uninterruptible}
		if err := h.Load(ctx, []plugin.Spec{
			{Name: "route", Path: wasm, Hooks: []abi.Hook{abi.HookRoute}, Config: []byte(routes), Limits: lim},
			{Name: "rewrite", Path: wasm, Hooks: []abi.Hook{abi.HookRewrite}, Limits: lim},
		}); err != nil {
			return err
		}
		host = h
	}
	cfg := web.Config{
		Listeners: []web.Listener{{Name: "web", Address: addr}},
		Pools:     []web.Pool{{Name: "pool", Backends: []web.Backend{{Address: upstream}}}},
		Pool:      "pool",
	}
	srv, err := web.New(web.Options{Config: cfg, Plugins: host,
		Logger:    slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn})),
		AccessLog: slog.New(slog.NewJSONHandler(io.Discard, nil))}) // the line is built, then discarded
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
	fmt.Println(srv.Addr("web").String())
	sig := make(chan os.Signal, 1)
	signal.Notify(sig, syscall.SIGTERM, syscall.SIGINT)
	<-sig
	return srv.Shutdown(ctx)
}

// child is a role process with the address it printed.
type child struct {
	cmd  *exec.Cmd
	addr string
}

func spawn(env []string, args ...string) (*child, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	line := make([]byte, 0, 64)
	b := make([]byte, 1)
	for {
		if _, err := out.Read(b); err != nil {
			cmd.Process.Kill()
			cmd.Wait()
			return nil, fmt.Errorf("%v exited before printing its address: %v", args, err)
		}
		if b[0] == '\n' {
			break
		}
		line = append(line, b[0])
	}
	return &child{cmd: cmd, addr: string(line)}, nil
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

// cpuTime returns the process's user+system CPU time from /proc.
func cpuTime(pid int) (time.Duration, error) {
	b, err := os.ReadFile(filepath.Join("/proc", strconv.Itoa(pid), "stat"))
	if err != nil {
		return 0, err
	}
	s := string(b)
	fields := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	// fields[0] is field 3 (state); utime is field 14, stime 15.
	ut, _ := strconv.ParseInt(fields[11], 10, 64)
	st, _ := strconv.ParseInt(fields[12], 10, 64)
	const hz = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / hz, nil
}

type result struct {
	name       string
	rps        float64
	p99        time.Duration
	requests   int64
	cpu        time.Duration // proxy CPU time during the run; 0 for direct
	backendCPU time.Duration // the backend's CPU time during the run
	wrkCPU     time.Duration // wrk's own CPU time
	wall       time.Duration // how long wrk ran
	errors     string
}

var (
	reRPS  = regexp.MustCompile(`Requests/sec:\s+([\d.]+)`)
	reP99  = regexp.MustCompile(`\s99%\s+([\d.]+)(us|ms|s)`)
	reReqs = regexp.MustCompile(`(\d+) requests in`)
	reErr  = regexp.MustCompile(`(Socket errors:.*|Non-2xx or 3xx responses:.*)`)
)

func wrk(name, url string, threads, conns int, d time.Duration, pid, backendPid int, headers ...string) (result, error) {
	args := []string{"-t", strconv.Itoa(threads), "-c", strconv.Itoa(conns), "-d", d.String(), "--latency"}
	for _, h := range headers {
		args = append(args, "-H", h)
	}
	args = append(args, url)
	var before time.Duration
	if pid != 0 {
		before, _ = cpuTime(pid)
	}
	beBefore, _ := cpuTime(backendPid)
	t0 := time.Now()
	cmd := exec.Command("wrk", args...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		return result{}, fmt.Errorf("wrk: %v: %s (install it: apt-get install wrk)", err, out)
	}
	r := result{name: name, wall: time.Since(t0)}
	r.wrkCPU = cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	if pid != 0 {
		after, _ := cpuTime(pid)
		r.cpu = after - before
	}
	beAfter, _ := cpuTime(backendPid)
	r.backendCPU = beAfter - beBefore
	s := string(out)
	if m := reRPS.FindStringSubmatch(s); m != nil {
		r.rps, _ = strconv.ParseFloat(m[1], 64)
	}
	if m := reP99.FindStringSubmatch(s); m != nil {
		v, _ := strconv.ParseFloat(m[1], 64)
		unit := map[string]time.Duration{"us": time.Microsecond, "ms": time.Millisecond, "s": time.Second}[m[2]]
		r.p99 = time.Duration(v * float64(unit))
	}
	if m := reReqs.FindStringSubmatch(s); m != nil {
		r.requests, _ = strconv.ParseInt(m[1], 10, 64)
	}
	if m := reErr.FindAllString(s, -1); m != nil {
		r.errors = strings.Join(m, "; ")
	}
	if r.rps == 0 {
		return r, fmt.Errorf("wrk output not understood:\n%s", s)
	}
	return r, nil
}

func orchestrate(wasm, cpuprofile string, conns, threads int, d time.Duration, uninterruptible bool, proxyEnv []string) error {
	be, err := spawn(nil, "-role", "backend")
	if err != nil {
		return err
	}
	defer be.stop()
	var results []result
	r, err := wrk("direct", "http://"+be.addr+"/old/bench", threads, conns, d, 0, be.cmd.Process.Pid)
	if err != nil {
		return err
	}
	results = append(results, r)

	runs := []struct {
		name string
		args []string
	}{{"postern, no plugins", nil}}
	if wasm != "" {
		args := []string{"-wasm", wasm}
		if cpuprofile != "" {
			args = append(args, "-cpuprofile", cpuprofile)
		}
		runs = append(runs, struct {
			name string
			args []string
		}{"postern, route+rewrite plugins", args})
		if uninterruptible {
			runs = append(runs, struct {
				name string
				args []string
			}{"postern, same, uninterruptible", []string{"-wasm", wasm, "-uninterruptible"}})
		}
	}
	for _, run := range runs {
		px, err := spawn(proxyEnv, append([]string{"-role", "proxy", "-upstream", be.addr}, run.args...)...)
		if err != nil {
			return err
		}
		// Basic auth names user bob, whom the route plugin routes; the
		// rewrite plugin rewrites /old/bench to /new/bench with a header.
		r, err := wrk(run.name, "http://"+px.addr+"/old/bench", threads, conns, d, px.cmd.Process.Pid, be.cmd.Process.Pid,
			"Authorization: Basic Ym9iOng=")
		px.stop()
		if err != nil {
			return err
		}
		results = append(results, r)
	}

	direct := results[0]
	fmt.Printf("wrk -t%d -c%d -d%s --latency, 1 KiB responses, GOMAXPROCS=%s, proxy env %q, %d CPUs\n",
		threads, conns, d, os.Getenv("GOMAXPROCS"), strings.Join(proxyEnv, " "), runtime.NumCPU())
	fmt.Printf("%-32s %8s %6s %9s %7s %9s %9s %9s %9s %8s\n", "run", "req/s", "direct", "p99", "p99/dir",
		"proxy/req", "backend", "wrk/req", "total/req", "CPU used")
	perReq := func(d time.Duration, n int64) string {
		if d <= 0 || n <= 0 {
			return "-"
		}
		return (d / time.Duration(n)).Round(100 * time.Nanosecond).String()
	}
	for _, r := range results {
		total := r.cpu + r.backendCPU + r.wrkCPU
		fmt.Printf("%-32s %8.0f %5.0f%% %9s %6.2fx %9s %9s %9s %9s %7.0f%%", r.name, r.rps, 100*r.rps/direct.rps,
			r.p99.Round(10*time.Microsecond), float64(r.p99)/float64(direct.p99), perReq(r.cpu, r.requests),
			perReq(r.backendCPU, r.requests), perReq(r.wrkCPU, r.requests), perReq(total, r.requests),
			100*float64(total)/float64(r.wall)/float64(runtime.NumCPU()))
		if r.errors != "" {
			fmt.Printf("  (%s)", r.errors)
		}
		fmt.Println()
	}
	fmt.Println("CPU/req columns: each process's user+system time over the requests wrk completed;")
	fmt.Println("CPU used: the three processes' share of all CPUs during the run.")
	return nil
}
