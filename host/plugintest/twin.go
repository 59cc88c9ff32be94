package plugintest

import (
	"context"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
)

// RecordingStore is a key-value store that records every operation a
// plugin makes, with its arguments and outcome, over an in-memory store:
// two builds of one plugin that behave alike record the same operations.
type RecordingStore struct {
	kv.Store
	mu  sync.Mutex
	ops []string
}

// NewRecordingStore returns a recording store over a fresh memory store.
func NewRecordingStore() *RecordingStore {
	return &RecordingStore{Store: kv.NewMemory(kv.MemoryOptions{})}
}

func (r *RecordingStore) record(format string, args ...any) {
	r.mu.Lock()
	r.ops = append(r.ops, fmt.Sprintf(format, args...))
	r.mu.Unlock()
}

// Take returns the operations recorded since the last Take and forgets them.
func (r *RecordingStore) Take() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	ops := r.ops
	r.ops = nil
	return ops
}

func errText(err error) string {
	if err == nil {
		return "ok"
	}
	return err.Error()
}

// Get implements kv.Store.
func (r *RecordingStore) Get(ctx context.Context, key string) ([]byte, error) {
	v, err := r.Store.Get(ctx, key)
	r.record("get %q -> %q %s", key, v, errText(err))
	return v, err
}

// Set implements kv.Store.
func (r *RecordingStore) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	err := r.Store.Set(ctx, key, value, ttl)
	r.record("set %q %q ttl=%v -> %s", key, value, ttl, errText(err))
	return err
}

// Add implements kv.Store.
func (r *RecordingStore) Add(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	err := r.Store.Add(ctx, key, value, ttl)
	r.record("add %q %q ttl=%v -> %s", key, value, ttl, errText(err))
	return err
}

// Incr implements kv.Store.
func (r *RecordingStore) Incr(ctx context.Context, key string, delta uint64) (uint64, error) {
	n, err := r.Store.Incr(ctx, key, delta)
	r.record("incr %q %d -> %d %s", key, delta, n, errText(err))
	return n, err
}

// Decr implements kv.Store.
func (r *RecordingStore) Decr(ctx context.Context, key string, delta uint64) (uint64, error) {
	n, err := r.Store.Decr(ctx, key, delta)
	r.record("decr %q %d -> %d %s", key, delta, n, errText(err))
	return n, err
}

// Delete implements kv.Store.
func (r *RecordingStore) Delete(ctx context.Context, key string) error {
	err := r.Store.Delete(ctx, key)
	r.record("delete %q -> %s", key, errText(err))
	return err
}

// Twin is one plugin built twice, a reference (say the Go source) and a
// port (say the C source), each in its own host with its own recording
// store. Run and Fire call both with copies of the same fields and fail
// the test where the two differ: the verdict, every field afterwards, the
// store operations, the counters. It is how a port proves it behaves as
// the reference, case by case and under fuzzing.
type Twin struct {
	Ref, Port           *Plugin
	RefStore, PortStore *RecordingStore
}

// NewTwin loads refPath and portPath with the same options (each gets its
// own recording store; a Store option is overridden).
func NewTwin(tb testing.TB, refPath, portPath string, opts ...Option) *Twin {
	tb.Helper()
	tw := &Twin{RefStore: NewRecordingStore(), PortStore: NewRecordingStore()}
	tw.Ref = Load(tb, refPath, append(opts, Store(tw.RefStore))...)
	tw.Port = Load(tb, portPath, append(opts, Store(tw.PortStore))...)
	return tw
}

// TryNewTwin loads both and returns their load errors, for configuration
// tests: both must accept or both refuse.
func TryNewTwin(tb testing.TB, refPath, portPath string, opts ...Option) (*Twin, error, error) {
	tb.Helper()
	tw := &Twin{RefStore: NewRecordingStore(), PortStore: NewRecordingStore()}
	var errRef, errPort error
	tw.Ref, errRef = TryLoad(tb, refPath, append(opts, Store(tw.RefStore))...)
	tw.Port, errPort = TryLoad(tb, portPath, append(opts, Store(tw.PortStore))...)
	return tw, errRef, errPort
}

// CloneFields returns a deep copy of f.
func CloneFields(f *plugin.Fields) *plugin.Fields {
	c := *f
	c.Upstreams = append([]string(nil), f.Upstreams...)
	if f.IMAPID != nil {
		c.IMAPID = make(map[string]string, len(f.IMAPID))
		for k, v := range f.IMAPID {
			c.IMAPID[k] = v
		}
	}
	if f.HTTP != nil {
		h := *f.HTTP
		h.Header = f.HTTP.Header.Clone()
		c.HTTP = &h
	}
	return &c
}

// Run runs hook on both builds with copies of f, compares them, copies
// the reference's resulting fields back into f and returns its result.
func (tw *Twin) Run(tb testing.TB, hook abi.Hook, f *plugin.Fields) plugin.Result {
	tb.Helper()
	fr, fp := CloneFields(f), CloneFields(f)
	rr := tw.Ref.Run(hook, fr)
	rp := tw.Port.Run(hook, fp)
	what := fmt.Sprintf("hook %s, login %q", hook, f.Login)
	if rr.Verdict != rp.Verdict || (rr.Err == nil) != (rp.Err == nil) {
		tb.Errorf("%s: reference %v (err %v), port %v (err %v)", what, rr.Verdict, rr.Err, rp.Verdict, rp.Err)
	}
	tw.compare(tb, what, fr, fp)
	*f = *fr
	return rr
}

// Fire delivers event e to both builds with copies of f and compares.
func (tw *Twin) Fire(tb testing.TB, e abi.Event, f *plugin.Fields) {
	tb.Helper()
	fr, fp := CloneFields(f), CloneFields(f)
	// Report through tb, the caller's test (a fuzz target's input), not
	// the one the plugins were loaded with.
	if err := tw.Ref.Host.Fire(context.Background(), e, fr); err != nil {
		tb.Fatalf("reference: event %s: %v", e, err)
	}
	if err := tw.Port.Host.Fire(context.Background(), e, fp); err != nil {
		tb.Fatalf("port: event %s: %v", e, err)
	}
	tw.compare(tb, fmt.Sprintf("event %s, login %q", e, f.Login), fr, fp)
}

func (tw *Twin) compare(tb testing.TB, what string, fr, fp *plugin.Fields) {
	tb.Helper()
	if !reflect.DeepEqual(fr, fp) {
		tb.Errorf("%s: fields differ\nreference: %+v\nport:      %+v", what, describe(fr), describe(fp))
	}
	or, op := tw.RefStore.Take(), tw.PortStore.Take()
	if !reflect.DeepEqual(or, op) {
		tb.Errorf("%s: store operations differ\nreference:\n  %s\nport:\n  %s", what, strings.Join(or, "\n  "), strings.Join(op, "\n  "))
	}
	cr, cp := tw.Ref.Info().Counters, tw.Port.Info().Counters
	if !reflect.DeepEqual(cr, cp) {
		tb.Errorf("%s: counters differ\nreference: %v\nport:      %v", what, cr, cp)
	}
}

// describe prints f with its HTTP part expanded.
func describe(f *plugin.Fields) string {
	s := fmt.Sprintf("%+v", *f)
	if f.HTTP != nil {
		s += fmt.Sprintf(" HTTP=%+v", *f.HTTP)
	}
	return s
}
