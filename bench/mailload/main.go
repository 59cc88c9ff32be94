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
//
// Modes: login (IMAP: connect, greeting, LOGIN, SELECT INBOX, LOGOUT per
// op; POP3: connect, greeting, USER, PASS, STAT, QUIT), fetch (one IMAP
// login per connection, then FETCH 1 BODY[] per op), hold (log in -c
// sessions, keep them idle for -hold or until SIGTERM/SIGINT, then close
// them), http (GET -url per op on keep-alive connections, 200 expected).
//
// -users N makes op i log in as the -user template with i mod N (the
// template's %d; "u%d" when it has none). -rate paces each connection to at
// most that many ops per second. -every prints a line per interval
// ({"interval":...}) before the final result, for long runs.
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
	MBPerSec   float64 `json:"mb_per_sec,omitempty"`
	Held       int64   `json:"held,omitempty"`
	FirstErr   string  `json:"first_error,omitempty"`
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

func (s *stats) fail(err error) {
	s.errs.Add(1)
	s.first.CompareAndSwap(nil, err.Error())
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
	flag.Parse()

	l := &loader{addr: *addr, pass: *pass, tls: *useTLS, pop3: *proto == "pop3"}
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
	var ops, bytesRead atomic.Int64
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
					loginLat, err := l.loginCycle(int(n - 1))
					if err != nil {
						st.fail(err)
						time.Sleep(time.Millisecond) // no spinning on a dead server
						pace(t0)
						continue
					}
					st.op(time.Since(t0), loginLat)
					pace(t0)
				}
			}()
		}
	case "fetch":
		for i := 0; i < *conc; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				s, _, err := l.open(i)
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
				s, _, err := l.open(i)
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
		fmt.Fprintln(os.Stderr, "mailload: -mode must be login, fetch, hold or http")
		os.Exit(2)
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	res.Seconds = el
	st.mu.Lock()
	lat, loginLat := st.lat, st.loginLat
	st.mu.Unlock()
	res.Ops = int64(len(lat))
	res.Errors = st.errs.Load()
	if v := st.first.Load(); v != nil {
		res.FirstErr = v.(string)
	}
	if *mode != "hold" {
		res.OpsPerSec = float64(res.Ops) / el
		res.P50ms, res.P99ms = pct(lat, 50), pct(lat, 99)
		res.LoginP50ms, res.LoginP99ms = pct(loginLat, 50), pct(loginLat, 99)
	}
	if *mode == "fetch" || *mode == "http" {
		res.MBPerSec = float64(bytesRead.Load()) / el / (1 << 20)
	}
	json.NewEncoder(os.Stdout).Encode(res)
	if res.Ops == 0 && *mode != "hold" {
		os.Exit(1)
	}
}

// pct returns the p-th percentile of ds in milliseconds (ds is sorted).
func pct(ds []time.Duration, p int) float64 {
	if len(ds) == 0 {
		return 0
	}
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ms(ds[len(ds)*p/100])
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
}

type session struct {
	c  net.Conn
	br *bufio.Reader
	n  int
}

func (l *loader) dial() (*session, error) {
	c, err := net.DialTimeout("tcp", l.addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	if l.tls {
		tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true})
		if err := tc.Handshake(); err != nil {
			c.Close()
			return nil, err
		}
		c = tc
	}
	c.SetDeadline(time.Now().Add(60 * time.Second))
	s := &session{c: c, br: bufio.NewReaderSize(c, 64<<10)}
	g, err := s.line()
	if err != nil {
		c.Close()
		return nil, err
	}
	if want := map[bool]string{false: "* OK", true: "+OK"}[l.pop3]; !strings.HasPrefix(g, want) {
		c.Close()
		return nil, fmt.Errorf("greeting: %q", g)
	}
	return s, nil
}

func (s *session) line() (string, error) {
	l, err := s.br.ReadString('\n')
	return strings.TrimRight(l, "\r\n"), err
}

// cmd sends a command and reads to its tagged OK.
func (s *session) cmd(c string) error {
	s.n++
	tag := "t" + strconv.Itoa(s.n)
	if _, err := s.c.Write([]byte(tag + " " + c + "\r\n")); err != nil {
		return err
	}
	for {
		l, err := s.line()
		if err != nil {
			return err
		}
		if strings.HasPrefix(l, tag+" ") {
			if strings.HasPrefix(l[len(tag)+1:], "OK") {
				return nil
			}
			return fmt.Errorf("%s: %s", c[:min(len(c), 5)], l)
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

// open logs in as user i (mod the users) and, for IMAP, selects INBOX. It
// returns how long the login command took.
func (l *loader) open(i int) (*session, time.Duration, error) {
	s, err := l.dial()
	if err != nil {
		return nil, 0, err
	}
	user := l.users[i%len(l.users)]
	t0 := time.Now()
	var login time.Duration
	if l.pop3 {
		if err = s.pop3("USER " + user); err == nil {
			err = s.pop3("PASS " + l.pass)
		}
		login = time.Since(t0)
		if err == nil {
			err = s.pop3("STAT")
		}
	} else {
		err = s.cmd("LOGIN " + quote(user) + " " + quote(l.pass))
		login = time.Since(t0)
		if err == nil {
			err = s.cmd("SELECT INBOX")
		}
	}
	if err != nil {
		s.c.Close()
		return nil, 0, err
	}
	s.c.SetDeadline(time.Time{})
	return s, login, nil
}

func (l *loader) loginCycle(i int) (time.Duration, error) {
	s, login, err := l.open(i)
	if err != nil {
		return 0, err
	}
	defer s.c.Close()
	s.c.SetDeadline(time.Now().Add(30 * time.Second))
	if l.pop3 {
		return login, s.pop3("QUIT")
	}
	return login, s.cmd("LOGOUT")
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
