package h2_test

import (
	"net/http"
	"testing"

	"golang.org/x/net/http2"
)

// TestFramesAfterOurReset: frames the client had sent before it read our
// RST_STREAM (the rest of a body, its trailers) are ignored, as RFC 9113
// 5.1 requires once we have reset a stream: no connection error, no
// RST_STREAM for each, and the connection serves on.
func TestFramesAfterOurReset(t *testing.T) {
	t.Parallel()
	ts := startServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte("early")) // the body is not read: the stream ends with RST_STREAM NO_ERROR
	}), serverOpts{})
	if ts.h2 == nil {
		t.Skip("checks package h2's answer to frames on streams it reset")
	}
	rc := newRawConn(t, ts)
	rc.writeHeaders(1, false, rc.reqFields("POST", "/upload")...)
	rc.writeData(1, false, []byte("part one"))
	if r := rc.readResponse(1); r.status != 200 || string(r.body) != "early" {
		t.Fatalf("stream 1: %d %q", r.status, r.body)
	}
	rc.readUntil("RST_STREAM on stream 1", func(f http2.Frame) bool {
		rst, ok := f.(*http2.RSTStreamFrame)
		return ok && rst.StreamID == 1
	})
	// What the client had in flight: more body, then its trailers.
	rc.writeData(1, false, []byte("part two"))
	rc.writeHeaders(1, true, "x-checksum", "abc")
	rc.check(rc.fr.WritePing(false, [8]byte{1, 2, 3}))
	rc.readUntil("PING ACK", func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.RSTStreamFrame:
			t.Errorf("RST_STREAM %v on stream %d for a frame on a stream we reset", f.ErrCode, f.StreamID)
		case *http2.GoAwayFrame:
			t.Fatalf("GOAWAY %v for a frame on a stream we reset", f.ErrCode)
		case *http2.PingFrame:
			return f.IsAck()
		}
		return false
	})
	rc.get(3, "/next")
	if r := rc.readResponse(3); r.status != 200 || string(r.body) != "early" {
		t.Fatalf("stream 3: %d %q", r.status, r.body)
	}
}
