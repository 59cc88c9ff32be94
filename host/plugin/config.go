package plugin

import (
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/postern/postern/abi"
)

// Spec says which file to load as a plugin and how to run it. The host
// configuration lists plugins in order; that order is the order of every
// hook chain.
type Spec struct {
	// Name identifies the plugin in logs, metrics and errors. Required,
	// unique, [a-z0-9][a-z0-9_-]*.
	Name string
	// Path of the .wasm file. Watched for changes when the Host watches.
	Path string
	// Config is handed to the guest's init unchanged (config_get).
	Config []byte
	// Hooks restricts the hooks this plugin serves to a subset of those it
	// exports. Empty means every exported hook.
	Hooks []abi.Hook
	// OnFailure is the failure policy per hook; hooks not listed use
	// DefaultFailurePolicy.
	OnFailure map[abi.Hook]FailurePolicy
	// Limits bound the plugin's resources; zero values take defaults.
	Limits Limits
	// HTTPAllow lists the destinations http_call may reach: "host:port",
	// "host" for any port of that host, or "*" for any destination.
	// Empty disables http_call.
	HTTPAllow []string
	// OnRegression: what happens when a new version of the file fails
	// more often than the one it replaced, within RegressionWatch after
	// the swap (default RegressionRollback).
	OnRegression RegressionPolicy
	// RegressionWatch is how long a new version is watched.
	RegressionWatch RegressionWatch
}

// FailurePolicy says what a hook does when a plugin fails (a trap, a
// deadline overrun, an invalid verdict).
type FailurePolicy int

const (
	// FailClosed refuses the login or request with a temporary error.
	FailClosed FailurePolicy = iota
	// FailOpen skips the failed plugin: the next one, or the default, runs.
	FailOpen
)

// String returns "closed" or "open".
func (p FailurePolicy) String() string {
	if p == FailOpen {
		return "open"
	}
	return "closed"
}

// ParseFailurePolicy parses "open" or "closed".
func ParseFailurePolicy(s string) (FailurePolicy, error) {
	switch s {
	case "open":
		return FailOpen, nil
	case "closed":
		return FailClosed, nil
	}
	return 0, fmt.Errorf("failure policy %q: want \"open\" or \"closed\"", s)
}

// DefaultFailurePolicy is the policy of a hook the operator did not set:
// a broken throttle, rewrite or response plugin must not lock every user out, a
// broken login or route plugin must not send a user to the wrong mailbox.
func DefaultFailurePolicy(h abi.Hook) FailurePolicy {
	switch h {
	case abi.HookThrottle, abi.HookRewrite, abi.HookResponse:
		return FailOpen
	}
	return FailClosed
}

// Limits bound one plugin. Zero fields take the defaults below.
type Limits struct {
	// MemoryPages caps the guest's linear memory in 64 KiB pages
	// (default 1024 = 64 MiB).
	MemoryPages uint32
	// CallTimeout bounds the guest's own running time in one export call;
	// time spent in blocking host functions (http_call, kv) is not
	// counted (default 500ms). It is wall-clock time: on an overloaded
	// machine a call can be descheduled, so keep it well above what the
	// plugin needs.
	CallTimeout time.Duration
	// Uninterruptible compiles the plugin without wazero's termination
	// checks (WithCloseOnContextDone). Calls get cheaper (no watcher
	// goroutine per call) and tight loops run about 40x faster, but
	// CallTimeout is then enforced only when the guest calls a host
	// function: a guest that loops without calling the host cannot be
	// stopped. Only for plugins you trust; see RATIONALE.md.
	Uninterruptible bool
	// InitTimeout bounds instantiation and init (default 5s).
	InitTimeout time.Duration
	// Instances is the most instances alive at once, which is the most
	// concurrent calls into this plugin (default 16).
	Instances int
	// MaxUses recycles an instance after this many calls (default 10000).
	MaxUses int
	// MaxAge recycles an instance older than this (default 10m).
	MaxAge time.Duration
	// IdleTimeout closes an idle instance no call needed for this long,
	// keeping one per plugin (default 30s): the pool grows with load and
	// shrinks back after it.
	IdleTimeout time.Duration
	// MemoryHighWater recycles an instance whose memory grew past this
	// many bytes, since guest memory never shrinks (default 32 MiB).
	MemoryHighWater uint32
	// HTTPResponseBytes caps an http_call response body (default 64 KiB).
	HTTPResponseBytes int
	// HTTPTimeout caps one http_call (default 15s, the nginx lookup default).
	HTTPTimeout time.Duration
	// LogPerSecond is the steady rate of plugin log lines (default 50,
	// burst 4x); lines over it are dropped and counted.
	LogPerSecond int
}

// withDefaults fills zero fields.
func (l Limits) withDefaults() Limits {
	if l.MemoryPages == 0 {
		l.MemoryPages = 1024
	}
	if l.CallTimeout == 0 {
		l.CallTimeout = 500 * time.Millisecond
	}
	if l.InitTimeout == 0 {
		l.InitTimeout = 5 * time.Second
	}
	if l.Instances == 0 {
		l.Instances = 16
	}
	if l.MaxUses == 0 {
		l.MaxUses = 10000
	}
	if l.MaxAge == 0 {
		l.MaxAge = 10 * time.Minute
	}
	if l.IdleTimeout == 0 {
		l.IdleTimeout = 30 * time.Second
	}
	if l.MemoryHighWater == 0 {
		l.MemoryHighWater = 32 << 20
	}
	if l.HTTPResponseBytes == 0 {
		l.HTTPResponseBytes = 64 << 10
	}
	if l.HTTPTimeout == 0 {
		l.HTTPTimeout = 15 * time.Second
	}
	if l.LogPerSecond == 0 {
		l.LogPerSecond = 50
	}
	return l
}

var nameRE = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,63}$`)

// validate checks a Spec before anything is loaded.
func (s *Spec) validate() error {
	if !nameRE.MatchString(s.Name) {
		return fmt.Errorf("plugin name %q: use 1-64 of [a-z0-9_-], starting with a letter or digit", s.Name)
	}
	if s.Path == "" {
		return fmt.Errorf("plugin %s: path is empty: set it to the .wasm file", s.Name)
	}
	for _, h := range s.Hooks {
		if h.Export() == "" {
			return fmt.Errorf("plugin %s: unknown hook %d", s.Name, h)
		}
	}
	l := s.Limits
	if l.MemoryPages > 65536 {
		return fmt.Errorf("plugin %s: limits.memory_pages %d: at most 65536 (4 GiB)", s.Name, l.MemoryPages)
	}
	if l.Instances < 0 || l.MaxUses < 0 || l.CallTimeout < 0 || l.MaxAge < 0 || l.IdleTimeout < 0 {
		return fmt.Errorf("plugin %s: limits must not be negative", s.Name)
	}
	if s.RegressionWatch.Calls < 0 || s.RegressionWatch.For < 0 {
		return fmt.Errorf("plugin %s: regression_watch must not be negative", s.Name)
	}
	for _, a := range s.HTTPAllow {
		if a == "" {
			return errors.New("plugin " + s.Name + ": http_allow has an empty entry")
		}
	}
	return nil
}

// ParseHook parses a hook name ("login", "throttle", "route", "rewrite").
func ParseHook(s string) (abi.Hook, error) {
	for _, h := range abi.Hooks {
		if h.String() == s {
			return h, nil
		}
	}
	return 0, fmt.Errorf("hook %q: want login, throttle, route, rewrite or response", s)
}
