// Command mailload is the mail front end's load generator: it runs in its
// own process, against Postern, nginx's mail proxy or directly against a
// mailbox server, and prints one JSON line of results (the last line of its
// output). Every run is bounded by -d and -n (hold mode: by -hold or a
// SIGTERM).
//
//	mailload -addr 127.0.0.1:1143 -mode login -c 16 -d 10s -user bob -pass secret
//	mailload -addr 127.0.0.1:1143 -mode login -c 16 -d 10s -users 1000   # logins u0..u999
//	mailload -addr 127.0.0.1:1110 -proto pop3 -mode login -c 16 -d 10s -users 1000
//	mailload -addr 127.0.0.1:1143 -mode fetch -c 4 -d 10s ...   # FETCH 1 BODY[] repeated
//	mailload -addr 127.0.0.1:1143 -mode hold -c 2000 -hold 10s  # logged-in idle sessions
//	mailload -url http://127.0.0.1:8080/ -mode http -c 4 -rate 50 -d 60s
//	mailload -addr 127.0.0.1:1143 -mode idle -c 10000 -hold 20s  # pre-login idle connections
//	mailload -addr 127.0.0.1:1143 -mode login -arrival-rate 100 -c 2000 -timeout 5s \
//	    -users 200 -id-field x-backend -log logins.jsonl -d 20s   # fault tests (bench/faults)
//
// Modes: login (IMAP: connect, greeting, LOGIN, SELECT INBOX, LOGOUT per
// op; POP3: connect, greeting, USER, PASS, STAT, QUIT), fetch (one IMAP
// login per connection, then FETCH 1 BODY[] per op), hold (log in -c
// sessions, keep them idle for -hold or until SIGTERM/SIGINT, then close
// them), idle (open -c connections and read the greeting, never log in;
// keep them for -hold or until SIGTERM/SIGINT), http (GET -url per op on
// keep-alive connections, 200 expected).
//
// -users N makes op i log in as the -user template with i mod N (the
// template's %d; "u%d" when it has none). -rate paces each connection to at
// most that many ops per second. -every prints a line per interval
// ({"interval":...}) before the final result, for long runs.
//
// Fault tests (login mode): -arrival-rate R starts R logins per second
// whatever the earlier ones are doing (open loop: a hung server does not
// slow the logins of other users; -c caps the logins in flight), -timeout D
// bounds each login cycle from connect to LOGOUT (a cycle not done by then
// fails with reason "timeout"), -id-field F sends IMAP "ID NIL" after
// SELECT and records the server's value of ID field F (which backend
// served the login), -log FILE writes one JSON line per login ({"start":
// unix seconds, "user", "ok", "step", "reason", "error", "ms", "login_ms",
// "backend"}), and -per-user adds failed_users (user -> reason -> count)
// to the result. Every failed op has a reason, counted in the result's
// "reasons": connect (no TCP connection), greeting (not * OK / +OK),
// refused (the login command answered NO/BAD/-ERR), command (another
// command failed), timeout, closed (EOF or reset), error (anything else).
//
// Latencies: p50_ms/p99_ms are whole ops (for login: the cycle from connect
// to LOGOUT's OK); login_p50_ms/login_p99_ms are the login command alone
// (IMAP LOGIN; POP3 USER and PASS), from its write to its OK, which is where
// a proxy does its work.
package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

type result struct {
	Mode       string  `json:"mode"`
	Proto      string  `json:"proto"`
	Addr       string  `json:"addr"`
	Conc       int     `json:"concurrency"`
	Ops        int64   `json:"ops"`
	Errors     int64   `json:"errors"`
	Seconds    float64 `json:"seconds"`
	OpsPerSec  float64 `json:"ops_per_sec"`
	P50ms      float64 `json:"p50_ms"`
	P99ms      float64 `json:"p99_ms"`
	LoginP50ms float64 `json:"login_p50_ms,omitempty"`
	LoginP99ms float64 `json:"login_p99_ms,omitempty"`
	MaxMs      float64 `json:"max_ms,omitempty"`
	LoginMaxMs float64 `json:"login_max_ms,omitempty"`
	MBPerSec   float64 `json:"mb_per_sec,omitempty"`
	Held       int64   `json:"held,omitempty"`
	FirstErr   string  `json:"first_error,omitempty"`
	// Reasons counts failed ops by reason (see the package comment).
	Reasons map[string]int64 `json:"reasons,omitempty"`
	// FailedUsers (-per-user): user -> reason -> failed ops.
	FailedUsers map[string]map[string]int64 `json:"failed_users,omitempty"`
	// Late (-arrival-rate): arrivals that waited for a slot because -c
	// logins were in flight.
	Late int64 `json:"late,omitempty"`
	// Refused (idle mode): connections whose greeting was not OK (a
	// connection limit's BYE or -ERR).
	Refused int64 `json:"refused,omitempty"`
}

// interval is one -every line.
type interval struct {
	Interval  int     `json:"interval"`
	T         float64 `json:"t"`
	Ops       int64   `json:"ops"`
	Errors    int64   `json:"errors"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
}

// stats collects latencies from every worker.
type stats struct {
	mu       sync.Mutex
	lat      []time.Duration
	loginLat []time.Duration
	ivLat    []time.Duration // since the last interval line
	ivErrs   int64
	errs     atomic.Int64
	first    atomic.Value
	reasons  map[string]int64
	users    map[string]map[string]int64 // -per-user
}

func (s *stats) op(d, login time.Duration) {
	s.mu.Lock()
	s.lat = append(s.lat, d)
	s.ivLat = append(s.ivLat, d)
	if login > 0 {
		s.loginLat = append(s.loginLat, login)
	}
	s.mu.Unlock()
}

func (s *stats) fail(err error) { s.failUser("", err) }

// failUser counts a failed op by reason, and by user when -per-user.
func (s *stats) failUser(user string, err error) {
	s.errs.Add(1)
	s.first.CompareAndSwap(nil, err.Error())
	r := reasonOf(err)
	s.mu.Lock()
	if s.reasons == nil {
		s.reasons = map[string]int64{}
	}
	s.reasons[r]++
	if s.users != nil && user != "" {
		m := s.users[user]
		if m == nil {
			m = map[string]int64{}
			s.users[user] = m
		}
		m[r]++
	}
	s.mu.Unlock()
}

func main() {
	addr := flag.String("addr", "127.0.0.1:1143", "IMAP or POP3 server address")
	proto := flag.String("proto", "imap", "imap | pop3")
	mode := flag.String("mode", "login", "login | fetch | hold | http")
	conc := flag.Int("c", 8, "concurrent connections")
	dur := flag.Duration("d", 10*time.Second, "run for at most this long")
	maxOps := flag.Int64("n", 1_000_000_000, "stop after this many operations")
	user := flag.String("user", "bob@example.com", "login, or a template with %d when -users is set")
	users := flag.Int("users", 0, "rotate through this many users (the -user template's %d: 0..N-1)")
	pass := flag.String("pass", "secret", "password")
	useTLS := flag.Bool("tls", false, "implicit TLS (certificate not verified: benchmarks only)")
	hold := flag.Duration("hold", 10*time.Second, "hold mode: how long to keep the sessions (a SIGTERM ends it sooner)")
	rate := flag.Float64("rate", 0, "at most this many ops per second per connection (0: no limit)")
	every := flag.Duration("every", 0, "print an interval line this often (0: none)")
	url := flag.String("url", "", "http mode: the URL to GET")
	arrival := flag.Float64("arrival-rate", 0, "login mode: start this many logins per second in all, open loop, at most -c in flight (0: -c connections each looping)")
	timeout := flag.Duration("timeout", 0, "login mode: each login cycle, connect to LOGOUT, must end within this (0: 10 s to connect, then 60 s per session)")
	idField := flag.String("id-field", "", "IMAP login mode: send ID NIL after SELECT and record this field of the server's ID answer")
	logPath := flag.String("log", "", "login mode: write one JSON line per login to this file")
	perUser := flag.Bool("per-user", false, "add failed_users (user -> reason -> count) to the result")
	flag.Parse()

	l := &loader{addr: *addr, pass: *pass, tls: *useTLS, pop3: *proto == "pop3", timeout: *timeout, idField: *idField}
	if *idField != "" && l.pop3 {
		fmt.Fprintln(os.Stderr, "mailload: -id-field is IMAP only")
		os.Exit(2)
	}
	if *proto != "imap" && *proto != "pop3" {
		fmt.Fprintln(os.Stderr, "mailload: -proto must be imap or pop3")
		os.Exit(2)
	}
	if *users > 0 {
		tmpl := *user
		if !strings.Contains(tmpl, "%d") {
			tmpl = "u%d"
		}
		l.users = make([]string, *users)
		for i := range l.users {
			l.users[i] = fmt.Sprintf(tmpl, i)
		}
	} else {
		l.users = []string{*user}
	}
	res := result{Mode: *mode, Proto: *proto, Addr: *addr, Conc: *conc}
	if *mode == "http" {
		res.Addr = *url
	}
	start := time.Now()
	deadline := start.Add(*dur)
	var wg sync.WaitGroup
	st := &stats{}
	if *perUser {
		st.users = map[string]map[string]int64{}
	}
	var logw *loginLog
	if *logPath != "" {
		f, err := os.Create(*logPath)
		if err != nil {
			fmt.Fprintln(os.Stderr, "mailload:", err)
			os.Exit(2)
		}
		logw = &loginLog{w: bufio.NewWriterSize(f, 64<<10), f: f}
	}
	var ops, bytesRead atomic.Int64
	var late atomic.Int64
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGTERM, syscall.SIGINT)
	var stopped atomic.Bool
	go func() { <-stop; stopped.Store(true) }()
	running := func() bool {
		return !stopped.Load() && time.Now().Before(deadline)
	}
	// pace sleeps so that a connection does at most -rate ops per second.
	pace := func(t0 time.Time) {
		if *rate > 0 {
			if d := time.Duration(float64(time.Second) / *rate) - time.Since(t0); d > 0 {
				time.Sleep(d)
			}
		}
	}
	if *every > 0 && *mode != "hold" {
		go func() {
			tk := time.NewTicker(*every)
			defer tk.Stop()
			n := 0
			for range tk.C {
				n++
				st.mu.Lock()
				iv := st.ivLat
				st.ivLat = nil
				st.mu.Unlock()
				e := st.errs.Load()
				line := interval{Interval: n, T: time.Since(start).Seconds(), Ops: int64(len(iv)), Errors: e - st.ivErrs,
					OpsPerSec: float64(len(iv)) / every.Seconds()}
				st.ivErrs = e
				line.P50ms, line.P99ms = pct(iv, 50), pct(iv, 99)
				b, _ := json.Marshal(line)
				os.Stdout.Write(append(b, '\n'))
			}
		}()
	}
	switch *mode {
	case "login":
		// one runs login n and records it.
		one := func(n int64) bool {
			t0 := time.Now()
			user := l.user(int(n - 1))
			loginLat, backend, err := l.loginCycle(int(n - 1))
			logw.write(t0, user, loginLat, backend, err)
			if err != nil {
				st.failUser(user, err)
				return false
			}
			st.op(time.Since(t0), loginLat)
			return true
		}
		if *arrival > 0 {
			// Open loop: arrivals at a fixed rate, each login on its own
			// goroutine, at most -c in flight.
			slots := make(chan struct{}, *conc)
			every := time.Duration(float64(time.Second) / *arrival)
			next := time.Now()
			for running() {
				n := ops.Add(1)
				if n > *maxOps {
					break
				}
				select {
				case slots <- struct{}{}:
				default:
					late.Add(1)
					slots <- struct{}{}
				}
				wg.Add(1)
				go func() {
					defer wg.Done()
					defer func() { <-slots }()
					one(n)
				}()
				next = next.Add(every)
				if d := time.Until(next); d > 0 {
					time.Sleep(d)
				} else if d < -time.Second {
					next = time.Now() // far behind (late): no burst to catch up
				}
			}
			break
		}
		for i := 0; i < *conc; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for running() {
					n := ops.Add(1)
					if n > *maxOps {
						return
					}
					t0 := time.Now()
					if !one(n) {
						time.Sleep(time.Millisecond) // no spinning on a dead server
					}
					pace(t0)
				}
			}()
		}
	case "fetch":
		for i := 0; i < *conc; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				s, _, err := l.open(i, time.Time{})
				if err != nil {
					st.fail(err)
					return
				}
				defer s.c.Close()
				for running() && ops.Add(1) <= *maxOps {
					t0 := time.Now()
					n, err := s.fetch()
					if err != nil {
						st.fail(err)
						return
					}
					bytesRead.Add(n)
					st.op(time.Since(t0), 0)
					pace(t0)
				}
			}(i)
		}
	case "http":
		tr := &http.Transport{MaxIdleConnsPerHost: *conc, MaxConnsPerHost: *conc}
		client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
		for i := 0; i < *conc; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for running() && ops.Add(1) <= *maxOps {
					t0 := time.Now()
					n, err := get(client, *url)
					if err != nil {
						st.fail(err)
						time.Sleep(10 * time.Millisecond)
						pace(t0)
						continue
					}
					bytesRead.Add(n)
					st.op(time.Since(t0), 0)
					pace(t0)
				}
			}()
		}
	case "idle":
		// Pre-login idle connections: connect, read the greeting, wait.
		var held, refused atomic.Int64
		conns := make([]net.Conn, *conc)
		sem := make(chan struct{}, 64)
		for i := range conns {
			if stopped.Load() {
				break
			}
			wg.Add(1)
			sem <- struct{}{}
			go func(i int) {
				defer wg.Done()
				defer func() { <-sem }()
				s, err := l.dial(time.Now().Add(30 * time.Second))
				if err != nil {
					var se *stepErr
					if errors.As(err, &se) && se.step == "greeting" {
						refused.Add(1)
					}
					st.fail(err)
					return
				}
				s.c.SetDeadline(time.Time{})
				conns[i] = s.c
				held.Add(1)
			}(i)
		}
		wg.Wait()
		res.Held, res.Refused = held.Load(), refused.Load()
		fmt.Fprintf(os.Stderr, "mailload: holding %d idle connections for %v (%d refused)\n", res.Held, *hold, res.Refused)
		fmt.Println(`{"holding":` + strconv.FormatInt(res.Held, 10) + `}`)
		t := time.NewTimer(*hold)
		for !stopped.Load() {
			select {
			case <-t.C:
				stopped.Store(true)
			case <-time.After(50 * time.Millisecond):
			}
		}
		// Connections the proxy closed meanwhile: a read that does not
		// time out at once found EOF or a BYE.
		var closed int64
		for _, c := range conns {
			if c == nil {
				continue
			}
			c.SetReadDeadline(time.Now().Add(time.Millisecond))
			var b [1]byte
			if _, err := c.Read(b[:]); err == nil || !isTimeout(err) {
				closed++
			}
			c.Close()
		}
		if closed > 0 {
			st.fail(&stepErr{step: "idle", reason: "closed", err: fmt.Errorf("%d idle connections were closed or written to by the server while held", closed)})
		}
	case "hold":
		var held atomic.Int64
		sessions := make([]*session, *conc)
		sem := make(chan struct{}, 32)
		for i := range sessions {
			wg.Add(1)
			sem <- struct{}{}
			go func(i int) {
				defer wg.Done()
				defer func() { <-sem }()
				s, _, err := l.open(i, time.Time{})
				if err != nil {
					st.fail(err)
					return
				}
				sessions[i] = s
				held.Add(1)
			}(i)
		}
		wg.Wait()
		res.Held = held.Load()
		fmt.Fprintf(os.Stderr, "mailload: holding %d sessions for %v\n", res.Held, *hold)
		fmt.Println(`{"holding":` + strconv.FormatInt(res.Held, 10) + `}`)
		t := time.NewTimer(*hold)
		for !stopped.Load() {
			select {
			case <-t.C:
				stopped.Store(true)
			case <-time.After(50 * time.Millisecond):
			}
		}
		for _, s := range sessions {
			if s != nil {
				s.c.Close()
			}
		}
	default:
		fmt.Fprintln(os.Stderr, "mailload: -mode must be login, fetch, hold, idle or http")
		os.Exit(2)
	}
	wg.Wait()
	logw.close()
	el := time.Since(start).Seconds()
	res.Seconds = el
	st.mu.Lock()
	lat, loginLat := st.lat, st.loginLat
	st.mu.Unlock()
	res.Ops = int64(len(lat))
	res.Errors = st.errs.Load()
	res.Reasons, res.FailedUsers, res.Late = st.reasons, st.users, late.Load()
	if len(res.FailedUsers) == 0 {
		res.FailedUsers = nil
	}
	if v := st.first.Load(); v != nil {
		res.FirstErr = v.(string)
	}
	if *mode != "hold" && *mode != "idle" {
		res.OpsPerSec = float64(res.Ops) / el
		res.P50ms, res.P99ms = pct(lat, 50), pct(lat, 99)
		res.LoginP50ms, res.LoginP99ms = pct(loginLat, 50), pct(loginLat, 99)
		res.MaxMs, res.LoginMaxMs = pct(lat, 100), pct(loginLat, 100)
	}
	if *mode == "fetch" || *mode == "http" {
		res.MBPerSec = float64(bytesRead.Load()) / el / (1 << 20)
	}
	json.NewEncoder(os.Stdout).Encode(res)
	if res.Ops == 0 && *mode != "hold" && *mode != "idle" {
		os.Exit(1)
	}
}

// pct returns the p-th percentile of ds in milliseconds (ds is sorted).
func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ms(ds[min(len(ds)-1, len(ds)*p/100)])
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

func get(c *http.Client, url string) (int64, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, err
	}
	n, err := io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if err != nil {
		return n, err
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("GET: %s", resp.Status)
	}
	return n, nil
}

type loader struct {
	addr, pass string
	users      []string
	tls, pop3  bool
	timeout    time.Duration // -timeout: each login cycle's bound (0: none)
	idField    string        // -id-field
}

func (l *loader) user(i int) string { return l.users[i%len(l.users)] }

type session struct {
	c  net.Conn
	br *bufio.Reader
	n  int
}

// stepErr is a failed op: the step it failed at and why (the reasons of
// the package comment).
type stepErr struct {
	step, reason string
	err          error
}

func (e *stepErr) Error() string { return e.step + ": " + e.err.Error() }
func (e *stepErr) Unwrap() error { return e.err }

// at wraps err, unless it is already a stepErr, as failing at step; the
// reason comes from the error (a timeout, a closed connection) or is
// given.
func at(step, reason string, err error) error {
	if err == nil {
		return nil
	}
	var se *stepErr
	if errors.As(err, &se) {
		return err
	}
	switch {
	case isTimeout(err):
		reason = "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		reason = "closed"
	}
	return &stepErr{step: step, reason: reason, err: err}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func reasonOf(err error) string {
	var se *stepErr
	if errors.As(err, &se) {
		return se.reason
	}
	return at("", "error", err).(*stepErr).reason
}

// dial connects and reads the greeting, all before deadline.
func (l *loader) dial(deadline time.Time) (*session, error) {
	c, err := net.DialTimeout("tcp", l.addr, min(10*time.Second, time.Until(deadline)))
	if err != nil {
		return nil, at("connect", "connect", err)
	}
	c.SetDeadline(deadline)
	if l.tls {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, at("connect", "connect", err)
		}
		c = tc
	}
	s := &session{c: c, br: bufio.NewReaderSize(c, 64<<10)}
	g, err := s.line()
	if err != nil {
		c.Close()
		return nil, at("greeting", "greeting", err)
	}
	if want := map[bool]string{false: "* OK", true: "+OK"}[l.pop3]; !strings.HasPrefix(g, want) {
		c.Close()
		return nil, &stepErr{step: "greeting", reason: "greeting", err: fmt.Errorf("%q", g)}
	}
	return s, nil
}

func (s *session) line() (string, error) {
	l, err := s.br.ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err
}

// cmd sends a command and reads to its tagged OK.
func (s *session) cmd(c string) error {
	_, err := s.cmdUntagged(c, "")
	return err
}

// cmdUntagged sends a command, reads to its tagged OK and returns the last
// untagged line that starts with "* "+prefix (when prefix is set).
func (s *session) cmdUntagged(c, prefix string) (string, error) {
	s.n++
	tag := "t" + strconv.Itoa(s.n)
	if _, err := s.c.Write([]byte(tag + " " + c + "\r\n")); err != nil {
		return "", err
	}
	var untagged string
	for {
		l, err := s.line()
		if err != nil {
			return untagged, err
		}
		if prefix != "" && strings.HasPrefix(l, "* "+prefix) {
			untagged = l
		}
		if strings.HasPrefix(l, tag+" ") {
			if strings.HasPrefix(l[len(tag)+1:], "OK") {
				return untagged, nil
			}
			return untagged, fmt.Errorf("%s: %s", c[:min(len(c), 5)], l)
		}
	}
}

// pop3 sends a command and reads its status line (never a multi-line
// answer: USER, PASS, STAT and QUIT have none).
func (s *session) pop3(c string) error {
	if _, err := s.c.Write([]byte(c + "\r\n")); err != nil {
		return err
	}
	l, err := s.line()
	if err != nil {
		return err
	}
	if !strings.HasPrefix(l, "+OK") {
		return fmt.Errorf("%s: %s", c[:min(len(c), 4)], l)
	}
	return nil
}

func quote(s string) string { return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"` }

// open logs in as user i (mod the users) and, for IMAP, selects INBOX,
// all before deadline (the zero time: 10 s to connect, then 60 s). It
// returns how long the login command took.
func (l *loader) open(i int, deadline time.Time) (*session, time.Duration, error) {
	bounded := !deadline.IsZero()
	if !bounded {
		deadline = time.Now().Add(70 * time.Second)
	}
	s, err := l.dial(deadline)
	if err != nil {
		return nil, 0, err
	}
	user := l.user(i)
	t0 := time.Now()
	var login time.Duration
	if l.pop3 {
		if err = s.pop3("USER " + user); err == nil {
			err = s.pop3("PASS " + l.pass)
		}
		login = time.Since(t0)
		err = at("login", "refused", err)
		if err == nil {
			err = at("select", "command", s.pop3("STAT"))
		}
	} else {
		err = at("login", "refused", s.cmd("LOGIN "+quote(user)+" "+quote(l.pass)))
		login = time.Since(t0)
		if err == nil {
			err = at("select", "command", s.cmd("SELECT INBOX"))
		}
	}
	if err != nil {
		s.c.Close()
		return nil, 0, err
	}
	if !bounded {
		s.c.SetDeadline(time.Time{})
	}
	return s, login, nil
}

// loginCycle logs user i in and out, within -timeout when set. It returns
// the login command's latency and, with -id-field, that field of the
// server's ID answer.
func (l *loader) loginCycle(i int) (time.Duration, string, error) {
	var deadline time.Time
	if l.timeout > 0 {
		deadline = time.Now().Add(l.timeout)
	}
	s, login, err := l.open(i, deadline)
	if err != nil {
		return 0, "", err
	}
	defer s.c.Close()
	if deadline.IsZero() {
		s.c.SetDeadline(time.Now().Add(30 * time.Second))
	}
	if l.pop3 {
		return login, "", at("logout", "command", s.pop3("QUIT"))
	}
	var backend string
	if l.idField != "" {
		line, err := s.cmdUntagged("ID NIL", "ID ")
		if err != nil {
			return login, "", at("id", "command", err)
		}
		backend = idValue(line, l.idField)
	}
	return login, backend, at("logout", "command", s.cmd("LOGOUT"))
}

// idValue returns field's value in an untagged ID answer,
// * ID ("name" "Dovecot" "x-backend" "a"), or "" (simple quoted strings
// only, which is what servers send).
func idValue(line, field string) string {
	var toks []string
	for rest := line; ; {
		i := strings.IndexByte(rest, '"')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i+1:], '"')
		if j < 0 {
			break
		}
		toks = append(toks, rest[i+1:i+1+j])
		rest = rest[i+1+j+1:]
	}
	for k := 0; k+1 < len(toks); k += 2 {
		if strings.EqualFold(toks[k], field) {
			return toks[k+1]
		}
	}
	return ""
}

// loginLog writes -log: one JSON line per login.
type loginLog struct {
	mu sync.Mutex
	w  *bufio.Writer
	f  *os.File
}

type loginRecord struct {
	Start   float64 `json:"start"` // unix seconds
	User    string  `json:"user"`
	OK      bool    `json:"ok"`
	Step    string  `json:"step,omitempty"`
	Reason  string  `json:"reason,omitempty"`
	Error   string  `json:"error,omitempty"`
	Ms      float64 `json:"ms"`
	LoginMs float64 `json:"login_ms,omitempty"`
	Backend string  `json:"backend,omitempty"`
}

func (lw *loginLog) write(t0 time.Time, user string, login time.Duration, backend string, err error) {
	if lw == nil {
		return
	}
	r := loginRecord{Start: float64(t0.UnixMicro()) / 1e6, User: user, OK: err == nil, Ms: ms(time.Since(t0)),
		LoginMs: ms(login), Backend: backend}
	if err != nil {
		var se *stepErr
		if errors.As(err, &se) {
			r.Step = se.step
		}
		r.Reason, r.Error = reasonOf(err), err.Error()
	}
	b, _ := json.Marshal(r)
	lw.mu.Lock()
	lw.w.Write(append(b, '\n'))
	lw.mu.Unlock()
}

func (lw *loginLog) close() {
	if lw == nil {
		return
	}
	lw.mu.Lock()
	lw.w.Flush()
	lw.f.Close()
	lw.mu.Unlock()
}

// fetch reads FETCH 1 BODY[]: the literal is read through, not parsed.
func (s *session) fetch() (int64, error) {
	s.n++
	tag := "t" + strconv.Itoa(s.n)
	s.c.SetDeadline(time.Now().Add(60 * time.Second))
	if _, err := s.c.Write([]byte(tag + " FETCH 1 BODY[]\r\n")); err != nil {
		return 0, err
	}
	var total int64
	for {
		l, err := s.line()
		if err != nil {
			return total, err
		}
		if i := strings.LastIndexByte(l, '{'); i >= 0 && strings.HasSuffix(l, "}") {
			n, err := strconv.ParseInt(l[i+1:len(l)-1], 10, 64)
			if err != nil {
				return total, err
			}
			m, err := io.CopyN(io.Discard, s.br, n)
			total += m
			if err != nil {
				return total, err
			}
			continue
		}
		if strings.HasPrefix(l, tag+" ") {
			return total, nil
		}
	}
}
