package plugin

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Safe swaps. A new version of a plugin file that loads and initialises
// fine can still fail on every call (a trap on a path init did not take,
// a loop, a bad verdict). After a swap the host watches the new version
// for its first RegressionWatch.Calls calls or RegressionWatch.For,
// whichever ends first, keeping the previous version compiled and one of
// its instances warm. If the new version's calls fail at a rate the
// previous one did not (see regressed), the previous version is swapped
// back (OnRegression rollback, the default) or the regression is only
// logged (keep). A rolled-back file is not loaded again until it changes.

// RegressionPolicy says what happens when a new version regresses.
type RegressionPolicy int

const (
	// RegressionRollback swaps the previous version back.
	RegressionRollback RegressionPolicy = iota
	// RegressionKeep keeps the new version serving and logs the
	// regression.
	RegressionKeep
)

// String returns "rollback" or "keep".
func (r RegressionPolicy) String() string {
	if r == RegressionKeep {
		return "keep"
	}
	return "rollback"
}

// ParseRegressionPolicy parses "rollback" or "keep".
func ParseRegressionPolicy(s string) (RegressionPolicy, error) {
	switch s {
	case "rollback":
		return RegressionRollback, nil
	case "keep":
		return RegressionKeep, nil
	}
	return 0, fmt.Errorf("regression policy %q: want \"rollback\" or \"keep\"", s)
}

// RegressionWatch is how long a new version is watched after a swap:
// its first Calls calls or For, whichever ends first. Zero fields take
// the defaults.
type RegressionWatch struct {
	// Calls: the watch ends after this many calls (default 200).
	Calls int64
	// For: the watch ends after this long (default 2m).
	For time.Duration
}

// Defaults of RegressionWatch.
const (
	DefaultWatchCalls = 200
	DefaultWatchFor   = 2 * time.Minute
	// minRegressionFailures: fewer failures than this are never a
	// regression, so that one unlucky timeout on a busy machine does not
	// undo a deploy.
	minRegressionFailures = 3
)

func (w RegressionWatch) withDefaults() RegressionWatch {
	if w.Calls == 0 {
		w.Calls = DefaultWatchCalls
	}
	if w.For == 0 {
		w.For = DefaultWatchFor
	}
	return w
}

// swapWatch is one new version under watch.
type swapWatch struct {
	next *generation
	// prev is the version to swap back to; nil under RegressionKeep (it
	// was released at the swap).
	prev *generation
	// prevSHA256, prevCalls and prevFailures are the previous version's
	// record at the swap, the rate the new version is compared with.
	prevSHA256              string
	prevCalls, prevFailures int64
	started, until          time.Time
	maxCalls                int64
	timer                   *time.Timer
}

// regressed reports whether the new version, with failures failed calls
// out of calls, fails at a rate the previous version did not: at least
// minRegressionFailures failures and a failure rate more than twice the
// previous version's.
func (w *swapWatch) regressed(calls, failures int64) bool {
	if failures < minRegressionFailures {
		return false
	}
	if w.prevCalls == 0 {
		return true
	}
	// In floating point: a long-lived previous version's call count
	// times a large watch would overflow int64.
	return float64(failures)/float64(calls) > 2*float64(w.prevFailures)/float64(w.prevCalls)
}

// Rollback records a regression found by a watch: the new version's
// record, the previous one's, and whether it was rolled back.
type Rollback struct {
	At time.Time
	// SHA256 is the version that regressed; PrevSHA256 the one it
	// replaced (serving again when RolledBack).
	SHA256, PrevSHA256 string
	// Calls and Failures are the new version's; PrevCalls and
	// PrevFailures the previous version's over its whole life.
	Calls, Failures         int64
	PrevCalls, PrevFailures int64
	// RolledBack is false under on_regression: keep.
	RolledBack bool
	// LastError is the last failure of the new version.
	LastError string
}

// WatchInfo describes a watch in progress, for Info.
type WatchInfo struct {
	Since, Until time.Time
	PrevSHA256   string
	// Calls and Failures of the new version so far; the watch ends at
	// MaxCalls calls.
	Calls, Failures, MaxCalls int64
}

// countsAsFailure: the caller's own deadline or cancellation is not the
// version's fault.
func countsAsFailure(err error) bool {
	return err != nil && !errors.Is(err, context.Canceled) && !errors.Is(err, context.DeadlineExceeded)
}

// settle records one call of g and, while g is watched, checks it.
func (p *Plugin) settle(g *generation, err error) {
	if err != nil && !countsAsFailure(err) {
		return
	}
	calls := g.calls.Add(1)
	var failures int64
	if err != nil {
		failures = g.failures.Add(1)
	} else {
		failures = g.failures.Load()
	}
	w := p.watch.Load()
	if w == nil || w.next != g {
		return
	}
	if err != nil && w.regressed(calls, failures) {
		p.regress(w, calls, failures, err)
		return
	}
	if calls >= w.maxCalls || time.Now().After(w.until) {
		p.endWatch(w)
	}
}

// startWatch watches g, just swapped in over old (nil on a first load).
// Called with watchMu held. A watch already running (the file changed
// again within its window) is replaced: the version it watched goes, and
// the version before it stays the one to swap back to.
func (p *Plugin) startWatch(g, old *generation) {
	prevW := p.watch.Load()
	if prevW != nil {
		prevW.timer.Stop()
		p.watch.Store(nil)
	}
	var w *swapWatch
	switch {
	case prevW != nil:
		w = &swapWatch{prev: prevW.prev, prevSHA256: prevW.prevSHA256, prevCalls: prevW.prevCalls, prevFailures: prevW.prevFailures}
		if old != nil {
			old.retire()
		}
	case old != nil:
		w = &swapWatch{prev: old, prevSHA256: old.sha256, prevCalls: old.calls.Load(), prevFailures: old.failures.Load()}
	default:
		return // a first load: nothing to compare with
	}
	if p.spec.OnRegression == RegressionKeep && w.prev != nil {
		w.prev.retire()
		w.prev = nil
	}
	if w.prev != nil {
		// Keep the previous version's compiled module and one warm
		// instance, no more, for the length of the watch.
		w.prev.pool.sweep(1<<62 + w.prev.p.h.now())
	}
	win := p.spec.RegressionWatch.withDefaults()
	w.next, w.started, w.maxCalls = g, time.Now(), win.Calls
	w.until = w.started.Add(win.For)
	w.timer = time.AfterFunc(win.For, func() { p.endWatch(w) })
	p.watch.Store(w)
}

// endWatch ends w without a regression: the new version stays, the
// previous one is released.
func (p *Plugin) endWatch(w *swapWatch) {
	p.watchMu.Lock()
	if p.watch.Load() != w {
		p.watchMu.Unlock()
		return
	}
	p.watch.Store(nil)
	w.timer.Stop()
	p.watchMu.Unlock()
	if w.prev != nil {
		go w.prev.retire() // closing a runtime is not for a call's path
	}
	p.h.log.Debug("plugin version passed its watch; the previous version is released", "plugin", p.spec.Name,
		"sha256", w.next.sha256, "calls", w.next.calls.Load(), "failures", w.next.failures.Load())
}

// regress handles a regression of w's version: it swaps the previous
// version back (or, under keep, only records it), logs one error line and
// counts it.
func (p *Plugin) regress(w *swapWatch, calls, failures int64, last error) {
	p.watchMu.Lock()
	if p.watch.Load() != w {
		p.watchMu.Unlock()
		return // already handled by a concurrent call, or replaced
	}
	p.watch.Store(nil)
	w.timer.Stop()
	rb := &Rollback{
		At: time.Now(), SHA256: w.next.sha256, PrevSHA256: w.prevSHA256,
		Calls: calls, Failures: failures, PrevCalls: w.prevCalls, PrevFailures: w.prevFailures,
		RolledBack: w.prev != nil, LastError: last.Error(),
	}
	if rb.RolledBack {
		p.gen.Store(w.prev)
		p.rejected = w.next.sha256
	}
	p.lastRollback.Store(rb)
	p.watchMu.Unlock()
	args := []any{"plugin", p.spec.Name, "sha256", rb.SHA256, "previous_sha256", rb.PrevSHA256,
		"failures", failures, "calls", calls, "previous_failures", rb.PrevFailures, "previous_calls", rb.PrevCalls,
		"last_error", rb.LastError}
	if !rb.RolledBack {
		p.h.log.Error("plugin version regressed: its calls fail more often than the previous version's; "+
			"kept serving (on_regression: keep)", args...)
		return
	}
	p.stats.Rollbacks.Add(1)
	p.h.updateServed()
	w.next.retire()
	p.h.log.Error("plugin version regressed: its calls fail more often than the previous version's; "+
		"rolled back to the previous version (it is not loaded again until the file changes)", args...)
}

// retireAll releases every generation of p: the serving one and one kept
// for a watch. p is no longer configured.
func (p *Plugin) retireAll() {
	p.watchMu.Lock()
	w := p.watch.Swap(nil)
	g := p.gen.Load()
	p.watchMu.Unlock()
	if w != nil {
		w.timer.Stop()
		if w.prev != nil {
			w.prev.retire()
		}
	}
	if g != nil {
		g.retire()
	}
}

// rejectedSHA returns the sha256 of the version rolled back and not
// loaded again since, or "".
func (p *Plugin) rejectedSHA() string {
	p.watchMu.Lock()
	defer p.watchMu.Unlock()
	return p.rejected
}

// LastRollback returns the plugin's last regression found after a swap,
// or nil.
func (p *Plugin) LastRollback() *Rollback { return p.lastRollback.Load() }

// watchInfo describes the watch in progress, or nil.
func (p *Plugin) watchInfo() *WatchInfo {
	w := p.watch.Load()
	if w == nil {
		return nil
	}
	return &WatchInfo{Since: w.started, Until: w.until, PrevSHA256: w.prevSHA256,
		Calls: w.next.calls.Load(), Failures: w.next.failures.Load(), MaxCalls: w.maxCalls}
}
