package admin

import (
	"fmt"
	"slices"
	"sync"
	"time"
)

// ringSize is how many reload events the status page keeps.
const ringSize = 20

// ReloadEvent is one configuration or plugin (re)load.
type ReloadEvent struct {
	At time.Time `json:"at"`
	// Kind is "config" or "plugin".
	Kind string `json:"kind"`
	// Name is the plugin's name, or the configuration file.
	Name string `json:"name"`
	// Source is what started it: "sighup", "api", "rollback" (a plugin
	// version swapped back after a regression; SHA256 is the version
	// serving again, Error says why), or "" for a plugin (its file
	// changed, or a configuration load built it).
	Source string        `json:"source,omitempty"`
	SHA256 string        `json:"sha256,omitempty"`
	Took   time.Duration `json:"took"`
	Error  string        `json:"error,omitempty"`
}

// reloadRing keeps the last ringSize events, and the last plugin reload
// seen per plugin so a sample adds each one once.
type reloadRing struct {
	mu        sync.Mutex
	events    []ReloadEvent
	seen      map[string]time.Time
	rollbacks map[string]time.Time // the last rollback added, per plugin
}

func (r *reloadRing) add(ev ReloadEvent) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.addLocked(ev)
}

func (r *reloadRing) addLocked(ev ReloadEvent) {
	r.events = append(r.events, ev)
	slices.SortStableFunc(r.events, func(a, b ReloadEvent) int { return a.At.Compare(b.At) })
	if n := len(r.events) - ringSize; n > 0 {
		r.events = slices.Delete(r.events, 0, n)
	}
}

// latest returns the events, newest first.
func (r *reloadRing) latest() []ReloadEvent {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.events)
	slices.Reverse(out)
	return out
}

// samplePluginReloads adds each plugin's last load or reload to the ring
// if it is new. The runtime keeps only the last result per plugin, so two
// reloads of one plugin between samples show as one (the metric
// postern_plugin_reloads_total counts them all). Samples are taken at
// Attach and on every status page and /plugins request.
func (s *Server) samplePluginReloads() {
	h := s.sources().Plugins
	if h == nil {
		return
	}
	r := &s.reloads
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.seen == nil {
		r.seen = map[string]time.Time{}
	}
	for _, p := range h.Plugins() {
		in := p.Info()
		lr := in.LastReload
		if lr.At.IsZero() || r.seen[in.Name].Equal(lr.At) {
			continue
		}
		r.seen[in.Name] = lr.At
		ev := ReloadEvent{At: lr.At, Kind: "plugin", Name: in.Name, SHA256: lr.SHA256, Took: lr.Took}
		if lr.Err != nil {
			ev.Error = lr.Err.Error()
		}
		r.addLocked(ev)
	}
	if r.rollbacks == nil {
		r.rollbacks = map[string]time.Time{}
	}
	for _, p := range h.Plugins() {
		rb := p.LastRollback()
		if rb == nil || !rb.RolledBack || r.rollbacks[p.Name()].Equal(rb.At) {
			continue
		}
		r.rollbacks[p.Name()] = rb.At
		r.addLocked(ReloadEvent{At: rb.At, Kind: "plugin", Name: p.Name(), Source: "rollback", SHA256: rb.PrevSHA256,
			Error: fmt.Sprintf("version %.12s regressed (%d of %d calls failed; the previous version %d of %d): rolled back",
				rb.SHA256, rb.Failures, rb.Calls, rb.PrevFailures, rb.PrevCalls)})
	}
}
