package h2_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// bigHandler answers /small with "ok" and anything else with 64 MiB,
// sending how its writes ended on done.
func bigHandler(done chan<- error) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			w.Write([]byte("ok"))
			return
		}
		chunk := make([]byte, 16<<10)
		var err error
		for i := 0; i < 4096 && err == nil; i++ {
			_, err = w.Write(chunk)
		}
		done <- err
	})
}

// TestSendTimeout: a stream that waits for window longer than SendTimeout
// is reset and the connection goes on; a connection whose socket takes
// nothing for that long is closed. Both free the handler's goroutine.
func TestSendTimeout(t *testing.T) {
	t.Parallel()
	const timeout = 300 * time.Millisecond
	t.Run("window", func(t *testing.T) {
		t.Parallel()
		done := make(chan error, 1)
		ts := startServer(t, bigHandler(done), serverOpts{SendTimeout: timeout})
		if ts.h2 == nil {
			t.Skip("SendTimeout is package h2's")
		}
		rc := newRawConn(t, ts)
		rc.autoWindow = false // the client's 65,535-byte windows are never opened
		start := time.Now()
		rc.get(1, "/big")
		resp := rc.readResponse(1)
		took := time.Since(start)
		if !resp.reset || resp.rst != http2.ErrCodeCancel {
			t.Fatalf("stream 1: reset %v (%v), want RST_STREAM CANCEL", resp.reset, resp.rst)
		}
		if len(resp.body) != 65535 {
			t.Fatalf("stream 1 carried %d bytes before its reset, want the window's 65535", len(resp.body))
		}
		if took < timeout || took > timeout*5/4+2*time.Second {
			t.Fatalf("reset after %v, want after the send timeout %v and soon after", took, timeout)
		}
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("the handler's writes succeeded on a reset stream")
			}
		case <-time.After(frameTimeout):
			t.Fatal("the handler is still blocked after the reset")
		}
		// The connection goes on.
		rc.check(rc.fr.WriteWindowUpdate(0, 1<<20))
		rc.autoWindow = true
		rc.get(3, "/small")
		if r := rc.readResponse(3); r.status != 200 || string(r.body) != "ok" {
			t.Fatalf("stream 3 after the reset: %d %q", r.status, r.body)
		}
	})
	t.Run("socket", func(t *testing.T) {
		t.Parallel()
		done := make(chan error, 1)
		ts := startServer(t, bigHandler(done), serverOpts{SendTimeout: timeout})
		if ts.h2 == nil {
			t.Skip("SendTimeout is package h2's")
		}
		rc := dialRaw(t, ts)
		rc.writePreface()
		// Windows as large as they go: only the socket holds the server back.
		rc.check(rc.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1<<31 - 1}))
		rc.handshake()
		rc.check(rc.fr.WriteWindowUpdate(0, 1<<31-1-65535))
		start := time.Now()
		rc.get(1, "/big") // and never read again
		select {
		case err := <-done:
			if err == nil {
				t.Fatal("64 MiB written to a client that reads nothing")
			}
			if d := time.Since(start); d < timeout {
				t.Fatalf("the writes failed after %v, before the send timeout %v", d, timeout)
			}
		case <-time.After(timeout*5/4 + 5*time.Second):
			t.Fatal("the handler is still blocked writing to a client that reads nothing")
		}
		if logs := ts.Logs(); !strings.Contains(logs, "send timeout") {
			t.Errorf("no send timeout in the server's log: %q", logs)
		}
	})
}
