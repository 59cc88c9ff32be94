// Package connlimit counts the client connections of the front ends and
// refuses those over a limit, as nginx's limit_conn does: per listener,
// per client address, before login, and for the whole process.
//
// A [Registry] belongs to the process, not to a configuration: a reload
// builds new front ends that take the same Registry, so the sessions still
// running on the previous configuration count against the new limits, and
// the refusal counters keep going. Counts are kept per listener name.
//
// The package decides and counts; it writes nothing to a client. Each
// front end answers a refusal in its own protocol (IMAP BYE, POP3 -ERR,
// HTTP 503). The admin API is not a front end and never takes a ticket, so
// it answers whatever the limits say.
package connlimit

import (
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults of the limits, for the front ends' configurations. RATIONALE.md
// ("Connection limits") explains each number.
const (
	// DefaultMaxSessions caps the mail and web sessions of the process:
	// what a stock Zimbra proxy node holds (4 nginx workers x 10,240
	// worker_connections, two per proxied session).
	DefaultMaxSessions = 20000
	// DefaultMaxPerClient caps one client address's connections to one
	// listener: 100 users behind one NAT address, 5 connections each
	// (Thunderbird's default per server).
	DefaultMaxPerClient = 500
	// DefaultMaxEarly caps the connections of one listener that have not
	// logged in (mail) or sent a first request (web).
	DefaultMaxEarly = 5000
)

// DefaultExempt are the addresses the per-client limit does not apply to:
// loopback, where local processes (a webmail on the node, monitoring, a
// balancer on the same host, the benchmarks) connect from.
func DefaultExempt() []netip.Prefix {
	return []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8"), netip.MustParsePrefix("::1/128")}
}

// Reason says which limit refused a connection.
type Reason uint8

// The reasons, in the order they are checked: the most specific first.
const (
	OK          Reason = iota
	PerClient          // the client address has MaxPerClient connections to the listener
	Early              // the listener has MaxEarly connections before login / first request
	PerListener        // the listener has MaxConns connections
	Global             // the process has its maximum of sessions
	nReasons
)

// Reasons lists every refusal reason.
var Reasons = []Reason{PerClient, Early, PerListener, Global}

// String returns the reason as the metrics label it: per_client,
// pre_login, per_listener, global. Early is "pre_login" for mail and
// "pre_request" for web; see Label.
func (r Reason) String() string { return r.Label("pre_login") }

// Label is String with early as the name of the Early reason.
func (r Reason) Label(early string) string {
	switch r {
	case PerClient:
		return "per_client"
	case Early:
		return early
	case PerListener:
		return "per_listener"
	case Global:
		return "global"
	}
	return "ok"
}

// Limits are one listener's limits. Zero means no limit.
type Limits struct {
	// MaxConns caps the listener's connections.
	MaxConns int
	// MaxPerClient caps the connections from one client address.
	MaxPerClient int
	// MaxEarly caps the connections before login (mail) or before the
	// first request (web).
	MaxEarly int
	// Exempt are client addresses MaxPerClient does not apply to.
	Exempt []netip.Prefix
}

func (l *Limits) exempt(a netip.Addr) bool {
	for _, p := range l.Exempt {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// refusalSlots bounds the refusals being answered at once in the whole
// process (a TLS handshake, a line, a close): past it a refused
// connection is closed without a word, so a flood cannot make refusing
// cost more than serving.
const refusalSlots = 64

// Registry holds the counts of one process.
type Registry struct {
	maxSessions atomic.Int64 // 0: no limit
	sessions    atomic.Int64
	refusing    chan struct{}

	mu        sync.Mutex
	listeners map[string]*Listener
}

// New returns a Registry without a session cap.
func New() *Registry {
	return &Registry{refusing: make(chan struct{}, refusalSlots), listeners: map[string]*Listener{}}
}

// SetMaxSessions sets the process-wide cap on sessions (0: none). It
// applies to connections accepted from now on.
func (r *Registry) SetMaxSessions(n int) { r.maxSessions.Store(int64(max(n, 0))) }

// MaxSessions returns the process-wide cap (0: none).
func (r *Registry) MaxSessions() int64 { return r.maxSessions.Load() }

// Sessions returns how many sessions hold a ticket now.
func (r *Registry) Sessions() int64 { return r.sessions.Load() }

// Listener returns the counts of the listener called name, created on
// first use.
func (r *Registry) Listener(name string) *Listener {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.listeners[name]
	if l == nil {
		l = &Listener{r: r, name: name, clients: map[netip.Addr]int32{}}
		r.listeners[name] = l
	}
	return l
}

// Listeners returns every listener seen, sorted by name.
func (r *Registry) Listeners() []*Listener {
	r.mu.Lock()
	out := make([]*Listener, 0, len(r.listeners))
	for _, l := range r.listeners {
		out = append(out, l)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].name < out[j].name })
	return out
}

// TryRefusal takes one of the process's refusal slots; false when they
// are all taken (then close the connection without answering). Give it
// back with DoneRefusal.
func (r *Registry) TryRefusal() bool {
	select {
	case r.refusing <- struct{}{}:
		return true
	default:
		return false
	}
}

// DoneRefusal gives back a slot TryRefusal took.
func (r *Registry) DoneRefusal() { <-r.refusing }

// Listener holds one listener's counts and refusals.
type Listener struct {
	r    *Registry
	name string

	mu      sync.Mutex
	conns   int
	early   int
	clients map[netip.Addr]int32

	refused [nReasons]atomic.Int64
	lastLog atomic.Int64           // unix nanoseconds of the last refusal logged
	label   atomic.Pointer[string] // SetEarlyLabel
}

// SetEarlyLabel names what Early means on this listener in metrics and
// logs: "pre_login" (the default, mail) or "pre_request" (web).
func (l *Listener) SetEarlyLabel(s string) { l.label.Store(&s) }

// EarlyLabel returns the name SetEarlyLabel gave, or "pre_login".
func (l *Listener) EarlyLabel() string {
	if p := l.label.Load(); p != nil {
		return *p
	}
	return "pre_login"
}

// Name returns the listener's name.
func (l *Listener) Name() string { return l.name }

// Open returns the listener's connections now, and how many of them have
// not logged in (or sent a first request) yet.
func (l *Listener) Open() (conns, early int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.conns, l.early
}

// Refused returns how many connections reason refused.
func (l *Listener) Refused(reason Reason) int64 {
	if reason >= nReasons {
		return 0
	}
	return l.refused[reason].Load()
}

// LogRefusal reports whether a refusal should be logged now: at most once
// every 10 seconds per listener, so that a flood does not flood the log
// too (the metrics count every one).
func (l *Listener) LogRefusal() bool {
	now := time.Now().UnixNano()
	last := l.lastLog.Load()
	return now-last >= int64(10*time.Second) && l.lastLog.CompareAndSwap(last, now)
}

// Admit counts a new connection from client under lim, or refuses it
// (the refusal is counted). client may be the zero Addr when it is not
// known yet (a PROXY header still to be read): the per-client limit then
// applies at SetClient. lim must not change while tickets use it.
func (l *Listener) Admit(client netip.Addr, lim *Limits) (*Ticket, Reason) {
	t := &Ticket{l: l, lim: lim, early: true}
	client = client.Unmap()
	perClient := client.IsValid() && lim.MaxPerClient > 0 && !lim.exempt(client)
	l.mu.Lock()
	reason := OK
	switch {
	case perClient && int(l.clients[client]) >= lim.MaxPerClient:
		reason = PerClient
	case lim.MaxEarly > 0 && l.early >= lim.MaxEarly:
		reason = Early
	case lim.MaxConns > 0 && l.conns >= lim.MaxConns:
		reason = PerListener
	default:
		n := l.r.sessions.Add(1)
		if m := l.r.maxSessions.Load(); m > 0 && n > m {
			l.r.sessions.Add(-1)
			reason = Global
		}
	}
	if reason != OK {
		l.mu.Unlock()
		l.refused[reason].Add(1)
		return nil, reason
	}
	l.conns++
	l.early++
	if perClient {
		l.clients[client]++
		t.client = client
	}
	l.mu.Unlock()
	return t, OK
}

// Ticket is one admitted connection. Establish and Release may be called
// from any goroutine; SetClient from one goroutine at a time. A nil
// *Ticket counts nothing: its methods do nothing.
type Ticket struct {
	l        *Listener
	lim      *Limits
	client   netip.Addr // counted per client when valid
	early    bool
	released bool
}

// SetClient applies the per-client limit to a connection admitted
// without its client address, now that it is known. On a refusal (counted
// as PerClient) the ticket still holds the connection's other counts:
// Release it when the connection closes. A second call does nothing.
func (t *Ticket) SetClient(client netip.Addr) Reason {
	if t == nil {
		return OK
	}
	client = client.Unmap()
	lim, l := t.lim, t.l
	if t.client.IsValid() || !client.IsValid() || lim.MaxPerClient <= 0 || lim.exempt(client) {
		return OK
	}
	l.mu.Lock()
	if t.released {
		l.mu.Unlock()
		return OK
	}
	if int(l.clients[client]) >= lim.MaxPerClient {
		l.mu.Unlock()
		l.refused[PerClient].Add(1)
		return PerClient
	}
	l.clients[client]++
	t.client = client
	l.mu.Unlock()
	return OK
}

// Establish moves the connection from the early count (before login,
// before a first request) to the established one. Later calls do nothing.
func (t *Ticket) Establish() {
	if t == nil {
		return
	}
	l := t.l
	l.mu.Lock()
	if t.early && !t.released {
		t.early = false
		l.early--
	}
	l.mu.Unlock()
}

// Release gives back everything the ticket counts; the connection ended.
// Later calls do nothing.
func (t *Ticket) Release() {
	if t == nil {
		return
	}
	l := t.l
	l.mu.Lock()
	defer l.mu.Unlock()
	if t.released {
		return
	}
	t.released = true
	l.conns--
	if t.early {
		l.early--
	}
	if t.client.IsValid() {
		if n := l.clients[t.client] - 1; n > 0 {
			l.clients[t.client] = n
		} else {
			delete(l.clients, t.client)
		}
	}
	l.r.sessions.Add(-1)
}
