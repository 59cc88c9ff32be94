package kv

import (
	"context"
	"errors"
	"math"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/host/internal/testenv"
)

// newMemcached returns a store with a timeout a busy test machine meets
// (the 100 ms default does not always).
func newMemcached(t testing.TB, servers ...string) *Memcached {
	t.Helper()
	return newMemcachedTimeout(t, slowMachine, servers...)
}

// newMemcachedTimeout is newMemcached with the given timeout: the tests of
// servers that never answer keep the default, short one.
func newMemcachedTimeout(t testing.TB, timeout time.Duration, servers ...string) *Memcached {
	t.Helper()
	m, err := NewMemcached(servers, MemcachedOptions{Timeout: timeout})
	if err != nil {
		t.Fatalf("NewMemcached: %v", err)
	}
	return m
}

func TestMemcached_Store(t *testing.T) {
	addr := testenv.Memcached(t)
	testStore(t, func(t *testing.T) Store { return newMemcached(t, addr) })
}

func TestMemcached_ThrottlePattern(t *testing.T) {
	s := newMemcached(t, testenv.SharedMemcached(t))
	defer s.Close()
	testThrottlePattern(t, s)
}

func TestMemcached_SharedAndServers(t *testing.T) {
	s := newMemcached(t, "127.0.0.1:1", "127.0.0.1:2")
	defer s.Close()
	if !s.Shared() {
		t.Fatal("Memcached.Shared() = false, want true")
	}
	got := s.Servers()
	if strings.Join(got, ",") != "127.0.0.1:1,127.0.0.1:2" {
		t.Fatalf("Servers() = %v", got)
	}
	got[0] = "changed"
	if s.Servers()[0] != "127.0.0.1:1" {
		t.Fatal("Servers() returned the store's own slice")
	}
}

func TestNewMemcached_Errors(t *testing.T) {
	tests := []struct {
		name    string
		servers []string
		want    string
	}{
		{"none", nil, "no servers configured"},
		{"no port", []string{"127.0.0.1"}, "use host:port"},
		{"bad port", []string{"127.0.0.1:http-nope"}, "use host:port"},
		{"distribution", []string{"127.0.0.1:1"}, `unknown distribution "md5"`},
		{"key form", []string{"127.0.0.1:1"}, `unknown key form "md5"`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			opts := MemcachedOptions{}
			switch tc.name {
			case "distribution":
				opts.Distribution = "md5"
			case "key form":
				opts.KeyForm = "md5"
			}
			_, err := NewMemcached(tc.servers, opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.HasPrefix(err.Error(), "kv: ") {
				t.Fatalf("NewMemcached(%q) error = %v, want one containing %q", tc.servers, err, tc.want)
			}
		})
	}
}

func TestMemcached_Unavailable(t *testing.T) {
	// A port nothing listens on: connection refused.
	closed := net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t)))
	// A server that accepts and never answers: the read times out.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()

	tests := []struct {
		name string
		addr string
	}{
		{"closed port", closed},
		{"silent server", l.Addr().String()},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := newMemcachedTimeout(t, defaultMemcachedTimeout, tc.addr)
			defer s.Close()
			ops := map[string]func() error{
				"get":    func() error { _, err := s.Get(ctx, "k"); return err },
				"set":    func() error { return s.Set(ctx, "k", []byte("v"), 0) },
				"add":    func() error { return s.Add(ctx, "k", []byte("v"), 0) },
				"incr":   func() error { _, err := s.Incr(ctx, "k", 1); return err },
				"delete": func() error { return s.Delete(ctx, "k") },
			}
			for op, f := range ops {
				start := time.Now()
				err := f()
				took := time.Since(start)
				if !errors.Is(err, ErrUnavailable) {
					t.Fatalf("%s error = %v, want ErrUnavailable", op, err)
				}
				if !strings.Contains(err.Error(), tc.addr) || !strings.Contains(err.Error(), "check that memcached is running") {
					t.Errorf("%s error %q does not name the server and what to check", op, err)
				}
				if took > time.Second {
					t.Errorf("%s took %v, want about the 100ms timeout at most", op, took)
				}
			}
		})
	}
}

func TestExpiration(t *testing.T) {
	now := time.Unix(1_700_000_000, 0)
	const day = 24 * time.Hour
	tests := []struct {
		name string
		ttl  time.Duration
		want int32
	}{
		{"none", 0, 0},
		{"negative", -time.Second, -1},
		{"sub-second rounds up", time.Millisecond, 1},
		{"one second", time.Second, 1},
		{"rounds up", 1500 * time.Millisecond, 2},
		{"one hour", time.Hour, 3600},
		{"30 days is relative", 30 * day, 2592000},
		{"over 30 days is absolute", 30*day + time.Second, 1_700_000_000 + 2592001},
		{"one year", 365 * day, 1_700_000_000 + 365*86400},
		{"capped at 2038", 100 * 365 * day, math.MaxInt32},
		{"huge", time.Duration(math.MaxInt64), math.MaxInt32},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := expiration(now, tc.ttl); got != tc.want {
				t.Fatalf("expiration(%v) = %d, want %d", tc.ttl, got, tc.want)
			}
		})
	}
}

// TestMemcached_LongTTL checks against a real server that a TTL over 30 days
// is sent so that memcached keeps the item, not as a relative time that it
// would read as a date in 1970 and expire at once.
func TestMemcached_LongTTL(t *testing.T) {
	s := newMemcached(t, testenv.SharedMemcached(t))
	defer s.Close()
	ctx := context.Background()
	k := key(t, "k")
	if err := s.Set(ctx, k, []byte("v"), 60*24*time.Hour); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(ctx, k); err != nil {
		t.Fatalf("Get of a 60-day item: %v", err)
	}
}

func TestMemcached_DeleteEverywhere(t *testing.T) {
	a, b := testenv.Memcached(t), testenv.Memcached(t)
	ctx := context.Background()
	onA, onB, both := newMemcached(t, a), newMemcached(t, b), newMemcached(t, a, b)
	defer onA.Close()
	defer onB.Close()
	defer both.Close()

	// Write the same keys directly on each server, as proxies with
	// different server lists would.
	keys := []string{"route:proto=imap;user=alice", "alias:user=alice;ip=192.0.2.1"}
	for _, s := range []*Memcached{onA, onB} {
		for _, k := range keys {
			if err := s.Set(ctx, k, []byte("10.0.0.1:143"), time.Hour); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := onA.Set(ctx, "route:proto=imap;user=bob", []byte("x"), 0); err != nil {
		t.Fatal(err)
	}

	n, err := both.DeleteEverywhere(ctx, append(keys, "route:proto=pop3;user=alice")...)
	if err != nil || n != 4 {
		t.Fatalf("DeleteEverywhere = %d, %v; want 4, nil", n, err)
	}
	for _, s := range []*Memcached{onA, onB} {
		for _, k := range keys {
			if _, err := s.Get(ctx, k); !errors.Is(err, ErrNotFound) {
				t.Errorf("%v: Get(%q) after purge error = %v, want ErrNotFound", s.Servers(), k, err)
			}
		}
	}
	if _, err := onA.Get(ctx, "route:proto=imap;user=bob"); err != nil {
		t.Errorf("purge removed an unrelated key: %v", err)
	}

	t.Run("again", func(t *testing.T) {
		if n, err := both.DeleteEverywhere(ctx, keys...); err != nil || n != 0 {
			t.Fatalf("second DeleteEverywhere = %d, %v; want 0, nil", n, err)
		}
	})
	t.Run("invalid key", func(t *testing.T) {
		if _, err := both.DeleteEverywhere(ctx, "ok", "not ok"); !errors.Is(err, ErrInvalidKey) {
			t.Fatalf("error = %v, want ErrInvalidKey", err)
		}
	})
	t.Run("one server down", func(t *testing.T) {
		down := net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t)))
		mixed := newMemcached(t, a, down)
		defer mixed.Close()
		if err := onA.Set(ctx, keys[0], []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		n, err := mixed.DeleteEverywhere(ctx, keys...)
		if n != 1 || !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), down) {
			t.Fatalf("DeleteEverywhere = %d, %v; want 1 and ErrUnavailable naming %s", n, err, down)
		}
	})
}

// TestMemcached_ServerRefusesLargeItem checks that memcached's own item size
// limit, which counts the key and header too, surfaces as ErrTooLarge and
// leaves the store usable.
func TestMemcached_ServerRefusesLargeItem(t *testing.T) {
	s := newMemcached(t, testenv.SharedMemcached(t))
	defer s.Close()
	ctx := context.Background()
	k := key(t, "k")
	err := s.Set(ctx, k, make([]byte, MaxValueSize), 0)
	t.Logf("Set(MaxValueSize) = %v", err)
	if err != nil && !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Set(MaxValueSize) error = %v, want nil or ErrTooLarge", err)
	}
	if err := s.Set(ctx, k, []byte("small"), 0); err != nil {
		t.Fatalf("Set after a refused item: %v", err)
	}
}

// TestMemcached_downServerSkipped: after an operation times out on a hung
// server, the next operations on it fail at once for about downFor, then
// the server is tried again (and used, once it answers).
func TestMemcached_downServerSkipped(t *testing.T) {
	s := newMemcached(t, testenv.SharedMemcached(t))
	defer s.Close()
	ctx := context.Background()
	if err := s.Set(ctx, "down-k", []byte("v"), 0); err != nil {
		t.Fatal(err)
	}
	// A hung server: one that accepts and never answers.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		var held []net.Conn
		defer func() {
			for _, c := range held {
				c.Close()
			}
		}()
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			held = append(held, c)
		}
	}()
	hung := newMemcachedTimeout(t, defaultMemcachedTimeout, l.Addr().String())
	defer hung.Close()
	start := time.Now()
	if _, err := hung.Get(ctx, "k"); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("first get on a hung server: %v", err)
	}
	first := time.Since(start)
	start = time.Now()
	for range 20 {
		_, err := hung.Incr(ctx, "k", 1)
		if !errors.Is(err, ErrUnavailable) || !strings.Contains(err.Error(), "skipped") || !strings.Contains(err.Error(), l.Addr().String()) {
			t.Fatalf("an operation while the server is marked down: %v", err)
		}
	}
	if took := time.Since(start); took > 5*first {
		t.Errorf("20 operations on a server marked down took %v; the first timeout took %v: they should fail at once, not wait for it each", took, first)
	}
	time.Sleep(downFor + 50*time.Millisecond)
	start = time.Now()
	if _, err := hung.Get(ctx, "k"); !errors.Is(err, ErrUnavailable) || strings.Contains(err.Error(), "skipped") {
		t.Fatalf("after downFor the server is tried again: %v", err)
	}
	// A healthy server is never marked: misses and existing keys are not outages.
	for range 3 {
		if _, err := s.Get(ctx, "down-missing"); !errors.Is(err, ErrNotFound) {
			t.Fatalf("miss: %v", err)
		}
		if err := s.Add(ctx, "down-k", []byte("w"), 0); !errors.Is(err, ErrExists) {
			t.Fatalf("add existing: %v", err)
		}
	}
	if v, err := s.Get(ctx, "down-k"); err != nil || string(v) != "v" {
		t.Fatalf("get after misses: %q, %v", v, err)
	}
}
