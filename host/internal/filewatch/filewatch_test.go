package filewatch

import (
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"testing"
	"time"
)

const debounce = 50 * time.Millisecond

func newWatcher(t *testing.T, paths ...string) *Watcher {
	t.Helper()
	w, err := New(Options{Debounce: debounce, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	t.Cleanup(func() { w.Close() })
	for _, p := range paths {
		if err := w.Add(p); err != nil {
			t.Fatalf("Add(%s): %v", p, err)
		}
	}
	return w
}

func write(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// collect returns the events received within d.
func collect(w *Watcher, d time.Duration) []string {
	var got []string
	timeout := time.After(d)
	for {
		select {
		case p, ok := <-w.Events():
			if !ok {
				return got
			}
			got = append(got, p)
		case <-timeout:
			return got
		}
	}
}

// expect checks that exactly want (in any order) arrives within a bounded
// time, and then nothing more for a few debounce periods.
func expect(t *testing.T, w *Watcher, want ...string) {
	t.Helper()
	var got []string
	deadline := time.After(2 * time.Second)
	for len(got) < len(want) {
		select {
		case p := <-w.Events():
			got = append(got, p)
		case <-deadline:
			t.Fatalf("events = %q, want %q (timed out)", got, want)
		}
	}
	got = append(got, collect(w, 4*debounce)...)
	slices.Sort(got)
	want = slices.Sorted(slices.Values(want))
	if !slices.Equal(got, want) {
		t.Fatalf("events = %q, want %q", got, want)
	}
}

func TestWatcher(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		// setup runs before the watcher starts, change after; both get
		// the directory and the watched path in it.
		setup  func(t *testing.T, dir, path string)
		change func(t *testing.T, dir, path string)
		want   bool // whether one event for path is expected
	}{
		{
			name:  "rename over",
			setup: func(t *testing.T, dir, path string) { write(t, path, "old") },
			change: func(t *testing.T, dir, path string) {
				tmp := filepath.Join(dir, ".x.wasm.tmp")
				write(t, tmp, "new module")
				if err := os.Rename(tmp, path); err != nil {
					t.Fatal(err)
				}
			},
			want: true,
		},
		{
			name:  "chunked write",
			setup: func(t *testing.T, dir, path string) { write(t, path, "old") },
			change: func(t *testing.T, dir, path string) {
				f, err := os.OpenFile(path, os.O_WRONLY|os.O_TRUNC, 0)
				if err != nil {
					t.Fatal(err)
				}
				defer f.Close()
				for range 6 {
					if _, err := f.Write([]byte("chunk of a module ")); err != nil {
						t.Fatal(err)
					}
					time.Sleep(debounce / 5)
				}
			},
			want: true,
		},
		{
			name:  "swap file noise",
			setup: func(t *testing.T, dir, path string) { write(t, path, "old") },
			change: func(t *testing.T, dir, path string) {
				for _, n := range []string{".x.wasm.swp", "x.wasm~", ".#x.wasm", "4913", "x.wasm.tmp", "other.wasm"} {
					p := filepath.Join(dir, n)
					write(t, p, "noise")
					write(t, p, "more noise")
					if n != "other.wasm" {
						os.Remove(p)
					}
				}
			},
			want: false,
		},
		{
			name:  "chmod only",
			setup: func(t *testing.T, dir, path string) { write(t, path, "old") },
			change: func(t *testing.T, dir, path string) {
				if err := os.Chmod(path, 0o600); err != nil {
					t.Fatal(err)
				}
			},
			want: false,
		},
		{
			name:  "touch",
			setup: func(t *testing.T, dir, path string) { write(t, path, "old") },
			change: func(t *testing.T, dir, path string) {
				later := time.Now().Add(time.Minute)
				if err := os.Chtimes(path, later, later); err != nil {
					t.Fatal(err)
				}
			},
			want: true,
		},
		{
			name:  "deleted",
			setup: func(t *testing.T, dir, path string) { write(t, path, "old") },
			change: func(t *testing.T, dir, path string) {
				if err := os.Remove(path); err != nil {
					t.Fatal(err)
				}
			},
			want: false,
		},
		{
			name:   "created after Add",
			setup:  func(t *testing.T, dir, path string) {},
			change: func(t *testing.T, dir, path string) { write(t, path, "new") },
			want:   true,
		},
		{
			name: "symlink swap, as in a Kubernetes ConfigMap",
			setup: func(t *testing.T, dir, path string) {
				must(t, os.Mkdir(filepath.Join(dir, "v1"), 0o755))
				write(t, filepath.Join(dir, "v1", "x.wasm"), "v1")
				must(t, os.Symlink("v1", filepath.Join(dir, "..data")))
				must(t, os.Symlink(filepath.Join("..data", "x.wasm"), path))
			},
			change: func(t *testing.T, dir, path string) {
				must(t, os.Mkdir(filepath.Join(dir, "v2"), 0o755))
				write(t, filepath.Join(dir, "v2", "x.wasm"), "v2 module")
				must(t, os.Symlink("v2", filepath.Join(dir, "..data_tmp")))
				must(t, os.Rename(filepath.Join(dir, "..data_tmp"), filepath.Join(dir, "..data")))
			},
			want: true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			path := filepath.Join(dir, "x.wasm")
			tc.setup(t, dir, path)
			w := newWatcher(t, path)
			tc.change(t, dir, path)
			if tc.want {
				expect(t, w, path)
			} else {
				expect(t, w)
			}
		})
	}
}

func TestWatcher_DeleteThenRecreate(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	path := filepath.Join(dir, "x.wasm")
	write(t, path, "old")
	w := newWatcher(t, path)
	must(t, os.Remove(path))
	expect(t, w) // nothing for a missing file
	write(t, path, "old")
	expect(t, w, path) // back, even with the same content
}

func TestWatcher_TwoFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.wasm"), filepath.Join(dir, "b.wasm")
	w := newWatcher(t, a, b)
	write(t, a, "a")
	write(t, b, "b")
	expect(t, w, a, b)
}

func TestWatcher_TwoDirectories(t *testing.T) {
	t.Parallel()
	a := filepath.Join(t.TempDir(), "a.wasm")
	b := filepath.Join(t.TempDir(), "b.wasm")
	w := newWatcher(t, a, b)
	write(t, a, "a")
	write(t, b, "b")
	expect(t, w, a, b)
}

// TestWatcher_RelativePathIsReportedAbsolute is not parallel: it changes
// the working directory.
func TestWatcher_RelativePathIsReportedAbsolute(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	w := newWatcher(t, "./sub/../x.wasm")
	write(t, "x.wasm", "new")
	expect(t, w, filepath.Join(dir, "x.wasm"))
}

func TestWatcher_Remove(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.wasm"), filepath.Join(dir, "b.wasm")
	w := newWatcher(t, a, b)
	must(t, w.Remove(a))
	must(t, w.Remove(a)) // not watched: nothing to do
	write(t, a, "a")
	write(t, b, "b")
	expect(t, w, b) // the directory is still watched for b
	must(t, w.Remove(b))
	write(t, b, "b2")
	expect(t, w)
	must(t, w.Add(b)) // the directory can be watched again
	write(t, b, "b3")
	expect(t, w, b)
}

func TestWatcher_AddErrors(t *testing.T) {
	t.Parallel()
	w := newWatcher(t)
	if err := w.Add(filepath.Join(t.TempDir(), "missing-dir", "x.wasm")); err == nil {
		t.Fatal("Add in a missing directory: no error")
	}
	path := filepath.Join(t.TempDir(), "x.wasm")
	must(t, w.Add(path))
	must(t, w.Add(path)) // again: nothing to do
}

// TestWatcher_Close is not parallel: it counts goroutines.
func TestWatcher_Close(t *testing.T) {
	before := runtime.NumGoroutine()
	dir := t.TempDir()
	path := filepath.Join(dir, "x.wasm")
	var watchers []*Watcher
	for range 5 {
		w, err := New(Options{Debounce: debounce})
		if err != nil {
			t.Fatal(err)
		}
		must(t, w.Add(path))
		watchers = append(watchers, w)
	}
	write(t, path, "pending when closed")
	for _, w := range watchers {
		must(t, w.Close())
		must(t, w.Close())
		if err := w.Add(path); err == nil {
			t.Fatal("Add after Close: no error")
		}
		select {
		case _, ok := <-w.Events():
			if ok {
				continue // a report may have been buffered before Close
			}
		case <-time.After(time.Second):
			t.Fatal("Events not closed by Close")
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s",
				runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}
