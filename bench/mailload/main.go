// Command mailload is the mail front end's load generator: it runs in its
// own process, against Postern or directly against a mailbox server, and
// prints one JSON line of results. Every run is bounded by -d and -n.
//
//	mailload -addr 127.0.0.1:1143 -mode login -c 16 -d 10s -user bob -pass secret
//	mailload -addr 127.0.0.1:1143 -mode fetch -c 4 -d 10s ...   # FETCH 1 BODY[] repeated
//	mailload -addr 127.0.0.1:1143 -mode hold -c 2000 -hold 10s  # logged-in idle sessions
//
// Modes: login (connect, greeting, LOGIN, SELECT INBOX, LOGOUT per op),
// fetch (one login per connection, then FETCH 1 BODY[] per op), hold
// (log in -c sessions, keep them idle for -hold, then LOGOUT).
package main

import (
	"bufio"
	"crypto/tls"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

type result struct {
	Mode      string  `json:"mode"`
	Addr      string  `json:"addr"`
	Conc      int     `json:"concurrency"`
	Ops       int64   `json:"ops"`
	Errors    int64   `json:"errors"`
	Seconds   float64 `json:"seconds"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
	MBPerSec  float64 `json:"mb_per_sec,omitempty"`
	Held      int64   `json:"held,omitempty"`
	FirstErr  string  `json:"first_error,omitempty"`
}

func main() {
	addr := flag.String("addr", "127.0.0.1:1143", "IMAP server address")
	mode := flag.String("mode", "login", "login | fetch | hold")
	conc := flag.Int("c", 8, "concurrent connections")
	dur := flag.Duration("d", 10*time.Second, "run for at most this long")
	maxOps := flag.Int64("n", 1_000_000, "stop after this many operations")
	user := flag.String("user", "bob@example.com", "login")
	pass := flag.String("pass", "secret", "password")
	useTLS := flag.Bool("tls", false, "implicit TLS (certificate not verified: benchmarks only)")
	hold := flag.Duration("hold", 10*time.Second, "hold mode: how long to keep the sessions")
	flag.Parse()

	l := &loader{addr: *addr, user: *user, pass: *pass, tls: *useTLS}
	res := result{Mode: *mode, Addr: *addr, Conc: *conc}
	start := time.Now()
	deadline := start.Add(*dur)
	var wg sync.WaitGroup
	var lat []time.Duration
	var latMu sync.Mutex
	var ops, errs, bytesRead atomic.Int64
	var firstErr atomic.Value
	fail := func(err error) {
		errs.Add(1)
		firstErr.CompareAndSwap(nil, err.Error())
	}
	switch *mode {
	case "login":
		for i := 0; i < *conc; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var mine []time.Duration
				for time.Now().Before(deadline) && ops.Add(1) <= *maxOps {
					t0 := time.Now()
					if err := l.loginCycle(); err != nil {
						fail(err)
						continue
					}
					mine = append(mine, time.Since(t0))
				}
				latMu.Lock()
				lat = append(lat, mine...)
				latMu.Unlock()
			}()
		}
	case "fetch":
		for i := 0; i < *conc; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				s, err := l.open()
				if err != nil {
					fail(err)
					return
				}
				defer s.c.Close()
				var mine []time.Duration
				for time.Now().Before(deadline) && ops.Add(1) <= *maxOps {
					t0 := time.Now()
					n, err := s.fetch()
					if err != nil {
						fail(err)
						return
					}
					bytesRead.Add(n)
					mine = append(mine, time.Since(t0))
				}
				latMu.Lock()
				lat = append(lat, mine...)
				latMu.Unlock()
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
				s, err := l.open()
				if err != nil {
					fail(err)
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
		time.Sleep(*hold)
		for _, s := range sessions {
			if s != nil {
				s.c.Close()
			}
		}
	default:
		fmt.Fprintln(os.Stderr, "mailload: -mode must be login, fetch or hold")
		os.Exit(2)
	}
	wg.Wait()
	el := time.Since(start).Seconds()
	res.Seconds = el
	res.Ops = int64(len(lat))
	res.Errors = errs.Load()
	if v := firstErr.Load(); v != nil {
		res.FirstErr = v.(string)
	}
	if *mode != "hold" {
		res.OpsPerSec = float64(res.Ops) / el
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		if len(lat) > 0 {
			res.P50ms = ms(lat[len(lat)/2])
			res.P99ms = ms(lat[len(lat)*99/100])
		}
	}
	if *mode == "fetch" {
		res.MBPerSec = float64(bytesRead.Load()) / el / (1 << 20)
	}
	json.NewEncoder(os.Stdout).Encode(res)
	if res.Ops == 0 && *mode != "hold" {
		os.Exit(1)
	}
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

type loader struct {
	addr, user, pass string
	tls              bool
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
	if _, err := s.line(); err != nil {
		c.Close()
		return nil, err
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

func quote(s string) string { return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"` }

func (l *loader) open() (*session, error) {
	s, err := l.dial()
	if err != nil {
		return nil, err
	}
	if err := s.cmd("LOGIN " + quote(l.user) + " " + quote(l.pass)); err != nil {
		s.c.Close()
		return nil, err
	}
	if err := s.cmd("SELECT INBOX"); err != nil {
		s.c.Close()
		return nil, err
	}
	s.c.SetDeadline(time.Time{})
	return s, nil
}

func (l *loader) loginCycle() error {
	s, err := l.open()
	if err != nil {
		return err
	}
	defer s.c.Close()
	s.c.SetDeadline(time.Now().Add(30 * time.Second))
	return s.cmd("LOGOUT")
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
