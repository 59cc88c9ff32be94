package plugin

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/abi"
)

// Plugin is one configured plugin: a name, a file and the generation of
// that file currently serving. Reload replaces the generation atomically.
type Plugin struct {
	h      *Host
	spec   Spec
	limits Limits

	gen      atomic.Pointer[generation]
	reloadMu sync.Mutex

	// watchMu orders swaps of gen: a reload's, a rollback's. watch is the
	// new version under watch after a swap (swapwatch.go); rejected is
	// the sha256 of a version rolled back, not loaded again until the
	// file changes (both under watchMu).
	watchMu      sync.Mutex
	watch        atomic.Pointer[swapWatch]
	rejected     string
	lastRollback atomic.Pointer[Rollback]
	last         atomic.Pointer[ReloadResult]
	stats        Stats

	logMu      sync.Mutex
	logTokens  float64
	logLast    time.Time
	logDropped int64
	logOnceSet sync.Map

	counters sync.Map // name -> *atomic.Int64

	// prev is the plugin this one replaced by a configuration change,
	// until its first version is swapped in: identical metric
	// declarations carry its metrics on (previousMetric).
	prev atomic.Pointer[Plugin]
}

// Stats are a plugin's counters since it was configured.
type Stats struct {
	Calls          atomic.Int64 // hook and event export calls
	Failures       atomic.Int64 // traps, timeouts, bad verdicts, instance failures
	Timeouts       atomic.Int64
	Traps          atomic.Int64
	BadVerdicts    atomic.Int64
	Instantiations atomic.Int64
	Recycled       atomic.Int64 // instances retired by use count, age or memory
	Shrunk         atomic.Int64 // idle instances closed after limits.idle_timeout
	Reloads        atomic.Int64
	ReloadFailures atomic.Int64
	LogDropped     atomic.Int64
	HTTPErrors     atomic.Int64
	Rollbacks      atomic.Int64 // new versions swapped back out after a regression

	// failBy counts failures by phase (hooks 1..5, events 10+event) and
	// reason (FailureReasons); see FailuresBy.
	failBy [16][len(FailureReasons)]atomic.Int64
}

// FailureReasons are the values of a failure's reason: the guest trapped
// (a Go or Rust panic, a bad pointer), overran limits.call_timeout,
// returned an invalid verdict, hit limits.memory_pages, called proc_exit,
// or no instance could be had (creating one failed some other way, or
// the call gave up waiting for one).
var FailureReasons = [...]string{"trap", "timeout", "invalid_verdict", "memory", "exit", "no_instance"}

// failureReason maps a failure to its index in FailureReasons.
func failureReason(err error) int {
	switch {
	case errors.Is(err, ErrTimeout):
		return 1
	case errors.Is(err, ErrBadVerdict):
		return 2
	case errors.Is(err, ErrMemory):
		return 3
	case errors.Is(err, ErrExit):
		return 4
	case errors.Is(err, ErrTrap):
		return 0
	}
	return 5
}

// FailureCount is the number of failed calls of one hook or event for one
// reason.
type FailureCount struct {
	Hook   string // "login", ..., or an event: "route_decided", "login_failed"
	Reason string // one of FailureReasons
	N      int64
}

// FailuresBy returns the failures counted so far by hook (or event) and
// reason, leaving out pairs that never failed; they add up to Failures.
func (s *Stats) FailuresBy() []FailureCount {
	var out []FailureCount
	for ph := range s.failBy {
		for r := range s.failBy[ph] {
			n := s.failBy[ph][r].Load()
			if n == 0 {
				continue
			}
			name := abi.Hook(ph).String()
			if ph > 10 {
				name = abi.Event(ph - 10).String()
			}
			out = append(out, FailureCount{Hook: name, Reason: FailureReasons[r], N: n})
		}
	}
	return out
}

// ReloadResult records the outcome of the last load or reload.
type ReloadResult struct {
	At time.Time
	// SHA256 is the hash of the file this load or reload read: after a
	// failed reload, the rejected file's (Info.SHA256 is the serving
	// version's); "" when the file could not be read.
	SHA256 string
	Took   time.Duration
	Err    error
}

func newPlugin(h *Host, spec Spec) (*Plugin, error) {
	if err := spec.validate(); err != nil {
		return nil, err
	}
	p := &Plugin{h: h, spec: spec, limits: spec.Limits.withDefaults()}
	p.logTokens = float64(4 * p.limits.LogPerSecond)
	return p, nil
}

// Name returns the plugin's configured name.
func (p *Plugin) Name() string { return p.spec.Name }

// Stats returns the plugin's live counters.
func (p *Plugin) Stats() *Stats { return &p.stats }

// wants reports whether the operator let this plugin serve hook h.
func (p *Plugin) wants(h abi.Hook) bool {
	return len(p.spec.Hooks) == 0 || slices.Contains(p.spec.Hooks, h)
}

// build reads the file and builds a generation without installing it.
// It returns nil, nil when the file's bytes are those already serving.
// It also returns nil, nil for the bytes of a version rolled back after a
// regression, unless fileChanged (the file was written since).
// sum is the sha256 of the file read ("" when it could not be read), so
// that a failed reload reports the rejected file's hash.
func (p *Plugin) build(ctx context.Context, fileChanged bool) (g *generation, sum string, err error) {
	wasm, err := os.ReadFile(p.spec.Path)
	if err != nil {
		return nil, "", fmt.Errorf("plugin %s: %w (build it with `make plugins`, or fix plugins[].path)", p.spec.Name, err)
	}
	sum = sha256Hex(wasm)
	if old := p.gen.Load(); old != nil && old.sha256 == sum {
		return nil, sum, nil
	}
	p.watchMu.Lock()
	rejected := p.rejected == sum
	p.watchMu.Unlock()
	if rejected && !fileChanged {
		if p.gen.Load() == nil {
			// A new spec of a plugin whose file was rolled back: nothing
			// of this spec serves yet, so refuse rather than serve the
			// version that regressed.
			return nil, sum, fmt.Errorf("plugin %s: %s is the version rolled back after a regression (sha256 %.12s); "+
				"fix the file, or write it again to try it again", p.spec.Name, p.spec.Path, sum)
		}
		return nil, sum, nil
	}
	g, err = newGeneration(ctx, p, wasm)
	return g, sum, err
}

// Reload compiles and checks the plugin's file again and, if it is good,
// swaps it in: calls in flight finish on the old instances, which close
// once drained. If the new file is bad the old one keeps serving and the
// error is returned and recorded. An unchanged file is not reloaded.
//
// A version rolled back after a regression (swapwatch.go) is not loaded
// again by Reload; a change of the file (the watcher) tries it again.
func (p *Plugin) Reload(ctx context.Context) error { return p.reload(ctx, false) }

func (p *Plugin) reload(ctx context.Context, fileChanged bool) error {
	p.reloadMu.Lock()
	defer p.reloadMu.Unlock()
	start := time.Now()
	g, sum, err := p.build(ctx, fileChanged)
	if g != nil || err != nil {
		p.h.built.Store(true) // something was compiled, or tried
	}
	res := &ReloadResult{At: start, Took: time.Since(start), Err: err}
	if err != nil {
		p.stats.ReloadFailures.Add(1)
		res.SHA256 = sum // the rejected file's; Info.SHA256 is the serving one's
		p.last.Store(res)
		msg := "plugin load failed"
		if p.gen.Load() != nil {
			msg = "plugin reload failed; the previous version keeps serving"
		}
		if stack := GuestStack(err); stack != "" {
			p.h.log.Error(msg, "plugin", p.spec.Name, "path", p.spec.Path, "error", err.Error(), "stack", stack)
		} else {
			p.h.log.Error(msg, "plugin", p.spec.Name, "path", p.spec.Path, "error", err.Error())
		}
		return err
	}
	if g == nil {
		return nil // same bytes: keep the warm instances
	}
	res.SHA256 = g.sha256
	p.watchMu.Lock()
	old := p.gen.Load()
	// The watch is in place before g serves, so every call of g is
	// watched: under load, hundreds of calls settled between the swap and
	// a watch started after it, filled its call window unchecked and
	// ended it without a rollback.
	p.startWatch(g, old) // keeps old for a rollback, or retires it
	p.gen.Store(g)
	p.rejected = ""
	p.watchMu.Unlock()
	p.h.updateServed() // a new version may serve other hooks
	p.last.Store(res)
	p.stats.Reloads.Add(1)
	if old != nil {
		p.h.log.Info("plugin reloaded", "plugin", p.spec.Name, "sha256", g.sha256[:12],
			"hooks", g.hookNames(), "took", res.Took.Round(time.Millisecond).String())
	}
	return nil
}

// acquire pins the current generation for one call.
func (p *Plugin) acquire() *generation {
	for {
		g := p.gen.Load()
		g.active.Add(1)
		if !g.retired.Load() || p.gen.Load() == g {
			return g
		}
		g.release() // replaced between Load and Add: use the new one
	}
}

// callHook runs the plugin's export for hook h. ok is false when the plugin
// does not serve h. A failure is returned as an error wrapping a failure
// kind; the instance is discarded and the fields are left as before.
func (p *Plugin) callHook(ctx context.Context, h abi.Hook, f *Fields) (v abi.Verdict, ok bool, err error) {
	if g := p.gen.Load(); !g.serves[h] || (g.only != nil && !g.only.match(f)) {
		return 0, false, nil // not served, or outside its request filter: no guest entered
	}
	g := p.acquire()
	defer g.release()
	if !g.serves[h] {
		return 0, false, nil
	}
	if obs := p.h.opts.Observe; obs != nil {
		start := time.Now()
		defer func() { obs(p.spec.Name, h.String(), time.Since(start), err) }()
	}
	in, err := g.pool.get(ctx)
	if err != nil {
		p.fail(abi.Phase(h), err)
		p.settle(g, err)
		return 0, true, err
	}
	p.stats.Calls.Add(1)
	r, err := in.call(in.hooks[h], abi.Phase(h), f, hookWhat[h])
	if err == nil && (r < int32(abi.VerdictContinue) || r > int32(abi.VerdictRetry)) {
		in.dead = true
		in.undo(f)
		err = fmt.Errorf("hook %s: %w: returned %d; the ABI allows 0..4 (abi/ABI.md \"Verdicts\")", h, ErrBadVerdict, r)
	} else {
		in.dropSnapshot()
	}
	g.pool.put(in)
	if err != nil {
		err = fmt.Errorf("plugin %s: %w", p.spec.Name, err)
		p.fail(abi.Phase(h), err)
		p.settle(g, err)
		return 0, true, err
	}
	p.settle(g, nil)
	return abi.Verdict(r), true, nil
}

// Precomputed labels, so a call does not build strings.
var (
	hookWhat  = [...]string{abi.HookLogin: "hook login", abi.HookThrottle: "hook throttle", abi.HookRoute: "hook route", abi.HookRewrite: "hook rewrite", abi.HookResponse: "hook response"}
	eventWhat = [...]string{abi.EventRouteDecided: "event route_decided", abi.EventLoginFailed: "event login_failed"}
)

// callEvent delivers an event to the plugin if it listens for it.
func (p *Plugin) callEvent(ctx context.Context, e abi.Event, f *Fields) (err error) {
	if g := p.gen.Load(); !g.hears[e] || (g.only != nil && !g.only.match(f)) {
		return nil
	}
	g := p.acquire()
	defer g.release()
	if !g.hears[e] {
		return nil
	}
	if obs := p.h.opts.Observe; obs != nil {
		start := time.Now()
		defer func() { obs(p.spec.Name, e.String(), time.Since(start), err) }()
	}
	in, err := g.pool.get(ctx)
	if err != nil {
		p.fail(abi.Phase(10+e), err)
		p.settle(g, err)
		return err
	}
	p.stats.Calls.Add(1)
	_, err = in.call(in.events[e], abi.Phase(10+e), f, eventWhat[e])
	g.pool.put(in)
	if err != nil {
		err = fmt.Errorf("plugin %s: %w", p.spec.Name, err)
		p.fail(abi.Phase(10+e), err)
	}
	p.settle(g, err)
	return err
}

// fail counts and logs a failure.
func (p *Plugin) fail(phase abi.Phase, err error) {
	p.stats.Failures.Add(1)
	switch {
	case errors.Is(err, ErrTimeout):
		p.stats.Timeouts.Add(1)
	case errors.Is(err, ErrBadVerdict):
		p.stats.BadVerdicts.Add(1)
	case errors.Is(err, ErrTrap), errors.Is(err, ErrExit), errors.Is(err, ErrMemory):
		p.stats.Traps.Add(1)
	}
	if phase > 0 && int(phase) < len(p.stats.failBy) {
		p.stats.failBy[phase][failureReason(err)].Add(1)
	}
	switch stack := GuestStack(err); {
	case failureReason(err) == 5 && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)):
		// No instance was involved: the caller (a session or a request
		// whose client went away) stopped waiting for one.
		p.h.log.Debug("plugin call abandoned while waiting for an instance", "plugin", p.spec.Name, "error", err.Error())
	case failureReason(err) == 5:
		p.h.log.Warn("plugin call failed: no instance", "plugin", p.spec.Name, "error", err.Error())
	case stack != "":
		p.h.log.Warn("plugin call failed; instance discarded", "plugin", p.spec.Name, "error", err.Error(), "stack", stack)
	default:
		p.h.log.Warn("plugin call failed; instance discarded", "plugin", p.spec.Name, "error", err.Error())
	}
}

// log writes a guest log line under the plugin's rate limit: a token
// bucket of LogPerSecond with a burst of four seconds' worth.
func (p *Plugin) log(level slog.Level, msg string) {
	if !p.h.log.Enabled(context.Background(), level) {
		return
	}
	p.logMu.Lock()
	now := time.Now()
	rate := float64(p.limits.LogPerSecond)
	p.logTokens = min(4*rate, p.logTokens+now.Sub(p.logLast).Seconds()*rate)
	p.logLast = now
	if p.logTokens < 1 {
		p.logDropped++
		p.logMu.Unlock()
		p.stats.LogDropped.Add(1)
		return
	}
	p.logTokens--
	dropped := p.logDropped
	p.logDropped = 0
	p.logMu.Unlock()
	if dropped > 0 {
		p.h.log.Warn("plugin log lines dropped by the rate limit", "plugin", p.spec.Name, "dropped", dropped,
			"limit_per_second", p.limits.LogPerSecond)
	}
	p.h.log.Log(context.Background(), level, msg, "plugin", p.spec.Name, "source", "guest")
}

// logOnce logs a host-side message about this plugin once per key.
func (p *Plugin) logOnce(key string, level slog.Level, msg string, args ...any) {
	if _, loaded := p.logOnceSet.LoadOrStore(key, true); loaded {
		return
	}
	p.h.log.Log(context.Background(), level, msg, append([]any{"plugin", p.spec.Name}, args...)...)
}

func (p *Plugin) counterAdd(name string, delta int64) {
	c, ok := p.counters.Load(name)
	if !ok {
		c, _ = p.counters.LoadOrStore(name, new(atomic.Int64))
	}
	c.(*atomic.Int64).Add(delta)
}

// Counters returns the plugin's own counters (counter_add) by name.
func (p *Plugin) Counters() map[string]int64 {
	out := map[string]int64{}
	p.counters.Range(func(k, v any) bool {
		out[k.(string)] = v.(*atomic.Int64).Load()
		return true
	})
	return out
}

// wasiWriter returns a writer for the guest's stdout and stderr that turns
// lines into rate-limited plugin log lines.
func (p *Plugin) wasiWriter(level slog.Level) io.Writer { return &lineWriter{p: p, level: level} }

type lineWriter struct {
	p     *Plugin
	level slog.Level
	buf   []byte
}

func (w *lineWriter) Write(b []byte) (int, error) {
	w.buf = append(w.buf, b...)
	for {
		i := bytes.IndexByte(w.buf, '\n')
		if i < 0 {
			break
		}
		w.p.log(w.level, string(w.buf[:i]))
		w.buf = w.buf[i+1:]
	}
	if len(w.buf) > abi.MaxLogBytes {
		w.p.log(w.level, string(w.buf[:abi.MaxLogBytes]))
		w.buf = w.buf[:0]
	}
	return len(b), nil
}

// Info describes a loaded plugin for operators (`postern plugins`).
type Info struct {
	Name       string
	Path       string
	SHA256     string
	ABIVersion string
	Hooks      []string
	Events     []string
	Instances  int // alive now
	MaxInst    int
	LoadedAt   time.Time
	LastReload ReloadResult
	Counters   map[string]int64
	// VerifiesPasswords: the plugin's init declared that it can verify
	// passwords (abi.FieldPasswordVerified).
	VerifiesPasswords bool
	// Filter is the request filter its init declared ("login
	// paths=/service/"); "" when it wants every request.
	Filter string
	// Reuse is the decision reuse its init declared (abi.FieldReuseMS,
	// ABI 1.2); 0: none.
	Reuse time.Duration
	// OnRegression is the plugin's on_regression policy.
	OnRegression string
	// Watch is the watch of a newly swapped-in version, nil when none
	// runs (swapwatch.go).
	Watch *WatchInfo
	// LastRollback is the last regression a watch found, nil when none.
	LastRollback *Rollback
}

// Info returns the plugin's current state.
func (p *Plugin) Info() Info {
	g := p.gen.Load()
	maj, mn := abi.UnpackVersion(g.version)
	inf := Info{
		Name: p.spec.Name, Path: p.spec.Path, SHA256: g.sha256,
		ABIVersion: fmt.Sprintf("%d.%d", maj, mn),
		Hooks:      g.hookNames(), Events: g.eventNames(),
		Instances: int(g.pool.live.Load()), MaxInst: p.limits.Instances,
		LoadedAt: g.loadedAt, Counters: p.Counters(),
		VerifiesPasswords: g.vouches,
		Filter:            g.only.describe(),
		Reuse:             g.reuse,
		OnRegression:      p.spec.OnRegression.String(),
		Watch:             p.watchInfo(),
		LastRollback:      p.lastRollback.Load(),
	}
	if r := p.last.Load(); r != nil {
		inf.LastReload = *r
	}
	sort.Strings(inf.Events)
	return inf
}
