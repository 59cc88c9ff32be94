package metrics

import (
	"context"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugin"
)

// TestPluginMetrics: the gauge and histogram testdata/metrics.wat (the
// conformance fixture) declares are exported under PluginMetricPrefix,
// labelled with each plugin's name, with the declared help and bounds;
// two plugins declaring the same names share the families.
func TestPluginMetrics(t *testing.T) {
	ctx := context.Background()
	h, err := plugin.New(ctx, plugin.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	wasm := filepath.Join("..", "..", "conformance", "testdata", "metrics.wasm")
	if err := h.Load(ctx, []plugin.Spec{{Name: "one", Path: wasm}, {Name: "two", Path: wasm, Hooks: []abi.Hook{abi.HookRoute}}}); err != nil {
		t.Fatal(err)
	}
	for _, cmd := range []string{"s", "a", "o"} {
		if r := h.Run(ctx, abi.HookLogin, &plugin.Fields{Protocol: "imap", Login: cmd}); r.Verdict != abi.VerdictDone {
			t.Fatalf("%s: %+v", cmd, r)
		}
	}
	c := New("test")
	c.Set(Sources{Plugins: h})
	want := `
# HELP postern_plugin_metric_lookup_seconds Lookup latency.
# TYPE postern_plugin_metric_lookup_seconds histogram
postern_plugin_metric_lookup_seconds_bucket{plugin="one",le="0.1"} 1
postern_plugin_metric_lookup_seconds_bucket{plugin="one",le="1"} 2
postern_plugin_metric_lookup_seconds_bucket{plugin="one",le="+Inf"} 3
postern_plugin_metric_lookup_seconds_sum{plugin="one"} 5.55
postern_plugin_metric_lookup_seconds_count{plugin="one"} 3
postern_plugin_metric_lookup_seconds_bucket{plugin="two",le="0.1"} 0
postern_plugin_metric_lookup_seconds_bucket{plugin="two",le="1"} 0
postern_plugin_metric_lookup_seconds_bucket{plugin="two",le="+Inf"} 0
postern_plugin_metric_lookup_seconds_sum{plugin="two"} 0
postern_plugin_metric_lookup_seconds_count{plugin="two"} 0
# HELP postern_plugin_metric_queue_len Queued requests.
# TYPE postern_plugin_metric_queue_len gauge
postern_plugin_metric_queue_len{plugin="one"} 3.5
postern_plugin_metric_queue_len{plugin="two"} 0
`
	// Through the registry /metrics serves, so its consistency checks run.
	if err := testutil.GatherAndCompare(Registry(c), strings.NewReader(want),
		"postern_plugin_metric_lookup_seconds", "postern_plugin_metric_queue_len"); err != nil {
		t.Error(err)
	}
}
