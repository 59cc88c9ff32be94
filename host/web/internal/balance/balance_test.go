package balance

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"
)

func specs(weights ...int) []Spec {
	var s []Spec
	for i, w := range weights {
		s = append(s, Spec{Addr: fmt.Sprintf("10.0.0.%d:80", i+1), Weight: w})
	}
	return s
}

func mustPool(t *testing.T, o Options) *Pool {
	t.Helper()
	p, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// count picks n times from distinct clients and counts per backend.
func count(t *testing.T, p *Pool, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := range n {
		b, err := p.Pick(netip.AddrFrom4([4]byte{10, byte(i >> 8), byte(i), 1}), nil)
		if err != nil {
			t.Fatal(err)
		}
		got[b.Addr]++
	}
	return got
}

func TestPool_Pick_distribution(t *testing.T) {
	tests := []struct {
		name    string
		mode    Mode
		weights []int
		n       int
		want    map[string]int
	}{
		{"round-robin is even and ignores weights", RoundRobin, []int{1, 5, 1}, 300,
			map[string]int{"10.0.0.1:80": 100, "10.0.0.2:80": 100, "10.0.0.3:80": 100}},
		{"weighted follows weights exactly", Weighted, []int{5, 1, 1}, 700,
			map[string]int{"10.0.0.1:80": 500, "10.0.0.2:80": 100, "10.0.0.3:80": 100}},
		{"least-conn with nothing in flight rotates", LeastConn, []int{1, 1}, 100,
			map[string]int{"10.0.0.1:80": 50, "10.0.0.2:80": 50}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPool(t, Options{Mode: tc.mode, Backends: specs(tc.weights...)})
			got := count(t, p, tc.n)
			for addr, want := range tc.want {
				if got[addr] != want {
					t.Errorf("%s got %d of %d, want %d (all: %v)", addr, got[addr], tc.n, want, got)
				}
			}
		})
	}
}

func TestPool_Pick_weightedIsSmooth(t *testing.T) {
	// nginx's smooth WRR with weights 5,1,1 gives a a b a c a a.
	p := mustPool(t, Options{Mode: Weighted, Backends: specs(5, 1, 1)})
	var seq []string
	for range 7 {
		b, _ := p.Pick(netip.Addr{}, nil)
		seq = append(seq, b.Addr[7:8])
	}
	if got := strings.Join(seq, ""); got != "1121311" {
		t.Errorf("sequence = %s, want 1121311", got)
	}
}

func TestPool_Pick_ipHash(t *testing.T) {
	// h=89; for 192, 0, 2: h=(h*113+o)%6271 gives 3978, 4273, 6255.
	tests := []struct {
		name     string
		client   string
		backends int
		want     int
	}{
		{"two backends", "192.0.2.7", 2, 6255 % 2},
		{"three backends", "192.0.2.7", 3, 6255 % 3},
		{"same /24, same backend", "192.0.2.200", 3, 6255 % 3},
		{"IPv4-mapped IPv6 is IPv4", "::ffff:192.0.2.7", 3, 6255 % 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p := mustPool(t, Options{Mode: IPHash, Backends: specs(make([]int, tc.backends)...)})
			for range 5 {
				b, err := p.Pick(netip.MustParseAddr(tc.client), nil)
				if err != nil {
					t.Fatal(err)
				}
				if b != p.Backends()[tc.want] {
					t.Fatalf("picked %s, want backend %d", b.Addr, tc.want)
				}
			}
		})
	}
	// Spread over many /24s: every backend gets a share.
	p := mustPool(t, Options{Mode: IPHash, Backends: specs(1, 1, 1)})
	got := map[string]int{}
	for i := range 3000 {
		b, _ := p.Pick(netip.AddrFrom4([4]byte{byte(i >> 8), byte(i), 7, 1}), nil)
		got[b.Addr]++
	}
	for _, b := range p.Backends() {
		if got[b.Addr] < 600 {
			t.Errorf("ip-hash gave %s only %d of 3000 clients: %v", b.Addr, got[b.Addr], got)
		}
	}
}

func TestPool_Pick_ipHashSkipsDown(t *testing.T) {
	p := mustPool(t, Options{Mode: IPHash, Backends: specs(1, 1, 1)})
	client := netip.MustParseAddr("192.0.2.7")
	first, _ := p.Pick(client, nil)
	p.Fail(first)
	second, err := p.Pick(client, nil)
	if err != nil || second == first {
		t.Fatalf("after the hashed backend failed: %v, %v", second, err)
	}
	again, _ := p.Pick(client, nil)
	if again != second {
		t.Error("the rehash is not stable while the first backend is down")
	}
}

func TestPool_Pick_leastConn(t *testing.T) {
	p := mustPool(t, Options{Mode: LeastConn, Backends: specs(1, 1, 2)})
	bs := p.Backends()
	bs[0].Acquire()
	bs[0].Acquire()
	bs[1].Acquire()
	bs[2].Acquire()
	bs[2].Acquire()
	// active/weight: 2, 1, 1 -> one of the last two.
	for range 10 {
		b, _ := p.Pick(netip.Addr{}, nil)
		if b == bs[0] {
			t.Fatal("picked the busiest backend")
		}
	}
	bs[1].Release()
	for range 10 {
		if b, _ := p.Pick(netip.Addr{}, nil); b != bs[1] {
			t.Fatalf("picked %s, want the idle one", b.Addr)
		}
	}
}

func TestPool_passiveHealth(t *testing.T) {
	now := time.Unix(1000, 0)
	p := mustPool(t, Options{Backends: specs(1, 1), MaxFails: 2, FailTimeout: 10 * time.Second,
		Now: func() time.Time { return now }})
	a, b := p.Backends()[0], p.Backends()[1]
	if p.Fail(a) {
		t.Fatal("one failure of two marked the backend down")
	}
	if !p.Fail(a) {
		t.Fatal("the second failure did not mark the backend down")
	}
	for range 4 {
		if got, _ := p.Pick(netip.Addr{}, nil); got != b {
			t.Fatal("picked a backend that is down")
		}
	}
	now = now.Add(10 * time.Second)
	if !p.Up(a) {
		t.Fatal("the backend is still down after FailTimeout")
	}
	// Failures spread wider than the window do not add up.
	p.Fail(a)
	now = now.Add(11 * time.Second)
	if p.Fail(a) {
		t.Error("failures in two windows marked the backend down")
	}
	// Success resets the count.
	p.Success(a)
	if p.Fail(a) {
		t.Error("a failure after a success marked the backend down")
	}
	// Everything down: no backend.
	p.Fail(a)
	p.Fail(b)
	p.Fail(b)
	if _, err := p.Pick(netip.Addr{}, nil); err != ErrNoBackend {
		t.Errorf("Pick with every backend down = %v, want ErrNoBackend", err)
	}
}

func TestPool_activeHealthAndSkip(t *testing.T) {
	p := mustPool(t, Options{Mode: Weighted, Backends: specs(1, 1, 1)})
	bs := p.Backends()
	p.SetHealthy(bs[0], false)
	tried := map[*Backend]bool{bs[1]: true}
	for range 5 {
		b, err := p.Pick(netip.Addr{}, func(b *Backend) bool { return tried[b] })
		if err != nil || b != bs[2] {
			t.Fatalf("Pick = %v, %v; want the only healthy untried backend", b, err)
		}
	}
	p.SetHealthy(bs[0], true)
	if !p.Up(bs[0]) {
		t.Error("a backend that passed its check is not up")
	}
}

func TestPool_Pick_concurrent(t *testing.T) {
	for _, m := range []Mode{RoundRobin, Weighted, IPHash, LeastConn} {
		p := mustPool(t, Options{Mode: m, Backends: specs(1, 2, 3), MaxFails: 1000})
		var wg sync.WaitGroup
		for g := range 4 {
			wg.Go(func() {
				for i := range 500 {
					b, err := p.Pick(netip.AddrFrom4([4]byte{10, byte(g), byte(i), 1}), nil)
					if err != nil {
						t.Error(err)
						return
					}
					b.Acquire()
					if i%7 == 0 {
						p.Fail(b)
					}
					b.Release()
				}
			})
		}
		wg.Wait()
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range []Mode{RoundRobin, Weighted, IPHash, LeastConn} {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Errorf("ParseMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseMode("random"); err == nil || !strings.Contains(err.Error(), "least-conn") {
		t.Errorf("ParseMode(random) error = %v, want the list of modes", err)
	}
}

func TestNew_noBackends(t *testing.T) {
	if _, err := New(Options{}); err == nil {
		t.Error("New with no backends succeeded")
	}
}
