package plugin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/internal/filewatch"
	"github.com/postern/postern/host/kv"
)

// Options configure a Host.
type Options struct {
	// Store backs the kv_* host functions; nil means a fresh in-process
	// store (kv.NewMemory). The Host does not close a Store it was given.
	Store kv.Store
	// Logger receives host and plugin log lines; nil means slog.Default().
	Logger *slog.Logger
	// CacheDir keeps compiled plugins across restarts so that a restart or
	// reload of an unchanged file does not compile again. Empty means an
	// in-memory cache only.
	CacheDir string
	// Watch reloads a plugin when its file changes.
	Watch bool
	// Debounce is the quiet period before a changed file is reloaded
	// (default 250ms).
	Debounce time.Duration
	// WatchdogInterval is how often deadlines are checked (default 5ms);
	// it is the precision of limits.call_timeout.
	WatchdogInterval time.Duration
	// Observe, when set, is called after every hook and event call with
	// the plugin's name, the hook or event name, the call's duration
	// (including the wait for a free instance) and its failure, if any.
	// It runs on the calling goroutine: keep it cheap (a histogram).
	Observe func(plugin, hook string, d time.Duration, err error)
}

// Host loads plugins and runs them as chains at the four hooks. It is safe
// for concurrent use; one Host serves every listener of a process.
//
// Lifecycle: New, Load (again on a config change), Run and Fire from any
// number of goroutines, Close.
type Host struct {
	opts      Options
	log       *slog.Logger
	cache     wazero.CompilationCache
	store     kv.Store
	ownsStore bool

	mu      sync.Mutex
	plugins atomic.Pointer[[]*Plugin] // in chain order

	servedMu sync.Mutex    // orders recomputations of served
	served   atomic.Uint32 // bit h set: some configured plugin serves hook h
	// reuse is the web decision reuse (Reuse): the epoch, bumped by every
	// recomputation, in the high 32 bits, the duration in ms in the low.
	reuse   atomic.Uint64
	built   atomic.Bool // a module was compiled since the last releaseBuildMemory
	watcher *filewatch.Watcher

	instMu sync.Mutex
	insts  map[*instance]struct{}

	clock    atomic.Int64 // unix nanos, refreshed by the watchdog
	tick     atomic.Int64 // watchdog ticks so far; deadlines are counted in them
	interval time.Duration

	storeErrs atomic.Int64
	storeLog  atomic.Bool

	stop chan struct{}
	wg   sync.WaitGroup
}

// New returns a Host with no plugins.
func New(ctx context.Context, opts Options) (*Host, error) {
	h := &Host{opts: opts, log: opts.Logger, insts: map[*instance]struct{}{}, stop: make(chan struct{})}
	if h.log == nil {
		h.log = slog.Default()
	}
	if opts.CacheDir != "" {
		if err := os.MkdirAll(opts.CacheDir, 0o700); err != nil {
			return nil, fmt.Errorf("plugin host: cache dir: %w", err)
		}
		c, err := wazero.NewCompilationCacheWithDir(opts.CacheDir)
		if err != nil {
			return nil, fmt.Errorf("plugin host: cache dir %s: %w", opts.CacheDir, err)
		}
		h.cache = c
	} else {
		h.cache = wazero.NewCompilationCache()
	}
	h.store = opts.Store
	if h.store == nil {
		h.store = kv.NewMemory(kv.MemoryOptions{})
		h.ownsStore = true
	}
	empty := []*Plugin{}
	h.plugins.Store(&empty)
	if opts.Watch {
		w, err := filewatch.New(filewatch.Options{Debounce: opts.Debounce, Logger: h.log})
		if err != nil {
			return nil, fmt.Errorf("plugin host: watch: %w", err)
		}
		h.watcher = w
		h.wg.Add(1)
		go h.watchLoop()
	}
	iv := opts.WatchdogInterval
	if iv <= 0 {
		iv = 5 * time.Millisecond
	}
	h.clock.Store(time.Now().UnixNano())
	h.tick.Store(1)
	h.interval = iv
	h.wg.Add(1)
	go h.watchdog(iv)
	return h, nil
}

// Load makes specs the configured plugins, in chain order. Every new or
// changed plugin is built and checked first; if any fails, nothing changes
// and the error names it. Plugins whose spec and file are unchanged keep
// their warm instances; removed ones close once their calls drain.
func (h *Host) Load(ctx context.Context, specs []Spec) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	seen := map[string]bool{}
	old := map[string]*Plugin{}
	for _, p := range *h.plugins.Load() {
		old[p.spec.Name] = p
	}
	next := make([]*Plugin, 0, len(specs))
	var built []*Plugin
	var errs []error
	for _, s := range specs {
		if seen[s.Name] {
			errs = append(errs, fmt.Errorf("plugin %s: configured twice: names must be unique", s.Name))
			continue
		}
		seen[s.Name] = true
		if s.Path != "" {
			if abs, err := filepath.Abs(s.Path); err == nil {
				s.Path = abs
			}
		}
		if p, ok := old[s.Name]; ok && specEqual(p.spec, s) {
			// Unchanged spec: a no-op unless the file changed meanwhile; a
			// bad file leaves the old version serving and fails the Load.
			if err := p.Reload(ctx); err != nil {
				errs = append(errs, err)
			}
			next = append(next, p)
			continue
		}
		p, err := newPlugin(h, s)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if o := old[s.Name]; o != nil {
			p.prev.Store(o) // a changed spec: identically declared metrics carry on
			if o.spec.Path == s.Path {
				p.rejected = o.rejectedSHA() // a rolled-back file stays refused
			}
		}
		if err := p.Reload(ctx); err != nil {
			errs = append(errs, err)
			continue
		}
		built = append(built, p)
		next = append(next, p)
	}
	defer h.releaseBuildMemory()
	if err := errors.Join(errs...); err != nil {
		for _, p := range built {
			p.retireAll()
		}
		return err
	}
	prev := h.plugins.Swap(&next)
	h.updateServed()
	for _, p := range next {
		p.prev.Store(nil) // its first version is serving: metrics carried on
	}
	for _, p := range *prev {
		if !containsPlugin(next, p) {
			p.retireAll()
			h.unwatch(p.spec.Path)
		}
	}
	for _, p := range next {
		h.watch(p.spec.Path)
	}
	return nil
}

// releaseBuildMemory collects the garbage of compiling modules and returns
// it to the operating system, once after a Load or a reload that compiled
// anything. Compiling the standard chain leaves tens of MB of garbage; a
// proxy whose requests allocate little (the web fast path) would
// otherwise not run a GC for minutes, and its RSS would keep it: 113 MB
// against 76 MB measured after 5 s of load.
func (h *Host) releaseBuildMemory() {
	if h.built.Swap(false) {
		debug.FreeOSMemory()
	}
}

func containsPlugin(list []*Plugin, p *Plugin) bool {
	for _, q := range list {
		if q == p {
			return true
		}
	}
	return false
}

func specEqual(a, b Spec) bool {
	return fmt.Sprintf("%+v", a) == fmt.Sprintf("%+v", b)
}

// Plugins returns the configured plugins in chain order.
func (h *Host) Plugins() []*Plugin { return *h.plugins.Load() }

// Plugin returns the plugin with the given name, or nil.
func (h *Host) Plugin(name string) *Plugin {
	for _, p := range h.Plugins() {
		if p.spec.Name == name {
			return p
		}
	}
	return nil
}

// Serves reports whether any configured plugin serves hook: it exports
// the hook and its spec lets it serve it. When it is false, Run would call
// nothing and return Continue, so a caller on a hot path may skip Run and
// apply its default. It is one atomic load, kept current by Load and by
// every reload of a plugin's file; a request racing a reload may see
// either version, as it may in Run.
func (h *Host) Serves(hook abi.Hook) bool {
	return uint32(hook) < 32 && h.served.Load()&(1<<uint32(hook)) != 0
}

// Hears reports whether any configured plugin listens for event e; when
// it is false, Fire would call nothing. Like Serves, one atomic load.
func (h *Host) Hears(e abi.Event) bool {
	return uint32(e) < 16 && h.served.Load()&(1<<(16+uint32(e))) != 0
}

// HearsFor reports whether any configured plugin listens for event e and
// wants the session f by its request filter: when it is false, Fire(e, f)
// would enter no guest, and a caller may skip it (and any goroutine it
// would start for it). It allocates nothing.
func (h *Host) HearsFor(e abi.Event, f *Fields) bool {
	if !h.Hears(e) {
		return false
	}
	for _, p := range *h.plugins.Load() {
		if g := p.gen.Load(); g != nil && g.hears[e] && (g.only == nil || g.only.match(f)) {
			return true
		}
	}
	return false
}

// Wants reports whether any configured plugin would enter a guest for
// the session f, as it is now, at any of hooks or events: it serves the
// hook (or listens for the event) and its request filter takes f. When
// it is false, Run and Fire would call nothing for f at those hooks and
// events, so a front end may serve f without them (the web front end's
// fast path, host/web/fastpath.go). Like HearsFor it allocates nothing;
// a request racing a reload may see either version of a plugin.
func (h *Host) Wants(f *Fields, hooks []abi.Hook, events []abi.Event) bool {
	var mask uint32
	for _, hk := range hooks {
		if uint32(hk) < 16 {
			mask |= 1 << uint32(hk)
		}
	}
	for _, e := range events {
		if uint32(e) < 16 {
			mask |= 1 << (16 + uint32(e))
		}
	}
	if h.served.Load()&mask == 0 {
		return false
	}
	for _, p := range *h.plugins.Load() {
		g := p.gen.Load()
		if g == nil || (g.only != nil && !g.only.match(f)) {
			continue
		}
		for _, hk := range hooks {
			if int(hk) < len(g.serves) && g.serves[hk] {
				return true
			}
		}
		for _, e := range events {
			if int(e) < len(g.hears) && g.hears[e] {
				return true
			}
		}
	}
	return false
}

// PasswordVerifiers returns the names of the plugins that serve the login
// or route hook and whose init declared that they can verify passwords
// (abi.FieldPasswordVerified). A front end that logs in upstream as a
// master user refuses every password login no plugin verified, so a
// configuration with such a front end and no verifier is a mistake that
// `postern check` reports.
func (h *Host) PasswordVerifiers() []string {
	var out []string
	for _, p := range h.Plugins() {
		g := p.gen.Load()
		if g == nil || !g.vouches {
			continue
		}
		if (g.serves[abi.HookLogin] && p.wants(abi.HookLogin)) || (g.serves[abi.HookRoute] && p.wants(abi.HookRoute)) {
			out = append(out, p.spec.Name)
		}
	}
	return out
}

// updateServed recomputes the Serves bits from the configured plugins'
// serving generations. It runs after every change of either; the mutex
// makes the last recomputation read the last change.
func (h *Host) updateServed() {
	h.servedMu.Lock()
	defer h.servedMu.Unlock()
	var bits uint32
	for _, p := range *h.plugins.Load() {
		g := p.gen.Load()
		if g == nil {
			continue
		}
		for hook, ok := range g.serves {
			if ok {
				bits |= 1 << hook
			}
		}
		for e, ok := range g.hears {
			if ok {
				bits |= 1 << (16 + e)
			}
		}
	}
	h.served.Store(bits)
	h.reuse.Store((h.reuse.Load()>>32+1)<<32 | uint64(h.reuseLocked()/time.Millisecond))
}

// reuseHooks and reuseEvents are what a reused web decision skips.
var (
	reuseHooks  = [...]abi.Hook{abi.HookLogin, abi.HookThrottle, abi.HookRoute}
	reuseEvents = [...]abi.Event{abi.EventRouteDecided}
)

// reuseLocked computes Reuse's duration: the shortest reuse declared by
// the plugins that could be entered for an HTTP request at login,
// throttle or route, or at route_decided; 0 when one of them declared
// none, or when there is no such plugin (nothing to save).
func (h *Host) reuseLocked() time.Duration {
	d, without := h.reuseOf()
	if len(without) > 0 {
		return 0
	}
	return d
}

// reuseOf returns the shortest reuse declared by the plugins a web request
// could enter at login, throttle, route or route_decided, and the names of
// those among them that declared none.
func (h *Host) reuseOf() (d time.Duration, without []string) {
	for _, p := range *h.plugins.Load() {
		g := p.gen.Load()
		if g == nil || (g.only != nil && g.only.protos != 0 && g.only.protos&protoHTTP == 0) {
			continue
		}
		in := false
		for _, hk := range reuseHooks {
			in = in || g.serves[hk]
		}
		for _, e := range reuseEvents {
			in = in || g.hears[e]
		}
		if !in {
			continue
		}
		if g.reuse <= 0 {
			without = append(without, p.spec.Name)
			continue
		}
		if d == 0 || g.reuse < d {
			d = g.reuse
		}
	}
	return d, without
}

// WithoutReuse returns the names of the plugins that keep Reuse at 0: they
// serve login, throttle or route, or listen for route_decided, for HTTP
// requests, and declared no reuse. For operators (`postern plugins`):
// reuse is on only when this is empty and some plugin declared one.
func (h *Host) WithoutReuse() []string {
	_, without := h.reuseOf()
	return without
}

// Reuse reports for how long a web front end may reuse the outcome of
// the login, throttle and route chains of one HTTP request for a later
// request with the same reuse key (ABI.md "Decision reuse"), without
// entering those hooks or the route_decided event: the shortest reuse
// that every plugin serving them (and not filtered to mail protocols)
// declared in its init (abi.FieldReuseMS); 0 when one did not. epoch
// changes whenever the configured plugins or a plugin's serving version
// change (a load, a reload): a decision made under another epoch must not
// be reused. One atomic load.
func (h *Host) Reuse() (d time.Duration, epoch uint32) {
	v := h.reuse.Load()
	return time.Duration(v&(1<<32-1)) * time.Millisecond, uint32(v >> 32)
}

// Store returns the key-value store plugins use.
func (h *Host) Store() kv.Store { return h.store }

// Result is the outcome of a hook chain.
type Result struct {
	// Verdict is the deciding plugin's verdict, or VerdictContinue when no
	// plugin decided (the caller applies its built-in default).
	Verdict abi.Verdict
	// Plugin is the plugin that decided or failed; "" when none did.
	Plugin string
	// Err is the failure that closed the hook (Verdict is then
	// VerdictTempFail). Failures under the open policy are not returned.
	Err error
}

// Run calls hook h on every plugin that serves it, in chain order, until
// one returns a verdict other than Continue. Retry verdicts are served here
// (the wait honours ctx). A plugin failure is handled by that plugin's
// policy for h: open skips it, closed ends the chain with TempFail.
func (h *Host) Run(ctx context.Context, hook abi.Hook, f *Fields) Result {
	for _, p := range *h.plugins.Load() {
		for try := 0; ; try++ {
			v, served, err := p.callHook(ctx, hook, f)
			if !served {
				break
			}
			if err != nil {
				if p.policy(hook) == FailOpen {
					break
				}
				return Result{Verdict: abi.VerdictTempFail, Plugin: p.spec.Name, Err: err}
			}
			if v == abi.VerdictRetry {
				if try >= abi.MaxRetries {
					return Result{Verdict: abi.VerdictTempFail, Plugin: p.spec.Name,
						Err: fmt.Errorf("plugin %s: hook %s asked to retry more than %d times", p.spec.Name, hook, abi.MaxRetries)}
				}
				d := f.Delay
				f.Delay = 0
				if err := sleepCtx(ctx, d); err != nil {
					return Result{Verdict: abi.VerdictTempFail, Plugin: p.spec.Name, Err: err}
				}
				continue
			}
			if v == abi.VerdictContinue {
				break
			}
			return Result{Verdict: v, Plugin: p.spec.Name}
		}
	}
	return Result{Verdict: abi.VerdictContinue}
}

func (p *Plugin) policy(hook abi.Hook) FailurePolicy {
	if pol, ok := p.spec.OnFailure[hook]; ok {
		return pol
	}
	return DefaultFailurePolicy(hook)
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Fire delivers event e to every plugin that listens for it, in chain
// order. Events cannot change the outcome; failures are counted and logged
// and returned joined for the caller's information.
func (h *Host) Fire(ctx context.Context, e abi.Event, f *Fields) error {
	var errs []error
	for _, p := range *h.plugins.Load() {
		if err := p.callEvent(ctx, e, f); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Close stops watching, closes every plugin (waiting for no call: the
// caller stops calling first) and the store if the Host created it.
func (h *Host) Close(ctx context.Context) error {
	select {
	case <-h.stop:
		return nil
	default:
	}
	close(h.stop)
	if h.watcher != nil {
		h.watcher.Close()
	}
	h.wg.Wait()
	h.mu.Lock()
	empty := []*Plugin{}
	for _, p := range *h.plugins.Swap(&empty) {
		p.retireAll()
	}
	h.updateServed()
	h.mu.Unlock()
	var err error
	if h.ownsStore {
		err = h.store.Close()
	}
	if cerr := h.cache.Close(ctx); err == nil {
		err = cerr
	}
	return err
}

func (h *Host) track(in *instance) {
	h.instMu.Lock()
	h.insts[in] = struct{}{}
	h.instMu.Unlock()
}

func (h *Host) untrack(in *instance) {
	h.instMu.Lock()
	delete(h.insts, in)
	h.instMu.Unlock()
}

// ticks converts a duration to watchdog ticks, rounded up, plus one for
// the tick in progress: a deadline never fires early.
func (h *Host) ticks(d time.Duration) int64 {
	return int64((d+h.interval-1)/h.interval) + 1
}

// now returns the watchdog's coarse clock (unix nanos, at most one
// watchdog interval old): deadlines are only checked that often, so
// reading the precise clock on every call would buy nothing.
func (h *Host) now() int64 { return h.clock.Load() }

// watchdog stops instances that overran their deadline. wazero checks for
// a cancelled context at function entries and loop back-edges
// (WithCloseOnContextDone), so cancelling the instance's context ends even
// an endless loop; the instance is then discarded.
func (h *Host) watchdog(every time.Duration) {
	defer h.wg.Done()
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-h.stop:
			return
		case now := <-t.C:
			h.clock.Store(now.UnixNano())
			n := h.tick.Add(1)
			if n%h.ticks(time.Second) == 0 {
				h.sweepPools(now.UnixNano())
			}
			h.instMu.Lock()
			for in := range h.insts {
				if d := in.deadline.Load(); d > 0 && n > d && in.deadline.CompareAndSwap(d, expired) {
					in.timedOut.Store(true)
					in.cancel()
				}
			}
			h.instMu.Unlock()
		}
	}
}

// sweepPools shrinks every plugin's serving pool (pool.sweep), and the pool of
// a previous version kept for a rollback.
func (h *Host) sweepPools(now int64) {
	for _, p := range h.Plugins() {
		if g := p.gen.Load(); g != nil {
			g.pool.sweep(now)
		}
		if w := p.watch.Load(); w != nil && w.prev != nil {
			w.prev.pool.sweep(now) // calls in flight at the swap put theirs back
		}
	}
}

func (h *Host) watch(path string) {
	if h.watcher == nil {
		return
	}
	if err := h.watcher.Add(path); err != nil {
		h.log.Warn("plugin file will not be reloaded on change", "path", path, "error", err.Error())
	}
}

func (h *Host) unwatch(path string) {
	if h.watcher != nil {
		_ = h.watcher.Remove(path)
	}
}

func (h *Host) watchLoop() {
	defer h.wg.Done()
	for {
		select {
		case <-h.stop:
			return
		case path, ok := <-h.watcher.Events():
			if !ok {
				return
			}
			for _, p := range h.Plugins() {
				if p.spec.Path == path {
					_ = p.reload(context.Background(), true) // logged and recorded
					h.releaseBuildMemory()
				}
			}
		}
	}
}

// storeFailed counts a store failure and logs the first of each run of
// failures, not one line per login.
func (h *Host) storeFailed(err error) {
	h.storeErrs.Add(1)
	if h.storeLog.CompareAndSwap(false, true) {
		h.log.Warn("key-value store unavailable; plugins see ErrUnavailable (logged once until it recovers)", "error", err.Error())
		go func() {
			time.Sleep(time.Minute)
			h.storeLog.Store(false)
		}()
	}
}

// StoreErrors returns how many store operations failed.
func (h *Host) StoreErrors() int64 { return h.storeErrs.Load() }
