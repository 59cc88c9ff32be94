package kv

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"

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
// placement): by default gomemcache's CRC32 of the key modulo the number of
// servers, which is not how Zimbra's proxy places keys; "zimbra-nginx" is.
// With "zimbra-nginx" and "ketama" a key whose server is marked down goes
// to the next server the distribution names; with "crc32" it is
// unavailable until its server is back. Host names are resolved once, by
// NewMemcached.
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
	servers []string
	place   placement.Placer
	form    placement.KeyForm
	each    []*memcache.Client // one per server, in servers' order
	// downUntil holds, per server, the Unix nanos until which the server
	// is skipped after a failure (see downFor).
	downUntil []atomic.Int64
	isDown    func(i int) bool // bound once: a closure per operation would allocate
	closed    atomic.Bool
	now       func() time.Time // replaced in tests
}

var _ Store = (*Memcached)(nil)

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
	m := &Memcached{
		servers:   append([]string(nil), servers...),
		now:       time.Now,
		downUntil: make([]atomic.Int64, len(servers)),
	}
	m.isDown = func(i int) bool { return time.Now().UnixNano() < m.downUntil[i].Load() }
	var err error
	if m.place, err = placement.New(opts.Distribution, servers); err != nil {
		return nil, fmt.Errorf("kv: memcached: %w", err)
	}
	if m.form, err = placement.ParseKeyForm(opts.KeyForm); err != nil {
		return nil, fmt.Errorf("kv: memcached: %w", err)
	}
	for _, s := range servers {
		// One client per server: the store, not gomemcache, picks the
		// server. SetServers resolves the name once, as memcache.New
		// would, but returns the error instead of dropping it.
		sl := new(memcache.ServerList)
		if err := sl.SetServers(s); err != nil {
			return nil, fmt.Errorf("kv: memcached server %q: %w; use host:port with a resolvable host", s, err)
		}
		c := memcache.NewFromSelector(sl)
		c.Timeout = opts.Timeout
		c.MaxIdleConns = opts.MaxIdleConns
		m.each = append(m.each, c)
	}
	return m, nil
}

// Servers returns the configured servers, in order.
func (m *Memcached) Servers() []string { return append([]string(nil), m.servers...) }

// Shared returns true: every proxy using the same servers sees the data.
func (m *Memcached) Shared() bool { return true }

// Close closes idle connections. Later calls return ErrUnavailable.
func (m *Memcached) Close() error {
	m.closed.Store(true)
	var errs []error
	for _, c := range m.each {
		errs = append(errs, c.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kv: memcached: close: %w", err)
	}
	return nil
}

var errMemcachedClosed = fmt.Errorf("kv: memcached: %w: the store was closed; use the store of the current configuration", ErrUnavailable)

// begin checks an operation on key and returns the index of the server
// to send it to and the key as sent.
func (m *Memcached) begin(ctx context.Context, op, key string) (int, string, error) {
	if err := ctx.Err(); err != nil {
		return 0, "", err
	}
	if m.closed.Load() {
		return 0, "", errMemcachedClosed
	}
	if err := ValidKey(key); err != nil {
		return 0, "", err
	}
	i := m.place.Server(key, m.isDown)
	if i < 0 || m.isDown(i) {
		where := "memcached " + m.servers[0]
		if i >= 0 {
			where = "memcached " + m.servers[i]
		} else if len(m.servers) > 1 {
			where = "every memcached server"
		}
		return 0, "", unavailable(op, where, errSkipped,
			"check that memcached is running and reachable from this host, or raise the timeout")
	}
	return i, m.form.Wire(key), nil
}

// errSkipped is why an operation failed at once: its server failed less
// than downFor ago.
var errSkipped = fmt.Errorf("it failed less than %v ago, so it is skipped for now", downFor)

// failed marks server i down for downFor when err is an outage (not a
// miss, an existing key, or a refused value).
func (m *Memcached) failed(i int, err error) error {
	if errors.Is(err, ErrUnavailable) {
		m.downUntil[i].Store(time.Now().Add(downFor).UnixNano())
	}
	return err
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

// mapErr turns a gomemcache error from server i into this package's
// errors.
func (m *Memcached) mapErr(op string, i int, err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, memcache.ErrCacheMiss):
		return ErrNotFound
	case errors.Is(err, memcache.ErrNotStored):
		return ErrExists
	case errors.Is(err, memcache.ErrMalformedKey):
		return fmt.Errorf("%w: %w", ErrInvalidKey, err)
	}
	msg := err.Error()
	switch {
	case strings.Contains(msg, "non-numeric value"):
		return fmt.Errorf("%w: incr needs a value that is an unsigned 64-bit decimal number; set it with one first", ErrNotNumeric)
	case strings.Contains(msg, "object too large"):
		return fmt.Errorf("%w: memcached refused it (%v); store less, or raise memcached's -I item size", ErrTooLarge, err)
	}
	return unavailable(op, "memcached "+m.servers[i], err, "check that memcached is running and reachable from this host, or raise the timeout")
}

// Get implements [Store].
func (m *Memcached) Get(ctx context.Context, key string) ([]byte, error) {
	i, wire, err := m.begin(ctx, "get", key)
	if err != nil {
		return nil, err
	}
	it, err := m.each[i].Get(wire)
	if err != nil {
		return nil, m.failed(i, m.mapErr("get", i, err))
	}
	return it.Value, nil
}

// Set implements [Store].
func (m *Memcached) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	i, wire, err := m.begin(ctx, "set", key)
	if err != nil {
		return err
	}
	if err := checkValue(value); err != nil {
		return err
	}
	it := &memcache.Item{Key: wire, Value: value, Expiration: expiration(m.now(), ttl)}
	return m.failed(i, m.mapErr("set", i, m.each[i].Set(it)))
}

// Add implements [Store].
func (m *Memcached) Add(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	i, wire, err := m.begin(ctx, "add", key)
	if err != nil {
		return err
	}
	if err := checkValue(value); err != nil {
		return err
	}
	it := &memcache.Item{Key: wire, Value: value, Expiration: expiration(m.now(), ttl)}
	return m.failed(i, m.mapErr("add", i, m.each[i].Add(it)))
}

// Incr implements [Store].
func (m *Memcached) Incr(ctx context.Context, key string, delta uint64) (uint64, error) {
	i, wire, err := m.begin(ctx, "incr", key)
	if err != nil {
		return 0, err
	}
	n, err := m.each[i].Increment(wire, delta)
	return n, m.failed(i, m.mapErr("incr", i, err))
}

// Delete implements [Store].
func (m *Memcached) Delete(ctx context.Context, key string) error {
	i, wire, err := m.begin(ctx, "delete", key)
	if err != nil {
		return err
	}
	return m.failed(i, m.mapErr("delete", i, m.each[i].Delete(wire)))
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
		errs  = make([]error, len(m.each))
	)
	for i, c := range m.each {
		wg.Go(func() {
			for _, k := range keys {
				if err := ctx.Err(); err != nil {
					errs[i] = err
					return
				}
				err := c.Delete(m.form.Wire(k))
				switch {
				case err == nil:
					total.Add(1)
				case errors.Is(err, memcache.ErrCacheMiss):
				default:
					errs[i] = unavailable("purge", "memcached "+m.servers[i], err,
						"check that memcached is running and reachable, then purge again")
					return
				}
			}
		})
	}
	wg.Wait()
	return int(total.Load()), errors.Join(errs...)
}
