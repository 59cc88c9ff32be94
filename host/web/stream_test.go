package web

import (
	"io"
	"net/http"
	"runtime"
	"strconv"
	"sync/atomic"
	"testing"
	"time"
)

const streamSize = 100 << 20 // 100 MiB

// zeros is an endless reader that allocates nothing.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// heapWatch samples the heap in use until stop and returns the peak growth
// over the starting point.
func heapWatch(stop <-chan struct{}) <-chan uint64 {
	out := make(chan uint64, 1)
	runtime.GC()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	base := ms.HeapInuse
	go func() {
		var peak uint64
		t := time.NewTicker(20 * time.Millisecond)
		defer t.Stop()
		for {
			runtime.ReadMemStats(&ms)
			if ms.HeapInuse > base && ms.HeapInuse-base > peak {
				peak = ms.HeapInuse - base
			}
			select {
			case <-stop:
				out <- peak
				return
			case <-t.C:
			}
		}
	}()
	return out
}

// TestServer_streaming100MiB sends 100 MiB up and 100 MiB down through the
// proxy. The proxy, the backend and the client share this process, so the
// heap bound covers all three: buffering either body anywhere would show as
// 100 MiB of growth.
func TestServer_streaming100MiB(t *testing.T) {
	if testing.Short() {
		t.Skip("moves 200 MiB")
	}
	var uploaded atomic.Int64
	be := newBackend(t, "big", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/upload":
			n, err := io.Copy(io.Discard, r.Body)
			uploaded.Store(n)
			if err != nil {
				w.WriteHeader(500)
				return
			}
			io.WriteString(w, strconv.FormatInt(n, 10))
		case "/download":
			w.Header().Set("Content-Length", strconv.Itoa(streamSize))
			io.CopyN(w, zeros{}, streamSize)
		}
	}))
	s, _ := start(t, Options{Config: simple("", be.addr)})
	c := client(t, nil)

	tests := []struct {
		name    string
		request func() (*http.Response, error)
	}{
		{"upload (chunked)", func() (*http.Response, error) {
			req, _ := http.NewRequest(http.MethodPut, urlOf(s, "web", "/upload"), io.LimitReader(zeros{}, streamSize))
			req.ContentLength = -1
			return c.Do(req)
		}},
		{"upload (Content-Length)", func() (*http.Response, error) {
			req, _ := http.NewRequest(http.MethodPut, urlOf(s, "web", "/upload"), io.LimitReader(zeros{}, streamSize))
			req.ContentLength = streamSize
			return c.Do(req)
		}},
		{"download", func() (*http.Response, error) {
			return c.Get(urlOf(s, "web", "/download"))
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			stop := make(chan struct{})
			peak := heapWatch(stop)
			resp, err := tc.request()
			if err != nil {
				close(stop)
				t.Fatal(err)
			}
			n, err := io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			close(stop)
			if err != nil || resp.StatusCode != 200 {
				t.Fatalf("%s, %v", resp.Status, err)
			}
			if tc.name == "download" && n != streamSize {
				t.Errorf("downloaded %d bytes, want %d", n, streamSize)
			}
			if tc.name != "download" && uploaded.Load() != streamSize {
				t.Errorf("backend received %d bytes, want %d", uploaded.Load(), streamSize)
			}
			growth := <-peak
			t.Logf("peak heap growth %.1f MiB", float64(growth)/(1<<20))
			if growth > 16<<20 {
				t.Errorf("heap grew by %.1f MiB while streaming 100 MiB: something buffers", float64(growth)/(1<<20))
			}
		})
	}
}
