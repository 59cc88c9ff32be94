package h2_test

// This file is the only one that knows which HTTP/2 server runs under the
// tests: package h2's Server, or with H2TEST_SERVER=net/http net/http's
// own HTTP/2 server, the reference behaviour the tests were first checked
// against (where the two differ within what RFC 9113 allows, the tests
// accept both). H2TEST_SERVER=driven runs package h2's Server with its
// connections driven (ServeDriven) as an event loop drives them: a
// goroutine reads the socket and feeds the bytes, in whatever pieces the
// reads return, and the connection's writes are queued for a writer
// goroutine (serveDriven).

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/host/web/internal/h2"
)

// serverOpts are the knobs the tests turn. Zero values mean the server's
// defaults (MaxConcurrentStreams 250 for package h2, "at least 100" for
// net/http; MaxHeaderBytes http.DefaultMaxHeaderBytes; no idle timeout).
type serverOpts struct {
	MaxConcurrentStreams uint32
	MaxHeaderBytes       int
	IdleTimeout          time.Duration
	SendTimeout          time.Duration // package h2 only
}

// testServer is one running server on 127.0.0.1, speaking HTTP/2 with prior
// knowledge (h2c) on plain TCP.
type testServer struct {
	Addr string

	srv   *http.Server // net/http's, or nil
	h2    *h2.Server   // ours, or nil
	ln    net.Listener
	conns sync.WaitGroup
	logs  *syncBuffer
	label string // pprof label value carried by every goroutine of this server
	done  chan struct{}
	once  sync.Once
}

// startServer starts a server for h with o and registers its Close (and,
// after it, the goroutine-leak check) with t.Cleanup.
func startServer(t testing.TB, h http.Handler, o serverOpts) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	ts := &testServer{
		Addr:  ln.Addr().String(),
		logs:  &syncBuffer{},
		label: fmt.Sprint(serverSeq.Add(1)),
		done:  make(chan struct{}),
	}
	if os.Getenv("H2TEST_SERVER") != "net/http" {
		driven := os.Getenv("H2TEST_SERVER") == "driven"
		ts.ln = ln
		ts.h2 = &h2.Server{
			Handler:              h,
			MaxConcurrentStreams: o.MaxConcurrentStreams,
			MaxHeaderBytes:       o.MaxHeaderBytes,
			IdleTimeout:          o.IdleTimeout,
			SendTimeout:          o.SendTimeout,
			ErrorLog:             log.New(ts.logs, "", 0),
		}
		serving := make(chan struct{})
		go func() {
			defer close(ts.done)
			pprof.Do(context.Background(), pprof.Labels(serverLabelKey, ts.label), func(ctx context.Context) {
				close(serving)
				for {
					c, err := ln.Accept()
					if err != nil {
						return
					}
					ts.conns.Add(1)
					go func() {
						defer ts.conns.Done()
						if driven {
							serveDriven(ctx, ts.h2, c)
							return
						}
						ts.h2.ServeConn(ctx, c)
					}()
				}
			})
			ts.conns.Wait()
		}()
		<-serving
		t.Cleanup(func() { checkServerGoroutines(t, ts) })
		t.Cleanup(ts.Close)
		return ts
	}
	ts.srv = &http.Server{
		Handler:        h,
		IdleTimeout:    o.IdleTimeout,
		MaxHeaderBytes: o.MaxHeaderBytes,
		Protocols:      &p,
		HTTP2:          &http.HTTP2Config{MaxConcurrentStreams: int(o.MaxConcurrentStreams)},
		ErrorLog:       log.New(ts.logs, "", 0),
	}
	// Every goroutine the server starts (accept loop, per-connection,
	// per-stream) inherits this pprof label, so the leak check can count
	// this server's goroutines alone even while other tests run in parallel.
	serving := make(chan struct{})
	go func() {
		defer close(ts.done)
		pprof.Do(context.Background(), pprof.Labels(serverLabelKey, ts.label), func(context.Context) {
			close(serving)
			ts.srv.Serve(ln)
		})
	}()
	<-serving // the accept loop's goroutine exists: goroutine counts start stable
	// Cleanups run last-in first-out: Close first, then the leak check.
	t.Cleanup(func() { checkServerGoroutines(t, ts) })
	t.Cleanup(ts.Close)
	return ts
}

// Shutdown gracefully shuts the server down: GOAWAY to every connection, wait
// for in-flight streams (or ctx), close.
func (ts *testServer) Shutdown(ctx context.Context) error {
	if ts.h2 != nil {
		ts.ln.Close()
		return ts.h2.Shutdown(ctx)
	}
	return ts.srv.Shutdown(ctx)
}

// Close closes the listener and every connection now. Safe to call twice.
func (ts *testServer) Close() {
	ts.once.Do(func() {
		if ts.h2 != nil {
			ts.ln.Close()
			ts.h2.Close()
		} else {
			ts.srv.Close()
		}
		<-ts.done
	})
}

// Logs returns what the server wrote to its ErrorLog so far.
func (ts *testServer) Logs() string { return ts.logs.String() }

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// ---- goroutine accounting (server-independent) ----

const serverLabelKey = "h2test-server"

var serverSeq atomic.Int64

// goroutines returns how many goroutines currently carry this server's pprof
// label: the server's own goroutines, nobody else's.
func (ts *testServer) goroutines() int { return labeledGoroutines(ts.label) }

func labeledGoroutines(label string) int {
	var buf bytes.Buffer
	pprof.Lookup("goroutine").WriteTo(&buf, 1)
	want := fmt.Sprintf("%q:%q", serverLabelKey, label)
	// debug=1 output: one record per distinct stack and label set, each
	// starting with "COUNT @ pc pc ..." and, when labelled, followed by a
	// "# labels: {...}" line.
	n, count := 0, 0
	for _, line := range strings.Split(buf.String(), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[1] == "@" {
			count, _ = strconv.Atoi(f[0])
		} else if strings.HasPrefix(line, "# labels:") && strings.Contains(line, want) {
			n += count
		}
	}
	return n
}

// leakSlack is how many of a server's goroutines may outlive its Close by
// more than 2s. net/http's server drops to 0, so the check catches even a
// single leaked goroutine (a test that starts 2 leaking handlers was seen to
// fail it).
const leakSlack = 0

// waitGoroutines polls until the server has at most max goroutines or the
// deadline passes, and returns the last count.
func waitGoroutines(ts *testServer, max int, d time.Duration) int {
	deadline := time.Now().Add(d)
	for {
		n := ts.goroutines()
		if n <= max || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// checkServerGoroutines is the goroutine-leak check every test ends with
// (registered by startServer to run after the server's Close): the server's
// goroutines must be gone within 2s.
func checkServerGoroutines(t testing.TB, ts *testServer) {
	t.Helper()
	if n := waitGoroutines(ts, leakSlack, 2*time.Second); n > leakSlack {
		var buf bytes.Buffer
		pprof.Lookup("goroutine").WriteTo(&buf, 1)
		t.Errorf("goroutine leak: %d goroutines of server %s still running 2s after Close (slack %d)\n%s",
			n, ts.label, leakSlack, filterLabeled(buf.String(), ts.label))
	}
}

func filterLabeled(dump, label string) string {
	want := fmt.Sprintf("%q:%q", serverLabelKey, label)
	var out []string
	for _, rec := range strings.Split(dump, "\n\n") {
		if strings.Contains(rec, want) {
			out = append(out, rec)
		}
	}
	return strings.Join(out, "\n\n")
}

// serveDriven serves c as a driven connection (ServeDriven): this
// goroutine reads the socket and feeds what it reads, as an event loop
// would; a writer goroutine writes what the connection queued.
func serveDriven(ctx context.Context, s *h2.Server, c net.Conn) {
	dc := &drivenConn{Conn: c, s: s}
	dc.cond.L = &dc.mu
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		dc.writer()
	}()
	defer wg.Wait()
	d := s.ServeDriven(ctx, dc, dc.room)
	if d == nil {
		return
	}
	buf := make([]byte, 0, 4<<10) // small: frames come in pieces, and the buffer grows for big ones
	for {
		if len(buf) == cap(buf) {
			if cap(buf) >= d.MaxBuffer() {
				panic("h2test: Feed let the unfed bytes grow past MaxBuffer")
			}
			buf = append(buf, make([]byte, min(cap(buf), d.MaxBuffer()-cap(buf)))...)[:len(buf)]
		}
		n, err := c.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		k, ferr := d.Feed(buf)
		buf = buf[:copy(buf, buf[k:])]
		if ferr != nil || err != nil {
			break
		}
	}
	d.Close()
}

// drivenConn is a driven connection's transport in the tests: writes
// queue, a goroutine writes them to the socket, room waits while more
// than 64 KiB wait.
type drivenConn struct {
	net.Conn
	s      *h2.Server
	mu     sync.Mutex
	cond   sync.Cond
	q      []byte
	closed bool
	shut   bool
}

func (dc *drivenConn) Write(p []byte) (int, error) {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if dc.closed {
		return 0, net.ErrClosed
	}
	dc.q = append(dc.q, p...)
	dc.cond.Broadcast()
	return len(p), nil
}

func (dc *drivenConn) room() error {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	for len(dc.q) > 64<<10 && !dc.closed {
		dc.cond.Wait()
	}
	if dc.closed {
		return net.ErrClosed
	}
	return nil
}

// writer writes what the connection queues. The send timeout is the
// driver's (as it is an event loop's): a write the socket takes none of
// for Server.SendTimeout closes the connection. Close writes what is
// queued first (a GOAWAY), as a connection's last writes.
func (dc *drivenConn) writer() {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	for {
		for len(dc.q) == 0 && !dc.closed && !dc.shut {
			dc.cond.Wait()
		}
		if dc.closed {
			if len(dc.q) > 0 {
				dc.Conn.SetWriteDeadline(time.Now().Add(time.Second))
				dc.Conn.Write(dc.q)
				dc.q = nil
			}
			dc.Conn.Close()
			return
		}
		if len(dc.q) == 0 { // shut, everything written
			dc.Conn.(*net.TCPConn).CloseWrite()
			dc.shut = false
			continue
		}
		b := dc.q
		dc.q = nil
		dc.mu.Unlock()
		if t := dc.s.SendTimeout; t > 0 {
			dc.Conn.SetWriteDeadline(time.Now().Add(t))
		}
		_, err := dc.Conn.Write(b)
		dc.mu.Lock()
		dc.cond.Broadcast()
		if err != nil {
			if errors.Is(err, os.ErrDeadlineExceeded) {
				dc.s.ErrorLog.Printf("h2test: the client took none of a write for %v (send timeout)", dc.s.SendTimeout)
			}
			dc.closed = true
			dc.q = nil
			dc.Conn.Close()
			return
		}
	}
}

func (dc *drivenConn) CloseWrite() error {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	dc.shut = true
	dc.cond.Broadcast()
	return nil
}

func (dc *drivenConn) Close() error {
	dc.mu.Lock()
	defer dc.mu.Unlock()
	if !dc.closed {
		dc.closed = true
		dc.cond.Broadcast()
		dc.Conn.SetReadDeadline(time.Now()) // the driver's read ends; the writer closes the socket
	}
	return nil
}
