package h2

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Driven connections: a caller that reads the socket itself (an event
// loop, which owns many connections and must not block) feeds the bytes
// to Feed, instead of a goroutine per connection reading them. The
// frames are parsed by the same Framer and handled by the same code as
// ServeConn's, each once it has all come; what differs:
//   - a header block is decoded fragment by fragment as its frames come
//     (headerBlock), where the Framer would read the CONTINUATIONs
//     itself, blocking;
//   - the connection's writes go to nc, whose Write must not wait for
//     the socket (it queues), so that the feeding goroutine never waits
//     on a slow client; the stream goroutines' writes wait for room
//     (the room function) before they take the write lock instead, so
//     that the queue stays bounded;
//   - streams are offered to Server.LoopFast first, on the feeding
//     goroutine;
//   - the preface timeout and the reads' end are the caller's: Feed
//     reports when the preface is done (Ready), and Close ends the
//     connection when the client closed it or Feed failed. nc's
//     SetReadDeadline and CloseWrite (a GOAWAY's closeSoon) are asked of
//     the caller through nc.

// Driven is a connection served from the bytes its caller feeds.
type Driven struct {
	c     *conn
	in    feedReader
	phase int // 0: the client's preface; 1: its first frame (SETTINGS); 2: frames
	err   error

	// The header block being read: decoded fragment by fragment as its
	// frames come (headerBlock), with the Framer's checks and limits,
	// so that nothing waits for a block's end and a block that will
	// fail fails at its first bad fragment.
	dec        *hpack.Decoder
	mh         *http2.MetaHeadersFrame
	remain     uint32 // what the header list may still add
	sawRegular bool
	invalid    error
}

// feedReader is the Framer's input on a driven connection: the bytes of
// the complete frames being parsed.
type feedReader struct{ b []byte }

func (r *feedReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, errShortFeed
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// errShortFeed is a frame read past the bytes fed: frameSpan and the
// Framer disagree about where a frame ends (not expected).
var errShortFeed = errors.New("h2: frame read past the bytes fed")

// ErrPreface is Feed's error for a connection that did not start with
// the client's connection preface.
var ErrPreface = errors.New("h2: the client's connection preface is missing")

// ServeDriven starts serving the connection nc (past its TLS handshake,
// ALPN h2) from the bytes the caller will Feed: our SETTINGS are written
// at once. nc's Write must not wait for the socket; room, when not nil,
// is called by stream goroutines before each write and waits while nc
// holds too much. ctx is the connection's context. Nil when the server
// is shut (nc is closed).
func (s *Server) ServeDriven(ctx context.Context, nc net.Conn, room func() error) *Driven {
	d := &Driven{}
	c := newConn(s, ctx, nc, &d.in)
	c.room, c.loop = room, s.LoopFast != nil
	d.c = c
	// HEADERS and CONTINUATION come from the Framer as frames; d decodes
	// them (headerBlock).
	d.dec, c.fr.ReadMetaHeaders = c.fr.ReadMetaHeaders, nil
	d.dec.SetMaxStringLength(int(s.maxHeaderBytes()))
	d.dec.SetEmitFunc(d.emit)
	if !s.track(c, true) {
		nc.Close()
		return nil
	}
	c.start()
	return d
}

// Ready reports whether the client's preface (its magic and first
// SETTINGS) has come.
func (d *Driven) Ready() bool { return d.phase == 2 }

// Feed handles the complete frames at the start of p and returns how
// many bytes it used; the caller keeps the rest and feeds it again with
// what follows. An error ends the connection (a GOAWAY was sent when
// the protocol asks for one): the caller calls Close.
func (d *Driven) Feed(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	c := d.c
	n := 0
	if d.phase == 0 {
		const preface = http2.ClientPreface
		k := min(len(p), len(preface))
		if string(p[:k]) != preface[:k] {
			return 0, d.fail(ErrPreface)
		}
		if k < len(preface) {
			return 0, nil
		}
		n, d.phase = k, 1
	}
	for {
		k := frameSpan(p[n:])
		if k == 0 {
			return n, nil
		}
		d.in.b = p[n : n+k]
		f, err := c.fr.ReadFrame()
		n += k
		if d.phase == 1 {
			// The first frame must be SETTINGS (RFC 9113 3.4).
			if err != nil {
				c.readError(err)
				return n, d.fail(err)
			}
			if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
				c.goAway(http2.ErrCodeProtocol, false)
				return n, d.fail(http2.ConnectionError(http2.ErrCodeProtocol))
			}
			d.phase = 2
		}
		if err == nil {
			switch hf := f.(type) {
			case *http2.HeadersFrame:
				f, err = d.headerBlock(hf, hf.HeaderBlockFragment(), hf.HeadersEnded())
			case *http2.ContinuationFrame:
				f, err = d.headerBlock(nil, hf.HeaderBlockFragment(), hf.HeadersEnded())
			}
		}
		if err != nil {
			if !c.readError(err) {
				return n, d.fail(err)
			}
			continue
		}
		if err := c.process(f); err != nil {
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				c.goAway(http2.ErrCode(ce), false)
			}
			return n, d.fail(err)
		}
	}
}

// MaxBuffer is the most the caller needs to hold of what it has not fed
// yet: what Feed did not use (less than a frame) and room for the next
// read.
func (d *Driven) MaxBuffer() int { return 2 * (maxFrameSize + 9) }

// headerBlock takes a header block's next fragment (hf: its HEADERS
// frame, nil for a CONTINUATION); end: the block's last. It returns the
// decoded block (a *MetaHeadersFrame, as the Framer's ReadMetaHeaders
// makes it) at its end, nil before. Its errors are the Framer's: a
// connection error for a block too far over the limit, a fragment
// after an invalid field, or bad HPACK; a stream error for an invalid
// field or pseudo-header.
func (d *Driven) headerBlock(hf *http2.HeadersFrame, frag []byte, end bool) (http2.Frame, error) {
	c := d.c
	if hf != nil {
		d.mh = &http2.MetaHeadersFrame{HeadersFrame: hf, Fields: make([]hpack.HeaderField, 0, 12)}
		d.remain = c.s.maxHeaderBytes()
		d.sawRegular, d.invalid = false, nil
		d.dec.SetEmitEnabled(true)
	} else {
		// Empty CONTINUATIONs in a row count as empty frames do.
		c.mu.Lock()
		err := c.countEmpty(len(frag) == 0 && !end)
		c.mu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	// As the Framer: a fragment more than twice what the list may still
	// take, or any after an invalid field, ends the connection rather
	// than be decoded for nothing.
	if int64(len(frag)) > 2*int64(d.remain) || d.invalid != nil {
		return nil, http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if _, err := d.dec.Write(frag); err != nil {
		return nil, http2.ConnectionError(http2.ErrCodeCompression)
	}
	if !end {
		return nil, nil
	}
	mh := d.mh
	d.mh = nil
	if err := d.dec.Close(); err != nil {
		return nil, http2.ConnectionError(http2.ErrCodeCompression)
	}
	if d.invalid != nil {
		return nil, http2.StreamError{StreamID: mh.StreamID, Code: http2.ErrCodeProtocol, Cause: d.invalid}
	}
	if err := checkPseudos(mh.PseudoFields()); err != nil {
		return nil, http2.StreamError{StreamID: mh.StreamID, Code: http2.ErrCodeProtocol, Cause: err}
	}
	return mh, nil
}

// emit takes a decoded field into the block being read, with the
// Framer's checks: a valid name (lower case) and value, pseudo-header
// fields first, the list within its limit (past it the block is
// Truncated and its fields dropped).
func (d *Driven) emit(hf hpack.HeaderField) {
	if d.mh == nil {
		return
	}
	if !httpguts.ValidHeaderFieldValue(hf.Value) {
		d.invalid = fmt.Errorf("invalid header field value for %q", hf.Name)
	}
	if strings.HasPrefix(hf.Name, ":") {
		if d.sawRegular {
			d.invalid = errors.New("pseudo header field after regular")
		}
	} else {
		d.sawRegular = true
		if !validFieldName(hf.Name) {
			d.invalid = fmt.Errorf("invalid header field name %q", hf.Name)
		}
	}
	if d.invalid != nil {
		d.dec.SetEmitEnabled(false)
		return
	}
	if size := hf.Size(); size > d.remain {
		d.dec.SetEmitEnabled(false)
		d.mh.Truncated = true
		d.remain = 0
		return
	} else {
		d.remain -= size
	}
	d.mh.Fields = append(d.mh.Fields, hf)
}

// validFieldName reports whether a field name is a token in lower case
// (RFC 9113 8.2.1).
func validFieldName(v string) bool {
	if v == "" {
		return false
	}
	for _, r := range v {
		if !httpguts.IsTokenRune(r) || 'A' <= r && r <= 'Z' {
			return false
		}
	}
	return true
}

// checkPseudos rejects unknown, repeated or mixed (request and response)
// pseudo-header fields.
func checkPseudos(pf []hpack.HeaderField) error {
	var request, response bool
	for i, hf := range pf {
		switch hf.Name {
		case ":method", ":path", ":scheme", ":authority", ":protocol":
			request = true
		case ":status":
			response = true
		default:
			return fmt.Errorf("invalid pseudo-header %q", hf.Name)
		}
		for _, prev := range pf[:i] {
			if hf.Name == prev.Name {
				return fmt.Errorf("duplicate pseudo-header %q", hf.Name)
			}
		}
	}
	if request && response {
		return errors.New("mix of request and response pseudo headers")
	}
	return nil
}

func (d *Driven) fail(err error) error {
	d.err = err
	return err
}

// Close ends the connection: its streams' contexts are canceled, the
// writers waiting for window wake, nc is closed. Call it once, when the
// client closed its side, the socket failed or Feed failed.
func (d *Driven) Close() {
	d.c.close()
	d.c.s.track(d.c, false)
}

// frameSpan is the length of the complete frame at the start of b, or 0
// when b does not hold it all yet. A frame over the size we read counts
// as its 9-byte header: the Framer fails on it from that.
func frameSpan(b []byte) int {
	if len(b) < 9 {
		return 0
	}
	n := int(b[0])<<16 | int(b[1])<<8 | int(b[2])
	if n > maxFrameSize {
		return 9
	}
	if len(b) < 9+n {
		return 0
	}
	return 9 + n
}

// waitRoom waits, on a driven connection, while its transport holds too
// much (the room function). The send timeout of that wait is the
// caller's, which sees the socket take nothing.
func (c *conn) waitRoom() error {
	if c.room == nil {
		return nil
	}
	return c.room()
}

// loopFast offers the stream to Server.LoopFast; a panic there is a
// handler's: logged (but http.ErrAbortHandler), the stream reset and
// ended.
func (st *stream) loopFast() (taken bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				st.c.s.logf("http2: panic serving %s: %v", st.c.remote, v)
			}
			st.resetByUs(http2.ErrCodeInternal)
			st.done()
			taken = true
		}
	}()
	return st.c.s.LoopFast(&Stream{st})
}
