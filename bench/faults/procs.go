package main

// Processes, ports and /metrics: the pieces of bench/mail/main.go this
// driver shares (bench/mail is a main package, so they are repeated here
// rather than imported). Every process runs in its own process group with
// Pdeathsig, so the kernel kills it if the driver dies, and stopAll kills
// every group at the end.

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

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
func spawn(name, logPath string, w io.Writer, args ...string) (*child, error) {
	cmd := exec.Command(args[0], args[1:]...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
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

// signalGroup sends sig to the child's whole process group (Dovecot: the
// master and every login, auth and imap process it forked).
func (c *child) signalGroup(sig syscall.Signal) error {
	return syscall.Kill(-c.pid(), sig)
}

// stop sends SIGCONT (a stopped group cannot act on SIGTERM) and SIGTERM
// to the child's process group, then SIGKILL after 5 s.
func (c *child) stop() {
	syscall.Kill(-c.pid(), syscall.SIGCONT)
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

// wait waits for the child to exit by itself, at most d; then stops it.
func (c *child) wait(d time.Duration) bool {
	select {
	case <-c.done:
		return true
	case <-time.After(d):
		c.stop()
		return false
	}
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

// Ports: free ports between 20000 and 32000, below Linux's ephemeral
// range, so that the clients' outgoing connections never take them.
var (
	portMu sync.Mutex
	taken  = map[int]bool{}
)

func freePort() (int, error) {
	portMu.Lock()
	defer portMu.Unlock()
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

func addr(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func waitPort(c *child, port int, logPath string) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		if conn, err := net.DialTimeout("tcp", addr(port), time.Second); err == nil {
			conn.Close()
			return nil
		}
		if c != nil && c.exited() {
			return fmt.Errorf("%s exited (%v) before listening on %s; its log %s:\n%s", c.name, c.err, addr(port), logPath, tail(logPath))
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s not listening on %s after 60 s; its log %s:\n%s", c.name, addr(port), logPath, tail(logPath))
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

// metrics reads Postern's /metrics: series (name with its labels) -> value;
// nil when it cannot be read.
func metrics(admin int) map[string]float64 {
	c := http.Client{Timeout: 5 * time.Second}
	resp, err := c.Get("http://" + addr(admin) + "/metrics")
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
		if i := strings.LastIndexByte(l, ' '); i > 0 {
			v, err := strconv.ParseFloat(l[i+1:], 64)
			if err == nil {
				m[l[:i]] = v
			}
		}
	}
	return m
}

// sum adds the series of metric name whose labels contain every one of
// labels (`result="ok"`).
func sum(m map[string]float64, name string, labels ...string) float64 {
	var t float64
	for k, v := range m {
		n := k
		if i := strings.IndexByte(k, '{'); i >= 0 {
			n = k[:i]
		}
		if n != name {
			continue
		}
		ok := true
		for _, l := range labels {
			ok = ok && strings.Contains(k, l)
		}
		if ok {
			t += v
		}
	}
	return t
}
