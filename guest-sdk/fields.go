package postern

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/abi"
)

// Get reads a plain (not keyed) field. It returns abi.ErrNotAvailable when
// the current hook or the session's protocol has no such value,
// abi.ErrUnknownField for a field the host does not know.
func Get(f abi.Field) (string, error) {
	return readString(func(buf []byte) int32 { return hostFieldGet(int32(f), buf) })
}

// AppendGet appends the value of a plain field to dst and returns the
// extended slice. It allocates only when dst lacks capacity, so a handler
// that keeps its buffers between calls reads fields without allocating.
func AppendGet(dst []byte, f abi.Field) ([]byte, error) {
	return appendRead(dst, func(buf []byte) int32 { return hostFieldGet(int32(f), buf) })
}

// Set writes a plain field. It returns abi.ErrReadOnly when the current
// hook may only read it, abi.ErrNotAvailable when it may not touch it,
// abi.ErrInvalid for a value the field does not accept (a bad number,
// upstream or path) and abi.ErrTooLarge over abi.MaxFieldBytes.
func Set(f abi.Field, v string) error { return status(hostFieldSet(int32(f), bs(v))) }

// SetBytes is [Set] for a value held as bytes; it does not copy v.
func SetBytes(f abi.Field, v []byte) error { return status(hostFieldSet(int32(f), v)) }

// GetKey reads one key of a keyed field (abi.FieldHTTPHeader,
// abi.FieldHTTPCookie, abi.FieldIMAPID). Several values of one header come
// joined with ", ". It returns abi.ErrNotFound when the key is absent.
func GetKey(f abi.Field, key string) (string, error) {
	return readString(func(buf []byte) int32 { return hostFieldGetKey(int32(f), bs(key), buf) })
}

// SetKey replaces every value of one key of a keyed field.
func SetKey(f abi.Field, key, v string) error {
	return status(hostFieldSetKey(int32(f), bs(key), bs(v)))
}

// DeleteKey removes a key of a keyed field; abi.ErrNotFound when absent.
func DeleteKey(f abi.Field, key string) error {
	return status(hostFieldDeleteKey(int32(f), bs(key)))
}

// GetList reads a list field (items separated by NUL). An empty value is
// an empty list (nil).
func GetList(f abi.Field) ([]string, error) {
	v, err := Get(f)
	if err != nil || v == "" {
		return nil, err
	}
	return strings.Split(v, "\x00"), nil
}

// SetList writes a list field. An item containing NUL cannot be encoded
// and yields abi.ErrInvalid without calling the host.
func SetList(f abi.Field, items []string) error {
	for _, it := range items {
		if strings.IndexByte(it, 0) >= 0 {
			return abi.ErrInvalid
		}
	}
	return Set(f, strings.Join(items, "\x00"))
}

// The typed accessors below return the zero value when the field cannot be
// read in the current hook or protocol; use Get to see why.

func str(f abi.Field) string {
	v, _ := Get(f)
	return v
}

func num(f abi.Field) int {
	v, _ := strconv.Atoi(str(f))
	return v
}

func addr(f abi.Field) netip.Addr {
	a, _ := netip.ParseAddr(str(f))
	return a
}

func keyed(f abi.Field, k string) string {
	v, _ := GetKey(f, k)
	return v
}

func flag(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// Protocol is the session's protocol: "imap", "pop3" or "http".
func Protocol() string { return str(abi.FieldProtocol) }

// Listener is the name of the listener the client connected to.
func Listener() string { return str(abi.FieldListener) }

// SessionID is the session or request id the host's logs carry.
func SessionID() string { return str(abi.FieldSessionID) }

// ClientIP is the client's address (invalid when unknown).
func ClientIP() netip.Addr { return addr(abi.FieldClientIP) }

// ClientPort is the client's port.
func ClientPort() int { return num(abi.FieldClientPort) }

// LocalIP is the proxy's address the client connected to.
func LocalIP() netip.Addr { return addr(abi.FieldLocalIP) }

// LocalPort is the proxy's port the client connected to.
func LocalPort() int { return num(abi.FieldLocalPort) }

// TLSVersion is "TLS1.2" or "TLS1.3", "" without TLS.
func TLSVersion() string { return str(abi.FieldTLSVersion) }

// TLSCipher is the IANA name of the TLS cipher suite, "" without TLS.
func TLSCipher() string { return str(abi.FieldTLSCipher) }

// SNI is the TLS server name the client asked for, "" without.
func SNI() string { return str(abi.FieldSNI) }

// AuthMethod is "plain", "login", "gssapi", "oauthbearer", "xoauth2",
// "cookie", "basic" or "none".
func AuthMethod() string { return str(abi.FieldAuthMethod) }

// Login is the login as the client gave it, or as a login hook rewrote it.
func Login() string { return str(abi.FieldLogin) }

// SetLogin rewrites the login; only the login hook may.
func SetLogin(v string) error { return Set(abi.FieldLogin, v) }

// Password is the client's password; only the login and route hooks see it.
func Password() string { return str(abi.FieldPassword) }

// OAuthToken is the bearer token of an OAUTHBEARER or XOAUTH2 login (ABI
// 1.1); a secret like the password: only the login and route hooks see it.
// Never log it.
func OAuthToken() string { return str(abi.FieldOAuthToken) }

// OAuthUser is the user an OAuth login claims: the OAUTHBEARER authzid or
// the XOAUTH2 user (ABI 1.1); "" for other logins.
func OAuthUser() string { return str(abi.FieldOAuthUser) }

// LoginAttempt counts login attempts in the session, from 1.
func LoginAttempt() int { return num(abi.FieldLoginAttempt) }

// Account is the canonical account; it defaults to the login.
func Account() string { return str(abi.FieldAccount) }

// SetAccount sets the canonical account (login and route hooks).
func SetAccount(v string) error { return Set(abi.FieldAccount, v) }

// AuthID is the authenticated identity of a GSSAPI login (the principal).
func AuthID() string { return str(abi.FieldAuthID) }

// ClientSuffix is the client suffix stripped from the login ("tb", "wm").
func ClientSuffix() string { return str(abi.FieldClientSuffix) }

// SetClientSuffix records a client suffix; only the login hook may.
func SetClientSuffix(v string) error { return Set(abi.FieldClientSuffix, v) }

// HTTPMethod is the HTTP request's method.
func HTTPMethod() string { return str(abi.FieldHTTPMethod) }

// HTTPHost is the request's Host header or :authority.
func HTTPHost() string { return str(abi.FieldHTTPHost) }

// SetHTTPHost rewrites the request's host (rewrite hook).
func SetHTTPHost(v string) error { return Set(abi.FieldHTTPHost, v) }

// HTTPPath is the request's escaped path, starting with "/".
func HTTPPath() string { return str(abi.FieldHTTPPath) }

// SetHTTPPath rewrites the request's escaped path (rewrite hook); it must
// start with "/".
func SetHTTPPath(v string) error { return Set(abi.FieldHTTPPath, v) }

// HTTPQuery is the request's raw query, without "?".
func HTTPQuery() string { return str(abi.FieldHTTPQuery) }

// SetHTTPQuery rewrites the request's raw query (rewrite hook).
func SetHTTPQuery(v string) error { return Set(abi.FieldHTTPQuery, v) }

// Header is the request header's value, several values joined with ", ";
// "" when absent. Use GetKey(abi.FieldHTTPHeader, name) to tell an empty
// header from a missing one.
func Header(name string) string { return keyed(abi.FieldHTTPHeader, name) }

// SetHeader replaces every value of a request header (rewrite hook).
func SetHeader(name, v string) error { return SetKey(abi.FieldHTTPHeader, name, v) }

// DeleteHeader removes a request header (rewrite hook).
func DeleteHeader(name string) error { return DeleteKey(abi.FieldHTTPHeader, name) }

// HeaderNames lists the request's header names.
func HeaderNames() []string {
	l, _ := GetList(abi.FieldHTTPHeaders)
	return l
}

// Cookie is the value of the request's cookie, "" when absent.
func Cookie(name string) string { return keyed(abi.FieldHTTPCookie, name) }

// IMAPID is one parameter the IMAP client sent with ID, "" when absent.
func IMAPID(param string) string { return keyed(abi.FieldIMAPID, param) }

// Upstreams lists the "host:port" upstreams, in the order they are tried.
func Upstreams() []string {
	l, _ := GetList(abi.FieldUpstreams)
	return l
}

// SetUpstreams chooses the upstreams, each "host:port", tried in order
// (route hook).
func SetUpstreams(hostports []string) error { return SetList(abi.FieldUpstreams, hostports) }

// Pool is the name of the web pool the request goes to (ABI 1.1, HTTP
// only): in the route hook the pool the configuration's routes chose, ""
// when none matched; in rewrite and route_decided the pool used, "" when
// upstreams were.
func Pool() string { return str(abi.FieldPool) }

// SetPool sends the request to the named pool of the web configuration
// (route hook, HTTP only) instead of naming upstream addresses; upstreams,
// when also set, win. A name the configuration does not have is answered
// 502 by the host.
func SetPool(name string) error { return Set(abi.FieldPool, name) }

// UpstreamLogin is the login used upstream when it differs from the
// client's.
func UpstreamLogin() string { return str(abi.FieldUpstreamLogin) }

// SetUpstreamLogin overrides the login used upstream (route hook).
func SetUpstreamLogin(v string) error { return Set(abi.FieldUpstreamLogin, v) }

// SetUpstreamPassword overrides the password used upstream (route hook).
func SetUpstreamPassword(v string) error { return Set(abi.FieldUpstreamPass, v) }

// CacheAlias reports whether login-to-account aliases should be cached.
func CacheAlias() bool { return str(abi.FieldCacheAlias) == "1" }

// SetCacheAlias asks for the login-to-account alias to be cached (route
// hook).
func SetCacheAlias(v bool) error { return Set(abi.FieldCacheAlias, flag(v)) }

// RouteCached reports whether the route came from a cache plugin.
func RouteCached() bool { return str(abi.FieldRouteCached) == "1" }

// SetRouteCached marks the route as coming from a cache (route hook).
func SetRouteCached(v bool) error { return Set(abi.FieldRouteCached, flag(v)) }

// PasswordVerified reports whether a plugin in this session verified the
// password with an authority that accepted it (ABI 1.1).
func PasswordVerified() bool { return str(abi.FieldPasswordVerified) == "1" }

// SetPasswordVerified vouches for the password (login and route hooks):
// call it only after an authority (a lookup service, a directory) accepted
// this very password. The host logs in upstream as a master user only for
// a password someone vouched for. Called from init, it declares that the
// plugin can vouch, which `postern check` looks for (ABI 1.1).
func SetPasswordVerified(v bool) error { return Set(abi.FieldPasswordVerified, flag(v)) }

// UpstreamAuth is how the host will log in upstream: "password" (the
// client's own password, checked by the mailbox server), "master" (as a
// master user: the password must be vouched for) or "" (HTTP) (ABI 1.1).
func UpstreamAuth() string { return str(abi.FieldUpstreamAuth) }

// Upstream is the "host:port" actually used; events only.
func Upstream() string { return str(abi.FieldUpstream) }

// Message is the refusal or error text; in the login_failed event, the
// upstream's text.
func Message() string { return str(abi.FieldMessage) }

// SetMessage sets the text the client sees with a refusal or temporary
// failure, or the operator sees when init refuses.
func SetMessage(v string) error { return Set(abi.FieldMessage, v) }

// SetDelay makes the host wait d before acting on the verdict (rounded up
// to whole milliseconds). A negative d is abi.ErrInvalid.
func SetDelay(d time.Duration) error {
	if d < 0 {
		return abi.ErrInvalid
	}
	return Set(abi.FieldDelayMS, itoa(millis(d)))
}

// Redirect makes the host answer the HTTP request with a redirect instead
// of proxying it (rewrite hook); code is 301, 302, 307 or 308. Return Done
// after it so no later plugin changes the answer.
func Redirect(code int, url string) error {
	if err := Set(abi.FieldRedirectCode, itoa(int64(code))); err != nil {
		return err
	}
	return Set(abi.FieldRedirectURL, url)
}
