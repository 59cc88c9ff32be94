package kv

import (
	"context"
	"testing"

	"github.com/postern/postern/host/internal/testenv"
)

// BenchmarkStore measures Get and Incr on both stores, from one goroutine
// and from GOMAXPROCS goroutines.
func BenchmarkStore(b *testing.B) {
	stores := []struct {
		name string
		open func(b *testing.B) Store
	}{
		{"memory", func(b *testing.B) Store { return NewMemory(MemoryOptions{}) }},
		{"memcached", func(b *testing.B) Store { return newMemcached(b, testenv.SharedMemcached(b)) }},
	}
	ctx := context.Background()
	for _, st := range stores {
		b.Run(st.name, func(b *testing.B) {
			s := st.open(b)
			defer s.Close()
			if err := s.Set(ctx, "bench:get", []byte("10.0.0.1:143"), 0); err != nil {
				b.Fatal(err)
			}
			if err := s.Set(ctx, "bench:incr", []byte("0"), 0); err != nil {
				b.Fatal(err)
			}
			b.Run("Get", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.Get(ctx, "bench:get"); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("Incr", func(b *testing.B) {
				for b.Loop() {
					if _, err := s.Incr(ctx, "bench:incr", 1); err != nil {
						b.Fatal(err)
					}
				}
			})
			b.Run("GetParallel", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := s.Get(ctx, "bench:get"); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
			b.Run("IncrParallel", func(b *testing.B) {
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						if _, err := s.Incr(ctx, "bench:incr", 1); err != nil {
							b.Error(err)
							return
						}
					}
				})
			})
		})
	}
}
