package plugin

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/postern/postern/abi"
)

// servedHooks lists the hooks Serves reports, in order.
func servedHooks(h *Host) []abi.Hook {
	var out []abi.Hook
	for _, hook := range abi.Hooks {
		if h.Serves(hook) {
			out = append(out, hook)
		}
	}
	return out
}

func TestHost_Serves(t *testing.T) {
	ctx := context.Background()
	h, _ := newTestHost(t, Options{})
	steps := []struct {
		name  string
		specs []Spec
		want  []abi.Hook
	}{
		{"no plugins", nil, nil},
		{"a plugin serving nothing", []Spec{{Name: "m", Path: fixture("minimal")}}, nil},
		{"every hook", []Spec{{Name: "a", Path: fixture("all_hooks")}},
			[]abi.Hook{abi.HookLogin, abi.HookThrottle, abi.HookRoute, abi.HookRewrite}},
		{"hooks narrowed by the spec", []Spec{
			{Name: "a", Path: fixture("all_hooks"), Hooks: []abi.Hook{abi.HookRoute}},
			{Name: "b", Path: fixture("all_hooks"), Hooks: []abi.Hook{abi.HookRewrite}},
		}, []abi.Hook{abi.HookRoute, abi.HookRewrite}},
		{"login only", []Spec{{Name: "v", Path: fixture("version1_9")}}, []abi.Hook{abi.HookLogin}},
		{"back to none", nil, nil},
	}
	for _, st := range steps {
		if err := h.Load(ctx, st.specs); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if got := servedHooks(h); !equalHooks(got, st.want) {
			t.Errorf("%s: Serves = %v, want %v", st.name, got, st.want)
		}
	}
	for _, bad := range []abi.Hook{-1, 4, 31, 32, 1 << 20} {
		if h.Serves(bad) {
			t.Errorf("Serves(%d) = true for a hook that does not exist", bad)
		}
	}
}

// TestHost_Serves_followsReload: a new version of a plugin's file that
// serves other hooks changes Serves as soon as it is swapped in, and Close
// clears it.
func TestHost_Serves_followsReload(t *testing.T) {
	ctx := context.Background()
	h, _ := newTestHost(t, Options{})
	path := filepath.Join(t.TempDir(), "p.wasm")
	copyFile(t, fixture("version1_9"), path)
	if err := h.Load(ctx, []Spec{{Name: "p", Path: path}}); err != nil {
		t.Fatal(err)
	}
	if got := servedHooks(h); !equalHooks(got, []abi.Hook{abi.HookLogin}) {
		t.Fatalf("before the reload: %v", got)
	}
	copyFile(t, fixture("all_hooks"), path)
	if err := h.Plugin("p").Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := servedHooks(h); len(got) != 4 {
		t.Errorf("after reloading to all_hooks: %v, want every hook", got)
	}
	copyFile(t, fixture("minimal"), path)
	if err := h.Plugin("p").Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got := servedHooks(h); got != nil {
		t.Errorf("after reloading to minimal: %v, want none", got)
	}
	copyFile(t, fixture("all_hooks"), path)
	if err := h.Plugin("p").Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if err := h.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := servedHooks(h); got != nil {
		t.Errorf("after Close: %v, want none", got)
	}
}

func equalHooks(a, b []abi.Hook) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
