package admin

import (
	"crypto/sha256"
	"crypto/subtle"
	"net"
	"net/http"
	"strings"

	"github.com/postern/postern/host/admin/adminconfig"
)

// guard applies the access rules of the package doc to every request.
func (s *Server) guard(next http.Handler) http.Handler {
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.log.Warn("admin: cross-site request refused", "method", r.Method, "path", r.URL.Path,
			"origin", r.Header.Get("Origin"), "remote", r.RemoteAddr)
		httpError(w, http.StatusForbidden, "admin: cross-site request refused: send it from a script or curl, not from a web page")
	}))
	protected := cop.Handler(next)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.Header().Set("Cache-Control", "no-store")
		if s.loopback && !loopbackHostHeader(r.Host) {
			// A name other than a loopback one, on a loopback socket, is
			// a page that rebound its DNS name to 127.0.0.1.
			httpError(w, http.StatusMisdirectedRequest, "admin: Host "+quoteHost(r.Host)+" is not a loopback name: use http://127.0.0.1 or http://localhost")
			return
		}
		probe := r.URL.Path == "/healthz" || r.URL.Path == "/readyz"
		write := r.Method != http.MethodGet && r.Method != http.MethodHead
		needToken := s.opts.Token != "" && (write || (!s.loopback && !probe))
		if needToken && !s.tokenOK(r) {
			w.Header().Set("WWW-Authenticate", `Bearer realm="postern admin"`)
			httpError(w, http.StatusUnauthorized, "admin: missing or wrong bearer token: send Authorization: Bearer <admin.token>")
			return
		}
		protected.ServeHTTP(w, r)
	})
}

// tokenOK compares the request's bearer token with the configured one in
// constant time (hashing first, so the length does not leak either).
func (s *Server) tokenOK(r *http.Request) bool {
	auth := r.Header.Get("Authorization")
	scheme, tok, ok := strings.Cut(auth, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return false
	}
	got := sha256.Sum256([]byte(strings.TrimSpace(tok)))
	want := sha256.Sum256([]byte(s.opts.Token))
	return subtle.ConstantTimeCompare(got[:], want[:]) == 1
}

// loopbackHost reports whether a listen host binds loopback only.
func loopbackHost(host string) bool { return adminconfig.LoopbackHost(host) }

// loopbackHostHeader reports whether a Host header names loopback.
func loopbackHostHeader(h string) bool {
	host := h
	if hh, _, err := net.SplitHostPort(h); err == nil {
		host = hh
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	return loopbackHost(host)
}

// quoteHost shows a client-supplied Host safely in an error message.
func quoteHost(h string) string {
	if len(h) > 100 {
		h = h[:100]
	}
	return strings.ToValidUTF8(strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f {
			return '?'
		}
		return r
	}, h), "?")
}
