package plugin

import (
	"context"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"testing"

	"github.com/tetratelabs/wazero"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/internal/guestbuild"
)

func quietHost(b *testing.B, opts Options) *Host {
	opts.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	h, err := New(context.Background(), opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close(context.Background()) })
	return h
}

// benchHook measures one login hook call that reads three fields and
// writes one, through the whole chain machinery (Host.Run).
func benchHook(b *testing.B, path string, lim Limits) {
	h := quietHost(b, Options{})
	if err := h.Load(context.Background(), []Spec{{Name: "bench", Path: path, Limits: lim}}); err != nil {
		b.Fatal(err)
	}
	f := mailFields()
	ctx := context.Background()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if r := h.Run(ctx, abi.HookLogin, f); r.Err != nil {
			b.Fatal(r.Err)
		}
	}
	b.StopTimer()
	if f.Account != f.Login {
		b.Fatalf("account %q: the guest did not write it", f.Account)
	}
}

// BenchmarkHook_WAT: target under 0.5µs per hook.
func BenchmarkHook_WAT(b *testing.B) {
	b.Run("interruptible", func(b *testing.B) { benchHook(b, fixture("bench"), Limits{}) })
	b.Run("uninterruptible", func(b *testing.B) { benchHook(b, fixture("bench"), Limits{Uninterruptible: true}) })
}

// BenchmarkHook_Go: target under 2µs per hook.
func BenchmarkHook_Go(b *testing.B) {
	path := goGuest(b, "bench")
	b.Run("interruptible", func(b *testing.B) { benchHook(b, path, Limits{}) })
	b.Run("uninterruptible", func(b *testing.B) { benchHook(b, path, Limits{Uninterruptible: true}) })
}

// benchInstance measures creating one initialised instance (instantiate,
// _initialize, init) and closing it.
func benchInstance(b *testing.B, path string) {
	h := quietHost(b, Options{})
	if err := h.Load(context.Background(), []Spec{{Name: "bench", Path: path}}); err != nil {
		b.Fatal(err)
	}
	g := h.Plugin("bench").gen.Load()
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		g.pool.slots <- struct{}{}
		in, err := g.newInstance(ctx, false)
		if err != nil {
			b.Fatal(err)
		}
		in.close()
	}
}

func BenchmarkInstance_Go(b *testing.B) { benchInstance(b, goGuest(b, "everything")) }

func BenchmarkInstance_WAT(b *testing.B) { benchInstance(b, fixture("all_hooks")) }

// benchReload measures Plugin.Reload of a changed Go guest file: read,
// compile (or fetch from the cache), check, trial instance and init.
func benchReload(b *testing.B, cacheDir string) {
	dir := b.TempDir()
	path := filepath.Join(dir, "p.wasm")
	src, err := os.ReadFile(goGuest(b, "everything"))
	if err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, src, 0o644); err != nil {
		b.Fatal(err)
	}
	h := quietHost(b, Options{CacheDir: cacheDir})
	if err := h.Load(context.Background(), []Spec{{Name: "p", Path: path}}); err != nil {
		b.Fatal(err)
	}
	p := h.Plugin("p")
	if cacheDir != "" {
		for i := 0; i < 2; i++ { // warm the cache with both variants
			os.WriteFile(path, append(append([]byte{}, src...), customSection(i)...), 0o644)
			if err := p.Reload(context.Background()); err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		// Alternate two byte-different copies (a custom section keeps the
		// code identical) so each Reload sees a change; with a cache, both
		// were compiled before the timer started.
		v := append(append([]byte{}, src...), customSection(i%2)...)
		if err := os.WriteFile(path, v, 0o644); err != nil {
			b.Fatal(err)
		}
		if cacheDir == "" {
			// No cache: a fresh in-memory cache per iteration.
			p.h.cache = wazero.NewCompilationCache()
		}
		b.StartTimer()
		if err := p.Reload(context.Background()); err != nil {
			b.Fatal(err)
		}
	}
}

// customSection returns a wasm custom section named "v" holding i, which
// changes the file (and its hash) but not its code.
func customSection(i int) []byte {
	payload := []byte{1, 'v', byte(i), byte(i >> 8)}
	return append([]byte{0, byte(len(payload))}, payload...)
}

func BenchmarkReload_Go_noCache(b *testing.B) { benchReload(b, "") }

func BenchmarkReload_Go_cacheDir(b *testing.B) { benchReload(b, b.TempDir()) }

// BenchmarkLoop measures a loop-heavy guest with and without wazero's
// termination checks, for RATIONALE.md.
func BenchmarkLoop(b *testing.B) {
	for _, ensure := range []bool{false, true} {
		name := "CloseOnContextDone=false"
		if ensure {
			name = "CloseOnContextDone=true"
		}
		b.Run(name, func(b *testing.B) {
			ctx := context.Background()
			rt := wazero.NewRuntimeWithConfig(ctx, wazero.NewRuntimeConfigCompiler().WithCloseOnContextDone(ensure))
			defer rt.Close(ctx)
			mod, err := rt.Instantiate(ctx, loopWasm)
			if err != nil {
				b.Fatal(err)
			}
			fn := mod.ExportedFunction("spin")
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, err := fn.Call(ctx, 1_000_000); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// loopWasm is (module (func (export "spin") (param i32) (loop local.get 0
// i32.const 1 i32.sub local.tee 0 br_if 0))): a million-iteration loop.
var loopWasm = []byte{
	0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, // magic, version
	0x01, 0x05, 0x01, 0x60, 0x01, 0x7f, 0x00, // type: (i32) -> ()
	0x03, 0x02, 0x01, 0x00, // func 0 has type 0
	0x07, 0x08, 0x01, 0x04, 's', 'p', 'i', 'n', 0x00, 0x00, // export "spin"
	0x0a, 0x10, 0x01, 0x0e, 0x00, // code: 1 body, size 14, no locals
	0x03, 0x40, // loop
	0x20, 0x00, 0x41, 0x01, 0x6b, 0x22, 0x00, 0x0d, 0x00, // local.get 0; i32.const 1; i32.sub; local.tee 0; br_if 0
	0x0b, 0x0b, // end loop, end func
}

// goGuest builds (once per source change) and returns a test guest from
// testdata/guests/<name>.
func goGuest(tb testing.TB, name string) string {
	return guestbuild.Build(tb, "host/plugin/testdata/guests/"+name)
}
