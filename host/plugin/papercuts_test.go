package plugin

import (
	"context"
	"github.com/postern/postern/abi"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestLoad_memoryOverLimitSaysWhichLimit: a module whose initial memory is
// above limits.memory_pages is valid WebAssembly; the error says which
// limit it exceeds.
func TestLoad_memoryOverLimitSaysWhichLimit(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	err := h.Load(context.Background(), []Spec{{Name: "p", Path: filepath.Join("..", "..", "conformance", "testdata", "big_memory.wasm"),
		Limits: Limits{MemoryPages: 16}}})
	if err == nil {
		t.Fatal("a 20-page module loaded under a 16-page limit")
	}
	if msg := err.Error(); !strings.Contains(msg, "limits.memory_pages (16 pages") || strings.Contains(msg, "not a valid WebAssembly module") {
		t.Errorf("error %q; want it to name limits.memory_pages, not call the module invalid", msg)
	}
}

// TestLoad_initTimeoutNamesItsKey: an init running too long names
// limits.init_timeout, once, after a single postern_init prefix.
func TestLoad_initTimeoutNamesItsKey(t *testing.T) {
	path := filepath.Join(t.TempDir(), "init_loop.wasm")
	if err := os.WriteFile(path, initLoopWasm, 0o644); err != nil {
		t.Fatal(err)
	}
	h, _ := newTestHost(t, Options{})
	err := h.Load(context.Background(), []Spec{{Name: "p", Path: path,
		Limits: Limits{InitTimeout: 100 * time.Millisecond, CallTimeout: time.Second}}})
	if err == nil {
		t.Fatal("an endless init loaded")
	}
	msg := err.Error()
	if !strings.Contains(msg, "(limits.init_timeout)") || strings.Contains(msg, "call_timeout") {
		t.Errorf("error %q; want it to name limits.init_timeout", msg)
	}
	if strings.Count(msg, "postern_init") != 1 {
		t.Errorf("error %q; want one postern_init prefix", msg)
	}
}

// TestReload_failedReportsRejectedHash: after a failed reload, the last
// reload's sha256 is the rejected file's, while Info.SHA256 stays the
// serving version's.
func TestReload_failedReportsRejectedHash(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "p.wasm")
	good, err := os.ReadFile(fixture("minimal"))
	if err != nil {
		t.Fatal(err)
	}
	bad, err := os.ReadFile(fixture("no_version"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, good, 0o644); err != nil {
		t.Fatal(err)
	}
	h, _ := newTestHost(t, Options{})
	if err := h.Load(context.Background(), []Spec{{Name: "p", Path: path}}); err != nil {
		t.Fatal(err)
	}
	p := h.Plugin("p")
	if err := os.WriteFile(path, bad, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(context.Background()); err == nil {
		t.Fatal("a module without postern_abi_version reloaded")
	}
	in := p.Info()
	if in.SHA256 != sha256Hex(good) {
		t.Errorf("serving sha256 %s; want the good file's %s", in.SHA256, sha256Hex(good))
	}
	if in.LastReload.SHA256 != sha256Hex(bad) || in.LastReload.Err == nil {
		t.Errorf("last reload sha256 %s (error %v); want the rejected file's %s", in.LastReload.SHA256, in.LastReload.Err, sha256Hex(bad))
	}
}

// TestInstantiations_counted: every instance created, the trial one
// included, counts in Stats.Instantiations.
func TestInstantiations_counted(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	if err := h.Load(context.Background(), []Spec{{Name: "p", Path: fixture("minimal")}}); err != nil {
		t.Fatal(err)
	}
	if n := h.Plugin("p").Stats().Instantiations.Load(); n < 1 {
		t.Errorf("instantiations = %d after a load; want at least the trial instance", n)
	}
}

// initLoopWasm is wat2wasm of
//
//	(module
//	  (memory (export "memory") 1)
//	  (func (export "postern_abi_version") (result i32) i32.const 0x00010000)
//	  (func (export "postern_init") (result i32) (loop $l (br $l)) i32.const 0))
var initLoopWasm = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x01, 0x05, 0x01, 0x60, 0x00, 0x01, 0x7f, 0x03, 0x03, 0x02, 0x00, 0x00,
	0x05, 0x03, 0x01, 0x00, 0x01, 0x07, 0x2f, 0x03, 0x06, 0x6d, 0x65, 0x6d, 0x6f, 0x72, 0x79, 0x02, 0x00, 0x13, 0x70, 0x6f,
	0x73, 0x74, 0x65, 0x72, 0x6e, 0x5f, 0x61, 0x62, 0x69, 0x5f, 0x76, 0x65, 0x72, 0x73, 0x69, 0x6f, 0x6e, 0x00, 0x00, 0x0c,
	0x70, 0x6f, 0x73, 0x74, 0x65, 0x72, 0x6e, 0x5f, 0x69, 0x6e, 0x69, 0x74, 0x00, 0x01, 0x0a, 0x12, 0x02, 0x06, 0x00, 0x41,
	0x80, 0x80, 0x04, 0x0b, 0x09, 0x00, 0x03, 0x40, 0x0c, 0x00, 0x0b, 0x41, 0x00, 0x0b,
}

// TestFail_logsGuestStack: a trap's log line carries the guest's stack
// (the function that trapped: trap.wat has no name section, so wazero
// names it by index, $1), while the error stays one line.
func TestFail_logsGuestStack(t *testing.T) {
	h, logs := newTestHost(t, Options{})
	if err := h.Load(context.Background(), []Spec{{Name: "p", Path: fixture("trap")}}); err != nil {
		t.Fatal(err)
	}
	r := h.Run(context.Background(), abi.HookLogin, mailFields())
	if r.Err == nil {
		t.Fatal("a trapping hook did not fail")
	}
	if strings.Contains(r.Err.Error(), "\n") {
		t.Errorf("error %q spans lines", r.Err)
	}
	if s := GuestStack(r.Err); !strings.Contains(s, ".$1()") {
		t.Errorf("GuestStack = %q; want the trapping export's frame", s)
	}
	if l := logs.String(); !strings.Contains(l, `stack=".$1() i32"`) {
		t.Errorf("log has no guest stack:\n%s", l)
	}
}

// TestFailuresBy_hookAndReason: failures are counted by hook and by a
// bounded reason, the labels of postern_plugin_failures_total.
func TestFailuresBy_hookAndReason(t *testing.T) {
	tests := []struct {
		name, path string
		hook       abi.Hook
		login      string
		limits     Limits
		reason     string
	}{
		{"trap", fixture("trap"), abi.HookLogin, "bob", Limits{}, "trap"},
		{"deadline", fixture("loop"), abi.HookLogin, "bob", Limits{CallTimeout: 50 * time.Millisecond}, "timeout"},
		{"invalid verdict", filepath.Join("..", "..", "conformance", "testdata", "verdicts.wasm"), abi.HookRoute, "9", Limits{}, "invalid_verdict"},
		{"memory", fixture("membomb"), abi.HookLogin, "bob", Limits{MemoryPages: 4}, "memory"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHost(t, Options{})
			if err := h.Load(context.Background(), []Spec{{Name: "p", Path: tc.path, Limits: tc.limits}}); err != nil {
				t.Fatal(err)
			}
			f := mailFields()
			f.Login = tc.login
			if r := h.Run(context.Background(), tc.hook, f); r.Err == nil {
				t.Fatalf("the call did not fail: %+v", r)
			}
			got := h.Plugin("p").Stats().FailuresBy()
			want := []FailureCount{{Hook: tc.hook.String(), Reason: tc.reason, N: 1}}
			if len(got) != 1 || got[0] != want[0] {
				t.Errorf("FailuresBy = %+v; want %+v", got, want)
			}
		})
	}
}

func FuzzGuestStack(f *testing.F) {
	f.Add("wasm stack trace:\n\t.$1() i32\n\t.postern_hook_login() i32\n")
	f.Add("\n\n")
	f.Fuzz(func(t *testing.T, trace string) {
		s := guestStack(trace)
		if strings.Contains(s, "\n") {
			t.Fatalf("stack %q spans lines", s)
		}
		if strings.Count(s, " <- ") > 16 {
			t.Fatalf("stack %q has more than 17 frames", s)
		}
	})
}
