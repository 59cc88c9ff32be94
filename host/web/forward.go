package web

import (
	"context"
	"io"
	"mime"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
)

// forward proxies r to the backend st's decisions lead to and copies the
// answer to w: what httputil.ReverseProxy does for Postern, for every
// request that is not an Upgrade (those keep the reverse proxy, which
// hijacks the client's connection on a 101), with fewer allocations and
// copies:
//
//   - the outbound request is a shallow copy of r (with its own URL, in
//     st's allocation), not a Clone: its Header is r.Header, edited in
//     place (hop-by-hop headers, those named in Connection, Forwarded and
//     X-Forwarded-* removed; TE: trailers kept when the client sent it;
//     the forwarding headers of outbound set; an absent User-Agent sent
//     empty, so Go's default is not). Nothing after the proxy reads r's
//     headers but the route_decided event and the response hook's
//     plugins, which see the outbound ones;
//   - the response's header values are assigned to w.Header() without
//     copying each when it is empty (the usual case);
//   - the body is copied with a pooled 32 KiB buffer, flushed after every
//     write when stream (NoBuffering), for text/event-stream and for a
//     response without a Content-Length (ReverseProxy's flushInterval
//     rules, with FlushInterval 0 or -1), else only when the handler
//     returns.
//
// 1xx responses other than 100 (103 Early Hints) reach the client, as
// with the reverse proxy's trace. Errors go to proxyError (the response
// hook's answer, 499 when the client went away, 502/503/504/413), a
// response hook error too. A body that fails after the response started
// panics with http.ErrAbortHandler (the server cuts the connection, so
// the client does not take a short body as complete), as ReverseProxy
// does under an http.Server; whoever calls the handler must recover it.
// The response body is always closed (which ends a
// least-conn count, releaseOnClose).
func (s *Server) forward(w http.ResponseWriter, r *http.Request, st *reqState, stream bool) {
	h := r.Header
	if h == nil {
		h = make(http.Header)
	}
	prior := h["X-Forwarded-For"] // read before the header is edited
	te := headerHasToken(h["Te"], "trailers")
	removeHopHeaders(h, true)
	if te {
		h["Te"] = []string{"trailers"}
	}

	st.w1xx = w
	st.trace.Got1xxResponse = st.got1xx
	ctx := httptrace.WithClientTrace(context.WithValue(r.Context(), stateKey{}, st), &st.trace)
	out := r.WithContext(ctx) // the shallow copy; its URL is its own below
	out.Header = h
	st.outURL = *r.URL
	out.URL = &st.outURL
	out.Close = false
	if r.ContentLength == 0 {
		out.Body = nil // as ReverseProxy: nothing to send, and a retry needs none
	} else if r.Body != nil {
		// The transport may still read the body after forward returned
		// (an h1Client body writer given up on); it reads EOF then, as
		// with the reverse proxy's noopCloseReader.
		st.body = guardedBody{rc: r.Body}
		out.Body = &st.body
		defer st.body.closed.Store(true)
	}
	s.outbound(st, r, out, prior)
	if _, ok := h["User-Agent"]; !ok {
		st.fwd[4] = ""
		h["User-Agent"] = st.fwd[4:5:5]
	}

	resp, err := (&upstreamTransport{s}).RoundTrip(out)
	st.mu1xx.Lock()
	st.w1xx = nil // no 1xx after this: the response is ours
	st.mu1xx.Unlock()
	if err != nil {
		s.proxyError(w, out, err)
		return
	}
	removeHopHeaders(resp.Header, false)
	if err := s.modifyResponse(resp); err != nil {
		resp.Body.Close()
		s.proxyError(w, out, err)
		return
	}

	flush := stream || resp.ContentLength == -1 || isEventStream(resp.Header["Content-Type"])
	if err := sendResponse(w, resp, flush); err != nil {
		resp.Body.Close()
		if r.Context().Err() == nil {
			if err.read {
				st.errMsg = "backend body failed: " + err.err.Error()
				st.ls.countReadTimeout(err.err)
				s.log.Warn("backend body failed mid-response", "request", st.f.SessionID, "backend", st.upstream, "err", err.err)
			} else {
				st.errMsg = "writing to the client failed: " + err.err.Error()
			}
		} else {
			st.errMsg = "client went away mid-response"
		}
		// The response started: all that is left is to cut the
		// connection, which a server does on this panic (and logs
		// nothing). The reverse proxy panics only when the context has
		// http.ServerContextKey (net/http's servers set it), for old
		// tests that call it bare; forward panics always, so a server
		// that recovers ErrAbortHandler without setting that key (the
		// lean HTTP/1.1 server) cuts the connection too, instead of
		// ending a chunked body as if it were complete.
		panic(http.ErrAbortHandler)
	}
}

// sendResponse writes resp (its hop-by-hop headers removed) to w: the
// headers, the trailers announced, the status, the body (flushed after
// every write when flush) and the trailers. It returns the body copy's
// error, with resp.Body left open; at the body's end it closes it (which
// completes resp.Trailer). forward and the fast path's responses that
// net/http parsed share it.
func sendResponse(w http.ResponseWriter, resp *http.Response, flush bool) *copyError {
	dst := w.Header()
	if len(dst) == 0 {
		// The response's values are the response writer's from here:
		// nothing else uses resp.Header, and net/http copies the map
		// when the header is written.
		for k, vv := range resp.Header {
			dst[k] = vv
		}
	} else {
		for k, vv := range resp.Header {
			dst[k] = append(dst[k], vv...)
		}
	}
	// The transport removes Trailer from the header; announce the
	// trailers from resp.Trailer, as the reverse proxy does.
	announced := len(resp.Trailer)
	if announced > 0 {
		keys := make([]string, 0, announced)
		for k := range resp.Trailer {
			keys = append(keys, k)
		}
		dst.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(resp.StatusCode)

	if err := copyBody(w, resp.Body, flush); err != nil {
		return err
	}
	resp.Body.Close() // now, not deferred: it completes resp.Trailer

	if len(resp.Trailer) > 0 {
		// Chunked, so the trailers can follow: net/http would send a
		// short body with a Content-Length otherwise.
		_ = http.NewResponseController(w).Flush()
	}
	if len(resp.Trailer) == announced {
		for k, vv := range resp.Trailer {
			dst[k] = append(dst[k], vv...)
		}
		return nil
	}
	for k, vv := range resp.Trailer {
		k = http.TrailerPrefix + k
		dst[k] = append(dst[k], vv...)
	}
	return nil
}

// got1xx is forward's httptrace.ClientTrace.Got1xxResponse: an interim
// response (103 Early Hints; the transports keep 100 Continue) goes to
// the client while the round trip runs, as with the reverse proxy.
func (st *reqState) got1xx(code int, header textproto.MIMEHeader) error {
	st.mu1xx.Lock()
	defer st.mu1xx.Unlock()
	w := st.w1xx
	if w == nil {
		return nil // the round trip returned: the writer is not ours to touch
	}
	h := w.Header()
	for k, vv := range header {
		h[k] = append(h[k], vv...)
	}
	w.WriteHeader(code)
	clear(h) // WriteHeader keeps the header for a 1xx
	return nil
}

// guardedBody is the client's request body as the transport reads it:
// Close does nothing (the server closes the body when the handler
// returns, and a retry may send it again), and once forward returned
// reads see EOF (reading a request body after its handler returned is
// not allowed).
type guardedBody struct {
	rc     io.ReadCloser
	closed atomic.Bool
}

func (b *guardedBody) Read(p []byte) (int, error) {
	if b.closed.Load() {
		return 0, io.EOF
	}
	return b.rc.Read(p)
}

func (b *guardedBody) Close() error { return nil }

// copyError is a failed body copy: reading the backend's body (read) or
// writing to the client.
type copyError struct {
	err  error
	read bool
}

// copyBody copies the response body to w with a pooled buffer, flushing
// after each write when flush is set; it returns nil at the body's end.
func copyBody(w http.ResponseWriter, body io.Reader, flush bool) *copyError {
	var rc *http.ResponseController
	if flush {
		// Send the header now, as the reverse proxy's first flush does:
		// an event stream's client learns the status before the first
		// event.
		rc = http.NewResponseController(w)
		_ = rc.Flush()
	}
	bp := buffers.Get().(*[]byte)
	defer buffers.Put(bp)
	buf := *bp
	for {
		nr, rerr := body.Read(buf)
		if nr > 0 {
			nw, werr := w.Write(buf[:nr])
			if werr != nil {
				return &copyError{err: werr}
			}
			if nw != nr {
				return &copyError{err: io.ErrShortWrite}
			}
			if flush {
				_ = rc.Flush() // a writer that cannot flush still gets the body, as with the reverse proxy
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return &copyError{err: rerr, read: true}
		}
	}
}

// isEventStream reports whether a Content-Type is text/event-stream
// (Server-Sent Events), whose events must reach the client as they come.
func isEventStream(ct []string) bool {
	if len(ct) == 0 || !strings.HasPrefix(strings.ToLower(strings.TrimSpace(ct[0])), "text/event-stream") {
		return false // the cheap test first: most responses are not
	}
	base, _, _ := mime.ParseMediaType(ct[0])
	return base == "text/event-stream"
}

// removeHopHeaders deletes the hop-by-hop headers from h: those named in
// its Connection header and the known ones (RFC 9110 7.6.1; Keep-Alive,
// Proxy-Connection and the others RFC 2616 listed, as the reverse proxy
// does). request: also Forwarded and X-Forwarded-For/-Host/-Proto, the
// client's forwarding headers, which outbound sets anew (the reverse
// proxy's Rewrite mode removes them the same way). One pass over the
// keys (a request's are canonical, as net/http parsed them) instead of a
// delete per name.
func removeHopHeaders(h http.Header, request bool) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
	for k := range h {
		switch k {
		case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate",
			"Proxy-Authorization", "Te", "Trailer", "Transfer-Encoding", "Upgrade":
			delete(h, k)
		case "Forwarded", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto":
			if request {
				delete(h, k)
			}
		}
	}
}

// headerHasToken reports whether a comma-separated header's values hold
// token, ASCII case-insensitively (httpguts.HeaderValuesContainsToken).
func headerHasToken(values []string, token string) bool {
	for _, v := range values {
		for t := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(t), token) {
				return true
			}
		}
	}
	return false
}

// forwardState is what forward keeps in a request's own allocation
// (embedded in reqState): the outbound request's URL, the guarded body
// and the 1xx trace.
type forwardState struct {
	outURL url.URL
	body   guardedBody
	trace  httptrace.ClientTrace
	mu1xx  sync.Mutex
	w1xx   http.ResponseWriter // where 1xx responses go; nil once the round trip returned
}
