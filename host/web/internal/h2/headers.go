package h2

import (
	"errors"
	"fmt"
	"strings"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Header blocks are decoded here, fragment by fragment as their HEADERS
// and CONTINUATION frames come, not by the Framer (its ReadMetaHeaders
// reads a block's CONTINUATIONs itself, blocking, which a driven
// connection cannot do): the same checks and limits as the Framer's,
// for both kinds of connection, so that nothing waits for a block's end,
// a block that will fail fails at its first bad fragment, and a run of
// empty CONTINUATIONs is bounded as empty frames are.

// blockReader is the header block being read on a connection.
type blockReader struct {
	dec        *hpack.Decoder
	mh         *http2.MetaHeadersFrame
	remain     uint32 // what the header list may still add
	sawRegular bool
	invalid    error
}

// readFrame reads the next frame: a header block comes back whole, as a
// *MetaHeadersFrame, with its last fragment (nil before it).
func (c *conn) readFrame() (http2.Frame, error) {
	f, err := c.fr.ReadFrame()
	if err != nil {
		return nil, err
	}
	switch hf := f.(type) {
	case *http2.HeadersFrame:
		return c.hb.fragment(c, hf, hf.HeaderBlockFragment(), hf.HeadersEnded())
	case *http2.ContinuationFrame:
		return c.hb.fragment(c, nil, hf.HeaderBlockFragment(), hf.HeadersEnded())
	}
	return f, nil
}

// fragment takes a header block's next fragment (hf: its HEADERS
// frame, nil for a CONTINUATION); end: the block's last. It returns the
// decoded block (a *MetaHeadersFrame, as the Framer's ReadMetaHeaders
// makes it) at its end, nil before. Its errors are the Framer's: a
// connection error for a block too far over the limit, a fragment
// after an invalid field, or bad HPACK; a stream error for an invalid
// field or pseudo-header.
func (r *blockReader) fragment(c *conn, hf *http2.HeadersFrame, frag []byte, end bool) (http2.Frame, error) {
	if hf != nil {
		r.mh = &http2.MetaHeadersFrame{HeadersFrame: hf, Fields: make([]hpack.HeaderField, 0, 12)}
		r.remain = c.s.maxHeaderBytes()
		r.sawRegular, r.invalid = false, nil
		r.dec.SetEmitEnabled(true)
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
	if int64(len(frag)) > 2*int64(r.remain) || r.invalid != nil {
		return nil, http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if _, err := r.dec.Write(frag); err != nil {
		return nil, http2.ConnectionError(http2.ErrCodeCompression)
	}
	if !end {
		return nil, nil
	}
	mh := r.mh
	r.mh = nil
	if err := r.dec.Close(); err != nil {
		return nil, http2.ConnectionError(http2.ErrCodeCompression)
	}
	if r.invalid != nil {
		return nil, http2.StreamError{StreamID: mh.StreamID, Code: http2.ErrCodeProtocol, Cause: r.invalid}
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
func (r *blockReader) emit(hf hpack.HeaderField) {
	if r.mh == nil {
		return
	}
	if !httpguts.ValidHeaderFieldValue(hf.Value) {
		r.invalid = fmt.Errorf("invalid header field value for %q", hf.Name)
	}
	if strings.HasPrefix(hf.Name, ":") {
		if r.sawRegular {
			r.invalid = errors.New("pseudo header field after regular")
		}
	} else {
		r.sawRegular = true
		if !validFieldName(hf.Name) {
			r.invalid = fmt.Errorf("invalid header field name %q", hf.Name)
		}
	}
	if r.invalid != nil {
		r.dec.SetEmitEnabled(false)
		return
	}
	if size := hf.Size(); size > r.remain {
		r.dec.SetEmitEnabled(false)
		r.mh.Truncated = true
		r.remain = 0
		return
	} else {
		r.remain -= size
	}
	r.mh.Fields = append(r.mh.Fields, hf)
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
