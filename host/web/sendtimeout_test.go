package web

import (
	"io"
	"testing"
	"time"
)

// TestSendTimeout: a client that asks for 8 MiB and reads none of it is
// closed after the send timeout, by the event loop and by a goroutine
// (fast path and full path alike), and its request is logged; the server
// goes on serving.
func TestSendTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name             string
		loop, noFastPath bool
	}{
		{name: "event loop", loop: true},
		{name: "goroutine, fast path"},
		{name: "goroutine, full path", noFastPath: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr, _, bigStarted := loopBackend(t)
			cfg := simple("", addr)
			cfg.SendTimeout = timeout
			cfg.NoFastPath = tc.noFastPath
			var s *Server
			var logs *logBuf
			if tc.loop {
				s, logs = startLoop(t, cfg)
			} else {
				cfg.NoEventLoop = true
				s, logs = start(t, Options{Config: cfg})
			}
			a := dialRaw(t, s, "web", nil)
			io.WriteString(a, getReq("/big8"))
			sent := time.Now()
			select {
			case <-bigStarted:
			case <-time.After(10 * time.Second):
				t.Fatal("the backend did not get /big8 within 10 s")
			}
			settled(t, logs, 1)
			if d := time.Since(sent); d < timeout {
				t.Errorf("the request ended %v after it was sent, before the send timeout %v", d, timeout)
			}
			if l := logs.lines(t)[0]; l["error"] == nil || l["error"] == "" {
				t.Errorf("logged %v, want the request's error", l)
			}
			// The server closed A: reading it ends before the 8 MiB.
			n, _ := io.Copy(io.Discard, a)
			if n >= int64(len(loopBody8M)) {
				t.Errorf("A read %d bytes after its connection timed out, want fewer than %d", n, len(loopBody8M))
			}
			b := dialRaw(t, s, "web", nil)
			b.exchange(t, getReq("/next"), "GET", "hello GET /next")
			if tc.loop {
				wantCounts(t, s, 2, 2)
			}
		})
	}
}
