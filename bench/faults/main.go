// Command faults is issue 11's fault test (make faults, bench/faults/run.sh):
// IMAP login load through `postern run` with the standard chain
// (login-normaliser -> throttle -> route-cache -> route-lookup) in front of
// two real Dovecot backends, with memcached and the auth_http lookup service
// (bench/mail/lookup, users split across the backends), and one fault per
// scenario, each with fresh processes:
//
//	baseline   no fault (the control)
//	plugin     each plugin file replaced by a new build while in use
//	sighup     SIGHUP three times
//	memcached  memcached stopped (SIGSTOP) for -stop, then resumed
//	lookup     the lookup service stopped for -stop, then resumed
//	backend    Dovecot "b" (the odd users) stopped for -stop, then resumed
//	idle       -idle pre-login connections opened and held
//
// The load is bench/mailload in open loop (-arrival-rate): each login
// connect, LOGIN, SELECT INBOX, ID NIL (which backend answered), LOGOUT,
// bounded by -timeout. A login fails when it is refused, errs, answers from
// the wrong backend or times out; a timeout of a user whose backend was
// stopped, started while it was stopped (from -timeout before the stop to
// -timeout after the resume), is "waited" instead. The run exits non-zero
// when any login failed or a fault could not be shown to have happened.
//
// Everything is on 127.0.0.1; every process is killed at the end (process
// groups, Pdeathsig). Logs of a failed scenario are kept.
package main

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

var allScenarios = []string{"baseline", "plugin", "sighup", "memcached", "lookup", "backend", "idle"}

// settle is how long the load goes on at least after a fault ended.
const settle = 5 * time.Second

var plugins = []string{"login-normaliser", "throttle", "route-cache", "route-lookup"}

type options struct {
	bin, postern, plugins, alt, out string
	users, idle, clients, inflight  int
	prelogin                        int
	rate                            float64
	dur, at, stop, timeout          time.Duration
	scenarios                       []string
	keep                            bool
}

func main() {
	var o options
	flag.StringVar(&o.bin, "bin", "build/faults", "directory holding mailload and lookup")
	flag.StringVar(&o.postern, "postern", "bin/postern", "the postern binary")
	flag.StringVar(&o.plugins, "plugins", "build/wasm/plugins", "the bundled plugins' .wasm (copied into each scenario's directory)")
	flag.StringVar(&o.alt, "alt", "build/faults/alt", "other builds of the same plugins, copied over the configured ones in the plugin scenario")
	flag.StringVar(&o.out, "out", "build/faults", "where work directories go")
	flag.IntVar(&o.users, "users", 200, "users u0..u(N-1), split across two backends (even: a, odd: b)")
	flag.Float64Var(&o.rate, "rate", 20, "logins started per second (open loop)")
	flag.IntVar(&o.inflight, "inflight", 2000, "at most this many logins in flight")
	flag.IntVar(&o.clients, "c", 8, "connections of the warm-up (each user logs in once)")
	flag.DurationVar(&o.dur, "d", 18*time.Second, "load per scenario")
	flag.DurationVar(&o.at, "at", 5*time.Second, "the fault starts this long into the load")
	flag.DurationVar(&o.stop, "stop", 6*time.Second, "how long a process stays stopped (SIGSTOP to SIGCONT); idle connections are held for twice that")
	flag.DurationVar(&o.timeout, "timeout", 20*time.Second, "each login cycle's bound: a login not done by then timed out")
	flag.IntVar(&o.idle, "idle", 10000, "pre-login idle connections of the idle scenario")
	flag.IntVar(&o.prelogin, "prelogin", 20000, "idle scenario: postern's mail.limits.max_prelogin (-1: postern's default, 5000, which refuses the flood and the logins arriving while it fills the cap)")
	scen := flag.String("scenarios", strings.Join(allScenarios, ","), "which scenarios, in this order")
	flag.BoolVar(&o.keep, "keep", false, "keep the work directory (configurations, logs, per-login records) even when every scenario passes")
	flag.Parse()
	o.scenarios = strings.FieldsFunc(*scen, func(r rune) bool { return r == ',' || r == ' ' })
	for _, s := range o.scenarios {
		if !contains(allScenarios, s) {
			fmt.Fprintf(os.Stderr, "faults: unknown scenario %q (%s)\n", s, strings.Join(allScenarios, ", "))
			os.Exit(2)
		}
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		fmt.Fprintf(os.Stderr, "faults: %v: stopping everything it started\n", s)
		stopAll()
		os.Exit(130)
	}()
	ok, err := run(o)
	stopAll()
	if err != nil {
		fmt.Fprintln(os.Stderr, "faults:", err)
		os.Exit(1)
	}
	if !ok {
		os.Exit(1)
	}
}

func contains(s []string, v string) bool {
	for _, x := range s {
		if x == v {
			return true
		}
	}
	return false
}

// result is one scenario's outcome.
type result struct {
	name                   string
	logins, failed, waited int
	waitedTimeouts         int     // of waited: timed out (the rest finished after the resume)
	waitedMax              float64 // ms, the longest waited login that finished
	p99, max               float64 // LOGIN command, ms, completed logins
	cycleP99, cycleMax     float64 // connect to LOGOUT
	windowP99              float64 // LOGIN, logins started during the fault
	reasons                map[string]int
	failedUsers            map[string]int
	problems, notes        []string
	samples                []string // a few failed logins
	err                    error
}

func (r result) verdict() string {
	switch {
	case r.err != nil:
		return "ERROR"
	case r.failed > 0 || len(r.problems) > 0:
		return "FAIL"
	}
	return "ok"
}

func run(o options) (bool, error) {
	if err := os.MkdirAll(o.out, 0o755); err != nil {
		return false, err
	}
	out, err := filepath.Abs(o.out)
	if err != nil {
		return false, err
	}
	dir, err := os.MkdirTemp(out, "work-")
	if err != nil {
		return false, err
	}
	// Dovecot's unprivileged processes read their files under it.
	if err := os.Chmod(dir, 0o755); err != nil {
		return false, err
	}
	fmt.Printf("faults: %d users on 2 Dovecot backends, %.0f logins/s open loop, %v per scenario (fault at %v, stopped %v), login timeout %v; work directory %s\n",
		o.users, o.rate, o.dur, o.at, o.stop, o.timeout, dir)
	var results []result
	allOK := true
	for _, name := range o.scenarios {
		sdir := filepath.Join(dir, name)
		t0 := time.Now()
		r := scenario(o, dir, sdir, name)
		stopAll()
		fmt.Print(r.report(time.Since(t0)))
		if r.verdict() != "ok" {
			allOK = false
		} else if !o.keep {
			os.RemoveAll(sdir)
		}
		results = append(results, r)
	}
	fmt.Print("\n" + table(results))
	if allOK && !o.keep {
		os.RemoveAll(dir)
	} else {
		fmt.Println("faults: configurations, logs and per-login records kept in", dir)
	}
	return allOK, nil
}

// env is one scenario's processes.
type env struct {
	o               options
	scenario        string
	dir, cache      string
	mcPort, lkPort  int
	imap, admin     int
	mc, lookup, pst *child
	backends        []*dovecot
}

func (e *env) log(name string) string { return filepath.Join(e.dir, name+".log") }

func (e *env) start() error {
	var err error
	for _, p := range []*int{&e.mcPort, &e.lkPort, &e.imap, &e.admin} {
		if *p, err = freePort(); err != nil {
			return err
		}
	}
	mcArgs := []string{"memcached", "-l", "127.0.0.1", "-p", strconv.Itoa(e.mcPort), "-U", "0", "-m", "64", "-c", "8192"}
	if os.Geteuid() == 0 {
		mcArgs = append(mcArgs, "-u", "root") // memcached refuses root without it
	}
	if e.mc, err = spawn("memcached", e.log("memcached"), nil, mcArgs...); err != nil {
		return fmt.Errorf("%w (apt-get install memcached)", err)
	}
	for i, name := range []string{"a", "b"} {
		d, err := startDovecot(filepath.Join(e.dir, "dovecot-"+name), name, backendUsers(i, 2, e.o.users))
		if err != nil {
			return err
		}
		e.backends = append(e.backends, d)
	}
	ports := strconv.Itoa(e.backends[0].imap) + "," + strconv.Itoa(e.backends[1].imap)
	if e.lookup, err = spawn("lookup", e.log("lookup"), nil, filepath.Join(e.o.bin, "lookup"), "-addr", addr(e.lkPort),
		"-imap", ports, "-pop3", ports, "-users", strconv.Itoa(e.o.users)); err != nil {
		return err
	}
	if err := waitPort(e.mc, e.mcPort, e.log("memcached")); err != nil {
		return err
	}
	if err := waitPort(e.lookup, e.lkPort, e.log("lookup")); err != nil {
		return err
	}
	// The plugins are copies, so the plugin scenario replaces files of its
	// own, never build/wasm/plugins.
	pdir := filepath.Join(e.dir, "plugins")
	os.MkdirAll(pdir, 0o755)
	for _, p := range plugins {
		b, err := os.ReadFile(filepath.Join(e.o.plugins, p+".wasm"))
		if err != nil {
			return fmt.Errorf("%v: run make build plugins", err)
		}
		if err := os.WriteFile(filepath.Join(pdir, p+".wasm"), b, 0o644); err != nil {
			return err
		}
	}
	cf := filepath.Join(e.dir, "postern.yaml")
	if err := os.WriteFile(cf, []byte(e.posternConfig(pdir)), 0o644); err != nil {
		return err
	}
	check := exec.Command(e.o.postern, "check", "-c", cf)
	check.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if out, err := check.CombinedOutput(); err != nil {
		return fmt.Errorf("postern check -c %s: %v\n%s", cf, err, out)
	}
	if e.pst, err = spawn("postern", e.log("postern"), nil, e.o.postern, "run", "-c", cf); err != nil {
		return err
	}
	for _, p := range []int{e.imap, e.admin} {
		if err := waitPort(e.pst, p, e.log("postern")); err != nil {
			return err
		}
	}
	return nil
}

// posternConfig is the standard deployment (bench/mail's): the four bundled
// plugins in chain order, memcached, throttle limits never reached, an
// IMAP listener, the admin API; the timeouts are the defaults.
func (e *env) posternConfig(pdir string) string {
	p := func(name string) string { return filepath.Join(pdir, name+".wasm") }
	limits := ""
	if e.scenario == "idle" && e.o.prelogin >= 0 {
		// The default pre-login cap (5,000 per listener) would refuse half
		// the flood and, while it is full, every new login: the trade-off
		// RATIONALE.md ("Connection limits") describes. Raised, the
		// scenario shows that the node itself survives the flood.
		limits = fmt.Sprintf("  limits: {max_prelogin: %d}\n", e.o.prelogin)
	}
	return fmt.Sprintf(`# generated by bench/faults: the standard chain, throttle limits high enough never to refuse
cache_dir: %q
log: {level: info}
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
%sadmin:
  address: %q
`, e.cache, addr(e.mcPort), p("login-normaliser"), p("throttle"), p("route-cache"), p("route-lookup"),
		addr(e.lkPort), addr(e.lkPort), addr(e.imap), limits, addr(e.admin))
}

func (e *env) lookups() int64 {
	c := http.Client{Timeout: 2 * time.Second}
	resp, err := c.Get("http://" + addr(e.lkPort) + "/stats")
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

// mailload runs the load generator to its end and returns its JSON result.
func (e *env) mailload(name string, args ...string) (map[string]any, error) {
	args = append([]string{filepath.Join(e.o.bin, "mailload"), "-addr", addr(e.imap), "-users", strconv.Itoa(e.o.users), "-user", "u%d"}, args...)
	outPath := filepath.Join(e.dir, name+".json")
	f, err := os.Create(outPath)
	if err != nil {
		return nil, err
	}
	c, err := spawn(name, e.log(name), f, args...)
	if err != nil {
		f.Close()
		return nil, err
	}
	<-c.done
	f.Close()
	return lastJSON(outPath)
}

func lastJSON(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var m map[string]any
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &m); err != nil {
		return nil, fmt.Errorf("%s: %v: %q", path, err, b)
	}
	return m, nil
}

func num(m map[string]any, k string) float64 {
	v, _ := m[k].(float64)
	return v
}

// fault is what a scenario did: when, and to whom.
type fault struct {
	from, to time.Time // the fault's window
	backend  string    // the stopped backend, if any
}

func scenario(o options, root, dir, name string) (r result) {
	r.name = name
	if err := os.MkdirAll(dir, 0o755); err != nil {
		r.err = err
		return r
	}
	e := &env{o: o, scenario: name, dir: dir, cache: filepath.Join(root, "postern-cache")}
	if err := e.start(); err != nil {
		r.err = err
		return r
	}
	// Warm-up, not counted: every user logs in once, so route-cache holds
	// every route, as in steady production.
	warm, err := e.mailload("warmup", "-mode", "login", "-c", strconv.Itoa(o.clients), "-n", strconv.Itoa(o.users),
		"-d", "120s", "-timeout", "30s", "-id-field", "x-backend")
	if err != nil {
		r.err = fmt.Errorf("warm-up: %w", err)
		return r
	}
	if n := num(warm, "errors"); n > 0 {
		r.err = fmt.Errorf("warm-up: %.0f of %d logins failed, first: %v", n, o.users, warm["first_error"])
		return r
	}
	m0, l0 := metrics(e.admin), e.lookups()

	// The load, in the background; the fault at -at.
	loginsPath := filepath.Join(dir, "logins.jsonl")
	loadOut := filepath.Join(dir, "load.json")
	lf, err := os.Create(loadOut)
	if err != nil {
		r.err = err
		return r
	}
	load, err := spawn("load", e.log("load"), lf, filepath.Join(o.bin, "mailload"), "-addr", addr(e.imap),
		"-users", strconv.Itoa(o.users), "-user", "u%d", "-mode", "login",
		"-arrival-rate", strconv.FormatFloat(o.rate, 'f', -1, 64), "-c", strconv.Itoa(o.inflight),
		"-timeout", o.timeout.String(), "-d", (o.dur + 5*time.Minute).String(), "-id-field", "x-backend", "-per-user", "-log", loginsPath)
	if err != nil {
		lf.Close()
		r.err = err
		return r
	}
	start := time.Now()
	mon := watchMachine()
	probe := e.watchPostern(start, filepath.Join(dir, "postern-timeline.tsv"))
	time.Sleep(o.at)
	f, check, err := e.inject(name, &r)
	if err != nil {
		load.stop()
		lf.Close()
		r.err = fmt.Errorf("injecting %s: %w", name, err)
		return r
	}
	// The load runs for -d, and at least settle past the fault's end (a
	// slow reload), then mailload stops starting logins (SIGTERM) and
	// finishes those in flight.
	end := start.Add(o.dur)
	if e := f.to.Add(settle); e.After(end) {
		end = e
		r.notes = append(r.notes, fmt.Sprintf("the fault ended %v into the load: load extended to %v", f.to.Sub(start).Round(time.Millisecond), end.Sub(start).Round(time.Second)))
	}
	time.Sleep(time.Until(end))
	load.cmd.Process.Signal(syscall.SIGTERM)
	if !load.wait(o.timeout + 30*time.Second) {
		r.problems = append(r.problems, "the load generator did not finish in time")
	}
	lf.Close()
	r.notes = append(r.notes, mon(), probe())
	if check != nil {
		check()
	}
	m1, l1 := metrics(e.admin), e.lookups()

	// Postern must still be up, and must not have panicked.
	if e.pst.exited() {
		r.problems = append(r.problems, fmt.Sprintf("postern exited: %v", e.pst.err))
	}
	if b, _ := os.ReadFile(e.log("postern")); strings.Contains(string(b), "panic") {
		r.problems = append(r.problems, "postern's log has a panic: "+e.log("postern"))
	}
	classify(o, loginsPath, f, &r)
	if res, err := lastJSON(loadOut); err == nil {
		if late := num(res, "late"); late > 0 {
			r.notes = append(r.notes, fmt.Sprintf("%.0f arrivals waited for one of the %d slots (the load was not open loop throughout)", late, o.inflight))
		}
	} else {
		r.problems = append(r.problems, "load generator: "+err.Error())
	}
	if m0 != nil && m1 != nil {
		d := func(name string, labels ...string) float64 {
			return sum(m1, name, labels...) - sum(m0, name, labels...)
		}
		r.notes = append(r.notes, fmt.Sprintf("postern: %.0f store errors, %.0f plugin failures, %.0f upstream errors, %.0f plugin reloads, %.0f config reloads (ok); lookups answered by the lookup service: %d",
			d("postern_store_errors_total"), d("postern_plugin_failures_total"), d("postern_mail_upstream_errors_total"),
			d("postern_plugin_reloads_total"), d("postern_config_reloads_total", `result="ok"`), l1-l0))
		if name == "sighup" {
			if n := d("postern_config_reloads_total", `result="ok"`); n < 3 {
				r.problems = append(r.problems, fmt.Sprintf("3 SIGHUPs sent, %.0f configuration reloads succeeded (postern_config_reloads_total)", n))
			}
		}
		if name == "memcached" && d("postern_store_errors_total") == 0 {
			r.problems = append(r.problems, "memcached was stopped but postern counted no store error: the fault did not reach it")
		}
	} else {
		r.problems = append(r.problems, "postern's /metrics could not be read at the end")
	}
	return r
}

// inject starts the scenario's fault and returns its window; check, when
// set, runs after the load to verify the fault took effect.
func (e *env) inject(name string, r *result) (f fault, check func(), err error) {
	o := e.o
	f.from = time.Now()
	switch name {
	case "baseline":
		f.to = f.from
	case "plugin":
		// Each plugin file in turn replaced by another build, in place
		// (open, truncate, write: what cp does), 2 s apart, so that the
		// watcher may see a partial file before the whole one.
		want := map[string]string{}
		for i, p := range plugins {
			if i > 0 {
				time.Sleep(2 * time.Second)
			}
			b, err := os.ReadFile(filepath.Join(o.alt, p+".wasm"))
			if err != nil {
				return f, nil, fmt.Errorf("%v (bench/faults/run.sh builds them)", err)
			}
			old, _ := os.ReadFile(filepath.Join(e.dir, "plugins", p+".wasm"))
			if sha(old) == sha(b) {
				return f, nil, fmt.Errorf("%s: the other build is byte for byte the configured one", p)
			}
			if err := copyInPlace(filepath.Join(e.dir, "plugins", p+".wasm"), b); err != nil {
				return f, nil, err
			}
			want[p] = sha(b)
		}
		// The fault lasts until every new build serves: a reload compiles
		// it (seconds on a busy machine) and reloads run one at a time.
		// Wait up to 2 minutes, while the load goes on.
		var loaded map[string]string
		for deadline := time.Now().Add(2 * time.Minute); ; time.Sleep(100 * time.Millisecond) {
			loaded = e.pluginSHAs()
			same := true
			for _, p := range plugins {
				same = same && loaded[p] == want[p]
			}
			if same || time.Now().After(deadline) {
				break
			}
		}
		f.to = time.Now()
		missing := 0
		for _, p := range plugins {
			if loaded[p] != want[p] {
				missing++
				r.problems = append(r.problems, fmt.Sprintf("plugin %s: the new build (sha256 %.12s) was not loaded 2 minutes after the swap (loaded: %.12s)", p, want[p], loaded[p]))
			}
		}
		if missing == 0 {
			r.notes = append(r.notes, fmt.Sprintf("every plugin's new build served (GET /plugins sha256) %v after the first file was replaced", f.to.Sub(f.from).Round(time.Millisecond)))
		}
	case "sighup":
		for i := 0; i < 3; i++ {
			if i > 0 {
				time.Sleep(time.Second)
			}
			if err := syscall.Kill(e.pst.pid(), syscall.SIGHUP); err != nil {
				return f, nil, err
			}
		}
		f.to = time.Now()
	case "memcached", "lookup", "backend":
		c := map[string]*child{"memcached": e.mc, "lookup": e.lookup, "backend": e.backends[1].proc}[name]
		if name == "backend" {
			f.backend = e.backends[1].name
		}
		if err := c.signalGroup(syscall.SIGSTOP); err != nil {
			return f, nil, err
		}
		time.Sleep(o.stop)
		if err := c.signalGroup(syscall.SIGCONT); err != nil {
			return f, nil, err
		}
		f.to = time.Now()
		r.notes = append(r.notes, fmt.Sprintf("%s (process group %d) stopped for %v", c.name, c.pid(), f.to.Sub(f.from).Round(time.Millisecond)))
	case "idle":
		hold := 2 * o.stop
		pr, pw := io.Pipe()
		c, err := spawn("idle", e.log("idle"), pw, filepath.Join(o.bin, "mailload"), "-addr", addr(e.imap), "-mode", "idle",
			"-c", strconv.Itoa(o.idle), "-hold", hold.String())
		if err != nil {
			return f, nil, err
		}
		lines := make(chan string, 4)
		go func() {
			sc := bufio.NewScanner(pr)
			for sc.Scan() {
				lines <- sc.Text()
			}
			close(lines)
		}()
		go func() { <-c.done; pw.Close() }()
		var opened time.Duration
		select {
		case <-lines:
			opened = time.Since(f.from)
		case <-time.After(2 * time.Minute):
			return f, nil, errors.New("idle connections not open after 2 minutes")
		}
		f.to = f.from.Add(opened + hold)
		check = func() {
			c.wait(time.Minute)
			var res map[string]any
			for l := range lines {
				json.Unmarshal([]byte(l), &res)
			}
			held := int(num(res, "held"))
			note := fmt.Sprintf("%d of %d idle pre-login connections held (opened in %v), %.0f refused by a greeting other than * OK",
				held, o.idle, opened.Round(time.Millisecond), num(res, "refused"))
			if res["reasons"] != nil {
				note += fmt.Sprintf("; failures by reason %v, first: %v", res["reasons"], res["first_error"])
			}
			if o.prelogin >= 0 {
				note += fmt.Sprintf(" (mail.limits.max_prelogin: %d)", o.prelogin)
			}
			r.notes = append(r.notes, note)
			if held < o.idle {
				r.problems = append(r.problems, fmt.Sprintf("only %d of %d idle connections were held (%v)", held, o.idle, res["first_error"]))
			}
		}
	}
	return f, check, nil
}

func copyInPlace(path string, b []byte) error {
	fh, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	// Two writes with a pause: the watcher sees a truncated file first.
	half := len(b) / 2
	if _, err := fh.Write(b[:half]); err != nil {
		fh.Close()
		return err
	}
	time.Sleep(20 * time.Millisecond)
	if _, err := fh.Write(b[half:]); err != nil {
		fh.Close()
		return err
	}
	return fh.Close()
}

func sha(b []byte) string {
	s := sha256.Sum256(b)
	return hex.EncodeToString(s[:])
}

// pluginSHAs reads GET /plugins: plugin name -> the sha256 it runs.
func (e *env) pluginSHAs() map[string]string {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr(e.admin) + "/plugins")
	if err != nil {
		return nil
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var list []struct {
		Name   string `json:"name"`
		SHA256 string `json:"sha256"`
	}
	if json.Unmarshal(b, &list) != nil {
		var wrapped struct {
			Plugins []struct {
				Name   string `json:"name"`
				SHA256 string `json:"sha256"`
			} `json:"plugins"`
		}
		json.Unmarshal(b, &wrapped)
		for _, p := range wrapped.Plugins {
			list = append(list, struct {
				Name   string `json:"name"`
				SHA256 string `json:"sha256"`
			}{p.Name, p.SHA256})
		}
	}
	m := map[string]string{}
	for _, p := range list {
		m[p.Name] = p.SHA256
	}
	return m
}

// A login of the per-login log (mailload -log).
type login struct {
	Start   float64 `json:"start"`
	User    string  `json:"user"`
	OK      bool    `json:"ok"`
	Step    string  `json:"step"`
	Reason  string  `json:"reason"`
	Error   string  `json:"error"`
	Ms      float64 `json:"ms"`
	LoginMs float64 `json:"login_ms"`
	Backend string  `json:"backend"`
}

// expected is the backend the lookup service routes user uN to.
func expected(user string) string {
	n, err := strconv.Atoi(strings.TrimPrefix(user, "u"))
	if err != nil || !strings.HasPrefix(user, "u") {
		return "?"
	}
	return []string{"a", "b"}[n%2]
}

func classify(o options, path string, f fault, r *result) {
	fh, err := os.Open(path)
	if err != nil {
		r.problems = append(r.problems, "no per-login records: "+err.Error())
		return
	}
	defer fh.Close()
	r.reasons, r.failedUsers = map[string]int{}, map[string]int{}
	var lat, cycle, window, waitedMs []float64
	sc := bufio.NewScanner(fh)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var l login
		if err := json.Unmarshal(sc.Bytes(), &l); err != nil {
			continue
		}
		start := time.UnixMicro(int64(l.Start * 1e6))
		end := start.Add(time.Duration(l.Ms * float64(time.Millisecond)))
		want := expected(l.User)
		reason := l.Reason
		// A login of the stopped backend's user waited when the stop held
		// it: it was in flight at the resume, or it timed out having
		// started between -timeout before the stop and -timeout after the
		// resume (connections queued while it was stopped are served after).
		stoppedUser := f.backend != "" && want == f.backend
		if stoppedUser && l.OK && l.Backend == want && start.Before(f.to) && end.After(f.to) {
			r.waited++
			waitedMs = append(waitedMs, l.Ms)
			continue
		}
		if stoppedUser && !l.OK && reason == "timeout" && !start.Before(f.from.Add(-o.timeout)) && !start.After(f.to.Add(o.timeout)) {
			r.waited++
			r.waitedTimeouts++
			continue
		}
		if l.OK {
			if l.Backend == want {
				r.logins++
				lat, cycle = append(lat, l.LoginMs), append(cycle, l.Ms)
				if !start.Before(f.from) && !start.After(f.to) {
					window = append(window, l.LoginMs)
				}
				continue
			}
			reason = "wrong-backend"
			l.Error = fmt.Sprintf("served by backend %q, routed to %q by the lookup service", l.Backend, want)
		}
		r.failed++
		r.reasons[reason]++
		r.failedUsers[l.User]++
		if len(r.samples) < 5 {
			r.samples = append(r.samples, fmt.Sprintf("%s %s (backend %s) at %+.2fs from the fault: [%s] %s",
				start.Format("15:04:05.000"), l.User, want, start.Sub(f.from).Seconds(), reason, l.Error))
		}
	}
	r.waitedMax = pct(waitedMs, 100)
	r.p99, r.max = pct(lat, 99), pct(lat, 100)
	r.cycleP99, r.cycleMax = pct(cycle, 99), pct(cycle, 100)
	r.windowP99 = pct(window, 99)
	if r.logins == 0 {
		r.problems = append(r.problems, "no login completed")
	}
}

func pct(v []float64, p int) float64 {
	if len(v) == 0 {
		return 0
	}
	sort.Float64s(v)
	return v[min(len(v)-1, len(v)*p/100)]
}

func (r result) report(took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "\n== %s (%v): %s\n", r.name, took.Round(time.Second), r.verdict())
	if r.err != nil {
		fmt.Fprintf(&b, "   error: %v\n", r.err)
		return b.String()
	}
	fmt.Fprintf(&b, "   logins %d (not waited), failed %d, waited %d; LOGIN p99 %.1f ms, max %.1f ms (during the fault: p99 %.1f ms); connect to LOGOUT p99 %.1f ms, max %.1f ms\n",
		r.logins, r.failed, r.waited, r.p99, r.max, r.windowP99, r.cycleP99, r.cycleMax)
	if r.waited > 0 {
		fmt.Fprintf(&b, "   waited: %d logins of the stopped backend's users, %d timed out, the others finished after the resume (longest %.0f ms)\n",
			r.waited, r.waitedTimeouts, r.waitedMax)
	}
	if r.failed > 0 {
		fmt.Fprintf(&b, "   failed by reason: %v; %d users failed\n", r.reasons, len(r.failedUsers))
		for _, s := range r.samples {
			fmt.Fprintf(&b, "     %s\n", s)
		}
	}
	for _, n := range r.notes {
		fmt.Fprintf(&b, "   %s\n", n)
	}
	for _, p := range r.problems {
		fmt.Fprintf(&b, "   PROBLEM: %s\n", p)
	}
	return b.String()
}

func table(rs []result) string {
	var b strings.Builder
	b.WriteString("| scenario | logins | failed | waited | LOGIN p99 | LOGIN max | verdict |\n")
	b.WriteString("|---|---|---|---|---|---|---|\n")
	for _, r := range rs {
		if r.err != nil {
			fmt.Fprintf(&b, "| %s | – | – | – | – | – | ERROR |\n", r.name)
			continue
		}
		fmt.Fprintf(&b, "| %s | %d | %d | %d | %.1f ms | %.1f ms | %s |\n", r.name, r.logins, r.failed, r.waited, r.p99, r.max, r.verdict())
	}
	return b.String()
}

// watchMachine measures, until the returned function is called, how late
// this process's 50 ms sleeps wake up (the machine's scheduling stalls,
// which delay every process of the test alike) and the CPU pressure
// (/proc/pressure/cpu "some": the share of time runnable tasks waited for
// a CPU). The function returns a line for the report.
func watchMachine() func() string {
	done := make(chan struct{})
	res := make(chan time.Duration, 1)
	p0, t0 := cpuPressure(), time.Now()
	go func() {
		var worst time.Duration
		for {
			select {
			case <-done:
				res <- worst
				return
			default:
			}
			t := time.Now()
			time.Sleep(50 * time.Millisecond)
			worst = max(worst, time.Since(t)-50*time.Millisecond)
		}
	}()
	return func() string {
		close(done)
		worst := <-res
		s := fmt.Sprintf("machine during the load: this driver's 50 ms sleeps woke up to %v late", worst.Round(time.Millisecond))
		if p1 := cpuPressure(); p0 >= 0 && p1 >= 0 {
			s += fmt.Sprintf("; CPU pressure (some) %.0f%% of the time", float64(p1-p0)/float64(time.Since(t0).Microseconds())*100)
		}
		return s
	}
}

// cpuPressure returns /proc/pressure/cpu's "some" total (µs), or -1.
func cpuPressure() int64 {
	b, err := os.ReadFile("/proc/pressure/cpu")
	if err != nil {
		return -1
	}
	line, _, _ := strings.Cut(string(b), "\n")
	_, v, ok := strings.Cut(line, "total=")
	if !ok {
		return -1
	}
	n, err := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
	if err != nil {
		return -1
	}
	return n
}

// watchPostern asks Postern's admin API for /healthz every 250 ms until the
// returned function is called, and reads Postern's CPU time
// (/proc/PID/stat): a stall of Postern alone shows as /healthz answering
// late while this driver wakes on time; a busy Postern as CPU near two
// cores, a blocked or starved one as CPU near zero. Each sample goes to
// path (t_s, healthz_ms, postern_cpu_ms in the interval); the function
// returns a line for the report.
func (e *env) watchPostern(start time.Time, path string) func() string {
	done := make(chan struct{})
	res := make(chan string, 1)
	go func() {
		f, _ := os.Create(path)
		if f != nil {
			defer f.Close()
			fmt.Fprintln(f, "t_s\thealthz_ms\tpostern_cpu_ms")
		}
		c := http.Client{Timeout: 60 * time.Second}
		var worst time.Duration
		var worstAt time.Duration
		cpu0 := procCPU(e.pst.pid())
		prev := cpu0
		for {
			select {
			case <-done:
				res <- fmt.Sprintf("postern during the load: /healthz answered within %v at worst (%v into the load); %v of CPU",
					worst.Round(time.Millisecond), worstAt.Round(100*time.Millisecond), (procCPU(e.pst.pid()) - cpu0).Round(10*time.Millisecond))
				return
			default:
			}
			t := time.Now()
			lat := time.Duration(-1)
			if resp, err := c.Get("http://" + addr(e.admin) + "/healthz"); err == nil {
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat = time.Since(t)
			}
			if lat > worst {
				worst, worstAt = lat, t.Sub(start)
			}
			cpu := procCPU(e.pst.pid())
			if f != nil {
				fmt.Fprintf(f, "%.2f\t%.1f\t%d\n", t.Sub(start).Seconds(), float64(lat.Microseconds())/1000, (cpu - prev).Milliseconds())
			}
			prev = cpu
			time.Sleep(250*time.Millisecond - time.Since(t))
		}
	}()
	return func() string {
		close(done)
		return <-res
	}
}

// procCPU returns the user+system CPU time of pid (10 ms ticks).
func procCPU(pid int) time.Duration {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0
	}
	i := strings.LastIndexByte(string(b), ')')
	if i < 0 || i+2 > len(b) {
		return 0
	}
	f := strings.Fields(string(b[i+2:]))
	if len(f) < 13 {
		return 0
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond
}
