package h2_test

import (
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// testHandler is the handler most raw-frame tests use.
//
//	/block...  waits until released (per path or all), or the request's
//	           context is done, then answers "done <path>"
//	otherwise  reads the body and answers "ok <path>"
//
// It counts calls and reports each start on started.
type testHandler struct {
	calls   atomic.Int64
	started chan string

	mu       sync.Mutex
	releases map[string]chan struct{}
	seen     map[string]bool // starts already taken off started
	all      chan struct{}
	allOnce  sync.Once
}

func newTestHandler(t testing.TB) *testHandler {
	h := &testHandler{started: make(chan string, 1000), releases: map[string]chan struct{}{}, seen: map[string]bool{}, all: make(chan struct{})}
	// Handlers must not outlive the test (nor hold the leak check up).
	t.Cleanup(h.releaseAll)
	return h
}

func (h *testHandler) releaseCh(path string) chan struct{} {
	h.mu.Lock()
	defer h.mu.Unlock()
	c, ok := h.releases[path]
	if !ok {
		c = make(chan struct{})
		h.releases[path] = c
	}
	return c
}

// release lets the blocked handler for path answer.
func (h *testHandler) release(path string) { close(h.releaseCh(path)) }

func (h *testHandler) releaseAll() { h.allOnce.Do(func() { close(h.all) }) }

func (h *testHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.calls.Add(1)
	select {
	case h.started <- r.URL.Path:
	default:
	}
	if strings.HasPrefix(r.URL.Path, "/block") {
		select {
		case <-h.releaseCh(r.URL.Path):
		case <-h.all:
		case <-r.Context().Done():
			return
		case <-time.After(10 * time.Second):
		}
		io.WriteString(w, "done "+r.URL.Path)
		return
	}
	io.Copy(io.Discard, r.Body)
	io.WriteString(w, "ok "+r.URL.Path)
}

// waitStarted waits until the handler for path has started.
func (h *testHandler) waitStarted(t testing.TB, path string) {
	t.Helper()
	timeout := time.After(frameTimeout)
	for {
		h.mu.Lock()
		ok := h.seen[path]
		h.mu.Unlock()
		if ok {
			return
		}
		select {
		case p := <-h.started:
			h.mu.Lock()
			h.seen[p] = true
			h.mu.Unlock()
		case <-timeout:
			t.Fatalf("handler for %s did not start", path)
		}
	}
}

// Short names for handler funcs in tests.
type (
	responseWriter = http.ResponseWriter
	request        = http.Request
	handlerFunc    = http.HandlerFunc
)
