package web

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"net/http"
	"net/netip"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugin"
)

// The fast path also serves a request with credentials (basic auth, the
// auth cookie) whose login, throttle and route decision is kept (decision
// reuse, reuse.go), when no plugin wants it at rewrite or response: the
// decision's upstreams (or its pool) take it, exactly as the full path
// would send it with the same decision. The key is computed from the same
// parts as the full path's (reuseDecision): the auth cookie's value by
// net/http's own cookie parser, so a decision the full path kept is found
// here. A request without a kept decision, or with an Authorization that
// is not basic credentials, takes the full path, which runs the chains
// (and keeps their decision for the next request).

// reuseFastHooks are the hooks a reused decision still runs: a plugin
// wanting the request at one of them sends it down the full path.
var reuseFastHooks = []abi.Hook{abi.HookRewrite, abi.HookResponse}

// fastDecision is a kept decision the fast path serves a request with.
type fastDecision struct {
	dec   *decision
	key   [32]byte
	addrs []string // the decision's upstreams, tried in order; nil: pool's balancer
	pool  *pool    // the balanced pool, or the one whose client reaches addrs
}

// user is the account the decision names (the access log's user).
func (fd *fastDecision) user() string {
	if fd.dec.account != "" {
		return fd.dec.account
	}
	return fd.dec.login
}

// fastCreds is what reuseFast reads of a request with credentials, on
// either fast path.
type fastCreds struct {
	method, path string
	cookie       string // the Cookie header that mentions the auth cookie ("": none)
	authz        []byte // the Authorization value (nil: none)
	tls          *tls.ConnectionState
	peerIP       string
	peer         netip.AddrPort
}

// reuseFast finds the kept decision for a request with an Authorization
// or a Cookie header naming the auth cookie (cr), and where it sends the
// request, as choosePool does. It reports false when the full path must
// take it.
func (h *handler) reuseFast(cr *fastCreds, host string, rt *route, fd *fastDecision) bool {
	s := h.s
	if s.decisions == nil || s.plugins == nil {
		return false
	}
	// The auth method and the cookie's value as the full path reads them
	// (handler.ServeHTTP, hasCookie, reuseDecision).
	method, cookie := "none", ""
	if cr.cookie != "" {
		r := http.Request{Header: http.Header{"Cookie": {cr.cookie}}}
		if c, err := r.Cookie(s.cfg.AuthCookie); err == nil {
			method, cookie = "cookie", c.Value
		}
	}
	var authz []string
	if cr.authz != nil {
		if !isBasicAuth(cr.authz) {
			return false
		}
		method, authz = "basic", []string{string(cr.authz)}
	}
	if method == "none" {
		return false
	}
	ttl, epoch := s.plugins.Reuse()
	if ttl <= 0 {
		return false
	}
	tlsv, sni := "", ""
	if ts := cr.tls; ts != nil {
		tlsv, sni = tlsVersion(ts), ts.ServerName
	}
	rtName := ""
	if rt != nil {
		rtName = rt.name
	}
	key := s.decisions.key(h.l.Name, tlsv, sni, cr.peerIP, host, rtName, method, authz, cookie)
	dec := s.decisions.get(key, epoch, time.Now().UnixNano())
	if dec == nil {
		return false
	}
	*fd = fastDecision{dec: dec, key: key}
	if dec.pool != "" {
		fd.pool = s.pools[dec.pool]
		if fd.pool == nil {
			return false // the full path answers an unknown pool
		}
	} else if dec.account != "" || dec.login != "" {
		fd.pool = s.userPool
	} else {
		fd.pool = s.defPool
	}
	if len(dec.upstreams) > 0 {
		fd.addrs = dec.upstreams
	}
	if s.plugins.Serves(abi.HookRewrite) || s.plugins.Serves(abi.HookResponse) {
		hf := plugin.HTTPFields{Method: cr.method, Host: host, Path: cr.path, Pool: dec.pool}
		f := plugin.Fields{Protocol: "http", Listener: h.l.Name, Client: cr.peer, AuthMethod: method,
			LoginAttempt: 1, Login: dec.login, Account: dec.account, HTTP: &hf}
		if s.plugins.Wants(&f, reuseFastHooks, nil) {
			return false
		}
	}
	return true
}

// isBasicAuth reports whether v is an Authorization value net/http's
// Request.BasicAuth accepts: "Basic " in any case, then base64 of
// "user:password".
func isBasicAuth(v []byte) bool {
	const prefix = "Basic "
	if len(v) < len(prefix) || !bytes.EqualFold(v[:len(prefix)], []byte(prefix)) {
		return false
	}
	var buf [256]byte
	enc := v[len(prefix):]
	if base64.StdEncoding.DecodedLen(len(enc)) > len(buf) {
		return false // the full path decides
	}
	n, err := base64.StdEncoding.Decode(buf[:], enc)
	return err == nil && bytes.IndexByte(buf[:n], ':') >= 0
}

// settleFast drops the kept decision a request was served with when the
// upstream refused the credentials or no backend answered, as
// settleDecision does on the full path.
func (s *Server) settleFast(fd *fastDecision, out *fastOutcome) {
	if !out.answered || out.status == 401 {
		s.decisions.drop(fd.key)
	}
}
