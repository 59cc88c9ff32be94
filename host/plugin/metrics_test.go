package plugin

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/postern/postern/abi"
)

// metricsWasm is the conformance fixture testdata/metrics.wat: a gauge
// "queue_len" and a histogram "lookup_seconds"; login "s" sets the gauge
// to 2.5, "o" observes three values.
func metricsWasm(t *testing.T) []byte {
	b, err := os.ReadFile(filepath.Join("..", "..", "conformance", "testdata", "metrics.wasm"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func runCmd(t *testing.T, h *Host, cmd string) {
	t.Helper()
	if r := h.Run(context.Background(), abi.HookLogin, &Fields{Protocol: "imap", Login: cmd}); r.Verdict != abi.VerdictDone {
		t.Fatalf("%s: %+v", cmd, r)
	}
}

func metricNamed(p *Plugin, name string) *Metric {
	for _, m := range p.Metrics() {
		if m.Name == name {
			return m
		}
	}
	return nil
}

// TestMetrics_reload: a new version that declares a metric identically
// keeps it, value and counts included; one that changes the declaration
// starts it from zero; a configuration change (a new Plugin) carries
// identical metrics on too.
func TestMetrics_reload(t *testing.T) {
	ctx := context.Background()
	h, _ := newTestHost(t, Options{})
	dir := t.TempDir()
	path := filepath.Join(dir, "m.wasm")
	wasm := metricsWasm(t)
	if err := os.WriteFile(path, wasm, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Load(ctx, []Spec{{Name: "m", Path: path}}); err != nil {
		t.Fatal(err)
	}
	runCmd(t, h, "s")
	runCmd(t, h, "o")
	p := h.Plugin("m")
	g, hist := metricNamed(p, "queue_len"), metricNamed(p, "lookup_seconds")
	if g == nil || g.Value() != 2.5 {
		t.Fatalf("gauge %+v", g)
	}

	// Another file (a custom section appended), the same declarations.
	same := append(bytes.Clone(wasm), 0, 6, 4, 't', 'e', 's', 't', 0)
	if err := os.WriteFile(path, same, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if p.Info().SHA256 == sha256Hex(wasm) {
		t.Fatal("the new version was not swapped in")
	}
	if metricNamed(p, "queue_len") != g || g.Value() != 2.5 {
		t.Errorf("gauge after an identical redeclaration: %v; want the same metric at 2.5", metricNamed(p, "queue_len").Value())
	}
	if n, _, _ := metricNamed(p, "lookup_seconds").Histogram(); n != 3 || metricNamed(p, "lookup_seconds") != hist {
		t.Errorf("histogram count %d after an identical redeclaration; want 3", n)
	}

	// A configuration change builds a new Plugin: identical metrics carry on.
	if err := h.Load(ctx, []Spec{{Name: "m", Path: path, Config: []byte(`{}`)}}); err != nil {
		t.Fatal(err)
	}
	if p2 := h.Plugin("m"); p2 == p || metricNamed(p2, "queue_len") != g {
		t.Errorf("gauge not carried across a configuration change")
	}

	// A changed help text ("Queued requests." -> "Queued requests!") is
	// another declaration: the gauge starts from zero.
	changed := bytes.Replace(same, []byte("Queued requests."), []byte("Queued requests!"), 1)
	if err := os.WriteFile(path, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := h.Plugin("m").Reload(ctx); err != nil {
		t.Fatal(err)
	}
	ng := metricNamed(h.Plugin("m"), "queue_len")
	if ng == g || ng.Value() != 0 || ng.Help != "Queued requests!" {
		t.Errorf("changed declaration: %+v; want a new gauge at 0", ng)
	}
	if metricNamed(h.Plugin("m"), "lookup_seconds") != hist {
		t.Errorf("the unchanged histogram was not kept")
	}
}
