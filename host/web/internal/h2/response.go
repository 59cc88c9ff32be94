package h2

import (
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

var errBodyClosed = errors.New("http: invalid Read on closed Body")

// serveHandler runs the handler on the stream and completes its
// response.
func (st *stream) serveHandler() {
	r, err := st.request()
	if err != nil {
		st.writeHead(http.StatusBadRequest, nil, nil, true)
		return
	}
	w := &response{st: st, method: r.Method, contentLength: -1}
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				st.c.s.logf("http2: panic serving %s: %v", st.c.remote, v)
			}
			st.resetByUs(http2.ErrCodeInternal)
		}
	}()
	st.c.s.Handler.ServeHTTP(w, r)
	if err := w.finish(); err != nil {
		st.resetByUs(http2.ErrCodeInternal)
	}
	if w.closeConn {
		// Connection: close, which HTTP/2 says with GOAWAY: the
		// streams in flight finish, no new one starts.
		st.c.goAway(http2.ErrCodeNo, true)
	}
}

// response is the handler's http.ResponseWriter. Up to holdBytes of body
// are held until the handler returns or flushes, so that a small
// response leaves as HEADERS and DATA with END_STREAM in one write, with
// a content-length.
type response struct {
	st     *stream
	method string
	header http.Header

	status        int
	wroteHeader   bool
	committed     bool // HEADERS went out
	contentLength int64
	written       int64
	noBody        bool
	closeConn     bool // the handler set Connection: close
	hold          []byte
	fields        []hpack.HeaderField
}

func (w *response) Header() http.Header {
	if w.header == nil {
		w.header = make(http.Header, 8)
	}
	return w.header
}

func (w *response) WriteHeader(code int) {
	if w.wroteHeader {
		return
	}
	if code < 100 || code > 999 {
		panic(fmt.Sprintf("invalid WriteHeader code %v", code))
	}
	if code >= 100 && code < 200 {
		if code == http.StatusSwitchingProtocols {
			return // not in HTTP/2 (RFC 9113 8.6)
		}
		// An interim response goes out now, with the header map as it is.
		w.st.writeHead(code, w.headerFields(w.fields[:0], false), nil, false)
		return
	}
	w.wroteHeader = true
	w.status = code
	if cl := w.Header().Get("Content-Length"); cl != "" {
		if n, err := strconv.ParseInt(cl, 10, 64); err == nil && n >= 0 {
			w.contentLength = n
		} else {
			w.header.Del("Content-Length")
		}
	}
	w.noBody = w.method == http.MethodHead || !bodyAllowed(code)
}

func bodyAllowed(code int) bool {
	return !(code >= 100 && code < 200 || code == http.StatusNoContent || code == http.StatusNotModified)
}

func (w *response) Write(p []byte) (int, error) {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if len(p) == 0 {
		return 0, nil
	}
	if w.noBody {
		if w.method == http.MethodHead {
			w.written += int64(len(p))
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.contentLength >= 0 && w.written+int64(len(p)) > w.contentLength {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.committed && len(w.hold)+len(p) <= holdBytes {
		if w.hold == nil {
			w.hold = make([]byte, 0, holdBytes)
		}
		w.hold = append(w.hold, p...)
		return len(p), nil
	}
	if !w.committed {
		if err := w.commit(false); err != nil {
			return 0, err
		}
	}
	if err := w.st.writeData(p, false, false); err != nil {
		return 0, err
	}
	return len(p), nil
}

// commit sends HEADERS with what is held. done: the handler returned,
// so the held body is all of it (its length is the content-length) and
// the stream ends with it unless trailers follow.
func (w *response) commit(done bool) error {
	w.committed = true
	h := w.Header()
	if !w.noBody {
		// Sniffed only for a body without a declared length, as the
		// lean HTTP/1.1 server does: a proxied response keeps what the
		// backend said.
		if _, haveType := h["Content-Type"]; !haveType && w.contentLength < 0 && len(w.hold) > 0 && h.Get("Content-Encoding") == "" {
			h.Set("Content-Type", http.DetectContentType(w.hold))
		}
		if done && w.contentLength < 0 && len(w.trailerNames()) == 0 {
			w.contentLength = int64(len(w.hold))
			h.Set("Content-Length", strconv.Itoa(len(w.hold)))
		}
	} else if w.method == http.MethodHead && done && w.contentLength < 0 && w.written > 0 && bodyAllowed(w.status) {
		h.Set("Content-Length", strconv.FormatInt(w.written, 10))
	}
	for _, v := range h["Connection"] {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(tok), "close") {
				w.closeConn = true
			}
		}
	}
	if _, ok := h["Date"]; !ok {
		h.Set("Date", time.Now().UTC().Format(http.TimeFormat))
	}
	end := done && len(w.trailerNames()) == 0
	body := w.hold
	if w.noBody {
		body = nil
	}
	w.fields = w.headerFields(w.fields[:0], true)
	err := w.st.writeHead(w.status, w.fields, body, end)
	w.hold = w.hold[:0]
	return err
}

// headerFields appends the header map's fields, names in lower case,
// without the connection-specific ones (RFC 9113 8.2.2) and, for a final
// response, without the trailers' own keys.
func (w *response) headerFields(fields []hpack.HeaderField, final bool) []hpack.HeaderField {
	for k, vv := range w.header {
		if final && strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		name := lowerName(k)
		switch name {
		case "connection", "keep-alive", "proxy-connection", "transfer-encoding", "upgrade":
			continue
		}
		if !httpguts.ValidHeaderFieldName(k) {
			continue
		}
		for _, v := range vv {
			if !httpguts.ValidHeaderFieldValue(v) {
				continue
			}
			if name == "te" && v != "trailers" {
				continue
			}
			fields = append(fields, hpack.HeaderField{Name: name, Value: v})
		}
	}
	return fields
}

// lowerName is a canonical header key in lower case, without allocating
// for the common ones.
func lowerName(k string) string {
	switch k {
	case "Content-Type":
		return "content-type"
	case "Content-Length":
		return "content-length"
	case "Date":
		return "date"
	case "Server":
		return "server"
	case "Via":
		return "via"
	case "Cache-Control":
		return "cache-control"
	case "Last-Modified":
		return "last-modified"
	case "Etag":
		return "etag"
	case "Set-Cookie":
		return "set-cookie"
	case "Location":
		return "location"
	case "Vary":
		return "vary"
	case "Content-Encoding":
		return "content-encoding"
	case "Accept-Ranges":
		return "accept-ranges"
	}
	return strings.ToLower(k)
}

// trailerNames returns the trailers the handler declared.
func (w *response) trailerNames() []string {
	if len(w.header["Trailer"]) > 0 {
		return w.header["Trailer"]
	}
	for k := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return []string{k}
		}
	}
	return nil
}

// finish completes the response after the handler returned.
func (w *response) finish() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		if err := w.commit(true); err != nil {
			return err
		}
	}
	if !w.noBody && w.contentLength >= 0 && w.written != w.contentLength {
		return errors.New("handler wrote less than its Content-Length")
	}
	w.st.c.mu.Lock()
	ended := w.st.localDone
	w.st.c.mu.Unlock()
	if ended {
		return nil
	}
	if trailers := w.trailerFields(); len(trailers) > 0 {
		return w.st.writeTrailers(trailers)
	}
	return w.st.writeData(nil, true, true)
}

// trailerFields are the trailers to send: the declared names' values and
// the http.TrailerPrefix keys'.
func (w *response) trailerFields() []hpack.HeaderField {
	var fields []hpack.HeaderField
	for _, v := range w.header["Trailer"] {
		for _, k := range strings.Split(v, ",") {
			k = http.CanonicalHeaderKey(strings.TrimSpace(k))
			if k == "" || !httpguts.ValidTrailerHeader(k) {
				continue
			}
			for _, v := range w.header[k] {
				fields = append(fields, hpack.HeaderField{Name: strings.ToLower(k), Value: v})
			}
		}
	}
	for k, vv := range w.header {
		if after, ok := strings.CutPrefix(k, http.TrailerPrefix); ok && httpguts.ValidTrailerHeader(after) {
			for _, v := range vv {
				fields = append(fields, hpack.HeaderField{Name: strings.ToLower(after), Value: v})
			}
		}
	}
	return fields
}

// Respond returns an http.ResponseWriter for the stream, as a handler
// gets (for a request of method), and the function that completes the
// response, as the server does when a handler returns: Fast uses it for
// answers it does not write itself. done reports the body bytes
// written; its error means the response could not be completed (the
// stream is then reset).
func (s *Stream) Respond(method string) (w http.ResponseWriter, done func() (written int64, err error)) {
	rw := &response{st: s.st, method: method, contentLength: -1}
	return rw, func() (int64, error) {
		err := rw.finish()
		if err != nil {
			s.st.resetByUs(http2.ErrCodeInternal)
		}
		return rw.written, err
	}
}

// FlushError sends the headers and what is held.
func (w *response) FlushError() error {
	if !w.wroteHeader {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		return w.commit(false)
	}
	w.st.c.wmu.Lock()
	err := w.st.c.flushLocked()
	w.st.c.wmu.Unlock()
	return err
}

// Flush is FlushError without the error (http.Flusher).
func (w *response) Flush() { _ = w.FlushError() }

// SetReadDeadline and SetWriteDeadline serve http.ResponseController:
// a stream has no deadlines of its own here.
func (w *response) SetReadDeadline(time.Time) error  { return http.ErrNotSupported }
func (w *response) SetWriteDeadline(time.Time) error { return http.ErrNotSupported }

// EnableFullDuplex serves http.ResponseController: HTTP/2 streams are
// full duplex.
func (w *response) EnableFullDuplex() error { return nil }
