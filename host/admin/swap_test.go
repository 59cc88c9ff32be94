package admin

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugin"
)

// TestServer_safeSwap: the status page and /plugins while a new version
// is watched, and after it was rolled back.
func TestServer_safeSwap(t *testing.T) {
	ctx := context.Background()
	h, err := plugin.New(ctx, plugin.Options{Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	path := filepath.Join(t.TempDir(), "gate.wasm")
	put := func(fixtureName string) {
		t.Helper()
		b, err := os.ReadFile(fixture(fixtureName + ".wasm"))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, b, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := h.Load(ctx, []plugin.Spec{{Name: "gate", Path: path}}); err != nil {
			t.Fatal(err)
		}
	}
	put("login_continue")
	s, base := start(t, Options{})
	s.Attach(Sources{Plugins: h})
	put("login_trap_third")
	var ps []PluginJSON
	body := do(t, "GET", base+"/plugins", "", nil).body
	if err := json.Unmarshal([]byte(body), &ps); err != nil {
		t.Fatal(err)
	}
	if w := ps[0].Watch; w == nil || w.MaxCalls != plugin.DefaultWatchCalls || ps[0].LastRollback != nil || ps[0].OnRegression != "rollback" {
		t.Fatalf("/plugins while watching:\n%s", body)
	}
	if page := do(t, "GET", base+"/", "", nil).body; !strings.Contains(page, "watching this version: 0 failures in 0 of its first 200 calls") {
		t.Errorf("the status page does not show the watch:\n%s", page)
	}
	for range 9 {
		h.Run(ctx, abi.HookLogin, &plugin.Fields{Protocol: "imap", Login: "bob"})
	}
	body = do(t, "GET", base+"/plugins", "", nil).body
	ps = nil
	if err := json.Unmarshal([]byte(body), &ps); err != nil {
		t.Fatal(err)
	}
	rb := ps[0].LastRollback
	if ps[0].Watch != nil || rb == nil || !rb.RolledBack || rb.Failures != 3 || rb.Calls != 9 || ps[0].Stats.Rollbacks != 1 ||
		ps[0].SHA256 != rb.PreviousSHA256 {
		t.Fatalf("/plugins after the rollback:\n%s", body)
	}
	page := do(t, "GET", base+"/", "", nil).body
	for _, want := range []string{"rolled back", "failed 3 of 9 calls", "<td>rollback</td>", rb.SHA256[:12]} {
		if !strings.Contains(page, want) {
			t.Errorf("no %q on the status page:\n%s", want, page)
		}
	}
}
