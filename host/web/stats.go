package web

import (
	"sync"
	"sync/atomic"
	"time"
)

// Counters of the web front end, kept on the request path as atomics in
// structures resolved when the server is built: a request finds its
// listener's counters through its handler and its backend's through the
// balancer's backend index, so counting is a few atomic adds, with no map
// lookup and no string built. Only upstreams a route plugin chose (not
// known in advance) are found by address, in a map bounded by
// maxRouteBackends. Stats reads them for the exporters (host/metrics, the
// status page).

// Status classes, the label of postern_web_requests_total.
var classNames = [...]string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"}

func classOf(status int) int {
	if status >= 100 && status < 600 {
		return status/100 - 1
	}
	return len(classNames) - 1
}

// DurationBuckets are the upper bounds, in seconds, of the request and
// upstream latency histograms: 100 µs to 60 s.
var DurationBuckets = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30, 60}

var bucketNanos = func() []int64 {
	out := make([]int64, len(DurationBuckets))
	for i, b := range DurationBuckets {
		out[i] = int64(b * 1e9)
	}
	return out
}()

// histogram is a fixed-bucket latency histogram of atomics.
type histogram struct {
	counts [19]atomic.Uint64 // per bucket of DurationBuckets, then +Inf
	sum    atomic.Int64      // nanoseconds
}

func (h *histogram) observe(d time.Duration) {
	n := int64(d)
	i := 0
	for i < len(bucketNanos) && n > bucketNanos[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sum.Add(n)
}

func (h *histogram) snapshot() Histogram {
	out := Histogram{Buckets: DurationBuckets, Counts: make([]uint64, len(DurationBuckets))}
	var cum uint64
	for i := range DurationBuckets {
		cum += h.counts[i].Load()
		out.Counts[i] = cum
	}
	out.Count = cum + h.counts[len(DurationBuckets)].Load()
	out.Sum = float64(h.sum.Load()) / 1e9
	return out
}

// classCounts counts responses by status class.
type classCounts [len(classNames)]atomic.Int64

// listenerStats are one listener's counters.
type listenerStats struct {
	name     string
	idx      int
	noUp     classCounts // answered without a backend (refused, redirected, no backend)
	duration histogram
	bytesIn  atomic.Int64 // request body bytes sent upstream
	bytesOut atomic.Int64 // response body bytes sent to clients
	upgrades atomic.Int64 // 101 Switching Protocols (WebSocket)
	fast     atomic.Int64 // requests served on the fast path (fastpath.go)
	reused   atomic.Int64 // requests that took a kept decision (reuse.go)
	loop     atomic.Int64 // requests served on an event loop (evloop_linux.go)
	handoffs atomic.Int64 // connections a loop handed to a goroutine
	// Connections closed (h2: streams reset) by send_timeout, and
	// responses cut by upstream_read_timeout.
	sendTimeouts, readTimeouts atomic.Int64
}

// backendStats are one backend's counters, per listener.
type backendStats struct {
	pool, addr string
	byListener []classCounts
	errors     atomic.Int64 // failed attempts (connect, timeout, protocol)
}

// poolStats are a pool's counters; route plugins' upstreams form a pool
// named "" whose backends are added as they are first used.
type poolStats struct {
	name     string
	backends []*backendStats // by balance.Backend.Index
	retries  atomic.Int64    // attempts after the first of a request
	upstream histogram       // time from sending the request to its response headers

	mu      sync.Mutex
	byAddr  sync.Map // route pool only: addr -> *backendStats
	nAddr   int
	other   *backendStats
	nListen int
}

// maxRouteBackends bounds the distinct upstream addresses of route
// plugins counted apart; the rest count under backend "other".
const maxRouteBackends = 1024

func newBackendStats(pool, addr string, listeners int) *backendStats {
	return &backendStats{pool: pool, addr: addr, byListener: make([]classCounts, listeners)}
}

// routeBackend returns the counters of a route plugin's upstream.
func (p *poolStats) routeBackend(addr string) *backendStats {
	if v, ok := p.byAddr.Load(addr); ok {
		return v.(*backendStats)
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if v, ok := p.byAddr.Load(addr); ok {
		return v.(*backendStats)
	}
	if p.nAddr >= maxRouteBackends {
		if p.other == nil {
			p.other = newBackendStats(p.name, "other", p.nListen)
		}
		return p.other
	}
	b := newBackendStats(p.name, addr, p.nListen)
	p.byAddr.Store(addr, b)
	p.nAddr++
	return b
}

// stats are a server's counters.
type stats struct {
	listeners []*listenerStats
	pools     []*poolStats
	route     *poolStats
}

// Histogram is a latency histogram at one moment: Counts[i] requests took
// at most Buckets[i] seconds (cumulative), Count in all, Sum seconds.
type Histogram struct {
	Buckets []float64
	Counts  []uint64
	Count   uint64
	Sum     float64
}

// Stats are the web front end's counters at one moment. Counters start
// at zero when the Server is built (a configuration reload builds a new
// one).
type Stats struct {
	// Requests counts answered requests by listener, pool, backend and
	// status class ("1xx".."5xx", "other"). Pool and backend are "" for
	// requests answered without a backend (refused by a plugin,
	// redirected, no backend available); pool "" with a backend is a
	// route plugin's upstream. Only non-zero counts are listed.
	Requests []RequestCount
	// Listeners are the per-listener totals and request latency.
	Listeners []ListenerStats
	// Pools are the per-pool retries and upstream latency; pool "" is
	// the route plugins' upstreams.
	Pools []PoolStats
	// Backends are the configured backends' state and errors, and the
	// route plugins' upstreams seen so far.
	Backends []BackendStats
}

// RequestCount is one series of Stats.Requests.
type RequestCount struct {
	Listener, Pool, Backend, Class string
	N                              int64
}

// ListenerStats are one listener's totals.
type ListenerStats struct {
	Name string
	// BytesIn: request body bytes sent upstream; BytesOut: response body
	// bytes sent to clients (neither counts headers, nor the bytes of an
	// upgraded connection).
	BytesIn, BytesOut int64
	// Upgrades: responses 101 Switching Protocols (WebSocket).
	Upgrades int64
	// FastPath: requests served on the fast path (no plugin wanted them;
	// Config.NoFastPath).
	FastPath int64
	// Reused: requests that took a kept login, throttle and route
	// decision instead of entering those plugins (decision reuse, ABI 1.2;
	// Config.NoDecisionReuse).
	Reused int64
	// EventLoop: fast-path requests served on an event loop
	// (Config.NoEventLoop); also counted in FastPath.
	EventLoop int64
	// Handoffs: times an event loop gave a connection to a goroutine for
	// a request or response it does not take (a body, a login to
	// decide, a chunked response...). A connection that comes back only
	// to be handed over again stays on its goroutine for a while, so a
	// high ratio to EventLoop means requests that need the full path.
	Handoffs int64
	// SendTimeouts: client connections closed, and h2 streams reset,
	// because the client took none of a response for
	// Config.SendTimeout.
	SendTimeouts int64
	// ReadTimeouts: responses cut because the backend sent none of the
	// rest of the body for Config.UpstreamReadTimeout (or the route's).
	ReadTimeouts int64
	// Duration: the whole request, from its headers to the end of the
	// response.
	Duration Histogram
}

// PoolStats are one pool's totals.
type PoolStats struct {
	Name    string
	Retries int64 // attempts on another backend after a failed one
	// Upstream: from sending a request to a backend to its response
	// headers, successful attempts only.
	Upstream Histogram
}

// BackendStats are one backend's state.
type BackendStats struct {
	Pool, Backend string
	// Up: the balancer would pick it now (not passively marked down, not
	// failing its health check). Always true for route upstreams.
	Up     bool
	Errors int64 // failed attempts: connect, timeout, protocol errors
}

func newStats(s *Server) *stats {
	st := &stats{}
	for i, l := range s.cfg.Listeners {
		st.listeners = append(st.listeners, &listenerStats{name: l.Name, idx: i})
	}
	n := len(s.cfg.Listeners)
	for _, pc := range s.cfg.Pools {
		p := s.pools[pc.Name]
		ps := &poolStats{name: pc.Name, nListen: n}
		for _, b := range p.bal.Backends() {
			ps.backends = append(ps.backends, newBackendStats(pc.Name, b.Addr, n))
		}
		p.stats = ps
		st.pools = append(st.pools, ps)
	}
	st.route = &poolStats{name: "", nListen: n}
	return st
}

// Stats returns the counters now, for exporters. It allocates; call it
// per scrape, not per request.
func (s *Server) Stats() Stats {
	st := s.stats
	var out Stats
	for _, l := range st.listeners {
		for c := range classNames {
			if n := l.noUp[c].Load(); n != 0 {
				out.Requests = append(out.Requests, RequestCount{Listener: l.name, Class: classNames[c], N: n})
			}
		}
		out.Listeners = append(out.Listeners, ListenerStats{Name: l.name, BytesIn: l.bytesIn.Load(),
			BytesOut: l.bytesOut.Load(), Upgrades: l.upgrades.Load(), FastPath: l.fast.Load(), Reused: l.reused.Load(), EventLoop: l.loop.Load(), Handoffs: l.handoffs.Load(),
			SendTimeouts: l.sendTimeouts.Load(), ReadTimeouts: l.readTimeouts.Load(), Duration: l.duration.snapshot()})
	}
	addBackend := func(b *backendStats, up bool) {
		for li := range b.byListener {
			cc := &b.byListener[li]
			for c := range classNames {
				if n := cc[c].Load(); n != 0 {
					out.Requests = append(out.Requests, RequestCount{Listener: st.listeners[li].name, Pool: b.pool,
						Backend: b.addr, Class: classNames[c], N: n})
				}
			}
		}
		out.Backends = append(out.Backends, BackendStats{Pool: b.pool, Backend: b.addr, Up: up, Errors: b.errors.Load()})
	}
	for _, ps := range st.pools {
		bal := s.pools[ps.name].bal
		for i, b := range ps.backends {
			addBackend(b, bal.Up(bal.Backends()[i]))
		}
		out.Pools = append(out.Pools, PoolStats{Name: ps.name, Retries: ps.retries.Load(), Upstream: ps.upstream.snapshot()})
	}
	st.route.byAddr.Range(func(_, v any) bool {
		addBackend(v.(*backendStats), true)
		return true
	})
	st.route.mu.Lock()
	other := st.route.other
	st.route.mu.Unlock()
	if other != nil {
		addBackend(other, true)
	}
	out.Pools = append(out.Pools, PoolStats{Name: "", Retries: st.route.retries.Load(), Upstream: st.route.upstream.snapshot()})
	return out
}
