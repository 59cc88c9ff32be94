// Package filewatch tells the plugin runtime when a plugin file has changed
// and settled, so that it can hot-reload the plugin.
//
// It watches the directory of each file rather than the file itself, because
// editors and deploy tools replace files by writing a temporary file and
// renaming it over the old one, which ends a watch on the old file. Events
// are debounced: a path is reported once after a burst of changes, when no
// event has touched it for the debounce period and its size and modification
// time then stay the same across a short re-check. Only the exact paths given
// to Add are reported, so swap and temporary files (".x.wasm.swp", "x.wasm~",
// ".#x.wasm", vim's "4913", "*.tmp") are never reported; they may trigger a
// re-check of the watched files in their directory, which reports nothing when
// the watched files are unchanged. A path is reported only if the file exists
// and differs (identity, size or modification time) from when it was last
// reported or added: a removed file is not reported, and is reported again
// once it is back. A chmod alone is not a change.
//
// A watched file that is a symlink is followed when checked, so Kubernetes
// ConfigMap updates (a symlink swapped in the same directory) are seen, but
// writes to a symlink's target in another directory are not.
//
// Out of scope: a watched directory that is removed or renamed ends its
// watch, even if it is recreated (this is logged; Remove and Add the files
// again), and network filesystems that deliver no inotify events.
//
// The package must not read or check file contents: deciding whether a new
// plugin is good is the reload machinery's job.
package filewatch

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/fsnotify/fsnotify"
)

// Options configures [New]. The zero value is usable.
type Options struct {
	// Debounce is the quiet period after the last event on a file before
	// it is checked and reported; 0 means 250 ms.
	Debounce time.Duration
	// Logger receives watch errors, which have no caller to return to;
	// nil means slog.Default().
	Logger *slog.Logger
}

const defaultDebounce = 250 * time.Millisecond

// Watcher reports, after a quiet period, which watched files changed.
//
// Its methods are safe for concurrent use. Read Events continuously: the
// Watcher stops processing file events while a report waits to be received.
type Watcher struct {
	debounce time.Duration
	recheck  time.Duration
	log      *slog.Logger
	fsw      *fsnotify.Watcher
	events   chan string
	done     chan struct{}
	loopDone chan struct{}
	close    sync.Once

	mu     sync.Mutex
	files  map[string]*file // by cleaned absolute path
	dirs   map[string]int   // watched directory -> number of files in it
	closed bool
}

// file is the state of one watched path.
type file struct {
	dir      string
	reported state // when last reported, or when added
	pending  bool
	verify   bool      // in the re-check phase: compare with checked
	checked  state     // at the start of the re-check
	deadline time.Time // of the current phase
}

// state is what a check compares.
type state struct {
	info os.FileInfo // nil: missing
}

func stat(path string) state {
	fi, err := os.Stat(path)
	if err != nil {
		return state{}
	}
	return state{info: fi}
}

func (s state) exists() bool { return s.info != nil }

func (s state) same(o state) bool {
	if !s.exists() || !o.exists() {
		return s.exists() == o.exists()
	}
	return os.SameFile(s.info, o.info) && s.info.Size() == o.info.Size() && s.info.ModTime().Equal(o.info.ModTime())
}

// New starts a Watcher with no files. Call Close to stop it.
func New(opts Options) (*Watcher, error) {
	if opts.Debounce <= 0 {
		opts.Debounce = defaultDebounce
	}
	if opts.Logger == nil {
		opts.Logger = slog.Default()
	}
	fsw, err := fsnotify.NewWatcher()
	if err != nil {
		return nil, fmt.Errorf("filewatch: %w; raise fs.inotify.max_user_instances if it is exhausted", err)
	}
	w := &Watcher{
		debounce: opts.Debounce,
		recheck:  min(max(opts.Debounce/4, 10*time.Millisecond), 100*time.Millisecond),
		log:      opts.Logger.With("component", "filewatch"),
		fsw:      fsw,
		events:   make(chan string, 16),
		done:     make(chan struct{}),
		loopDone: make(chan struct{}),
		files:    make(map[string]*file),
		dirs:     make(map[string]int),
	}
	go w.loop()
	return w, nil
}

// Events returns the channel of changed files: each value is the cleaned
// absolute path of a watched file that changed and is now stable. The
// channel is closed by Close.
func (w *Watcher) Events() <-chan string { return w.events }

// Add watches the file at path, which need not exist yet; its directory
// must. Adding a watched path again does nothing. The file's current state
// is the baseline: it is reported only when it changes from it.
func (w *Watcher) Add(path string) error {
	p, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("filewatch: add %s: %w", path, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed {
		return errors.New("filewatch: add " + p + ": watcher closed; create a new one")
	}
	if _, ok := w.files[p]; ok {
		return nil
	}
	dir := filepath.Dir(p)
	if w.dirs[dir] == 0 {
		if err := w.fsw.Add(dir); err != nil {
			return fmt.Errorf("filewatch: add %s: watch directory %s: %w; create the directory first (the file itself may be missing)", p, dir, err)
		}
	}
	w.dirs[dir]++
	w.files[p] = &file{dir: dir, reported: stat(p)}
	return nil
}

// Remove stops watching the file at path; a change pending for it is
// dropped. Removing a path that is not watched does nothing.
func (w *Watcher) Remove(path string) error {
	p, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("filewatch: remove %s: %w", path, err)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	f, ok := w.files[p]
	if !ok || w.closed {
		return nil
	}
	delete(w.files, p)
	if w.dirs[f.dir]--; w.dirs[f.dir] > 0 {
		return nil
	}
	delete(w.dirs, f.dir)
	if err := w.fsw.Remove(f.dir); err != nil && !errors.Is(err, fsnotify.ErrNonExistentWatch) {
		return fmt.Errorf("filewatch: remove %s: unwatch directory %s: %w", p, f.dir, err)
	}
	return nil
}

// Close stops watching, waits for the watcher's goroutine to exit and
// closes the Events channel. It is safe to call more than once.
func (w *Watcher) Close() error {
	var err error
	w.close.Do(func() {
		w.mu.Lock()
		w.closed = true
		w.mu.Unlock()
		close(w.done)
		err = w.fsw.Close()
		<-w.loopDone
		close(w.events)
		if err != nil {
			err = fmt.Errorf("filewatch: close: %w", err)
		}
	})
	return err
}

func (w *Watcher) loop() {
	defer close(w.loopDone)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		select {
		case <-w.done:
			return
		case ev, ok := <-w.fsw.Events:
			if !ok {
				return
			}
			w.handle(ev)
		case err, ok := <-w.fsw.Errors:
			if !ok {
				return
			}
			w.handleError(err)
		case <-timer.C:
		}
		ready, next := w.due(time.Now())
		for _, p := range ready {
			select {
			case w.events <- p:
			case <-w.done:
				return
			}
		}
		if next.IsZero() {
			timer.Stop()
		} else {
			timer.Reset(time.Until(next))
		}
	}
}

// handle marks the files an event may concern as pending.
func (w *Watcher) handle(ev fsnotify.Event) {
	name := filepath.Clean(ev.Name)
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	if f, ok := w.files[name]; ok {
		// An event on the file itself restarts its quiet period.
		f.pending, f.verify, f.deadline = true, false, now.Add(w.debounce)
		return
	}
	if w.dirs[name] > 0 && ev.Has(fsnotify.Remove|fsnotify.Rename) {
		w.log.Warn("watched directory removed or renamed; changes in it are no longer seen until its files are removed and added again",
			"dir", name)
		return
	}
	// Another name in a watched directory: a swap file, or a symlink swap
	// that changes what a watched path points to. Check the directory's
	// files once, without delaying a check already pending, so that a busy
	// directory cannot postpone reports forever.
	dir := filepath.Dir(name)
	for _, f := range w.files {
		if f.dir == dir && !f.pending {
			f.pending, f.verify, f.deadline = true, false, now.Add(w.debounce)
		}
	}
}

func (w *Watcher) handleError(err error) {
	if !errors.Is(err, fsnotify.ErrEventOverflow) {
		w.log.Error("watch error; changes may be missed", "err", err)
		return
	}
	// Events were lost: check every file.
	w.log.Warn("event queue overflowed; checking every watched file", "err", err)
	now := time.Now()
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, f := range w.files {
		f.pending, f.verify, f.deadline = true, false, now.Add(w.debounce)
	}
}

// due advances the files whose phase has ended and returns the paths to
// report and the next deadline (zero if nothing is pending).
func (w *Watcher) due(now time.Time) (ready []string, next time.Time) {
	w.mu.Lock()
	defer w.mu.Unlock()
	for p, f := range w.files {
		if !f.pending {
			continue
		}
		if f.deadline.After(now) {
			if next.IsZero() || f.deadline.Before(next) {
				next = f.deadline
			}
			continue
		}
		st := stat(p)
		switch {
		case !st.exists():
			// Gone (deleted or renamed away): nothing to load. It is
			// reported again when it comes back.
			f.pending, f.reported = false, st
			continue
		case !f.verify:
			f.verify, f.checked, f.deadline = true, st, now.Add(w.recheck)
		case !st.same(f.checked):
			// Still being written without events we saw: wait again.
			f.verify, f.deadline = false, now.Add(w.debounce)
		default:
			f.pending = false
			if !st.same(f.reported) {
				f.reported = st
				ready = append(ready, p)
			}
			continue
		}
		if next.IsZero() || f.deadline.Before(next) {
			next = f.deadline
		}
	}
	return ready, next
}
