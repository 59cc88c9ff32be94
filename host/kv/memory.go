package kv

import (
	"container/list"
	"context"
	"fmt"
	"strconv"
	"sync"
	"time"
)

// MemoryOptions configures [NewMemory]. The zero value is usable.
type MemoryOptions struct {
	// MaxItems bounds the number of items; 0 means 100 000.
	MaxItems int
	// MaxBytes bounds the sum of key and value sizes; 0 means 64 MiB.
	MaxBytes int64
	// SweepInterval is how often expired items are removed in the
	// background; 0 means one minute.
	SweepInterval time.Duration
}

const (
	defaultMaxItems      = 100_000
	defaultMaxBytes      = 64 << 20
	defaultSweepInterval = time.Minute
	// purgeEvery rate-limits the full scan for expired items that a full
	// store makes before evicting live ones, so that a store full of live
	// items does not scan on every write.
	purgeEvery = time.Second
)

// Memory is a [Store] kept in this process: fast, but not shared with other
// proxies, so counters and caches are per process.
//
// # Notes
//
// Expired items are removed when accessed and by a background sweep every
// SweepInterval. When a write would exceed MaxItems or MaxBytes, the store
// first removes every expired item (at most once a second), then evicts the
// least recently used items, as memcached does. Sizes count key and value
// bytes only, not bookkeeping overhead.
type Memory struct {
	maxItems int
	maxBytes int64
	now      func() time.Time // replaced in tests

	mu        sync.Mutex
	items     map[string]*list.Element // values are *entry
	lru       *list.List               // front is most recently used
	bytes     int64
	lastPurge time.Time
	closed    bool

	stop      chan struct{}
	done      chan struct{}
	closeOnce sync.Once
}

type entry struct {
	key     string
	value   []byte
	expires time.Time // zero: never
}

func (e *entry) size() int64 { return int64(len(e.key) + len(e.value)) }

func (e *entry) expired(now time.Time) bool {
	return !e.expires.IsZero() && !now.Before(e.expires)
}

var _ Store = (*Memory)(nil)

// NewMemory returns an empty in-process store and starts its sweep
// goroutine; call Close to stop it.
func NewMemory(opts MemoryOptions) *Memory {
	if opts.MaxItems <= 0 {
		opts.MaxItems = defaultMaxItems
	}
	if opts.MaxBytes <= 0 {
		opts.MaxBytes = defaultMaxBytes
	}
	if opts.SweepInterval <= 0 {
		opts.SweepInterval = defaultSweepInterval
	}
	m := &Memory{
		maxItems: opts.MaxItems,
		maxBytes: opts.MaxBytes,
		now:      time.Now,
		items:    make(map[string]*list.Element),
		lru:      list.New(),
		stop:     make(chan struct{}),
		done:     make(chan struct{}),
	}
	go m.sweep(opts.SweepInterval)
	return m
}

func (m *Memory) sweep(every time.Duration) {
	defer close(m.done)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-m.stop:
			return
		case <-t.C:
			m.mu.Lock()
			m.purgeExpiredLocked(m.now())
			m.mu.Unlock()
		}
	}
}

// Len returns the number of items, including expired ones not yet removed.
func (m *Memory) Len() int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.items)
}

// Shared returns false: other processes do not see this store.
func (m *Memory) Shared() bool { return false }

// Close stops the sweep goroutine and drops every item. It is safe to call
// more than once.
func (m *Memory) Close() error {
	m.closeOnce.Do(func() {
		close(m.stop)
		<-m.done
		m.mu.Lock()
		m.closed = true
		m.items = nil
		m.lru.Init()
		m.bytes = 0
		m.mu.Unlock()
	})
	return nil
}

var errMemoryClosed = fmt.Errorf("kv: memory store: %w: it was closed; use the store of the current configuration", ErrUnavailable)

// begin checks what every operation checks before taking the lock.
func begin(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return ValidKey(key)
}

// lookupLocked returns the live entry for key, removing it if expired.
func (m *Memory) lookupLocked(key string, now time.Time) *list.Element {
	el, ok := m.items[key]
	if !ok {
		return nil
	}
	if el.Value.(*entry).expired(now) {
		m.removeLocked(el)
		return nil
	}
	return el
}

func (m *Memory) removeLocked(el *list.Element) {
	e := m.lru.Remove(el).(*entry)
	delete(m.items, e.key)
	m.bytes -= e.size()
}

func (m *Memory) purgeExpiredLocked(now time.Time) {
	m.lastPurge = now
	for _, el := range m.items {
		if el.Value.(*entry).expired(now) {
			m.removeLocked(el)
		}
	}
}

// fitLocked makes room until the store is within its bounds, keeping keep,
// the element just written.
func (m *Memory) fitLocked(now time.Time, keep *list.Element) {
	full := func() bool { return len(m.items) > m.maxItems || m.bytes > m.maxBytes }
	if !full() {
		return
	}
	if now.Sub(m.lastPurge) >= purgeEvery {
		m.purgeExpiredLocked(now)
	}
	for full() {
		oldest := m.lru.Back()
		if oldest == nil || oldest == keep {
			return
		}
		m.removeLocked(oldest)
	}
}

func expiry(now time.Time, ttl time.Duration) time.Time {
	switch {
	case ttl == 0:
		return time.Time{}
	case ttl < 0:
		return now // already expired
	default:
		return now.Add(ttl)
	}
}

// Get implements [Store].
func (m *Memory) Get(ctx context.Context, key string) ([]byte, error) {
	if err := begin(ctx, key); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, errMemoryClosed
	}
	el := m.lookupLocked(key, m.now())
	if el == nil {
		return nil, ErrNotFound
	}
	m.lru.MoveToFront(el)
	v := el.Value.(*entry).value
	return append(make([]byte, 0, len(v)), v...), nil
}

// Set implements [Store].
func (m *Memory) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return m.store(ctx, key, value, ttl, false)
}

// Add implements [Store].
func (m *Memory) Add(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	return m.store(ctx, key, value, ttl, true)
}

func (m *Memory) store(ctx context.Context, key string, value []byte, ttl time.Duration, onlyNew bool) error {
	if err := begin(ctx, key); err != nil {
		return err
	}
	if err := checkValue(value); err != nil {
		return err
	}
	e := &entry{key: key, value: append(make([]byte, 0, len(value)), value...)}
	if e.size() > m.maxBytes {
		return fmt.Errorf("%w: %d bytes, the memory store holds at most %d; raise MaxBytes", ErrTooLarge, e.size(), m.maxBytes)
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errMemoryClosed
	}
	now := m.now()
	e.expires = expiry(now, ttl)
	if el := m.lookupLocked(key, now); el != nil {
		if onlyNew {
			return ErrExists
		}
		m.removeLocked(el)
	}
	el := m.lru.PushFront(e)
	m.items[key] = el
	m.bytes += e.size()
	m.fitLocked(now, el)
	return nil
}

// Incr implements [Store].
func (m *Memory) Incr(ctx context.Context, key string, delta uint64) (uint64, error) {
	return m.add(ctx, key, delta, false)
}

// Decr subtracts delta from the decimal number stored under key, stopping
// at 0 as memcached's decr does, and returns the new value. Errors are
// Incr's.
func (m *Memory) Decr(ctx context.Context, key string, delta uint64) (uint64, error) {
	return m.add(ctx, key, delta, true)
}

// add is Incr (down false) and Decr (down true).
func (m *Memory) add(ctx context.Context, key string, delta uint64, down bool) (uint64, error) {
	if err := begin(ctx, key); err != nil {
		return 0, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return 0, errMemoryClosed
	}
	now := m.now()
	el := m.lookupLocked(key, now)
	if el == nil {
		return 0, ErrNotFound
	}
	e := el.Value.(*entry)
	n, ok := parseCounter(e.value)
	if !ok {
		return 0, fmt.Errorf("%w: incr and decr need a value that is an unsigned 64-bit decimal number; set it with one first", ErrNotNumeric)
	}
	switch {
	case !down:
		n += delta // wraps at 2^64, as memcached does
	case delta > n:
		n = 0 // decr stops at 0
	default:
		n -= delta
	}
	m.bytes -= int64(len(e.value))
	e.value = strconv.AppendUint(e.value[:0], n, 10)
	m.bytes += int64(len(e.value))
	m.lru.MoveToFront(el)
	m.fitLocked(now, el)
	return n, nil
}

// Delete implements [Store].
func (m *Memory) Delete(ctx context.Context, key string) error {
	if err := begin(ctx, key); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return errMemoryClosed
	}
	el := m.lookupLocked(key, m.now())
	if el == nil {
		return ErrNotFound
	}
	m.removeLocked(el)
	return nil
}
