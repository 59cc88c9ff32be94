// Package balance chooses a backend of a named pool for each HTTP request:
// round-robin, smooth weighted round-robin (nginx's), client-IP hash
// (nginx's and Zimbra's ip_hash, to the byte) and least connections, with
// passive health (a backend that fails MaxFails times within FailTimeout is
// skipped for FailTimeout) and the marks of optional active health checks.
//
// It knows nothing of HTTP: the caller reports failures and successes and
// holds a backend's connection count with Acquire and Release.
package balance

import (
	"errors"
	"fmt"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"
)

// Mode is a balancing method.
type Mode int

// The balancing methods.
const (
	// RoundRobin takes the backends in turn, ignoring weights.
	RoundRobin Mode = iota
	// Weighted is nginx's smooth weighted round-robin: a backend of weight
	// 3 gets 3 of every 4 requests next to one of weight 1, interleaved.
	Weighted
	// IPHash sends a client address to the same backend every time
	// (nginx ip_hash: the first three octets of an IPv4 address, all 16
	// bytes of an IPv6 one, h=89; h=(h*113+byte)%6271; then by weight).
	IPHash
	// LeastConn picks the backend with the fewest requests in flight
	// relative to its weight; ties go round-robin.
	LeastConn
)

// String returns the mode's configuration name.
func (m Mode) String() string {
	switch m {
	case RoundRobin:
		return "round-robin"
	case Weighted:
		return "weighted"
	case IPHash:
		return "ip-hash"
	case LeastConn:
		return "least-conn"
	}
	return fmt.Sprintf("mode(%d)", int(m))
}

// ParseMode parses a configuration name; "" is RoundRobin.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "", "round-robin":
		return RoundRobin, nil
	case "weighted":
		return Weighted, nil
	case "ip-hash":
		return IPHash, nil
	case "least-conn":
		return LeastConn, nil
	}
	return 0, fmt.Errorf("balance: unknown mode %q; use round-robin, weighted, ip-hash or least-conn", s)
}

// Spec describes one backend.
type Spec struct {
	Addr   string // host:port
	Weight int    // 0 means 1
}

// Options configure a Pool.
type Options struct {
	Mode     Mode
	Backends []Spec
	// MaxFails failures within FailTimeout mark a backend down for
	// FailTimeout. 0 means 1 (nginx's default); negative disables
	// passive health.
	MaxFails int
	// FailTimeout is the failure window and the time a backend stays
	// down; 0 means 10 s (nginx's default).
	FailTimeout time.Duration
	// Now is the clock; nil means time.Now. For tests.
	Now func() time.Time
}

// ErrNoBackend is returned by Pick when every backend is down or tried.
var ErrNoBackend = errors.New("balance: no backend available")

// Backend is one member of a pool.
type Backend struct {
	Addr   string
	Weight int
	Index  int // position in the pool's configuration (Backends()[Index] is this one)

	active  atomic.Int64 // requests in flight (LeastConn)
	failing atomic.Bool  // fails > 0: Success has something to reset

	// guarded by Pool.mu
	current   int       // smooth WRR state
	fails     int       // failures in the current window
	failStart time.Time // start of the current window
	downUntil time.Time // passive: skipped until then
	unhealthy bool      // active check failed
}

// Active returns the requests in flight on the backend.
func (b *Backend) Active() int64 { return b.active.Load() }

// Acquire counts a request in flight; call Release when its response
// ends.
func (b *Backend) Acquire() { b.active.Add(1) }

// Release ends a request counted by Acquire.
func (b *Backend) Release() { b.active.Add(-1) }

// Pool is a named set of backends. Safe for concurrent use.
type Pool struct {
	mode        Mode
	maxFails    int
	failTimeout time.Duration
	now         func() time.Time
	backends    []*Backend
	totalWeight int

	rr atomic.Uint64 // RoundRobin and LeastConn tie breaker
	mu sync.Mutex    // health and WRR state
}

// New returns a pool; it needs at least one backend.
func New(opts Options) (*Pool, error) {
	if len(opts.Backends) == 0 {
		return nil, errors.New("balance: a pool needs at least one backend")
	}
	p := &Pool{mode: opts.Mode, maxFails: opts.MaxFails, failTimeout: opts.FailTimeout, now: opts.Now}
	if p.maxFails == 0 {
		p.maxFails = 1
	}
	if p.failTimeout <= 0 {
		p.failTimeout = 10 * time.Second
	}
	if p.now == nil {
		p.now = time.Now
	}
	for _, s := range opts.Backends {
		w := s.Weight
		if w <= 0 {
			w = 1
		}
		if p.mode == RoundRobin {
			w = 1
		}
		p.backends = append(p.backends, &Backend{Addr: s.Addr, Weight: w, Index: len(p.backends)})
		p.totalWeight += w
	}
	return p, nil
}

// Backends returns the pool's members in configuration order.
func (p *Pool) Backends() []*Backend { return p.backends }

// Mode returns the pool's balancing method.
func (p *Pool) Mode() Mode { return p.mode }

// usable reports whether b may take a request now. Caller holds p.mu.
func (p *Pool) usable(b *Backend, now time.Time) bool {
	return !b.unhealthy && !now.Before(b.downUntil)
}

// Pick returns the backend for a request from client, skipping backends
// that are down and those for which skip returns true (already tried for
// this request). skip may be nil.
func (p *Pool) Pick(client netip.Addr, skip func(*Backend) bool) (*Backend, error) {
	ok := func(b *Backend, now time.Time) bool {
		return p.usable(b, now) && (skip == nil || !skip(b))
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	switch p.mode {
	case Weighted:
		return p.pickWeighted(now, ok)
	case IPHash:
		if b := p.pickHash(client, now, ok); b != nil {
			return b, nil
		}
		return p.pickWeighted(now, ok) // nginx falls back to round-robin after 20 tries
	case LeastConn:
		return p.pickLeast(now, ok)
	}
	n := uint64(len(p.backends))
	start := p.rr.Add(1) - 1
	for i := range n {
		b := p.backends[(start+i)%n]
		if ok(b, now) {
			return b, nil
		}
	}
	return nil, ErrNoBackend
}

// pickWeighted is nginx's smooth weighted round-robin
// (ngx_http_upstream_get_peer).
func (p *Pool) pickWeighted(now time.Time, ok func(*Backend, time.Time) bool) (*Backend, error) {
	var best *Backend
	total := 0
	for _, b := range p.backends {
		if !ok(b, now) {
			continue
		}
		b.current += b.Weight
		total += b.Weight
		if best == nil || b.current > best.current {
			best = b
		}
	}
	if best == nil {
		return nil, ErrNoBackend
	}
	best.current -= total
	return best, nil
}

// HashBytes returns the bytes of client that nginx's ip_hash mixes: the
// first three octets of an IPv4 address (so a /24 shares a backend), all
// sixteen of an IPv6 one.
func HashBytes(client netip.Addr) []byte {
	client = client.Unmap()
	if client.Is4() {
		a := client.As4()
		return a[:3]
	}
	a := client.As16()
	return a[:]
}

// pickHash is ngx_http_upstream_get_ip_hash_peer: mix the address into the
// hash, map it onto the weights, and on a down backend mix again, up to 20
// times.
func (p *Pool) pickHash(client netip.Addr, now time.Time, ok func(*Backend, time.Time) bool) *Backend {
	if !client.IsValid() {
		return nil
	}
	addr := HashBytes(client)
	hash := uint32(89)
	for tries := 0; tries < 20; tries++ {
		for _, o := range addr {
			hash = (hash*113 + uint32(o)) % 6271
		}
		w := int(hash % uint32(p.totalWeight))
		i := 0
		for w >= p.backends[i].Weight {
			w -= p.backends[i].Weight
			i++
		}
		if b := p.backends[i]; ok(b, now) {
			return b
		}
	}
	return nil
}

func (p *Pool) pickLeast(now time.Time, ok func(*Backend, time.Time) bool) (*Backend, error) {
	n := uint64(len(p.backends))
	start := p.rr.Add(1) - 1
	var best *Backend
	for i := range n {
		b := p.backends[(start+i)%n]
		if !ok(b, now) {
			continue
		}
		// a/w < best.a/best.w without division
		if best == nil || b.active.Load()*int64(best.Weight) < best.active.Load()*int64(b.Weight) {
			best = b
		}
	}
	if best == nil {
		return nil, ErrNoBackend
	}
	return best, nil
}

// Fail records a failed attempt (connect error, timeout, reset). It
// returns true when this failure marked the backend down.
func (p *Pool) Fail(b *Backend) bool {
	if p.maxFails < 0 {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	now := p.now()
	if b.failStart.IsZero() || now.Sub(b.failStart) > p.failTimeout {
		b.failStart, b.fails = now, 0
	}
	b.fails++
	b.failing.Store(true)
	if b.fails >= p.maxFails {
		b.downUntil = now.Add(p.failTimeout)
		b.fails, b.failStart = 0, time.Time{}
		return true
	}
	return false
}

// Success clears a backend's failure count. It takes the pool's lock only
// when there is a count to clear.
func (p *Pool) Success(b *Backend) {
	if !b.failing.Load() {
		return
	}
	p.mu.Lock()
	b.failing.Store(false)
	b.fails, b.failStart = 0, time.Time{}
	p.mu.Unlock()
}

// SetHealthy records the result of an active health check: an unhealthy
// backend is skipped until a check succeeds.
func (p *Pool) SetHealthy(b *Backend, healthy bool) {
	p.mu.Lock()
	b.unhealthy = !healthy
	if healthy {
		b.downUntil = time.Time{}
	}
	p.mu.Unlock()
}

// Up reports whether b would be picked now (neither passively down nor
// failing its active check).
func (p *Pool) Up(b *Backend) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.usable(b, p.now())
}
