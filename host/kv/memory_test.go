package kv

import (
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"
)

func TestMemory_Store(t *testing.T) {
	testStore(t, func(t *testing.T) Store { return NewMemory(MemoryOptions{}) })
}

func TestMemory_ThrottlePattern(t *testing.T) {
	s := NewMemory(MemoryOptions{})
	defer s.Close()
	testThrottlePattern(t, s)
}

func TestMemory_Shared(t *testing.T) {
	s := NewMemory(MemoryOptions{})
	defer s.Close()
	if s.Shared() {
		t.Fatal("Memory.Shared() = true, want false")
	}
}

// fakeClock is a settable clock for eviction tests.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

func TestMemory_Eviction(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		opts MemoryOptions
		// run writes to the store; keys named in want must survive and
		// keys in gone must have been evicted.
		run  func(t *testing.T, s *Memory, c *fakeClock)
		want []string
		gone []string
	}{
		{
			name: "least recently used goes first",
			opts: MemoryOptions{MaxItems: 3},
			run: func(t *testing.T, s *Memory, c *fakeClock) {
				for _, k := range []string{"a", "b", "c"} {
					mustSet(t, s, k, "v", 0)
				}
				if _, err := s.Get(ctx, "a"); err != nil { // a is now recent, b oldest
					t.Fatal(err)
				}
				mustSet(t, s, "d", "v", 0)
			},
			want: []string{"a", "c", "d"},
			gone: []string{"b"},
		},
		{
			name: "expired items go before live ones",
			opts: MemoryOptions{MaxItems: 3},
			run: func(t *testing.T, s *Memory, c *fakeClock) {
				mustSet(t, s, "old", "v", 0)
				mustSet(t, s, "short", "v", time.Second)
				mustSet(t, s, "live", "v", 0)
				c.advance(2 * time.Second)
				mustSet(t, s, "new", "v", 0)
			},
			want: []string{"old", "live", "new"},
			gone: []string{"short"},
		},
		{
			name: "byte bound",
			opts: MemoryOptions{MaxBytes: 10},
			run: func(t *testing.T, s *Memory, c *fakeClock) {
				mustSet(t, s, "a", "1234", 0) // 5 bytes
				mustSet(t, s, "b", "1234", 0) // 10 bytes
				mustSet(t, s, "c", "1", 0)    // 12 bytes: a goes
			},
			want: []string{"b", "c"},
			gone: []string{"a"},
		},
		{
			name: "incr growth counts",
			opts: MemoryOptions{MaxBytes: 6},
			run: func(t *testing.T, s *Memory, c *fakeClock) {
				mustSet(t, s, "a", "1", 0)                     // 2 bytes
				mustSet(t, s, "b", "99", 0)                    // 5 bytes
				if _, err := s.Incr(ctx, "b", 1); err != nil { // "100": 6 bytes
					t.Fatal(err)
				}
				if _, err := s.Incr(ctx, "b", 900); err != nil { // "1000": 7 bytes, a goes
					t.Fatal(err)
				}
			},
			want: []string{"b"},
			gone: []string{"a"},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := NewMemory(tc.opts)
			defer s.Close()
			clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
			s.now = clock.now
			tc.run(t, s, clock)
			for _, k := range tc.want {
				if _, err := s.Get(ctx, k); err != nil {
					t.Errorf("Get(%q) error = %v, want it kept", k, err)
				}
			}
			for _, k := range tc.gone {
				if _, err := s.Get(ctx, k); !errors.Is(err, ErrNotFound) {
					t.Errorf("Get(%q) error = %v, want it evicted", k, err)
				}
			}
		})
	}
}

func TestMemory_ValueLargerThanStore(t *testing.T) {
	s := NewMemory(MemoryOptions{MaxBytes: 8})
	defer s.Close()
	err := s.Set(context.Background(), "k", []byte("123456789"), 0)
	if !errors.Is(err, ErrTooLarge) {
		t.Fatalf("Set error = %v, want ErrTooLarge", err)
	}
}

func TestMemory_Sweep(t *testing.T) {
	s := NewMemory(MemoryOptions{SweepInterval: 10 * time.Millisecond})
	defer s.Close()
	for i := range 100 {
		mustSet(t, s, fmt.Sprint("k", i), "v", 30*time.Millisecond)
	}
	mustSet(t, s, "forever", "v", 0)
	eventually(t, "the sweep to remove expired items", func() bool { return s.Len() == 1 })
}

func TestMemory_CloseStopsSweep(t *testing.T) {
	before := runtime.NumGoroutine()
	stores := make([]*Memory, 20)
	for i := range stores {
		stores[i] = NewMemory(MemoryOptions{SweepInterval: time.Millisecond})
	}
	for _, s := range stores {
		s.Close()
	}
	eventually(t, "sweep goroutines to exit", func() bool { return runtime.NumGoroutine() <= before })
}

func mustSet(t *testing.T, s Store, k, v string, ttl time.Duration) {
	t.Helper()
	if err := s.Set(context.Background(), k, []byte(v), ttl); err != nil {
		t.Fatalf("Set(%q): %v", k, err)
	}
}
