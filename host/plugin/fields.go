package plugin

import (
	"bytes"
	"maps"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/abi"
)

// Fields is the state of one login or request as the hooks see it. A front
// end fills it, passes the same value through the login, throttle, route
// (and, for HTTP, rewrite) chains, and reads what the plugins decided.
// Plugins read and write it only through the ABI's field functions, under
// the access table of [abi.Access].
//
// A Fields value must not be shared by two concurrent hook calls.
type Fields struct {
	Protocol     string         // "imap", "pop3", "http"
	Listener     string         // listener name from config
	SessionID    string         // session or request id, as logged
	Client       netip.AddrPort // the client (after PROXY protocol, if trusted)
	Local        netip.AddrPort // the proxy's address the client connected to
	TLSVersion   string         // "", "TLS1.2", "TLS1.3"
	TLSCipher    string         // IANA cipher suite name
	SNI          string         // TLS server name
	AuthMethod   string         // "plain", "login", "gssapi", "oauthbearer", "xoauth2", "cookie", "basic", "none"
	Login        string         // the login as given; rewritten by login plugins
	Password     string         // never logged; readable in login and route hooks only
	LoginAttempt int            // 1 for the first attempt of the session
	Account      string         // canonical account; defaults to Login when empty
	AuthID       string         // authenticated identity (GSSAPI principal)
	ClientSuffix string         // a client suffix stripped from the login ("tb")
	IMAPID       map[string]string

	// OAuthToken is the bearer token of an OAUTHBEARER or XOAUTH2 login:
	// never logged; readable in login and route hooks only, like Password.
	OAuthToken string
	// OAuthUser is the user an OAuth login claims (authzid or user=).
	OAuthUser string

	// HTTP is nil for mail sessions.
	HTTP *HTTPFields

	Upstreams        []string // "host:port", tried in order
	UpstreamLogin    string   // overrides Login upstream when set
	UpstreamPassword string   // overrides Password upstream when set
	CacheAlias       bool
	RouteCached      bool
	Upstream         string // in events: the upstream actually used

	// PasswordVerified is set by a plugin that checked Password with an
	// authority that accepted it (abi.FieldPasswordVerified). A front end
	// that logs in upstream as a master user requires it.
	PasswordVerified bool
	// UpstreamAuth is how the front end will log in upstream
	// (abi.UpstreamAuthPassword, abi.UpstreamAuthMaster, "" for HTTP);
	// plugins read it, never write it.
	UpstreamAuth string

	Message string        // client-facing refusal text, or event text
	Delay   time.Duration // wait this long before acting on the verdict

	// only holds the request filters (and the decision reuse) an init
	// writes; nil outside init.
	only *filter
}

// HTTPFields are the request fields of an HTTP session.
type HTTPFields struct {
	Method       string
	Host         string
	Path         string
	Query        string
	Header       http.Header
	RedirectCode int
	RedirectURL  string
	// Pool is the web pool the request goes to (abi.FieldPool): the
	// front end fills in its routes' choice, a route plugin may name
	// another.
	Pool string

	// The upstream's response, for the response hook (ABI 1.1): its
	// status and headers. RespHeader is nil until a response arrived;
	// plugins edit it in place (the front end then sends what it holds).
	Status     int
	RespHeader http.Header
}

// EffectiveAccount returns Account, or Login when no plugin set one.
func (f *Fields) EffectiveAccount() string {
	if f.Account != "" {
		return f.Account
	}
	return f.Login
}

// appendField appends the encoded value of a plain field to b. It returns
// abi error codes for fields that do not apply to this session.
func (f *Fields) appendField(b []byte, id abi.Field) ([]byte, abi.Err) {
	if id.IsFilter() || id == abi.FieldReuseMS {
		if f.only == nil {
			return b, abi.ErrNotAvailable
		}
		if id == abi.FieldReuseMS {
			return strconv.AppendInt(b, f.only.reuseMS, 10), 0
		}
		return f.only.appendValue(b, id), 0
	}
	switch id {
	case abi.FieldProtocol:
		return append(b, f.Protocol...), 0
	case abi.FieldListener:
		return append(b, f.Listener...), 0
	case abi.FieldSessionID:
		return append(b, f.SessionID...), 0
	case abi.FieldClientIP:
		return appendAddr(b, f.Client.Addr()), 0
	case abi.FieldClientPort:
		return strconv.AppendUint(b, uint64(f.Client.Port()), 10), 0
	case abi.FieldLocalIP:
		return appendAddr(b, f.Local.Addr()), 0
	case abi.FieldLocalPort:
		return strconv.AppendUint(b, uint64(f.Local.Port()), 10), 0
	case abi.FieldTLSVersion:
		return append(b, f.TLSVersion...), 0
	case abi.FieldTLSCipher:
		return append(b, f.TLSCipher...), 0
	case abi.FieldSNI:
		return append(b, f.SNI...), 0
	case abi.FieldAuthMethod:
		return append(b, f.AuthMethod...), 0
	case abi.FieldLogin:
		return append(b, f.Login...), 0
	case abi.FieldPassword:
		return append(b, f.Password...), 0
	case abi.FieldOAuthToken:
		return append(b, f.OAuthToken...), 0
	case abi.FieldOAuthUser:
		return append(b, f.OAuthUser...), 0
	case abi.FieldLoginAttempt:
		return strconv.AppendInt(b, int64(f.LoginAttempt), 10), 0
	case abi.FieldAccount:
		return append(b, f.EffectiveAccount()...), 0
	case abi.FieldAuthID:
		return append(b, f.AuthID...), 0
	case abi.FieldClientSuffix:
		return append(b, f.ClientSuffix...), 0
	case abi.FieldUpstreams:
		for i, u := range f.Upstreams {
			if i > 0 {
				b = append(b, 0)
			}
			b = append(b, u...)
		}
		return b, 0
	case abi.FieldUpstreamLogin:
		return append(b, f.UpstreamLogin...), 0
	case abi.FieldUpstreamPass:
		return append(b, f.UpstreamPassword...), 0
	case abi.FieldCacheAlias:
		return appendBool(b, f.CacheAlias), 0
	case abi.FieldRouteCached:
		return appendBool(b, f.RouteCached), 0
	case abi.FieldPasswordVerified:
		return appendBool(b, f.PasswordVerified), 0
	case abi.FieldUpstreamAuth:
		return append(b, f.UpstreamAuth...), 0
	case abi.FieldUpstream:
		return append(b, f.Upstream...), 0
	case abi.FieldMessage:
		return append(b, f.Message...), 0
	case abi.FieldDelayMS:
		return strconv.AppendInt(b, f.Delay.Milliseconds(), 10), 0
	}
	h := f.HTTP
	if h == nil {
		return b, abi.ErrNotAvailable
	}
	switch id {
	case abi.FieldHTTPMethod:
		return append(b, h.Method...), 0
	case abi.FieldHTTPHost:
		return append(b, h.Host...), 0
	case abi.FieldHTTPPath:
		return append(b, h.Path...), 0
	case abi.FieldHTTPQuery:
		return append(b, h.Query...), 0
	case abi.FieldHTTPHeaders:
		for i, name := range slices.Sorted(maps.Keys(h.Header)) {
			if i > 0 {
				b = append(b, 0)
			}
			b = append(b, name...)
		}
		return b, 0
	case abi.FieldRedirectCode:
		if h.RedirectCode == 0 {
			return b, 0
		}
		return strconv.AppendInt(b, int64(h.RedirectCode), 10), 0
	case abi.FieldRedirectURL:
		return append(b, h.RedirectURL...), 0
	case abi.FieldPool:
		return append(b, h.Pool...), 0
	case abi.FieldResponseStatus:
		if h.Status == 0 {
			return b, abi.ErrNotAvailable
		}
		return strconv.AppendInt(b, int64(h.Status), 10), 0
	}
	return b, abi.ErrNotAvailable
}

// setField decodes and stores a plain field. Access has been checked.
func (f *Fields) setField(id abi.Field, v []byte) abi.Err {
	if id.IsFilter() || id == abi.FieldReuseMS {
		if f.only == nil {
			return abi.ErrNotAvailable
		}
		if id == abi.FieldReuseMS {
			// Decimal digits only, as every decimal field: no sign.
			if len(v) == 0 || v[0] < '0' || v[0] > '9' {
				return abi.ErrInvalid
			}
			ms, err := strconv.ParseUint(string(v), 10, 32)
			if err != nil || ms > abi.MaxReuseMS {
				return abi.ErrInvalid
			}
			f.only.reuseMS = int64(ms)
			return 0
		}
		return f.only.set(id, v)
	}
	switch id {
	case abi.FieldLogin:
		f.Login = string(v)
	case abi.FieldAccount:
		f.Account = string(v)
	case abi.FieldClientSuffix:
		f.ClientSuffix = string(v)
	case abi.FieldUpstreams:
		list, err := parseUpstreams(v)
		if err != 0 {
			return err
		}
		f.Upstreams = list
	case abi.FieldUpstreamLogin:
		f.UpstreamLogin = string(v)
	case abi.FieldUpstreamPass:
		f.UpstreamPassword = string(v)
	case abi.FieldCacheAlias, abi.FieldRouteCached, abi.FieldPasswordVerified:
		b, ok := parseBool(v)
		if !ok {
			return abi.ErrInvalid
		}
		switch id {
		case abi.FieldCacheAlias:
			f.CacheAlias = b
		case abi.FieldRouteCached:
			f.RouteCached = b
		default:
			f.PasswordVerified = b
		}
	case abi.FieldMessage:
		if bytes.ContainsAny(v, "\r\n") {
			return abi.ErrInvalid // the message goes on one protocol line
		}
		f.Message = string(v)
	case abi.FieldDelayMS:
		ms, err := strconv.ParseUint(string(v), 10, 32)
		if err != nil || ms > uint64(maxDelay/time.Millisecond) {
			return abi.ErrInvalid
		}
		f.Delay = time.Duration(ms) * time.Millisecond
	default:
		return f.setHTTPField(id, v)
	}
	return 0
}

func (f *Fields) setHTTPField(id abi.Field, v []byte) abi.Err {
	h := f.HTTP
	if h == nil {
		return abi.ErrNotAvailable
	}
	s := string(v)
	switch id {
	case abi.FieldHTTPHost:
		if s == "" || strings.ContainsAny(s, " /\r\n\t") {
			return abi.ErrInvalid
		}
		h.Host = s
	case abi.FieldHTTPPath:
		if !strings.HasPrefix(s, "/") || strings.ContainsAny(s, " \r\n\t?#") {
			return abi.ErrInvalid
		}
		h.Path = s
	case abi.FieldHTTPQuery:
		if strings.ContainsAny(s, " \r\n\t#") {
			return abi.ErrInvalid
		}
		h.Query = s
	case abi.FieldRedirectCode:
		code, err := strconv.Atoi(s)
		if err != nil || (code != 301 && code != 302 && code != 303 && code != 307 && code != 308) {
			return abi.ErrInvalid
		}
		h.RedirectCode = code
	case abi.FieldRedirectURL:
		if s == "" || strings.ContainsAny(s, " \r\n\t") {
			return abi.ErrInvalid
		}
		h.RedirectURL = s
	case abi.FieldPool:
		if !validPoolName(s) {
			return abi.ErrInvalid
		}
		h.Pool = s
	default:
		return abi.ErrNotAvailable
	}
	return 0
}

// getKey returns one key of a keyed field.
func (f *Fields) getKey(id abi.Field, key string) (string, abi.Err) {
	switch id {
	case abi.FieldIMAPID:
		if f.IMAPID == nil {
			return "", abi.ErrNotFound
		}
		for k, v := range f.IMAPID {
			if strings.EqualFold(k, key) {
				return v, 0
			}
		}
		return "", abi.ErrNotFound
	case abi.FieldHTTPHeader:
		if f.HTTP == nil {
			return "", abi.ErrNotAvailable
		}
		vs := f.HTTP.Header.Values(key)
		if len(vs) == 0 {
			return "", abi.ErrNotFound
		}
		if len(vs) == 1 {
			return vs[0], 0
		}
		return strings.Join(vs, ", "), 0
	case abi.FieldResponseHeader:
		if f.HTTP == nil || f.HTTP.RespHeader == nil {
			return "", abi.ErrNotAvailable
		}
		vs := f.HTTP.RespHeader.Values(key)
		if len(vs) == 0 {
			return "", abi.ErrNotFound
		}
		if len(vs) == 1 {
			return vs[0], 0
		}
		if isSetCookie(key) {
			return strings.Join(vs, "\x00"), 0 // cookies do not combine (RFC 6265 3)
		}
		return strings.Join(vs, ", "), 0
	case abi.FieldHTTPCookie:
		if f.HTTP == nil {
			return "", abi.ErrNotAvailable
		}
		for _, line := range f.HTTP.Header.Values("Cookie") {
			cs, err := http.ParseCookie(line)
			if err != nil {
				continue
			}
			for _, c := range cs {
				if c.Name == key {
					return c.Value, 0
				}
			}
		}
		return "", abi.ErrNotFound
	}
	return "", abi.ErrNotAvailable
}

func (f *Fields) setKey(id abi.Field, key, val string, del bool) abi.Err {
	if id == abi.FieldResponseHeader {
		return f.setRespHeader(key, val, del)
	}
	if id != abi.FieldHTTPHeader {
		return abi.ErrReadOnly
	}
	if f.HTTP == nil {
		return abi.ErrNotAvailable
	}
	if !validHeaderName(key) || strings.ContainsAny(val, "\r\n\x00") {
		return abi.ErrInvalid
	}
	if del {
		if f.HTTP.Header.Values(key) == nil {
			return abi.ErrNotFound
		}
		f.HTTP.Header.Del(key)
		return 0
	}
	if f.HTTP.Header == nil {
		f.HTTP.Header = http.Header{}
	}
	f.HTTP.Header.Set(key, val)
	return 0
}

// setRespHeader sets or deletes a response header. Set-Cookie takes a
// list: each NUL-separated item is one Set-Cookie header. The headers
// that frame the response on the connection are the host's: a plugin
// that set Content-Length or Transfer-Encoding could cut or hang the
// client's response.
func (f *Fields) setRespHeader(key, val string, del bool) abi.Err {
	if f.HTTP == nil || f.HTTP.RespHeader == nil {
		return abi.ErrNotAvailable
	}
	if !validHeaderName(key) || strings.ContainsAny(val, "\r\n") {
		return abi.ErrInvalid
	}
	if framingHeader(key) {
		return abi.ErrReadOnly
	}
	h := f.HTTP.RespHeader
	if del {
		if h.Values(key) == nil {
			return abi.ErrNotFound
		}
		h.Del(key)
		return 0
	}
	if !strings.Contains(val, "\x00") {
		h.Set(key, val)
		return 0
	}
	if !isSetCookie(key) {
		return abi.ErrInvalid
	}
	vs := strings.Split(val, "\x00")
	for _, v := range vs {
		if v == "" {
			return abi.ErrInvalid // "a\0" or "a\0\0b", as for every list
		}
	}
	h[http.CanonicalHeaderKey(key)] = vs
	return 0
}

func isSetCookie(key string) bool { return len(key) == 10 && strings.EqualFold(key, "Set-Cookie") }

// framingHeaders are the response headers a plugin may read but not
// write: the message framing and the hop-by-hop headers (RFC 9110 7.6.1).
var framingHeaders = []string{"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
	"Proxy-Connection", "Te", "Trailer", "Upgrade"}

func framingHeader(key string) bool {
	for _, h := range framingHeaders {
		if strings.EqualFold(key, h) {
			return true
		}
	}
	return false
}

// maxDelay bounds FieldDelayMS: a plugin cannot park a session for longer.
const maxDelay = abi.MaxDelayMS * time.Millisecond

func parseUpstreams(v []byte) ([]string, abi.Err) {
	if len(v) == 0 {
		return nil, 0
	}
	parts := bytes.Split(v, []byte{0})
	out := make([]string, 0, len(parts))
	for _, p := range parts {
		host, port, err := net.SplitHostPort(string(p))
		if err != nil || host == "" || strings.ContainsAny(host, " \t\r\n/") {
			return nil, abi.ErrInvalid
		}
		n, err := strconv.ParseUint(port, 10, 16)
		if err != nil || n == 0 {
			return nil, abi.ErrInvalid
		}
		out = append(out, string(p))
	}
	return out, 0
}

func appendAddr(b []byte, a netip.Addr) []byte {
	if !a.IsValid() {
		return b
	}
	return a.Unmap().AppendTo(b)
}

func appendBool(b []byte, v bool) []byte {
	if v {
		return append(b, '1')
	}
	return append(b, '0')
}

func parseBool(v []byte) (bool, bool) {
	switch string(v) {
	case "1", "true":
		return true, true
	case "0", "false", "":
		return false, true
	}
	return false, false
}

// validPoolName accepts "" (no pool named) and printable text without
// spaces, at most 256 bytes; whether the pool exists is the front end's
// to say.
func validPoolName(s string) bool {
	if len(s) > 256 {
		return false
	}
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

func validHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// snapshot returns a copy of f that restore can put back, so that a plugin
// that fails after writing some fields leaves no partial decision behind.
// The header map is shared, not copied: snapshotHeader copies it before
// the first header write, so calls that write no header pay nothing.
func (f *Fields) snapshot() Fields {
	s := *f
	if f.HTTP != nil {
		h := *f.HTTP
		s.HTTP = &h
	}
	return s
}

// snapshotHeader gives a snapshot its own copy of the header map.
func (s *Fields) snapshotHeader() {
	if s.HTTP != nil {
		s.HTTP.Header = s.HTTP.Header.Clone()
	}
}

// snapshotRespHeader gives a snapshot its own copy of the response
// header map.
func (s *Fields) snapshotRespHeader() {
	if s.HTTP != nil {
		s.HTTP.RespHeader = s.HTTP.RespHeader.Clone()
	}
}

func (f *Fields) restore(s *Fields) {
	h := f.HTTP
	*f = *s
	if h != nil && s.HTTP != nil {
		*h = *s.HTTP // keep the caller's *HTTPFields pointer valid
		f.HTTP = h
	}
}
