package h2_test

// A small raw HTTP/2 client over x/net/http2's Framer and hpack, for the
// frame-level tests: it writes exactly the frames a test asks for (legal or
// not) and reads the server's frames with a timeout.

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// frameTimeout bounds every wait for a frame from the server.
const frameTimeout = 3 * time.Second

type rawConn struct {
	t   testing.TB
	c   net.Conn
	bw  *bufio.Writer
	fr  *http2.Framer
	enc *hpack.Encoder
	hb  bytes.Buffer // hpack output

	// batch, when true, leaves frames in bw until flush is called.
	batch bool
	// autoWindow, when true (the default), answers every DATA frame read
	// with WINDOW_UPDATEs on the connection and the stream so responses of
	// any size flow.
	autoWindow bool

	serverSettings map[http2.SettingID]uint32 // from the server's first SETTINGS
	connWindowAdd  uint32                     // WINDOW_UPDATE increments on stream 0 seen during the handshake
	responses      map[uint32]*response       // by stream, filled by readResponse
}

// dialRaw connects to ts without writing anything.
func dialRaw(t testing.TB, ts *testServer) *rawConn {
	t.Helper()
	return dialRawWith(t, ts, &net.Dialer{Timeout: frameTimeout})
}

func dialRawWith(t testing.TB, ts *testServer, d *net.Dialer) *rawConn {
	t.Helper()
	c, err := d.Dial("tcp", ts.Addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	rc := &rawConn{t: t, c: c, autoWindow: true, serverSettings: map[http2.SettingID]uint32{}}
	rc.bw = bufio.NewWriterSize(c, 64<<10)
	rc.fr = http2.NewFramer(rc.bw, c)
	rc.fr.AllowIllegalWrites = true
	rc.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	rc.fr.MaxHeaderListSize = 1 << 20
	rc.enc = hpack.NewEncoder(&rc.hb)
	return rc
}

// newRawConn connects, writes the client preface and an empty SETTINGS, and
// completes the handshake (server SETTINGS read and ACKed, our SETTINGS ACKed).
func newRawConn(t testing.TB, ts *testServer) *rawConn {
	t.Helper()
	return handshaken(dialRaw(t, ts))
}

func handshaken(rc *rawConn) *rawConn {
	rc.t.Helper()
	rc.writePreface()
	rc.handshake()
	return rc
}

func (rc *rawConn) writePreface() {
	rc.t.Helper()
	if _, err := io.WriteString(rc.bw, http2.ClientPreface); err != nil {
		rc.t.Fatal(err)
	}
	rc.check(rc.fr.WriteSettings())
}

// handshake reads the server's SETTINGS (which must be the first frame, RFC
// 9113 §3.4), ACKs it, and reads until the server ACKs ours.
func (rc *rawConn) handshake() {
	rc.t.Helper()
	f := rc.readFrame()
	sf, ok := f.(*http2.SettingsFrame)
	if !ok || sf.IsAck() {
		rc.t.Fatalf("first frame from server = %s, want SETTINGS (non-ACK)", summarize(f))
	}
	sf.ForeachSetting(func(s http2.Setting) error {
		rc.serverSettings[s.ID] = s.Val
		return nil
	})
	rc.check(rc.fr.WriteSettingsAck())
	rc.readUntil("SETTINGS ACK", func(f http2.Frame) bool {
		if wu, ok := f.(*http2.WindowUpdateFrame); ok && wu.StreamID == 0 {
			rc.connWindowAdd += wu.Increment
		}
		sf, ok := f.(*http2.SettingsFrame)
		return ok && sf.IsAck()
	})
}

func (rc *rawConn) check(err error) {
	rc.t.Helper()
	if err != nil {
		rc.t.Fatalf("write: %v", err)
	}
	if !rc.batch {
		rc.flush()
	}
}

func (rc *rawConn) flush() {
	rc.t.Helper()
	rc.c.SetWriteDeadline(time.Now().Add(frameTimeout))
	if err := rc.bw.Flush(); err != nil {
		rc.t.Fatalf("flush: %v", err)
	}
}

// tryFlush is flush without failing the test (for writes that may race the
// server closing the connection).
func (rc *rawConn) tryFlush() error {
	rc.c.SetWriteDeadline(time.Now().Add(frameTimeout))
	return rc.bw.Flush()
}

// ---- header blocks ----

// hf is a header field list written as name, value, name, value, ...
func (rc *rawConn) encode(fields ...string) []byte {
	rc.t.Helper()
	if len(fields)%2 != 0 {
		rc.t.Fatalf("odd number of header strings: %q", fields)
	}
	rc.hb.Reset()
	for i := 0; i < len(fields); i += 2 {
		rc.enc.WriteField(hpack.HeaderField{Name: fields[i], Value: fields[i+1]})
	}
	return append([]byte(nil), rc.hb.Bytes()...)
}

// reqFields returns the pseudo-header fields of a request followed by extra.
func (rc *rawConn) reqFields(method, path string, extra ...string) []string {
	return append([]string{":method", method, ":scheme", "http", ":authority", rc.c.RemoteAddr().String(), ":path", path}, extra...)
}

// writeHeaders writes one HEADERS frame (END_HEADERS set) with fields.
func (rc *rawConn) writeHeaders(streamID uint32, endStream bool, fields ...string) {
	rc.t.Helper()
	rc.writeBlock(streamID, endStream, rc.encode(fields...))
}

// writeBlock writes an encoded header block as HEADERS plus as many
// CONTINUATION frames as 16384-byte frames need.
func (rc *rawConn) writeBlock(streamID uint32, endStream bool, block []byte) {
	rc.t.Helper()
	const max = 16384
	first := block
	if len(first) > max {
		first = block[:max]
	}
	rest := block[len(first):]
	rc.check(rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: streamID, BlockFragment: first, EndStream: endStream, EndHeaders: len(rest) == 0}))
	for len(rest) > 0 {
		n := min(len(rest), max)
		rc.check(rc.fr.WriteContinuation(streamID, n == len(rest), rest[:n]))
		rest = rest[n:]
	}
}

// get writes a GET for path on streamID with END_STREAM.
func (rc *rawConn) get(streamID uint32, path string) {
	rc.t.Helper()
	rc.writeHeaders(streamID, true, rc.reqFields("GET", path)...)
}

func (rc *rawConn) writeData(streamID uint32, endStream bool, data []byte) {
	rc.t.Helper()
	rc.check(rc.fr.WriteData(streamID, endStream, data))
}

// ---- reading ----

// nextFrame reads one frame with the read timeout. Frames other than
// HEADERS are valid only until the next read.
func (rc *rawConn) nextFrame(timeout time.Duration) (http2.Frame, error) {
	rc.c.SetReadDeadline(time.Now().Add(timeout))
	f, err := rc.fr.ReadFrame()
	if err != nil {
		return nil, err
	}
	if df, ok := f.(*http2.DataFrame); ok && rc.autoWindow && len(df.Data()) > 0 {
		n := uint32(len(df.Data()))
		rc.fr.WriteWindowUpdate(0, n)
		rc.fr.WriteWindowUpdate(df.StreamID, n)
		if !rc.batch {
			rc.tryFlush()
		}
	}
	return f, nil
}

// readFrame reads one frame or fails the test.
func (rc *rawConn) readFrame() http2.Frame {
	rc.t.Helper()
	f, err := rc.nextFrame(frameTimeout)
	if err != nil {
		rc.t.Fatalf("reading frame: %v", err)
	}
	return f
}

// readUntil reads frames until pred returns true and returns that frame.
// GOAWAY and RST_STREAM are passed to pred like any frame; a closed
// connection or a timeout fails the test.
func (rc *rawConn) readUntil(what string, pred func(http2.Frame) bool) http2.Frame {
	rc.t.Helper()
	deadline := time.Now().Add(frameTimeout)
	var seen []string
	for {
		f, err := rc.nextFrame(time.Until(deadline))
		if err != nil {
			rc.t.Fatalf("waiting for %s: %v (frames seen: %s)", what, err, strings.Join(seen, ", "))
		}
		if pred(f) {
			return f
		}
		seen = append(seen, summarize(f))
		if len(seen) > 50 {
			seen = seen[1:]
		}
	}
}

// expectGoAway reads until a GOAWAY whose code is one of codes (any code if
// none given), then expects the connection to close. A RST_STREAM or other
// frame before it is skipped; EOF before a GOAWAY fails the test.
func (rc *rawConn) expectGoAway(codes ...http2.ErrCode) *http2.GoAwayFrame {
	rc.t.Helper()
	f := rc.readUntil("GOAWAY", func(f http2.Frame) bool { _, ok := f.(*http2.GoAwayFrame); return ok })
	ga := f.(*http2.GoAwayFrame)
	if len(codes) > 0 && !hasCode(codes, ga.ErrCode) {
		rc.t.Fatalf("GOAWAY code %v (debug %q), want one of %v", ga.ErrCode, ga.DebugData(), codes)
	}
	return ga
}

// expectConnError expects a connection error: GOAWAY with one of codes and
// then the connection closed.
func (rc *rawConn) expectConnError(codes ...http2.ErrCode) {
	rc.t.Helper()
	rc.expectGoAway(codes...)
	rc.expectClosed()
}

// expectRST reads until RST_STREAM on streamID with one of codes (any if
// none). A GOAWAY first fails the test.
func (rc *rawConn) expectRST(streamID uint32, codes ...http2.ErrCode) {
	rc.t.Helper()
	f := rc.readUntil(fmt.Sprintf("RST_STREAM on stream %d", streamID), func(f http2.Frame) bool {
		if ga, ok := f.(*http2.GoAwayFrame); ok {
			rc.t.Fatalf("got GOAWAY %v (debug %q) waiting for RST_STREAM on stream %d", ga.ErrCode, ga.DebugData(), streamID)
		}
		rs, ok := f.(*http2.RSTStreamFrame)
		return ok && rs.StreamID == streamID
	})
	rs := f.(*http2.RSTStreamFrame)
	if len(codes) > 0 && !hasCode(codes, rs.ErrCode) {
		rc.t.Fatalf("RST_STREAM code %v on stream %d, want one of %v", rs.ErrCode, streamID, codes)
	}
}

// expectClosed reads (discarding frames) until the server closes the
// connection; a timeout fails the test.
func (rc *rawConn) expectClosed() {
	rc.t.Helper()
	deadline := time.Now().Add(frameTimeout)
	for {
		_, err := rc.nextFrame(time.Until(deadline))
		if err == nil {
			continue
		}
		if isTimeout(err) {
			rc.t.Fatalf("connection not closed by the server within %v", frameTimeout)
		}
		return
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.Is(err, os.ErrDeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout())
}

func hasCode(codes []http2.ErrCode, c http2.ErrCode) bool {
	for _, x := range codes {
		if x == c {
			return true
		}
	}
	return false
}

// response is what a stream carried back.
type response struct {
	status   int
	header   map[string][]string // regular fields of the final HEADERS
	info     []int               // 1xx statuses seen before the final one
	body     []byte
	trailer  map[string][]string
	rst      http2.ErrCode // set with reset when the stream was reset
	reset    bool
	dataSeen int // number of DATA frames
	done     bool
}

// readResponse reads frames until streamID ends (END_STREAM or
// RST_STREAM) and returns what it carried. Frames of other streams read on
// the way are kept for their own readResponse. A GOAWAY with an error code
// or a closed connection fails the test.
func (rc *rawConn) readResponse(streamID uint32) *response {
	rc.t.Helper()
	if r := rc.responses[streamID]; r != nil && r.done {
		return r
	}
	rc.readUntil(fmt.Sprintf("end of stream %d", streamID), func(f http2.Frame) bool {
		if ga, ok := f.(*http2.GoAwayFrame); ok && ga.ErrCode != http2.ErrCodeNo {
			rc.t.Fatalf("GOAWAY %v (debug %q) while reading stream %d", ga.ErrCode, ga.DebugData(), streamID)
		}
		rc.absorb(f)
		r := rc.responses[streamID]
		return r != nil && r.done
	})
	return rc.responses[streamID]
}

// absorb records a stream's HEADERS, DATA or RST_STREAM frame in
// rc.responses.
func (rc *rawConn) absorb(f http2.Frame) {
	id := f.Header().StreamID
	if id == 0 {
		return
	}
	if rc.responses == nil {
		rc.responses = map[uint32]*response{}
	}
	resp := rc.responses[id]
	if resp == nil {
		resp = &response{}
		rc.responses[id] = resp
	}
	switch f := f.(type) {
	case *http2.MetaHeadersFrame:
		if resp.status != 0 {
			resp.trailer = regularFields(f)
		} else {
			st, _ := strconv.Atoi(f.PseudoValue("status"))
			if st >= 100 && st < 200 {
				resp.info = append(resp.info, st)
			} else {
				resp.status = st
				resp.header = regularFields(f)
			}
		}
		resp.done = f.StreamEnded()
	case *http2.DataFrame:
		resp.dataSeen++
		resp.body = append(resp.body, f.Data()...)
		resp.done = f.StreamEnded()
	case *http2.RSTStreamFrame:
		resp.reset, resp.rst = true, f.ErrCode
		resp.done = true
	}
}

func regularFields(f *http2.MetaHeadersFrame) map[string][]string {
	m := map[string][]string{}
	for _, hf := range f.RegularFields() {
		m[hf.Name] = append(m[hf.Name], hf.Value)
	}
	return m
}

// summarize describes a frame in one short line for failure messages.
func summarize(f http2.Frame) string {
	if f == nil {
		return "<nil>"
	}
	switch f := f.(type) {
	case *http2.GoAwayFrame:
		return fmt.Sprintf("GOAWAY(last=%d, %v, %q)", f.LastStreamID, f.ErrCode, f.DebugData())
	case *http2.RSTStreamFrame:
		return fmt.Sprintf("RST_STREAM(%d, %v)", f.StreamID, f.ErrCode)
	case *http2.MetaHeadersFrame:
		return fmt.Sprintf("HEADERS(%d, :status=%s, end=%v)", f.StreamID, f.PseudoValue("status"), f.StreamEnded())
	case *http2.DataFrame:
		return fmt.Sprintf("DATA(%d, %d bytes, end=%v)", f.StreamID, len(f.Data()), f.StreamEnded())
	}
	return f.Header().String()
}
