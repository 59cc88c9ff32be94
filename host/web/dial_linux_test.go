//go:build linux

package web

import (
	"fmt"
	"net"
	"syscall"
	"testing"
	"time"
)

// blackhole returns a loopback address whose connects hang: a socket
// listening with a backlog of 0 that never accepts, its one queue slot
// taken.
func blackhole(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, _ := syscall.Getsockname(fd)
	addr := fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
	c, err := net.DialTimeout("tcp", addr, time.Second) // fills the queue
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	if c2, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		c2.Close()
		t.Skip("connects to a full listen queue do not hang here")
	}
	return addr
}

// TestServer_routeDialTimeout: a route's dial_timeout applies to the
// connect (504 after it), not the web-level one.
func TestServer_routeDialTimeout(t *testing.T) {
	cfg := simple("", blackhole(t))
	cfg.Pools[0].MaxFails = -1
	cfg.UpstreamDialTimeout = time.Minute
	cfg.Routes = []Route{{Name: "fast", PathPrefix: "/fast/", Pool: "p", DialTimeout: 300 * time.Millisecond}}
	s, logs := start(t, Options{Config: cfg})
	c := client(t, nil)
	t0 := time.Now()
	resp, got := get(t, c, urlOf(s, "web", "/fast/x"))
	if d := time.Since(t0); resp.StatusCode != 504 || d > 20*time.Second {
		t.Fatalf("%d %q after %v; want 504 after the route's 300ms dial timeout", resp.StatusCode, got.Backend, d)
	}
	waitFor(t, func() bool { return len(logs.lines(t)) == 1 })
	if e, _ := logs.lines(t)[0]["error"].(string); e == "" {
		t.Errorf("no error in the access log line")
	}
}
