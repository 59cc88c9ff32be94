package main

import (
	"bytes"
	"net"
	"os"
	"os/exec"
	"testing"
	"time"
)

// startMemcached runs a real memcached on 127.0.0.1 for this test and
// returns its address; tb.Cleanup kills it.
//
// It stands in for host/internal/testenv.Memcached, which a plugin under
// plugins/ cannot import (Go's internal rule). Without memcached the test is
// skipped with an install hint, or fails when CI is set.
func startMemcached(tb testing.TB) string {
	tb.Helper()
	bin, err := exec.LookPath("memcached")
	if err != nil {
		if os.Getenv("CI") != "" {
			tb.Fatal("memcached not installed: apt-get install memcached")
		}
		tb.Skip("memcached not installed: apt-get install memcached")
	}
	for try := 0; try < 5; try++ {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatal(err)
		}
		addr := l.Addr().String()
		_, port, _ := net.SplitHostPort(addr)
		l.Close()
		args := []string{"-l", "127.0.0.1", "-p", port, "-U", "0", "-m", "16"}
		if os.Geteuid() == 0 {
			args = append(args, "-u", "root")
		}
		var out bytes.Buffer
		cmd := exec.Command(bin, args...)
		cmd.Stdout, cmd.Stderr = &out, &out
		if err := cmd.Start(); err != nil {
			tb.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { _ = cmd.Wait(); close(exited) }()
		stop := func() { _ = cmd.Process.Kill(); <-exited }
		deadline := time.Now().Add(5 * time.Second)
		for time.Now().Before(deadline) {
			if c, err := net.DialTimeout("tcp", addr, 100*time.Millisecond); err == nil {
				c.Close()
				tb.Cleanup(stop)
				return addr
			}
			select {
			case <-exited:
				deadline = time.Time{} // port taken meanwhile: try another
			case <-time.After(5 * time.Millisecond):
			}
		}
		stop()
		tb.Logf("memcached %v did not start: %s", args, out.Bytes())
	}
	tb.Fatal("memcached: no attempt of 5 accepted connections")
	return ""
}

// closedPort returns a 127.0.0.1 address nothing listens on.
func closedPort(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}
