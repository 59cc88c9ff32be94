package web

import (
	"crypto/tls"
	"io"
	"net/http"
	"testing"
	"time"

	"github.com/postern/postern/host/tlsstore"
)

// TestSendTimeout: a client that asks for 8 MiB and reads none of it is
// closed after the send timeout, by the event loop and by a goroutine
// (fast path and full path alike), and its request is logged; the server
// goes on serving.
func TestSendTimeout(t *testing.T) {
	const timeout = 300 * time.Millisecond
	for _, tc := range []struct {
		name                  string
		loop, tls, noFastPath bool
	}{
		{name: "event loop", loop: true},
		{name: "event loop, TLS", loop: true, tls: true},
		{name: "goroutine, fast path"},
		{name: "goroutine, full path", noFastPath: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, addr, _, bigStarted := loopBackend(t)
			cfg := simple("", addr)
			cfg.SendTimeout = timeout
			cfg.NoFastPath = tc.noFastPath
			s, logs, tlsConf := startTimeoutCase(t, cfg, tc.loop, tc.tls, false)
			a := dialRaw(t, s, "web", tlsConf)
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
			if st := listenerStatsOf(t, s, "web"); st.SendTimeouts != 1 || st.ReadTimeouts != 0 {
				t.Errorf("SendTimeouts %d, ReadTimeouts %d; want 1 and 0", st.SendTimeouts, st.ReadTimeouts)
			}
			// The server closed A: reading it ends before the 8 MiB.
			n, _ := io.Copy(io.Discard, a)
			if n >= int64(len(loopBody8M)) {
				t.Errorf("A read %d bytes after its connection timed out, want fewer than %d", n, len(loopBody8M))
			}
			b := dialRaw(t, s, "web", tlsConf)
			b.exchange(t, getReq("/next"), "GET", "hello GET /next")
			if tc.loop {
				wantCounts(t, s, 2, 2)
			}
		})
	}
}

// TestSendTimeout_h2: an h2 client that does not read its 8 MiB response
// stops the stream at its 4 MiB window; after the send timeout the stream
// is reset, the request logged, and the connection serves the next one.
func TestSendTimeout_h2(t *testing.T) {
	const timeout = 300 * time.Millisecond
	_, addr, _, _ := loopBackend(t)
	certs, tlsConf := fastTLS(t)
	cfg := simple("", addr)
	cfg.SendTimeout = timeout
	cfg.Listeners = []Listener{{Name: "https", TLS: true}}
	s, logs := start(t, Options{Config: cfg, Certs: certs})
	c := h2Client(t, tlsConf)
	sent := time.Now()
	req, _ := http.NewRequest("GET", "https://"+s.Addr("https").String()+"/big8", nil)
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	settled(t, logs, 1)
	if d := time.Since(sent); d < timeout {
		t.Errorf("the request ended %v after it was sent, before the send timeout %v", d, timeout)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if err == nil || n >= int64(len(loopBody8M)) {
		t.Errorf("read %d bytes, error %v; want the stream reset before the 8 MiB", n, err)
	}
	if st := listenerStatsOf(t, s, "https"); st.SendTimeouts != 1 {
		t.Errorf("SendTimeouts %d, want 1", st.SendTimeouts)
	}
	if r, body, _ := h2Get(t, c, s, "GET", "/next"); r.StatusCode != 200 || body != "hello GET /next" {
		t.Errorf("the next stream: %d %q", r.StatusCode, body)
	}
}

// startTimeoutCase starts cfg's server where a timeout test's case wants
// it: on the event loops (plain, or TLS with tlsLoop), on goroutines, or
// (h2) with a TLS listener "https" on goroutines. tlsConf is the
// client's TLS configuration, nil for a plain listener.
func startTimeoutCase(t *testing.T, cfg Config, loop, tlsLoop, h2 bool) (s *Server, logs *logBuf, tlsConf *tls.Config) {
	t.Helper()
	switch {
	case h2:
		var certs *tlsstore.Store
		certs, tlsConf = fastTLS(t)
		cfg.Listeners = []Listener{{Name: "https", TLS: true}}
		cfg.NoEventLoop = true
		s, logs = start(t, Options{Config: cfg, Certs: certs})
	case tlsLoop:
		s, logs, tlsConf = startLoopTLS(t, cfg)
	case loop:
		s, logs = startLoop(t, cfg)
	default:
		cfg.NoEventLoop = true
		s, logs = start(t, Options{Config: cfg})
	}
	return s, logs, tlsConf
}
