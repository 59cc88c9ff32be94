package metrics

import (
	"testing"
)

// BenchmarkScrape gathers the whole registry (three plugins, the Go
// runtime and process collectors), as one Prometheus scrape does.
func BenchmarkScrape(b *testing.B) {
	h := newHost(b)
	c := New("bench")
	c.Set(Sources{Plugins: h})
	r := Registry(c)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := r.Gather(); err != nil {
			b.Fatal(err)
		}
	}
}
