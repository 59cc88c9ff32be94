// Package plugintest runs a built plugin (.wasm) in Postern's real plugin
// runtime from a Go test: the same loader, ABI checks, instance pool and
// host functions as the proxy, with an in-process key-value store unless
// the test gives one. Plugin authors use it for the test that follows
// their native unit tests (guest-sdk/sdktest):
//
//	func TestRouteWasm(t *testing.T) {
//		p := plugintest.Load(t, plugintest.Build(t, "plugins/route-lookup"), plugintest.Config(`{"servers":[...]}`))
//		f := plugintest.MailFields("imap", "bob@example.com")
//		if r := p.Run(abi.HookRoute, f); r.Verdict != abi.VerdictDone { ... }
//	}
package plugintest

import (
	"context"
	"log/slog"
	"net/netip"
	"path/filepath"
	"sync"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/internal/guestbuild"
	"github.com/postern/postern/host/internal/testenv"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
)

// Plugin is one plugin loaded into its own Host for a test.
type Plugin struct {
	tb   testing.TB
	Host *plugin.Host
	// Logs holds every line the host and the plugin logged (text format).
	Logs *Logs
}

// Option changes how Load configures the plugin.
type Option func(*plugin.Spec, *plugin.Options)

// Config sets the plugin's configuration (JSON, as the host hands it).
func Config(json string) Option {
	return func(s *plugin.Spec, _ *plugin.Options) { s.Config = []byte(json) }
}

// Store backs the plugin's kv functions with st (a memcached store, say).
func Store(st kv.Store) Option {
	return func(_ *plugin.Spec, o *plugin.Options) { o.Store = st }
}

// WithSpec edits the plugin's Spec (limits, allowlist, hooks, policy).
func WithSpec(edit func(*plugin.Spec)) Option {
	return func(s *plugin.Spec, _ *plugin.Options) { edit(s) }
}

// Build compiles the Go plugin in dir (relative to the repository root)
// with GOOS=wasip1 GOARCH=wasm -buildmode=c-shared, once per source
// change, and returns the .wasm path (build/wasm/<dir>.wasm).
func Build(tb testing.TB, dir string) string { return guestbuild.Build(tb, dir) }

// Load loads the .wasm at path as plugin "test" and closes it when the
// test ends. A load error fails the test; use TryLoad to check errors.
func Load(tb testing.TB, path string, opts ...Option) *Plugin {
	tb.Helper()
	p, err := TryLoad(tb, path, opts...)
	if err != nil {
		tb.Fatal(err)
	}
	return p
}

// TryLoad is Load returning the load error instead of failing.
func TryLoad(tb testing.TB, path string, opts ...Option) (*Plugin, error) {
	tb.Helper()
	logs := &Logs{}
	spec := plugin.Spec{Name: "test", Path: path}
	o := plugin.Options{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, opt := range opts {
		opt(&spec, &o)
	}
	if o.CacheDir == "" {
		o.CacheDir = compileCache()
	}
	h, err := plugin.New(context.Background(), o)
	if err != nil {
		return nil, err
	}
	tb.Cleanup(func() { h.Close(context.Background()) })
	if err := h.Load(context.Background(), []plugin.Spec{spec}); err != nil {
		return nil, err
	}
	return &Plugin{tb: tb, Host: h, Logs: logs}, nil
}

// Run runs one hook on f and returns the chain's result.
func (p *Plugin) Run(hook abi.Hook, f *plugin.Fields) plugin.Result {
	return p.Host.Run(context.Background(), hook, f)
}

// Fire delivers an event; a failure fails the test.
func (p *Plugin) Fire(e abi.Event, f *plugin.Fields) {
	p.tb.Helper()
	if err := p.Host.Fire(context.Background(), e, f); err != nil {
		p.tb.Fatal(err)
	}
}

// Info returns the loaded plugin's description (hooks, events, version).
func (p *Plugin) Info() plugin.Info { return p.Host.Plugin("test").Info() }

// MailFields returns the fields of a first mail login from 192.0.2.7.
func MailFields(protocol, login string) *plugin.Fields {
	return &plugin.Fields{
		Protocol: protocol, Listener: protocol, SessionID: "test-session",
		Client: netip.MustParseAddrPort("192.0.2.7:50000"),
		Local:  netip.MustParseAddrPort("127.0.0.1:143"),
		Login:  login, AuthMethod: "plain", LoginAttempt: 1,
	}
}

// Logs collects log output; safe for concurrent use.
type Logs struct {
	mu sync.Mutex
	b  []byte
}

// Write implements io.Writer.
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b = append(l.b, p...)
	return len(p), nil
}

// String returns everything logged so far.
func (l *Logs) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.b)
}

// Memcached starts a real memcached on 127.0.0.1 for this test and returns
// its address; the test is skipped (failed on CI) when memcached is not
// installed.
func Memcached(tb testing.TB) string { return testenv.Memcached(tb) }

// SharedMemcached returns one memcached shared by the whole test binary;
// call Main from TestMain so that it is stopped at the end.
func SharedMemcached(tb testing.TB) string { return testenv.SharedMemcached(tb) }

// Main runs the tests and stops the shared servers:
//
//	func TestMain(m *testing.M) { plugintest.Main(m) }
func Main(m *testing.M) { testenv.Main(m) }

// compileCache is the directory of wazero's compilation cache that every
// test loading plugins through this package shares (build/wasm/.compiled
// under the repository root): a Go guest compiles in seconds, once per
// content, instead of once per Load. "" (in-memory) when there is no root.
func compileCache() string {
	root, err := guestbuild.Root()
	if err != nil {
		return ""
	}
	return filepath.Join(root, "build", "wasm", ".compiled")
}
