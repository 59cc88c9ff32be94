package metrics

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/netip"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
)

func abiFixture(name string) string { return filepath.Join("..", "..", "abi", "testdata", name) }

// newHost loads counter (counts "lookups", continues), trap (traps; the
// login hook fails open) and all (decides) into a real plugin host.
func newHost(t testing.TB) *plugin.Host {
	t.Helper()
	ctx := context.Background()
	st := kv.NewMemory(kv.MemoryOptions{})
	t.Cleanup(func() { st.Close() })
	h, err := plugin.New(ctx, plugin.Options{Store: st, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(ctx) })
	err = h.Load(ctx, []plugin.Spec{
		{Name: "counter", Path: filepath.Join("testdata", "counter.wasm")},
		{Name: "trap", Path: abiFixture("trap.wasm"), OnFailure: map[abi.Hook]plugin.FailurePolicy{abi.HookLogin: plugin.FailOpen}},
		{Name: "all", Path: abiFixture("all_hooks.wasm")},
	})
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func login(t *testing.T, h *plugin.Host) {
	t.Helper()
	f := &plugin.Fields{Protocol: "imap", Login: "bob", Client: netip.MustParseAddrPort("192.0.2.7:50000")}
	if res := h.Run(context.Background(), abi.HookLogin, f); res.Verdict != abi.VerdictDone || res.Plugin != "all" {
		t.Fatalf("login chain: %+v, want done by all", res)
	}
}

func TestCollector_Plugins(t *testing.T) {
	h := newHost(t)
	c := New("v1.2.3")
	c.Set(Sources{Plugins: h})
	for range 3 {
		login(t, h)
	}
	want := `
# HELP postern_build_info Postern's version and plugin ABI version; always 1.
# TYPE postern_build_info gauge
postern_build_info{abi="1.2",version="v1.2.3"} 1
# HELP postern_plugin_calls_total Hook and event export calls.
# TYPE postern_plugin_calls_total counter
postern_plugin_calls_total{plugin="all"} 3
postern_plugin_calls_total{plugin="counter"} 3
postern_plugin_calls_total{plugin="trap"} 3
# HELP postern_plugin_counter_total A plugin's own counter (counter_add), such as lookups, cache_hits, cache_misses, throttled_ip.
# TYPE postern_plugin_counter_total counter
postern_plugin_counter_total{name="lookups",plugin="counter"} 3
# HELP postern_plugin_failures_total Failed calls by hook (or event) and reason (trap, timeout, invalid_verdict, memory, exit, no_instance); each applied the hook's failure policy.
# TYPE postern_plugin_failures_total counter
postern_plugin_failures_total{hook="login",plugin="trap",reason="trap"} 3
# HELP postern_plugin_traps_total Calls that trapped, exited or ran out of memory.
# TYPE postern_plugin_traps_total counter
postern_plugin_traps_total{plugin="all"} 0
postern_plugin_traps_total{plugin="counter"} 0
postern_plugin_traps_total{plugin="trap"} 3
# HELP postern_plugin_reloads_total Versions of the plugin file swapped in, the first load included.
# TYPE postern_plugin_reloads_total counter
postern_plugin_reloads_total{plugin="all"} 1
postern_plugin_reloads_total{plugin="counter"} 1
postern_plugin_reloads_total{plugin="trap"} 1
# HELP postern_plugin_last_reload_success 1 when the plugin's last load or reload succeeded, else 0.
# TYPE postern_plugin_last_reload_success gauge
postern_plugin_last_reload_success{plugin="all"} 1
postern_plugin_last_reload_success{plugin="counter"} 1
postern_plugin_last_reload_success{plugin="trap"} 1
# HELP postern_store_errors_total Key-value store operations that failed for plugins (memcached down or slow).
# TYPE postern_store_errors_total counter
postern_store_errors_total 0
`
	names := []string{"postern_build_info", "postern_plugin_calls_total", "postern_plugin_counter_total",
		"postern_plugin_failures_total", "postern_plugin_traps_total", "postern_plugin_reloads_total",
		"postern_plugin_last_reload_success", "postern_store_errors_total"}
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), names...); err != nil {
		t.Error(err)
	}
	// Every plugin created at least its trial instance (issue 14: the
	// series stayed 0).
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(c)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, mf := range mfs {
		if mf.GetName() != "postern_plugin_instantiations_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			seen++
			if m.GetCounter().GetValue() < 1 {
				t.Errorf("instantiations_total %v = %v; want >= 1", m.GetLabel(), m.GetCounter().GetValue())
			}
		}
	}
	if seen != 3 {
		t.Errorf("%d instantiations_total series; want 3", seen)
	}
	// The info series carries the serving file's hash.
	sha := h.Plugin("all").Info().SHA256
	if n := testutil.CollectAndCount(c, "postern_plugin_info"); n != 3 {
		t.Errorf("%d postern_plugin_info series, want 3", n)
	}
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP postern_plugin_instances_max The plugin's instance limit.
# TYPE postern_plugin_instances_max gauge
postern_plugin_instances_max{plugin="all"} 16
postern_plugin_instances_max{plugin="counter"} 16
postern_plugin_instances_max{plugin="trap"} 16
`), "postern_plugin_instances_max"); err != nil {
		t.Error(err)
	}
	if len(sha) != 64 {
		t.Fatalf("sha %q", sha)
	}
	// A scrape reads the atomics again: more calls, higher counters.
	login(t, h)
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP postern_plugin_counter_total A plugin's own counter (counter_add), such as lookups, cache_hits, cache_misses, throttled_ip.
# TYPE postern_plugin_counter_total counter
postern_plugin_counter_total{name="lookups",plugin="counter"} 4
`), "postern_plugin_counter_total"); err != nil {
		t.Error(err)
	}
}

func TestCollector_NoSources(t *testing.T) {
	c := New("dev")
	// Before Set: build info and config reloads only, no panic.
	if err := testutil.CollectAndCompare(c, strings.NewReader(`
# HELP postern_config_reloads_total Configuration reloads (SIGHUP or POST /reload) by result.
# TYPE postern_config_reloads_total counter
postern_config_reloads_total{result="error"} 0
postern_config_reloads_total{result="ok"} 0
`), "postern_config_reloads_total", "postern_mail_connections_total", "postern_plugin_calls_total"); err != nil {
		t.Error(err)
	}
}

func TestCollector_ConfigReloads(t *testing.T) {
	c := New("dev")
	at := time.Unix(1700000000, 0)
	c.ConfigReloaded(at.Add(-time.Minute), nil)
	c.ConfigReloaded(at.Add(-time.Second), nil)
	c.ConfigReloaded(at, errors.New("config: bad"))
	want := `
# HELP postern_config_last_reload_success 1 when the last configuration reload succeeded (or none was tried), else 0.
# TYPE postern_config_last_reload_success gauge
postern_config_last_reload_success 0
# HELP postern_config_last_reload_timestamp_seconds When the configuration was last reloaded (0: never).
# TYPE postern_config_last_reload_timestamp_seconds gauge
postern_config_last_reload_timestamp_seconds 1.7e+09
# HELP postern_config_reloads_total Configuration reloads (SIGHUP or POST /reload) by result.
# TYPE postern_config_reloads_total counter
postern_config_reloads_total{result="error"} 1
postern_config_reloads_total{result="ok"} 2
`
	if err := testutil.CollectAndCompare(c, strings.NewReader(want), "postern_config_reloads_total",
		"postern_config_last_reload_timestamp_seconds", "postern_config_last_reload_success"); err != nil {
		t.Error(err)
	}
}

func TestCollector_ObserveCall(t *testing.T) {
	c := New("dev")
	c.ObserveHook("route-lookup", abi.HookRoute, 3*time.Millisecond, nil)
	c.ObserveHook("route-lookup", abi.HookRoute, 30*time.Millisecond, nil)
	c.ObserveCall("route-lookup", abi.EventLoginFailed.String(), time.Millisecond, errors.New("trap"))
	if n := testutil.CollectAndCount(c, "postern_plugin_call_duration_seconds"); n != 2 {
		t.Errorf("%d histogram series, want 2 (route ok, login_failed error)", n)
	}
	r := Registry(c)
	mfs, err := r.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var found bool
	for _, mf := range mfs {
		if mf.GetName() != "postern_plugin_call_duration_seconds" {
			continue
		}
		for _, m := range mf.GetMetric() {
			lbl := map[string]string{}
			for _, l := range m.GetLabel() {
				lbl[l.GetName()] = l.GetValue()
			}
			if lbl["hook"] == "route" && lbl["result"] == "ok" {
				found = true
				h := m.GetHistogram()
				if h.GetSampleCount() != 2 || h.GetSampleSum() < 0.032 || h.GetSampleSum() > 0.034 {
					t.Errorf("route histogram: count %d sum %v, want 2 and 0.033", h.GetSampleCount(), h.GetSampleSum())
				}
			}
		}
	}
	if !found {
		t.Error("no route/ok histogram gathered")
	}
	// The registry carries the Go runtime and process collectors.
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
	}
	for _, n := range []string{"go_goroutines", "process_open_fds", "postern_build_info"} {
		if !names[n] {
			t.Errorf("registry lacks %s", n)
		}
	}
}
