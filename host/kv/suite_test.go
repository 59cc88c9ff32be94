package kv

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"
)

// newStoreFunc returns a fresh, open Store for one test; the suite closes
// it. Stores may share data between calls, so the suite uses keys unique to
// each test.
type newStoreFunc func(t *testing.T) Store

// key returns a valid key unique to the running test.
func key(t *testing.T, name string) string {
	return strings.NewReplacer("/", ":", " ", "_").Replace(t.Name()) + ":" + name
}

// eventually polls cond every 20ms until it holds or 5s pass.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 5s waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// testStore runs the behaviour every Store must share against newStore.
func testStore(t *testing.T, newStore newStoreFunc) {
	ctx := context.Background()
	open := func(t *testing.T) Store {
		s := newStore(t)
		t.Cleanup(func() { s.Close() })
		return s
	}

	t.Run("Get", func(t *testing.T) {
		s := open(t)
		if _, err := s.Get(ctx, key(t, "missing")); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(missing) error = %v, want ErrNotFound", err)
		}
		k := key(t, "k")
		if err := s.Set(ctx, k, []byte("v1"), 0); err != nil {
			t.Fatalf("Set: %v", err)
		}
		got, err := s.Get(ctx, k)
		if err != nil || string(got) != "v1" {
			t.Fatalf("Get = %q, %v; want v1", got, err)
		}
		got[0] = 'X' // the caller owns the returned slice
		if again, _ := s.Get(ctx, k); string(again) != "v1" {
			t.Fatalf("Get after modifying a returned value = %q, want v1", again)
		}
	})

	t.Run("Set", func(t *testing.T) {
		tests := []struct {
			name   string
			values []string // set in order; the last one wins
		}{
			{"one", []string{"a"}},
			{"overwrite", []string{"a", "bb"}},
			{"empty", []string{""}},
			{"binary", []string{"\x00\r\n\xff"}},
		}
		s := open(t)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				k := key(t, "k")
				for _, v := range tc.values {
					buf := []byte(v)
					if err := s.Set(ctx, k, buf, time.Hour); err != nil {
						t.Fatalf("Set(%q): %v", v, err)
					}
					for i := range buf {
						buf[i] = '?' // the store must have copied it
					}
				}
				want := tc.values[len(tc.values)-1]
				if got, err := s.Get(ctx, k); err != nil || string(got) != want {
					t.Fatalf("Get = %q, %v; want %q", got, err, want)
				}
			})
		}
	})

	t.Run("Add", func(t *testing.T) {
		s := open(t)
		k := key(t, "k")
		steps := []struct {
			op      string
			value   string
			wantErr error
		}{
			{"add", "1", nil},
			{"add", "2", ErrExists},
			{"delete", "", nil},
			{"add", "3", nil},
		}
		for i, st := range steps {
			var err error
			if st.op == "add" {
				err = s.Add(ctx, k, []byte(st.value), time.Hour)
			} else {
				err = s.Delete(ctx, k)
			}
			if !errors.Is(err, st.wantErr) {
				t.Fatalf("step %d %s(%q) error = %v, want %v", i, st.op, st.value, err, st.wantErr)
			}
		}
		if got, _ := s.Get(ctx, k); string(got) != "3" {
			t.Fatalf("Get = %q, want 3", got)
		}
	})

	t.Run("Incr", func(t *testing.T) {
		tests := []struct {
			name    string
			initial string // "" means no item
			delta   uint64
			want    uint64
			wantErr error
		}{
			{"missing", "", 1, 0, ErrNotFound},
			{"one", "41", 1, 42, nil},
			{"zero delta", "7", 0, 7, nil},
			{"large delta", "1", 1 << 40, 1<<40 + 1, nil},
			{"wraps at 2^64", "18446744073709551615", 2, 1, nil},
			{"not numeric", "abc", 1, 0, ErrNotNumeric},
			{"negative", "-1", 1, 0, ErrNotNumeric},
			{"too big", "18446744073709551616", 1, 0, ErrNotNumeric},
		}
		s := open(t)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				k := key(t, "k")
				if tc.initial != "" {
					if err := s.Set(ctx, k, []byte(tc.initial), time.Hour); err != nil {
						t.Fatalf("Set: %v", err)
					}
				}
				got, err := s.Incr(ctx, k, tc.delta)
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Incr error = %v, want %v", err, tc.wantErr)
				}
				if err == nil && got != tc.want {
					t.Fatalf("Incr = %d, want %d", got, tc.want)
				}
			})
		}
	})

	t.Run("IncrStoresDecimal", func(t *testing.T) {
		s := open(t)
		k := key(t, "k")
		if err := s.Set(ctx, k, []byte("99"), 0); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Incr(ctx, k, 1); err != nil {
			t.Fatal(err)
		}
		if got, _ := s.Get(ctx, k); string(got) != "100" {
			t.Fatalf("Get after Incr = %q, want 100", got)
		}
	})

	t.Run("Delete", func(t *testing.T) {
		s := open(t)
		k := key(t, "k")
		if err := s.Delete(ctx, k); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Delete(missing) error = %v, want ErrNotFound", err)
		}
		if err := s.Set(ctx, k, []byte("v"), 0); err != nil {
			t.Fatal(err)
		}
		if err := s.Delete(ctx, k); err != nil {
			t.Fatalf("Delete: %v", err)
		}
		if _, err := s.Get(ctx, k); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get after Delete error = %v, want ErrNotFound", err)
		}
	})

	t.Run("TTL", func(t *testing.T) {
		s := open(t)
		short, long, past := key(t, "short"), key(t, "long"), key(t, "past")
		if err := s.Set(ctx, short, []byte("v"), time.Second); err != nil {
			t.Fatal(err)
		}
		if err := s.Add(ctx, long, []byte("v"), time.Hour); err != nil {
			t.Fatal(err)
		}
		if err := s.Set(ctx, past, []byte("v"), -time.Second); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, past); !errors.Is(err, ErrNotFound) {
			t.Fatalf("Get(negative ttl) error = %v, want ErrNotFound", err)
		}
		eventually(t, "the 1s item to expire", func() bool {
			_, err := s.Get(ctx, short)
			return errors.Is(err, ErrNotFound)
		})
		if _, err := s.Get(ctx, long); err != nil {
			t.Fatalf("Get(1h item) error = %v", err)
		}
		// An expired key is free for Add, as in the throttle's window.
		if err := s.Add(ctx, short, []byte("1"), time.Second); err != nil {
			t.Fatalf("Add after expiry: %v", err)
		}
	})

	t.Run("InvalidKey", func(t *testing.T) {
		tests := []struct {
			name, key string
		}{
			{"empty", ""},
			{"too long", strings.Repeat("k", MaxKeySize+1)},
			{"space", "a b"},
			{"newline", "a\nb"},
			{"carriage return", "a\r"},
			{"tab", "\ta"},
			{"nul", "a\x00"},
			{"del", "a\x7f"},
		}
		s := open(t)
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				ops := map[string]error{
					"set":    s.Set(ctx, tc.key, []byte("1"), 0),
					"add":    s.Add(ctx, tc.key, []byte("1"), 0),
					"delete": s.Delete(ctx, tc.key),
				}
				_, ops["get"] = s.Get(ctx, tc.key)
				_, ops["incr"] = s.Incr(ctx, tc.key, 1)
				for op, err := range ops {
					if !errors.Is(err, ErrInvalidKey) {
						t.Errorf("%s error = %v, want ErrInvalidKey", op, err)
					}
				}
			})
		}
		t.Run("longest valid", func(t *testing.T) {
			k := key(t, "")
			k += strings.Repeat("k", MaxKeySize-len(k))
			if err := s.Set(ctx, k, []byte("v"), 0); err != nil {
				t.Fatalf("Set(250-byte key): %v", err)
			}
			if got, err := s.Get(ctx, k); err != nil || string(got) != "v" {
				t.Fatalf("Get(250-byte key) = %q, %v", got, err)
			}
		})
	})

	t.Run("LargeValue", func(t *testing.T) {
		s := open(t)
		big := bytes.Repeat([]byte("0123456789abcdef"), 512<<10/16)
		k := key(t, "k")
		if err := s.Set(ctx, k, big, 0); err != nil {
			t.Fatalf("Set(512 KiB): %v", err)
		}
		if got, err := s.Get(ctx, k); err != nil || !bytes.Equal(got, big) {
			t.Fatalf("Get(512 KiB) = %d bytes, %v", len(got), err)
		}
		tooBig := make([]byte, MaxValueSize+1)
		if err := s.Set(ctx, k, tooBig, 0); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Set(MaxValueSize+1) error = %v, want ErrTooLarge", err)
		}
		if err := s.Add(ctx, key(t, "other"), tooBig, 0); !errors.Is(err, ErrTooLarge) {
			t.Fatalf("Add(MaxValueSize+1) error = %v, want ErrTooLarge", err)
		}
	})

	t.Run("ConcurrentIncr", func(t *testing.T) {
		const goroutines, each = 8, 500
		s := open(t)
		k := key(t, "counter")
		if err := s.Set(ctx, k, []byte("0"), time.Hour); err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		errs := make(chan error, goroutines)
		for range goroutines {
			wg.Go(func() {
				for range each {
					if _, err := s.Incr(ctx, k, 1); err != nil {
						errs <- err
						return
					}
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Fatalf("Incr: %v", err)
		}
		if got, _ := s.Get(ctx, k); strings.TrimSpace(string(got)) != "4000" {
			t.Fatalf("counter = %q, want 4000", got)
		}
	})

	t.Run("Do", func(t *testing.T) {
		s := open(t)
		hit, miss, ctr, gone, fresh := key(t, "hit"), key(t, "miss"), key(t, "ctr"), key(t, "gone"), key(t, "fresh")
		if err := s.Set(ctx, hit, []byte("10.0.0.1:143"), 0); err != nil {
			t.Fatal(err)
		}
		if err := s.Set(ctx, ctr, []byte("5"), 0); err != nil {
			t.Fatal(err)
		}
		ops := []Op{
			{Kind: OpGet, Key: hit},
			{Kind: OpGet, Key: miss},
			{Kind: OpIncr, Key: ctr, Delta: 2},
			{Kind: OpDecr, Key: ctr, Delta: 10},
			{Kind: OpIncr, Key: miss, Delta: 1},
			{Kind: OpAdd, Key: hit, Value: []byte("x")},
			{Kind: OpAdd, Key: fresh, Value: []byte("1"), TTL: time.Minute},
			{Kind: OpSet, Key: gone, Value: []byte("v")},
			{Kind: OpDelete, Key: gone},
			{Kind: OpDelete, Key: gone},
			{Kind: OpGet, Key: "bad key"},
			{Kind: OpGet, Key: fresh},
		}
		Do(ctx, s, ops)
		want := []struct {
			err   error
			value string
			n     uint64
		}{
			{nil, "10.0.0.1:143", 0},
			{ErrNotFound, "", 0},
			{nil, "", 7},
			{nil, "", 0}, // decr stops at 0
			{ErrNotFound, "", 0},
			{ErrExists, "", 0},
			{nil, "", 0},
			{nil, "", 0},
			{nil, "", 0},
			{ErrNotFound, "", 0},
			{ErrInvalidKey, "", 0},
			{nil, "1", 0},
		}
		for i, w := range want {
			op := ops[i]
			if (w.err == nil) != (op.Err == nil) || (w.err != nil && !errors.Is(op.Err, w.err)) {
				t.Errorf("op %d (%s %s): err = %v, want %v", i, op.Kind, op.Key, op.Err, w.err)
				continue
			}
			if op.Kind == OpGet && w.err == nil && string(op.Value) != w.value {
				t.Errorf("op %d (get %s) = %q, want %q", i, op.Key, op.Value, w.value)
			}
			if (op.Kind == OpIncr || op.Kind == OpDecr) && w.err == nil && op.N != w.n {
				t.Errorf("op %d (%s %s) = %d, want %d", i, op.Kind, op.Key, op.N, w.n)
			}
		}
	})

	t.Run("Canceled", func(t *testing.T) {
		s := open(t)
		cctx, cancel := context.WithCancel(ctx)
		cancel()
		if _, err := s.Get(cctx, key(t, "k")); !errors.Is(err, context.Canceled) {
			t.Fatalf("Get(canceled) error = %v, want context.Canceled", err)
		}
		if err := s.Set(cctx, key(t, "k"), nil, 0); !errors.Is(err, context.Canceled) {
			t.Fatalf("Set(canceled) error = %v, want context.Canceled", err)
		}
	})

	t.Run("Closed", func(t *testing.T) {
		s := newStore(t)
		if err := s.Close(); err != nil {
			t.Fatalf("Close: %v", err)
		}
		if err := s.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
		k := key(t, "k")
		if _, err := s.Get(ctx, k); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Get after Close error = %v, want ErrUnavailable", err)
		}
		if _, err := s.Incr(ctx, k, 1); !errors.Is(err, ErrUnavailable) {
			t.Fatalf("Incr after Close error = %v, want ErrUnavailable", err)
		}
	})
}

// testThrottlePattern runs REFERENCE.md's counting (incr, on NOT_FOUND add,
// on a lost add race incr again) from many goroutines on both stores.
func testThrottlePattern(t *testing.T, s Store) {
	ctx := context.Background()
	k := key(t, "throttle")
	// A shared server may hold the counter from an earlier -count run.
	if err := s.Delete(ctx, k); err != nil && !errors.Is(err, ErrNotFound) {
		t.Fatal(err)
	}
	count := func() (uint64, error) {
		n, err := s.Incr(ctx, k, 1)
		if !errors.Is(err, ErrNotFound) {
			return n, err
		}
		err = s.Add(ctx, k, []byte("1"), time.Minute)
		if err == nil {
			return 1, nil
		}
		if !errors.Is(err, ErrExists) {
			return 0, err
		}
		return s.Incr(ctx, k, 1)
	}
	const goroutines, each = 8, 100
	var wg sync.WaitGroup
	seen := make([][]uint64, goroutines)
	for g := range goroutines {
		wg.Go(func() {
			for range each {
				n, err := count()
				if err != nil {
					t.Errorf("count: %v", err)
					return
				}
				seen[g] = append(seen[g], n)
			}
		})
	}
	wg.Wait()
	unique := make(map[uint64]bool)
	for _, ns := range seen {
		for _, n := range ns {
			if unique[n] {
				t.Fatalf("count %d returned twice", n)
			}
			unique[n] = true
		}
	}
	if len(unique) != goroutines*each || !unique[goroutines*each] {
		t.Fatalf("got %d distinct counts, want 1..%d", len(unique), goroutines*each)
	}
}
