package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/plugins/internal/zmauth"
)

// passwordPlaceholder is what Zimbra's proxy sends as Auth-Pass for a
// route-only lookup: the lookup service finds the mailbox server, the
// mailbox server checks the password.
const passwordPlaceholder = "_password_"

// lookupSeconds is the latency of one lookup request (ABI 1.1 plugin
// metric lookup_seconds), declared by init.
var lookupSeconds postern.Histogram

// lookupBounds are lookup_seconds' bucket bounds: from 1 ms (a lookup
// service on the same network) to the 5 s a lookup may be given.
var lookupBounds = []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5}

// declareMetrics declares the plugin's metrics (init).
func declareMetrics() (err error) {
	lookupSeconds, err = postern.NewHistogram("lookup_seconds",
		"Time of one request to a lookup server, from sending it to its answer or failure.", lookupBounds)
	return err
}

// maxWait is the longest Auth-Wait honoured: the ABI's delay limit.
const maxWait = abi.MaxDelayMS * time.Millisecond

// lookup is the state of one plugin instance: the configuration, the
// round-robin position and this instance's view of failed servers. The
// host pools instances, so round robin is per instance and only
// approximately even across a node; "server down" is shared through the
// key-value store.
type lookup struct {
	cfg       *config
	next      int
	downUntil map[string]time.Time
	// id is the account id of this call's auth token, "" when the call
	// is not a zimbraId lookup.
	id string
}

// newLookup starts the round robin at a random server so that a pool of
// fresh instances does not send every first lookup to the first server.
func newLookup(cfg *config) *lookup {
	return &lookup{cfg: cfg, next: rand.IntN(len(cfg.servers)), downUntil: map[string]time.Time{}}
}

// downKey is the key-value key that marks url down for every instance and
// node. The URL is hashed: it may be longer than a memcached key allows.
func downKey(url string) string {
	sum := sha256.Sum256([]byte(url))
	return "postern:lookup-down:" + hex.EncodeToString(sum[:8])
}

// route is the route hook: ask the lookup servers in round-robin order,
// skipping those marked down, until one answers.
//
// A web request without a user but with an auth token (zimbra_id) is
// looked up by its account id; when that finds no route, for whatever
// reason, the request is left to the next plugin or the pool (Continue),
// as Zimbra's proxy falls back to its IP hash: a stale cookie must not
// lock anyone out of the login page.
func (l *lookup) route() postern.Verdict {
	req, ok := l.request()
	if !ok {
		return postern.Continue // nothing to look up (a web request without a user)
	}
	v := l.lookup(req)
	if l.id != "" && v != postern.Done {
		postern.CounterAdd("token_fallback", 1)
	}
	return v
}

// lookup asks the servers until one answers.
func (l *lookup) lookup(req postern.HTTPHeader) postern.Verdict {
	n := len(l.cfg.servers)
	start := l.next
	l.next = (l.next + 1) % n
	now := postern.Now()
	for i := range n {
		s := l.cfg.servers[(start+i)%n]
		if l.isDown(s, now) {
			continue
		}
		v, err := l.ask(s, req)
		if err == nil {
			return v
		}
		postern.CounterAdd("lookup_errors", 1)
		l.markDown(s, now, err)
	}
	postern.CounterAdd("all_down", 1)
	if l.id != "" {
		return postern.Continue // a token lookup falls back to the pool
	}
	return postern.TempFail("route lookup service unavailable, try again later")
}

// request builds the lookup request's headers for this login, exactly as
// nginx's mail auth_http module with Zimbra's extensions sends them. ok is
// false when there is nobody to look up.
func (l *lookup) request() (h postern.HTTPHeader, ok bool) {
	proto := postern.Protocol()
	method := authMethod(proto, postern.AuthMethod())
	user := postern.Account() // the login, or the account a login plugin or the cache found
	l.id = ""
	if user == "" && proto == "http" && l.cfg.zimbraID {
		// Zimbra's order: a user in the path or basic auth (a login
		// plugin or the host set the account), then the auth token, then
		// the IP hash (the pool).
		user, _ = zmauth.AccountID(zmauth.Token(postern.Cookie, postern.HTTPQuery()))
		method = "zimbraId"
		l.id = user
	}
	if user == "" {
		return nil, false
	}
	tls := postern.TLSVersion()
	name := proto
	if tls != "" {
		name += "+tls"
	}
	protoName, known := l.cfg.protocols[name]
	if !known {
		protoName = proto
	}
	pass := passwordPlaceholder
	if l.cfg.sendPassword {
		if p := postern.Password(); p != "" {
			pass = escape(p)
		}
	}
	attempt := postern.LoginAttempt()
	if proto == "http" {
		attempt = 0 // Zimbra sends 0 for web lookups
	}
	h = postern.HTTPHeader{}
	h.Set("Auth-Method", method)
	h.Set("Auth-User", escape(user))
	h.Set("Auth-Pass", pass)
	h.Set("Auth-Protocol", protoName)
	h.Set("Auth-Login-Attempt", strconv.Itoa(attempt))
	if ip := postern.ClientIP(); ip.IsValid() {
		h.Set("Client-IP", ip.String())
	}
	if ip := postern.LocalIP(); ip.IsValid() {
		h.Set("X-Proxy-IP", ip.String())
	}
	if proto == "http" {
		if host := postern.HTTPHost(); host != "" {
			h.Set("X-Proxy-Host", host)
		}
	}
	if tls != "" {
		h.Set("Auth-SSL", "on")
		h.Set("Auth-SSL-Protocol", sslProtocol(tls))
		if c := postern.TLSCipher(); c != "" {
			h.Set("Auth-SSL-Cipher", c)
		}
	}
	if method == "gssapi" {
		if id := postern.AuthID(); id != "" {
			h.Set("Auth-ID", escape(id))
		}
	}
	return h, true
}

// authMethod maps the auth_method field to nginx's Auth-Method: nginx
// sends "plain" for USER/PASS, PLAIN and LOGIN alike; Zimbra sends
// "gssapi" for Kerberos and "username" for a web login by user name.
func authMethod(proto, m string) string {
	if m == "gssapi" {
		return "gssapi"
	}
	if proto == "http" {
		return "username"
	}
	switch m {
	case "", "plain", "login", "basic":
		return "plain"
	}
	return m
}

// sslProtocol turns the tls_version field ("TLS1.3") into OpenSSL's
// protocol name ("TLSv1.3"), which nginx sends as Auth-SSL-Protocol.
func sslProtocol(v string) string {
	if rest, ok := strings.CutPrefix(v, "TLS"); ok && rest != "" && rest[0] != 'v' {
		return "TLSv" + rest
	}
	return v
}

// escape %-escapes a header value as nginx's NGX_ESCAPE_MAIL_AUTH does (a
// space, '%' and control bytes), plus DEL, which Go's HTTP client would
// refuse to send.
func escape(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b []byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == '%' || c == 0x7f {
			if b == nil {
				b = append(make([]byte, 0, len(s)+8), s[:i]...)
			}
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		} else if b != nil {
			b = append(b, c)
		}
	}
	if b == nil {
		return s
	}
	return string(b)
}

// isDown reports whether s is to be skipped: this instance saw it fail, or
// the shared store says another instance or node did. A store outage
// reads as "not down".
func (l *lookup) isDown(s server, now time.Time) bool {
	if l.cfg.failTimeout <= 0 {
		return false
	}
	if until, ok := l.downUntil[s.url]; ok {
		if now.Before(until) {
			return true
		}
		delete(l.downUntil, s.url)
	}
	_, err := postern.KVGet(s.downKey)
	return err == nil
}

// markDown records that s failed, here and in the shared store.
func (l *lookup) markDown(s server, now time.Time, cause error) {
	postern.CounterAdd("server_down", 1)
	if l.cfg.failTimeout <= 0 {
		postern.Warnf("route-lookup: lookup server %s failed: %v", s.url, cause)
		return
	}
	postern.Warnf("route-lookup: lookup server %s failed: %v; skipping it for %v", s.url, cause, l.cfg.failTimeout)
	l.downUntil[s.url] = now.Add(l.cfg.failTimeout)
	_ = postern.KVSet(s.downKey, []byte("1"), l.cfg.failTimeout) // best effort: a store outage leaves it per instance
}

// ask sends one lookup to s and turns the answer into a verdict. An error
// means the server failed (unreachable, timed out, or an answer that is
// not a valid auth_http reply): the caller tries the next one.
func (l *lookup) ask(s server, h postern.HTTPHeader) (postern.Verdict, error) {
	postern.CounterAdd("lookups", 1)
	t0 := time.Now() // WASI's monotonic clock: a wall clock step is no latency
	resp, err := postern.HTTPDo(&postern.HTTPRequest{Method: "GET", URL: s.url, Header: h, Timeout: l.cfg.timeout})
	lookupSeconds.ObserveDuration(time.Since(t0))
	if err != nil {
		if errors.Is(err, abi.ErrDenied) {
			return 0, fmt.Errorf("%w: add its host:port to this plugin's http_allow", err)
		}
		return 0, err
	}
	r, err := parseReply(resp.Status, resp.Header, l.cfg.require200)
	if err != nil {
		return 0, err
	}
	switch r.kind {
	case replyWait:
		postern.CounterAdd("lookup_wait", 1)
		if l.id != "" {
			return postern.Continue, nil // a token lookup falls back to the pool, at once
		}
		return postern.Retry(r.wait), nil
	case replyRefuse:
		postern.CounterAdd("lookup_refused", 1)
		if l.id != "" {
			return postern.Continue, nil // unknown id: the pool, without a wait
		}
		if r.wait > 0 {
			_ = postern.SetDelay(r.wait)
		}
		return postern.Refuse(r.message), nil
	}
	if err := postern.SetUpstreams([]string{r.upstream}); err != nil {
		return 0, fmt.Errorf("upstream %q refused by the host: %w", r.upstream, err)
	}
	if r.user != "" {
		_ = postern.SetAccount(r.user)
		_ = postern.SetUpstreamLogin(r.user)
	} else if l.id != "" {
		// The account is the id: route-cache keys the route by it.
		_ = postern.SetAccount(l.id)
	}
	if r.hasPass && !(r.pass == passwordPlaceholder && h.Get("Auth-Pass") == passwordPlaceholder) {
		_ = postern.SetUpstreamPassword(r.pass)
	}
	if r.cacheAlias {
		_ = postern.SetCacheAlias(true)
	}
	if pass := h.Get("Auth-Pass"); pass != passwordPlaceholder && pass != "" {
		// The service saw this password and answered OK: it accepted it.
		// A route-only lookup (the placeholder) vouches for nothing.
		_ = postern.SetPasswordVerified(true)
	}
	return postern.Done, nil
}

// replyKind is what an auth_http answer asks for.
type replyKind int

const (
	replyOK     replyKind = iota // Auth-Status: OK, route in Auth-Server/Auth-Port
	replyWait                    // Auth-Status: WAIT, ask again after Auth-Wait
	replyRefuse                  // any other Auth-Status: the error for the client
)

// reply is a parsed auth_http answer.
type reply struct {
	kind       replyKind
	upstream   string // "ip:port", IPv6 bracketed (OK)
	user       string // Auth-User: the qualified account, "" when absent (OK)
	pass       string // Auth-Pass (OK)
	hasPass    bool
	cacheAlias bool          // Auth-Cache-Alias: TRUE (OK)
	message    string        // the Auth-Status text (refuse)
	wait       time.Duration // Auth-Wait (WAIT; optional with refuse)
}

// parseReply reads an auth_http answer as nginx does: headers only, names
// in any case, Auth-Status compared exactly. With require200 (Zimbra's
// fork) any HTTP status but 200 is a server failure. A route that is not
// an IP literal and a port in 1..65535 is a server failure too, never a
// guess.
func parseReply(status int, h postern.HTTPHeader, require200 bool) (reply, error) {
	if require200 && status != 200 {
		return reply{}, fmt.Errorf("HTTP status %d, want 200", status)
	}
	st, ok := first(h, "Auth-Status")
	if !ok || st == "" {
		return reply{}, errors.New("no Auth-Status header")
	}
	var wait time.Duration
	waitText, hasWait := first(h, "Auth-Wait")
	if hasWait {
		n, err := strconv.ParseUint(waitText, 10, 32)
		if err != nil || !digits(waitText) {
			if st == "WAIT" {
				return reply{}, fmt.Errorf("Auth-Wait %q is not a number of seconds", waitText)
			}
			hasWait = false // nginx ignores a bad Auth-Wait on an error
		} else {
			wait = min(time.Duration(n)*time.Second, maxWait)
		}
	}
	switch st {
	case "OK":
	case "WAIT":
		if !hasWait {
			return reply{}, errors.New("Auth-Status WAIT without Auth-Wait")
		}
		return reply{kind: replyWait, wait: wait}, nil
	default:
		return reply{kind: replyRefuse, message: st, wait: wait}, nil
	}
	srv, _ := first(h, "Auth-Server")
	addr, err := netip.ParseAddr(srv)
	if err != nil || addr.Zone() != "" {
		return reply{}, fmt.Errorf("Auth-Server %q is not an IP address", srv)
	}
	portText, _ := first(h, "Auth-Port")
	port, err := strconv.ParseUint(portText, 10, 16)
	if err != nil || port == 0 || !digits(portText) {
		return reply{}, fmt.Errorf("Auth-Port %q is not a port in 1..65535", portText)
	}
	r := reply{kind: replyOK, upstream: netip.AddrPortFrom(addr.Unmap(), uint16(port)).String()}
	r.user, _ = first(h, "Auth-User")
	r.pass, r.hasPass = first(h, "Auth-Pass")
	alias, _ := first(h, "Auth-Cache-Alias")
	r.cacheAlias = alias == "TRUE" || alias == "true" || alias == "True"
	return r, nil
}

// first returns the first value of a header and whether it was present.
func first(h postern.HTTPHeader, name string) (string, bool) {
	v := h.Values(name)
	if len(v) == 0 {
		return "", false
	}
	return v[0], true
}

func digits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
