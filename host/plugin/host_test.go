package plugin

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/abi"
)

// fixture returns the path of an abi/testdata WAT fixture's .wasm.
func fixture(name string) string {
	return filepath.Join("..", "..", "abi", "testdata", name+".wasm")
}

// logBuffer collects log output for assertions.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func newTestHost(t testing.TB, opts Options) (*Host, *logBuffer) {
	t.Helper()
	lb := &logBuffer{}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.NewTextHandler(lb, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	h, err := New(context.Background(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	return h, lb
}

func mailFields() *Fields {
	return &Fields{
		Protocol: "imap", Listener: "imap", SessionID: "s1",
		Client: netip.MustParseAddrPort("192.0.2.7:51234"),
		Local:  netip.MustParseAddrPort("198.51.100.1:143"),
		Login:  "User@Example.COM", Password: "secret", AuthMethod: "plain", LoginAttempt: 1,
	}
}

func TestHost_Load_refusesBadModules(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		limits  Limits
		want    string
	}{
		{"no version export", "no_version", Limits{}, "does not export postern_abi_version"},
		{"major version 2", "version2", Limits{}, "built for ABI 2.0; this host implements ABI 1.x"},
		{"hook signature", "bad_signature", Limits{}, "exports postern_hook_route with signature (func (param i32) (result i32)); the ABI says (func (result i32))"},
		{"event signature", "bad_signature_event", Limits{}, "exports postern_event_login_failed with signature (func (result i32)); the ABI says (func)"},
		{"no memory", "no_memory", Limits{}, `does not export its memory as "memory"`},
		{"unknown import", "unknown_import", Limits{}, "imports postern.no_such_function, which this host (ABI 1.2) does not provide"},
		{"init refuses", "init_refuse", Limits{}, `init refused its configuration: missing key "servers"`},
		{"init traps", "init_trap", Limits{}, "postern_init: trap"},
		{"start traps", "start_trap", Limits{}, "instantiate: trap"},
		{"missing file", "does_not_exist", Limits{}, "build it with `make plugins`"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHost(t, Options{})
			err := h.Load(context.Background(), []Spec{{Name: "p", Path: fixture(tc.fixture), Limits: tc.limits}})
			if err == nil {
				t.Fatalf("Load succeeded; want error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q\nwant it to contain %q", err, tc.want)
			}
			if !strings.HasPrefix(err.Error(), "plugin p: ") {
				t.Errorf("error %q does not name the plugin", err)
			}
			if len(h.Plugins()) != 0 {
				t.Errorf("a failed Load installed %d plugins", len(h.Plugins()))
			}
		})
	}
}

func TestHost_Load_validSpecs(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	err := h.Load(context.Background(), []Spec{
		{Name: "min", Path: fixture("minimal")},
		{Name: "v19", Path: fixture("version1_9")},
		{Name: "all", Path: fixture("all_hooks"), Hooks: []abi.Hook{abi.HookRoute, abi.HookLogin}},
	})
	if err != nil {
		t.Fatal(err)
	}
	infos := map[string]Info{}
	for _, p := range h.Plugins() {
		infos[p.Name()] = p.Info()
	}
	if got := infos["v19"].ABIVersion; got != "1.9" {
		t.Errorf("v19 ABI version = %s", got)
	}
	if got := strings.Join(infos["min"].Hooks, ","); got != "" {
		t.Errorf("minimal serves %q", got)
	}
	if got := strings.Join(infos["all"].Hooks, ","); got != "login,route" {
		t.Errorf("all_hooks restricted to login,route serves %q", got)
	}
	if got := strings.Join(infos["all"].Events, ","); got != "login_failed,route_decided" {
		t.Errorf("all_hooks events %q", got)
	}
	// Throttle is exported but not configured: the chain skips it.
	f := mailFields()
	if r := h.Run(context.Background(), abi.HookThrottle, f); r.Verdict != abi.VerdictContinue || r.Plugin != "" {
		t.Errorf("throttle = %+v, want continue from nobody", r)
	}
	r := h.Run(context.Background(), abi.HookRoute, f)
	if r.Verdict != abi.VerdictDone || r.Plugin != "all" || f.Message != "route" {
		t.Fatalf("route = %+v message %q", r, f.Message)
	}
	if got := strings.Join(f.Upstreams, " "); got != "127.0.0.1:1143 127.0.0.1:2143" {
		t.Errorf("upstreams = %q", got)
	}

	if err := h.Load(context.Background(), []Spec{{Name: "a", Path: fixture("minimal")}, {Name: "a", Path: fixture("minimal")}}); err == nil ||
		!strings.Contains(err.Error(), "configured twice") {
		t.Errorf("duplicate names: %v", err)
	}
	if err := h.Load(context.Background(), []Spec{{Name: "Bad Name", Path: fixture("minimal")}}); err == nil {
		t.Error("a bad name loaded")
	}
	if len(h.Plugins()) != 3 {
		t.Errorf("failed Loads changed the plugins: %d", len(h.Plugins()))
	}
}

func TestHost_Run_failures(t *testing.T) {
	tests := []struct {
		name    string
		fixture string
		limits  Limits
		kind    error
		stat    func(*Stats) int64
	}{
		{"trap", "trap", Limits{}, ErrTrap, func(s *Stats) int64 { return s.Traps.Load() }},
		{"endless loop", "loop", Limits{CallTimeout: 20 * time.Millisecond}, ErrTimeout, func(s *Stats) int64 { return s.Timeouts.Load() }},
		{"memory bomb", "membomb", Limits{MemoryPages: 16}, ErrMemory, func(s *Stats) int64 { return s.Traps.Load() }},
		{"out-of-bounds read buffer", "oob", Limits{}, ErrTrap, func(s *Stats) int64 { return s.Traps.Load() }},
		{"out-of-bounds write", "oob_set", Limits{}, ErrTrap, func(s *Stats) int64 { return s.Traps.Load() }},
		{"invalid verdict", "bad_verdict", Limits{}, ErrBadVerdict, func(s *Stats) int64 { return s.BadVerdicts.Load() }},
	}
	for _, tc := range tests {
		for _, pol := range []FailurePolicy{FailClosed, FailOpen} {
			t.Run(tc.name+"/"+pol.String(), func(t *testing.T) {
				h, logs := newTestHost(t, Options{})
				err := h.Load(context.Background(), []Spec{
					{Name: "bad", Path: fixture(tc.fixture), Limits: tc.limits, OnFailure: map[abi.Hook]FailurePolicy{abi.HookLogin: pol}},
					{Name: "next", Path: fixture("all_hooks")},
				})
				if err != nil {
					t.Fatal(err)
				}
				for i := 0; i < 3; i++ { // the discarded instance is replaced
					f := mailFields()
					r := h.Run(context.Background(), abi.HookLogin, f)
					if pol == FailClosed {
						if r.Verdict != abi.VerdictTempFail || r.Plugin != "bad" || !errors.Is(r.Err, tc.kind) {
							t.Fatalf("closed: %+v, want tempfail from bad wrapping %v", r, tc.kind)
						}
						if f.Message != "" {
							t.Errorf("the failed call's writes were kept: message %q", f.Message)
						}
					} else if r.Verdict != abi.VerdictDone || r.Plugin != "next" || f.Message != "login" {
						t.Fatalf("open: %+v message %q, want done from next", r, f.Message)
					}
				}
				st := h.Plugin("bad").Stats()
				if got := tc.stat(st); got != 3 {
					t.Errorf("failure counter = %d, want 3", got)
				}
				if st.Failures.Load() != 3 {
					t.Errorf("failures = %d", st.Failures.Load())
				}
				if !strings.Contains(logs.String(), "plugin=bad") {
					t.Errorf("failure not logged with the plugin's name:\n%s", logs)
				}
				if live := h.Plugin("bad").Info().Instances; live > 1 {
					t.Errorf("%d instances alive after failures; failed ones must be discarded", live)
				}
			})
		}
	}
}

func TestHost_Run_hugeOutputGetsErrTooLarge(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	if err := h.Load(context.Background(), []Spec{{Name: "huge", Path: fixture("huge_output")}}); err != nil {
		t.Fatal(err)
	}
	r := h.Run(context.Background(), abi.HookLogin, mailFields())
	if r.Verdict != abi.VerdictDone {
		t.Fatalf("%+v: the guest did not see ErrTooLarge from field_set of 70000 bytes", r)
	}
}

func TestHost_Run_fieldErrors(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	if err := h.Load(context.Background(), []Spec{{Name: "fe", Path: fixture("field_errors")}}); err != nil {
		t.Fatal(err)
	}
	f := mailFields()
	r := h.Run(context.Background(), abi.HookThrottle, f)
	if r.Verdict != abi.VerdictDone || f.Message != "-1,-3,-2,-2" {
		t.Fatalf("%+v message %q, want -1,-3,-2,-2", r, f.Message)
	}
	if f.Login != "User@Example.COM" {
		t.Errorf("login changed in throttle: %q", f.Login)
	}
}

func TestHost_Run_configAndKV(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	err := h.Load(context.Background(), []Spec{
		{Name: "cfg", Path: fixture("config_echo"), Config: []byte(`{"servers":["10.0.0.1:7072"]}`)},
		{Name: "kv", Path: fixture("kv")},
	})
	if err != nil {
		t.Fatal(err)
	}
	f := mailFields()
	if r := h.Run(context.Background(), abi.HookLogin, f); r.Verdict != abi.VerdictDone || f.Message != `{"servers":["10.0.0.1:7072"]}` {
		t.Errorf("config echo: %+v %q", r, f.Message)
	}
	if r := h.Run(context.Background(), abi.HookRoute, f); r.Verdict != abi.VerdictDone || f.Message != "ok" {
		t.Errorf("kv: %+v %q", r, f.Message)
	}
}

func TestHost_logRateLimit(t *testing.T) {
	h, logs := newTestHost(t, Options{})
	if err := h.Load(context.Background(), []Spec{{Name: "flood", Path: fixture("log_flood"), Limits: Limits{LogPerSecond: 10}}}); err != nil {
		t.Fatal(err)
	}
	h.Run(context.Background(), abi.HookLogin, mailFields())
	n := strings.Count(logs.String(), "msg=flood")
	if n < 1 || n > 41 {
		t.Errorf("%d flood lines logged; want at most the burst (40)", n)
	}
	if d := h.Plugin("flood").Stats().LogDropped.Load(); d < 10000-41 {
		t.Errorf("dropped %d", d)
	}
}

func TestHost_Fire(t *testing.T) {
	h, logs := newTestHost(t, Options{})
	if err := h.Load(context.Background(), []Spec{{Name: "all", Path: fixture("all_hooks")}}); err != nil {
		t.Fatal(err)
	}
	if err := h.Fire(context.Background(), abi.EventRouteDecided, mailFields()); err != nil {
		t.Fatal(err)
	}
	if err := h.Fire(context.Background(), abi.EventLoginFailed, mailFields()); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"msg=route_decided plugin=all source=guest", "msg=login_failed plugin=all"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs)
		}
	}
}

// copyFile writes src to dst the way deploy tools do: a temporary file
// renamed over the target.
func copyFile(t testing.TB, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	tmp := dst + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, dst); err != nil {
		t.Fatal(err)
	}
}

func TestPlugin_Reload_underLoad(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.wasm")
	copyFile(t, fixture("all_hooks"), path)
	h, logs := newTestHost(t, Options{Watch: true, Debounce: 30 * time.Millisecond})
	// The deadline is wall-clock time, and this test saturates the CPU on
	// purpose (8 callers and a compiler on 2 cores, other test binaries
	// beside it): keep it out of the way, this test is about reloads.
	spec := Spec{Name: "p", Path: path, Limits: Limits{CallTimeout: 10 * time.Second}}
	if err := h.Load(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	p := h.Plugin("p")
	first := p.Info().SHA256

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	var mu sync.Mutex
	var calls, bad int
	for i := 0; i < 8; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				f := mailFields()
				r := h.Run(context.Background(), abi.HookLogin, f)
				mu.Lock()
				calls++
				// Either version is fine: all_hooks decides "login",
				// version1_9 continues. Nothing else is.
				if r.Err != nil || !(r.Verdict == abi.VerdictDone && f.Message == "login" || r.Verdict == abi.VerdictContinue) {
					if bad == 0 {
						t.Errorf("first bad call: %+v message %q", r, f.Message)
					}
					bad++
				}
				mu.Unlock()
			}
		}()
	}
	waitFor := func(what string, cond func() bool) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for !cond() {
			if time.Now().After(deadline) {
				t.Fatalf("timed out waiting for %s\n%s", what, logs)
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	// A good replacement swaps in.
	copyFile(t, fixture("version1_9"), path)
	waitFor("reload to version1_9", func() bool { return p.Info().SHA256 != first })
	// A broken replacement (bad signature) leaves the good one serving.
	second := p.Info().SHA256
	copyFile(t, fixture("bad_signature"), path)
	waitFor("the failed reload to be recorded", func() bool { return p.Info().LastReload.Err != nil })
	if p.Info().SHA256 != second {
		t.Fatal("a broken file replaced a good one")
	}
	// A half-written file (truncated) is refused too.
	b, _ := os.ReadFile(fixture("all_hooks"))
	if err := os.WriteFile(path, b[:len(b)/2], 0o644); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond)
	if p.Info().SHA256 != second {
		t.Fatal("a truncated file replaced a good one")
	}
	// And back to the first version.
	copyFile(t, fixture("all_hooks"), path)
	waitFor("reload back to all_hooks", func() bool { return p.Info().SHA256 == first })
	time.Sleep(50 * time.Millisecond)
	cancel()
	wg.Wait()
	if calls < 100 || bad != 0 {
		t.Fatalf("%d calls, %d failed or wrong during reloads", calls, bad)
	}
	if p.Stats().Failures.Load() != 0 {
		t.Errorf("failures during reload: %d", p.Stats().Failures.Load())
	}
	if !strings.Contains(logs.String(), "previous version keeps serving") {
		t.Errorf("the failed reload was not logged")
	}
}

func TestHost_Run_waitsForInstance(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	if err := h.Load(context.Background(), []Spec{{Name: "p", Path: fixture("all_hooks"), Limits: Limits{Instances: 2}}}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for i := 0; i < 16; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 50; j++ {
				if r := h.Run(context.Background(), abi.HookLogin, mailFields()); r.Verdict != abi.VerdictDone {
					errs <- r.Err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := h.Plugin("p").Info().Instances; n > 2 {
		t.Errorf("%d instances alive; limit 2", n)
	}
}

func TestHost_Close_noLeak(t *testing.T) {
	h, err := New(context.Background(), Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Load(context.Background(), []Spec{{Name: "p", Path: fixture("all_hooks")}}); err != nil {
		t.Fatal(err)
	}
	h.Run(context.Background(), abi.HookLogin, mailFields())
	if err := h.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(context.Background()); err != nil {
		t.Fatal("second Close:", err)
	}
}

func TestPool_recycles(t *testing.T) {
	tests := []struct {
		name   string
		limits Limits
		want   int64 // at least this many recycled after 10 calls
	}{
		{"max uses", Limits{MaxUses: 3}, 3},
		{"memory high water", Limits{MemoryHighWater: 1}, 10}, // every instance is over 1 byte
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHost(t, Options{})
			if err := h.Load(context.Background(), []Spec{{Name: "p", Path: fixture("all_hooks"), Limits: tc.limits}}); err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 10; i++ {
				f := mailFields()
				if r := h.Run(context.Background(), abi.HookLogin, f); r.Verdict != abi.VerdictDone || f.Message != "login" {
					t.Fatalf("call %d: %+v", i, r)
				}
			}
			p := h.Plugin("p")
			if got := p.Stats().Recycled.Load(); got < tc.want {
				t.Errorf("recycled %d, want at least %d", got, tc.want)
			}
			if p.Stats().Failures.Load() != 0 {
				t.Errorf("recycling counted as failure")
			}
			if n := p.Info().Instances; n > 1 {
				t.Errorf("%d instances alive", n)
			}
		})
	}
}

func TestHost_Hears(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	if h.Hears(abi.EventRouteDecided) {
		t.Fatal("an empty host hears events")
	}
	if err := h.Load(context.Background(), []Spec{{Name: "min", Path: fixture("minimal")}}); err != nil {
		t.Fatal(err)
	}
	if h.Hears(abi.EventRouteDecided) || h.Hears(abi.EventLoginFailed) {
		t.Fatal("minimal exports no event")
	}
	if err := h.Load(context.Background(), []Spec{{Name: "all", Path: fixture("all_hooks")}}); err != nil {
		t.Fatal(err)
	}
	if !h.Hears(abi.EventRouteDecided) || !h.Hears(abi.EventLoginFailed) {
		t.Fatal("all_hooks exports both events")
	}
	if !h.Serves(abi.HookRoute) {
		t.Fatal("the event bits hid a hook")
	}
}

// TestFields_headerSnapshot: a failed call that wrote a header leaves the
// request's headers as they were; one that wrote no header copies none.
func TestFields_headerSnapshot(t *testing.T) {
	f := &Fields{HTTP: &HTTPFields{Header: http.Header{"A": {"1"}}}}
	s := f.snapshot()
	s.snapshotHeader()
	f.setKey(abi.FieldHTTPHeader, "A", "2", false)
	f.setKey(abi.FieldHTTPHeader, "B", "3", false)
	f.restore(&s)
	if got := f.HTTP.Header; got.Get("A") != "1" || got.Get("B") != "" {
		t.Fatalf("headers after restore: %v", got)
	}
	g := &Fields{HTTP: &HTTPFields{Header: http.Header{"A": {"1"}}, Path: "/x"}}
	s = g.snapshot()
	g.HTTP.Path = "/y"
	g.restore(&s)
	if g.HTTP.Path != "/x" || g.HTTP.Header.Get("A") != "1" {
		t.Fatalf("%+v", g.HTTP)
	}
}

// TestHost_loadReleasesBuildMemory: a Load that compiled a module forces
// one collection (and returns the memory to the OS), so a process whose
// requests allocate little does not keep the compiler's garbage; a Load
// that compiled nothing does not.
func TestHost_loadReleasesBuildMemory(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	specs := []Spec{{Name: "f", Path: goGuest(t, "filter"), Config: []byte(`{}`)}}
	forced := func() uint32 {
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.NumForcedGC
	}
	before := forced()
	if err := h.Load(context.Background(), specs); err != nil {
		t.Fatal(err)
	}
	if n := forced() - before; n != 1 {
		t.Errorf("%d forced collections after a Load that compiled, want 1", n)
	}
	before = forced()
	if err := h.Load(context.Background(), specs); err != nil {
		t.Fatal(err)
	}
	if n := forced() - before; n != 0 {
		t.Errorf("%d forced collections after a Load that compiled nothing, want 0", n)
	}
}
