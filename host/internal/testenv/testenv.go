// Package testenv starts real servers, such as memcached, for tests.
//
// It exists so that tests of the key-value store and of the throttle run
// against the same memcached that production uses, not against a fake.
// Every server binds 127.0.0.1 only and is killed when the test (or, for the
// shared variants, the test binary) ends.
//
// It must not be imported by non-test code: it calls testing.TB methods and
// starts processes. When a server binary is missing, tests are skipped with an
// install hint, except on CI (environment variable CI set to anything but
// "false" or "0"), where they fail so that a broken CI image is noticed.
package testenv

import (
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"testing"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
//
// Another process may take it before the caller binds it; callers that start
// servers should retry on a bind failure, as [Memcached] does.
func FreePort(tb testing.TB) int {
	tb.Helper()
	p, err := freePort()
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return p
}

func freePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("find a free port on 127.0.0.1: %w; check that the loopback interface is up", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

// onCI reports whether the tests run on CI, where a missing server is a
// failure rather than a reason to skip.
func onCI() bool {
	v := os.Getenv("CI")
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	return err != nil || b // any non-boolean value such as "yes" counts as CI
}

// errMissing marks a server binary that is not installed.
var errMissing = errors.New("not installed")

// handle reports err through tb: a missing binary skips (or fails on CI),
// anything else fails.
func handle(tb testing.TB, err error) {
	tb.Helper()
	if err == nil {
		return
	}
	if errors.Is(err, errMissing) && !onCI() {
		tb.Skipf("testenv: %v", err)
	}
	tb.Fatalf("testenv: %v", err)
}
