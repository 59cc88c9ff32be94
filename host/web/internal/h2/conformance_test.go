package h2_test

// Frame-level conformance tests (RFC 9113), driven by the raw client.
// Where the RFC allows several outcomes (error codes, stream vs connection
// error, a 4xx response instead of a reset), the tests accept the RFC's set
// and say so; the comment names what net/http picks.

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"runtime"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// expectOK reads the response on streamID and checks it is a 200 with body
// want.
func expectOK(t *testing.T, rc *rawConn, streamID uint32, want string) {
	t.Helper()
	resp := rc.readResponse(streamID)
	if resp.reset || resp.status != 200 || string(resp.body) != want {
		t.Fatalf("stream %d: status %d body %q reset=%v(%v), want 200 %q", streamID, resp.status, resp.body, resp.reset, resp.rst, want)
	}
}

// TestPreface: RFC 9113 §3.4 (the server's preface is a SETTINGS frame),
// §6.5.3 (SETTINGS are acknowledged), §6.7 (PING is answered with an ACK
// carrying the same 8 bytes).
func TestPreface(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	ts := startServer(t, h, serverOpts{})
	rc := dialRaw(t, ts)
	rc.writePreface()
	rc.handshake() // fails unless the first frame is SETTINGS and ours gets an ACK

	data := [8]byte{1, 2, 3, 4, 5, 6, 7, 0xff}
	rc.check(rc.fr.WritePing(false, data))
	f := rc.readUntil("PING", func(f http2.Frame) bool { _, ok := f.(*http2.PingFrame); return ok })
	p := f.(*http2.PingFrame)
	if !p.IsAck() || p.Data != data {
		t.Fatalf("PING reply ack=%v data=%x, want ACK with %x", p.IsAck(), p.Data, data)
	}
	// A PING ACK from the client must not be answered (§6.7).
	rc.check(rc.fr.WritePing(true, [8]byte{9}))
	rc.get(1, "/after-ping")
	rc.readUntil("response", func(f http2.Frame) bool {
		if p, ok := f.(*http2.PingFrame); ok {
			t.Fatalf("server answered a PING ACK with PING ack=%v", p.IsAck())
		}
		return f.Header().StreamID == 1 && f.Header().Flags.Has(http2.FlagDataEndStream)
	})
}

// TestBadPreface: RFC 9113 §3.4, an invalid connection preface is a
// connection error (PROTOCOL_ERROR). The server may or may not manage to
// send a GOAWAY first (net/http just closes when the preface bytes are
// wrong, and sends GOAWAY PROTOCOL_ERROR when the first frame is not
// SETTINGS); it must close.
func TestBadPreface(t *testing.T) {
	t.Parallel()
	pingFirst := func() []byte {
		var b bytes.Buffer
		b.WriteString(http2.ClientPreface)
		http2.NewFramer(&b, nil).WritePing(false, [8]byte{})
		return b.Bytes()
	}
	for _, tc := range []struct {
		name string
		send []byte
	}{
		{"http1", []byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n")},
		{"bad magic", []byte("PRI * HTTP/2.0\r\n\r\nXX\r\n\r\n")},
		{"PING before SETTINGS", pingFirst()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newTestHandler(t)
			ts := startServer(t, h, serverOpts{})
			c, err := net.Dial("tcp", ts.Addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			if _, err := c.Write(tc.send); err != nil {
				t.Fatal(err)
			}
			c.SetReadDeadline(time.Now().Add(frameTimeout))
			if _, err := io.Copy(io.Discard, c); err != nil && isTimeout(err) {
				t.Fatalf("connection still open %v after a bad preface", frameTimeout)
			}
			if n := h.calls.Load(); n != 0 {
				t.Fatalf("handler called %d times", n)
			}
		})
	}
}

// TestStreamIDs: RFC 9113 §5.1.1, client streams use odd ids, each new one
// greater than all before; anything else is a connection error
// PROTOCOL_ERROR. Reusing a closed stream's id may also be answered with
// connection error STREAM_CLOSED (§5.1, "closed"); net/http says
// PROTOCOL_ERROR.
func TestStreamIDs(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		first uint32 // a GET answered before the bad HEADERS, 0: none
		bad   uint32
		codes []http2.ErrCode
	}{
		{"even id", 0, 2, []http2.ErrCode{http2.ErrCodeProtocol}},
		{"lower than used", 5, 3, []http2.ErrCode{http2.ErrCodeProtocol}},
		{"reused closed id", 1, 1, []http2.ErrCode{http2.ErrCodeProtocol, http2.ErrCodeStreamClosed}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newTestHandler(t)
			ts := startServer(t, h, serverOpts{})
			rc := newRawConn(t, ts)
			if tc.first != 0 {
				rc.get(tc.first, "/first")
				expectOK(t, rc, tc.first, "ok /first")
			}
			rc.get(tc.bad, "/bad")
			rc.expectConnError(tc.codes...)
			if n := h.calls.Load(); tc.first == 0 && n != 0 || tc.first != 0 && n != 1 {
				t.Fatalf("handler called %d times; the bad stream must not be served", n)
			}
		})
	}
}

// expectMalformed reads the outcome of a malformed request on streamID.
// RFC 9113 §8.1.1: a malformed request is a stream error PROTOCOL_ERROR,
// and the server MAY send a response (4xx) first; §5.4.1 lets any stream
// error be escalated to a connection error. So accepted: RST_STREAM
// PROTOCOL_ERROR, a 4xx response, or GOAWAY PROTOCOL_ERROR. net/http sends
// RST_STREAM PROTOCOL_ERROR. It reports whether the connection survived.
func expectMalformed(t *testing.T, rc *rawConn, streamID uint32) (connAlive bool) {
	t.Helper()
	var outcome string
	rc.readUntil("RST_STREAM, 4xx or GOAWAY", func(f http2.Frame) bool {
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeProtocol {
				t.Fatalf("GOAWAY %v (debug %q), want PROTOCOL_ERROR", f.ErrCode, f.DebugData())
			}
			outcome = "goaway"
			return true
		case *http2.RSTStreamFrame:
			if f.StreamID != streamID {
				return false
			}
			if f.ErrCode != http2.ErrCodeProtocol {
				t.Fatalf("RST_STREAM %v, want PROTOCOL_ERROR", f.ErrCode)
			}
			outcome = "rst"
			return true
		case *http2.MetaHeadersFrame:
			if f.StreamID != streamID {
				return false
			}
			st := f.PseudoValue("status")
			if len(st) != 3 || st[0] != '4' {
				t.Fatalf("malformed request answered with status %s, want RST_STREAM or 4xx", st)
			}
			outcome = "4xx"
			return true
		}
		return false
	})
	return outcome != "goaway"
}

// TestMalformedRequests: RFC 9113 §8.2.2 (connection-specific fields),
// §8.2.1 (field names are lowercase and valid, values have no CR/LF/NUL),
// §8.3 (pseudo-header fields: all of :method/:scheme/:path, before regular
// fields, no unknown or duplicated ones, :path not empty), §8.3.1. Each is
// malformed: the handler must not run. "te: trailers" is allowed.
func TestMalformedRequests(t *testing.T) {
	t.Parallel()
	auth := ":authority"
	for _, tc := range []struct {
		name   string
		fields func(rc *rawConn) []string
		ok     bool // a valid request, must be served
	}{
		{"connection", func(rc *rawConn) []string { return rc.reqFields("GET", "/m", "connection", "close") }, false},
		{"keep-alive", func(rc *rawConn) []string { return rc.reqFields("GET", "/m", "keep-alive", "timeout=5") }, false},
		{"proxy-connection", func(rc *rawConn) []string { return rc.reqFields("GET", "/m", "proxy-connection", "keep-alive") }, false},
		{"transfer-encoding", func(rc *rawConn) []string { return rc.reqFields("GET", "/m", "transfer-encoding", "chunked") }, false},
		{"upgrade", func(rc *rawConn) []string { return rc.reqFields("GET", "/m", "upgrade", "websocket") }, false},
		{"te gzip", func(rc *rawConn) []string { return rc.reqFields("GET", "/m", "te", "gzip") }, false},
		{"te trailers", func(rc *rawConn) []string { return rc.reqFields("GET", "/m", "te", "trailers") }, true},
		{"uppercase name", func(rc *rawConn) []string { return rc.reqFields("GET", "/m", "X-Upper", "1") }, false},
		{"space in name", func(rc *rawConn) []string { return rc.reqFields("GET", "/m", "x bad", "1") }, false},
		{"CRLF in value", func(rc *rawConn) []string { return rc.reqFields("GET", "/m", "x-bad", "a\r\nb: c") }, false},
		{"NUL in value", func(rc *rawConn) []string { return rc.reqFields("GET", "/m", "x-bad", "a\x00b") }, false},
		{"missing :method", func(rc *rawConn) []string {
			return []string{":scheme", "http", auth, "x", ":path", "/m"}
		}, false},
		{"missing :path", func(rc *rawConn) []string {
			return []string{":method", "GET", ":scheme", "http", auth, "x"}
		}, false},
		{"missing :scheme", func(rc *rawConn) []string {
			return []string{":method", "GET", auth, "x", ":path", "/m"}
		}, false},
		{"empty :path", func(rc *rawConn) []string {
			return []string{":method", "GET", ":scheme", "http", auth, "x", ":path", ""}
		}, false},
		{"pseudo after regular", func(rc *rawConn) []string {
			return []string{":method", "GET", ":scheme", "http", "x-a", "1", auth, "x", ":path", "/m"}
		}, false},
		{"unknown pseudo", func(rc *rawConn) []string { return rc.reqFields("GET", "/m", ":foo", "bar") }, false},
		{"response pseudo in request", func(rc *rawConn) []string { return append([]string{":status", "200"}, rc.reqFields("GET", "/m")...) }, false},
		{"duplicate :path", func(rc *rawConn) []string {
			return []string{":method", "GET", ":scheme", "http", auth, "x", ":path", "/m", ":path", "/n"}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newTestHandler(t)
			ts := startServer(t, h, serverOpts{})
			rc := newRawConn(t, ts)
			rc.writeHeaders(1, true, tc.fields(rc)...)
			if tc.ok {
				expectOK(t, rc, 1, "ok /m")
				return
			}
			alive := expectMalformed(t, rc, 1)
			if n := h.calls.Load(); n != 0 {
				t.Fatalf("handler ran %d times for a malformed request", n)
			}
			if alive { // a stream error leaves the connection usable
				rc.get(3, "/next")
				expectOK(t, rc, 3, "ok /next")
			}
		})
	}
}

// TestContentLengthMismatch: RFC 9113 §8.1.1, a request whose content-length
// differs from the sum of its DATA payloads is malformed. Accepted: the
// handler's body read fails, or RST_STREAM PROTOCOL_ERROR, or GOAWAY
// PROTOCOL_ERROR (escalation). net/http fails the read and resets the
// stream with PROTOCOL_ERROR.
func TestContentLengthMismatch(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name string
		cl   string
		data string
	}{
		{"more data than declared", "5", "helloworld"},
		{"less data than declared", "10", "hello"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			type result struct {
				n   int
				err error
			}
			got := make(chan result, 1)
			ts := startServer(t, handlerFunc(func(w responseWriter, r *request) {
				b, err := io.ReadAll(r.Body)
				got <- result{len(b), err}
				io.WriteString(w, "read")
			}), serverOpts{})
			rc := newRawConn(t, ts)
			rc.writeHeaders(1, false, rc.reqFields("POST", "/cl", "content-length", tc.cl)...)
			rc.writeData(1, true, []byte(tc.data))
			var rejected bool
			rc.readUntil("end of stream 1", func(f http2.Frame) bool {
				switch f := f.(type) {
				case *http2.GoAwayFrame:
					rejected = f.ErrCode == http2.ErrCodeProtocol
					return true
				case *http2.RSTStreamFrame:
					rejected = f.StreamID == 1 && f.ErrCode == http2.ErrCodeProtocol
					return f.StreamID == 1
				}
				return f.Header().StreamID == 1 && f.Header().Flags.Has(http2.FlagDataEndStream)
			})
			select {
			case r := <-got:
				if r.err == nil && !rejected {
					t.Fatalf("handler read %d bytes without error and the stream was not reset", r.n)
				}
			case <-time.After(frameTimeout):
				if !rejected {
					t.Fatal("handler did not finish reading and the stream was not reset")
				}
			}
		})
	}
}

// TestDataOnWrongStream: RFC 9113 §5.1. DATA on an idle stream is a
// connection error PROTOCOL_ERROR; DATA on a half-closed (remote) stream is
// a stream error STREAM_CLOSED (accepted too: the same code as a connection
// error, §5.4.1; net/http resets the stream).
func TestDataOnWrongStream(t *testing.T) {
	t.Parallel()
	t.Run("idle", func(t *testing.T) {
		t.Parallel()
		h := newTestHandler(t)
		ts := startServer(t, h, serverOpts{})
		rc := newRawConn(t, ts)
		rc.writeData(1, false, []byte("x"))
		rc.expectConnError(http2.ErrCodeProtocol)
	})
	t.Run("half-closed remote", func(t *testing.T) {
		t.Parallel()
		h := newTestHandler(t)
		ts := startServer(t, h, serverOpts{})
		rc := newRawConn(t, ts)
		rc.get(1, "/block")
		h.waitStarted(t, "/block")
		rc.writeData(1, false, []byte("x"))
		f := rc.readUntil("RST_STREAM or GOAWAY", func(f http2.Frame) bool {
			switch f.(type) {
			case *http2.GoAwayFrame, *http2.RSTStreamFrame:
				return true
			}
			return false
		})
		switch f := f.(type) {
		case *http2.GoAwayFrame:
			if f.ErrCode != http2.ErrCodeStreamClosed {
				t.Fatalf("GOAWAY %v, want STREAM_CLOSED", f.ErrCode)
			}
		case *http2.RSTStreamFrame:
			if f.StreamID != 1 || f.ErrCode != http2.ErrCodeStreamClosed {
				t.Fatalf("RST_STREAM(%d, %v), want (1, STREAM_CLOSED)", f.StreamID, f.ErrCode)
			}
			rc.get(3, "/next")
			expectOK(t, rc, 3, "ok /next")
		}
	})
}

// TestWindowUpdateErrors: RFC 9113 §6.9 (an increment of 0 is a
// PROTOCOL_ERROR, connection error on stream 0, stream error on a stream),
// §6.9.1 (a window above 2^31-1 is FLOW_CONTROL_ERROR: connection error on
// stream 0; RST_STREAM on a stream, or a connection error by escalation).
func TestWindowUpdateErrors(t *testing.T) {
	t.Parallel()
	t.Run("zero increment conn", func(t *testing.T) {
		t.Parallel()
		ts := startServer(t, newTestHandler(t), serverOpts{})
		rc := newRawConn(t, ts)
		rc.check(rc.fr.WriteWindowUpdate(0, 0))
		rc.expectConnError(http2.ErrCodeProtocol)
	})
	t.Run("overflow conn", func(t *testing.T) {
		t.Parallel()
		ts := startServer(t, newTestHandler(t), serverOpts{})
		rc := newRawConn(t, ts)
		rc.check(rc.fr.WriteWindowUpdate(0, 1<<30))
		rc.check(rc.fr.WriteWindowUpdate(0, 1<<30)) // 65535 + 2^31 > 2^31-1
		rc.expectConnError(http2.ErrCodeFlowControl)
	})
	for _, tc := range []struct {
		name string
		incs []uint32
		code http2.ErrCode
	}{
		{"zero increment stream", []uint32{0}, http2.ErrCodeProtocol},
		{"overflow stream", []uint32{1 << 30, 1 << 30}, http2.ErrCodeFlowControl},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newTestHandler(t)
			ts := startServer(t, h, serverOpts{})
			rc := newRawConn(t, ts)
			rc.get(1, "/block")
			h.waitStarted(t, "/block")
			for _, inc := range tc.incs {
				rc.check(rc.fr.WriteWindowUpdate(1, inc))
			}
			f := rc.readUntil("RST_STREAM or GOAWAY", func(f http2.Frame) bool {
				switch f.(type) {
				case *http2.GoAwayFrame, *http2.RSTStreamFrame:
					return true
				}
				return false
			})
			switch f := f.(type) {
			case *http2.GoAwayFrame:
				if f.ErrCode != tc.code {
					t.Fatalf("GOAWAY %v, want %v", f.ErrCode, tc.code)
				}
			case *http2.RSTStreamFrame:
				if f.StreamID != 1 || f.ErrCode != tc.code {
					t.Fatalf("RST_STREAM(%d, %v), want (1, %v)", f.StreamID, f.ErrCode, tc.code)
				}
			}
		})
	}
}

func settingsPayload(s ...http2.Setting) []byte {
	var b []byte
	for _, x := range s {
		b = binary.BigEndian.AppendUint16(b, uint16(x.ID))
		b = binary.BigEndian.AppendUint32(b, x.Val)
	}
	return b
}

// TestBadSettings: RFC 9113 §6.5 (SETTINGS on a stream other than 0 is a
// connection error PROTOCOL_ERROR; a length not a multiple of 6 is
// FRAME_SIZE_ERROR) and §6.5.2 (INITIAL_WINDOW_SIZE above 2^31-1 is
// FLOW_CONTROL_ERROR; MAX_FRAME_SIZE outside [2^14, 2^24-1] and ENABLE_PUSH
// other than 0/1 are PROTOCOL_ERROR).
func TestBadSettings(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name     string
		streamID uint32
		payload  []byte
		code     http2.ErrCode
	}{
		{"initial window too big", 0, settingsPayload(http2.Setting{ID: http2.SettingInitialWindowSize, Val: 1 << 31}), http2.ErrCodeFlowControl},
		{"max frame size too small", 0, settingsPayload(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1<<14 - 1}), http2.ErrCodeProtocol},
		{"max frame size too big", 0, settingsPayload(http2.Setting{ID: http2.SettingMaxFrameSize, Val: 1 << 24}), http2.ErrCodeProtocol},
		{"enable push 2", 0, settingsPayload(http2.Setting{ID: http2.SettingEnablePush, Val: 2}), http2.ErrCodeProtocol},
		{"on stream 1", 1, settingsPayload(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 10}), http2.ErrCodeProtocol},
		{"length not multiple of 6", 0, []byte{0, 4, 0, 0, 0}, http2.ErrCodeFrameSize},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			ts := startServer(t, newTestHandler(t), serverOpts{})
			rc := newRawConn(t, ts)
			rc.check(rc.fr.WriteRawFrame(http2.FrameSettings, 0, tc.streamID, tc.payload))
			rc.expectConnError(tc.code)
		})
	}
}

// TestFlowControlViolation: RFC 9113 §6.9.1, a sender must not exceed the
// receiver's window; the receiver answers FLOW_CONTROL_ERROR, as a stream
// error if the stream window was exceeded or a connection error (net/http:
// RST_STREAM when the stream window is the smaller one, which it is).
func TestFlowControlViolation(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	ts := startServer(t, h, serverOpts{})
	rc := newRawConn(t, ts)
	streamWin := int64(65535)
	if v, ok := rc.serverSettings[http2.SettingInitialWindowSize]; ok {
		streamWin = int64(v)
	}
	connWin := 65535 + int64(rc.connWindowAdd)

	// The handler never reads, so the server has no reason to give credit
	// back; still, any WINDOW_UPDATE it sends is counted.
	rc.writeHeaders(1, false, rc.reqFields("POST", "/block")...)
	h.waitStarted(t, "/block")
	chunk := make([]byte, 16384)
	send := func(n int64) {
		rc.batch = true
		for n > 0 {
			k := min(n, int64(len(chunk)))
			rc.check(rc.fr.WriteData(1, false, chunk[:k]))
			n -= k
			streamWin -= k
			connWin -= k
		}
		rc.batch = false
		rc.flush()
	}
	send(min(streamWin, connWin))
	// Collect any credit the server hands back before overstepping.
	for {
		f, err := rc.nextFrame(200 * time.Millisecond)
		if err != nil {
			if !isTimeout(err) {
				t.Fatalf("connection failed with the window not exceeded: %v", err)
			}
			break
		}
		switch f := f.(type) {
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				connWin += int64(f.Increment)
			} else if f.StreamID == 1 {
				streamWin += int64(f.Increment)
			}
		case *http2.GoAwayFrame, *http2.RSTStreamFrame:
			t.Fatalf("%s with the window not exceeded", summarize(f))
		}
	}
	send(min(streamWin, connWin) + 1)
	f := rc.readUntil("FLOW_CONTROL_ERROR", func(f http2.Frame) bool {
		switch f.(type) {
		case *http2.GoAwayFrame, *http2.RSTStreamFrame:
			return true
		}
		return false
	})
	switch f := f.(type) {
	case *http2.GoAwayFrame:
		if f.ErrCode != http2.ErrCodeFlowControl {
			t.Fatalf("GOAWAY %v, want FLOW_CONTROL_ERROR", f.ErrCode)
		}
	case *http2.RSTStreamFrame:
		if f.StreamID != 1 || f.ErrCode != http2.ErrCodeFlowControl {
			t.Fatalf("RST_STREAM(%d, %v), want (1, FLOW_CONTROL_ERROR)", f.StreamID, f.ErrCode)
		}
	}
}

// TestMaxConcurrentStreams: RFC 9113 §5.1.2 and §6.5.2. The server
// advertises the limit; a HEADERS beyond it is a stream error
// REFUSED_STREAM or PROTOCOL_ERROR (net/http: PROTOCOL_ERROR once its
// SETTINGS were acknowledged, REFUSED_STREAM before); when a stream ends a
// new one is served.
func TestMaxConcurrentStreams(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	ts := startServer(t, h, serverOpts{MaxConcurrentStreams: 4})
	rc := newRawConn(t, ts)
	if v, ok := rc.serverSettings[http2.SettingMaxConcurrentStreams]; !ok || v != 4 {
		t.Fatalf("SETTINGS_MAX_CONCURRENT_STREAMS = %d (sent %v), want 4", v, ok)
	}
	paths := map[uint32]string{1: "/block1", 3: "/block3", 5: "/block5", 7: "/block7"}
	for id := uint32(1); id <= 7; id += 2 {
		rc.get(id, paths[id])
	}
	for id := uint32(1); id <= 7; id += 2 {
		h.waitStarted(t, paths[id])
	}
	rc.get(9, "/block9")
	rc.expectRST(9, http2.ErrCodeRefusedStream, http2.ErrCodeProtocol)

	h.release("/block1")
	expectOK(t, rc, 1, "done /block1")
	rc.get(11, "/block11")
	h.waitStarted(t, "/block11")
	h.releaseAll()
	for _, id := range []uint32{3, 5, 7, 11} {
		resp := rc.readResponse(id)
		if resp.status != 200 {
			t.Fatalf("stream %d: status %d reset=%v", id, resp.status, resp.reset)
		}
	}
	if n := h.calls.Load(); n != 5 {
		t.Fatalf("handler ran %d times, want 5 (the refused stream must not run)", n)
	}
}

// TestRapidReset: CVE-2023-44487 (RFC 9113 §5.1.2, §6.4; §10.5 for
// ENHANCE_YOUR_CALM). HEADERS+RST_STREAM pairs must never run more than
// MaxConcurrentStreams handlers at once; the connection keeps working or is
// closed with GOAWAY ENHANCE_YOUR_CALM (net/http: it closes once 4x the
// limit of handlers are waiting to start).
func TestRapidReset(t *testing.T) {
	t.Parallel()
	const maxStreams = 8
	var live, maxLive, calls atomic.Int64
	ts := startServer(t, handlerFunc(func(w responseWriter, r *request) {
		calls.Add(1)
		if r.URL.Path == "/ok" {
			io.WriteString(w, "ok")
			return
		}
		n := live.Add(1)
		for {
			m := maxLive.Load()
			if n <= m || maxLive.CompareAndSwap(m, n) {
				break
			}
		}
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
		live.Add(-1)
	}), serverOpts{MaxConcurrentStreams: maxStreams})
	rc := newRawConn(t, ts)
	rc.autoWindow = false
	baseGoroutines := ts.goroutines()

	// The reader runs on its own goroutine so the server never blocks
	// writing to us; it records the GOAWAY code and the /ok response.
	var goAway atomic.Int64 // ErrCode+1, 0: none
	okDone := make(chan struct{})
	readerDone := make(chan struct{})
	var okID atomic.Uint32
	go func() {
		defer close(readerDone)
		for {
			rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
			f, err := rc.fr.ReadFrame()
			if err != nil {
				return
			}
			switch f := f.(type) {
			case *http2.GoAwayFrame:
				goAway.Store(int64(f.ErrCode) + 1)
			case *http2.DataFrame:
				if f.StreamID == okID.Load() && f.StreamEnded() {
					close(okDone)
				}
			}
		}
	}()

	const pairs = 20000
	block := rc.encode(rc.reqFields("GET", "/r")...)
	rc.batch = true
	id := uint32(1)
	maxGoroutines := 0
	var writeErr error
	for i := 0; i < pairs && goAway.Load() == 0; i++ {
		rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: block, EndStream: true, EndHeaders: true})
		rc.fr.WriteRSTStream(id, http2.ErrCodeCancel)
		id += 2
		if i%200 == 199 {
			if writeErr = rc.tryFlush(); writeErr != nil {
				break
			}
			if i%2000 == 1999 {
				maxGoroutines = max(maxGoroutines, ts.goroutines())
			}
		}
	}
	if writeErr == nil {
		writeErr = rc.tryFlush()
	}
	if m := maxLive.Load(); m > maxStreams {
		t.Errorf("%d handlers ran at once, limit %d", m, maxStreams)
	}
	if extra := maxGoroutines - baseGoroutines; extra > maxStreams+10 {
		t.Errorf("server ran %d more goroutines than at rest during the flood, want <= %d", extra, maxStreams+10)
	}
	if writeErr == nil && goAway.Load() == 0 {
		// Still open: it must still serve.
		okID.Store(id)
		rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: rc.encode(rc.reqFields("GET", "/ok")...), EndStream: true, EndHeaders: true})
		rc.tryFlush()
		select {
		case <-okDone:
		case <-readerDone:
		case <-time.After(5 * time.Second):
			t.Fatal("connection neither closed nor answering after the flood")
		}
	}
	if g := goAway.Load(); g != 0 && http2.ErrCode(g-1) != http2.ErrCodeEnhanceYourCalm {
		t.Fatalf("GOAWAY %v after the flood, want ENHANCE_YOUR_CALM or none", http2.ErrCode(g-1))
	}
	t.Logf("pairs sent until %d, handlers run %d, max live %d, GOAWAY %v", id, calls.Load(), maxLive.Load(), goAway.Load() != 0)
	rc.c.Close()
	<-readerDone
}

// floodFragment returns a header block fragment of about n bytes made of
// whole, valid, never-indexed literal fields (no decoder state needed).
func floodFragment(n int) []byte {
	var b bytes.Buffer
	enc := hpack.NewEncoder(&b)
	v := strings.Repeat("v", 100)
	for b.Len() < n-200 {
		enc.WriteField(hpack.HeaderField{Name: "x-flood", Value: v, Sensitive: true})
	}
	return b.Bytes()
}

// TestContinuationFlood: CVE-2024-27316 (RFC 9113 §6.10, §10.5.1). A
// header block that never ends must get the connection closed well before
// 10 MB are sent, whether its fields are valid (the server must cap the
// header list) or junk (the decoder fails).
func TestContinuationFlood(t *testing.T) {
	t.Parallel()
	junk := bytes.Repeat([]byte{0xff, 0xfe, 0x7f, 0x00}, 4000)
	for _, tc := range []struct {
		name string
		frag []byte
	}{
		{"valid fields", floodFragment(16000)},
		{"junk", junk},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newTestHandler(t)
			ts := startServer(t, h, serverOpts{})
			const limit = 10 << 20
			sent := continuationFlood(t, newRawConn(t, ts), tc.frag, 8, limit)
			if sent >= limit {
				t.Fatalf("server accepted %d bytes of one header block before closing", sent)
			}
			if h.calls.Load() != 0 {
				t.Fatal("handler ran")
			}
			t.Logf("closed after %d bytes", sent)
		})
	}
}

// TestEmptyContinuationFlood: a header block that never ends, made of
// empty CONTINUATION frames, adds nothing for the header list limit to
// stop; package h2 counts them as empty frames (1,000 in a row) and closes
// the connection (ENHANCE_YOUR_CALM). net/http's Framer reads them until
// the client gives up: not checked there.
func TestEmptyContinuationFlood(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	ts := startServer(t, h, serverOpts{})
	if ts.h2 == nil {
		t.Skip("net/http's server does not bound empty CONTINUATION frames")
	}
	frames := continuationFlood(t, newRawConn(t, ts), nil, 100, 200000*9) / 9
	// How many frames the client wrote before it saw the close depends on
	// the socket buffers and the machine's speed; a server that does not
	// count them never closes (it waits for END_HEADERS).
	if h.calls.Load() != 0 {
		t.Fatal("handler ran")
	}
	t.Logf("closed after %d frames", frames)
}

// continuationFlood opens stream 1 with a HEADERS frame that does not
// end its block, then sends CONTINUATION frames of frag, perFlush at a
// time, until the server closes the connection or limit bytes are sent;
// it fails t unless the connection closes within frameTimeout after, and
// returns the bytes sent.
func continuationFlood(t *testing.T, rc *rawConn, frag []byte, perFlush, limit int) int {
	t.Helper()
	rc.autoWindow = false
	closed := make(chan struct{})
	go func() {
		defer close(closed)
		for {
			rc.c.SetReadDeadline(time.Now().Add(10 * time.Second))
			if _, err := rc.fr.ReadFrame(); err != nil {
				return
			}
		}
	}()
	rc.batch = true
	rc.check(rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: rc.encode(rc.reqFields("GET", "/flood")...)}))
	sent := 0
loop:
	for sent < limit {
		for range perFlush {
			rc.fr.WriteContinuation(1, false, frag)
			sent += 9 + len(frag)
		}
		if err := rc.tryFlush(); err != nil {
			break
		}
		select {
		case <-closed:
			break loop
		default:
		}
	}
	select {
	case <-closed:
	case <-time.After(frameTimeout):
		t.Fatalf("connection still open after %d bytes of CONTINUATION", sent)
	}
	return sent
}

// TestControlFrameFlood: RFC 9113 §10.5 (denial-of-service: PING and
// SETTINGS each make the server owe an ACK). A client that floods them and
// never reads must not make the server buffer without limit: after the
// flood (or 3s) the server's heap has grown by less than 8 MiB, whether it
// closed the connection (net/http for PING: more than 10,000 queued control
// frames), stopped reading (the client's writes time out), or coalesced the
// ACKs (net/http for SETTINGS: one pending ACK flag, so it never closes).
// 8 MiB, not more: a server keeping each owed ACK as a queued struct of
// ~100 bytes would grow by tens of MiB. Limitation: the loopback socket
// buffers absorb several MB of ACKs (net/http closes the PING flood after
// ~430,000 frames, 7 MB), so only the PING case (up to 1,000,000 frames)
// really reaches the server's queue; the SETTINGS case (200,000 frames,
// kept short for time) mostly checks the server survives it. Not parallel:
// it measures the process heap.
func TestControlFrameFlood(t *testing.T) {
	for _, tc := range []struct {
		name      string
		maxFrames int
		write     func(fr *http2.Framer)
	}{
		{"PING", 1_000_000, func(fr *http2.Framer) { fr.WritePing(false, [8]byte{1}) }},
		{"SETTINGS", 200_000, func(fr *http2.Framer) {
			fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := startServer(t, newTestHandler(t), serverOpts{})
			// A small receive buffer, set before connecting so the window
			// stays small: the server's ACKs back up quickly.
			d := &net.Dialer{Timeout: frameTimeout, Control: func(_, _ string, c syscall.RawConn) error {
				return c.Control(func(fd uintptr) { syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 4<<10) })
			}}
			rc := handshaken(dialRawWith(t, ts, d)) // from here on nothing is read

			var ms runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&ms)
			before := ms.HeapAlloc

			rc.batch = true
			sent := 0
			var err error
			start := time.Now()
			for sent < tc.maxFrames && time.Since(start) < 3*time.Second {
				for i := 0; i < 1000; i++ {
					tc.write(rc.fr)
				}
				sent += 1000
				rc.c.SetWriteDeadline(time.Now().Add(time.Second))
				if err = rc.bw.Flush(); err != nil {
					break
				}
			}
			runtime.GC()
			runtime.ReadMemStats(&ms)
			growth := int64(ms.HeapAlloc) - int64(before)
			t.Logf("sent %d frames in %v, write error %v, heap growth %d KiB", sent, time.Since(start).Round(time.Millisecond), err, growth>>10)
			if growth > 8<<20 {
				t.Fatalf("heap grew by %d MiB while flooding", growth>>20)
			}
		})
	}
}

// TestHeaderListTooLarge: RFC 9113 §6.5.2 (SETTINGS_MAX_HEADER_LIST_SIZE)
// and §10.5.1: a header list over the limit gets a 431, a RST_STREAM or a
// GOAWAY (any code) and is not served; one under it is served. net/http
// answers 431 when several fields add up to a little over, GOAWAY
// COMPRESSION_ERROR when a single field is over (its hpack decoder's string
// length limit), and GOAWAY PROTOCOL_ERROR when one frame carries more than
// twice what is left of the limit (its CVE-2023-45288 guard).
func TestHeaderListTooLarge(t *testing.T) {
	t.Parallel()
	const limit = 4096
	for _, tc := range []struct {
		name   string
		fields []string
	}{
		{"a little over, many fields", manyFields(8, 700)},
		{"one field over", []string{"x-big", strings.Repeat("b", limit+1024)}},
		{"far over", []string{"x-big", strings.Repeat("b", 4*limit), "x-big2", strings.Repeat("c", 4*limit)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			h := newTestHandler(t)
			ts := startServer(t, h, serverOpts{MaxHeaderBytes: limit})
			rc := newRawConn(t, ts)
			if v, ok := rc.serverSettings[http2.SettingMaxHeaderListSize]; ok && v < limit {
				t.Fatalf("SETTINGS_MAX_HEADER_LIST_SIZE = %d, below MaxHeaderBytes %d", v, limit)
			}
			rc.get(1, "/small")
			rc.writeHeaders(3, true, rc.reqFields("GET", "/small", "x-small", strings.Repeat("s", limit/2))...)
			expectOK(t, rc, 1, "ok /small")
			expectOK(t, rc, 3, "ok /small")

			rc.writeHeaders(5, true, rc.reqFields("GET", "/big", tc.fields...)...)
			f := rc.readUntil("431, RST_STREAM or GOAWAY", func(f http2.Frame) bool {
				switch f := f.(type) {
				case *http2.GoAwayFrame:
					return true
				case *http2.RSTStreamFrame:
					return f.StreamID == 5
				case *http2.MetaHeadersFrame:
					if f.StreamID == 5 && f.PseudoValue("status") != "431" {
						t.Fatalf("oversized header list answered %s, want 431 or a reset", f.PseudoValue("status"))
					}
					return f.StreamID == 5
				}
				return false
			})
			t.Logf("oversized header list: %s", summarize(f))
			if n := h.calls.Load(); n != 2 {
				t.Fatalf("handler ran %d times, want 2 (not for the oversized list)", n)
			}
		})
	}
}

func manyFields(n, size int) []string {
	var f []string
	for i := 0; i < n; i++ {
		f = append(f, fmt.Sprintf("x-f%d", i), strings.Repeat("v", size))
	}
	return f
}

// TestIgnoredAndRejectedFrames: RFC 9113 §4.1 and §5.5 (frames of unknown
// type are ignored), §6.5.2 (unknown SETTINGS ids are ignored), §5.1 and
// §5.3.2 (PRIORITY is accepted in any state, including idle), §8.4 (a
// client's PUSH_PROMISE is a connection error PROTOCOL_ERROR).
func TestIgnoredAndRejectedFrames(t *testing.T) {
	t.Parallel()
	t.Run("ignored", func(t *testing.T) {
		t.Parallel()
		h := newTestHandler(t)
		ts := startServer(t, h, serverOpts{})
		rc := newRawConn(t, ts)
		rc.check(rc.fr.WriteRawFrame(0xfa, 0xff, 0, []byte("unknown frame type")))
		rc.check(rc.fr.WriteRawFrame(http2.FrameSettings, 0, 0, settingsPayload(http2.Setting{ID: 0x99, Val: 42})))
		rc.readUntil("SETTINGS ACK", func(f http2.Frame) bool { sf, ok := f.(*http2.SettingsFrame); return ok && sf.IsAck() })
		rc.check(rc.fr.WritePriority(3, http2.PriorityParam{StreamDep: 0, Weight: 15})) // idle stream
		rc.writeHeaders(1, false, rc.reqFields("POST", "/p")...)
		rc.check(rc.fr.WriteRawFrame(0xfb, 0, 1, []byte("unknown on an open stream")))
		rc.check(rc.fr.WritePriority(1, http2.PriorityParam{StreamDep: 3, Weight: 200, Exclusive: true}))
		rc.writeData(1, true, []byte("body"))
		expectOK(t, rc, 1, "ok /p")
		rc.get(5, "/q")
		expectOK(t, rc, 5, "ok /q")
	})
	t.Run("PUSH_PROMISE", func(t *testing.T) {
		t.Parallel()
		ts := startServer(t, newTestHandler(t), serverOpts{})
		rc := newRawConn(t, ts)
		rc.writeHeaders(1, false, rc.reqFields("POST", "/p")...)
		rc.check(rc.fr.WritePushPromise(http2.PushPromiseParam{StreamID: 1, PromiseID: 2, BlockFragment: rc.encode(rc.reqFields("GET", "/pushed")...), EndHeaders: true}))
		rc.expectConnError(http2.ErrCodeProtocol)
	})
}

// TestClientGoAway: RFC 9113 §6.8, a GOAWAY from the client does not cancel
// streams the server is already processing.
func TestClientGoAway(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	ts := startServer(t, h, serverOpts{})
	rc := newRawConn(t, ts)
	rc.get(1, "/block")
	h.waitStarted(t, "/block")
	rc.check(rc.fr.WriteGoAway(0, http2.ErrCodeNo, nil))
	h.release("/block")
	expectOK(t, rc, 1, "done /block")
}

// TestIdleTimeout: RFC 9113 §6.8 (graceful close with GOAWAY NO_ERROR) for
// Server.IdleTimeout: with no stream open the server sends GOAWAY and
// closes; an open stream keeps the connection up until it ends, after which
// the idle clock starts again.
func TestIdleTimeout(t *testing.T) {
	t.Parallel()
	const idle = 300 * time.Millisecond
	t.Run("no stream", func(t *testing.T) {
		t.Parallel()
		ts := startServer(t, newTestHandler(t), serverOpts{IdleTimeout: idle})
		start := time.Now()
		rc := newRawConn(t, ts)
		rc.expectGoAway(http2.ErrCodeNo)
		if d := time.Since(start); d < idle-50*time.Millisecond {
			t.Fatalf("GOAWAY after %v, before the idle timeout %v", d, idle)
		}
		rc.expectClosed()
		if d := time.Since(start); d > 2*time.Second+idle {
			t.Fatalf("connection closed %v after start, want within ~2s of the idle timeout", d)
		}
	})
	t.Run("stream open", func(t *testing.T) {
		t.Parallel()
		h := newTestHandler(t)
		ts := startServer(t, h, serverOpts{IdleTimeout: idle})
		rc := newRawConn(t, ts)
		rc.get(1, "/block")
		h.waitStarted(t, "/block")
		releaseAt := time.Now().Add(3 * idle)
		time.AfterFunc(3*idle, func() { h.release("/block") })
		resp := &response{}
		rc.readUntil("response", func(f http2.Frame) bool {
			switch f := f.(type) {
			case *http2.GoAwayFrame:
				t.Fatalf("GOAWAY %v while a stream was open", f.ErrCode)
			case *http2.DataFrame:
				resp.body = append(resp.body, f.Data()...)
				return f.StreamID == 1 && f.StreamEnded()
			}
			return false
		})
		if time.Now().Before(releaseAt) || string(resp.body) != "done /block" {
			t.Fatalf("unexpected response %q", resp.body)
		}
		// Idle again: the GOAWAY must now come.
		rc.expectGoAway(http2.ErrCodeNo)
		rc.expectClosed()
	})
}
