package web

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
)

// cannedBackend is a real HTTP/1.1 server on 127.0.0.1 that answers every
// bodiless request with the same 1 KiB response, keeping the connection.
// It allocates almost nothing per request, so a benchmark's allocs/op are
// the proxy's. It stops when the benchmark ends.
func cannedBackend(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 1024\r\n\r\n" +
		strings.Repeat("x", 1023) + "\n")
	var wg sync.WaitGroup
	var mu sync.Mutex
	conns := map[net.Conn]bool{}
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns[c] = true
			mu.Unlock()
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					// Read the request head; the benchmark sends no bodies.
					for {
						line, err := br.ReadSlice('\n')
						if err != nil {
							return
						}
						if len(bytes.TrimRight(line, "\r\n")) == 0 {
							break
						}
					}
					if _, err := c.Write(resp); err != nil {
						return
					}
				}
			}()
		}
	}()
	tb.Cleanup(func() {
		ln.Close()
		mu.Lock()
		for c := range conns {
			c.Close()
		}
		mu.Unlock()
		wg.Wait()
	})
	return ln.Addr().String()
}

// discardWriter is a reusable ResponseWriter that drops the body.
type discardWriter struct {
	h      http.Header
	status int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.status = code }
func (w *discardWriter) Write(b []byte) (int, error) { return len(b), nil }

// benchHandler runs requests through a listener's handler as the server
// would call it, against a real backend on loopback at addr, with the
// access log built and discarded.
func benchHandler(b *testing.B, addr string, host *plugin.Host) {
	benchHandlerAuth(b, addr, host, "Basic Ym9iOng=")
}

// benchHandlerAuth is benchHandler with the Authorization header auth
// ("": an anonymous request).
func benchHandlerAuth(b *testing.B, addr string, host *plugin.Host, auth string) {
	benchHandlerWith(b, addr, host, auth, nil)
}

// benchHandlerWith is benchHandlerAuth with the configuration edited.
func benchHandlerWith(b *testing.B, addr string, host *plugin.Host, auth string, edit func(*Config)) {
	cfg := simple("", addr)
	if edit != nil {
		edit(&cfg)
	}
	cfg.Listeners[0].Address = "127.0.0.1:0"
	quiet := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := New(Options{Config: cfg, Plugins: host, Logger: quiet,
		AccessLog: slog.New(slog.NewJSONHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = s.Shutdown(context.Background()) })
	h := s.Handler("web")
	local := &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 8080}
	ctx := context.WithValue(context.Background(), http.LocalAddrContextKey, net.Addr(local))
	newReq := func() *http.Request {
		// What the server hands a handler: a parsed request with its own
		// header map (plugins may edit it).
		r, _ := http.NewRequestWithContext(ctx, http.MethodGet, "http://bench.test/old/bench", nil)
		r.RemoteAddr = "192.0.2.7:40000"
		if auth != "" {
			r.Header["Authorization"] = []string{auth}
		}
		r.Header["User-Agent"] = []string{"wrk"}
		r.Header["Accept"] = []string{"*/*"}
		return r
	}
	// Warm up with as many requests in flight as measured, so the plugins'
	// instance pools have grown (a Go guest's instance costs milliseconds
	// to create) and caches are filled before the clock starts.
	var wg sync.WaitGroup
	for range 32 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			w := &discardWriter{h: http.Header{}}
			for range 20 {
				clear(w.h)
				h.ServeHTTP(w, newReq())
			}
		}()
	}
	wg.Wait()
	b.ReportAllocs()
	b.SetParallelism(16) // 32 requests in flight on 2 cores, like wrk's connections
	cpu0 := processCPU(b)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		w := &discardWriter{h: http.Header{}}
		for pb.Next() {
			r := newReq()
			clear(w.h)
			w.status = 0
			h.ServeHTTP(w, r)
			if w.status != http.StatusOK {
				b.Errorf("status %d", w.status)
				return
			}
		}
	})
	b.StopTimer()
	// CPU time, unlike ns/op, hardly depends on what else the machine
	// runs. It includes the loopback backend's few microseconds.
	b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
}

// processCPU is the process's user+system time so far.
func processCPU(tb testing.TB) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		tb.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkHandler_noPlugins is the proxy path alone: fields, the access
// log line and the upstream round trip.
func BenchmarkHandler_noPlugins(b *testing.B) { benchHandler(b, cannedBackend(b), nil) }

// BenchmarkHandler_upstreamClient compares the two upstream clients of
// plain backends on the proxy path alone (BenchmarkHandler_noPlugins with
// upstream_client set): the lean synchronous HTTP/1.1 client (the
// default) and net/http's Transport.
func BenchmarkHandler_upstreamClient(b *testing.B) {
	for _, cl := range []string{UpstreamClientLean, UpstreamClientNetHTTP} {
		b.Run(strings.ReplaceAll(cl, "/", ""), func(b *testing.B) {
			benchHandlerWith(b, cannedBackend(b), nil, "Basic Ym9iOng=", func(c *Config) { c.UpstreamClient = cl })
		})
	}
}

// BenchmarkHandler_routeRewrite adds bench/web's chain: a route plugin
// (user bob routed to the backend) and a rewrite plugin (/old/ to /new/
// with a header), two plugins serving two of the four hooks.
func BenchmarkHandler_routeRewrite(b *testing.B) {
	addr := cannedBackend(b)
	rr := plugintest.Build(b, "host/web/testdata/guests/route-rewrite")
	ctx := context.Background()
	h, err := plugin.New(ctx, plugin.Options{Store: kv.NewMemory(kv.MemoryOptions{}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close(ctx) })
	if err := h.Load(ctx, []plugin.Spec{
		{Name: "route", Path: rr, Hooks: []abi.Hook{abi.HookRoute}, Config: []byte(`{"routes":{"bob":"` + addr + `"}}`)},
		{Name: "rewrite", Path: rr, Hooks: []abi.Hook{abi.HookRewrite}},
	}); err != nil {
		b.Fatal(err)
	}
	benchHandler(b, addr, h)
}

// BenchmarkHandler_chainAnonymous: the standard chain (login-normaliser,
// throttle, route-cache, route-lookup, url-rewrite) for requests without a
// login. Every plugin's request filter keeps it out: no guest entered, no
// store round trip.
func BenchmarkHandler_chainAnonymous(b *testing.B) {
	addr := cannedBackend(b)
	h, _ := standardChain(b, kv.NewMemory(kv.MemoryOptions{}), addr)
	benchHandlerAuth(b, addr, h, "")
}

// BenchmarkHandler_chainLogin: the same chain for a user (basic auth bob)
// whose route is cached: login-normaliser, throttle (two counters),
// route-cache (a hit) and route_decided are entered, with the in-process
// store.
func BenchmarkHandler_chainLogin(b *testing.B) {
	addr := cannedBackend(b)
	h, lookups := standardChain(b, kv.NewMemory(kv.MemoryOptions{}), addr)
	benchHandlerAuth(b, addr, h, "Basic Ym9iOng=")
	// The first requests in flight all miss before the first
	// route_decided stored the route; after that, every one hits.
	if n := lookups.Load(); n > 64 {
		b.Errorf("%d lookups; the route should come from the cache after the first requests", n)
	}
}

// BenchmarkHandler_response: the response hook's cost when it is used:
// url-rewrite with one response rule (hide a header, add one) and no
// request rule, entered on every response and nowhere else. Compare with
// BenchmarkHandler_noPlugins; without a response plugin the hook costs
// one atomic load per response.
func BenchmarkHandler_response(b *testing.B) {
	addr := cannedBackend(b)
	ur := plugintest.Build(b, "plugins/url-rewrite")
	ctx := context.Background()
	h, err := plugin.New(ctx, plugin.Options{Store: kv.NewMemory(kv.MemoryOptions{}),
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { h.Close(ctx) })
	if err := h.Load(ctx, []plugin.Spec{{Name: "url-rewrite", Path: ur, Hooks: []abi.Hook{abi.HookResponse},
		Config: []byte(`{"response":[{"hide_headers":["Server"],"set_headers":{"X-Frame-Options":"DENY"}}]}`)}}); err != nil {
		b.Fatal(err)
	}
	benchHandler(b, addr, h)
}

// BenchmarkServer_plain is a whole plain listener on loopback, anonymous
// requests without plugins: raw keep-alive clients (32 connections, a GET
// and its 1 KiB answer at a time), the front end, the canned backend.
// The sub-benchmarks compare the lean HTTP/1.1 server (the default) with
// net/http's; cpu-ns/op includes the clients' and the backend's few
// microseconds, the same in both.
func BenchmarkServer_plain(b *testing.B) {
	for _, mode := range []string{ServerLean, ServerNetHTTP} {
		b.Run(strings.ReplaceAll(mode, "/", ""), func(b *testing.B) {
			cfg := simple("", cannedBackend(b))
			cfg.Server = mode
			cfg.Listeners[0].Address = "127.0.0.1:0"
			quiet := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelWarn}))
			s, err := New(Options{Config: cfg, Logger: quiet})
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Start(); err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { _ = s.Shutdown(context.Background()) })
			addr := s.Addr("web").String()
			req := []byte("GET /bench HTTP/1.1\r\nHost: bench.test\r\nUser-Agent: wrk\r\nAccept: */*\r\n\r\n")
			b.ReportAllocs()
			b.SetParallelism(16)
			cpu0 := processCPU(b)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				c, err := net.Dial("tcp", addr)
				if err != nil {
					b.Error(err)
					return
				}
				defer c.Close()
				br := bufio.NewReaderSize(c, 8<<10)
				for pb.Next() {
					if _, err := c.Write(req); err != nil {
						b.Error(err)
						return
					}
					if err := readCanned(br); err != nil {
						b.Error(err)
						return
					}
				}
			})
			b.StopTimer()
			b.ReportMetric(float64(processCPU(b)-cpu0)/float64(b.N), "cpu-ns/op")
		})
	}
}

// readCanned reads one response to a benchmark request: headers, then
// the body its Content-Length gives.
func readCanned(br *bufio.Reader) error {
	n := -1
	for {
		line, err := br.ReadSlice('\n')
		if err != nil {
			return err
		}
		if len(line) <= 2 {
			break
		}
		if v, ok := bytes.CutPrefix(line, []byte("Content-Length: ")); ok {
			n = 0
			for _, c := range bytes.TrimSpace(v) {
				n = n*10 + int(c-'0')
			}
		}
	}
	if n < 0 {
		return io.ErrUnexpectedEOF
	}
	_, err := br.Discard(n)
	return err
}
