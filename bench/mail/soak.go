package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// interval is one -every line of mailload.
type interval struct {
	Interval  int     `json:"interval"`
	T         float64 `json:"t"`
	Ops       int64   `json:"ops"`
	Errors    int64   `json:"errors"`
	OpsPerSec float64 `json:"ops_per_sec"`
	P50ms     float64 `json:"p50_ms"`
	P99ms     float64 `json:"p99_ms"`
}

// streamLoad runs a mailload with -every, sending its interval lines to
// each and returning its final result when it ends.
func (e *env) streamLoad(name string, each func(interval), args ...string) (func() (loadResult, error), error) {
	pr, pw := io.Pipe()
	c, err := spawn(name, e.log(name), nil, pw, append([]string{e.bin("mailload")}, args...)...)
	if err != nil {
		return nil, err
	}
	go func() { <-c.done; pw.Close() }()
	var last string
	done := make(chan struct{})
	go func() {
		defer close(done)
		sc := bufio.NewScanner(pr)
		for sc.Scan() {
			l := sc.Text()
			if strings.HasPrefix(l, `{"interval"`) {
				var iv interval
				if json.Unmarshal([]byte(l), &iv) == nil {
					each(iv)
				}
				continue
			}
			last = l
		}
	}()
	return func() (loadResult, error) {
		<-done
		forget(c)
		var r loadResult
		if err := json.Unmarshal([]byte(last), &r); err != nil {
			return r, fmt.Errorf("%s: %v (%v)\n%s", name, c.err, err, tail(e.log(name)))
		}
		return r, nil
	}, nil
}

type sample struct {
	t, logins, loginP99, cpuPerLogin float64
	errors                           int64
	rssKB                            int64
	fetches, https                   float64
}

// soak runs Postern alone under mixed load for o.soak: logins looping on
// o.soakClients connections, o.idle logged-in idle IMAP sessions, FETCH of
// a 100 KiB message (2 connections, 20 per second each) and HTTP GETs
// through the web front end (4 connections, 50 per second each). Every
// o.soakEvery it writes a CSV row; at the end it compares the first and
// the last 5 minutes (or halves, for a soak under 10 minutes).
func soak(o options) (err error) {
	dir, cleanup, err := workDir(o)
	if err != nil {
		return err
	}
	defer func() { cleanup(err) }()
	e := &env{o: o, dir: dir}
	if err := e.start(100<<10, true); err != nil {
		return err
	}
	t, err := e.startTarget("postern", true)
	if err != nil {
		return err
	}
	defer t.stop()
	time.Sleep(500 * time.Millisecond)
	rss0 := rssKB(t.pids())
	users := strconv.Itoa(o.users)
	imapAddr := addr(t.imap)
	if _, err := e.mailload("-addr", imapAddr, "-mode", "login", "-users", users, "-c", "16", "-n", users, "-d", "60s"); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	fmt.Printf("mailbench soak: %v, a sample every %v; Postern RSS at start %s; logs in %s (removed when it passes)\n", o.soak, o.soakEvery, mb(rss0), dir)
	var h *holder
	if o.idle > 0 {
		if h, err = e.startHold("imap", t.imap, o.idle, o.soak+5*time.Minute); err != nil {
			return err
		}
		fmt.Printf("holding %d idle IMAP sessions; RSS %s\n", h.held, mb(rssKB(t.pids())))
	}

	csvPath := filepath.Join(o.out, "soak.csv")
	csv, err := os.Create(csvPath)
	if err != nil {
		return err
	}
	defer csv.Close()
	fmt.Fprintln(csv, "t_s,logins_per_s,login_p99_ms,login_errors,proxy_cpu_ms_per_login,rss_mb,fetches_per_s,http_per_s")
	fmt.Println("    t   logins/s   p99 ms  errors  CPU ms/login   RSS MB  fetch/s  http/s")

	var mu sync.Mutex
	var lastFetch, lastHTTP float64
	var samples []sample
	cpuPrev := cpu(t.pids())
	every := o.soakEvery.String()
	d := o.soak.String()
	waitFetch, err := e.streamLoad("mailload-fetch", func(iv interval) { mu.Lock(); lastFetch = iv.OpsPerSec; mu.Unlock() },
		"-addr", imapAddr, "-mode", "fetch", "-users", users, "-c", "2", "-rate", "20", "-d", d, "-every", every)
	if err != nil {
		return err
	}
	waitHTTP, err := e.streamLoad("mailload-http", func(iv interval) { mu.Lock(); lastHTTP = iv.OpsPerSec; mu.Unlock() },
		"-url", "http://"+addr(t.web)+"/", "-mode", "http", "-c", "4", "-rate", "50", "-d", d, "-every", every)
	if err != nil {
		return err
	}
	waitLogin, err := e.streamLoad("mailload-login", func(iv interval) {
		time.Sleep(300 * time.Millisecond) // the other loads' lines for the same interval
		c := cpu(t.pids())
		mu.Lock()
		s := sample{t: iv.T, logins: iv.OpsPerSec, loginP99: iv.P99ms, errors: iv.Errors, rssKB: rssKB(t.pids()),
			fetches: lastFetch, https: lastHTTP}
		mu.Unlock()
		if iv.Ops > 0 {
			s.cpuPerLogin = float64(c-cpuPrev) / float64(time.Millisecond) / float64(iv.Ops)
		}
		cpuPrev = c
		samples = append(samples, s)
		fmt.Fprintf(csv, "%.0f,%.1f,%.2f,%d,%.3f,%.1f,%.1f,%.1f\n", s.t, s.logins, s.loginP99, s.errors, s.cpuPerLogin,
			float64(s.rssKB)/1024, s.fetches, s.https)
		fmt.Printf("%5.0f %10.0f %8.2f %7d %13.3f %8.1f %8.1f %7.1f\n", s.t, s.logins, s.loginP99, s.errors, s.cpuPerLogin,
			float64(s.rssKB)/1024, s.fetches, s.https)
	}, "-addr", imapAddr, "-mode", "login", "-users", users, "-c", strconv.Itoa(o.soakClients), "-d", d, "-every", every)
	if err != nil {
		return err
	}
	lr, lerr := waitLogin()
	fr, ferr := waitFetch()
	hr, herr := waitHTTP()
	idleErr := ""
	if h != nil {
		idleErr = h.end()
	}
	if t.proc.exited() {
		return fmt.Errorf("postern exited during the soak: %v\n%s", t.proc.err, tail(e.log("postern")))
	}
	for _, x := range []struct {
		name string
		r    loadResult
		err  error
	}{{"logins", lr, lerr}, {"fetch", fr, ferr}, {"http", hr, herr}} {
		if x.err != nil {
			return x.err
		}
		fmt.Printf("%-6s %8d ops, %6.1f/s, p50 %.2f ms, p99 %.2f ms, %d errors %s\n", x.name, x.r.Ops, x.r.OpsPerSec,
			x.r.P50ms, x.r.P99ms, x.r.Errors, x.r.FirstErr)
	}
	if idleErr != "" {
		fmt.Println("idle sessions:", idleErr)
	}
	fmt.Println("CSV:", csvPath)
	return verdict(o, samples)
}

// verdict compares the first and last windows (5 minutes, or half the
// samples when the soak is shorter than 10 minutes).
func verdict(o options, s []sample) error {
	if len(s) < 2 {
		return fmt.Errorf("soak: %d samples; run it for at least two intervals", len(s))
	}
	k := int((5 * time.Minute) / o.soakEvery)
	if k > len(s)/2 {
		k = len(s) / 2
	}
	if k < 1 {
		k = 1
	}
	mean := func(xs []sample, f func(sample) float64) float64 {
		var t float64
		for _, x := range xs {
			t += f(x)
		}
		return t / float64(len(xs))
	}
	first, last := s[:k], s[len(s)-k:]
	lf, ll := mean(first, func(x sample) float64 { return x.logins }), mean(last, func(x sample) float64 { return x.logins })
	rf, rl := mean(first, func(x sample) float64 { return float64(x.rssKB) / 1024 }), mean(last, func(x sample) float64 { return float64(x.rssKB) / 1024 })
	cf, cl := mean(first, func(x sample) float64 { return x.cpuPerLogin }), mean(last, func(x sample) float64 { return x.cpuPerLogin })
	// Least-squares slope of RSS over time, MB per 10 minutes.
	var sx, sy, sxx, sxy float64
	for _, x := range s {
		tm, y := x.t/600, float64(x.rssKB)/1024
		sx, sy, sxx, sxy = sx+tm, sy+y, sxx+tm*tm, sxy+tm*y
	}
	n := float64(len(s))
	slope := 0.0
	if den := n*sxx - sx*sx; den != 0 {
		slope = (n*sxy - sx*sy) / den
	}
	win := time.Duration(k) * o.soakEvery
	fmt.Printf("\n| | first %v | last %v | change |\n|---|---|---|---|\n", win, win)
	fmt.Printf("| logins/s | %.0f | %.0f | %+.1f%% |\n", lf, ll, pctChange(lf, ll))
	fmt.Printf("| proxy CPU per login | %.3f ms | %.3f ms | %+.1f%% |\n", cf, cl, pctChange(cf, cl))
	fmt.Printf("| RSS | %.1f MB | %.1f MB | %+.1f%% |\n", rf, rl, pctChange(rf, rl))
	fmt.Printf("\nRSS trend over the whole soak: %+.1f MB per 10 minutes (least squares, %d samples)\n", slope, len(s))
	var fails []string
	if ll < 0.9*lf {
		fails = append(fails, fmt.Sprintf("logins/s fell %.1f%% (more than 10%%)", -pctChange(lf, ll)))
	}
	if rl > 1.2*rf {
		fails = append(fails, fmt.Sprintf("RSS grew %.1f%% (more than 20%%)", pctChange(rf, rl)))
	}
	if len(fails) > 0 {
		return fmt.Errorf("soak FAILED: %s", strings.Join(fails, "; "))
	}
	fmt.Println("soak passed: last window's logins/s within 10% of the first's, RSS grew less than 20%")
	return nil
}

func pctChange(a, b float64) float64 {
	if a == 0 {
		return 0
	}
	return (b - a) / a * 100
}
