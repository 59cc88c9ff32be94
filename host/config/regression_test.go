package config

import (
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/host/plugin"
)

// TestParse_regression: a plugin's on_regression and regression_watch
// (the safe swap after a hot reload, host/plugin swapwatch.go).
func TestParse_regression(t *testing.T) {
	tests := []struct {
		name    string
		plugin  string // keys of the plugin entry, after name and path
		policy  plugin.RegressionPolicy
		watch   plugin.RegressionWatch
		wantErr string
	}{
		{name: "defaults", policy: plugin.RegressionRollback},
		{name: "keep", plugin: "on_regression: keep", policy: plugin.RegressionKeep},
		{name: "rollback and a window", plugin: "on_regression: rollback\n      regression_watch: {calls: 50, for: 30s}",
			policy: plugin.RegressionRollback, watch: plugin.RegressionWatch{Calls: 50, For: 30 * time.Second}},
		{name: "bad policy", plugin: "on_regression: revert",
			wantErr: `line 6: plugins.chain[0].on_regression: regression policy "revert": want "rollback" or "keep"`},
		{name: "zero calls", plugin: "regression_watch: {calls: 0}",
			wantErr: "line 6: plugins.chain[0].regression_watch.calls: 0: want an integer from 1 to 2147483647"},
		{name: "unknown key", plugin: "regression_watch: {time: 1m}",
			wantErr: "line 6: plugins.chain[0].regression_watch.time: unknown key"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			conf := "cache_dir: \"\"\nplugins:\n  chain:\n    - {name: p, path: p.wasm}\n"
			if tc.plugin != "" {
				conf = "cache_dir: \"\"\nplugins:\n  chain:\n    - name: p\n      path: p.wasm\n      " + tc.plugin + "\n"
			}
			c, err := Parse([]byte(conf), t.TempDir())
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want %q in it\n%s", err, tc.wantErr, conf)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			s := c.Plugins[0]
			if s.OnRegression != tc.policy || s.RegressionWatch != tc.watch {
				t.Errorf("on_regression %v, regression_watch %+v; want %v, %+v", s.OnRegression, s.RegressionWatch, tc.policy, tc.watch)
			}
		})
	}
}
