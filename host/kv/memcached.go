package kv

import (
	"context"
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/host/kv/placement"
)

// MemcachedOptions configures [NewMemcached]. The zero value is usable.
type MemcachedOptions struct {
	// Timeout bounds each network step (connect, write, read) of one
	// operation; 0 means 100 ms. Keep it short: a proxy waits for it on
	// the login path.
	Timeout time.Duration
	// MaxIdleConns is how many idle connections are kept per server;
	// 0 means 64, enough for a proxy's concurrent logins.
	MaxIdleConns int
	// Distribution chooses a key's server (store.distribution): "crc32"
	// (or ""), "zimbra-nginx" or "ketama"; see package placement.
	Distribution string
	// KeyForm is the key as sent to memcached (store.key_form): "raw" (or
	// "") or "sha256" (Zimbra 10.1 and later). The server is chosen from
	// the raw key either way.
	KeyForm string
}

const (
	defaultMemcachedTimeout = 100 * time.Millisecond
	defaultMaxIdleConns     = 64
	// maxRelativeTTL is memcached's REALTIME_MAXDELTA: an expiration of
	// more seconds than this is read as an absolute Unix time.
	maxRelativeTTL = 30 * 24 * 60 * 60
	// downFor is how long a server that just failed (refused, reset, timed
	// out) is skipped: operations on its keys fail at once with
	// ErrUnavailable instead of each waiting for Timeout. A hung memcached
	// then costs one timeout per server per second, not one per operation
	// (about five per login with the standard chain), as nginx's upstream
	// fail_timeout does for its peers.
	downFor = time.Second
)

// Memcached is a [Store] on one or more memcached servers, shared by every
// proxy that uses the same servers.
//
// # Notes
//
// Each key lives on one server, chosen by the distribution (package
// placement): by default the CRC32 of the key modulo the number of servers
// (gomemcache's placement, kept when this client replaced gomemcache),
// which is not how Zimbra's proxy places keys; "zimbra-nginx" is. With
// "zimbra-nginx" and "ketama" a key whose server is marked down goes to the
// next server the distribution names; with "crc32" it is unavailable until
// its server is back. Host names are resolved once, by NewMemcached.
//
// Several operations given to [Memcached.Do] are pipelined: one write and
// one read per server, whatever their number.
//
// The context is checked before each operation; its deadline does not
// shorten an operation in flight, which Timeout bounds instead.
//
// Items live for whole seconds: a TTL is rounded up to the next second, and
// memcached's clock ticks once a second, so an item may expire up to a second
// early. A TTL over 30 days is sent as an absolute Unix time (memcached's
// rule), so it depends on the server's clock, and is capped at January 2038,
// the largest time the protocol's 32-bit field holds.
type Memcached struct {
	servers []*mcServer // in the configured order
	place   placement.Placer
	form    placement.KeyForm
	isDown  func(i int) bool // bound once: a closure per operation would allocate
	closed  atomic.Bool
	now     func() time.Time // replaced in tests
}

var (
	_ Store   = (*Memcached)(nil)
	_ Batcher = (*Memcached)(nil)
)

// NewMemcached returns a store on the memcached servers given as host:port
// (or a Unix socket path). It does not connect: an unreachable server shows
// up as ErrUnavailable from the operations.
func NewMemcached(servers []string, opts MemcachedOptions) (*Memcached, error) {
	if len(servers) == 0 {
		return nil, errors.New("kv: memcached: no servers configured; list at least one host:port")
	}
	if opts.Timeout <= 0 {
		opts.Timeout = defaultMemcachedTimeout
	}
	if opts.MaxIdleConns <= 0 {
		opts.MaxIdleConns = defaultMaxIdleConns
	}
	m := &Memcached{now: time.Now}
	m.isDown = func(i int) bool { return time.Now().UnixNano() < m.servers[i].downUntil.Load() }
	var err error
	if m.place, err = placement.New(opts.Distribution, servers); err != nil {
		return nil, fmt.Errorf("kv: memcached: %w", err)
	}
	if m.form, err = placement.ParseKeyForm(opts.KeyForm); err != nil {
		return nil, fmt.Errorf("kv: memcached: %w", err)
	}
	for _, a := range servers {
		s, err := newMCServer(a, opts.Timeout, opts.MaxIdleConns)
		if err != nil {
			return nil, fmt.Errorf("kv: memcached server %q: %w; use host:port with a resolvable host", a, err)
		}
		m.servers = append(m.servers, s)
	}
	return m, nil
}

// Servers returns the configured servers, in order.
func (m *Memcached) Servers() []string {
	out := make([]string, len(m.servers))
	for i, s := range m.servers {
		out[i] = s.label
	}
	return out
}

// Shared returns true: every proxy using the same servers sees the data.
func (m *Memcached) Shared() bool { return true }

// Close closes idle connections. Later calls return ErrUnavailable.
func (m *Memcached) Close() error {
	m.closed.Store(true)
	var errs []error
	for _, s := range m.servers {
		errs = append(errs, s.closeIdle())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kv: memcached: close: %w", err)
	}
	return nil
}

var errMemcachedClosed = fmt.Errorf("kv: memcached: %w: the store was closed; use the store of the current configuration", ErrUnavailable)

// errSkipped is why an operation failed at once: its server failed less
// than downFor ago.
var errSkipped = fmt.Errorf("it failed less than %v ago, so it is skipped for now", downFor)

const serverHint = "check that memcached is running and reachable from this host, or raise the timeout"

// check validates op before it is sent and returns its server, with the
// key as sent in op.wire, or sets op.Err and returns nil.
func (m *Memcached) check(ctx context.Context, op *Op) *mcServer {
	op.Err = nil
	if err := ctx.Err(); err != nil {
		op.Err = err
		return nil
	}
	if m.closed.Load() {
		op.Err = errMemcachedClosed
		return nil
	}
	if err := ValidKey(op.Key); err != nil {
		op.Err = err
		return nil
	}
	switch op.Kind {
	case OpSet, OpAdd:
		if err := checkValue(op.Value); err != nil {
			op.Err = err
			return nil
		}
	case OpGet, OpIncr, OpDecr, OpDelete:
	default:
		op.Err = errBadOp
		return nil
	}
	i := 0
	if len(m.servers) > 1 {
		i = m.place.Server(op.Key, m.isDown)
	}
	if i < 0 || m.isDown(i) {
		where := "memcached " + m.servers[0].label
		if i >= 0 {
			where = "memcached " + m.servers[i].label
		} else if len(m.servers) > 1 {
			where = "every memcached server"
		}
		op.Err = unavailable(op.Kind.String(), where, errSkipped, serverHint)
		return nil
	}
	op.wire = m.form.Wire(op.Key)
	return m.servers[i]
}

// Do implements [Batcher]: the operations of each server go in one
// pipelined round trip, servers one after another.
func (m *Memcached) Do(ctx context.Context, ops []Op) {
	if len(ops) == 1 {
		m.one(ctx, &ops[0])
		return
	}
	for len(ops) > 0 {
		// At most maxGroup operations per round trip, so the groups live
		// on the stack (kv_batch carries at most 16).
		n := min(len(ops), maxGroup)
		var srv [maxGroup]*mcServer
		for i := range ops[:n] {
			srv[i] = m.check(ctx, &ops[i])
		}
		var done [maxGroup]bool
		for i := range ops[:n] {
			if srv[i] == nil || done[i] {
				continue
			}
			var buf [maxGroup]*Op
			group := buf[:0]
			for j := i; j < n; j++ {
				if srv[j] == srv[i] {
					group = append(group, &ops[j])
					done[j] = true
				}
			}
			m.run(srv[i], group)
		}
		ops = ops[n:]
	}
}

// maxGroup is the most operations Do sends in one round trip.
const maxGroup = 16

// one runs a single operation.
func (m *Memcached) one(ctx context.Context, op *Op) {
	s := m.check(ctx, op)
	if s == nil {
		return
	}
	var arr [1]*Op
	arr[0] = op
	m.run(s, arr[:])
}

// run sends group to s and turns an outage into ErrUnavailable for every
// operation of the group, marking the server down.
func (m *Memcached) run(s *mcServer, group []*Op) {
	err := s.do(group, m.now())
	for _, op := range group {
		if err != nil {
			op.Err = unavailable(op.Kind.String(), "memcached "+s.label, err, serverHint)
		}
		if errors.Is(op.Err, ErrUnavailable) {
			s.downUntil.Store(time.Now().Add(downFor).UnixNano())
		}
	}
}

// expiration converts a TTL to memcached's exptime field.
func expiration(now time.Time, ttl time.Duration) int32 {
	switch {
	case ttl == 0:
		return 0
	case ttl < 0:
		return -1 // memcached: already expired
	}
	secs := int64(ttl / time.Second)
	if ttl%time.Second != 0 {
		secs++ // round up, so an item lives at least most of its TTL
	}
	if secs <= maxRelativeTTL {
		return int32(secs)
	}
	abs := now.Unix() + secs
	if abs > math.MaxInt32 || abs < 0 {
		return math.MaxInt32
	}
	return int32(abs)
}

// Get implements [Store].
func (m *Memcached) Get(ctx context.Context, key string) ([]byte, error) {
	op := Op{Kind: OpGet, Key: key}
	m.one(ctx, &op)
	return op.Value, op.Err
}

// Set implements [Store].
func (m *Memcached) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	op := Op{Kind: OpSet, Key: key, Value: value, TTL: ttl}
	m.one(ctx, &op)
	return op.Err
}

// Add implements [Store].
func (m *Memcached) Add(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	op := Op{Kind: OpAdd, Key: key, Value: value, TTL: ttl}
	m.one(ctx, &op)
	return op.Err
}

// Incr implements [Store].
func (m *Memcached) Incr(ctx context.Context, key string, delta uint64) (uint64, error) {
	op := Op{Kind: OpIncr, Key: key, Delta: delta}
	m.one(ctx, &op)
	return op.N, op.Err
}

// Decr subtracts delta from the counter under key, stopping at 0
// (memcached's decr), and returns the new value. Errors are Incr's.
func (m *Memcached) Decr(ctx context.Context, key string, delta uint64) (uint64, error) {
	op := Op{Kind: OpDecr, Key: key, Delta: delta}
	m.one(ctx, &op)
	return op.N, op.Err
}

// Delete implements [Store].
func (m *Memcached) Delete(ctx context.Context, key string) error {
	op := Op{Kind: OpDelete, Key: key}
	m.one(ctx, &op)
	return op.Err
}

// DeleteEverywhere deletes keys on every configured server, not only on the
// server each key hashes to, and returns how many (server, key) pairs were
// deleted. It is the route purge run after a mailbox moves (Zimbra's
// zmproxypurge): entries written by proxies with another server list or
// distribution, or before a server was added, are found too. Keys are sent
// in the store's key form.
//
// Missing keys are not errors. Servers are purged concurrently; a server
// that fails is skipped after its first error, and the errors of all failed
// servers are joined (each wraps ErrUnavailable), while the count still
// includes what the other servers deleted.
func (m *Memcached) DeleteEverywhere(ctx context.Context, keys ...string) (deleted int, err error) {
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	if m.closed.Load() {
		return 0, errMemcachedClosed
	}
	for _, k := range keys {
		if err := ValidKey(k); err != nil {
			return 0, fmt.Errorf("kv: purge: %w; nothing was deleted", err)
		}
	}
	var (
		wg    sync.WaitGroup
		total atomic.Int64
		errs  = make([]error, len(m.servers))
	)
	for i, s := range m.servers {
		wg.Go(func() {
			ops := make([]Op, len(keys))
			group := make([]*Op, len(keys))
			for j, k := range keys {
				ops[j] = Op{Kind: OpDelete, Key: k, wire: m.form.Wire(k)}
				group[j] = &ops[j]
			}
			if err := s.do(group, m.now()); err != nil {
				errs[i] = unavailable("purge", "memcached "+s.label, err,
					"check that memcached is running and reachable, then purge again")
				return
			}
			for _, op := range ops {
				switch {
				case op.Err == nil:
					total.Add(1)
				case errors.Is(op.Err, ErrNotFound):
				default:
					errs[i] = unavailable("purge", "memcached "+s.label, op.Err,
						"check that memcached is running and reachable, then purge again")
				}
			}
		})
	}
	wg.Wait()
	return int(total.Load()), errors.Join(errs...)
}
