package web

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/web/internal/balance"
)

// errNoBackend: every backend of the pool is down or was tried.
var errNoBackend = errors.New("web: no backend available")

// rewrite is the reverse proxy's Rewrite (upgrade requests): it builds
// the outbound request from the fields the plugins left. Hop-by-hop and
// X-Forwarded-* headers were already removed from Out.
func (s *Server) rewrite(pr *httputil.ProxyRequest) {
	s.outbound(stateFrom(pr.In.Context()), pr.In, pr.Out, pr.In.Header["X-Forwarded-For"])
}

// outbound sets out's URL, Host and forwarding headers from the fields
// the plugins left on in: the reverse proxy's Rewrite and forward share
// it. prior is the X-Forwarded-For the client sent (forward edits in's
// header in place, so it is read before); hop-by-hop and the client's
// X-Forwarded-* headers were already removed from out.Header. out.URL
// must be out's own copy.
func (s *Server) outbound(st *reqState, in, out *http.Request, prior []string) {
	hf := st.f.HTTP
	out.URL.Scheme = "http"
	if st.via != nil {
		out.URL.Scheme = st.via.scheme
	}
	out.URL.Host = "upstream.invalid" // the transport sets the backend
	if hf.Path != in.URL.EscapedPath() {
		if p, err := url.PathUnescape(hf.Path); err == nil {
			out.URL.Path, out.URL.RawPath = p, hf.Path
		}
	}
	out.URL.RawQuery = hf.Query
	out.Host = hf.Host
	// X-Forwarded-For gets the direct peer, the hop this request came
	// from (the client unless a trusted forwarder sent it), so the list
	// stays a true path; X-Real-IP is the client.
	peer := st.peerIP
	// The four values share one array in the request's allocation; the
	// keys are canonical, so this is Header.Set without its allocations.
	fwd := &st.fwd
	if len(prior) > 0 {
		fwd[0] = strings.Join(prior, ", ") + ", " + peer
	} else {
		fwd[0] = peer
	}
	fwd[1] = st.clientIP
	if st.https {
		fwd[2] = "https"
	} else {
		fwd[2] = "http"
	}
	fwd[3] = in.Host
	out.Header["X-Forwarded-For"] = fwd[0:1:1]
	out.Header["X-Real-Ip"] = fwd[1:2:2]
	out.Header["X-Forwarded-Proto"] = fwd[2:3:3]
	out.Header["X-Forwarded-Host"] = fwd[3:4:4]
	if s.cfg.Via != "" {
		out.Header.Add("Via", viaValue(in, s.cfg.Via))
	}
}

func viaValue(r *http.Request, via string) string {
	return strings.TrimPrefix(r.Proto, "HTTP/") + " " + via
}

func (s *Server) modifyResponse(resp *http.Response) error {
	if st := stateFrom(resp.Request.Context()); st != nil {
		st.upStatus = resp.StatusCode
		if resp.StatusCode == http.StatusSwitchingProtocols && st.ls != nil {
			st.ls.upgrades.Add(1)
		}
	}
	if s.cfg.Via != "" {
		resp.Header.Add("Via", viaValue(resp.Request, s.cfg.Via))
	}
	if s.plugins != nil && s.plugins.Serves(abi.HookResponse) {
		if st := stateFrom(resp.Request.Context()); st != nil {
			return s.runResponse(resp, st)
		}
	}
	return nil
}

// proxyError answers a failed proxy attempt. A client that went away gets
// nothing (logged as 499, nginx's convention).
func (s *Server) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	st := stateFrom(r.Context())
	if r.Context().Err() != nil {
		st.errStatus, st.errMsg = 499, "client went away"
		return
	}
	if s.answerHook(w, st, err) {
		return
	}
	status, why := statusFor(err)
	st.errStatus, st.errMsg = status, why
	if lw, ok := w.(*logWriter); ok && lw.status != 0 {
		return // the response had started; the connection is cut
	}
	writeStatus(w, status, "")
}

// upstreamTransport picks the backend per attempt and retries where that
// is safe: on a connect failure before any body byte was read, and for
// idempotent requests without a body on any error before a response.
// The transport is the pool's (TLS pools have their own); addresses a
// plugin named use the transport of the pool the request would otherwise
// have gone to (reqState.via).
type upstreamTransport struct {
	s *Server
}

func (t *upstreamTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	st := stateFrom(req.Context())
	var body *trackedBody
	if req.Body != nil && req.Body != http.NoBody {
		body = &trackedBody{rc: req.Body, ls: st.ls}
		req.Body = body
	}
	idempotent := body == nil && isIdempotent(req.Method)
	var tried []*balance.Backend
	skip := func(b *balance.Backend) bool {
		for _, x := range tried {
			if x == b {
				return true
			}
		}
		return false
	}
	base := t.s.transport
	if st.via != nil {
		base = st.via.transport
	}
	// A route whose header timeout is shorter than the transports' (the
	// longest of all routes) is timed here, per attempt.
	hdrTimeout := t.s.cfg.UpstreamHeaderTimeout
	if st.rt != nil {
		hdrTimeout = st.rt.headerTimeout
		if st.rt.readTimeout != t.s.cfg.UpstreamReadTimeout {
			req = req.WithContext(context.WithValue(req.Context(), readTimeoutKey{}, st.rt.readTimeout))
		}
	}
	var lastErr error
	for i := 0; ; i++ {
		var addr string
		var b *balance.Backend
		if st.pool == nil {
			if i >= len(st.route) {
				break
			}
			addr = st.route[i]
		} else {
			var err error
			if b, err = st.pool.bal.Pick(st.client, skip); err != nil {
				break
			}
			tried = append(tried, b)
			addr = b.Addr
			b.Acquire()
		}
		st.upstream = addr
		req.URL.Host = addr
		ps := t.s.stats.route
		if b != nil {
			ps = st.pool.stats
			st.bs = ps.backends[b.Index]
		} else {
			st.bs = ps.routeBackend(addr)
		}
		if i > 0 {
			ps.retries.Add(1)
		}
		t0 := time.Now()
		var resp *http.Response
		var err error
		if hdrTimeout < t.s.hdrMax {
			resp, err = roundTripWithin(base, req, hdrTimeout)
		} else {
			resp, err = base.RoundTrip(req)
		}
		if err == nil {
			ps.upstream.observe(time.Since(t0))
			st.connected = true
			if b != nil {
				st.pool.bal.Success(b)
				resp.Body = st.releaseOnClose(resp.Body, b)
			}
			return resp, nil
		}
		if b != nil {
			b.Release()
		}
		if req.Context().Err() != nil || (body != nil && body.failed.Load()) {
			return nil, err // the client went away, or its body failed: not the backend's fault
		}
		st.bs.errors.Add(1)
		if isTLSFailure(err) {
			t.s.log.Warn("backend TLS handshake failed", "backend", addr, "pool", st.via.nameOr(), "request", st.f.SessionID, "err", err)
		}
		if b != nil && st.pool.bal.Fail(b) {
			t.s.log.Warn("backend marked down", "pool", st.pool.name, "backend", addr, "err", err)
		}
		lastErr = err
		t.s.log.Debug("backend attempt failed", "backend", addr, "err", err)
		// A failed TLS handshake is a failed connect: nothing was sent.
		retry := ((isDial(err) || isTLSFailure(err)) && (body == nil || !body.read.Load())) || idempotent
		if !retry {
			return nil, err
		}
	}
	if lastErr != nil {
		return nil, lastErr
	}
	return nil, errNoBackend
}

// nameOr returns the pool's name, "" for nil.
func (p *pool) nameOr() string {
	if p == nil {
		return ""
	}
	return p.name
}

func isIdempotent(m string) bool {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func isDial(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

// trackedBody remembers whether the transport read any of the request
// body, and ignores Close so a retry can still send it; the server closes
// the real body when the handler returns.
type trackedBody struct {
	rc     io.ReadCloser
	ls     *listenerStats // counts the bytes read
	read   atomic.Bool
	failed atomic.Bool // reading the client's body failed: not the backend's fault
}

func (b *trackedBody) Read(p []byte) (int, error) {
	if !b.read.Load() {
		b.read.Store(true)
	}
	n, err := b.rc.Read(p)
	if n > 0 && b.ls != nil {
		b.ls.bytesIn.Add(int64(n))
	}
	if err != nil && err != io.EOF {
		b.failed.Store(true)
	}
	return n, err
}

func (b *trackedBody) Close() error { return nil }

// releaseOnClose ends a least-conn count when the response body closes.
// An upgrade's body is the backend connection (io.ReadWriteCloser), which
// the reverse proxy needs to keep.
// The wrapper lives in the request's own allocation: a request has one
// response.
func (st *reqState) releaseOnClose(rc io.ReadCloser, b *balance.Backend) io.ReadCloser {
	if rwc, ok := rc.(io.ReadWriteCloser); ok {
		return &releaseRWC{ReadWriteCloser: rwc, b: b}
	}
	st.rel = releaseBody{ReadCloser: rc, b: b}
	return &st.rel
}

type releaseBody struct {
	io.ReadCloser
	b    *balance.Backend
	once sync.Once
}

func (r *releaseBody) Close() error {
	r.once.Do(r.b.Release)
	return r.ReadCloser.Close()
}

type releaseRWC struct {
	io.ReadWriteCloser
	b    *balance.Backend
	once sync.Once
}

func (r *releaseRWC) Close() error {
	r.once.Do(r.b.Release)
	return r.ReadWriteCloser.Close()
}
