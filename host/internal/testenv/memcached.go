package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"sync"
	"testing"
	"time"
)

const (
	// startTimeout bounds how long a server may take to accept connections.
	startTimeout = 5 * time.Second
	// bindAttempts is how many ports are tried when another process takes
	// the free port between FreePort and the server's bind.
	bindAttempts = 5
)

// Memcached starts a memcached for this test only and returns its address,
// "127.0.0.1:port". The server is killed by tb.Cleanup.
//
// It runs `memcached -l 127.0.0.1 -p <port> -U 0 -m 64` (plus `-u root` when
// the tests run as root, which memcached otherwise refuses), finding the
// binary in PATH or /usr/bin, and waits until it accepts connections (at most
// 5 s). Starting one takes a few milliseconds; use [SharedMemcached] when
// many tests can share one server with distinct keys.
//
// # Errors
//
// If memcached is not installed the test is skipped with an install hint, or
// fails on CI.
func Memcached(tb testing.TB) string {
	tb.Helper()
	srv, err := startMemcached()
	handle(tb, err)
	tb.Cleanup(srv.stop)
	return srv.addr
}

var shared struct {
	once sync.Once
	srv  *server
	err  error
}

// SharedMemcached returns the address of one memcached shared by every test
// in the test binary, started on first use.
//
// The server outlives each test, so tests must use keys of their own (for
// example prefixed with t.Name()). It is stopped by [Cleanup]; call it from
// TestMain, most simply through [Main]. On Linux the server is also killed
// when the test binary dies, as a safety net for a forgotten Cleanup.
func SharedMemcached(tb testing.TB) string {
	tb.Helper()
	shared.once.Do(func() {
		shared.srv, shared.err = startMemcached()
	})
	handle(tb, shared.err)
	return shared.srv.addr
}

// Cleanup stops the servers started by the shared variants such as
// [SharedMemcached]. Call it from TestMain after m.Run; it is safe to call
// when nothing was started, and more than once.
func Cleanup() {
	if shared.srv != nil {
		shared.srv.stop()
	}
	sharedDovecot.d.Stop()
	sharedKDC.k.Stop()
}

// Main runs the tests and then [Cleanup], and exits with the tests' status.
// Use it as the whole body of TestMain:
//
//	func TestMain(m *testing.M) { testenv.Main(m) }
func Main(m *testing.M) {
	code := m.Run()
	Cleanup()
	os.Exit(code)
}

// server is one started process.
type server struct {
	addr     string
	cmd      *exec.Cmd
	exited   chan struct{} // closed when the process has exited
	stopOnce sync.Once
}

func (s *server) stop() {
	s.stopOnce.Do(func() {
		_ = s.cmd.Process.Kill()
		<-s.exited
	})
}

// memcachedBinary finds memcached in PATH or /usr/bin.
func memcachedBinary() (string, error) {
	if p, err := exec.LookPath("memcached"); err == nil {
		return p, nil
	}
	const fallback = "/usr/bin/memcached"
	if _, err := os.Stat(fallback); err == nil {
		return fallback, nil
	}
	return "", fmt.Errorf("memcached not found: install it (apt-get install memcached): %w", errMissing)
}

func startMemcached() (*server, error) {
	bin, err := memcachedBinary()
	if err != nil {
		return nil, err
	}
	var lastErr error
	for range bindAttempts {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		args := []string{"-l", "127.0.0.1", "-p", strconv.Itoa(port), "-U", "0", "-m", "64"}
		if os.Geteuid() == 0 {
			args = append(args, "-u", "root")
		}
		srv, err := start(bin, args, net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
		if err == nil {
			return srv, nil
		}
		lastErr = err
		if !errors.Is(err, errExited) {
			break // a hang or a start failure: another port will not help
		}
	}
	return nil, lastErr
}

// errExited marks a server that exited before accepting connections, most
// often because its port was taken meanwhile.
var errExited = errors.New("exited before accepting connections")

// start runs bin and waits until addr accepts TCP connections.
func start(bin string, args []string, addr string) (*server, error) {
	return startEnv(bin, args, nil, addr) // nil: the test process's environment
}
