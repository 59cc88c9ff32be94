package kv

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bradfitz/gomemcache/memcache"
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
}

const (
	defaultMemcachedTimeout = 100 * time.Millisecond
	defaultMaxIdleConns     = 64
	// maxRelativeTTL is memcached's REALTIME_MAXDELTA: an expiration of
	// more seconds than this is read as an absolute Unix time.
	maxRelativeTTL = 30 * 24 * 60 * 60
	// purgeIdleConns is the idle pool of the per-server clients used only
	// by DeleteEverywhere.
	purgeIdleConns = 2
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
// Each key lives on one server, chosen by gomemcache's CRC32 of the key
// modulo the number of servers. That is not the ketama hashing Zimbra's
// proxy uses, so Postern and Zimbra see each other's keys only with a single
// server. Host names are resolved once, by NewMemcached.
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
	servers  []string
	selector *memcache.ServerList
	client   *memcache.Client
	each     []*memcache.Client // one per server, for DeleteEverywhere
	// downUntil holds, per server address, the Unix nanos until which the
	// server is skipped after a failure (see downFor).
	downUntil map[string]*atomic.Int64
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
		selector:  new(memcache.ServerList),
		now:       time.Now,
		downUntil: map[string]*atomic.Int64{},
	}
	if err := m.selector.SetServers(servers...); err != nil {
		return nil, fmt.Errorf("kv: memcached servers %q: %w; use host:port with a resolvable host", servers, err)
	}
	_ = m.selector.Each(func(a net.Addr) error {
		m.downUntil[a.String()] = new(atomic.Int64)
		return nil
	})
	m.client = memcache.NewFromSelector(m.selector)
	m.client.Timeout = opts.Timeout
	m.client.MaxIdleConns = opts.MaxIdleConns
	for _, s := range servers {
		c := memcache.New(s) // resolves like the selector, so it cannot fail now
		c.Timeout = opts.Timeout
		c.MaxIdleConns = purgeIdleConns
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
	errs := []error{m.client.Close()}
	for _, c := range m.each {
		errs = append(errs, c.Close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("kv: memcached: close: %w", err)
	}
	return nil
}

var errMemcachedClosed = fmt.Errorf("kv: memcached: %w: the store was closed; use the store of the current configuration", ErrUnavailable)

func (m *Memcached) begin(ctx context.Context, op, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if m.closed.Load() {
		return errMemcachedClosed
	}
	if err := ValidKey(key); err != nil {
		return err
	}
	if addr, d := m.down(key); d != nil && time.Now().UnixNano() < d.Load() {
		return unavailable(op, "memcached "+addr, errSkipped,
			"check that memcached is running and reachable from this host, or raise the timeout")
	}
	return nil
}

// errSkipped is why an operation failed at once: its server failed less
// than downFor ago.
var errSkipped = fmt.Errorf("it failed less than %v ago, so it is skipped for now", downFor)

// down returns the server of key and its skip mark.
func (m *Memcached) down(key string) (string, *atomic.Int64) {
	addr, err := m.selector.PickServer(key)
	if err != nil {
		return "", nil
	}
	a := addr.String()
	return a, m.downUntil[a]
}

// failed marks key's server down for downFor when err is an outage (not a
// miss, an existing key, or a refused value).
func (m *Memcached) failed(key string, err error) error {
	if errors.Is(err, ErrUnavailable) {
		if _, d := m.down(key); d != nil {
			d.Store(time.Now().Add(downFor).UnixNano())
		}
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

// mapErr turns a gomemcache error for key into this package's errors.
func (m *Memcached) mapErr(op, key string, err error) error {
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
	server := "memcached"
	if addr, perr := m.selector.PickServer(key); perr == nil {
		server = "memcached " + addr.String()
	}
	return unavailable(op, server, err, "check that memcached is running and reachable from this host, or raise the timeout")
}

// Get implements [Store].
func (m *Memcached) Get(ctx context.Context, key string) ([]byte, error) {
	if err := m.begin(ctx, "get", key); err != nil {
		return nil, err
	}
	it, err := m.client.Get(key)
	if err != nil {
		return nil, m.failed(key, m.mapErr("get", key, err))
	}
	return it.Value, nil
}

// Set implements [Store].
func (m *Memcached) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := m.begin(ctx, "set", key); err != nil {
		return err
	}
	if err := checkValue(value); err != nil {
		return err
	}
	it := &memcache.Item{Key: key, Value: value, Expiration: expiration(m.now(), ttl)}
	return m.failed(key, m.mapErr("set", key, m.client.Set(it)))
}

// Add implements [Store].
func (m *Memcached) Add(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := m.begin(ctx, "add", key); err != nil {
		return err
	}
	if err := checkValue(value); err != nil {
		return err
	}
	it := &memcache.Item{Key: key, Value: value, Expiration: expiration(m.now(), ttl)}
	return m.failed(key, m.mapErr("add", key, m.client.Add(it)))
}

// Incr implements [Store].
func (m *Memcached) Incr(ctx context.Context, key string, delta uint64) (uint64, error) {
	if err := m.begin(ctx, "incr", key); err != nil {
		return 0, err
	}
	n, err := m.client.Increment(key, delta)
	return n, m.failed(key, m.mapErr("incr", key, err))
}

// Delete implements [Store].
func (m *Memcached) Delete(ctx context.Context, key string) error {
	if err := m.begin(ctx, "delete", key); err != nil {
		return err
	}
	return m.failed(key, m.mapErr("delete", key, m.client.Delete(key)))
}

// DeleteEverywhere deletes keys on every configured server, not only on the
// server each key hashes to, and returns how many (server, key) pairs were
// deleted. It is the route purge run after a mailbox moves (Zimbra's
// zmproxypurge): entries written by proxies with another server list, or
// before a server was added, are found too.
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
				err := c.Delete(k)
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
