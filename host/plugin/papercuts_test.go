package plugin

import (
	"context"
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
