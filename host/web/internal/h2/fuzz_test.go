package h2_test

import (
	"bytes"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// seedFrames builds a frame sequence with a fresh Framer and hpack encoder
// (each fuzz input runs on a fresh connection).
func seedFrames(build func(fr *http2.Framer, block func(fields ...string) []byte)) []byte {
	var out, hb bytes.Buffer
	fr := http2.NewFramer(&out, nil)
	fr.AllowIllegalWrites = true
	enc := hpack.NewEncoder(&hb)
	block := func(fields ...string) []byte {
		hb.Reset()
		for i := 0; i+1 < len(fields); i += 2 {
			enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
		}
		return append([]byte(nil), hb.Bytes()...)
	}
	build(fr, block)
	return out.Bytes()
}

func req(method, path string, extra ...string) []string {
	return append([]string{":method", method, ":scheme", "http", ":authority", "fuzz", ":path", path}, extra...)
}

// FuzzServeConn writes the input after a valid preface and SETTINGS on a
// fresh connection, then half-closes. The server must not panic (a panic
// kills the test binary; a recovered one must not be logged), the
// connection must end within 2s, and the server's goroutines must return to
// their number before the input. `go test` runs the seeds only.
func FuzzServeConn(f *testing.F) {
	f.Add(seedFrames(func(fr *http2.Framer, b func(...string) []byte) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b(req("GET", "/")...), EndStream: true, EndHeaders: true})
	}))
	f.Add(seedFrames(func(fr *http2.Framer, b func(...string) []byte) {
		fr.WriteSettingsAck()
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b(req("POST", "/up", "content-length", "5")...), EndHeaders: true})
		fr.WriteData(1, false, []byte("he"))
		fr.WriteWindowUpdate(0, 1000)
		fr.WriteData(1, true, []byte("llo"))
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 3, BlockFragment: b(req("GET", "/x")...), EndStream: true, EndHeaders: true})
		fr.WriteRSTStream(3, http2.ErrCodeCancel)
	}))
	f.Add(seedFrames(func(fr *http2.Framer, b func(...string) []byte) {
		fr.WritePing(false, [8]byte{1})
		fr.WritePriority(5, http2.PriorityParam{StreamDep: 1, Weight: 3})
		blk := b(req("GET", "/c", "x-a", strings.Repeat("a", 40))...)
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: blk[:10], EndStream: true})
		fr.WriteContinuation(1, false, blk[10:20])
		fr.WriteContinuation(1, true, blk[20:])
		fr.WriteGoAway(0, http2.ErrCodeNo, nil)
	}))
	f.Add(seedFrames(func(fr *http2.Framer, b func(...string) []byte) {
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b(req("POST", "/t")...), EndHeaders: true})
		fr.WriteData(1, false, []byte("body"))
		fr.WriteHeaders(http2.HeadersFrameParam{StreamID: 1, BlockFragment: b("x-trailer", "v"), EndStream: true, EndHeaders: true})
		fr.WriteRawFrame(0xfa, 0, 0, []byte("ext"))
	}))
	f.Add([]byte{})
	f.Add([]byte("\x00\x00\x04\x08\x00\x00\x00\x00\x00\x7f\xff\xff\xff")) // WINDOW_UPDATE to the max
	f.Add([]byte("garbage that is not a frame at all \xff\xfe\x00\x01"))
	f.Add(bytes.Repeat([]byte{0}, 64))

	ts := startServer(f, handlerFunc(func(w responseWriter, r *request) {
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, "ok")
	}), serverOpts{MaxConcurrentStreams: 8})

	f.Fuzz(func(t *testing.T, data []byte) {
		base := ts.goroutines()
		logged := len(ts.Logs())
		c, err := net.Dial("tcp", ts.Addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		var pre bytes.Buffer
		pre.WriteString(http2.ClientPreface)
		http2.NewFramer(&pre, nil).WriteSettings()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		// A write may fail once the server hung up on bad input; fine.
		if _, err := c.Write(append(pre.Bytes(), data...)); err == nil {
			c.(*net.TCPConn).CloseWrite()
		}
		if _, err := io.Copy(io.Discard, c); err != nil && isTimeout(err) {
			t.Fatal("connection still open 2s after the client finished")
		}
		c.Close()
		if n := waitGoroutines(ts, base, 2*time.Second); n > base {
			t.Fatalf("server has %d goroutines, %d before the input", n, base)
		}
		if l := ts.Logs()[logged:]; strings.Contains(l, "panic") {
			t.Fatalf("server logged a panic:\n%s", l)
		}
	})
}
