package web

import "bytes"

// The fast path's parsers (fastpath.go). They read a request or response
// head in place, in the buffer it arrived in, and accept only the plain
// shapes the fast path forwards as they came: anything else (a body, an
// obsolete line fold, a header the full path edits, a byte net/http would
// refuse) makes them return false, and the request or response takes the
// full path, which parses it with net/http and answers what is wrong with
// it. So a false is never an error to the client; only a true must be
// exact.

// span is a range of a head's bytes: a header line not forwarded.
type span struct{ from, to int }

// maxDrops is how many header lines of one head the fast path leaves out
// (Connection, Keep-Alive, Proxy-Connection); a head with more takes the
// full path.
const maxDrops = 4

// fastRequest is a request head the fast path forwards: a GET or HEAD in
// origin form, HTTP/1.1, without a body, a login or a header the full path
// would edit. Its slices point into head.
type fastRequest struct {
	head    []byte // the request line through the blank line
	method  string // http.MethodGet or http.MethodHead
	line    int    // the end of the request line (past its CRLF)
	target  []byte // the request target, as sent
	pathLen int    // target[:pathLen] is the path; "?query" may follow
	host    []byte // the Host value
	authz   []byte // the Authorization value (only with allowAuth); nil: none
	cookie  []byte // the Cookie line that mentions the auth cookie (only with allowAuth); nil: none
	hopLines
}

// hopLines are the hop-by-hop lines of a head (Connection, Keep-Alive,
// Proxy-Connection), which the fast path leaves out.
type hopLines struct {
	drop  [maxDrops]span
	ndrop int
	close bool // Connection: close
}

// take leaves out the line head[from:to], a field of kind fieldConnection,
// fieldKeepAlive or fieldProxyConnection. It is false for what the fast
// path does not take: a Connection token other than keep-alive and close
// (it names a header the full path removes), more than maxDrops lines.
func (h *hopLines) take(kind int, value []byte, from, to int) bool {
	if kind == fieldConnection {
		close, ok := connectionTokens(value)
		if !ok {
			return false
		}
		h.close = h.close || close
	}
	if h.ndrop == maxDrops {
		return false
	}
	h.drop[h.ndrop] = span{from, to}
	h.ndrop++
	return true
}

// parseFastRequest reads head (which ends with the blank line) into fr
// and reports whether the fast path may forward it. cookie is the auth
// cookie's name: a Cookie line that mentions it takes the full path (it
// may carry a login). With allowAuth, one Authorization line is taken
// into fr.authz and one Cookie line that mentions the auth cookie into
// fr.cookie (the fast path serves them only with a kept decision,
// fastreuse.go); without allowAuth, or with two such lines, the full path
// takes the head.
func parseFastRequest(head []byte, cookie string, allowAuth bool, fr *fastRequest) bool {
	*fr = fastRequest{head: head}
	var i int
	switch {
	case bytes.HasPrefix(head, []byte("GET /")):
		fr.method, i = "GET", 4
	case bytes.HasPrefix(head, []byte("HEAD /")):
		fr.method, i = "HEAD", 5
	default:
		return false
	}
	end := bytes.IndexByte(head[i:], ' ')
	if end < 0 {
		return false
	}
	fr.target = head[i : i+end]
	if !fastTarget(fr.target, &fr.pathLen) {
		return false
	}
	i += end
	if !bytes.HasPrefix(head[i:], []byte(" HTTP/1.1\r\n")) {
		return false
	}
	i += len(" HTTP/1.1\r\n")
	fr.line = i
	for n := 0; ; n++ {
		if n > 100 {
			return false // net/http takes more; the full path reads them
		}
		name, value, next, ok := nextField(head, i)
		if !ok {
			return false
		}
		if name == nil {
			break // the blank line
		}
		switch kind := fieldName(name); kind {
		case fieldHost:
			if fr.host != nil || !fastHost(value) {
				return false
			}
			fr.host = value
		case fieldConnection, fieldKeepAlive, fieldProxyConnection:
			if !fr.take(kind, value, i, next) {
				return false
			}
		case fieldCookie:
			if cookie != "" && bytes.Contains(value, []byte(cookie)) {
				if !allowAuth || fr.cookie != nil {
					return false
				}
				fr.cookie = value
			}
		case fieldAuthorization:
			if !allowAuth || fr.authz != nil {
				return false
			}
			fr.authz = value
		case fieldOther, fieldDate, fieldContentType:
		default:
			return false // a body, a login, an upgrade, or a header the full path edits
		}
		i = next
	}
	return fr.host != nil
}

// fastTarget reports whether t is an origin-form target whose path the
// full path would forward and match byte for byte as it is: no percent
// escape (the route match reads the decoded path), no dot segment or
// doubled slash (it cleans those), no fragment; the query is any visible
// ASCII. pathLen is set to the path's length.
func fastTarget[T string | []byte](t T, pathLen *int) bool {
	if len(t) == 0 || t[0] != '/' {
		return false
	}
	n := len(t) // the path's end
	for j := 0; j < len(t); j++ {
		c := t[j]
		if c == '?' && n == len(t) {
			n = j
			continue
		}
		if j > n {
			if c <= ' ' || c >= 0x7f || c == '#' {
				return false
			}
			continue
		}
		if !pathByte[c] {
			return false
		}
		if c == '/' && j+1 < len(t) && (t[j+1] == '/' || t[j+1] == '.') {
			return false
		}
	}
	*pathLen = n
	return true
}

// pathByte: the bytes a path may hold unescaped (RFC 3986 pchar and '/',
// without '%').
var pathByte = alnumAnd("-._~!$&'()*+,;=:@/")

// fastHost reports whether a Host value is a plain name or address with
// an optional port: letters, digits, '-', '.', '_', ':', '[' and ']'.
func fastHost[T string | []byte](v T) bool {
	if len(v) == 0 || len(v) > 255 {
		return false
	}
	for j := 0; j < len(v); j++ {
		c := v[j]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case c == '-' || c == '.' || c == '_' || c == ':' || c == '[' || c == ']':
		default:
			return false
		}
	}
	return true
}

// connectionTokens reads a Connection value: only keep-alive and close
// (either case) are taken; close reports a close. Any other token names a
// header the full path removes.
func connectionTokens(v []byte) (close, ok bool) {
	for len(v) > 0 {
		tok := v
		if j := bytes.IndexByte(v, ','); j >= 0 {
			tok, v = v[:j], v[j+1:]
		} else {
			v = nil
		}
		tok = bytes.Trim(tok, " \t")
		switch {
		case len(tok) == 0:
		case bytes.EqualFold(tok, []byte("close")):
			close = true
		case bytes.EqualFold(tok, []byte("keep-alive")):
		default:
			return false, false
		}
	}
	return close, true
}

// fastResponse is a backend's response head the fast path relays: a
// final status, HTTP/1.1, framed by Content-Length (or with no body).
type fastResponse struct {
	size     int // the head's length, through the blank line
	code     int
	line     int   // the end of the status line
	clen     int64 // Content-Length; -1 none
	date     bool  // it has a Date
	hopLines       // close: the backend closes the connection after it
}

// parseFastResponse reads head (which ends with the blank line) into fr
// and reports whether the fast path may relay it; head, the request's
// method, says whether a body follows. Anything else (1xx, chunked, a
// body that ends at the close, HTTP/1.0, a header the full path removes,
// an event stream, whose events are flushed one by one) goes through
// net/http's parser.
func parseFastResponse(head []byte, headReq bool, fr *fastResponse) bool {
	*fr = fastResponse{size: len(head), clen: -1}
	if len(head) < 14 || !bytes.HasPrefix(head, []byte("HTTP/1.1 ")) {
		return false
	}
	code := 0
	for _, c := range head[9:12] {
		if c < '0' || c > '9' {
			return false
		}
		code = code*10 + int(c-'0')
	}
	if code < 200 || code > 599 || (head[12] != ' ' && head[12] != '\r') {
		return false
	}
	fr.code = code
	eol := bytes.Index(head, []byte("\r\n"))
	for _, c := range head[12:eol] {
		if c < ' ' && c != '\t' || c == 0x7f {
			return false
		}
	}
	i := eol + 2
	fr.line = i
	for n := 0; ; n++ {
		if n > 200 {
			return false
		}
		name, value, next, ok := nextField(head, i)
		if !ok {
			return false
		}
		if name == nil {
			break
		}
		switch kind := fieldName(name); kind {
		case fieldContentLength:
			if fr.clen >= 0 {
				return false
			}
			n, ok := parseLength(value)
			if !ok {
				return false
			}
			fr.clen = n
		case fieldConnection, fieldKeepAlive, fieldProxyConnection:
			if !fr.take(kind, value, i, next) {
				return false
			}
		case fieldDate:
			fr.date = true
		case fieldContentType:
			// An event stream's events must reach the client as they
			// come: the full path's writer flushes each one.
			if len(value) >= len("text/event-stream") && bytes.EqualFold(value[:len("text/event-stream")], []byte("text/event-stream")) {
				return false
			}
		case fieldOther, fieldHost, fieldCookie:
		default:
			return false
		}
		i = next
	}
	if headReq || code == 204 || code == 304 {
		return true // no body, whatever the length says
	}
	return fr.clen >= 0
}

// parseLength reads a Content-Length value: 1 to 18 digits.
func parseLength(v []byte) (int64, bool) {
	if len(v) == 0 || len(v) > 18 {
		return 0, false
	}
	var n int64
	for _, c := range v {
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int64(c-'0')
	}
	return n, true
}

// whole reports whether buffered bytes hold the whole response: its head
// and its body (none for a HEAD request, a 204 or a 304).
func (fr *fastResponse) whole(buffered int, headReq bool) bool {
	n := int64(fr.size)
	if !headReq && bodyAllowed(fr.code) {
		n += fr.clen
	}
	return n <= int64(buffered)
}

// nextField reads the header line at head[i:]: its name and value (the
// value without surrounding spaces) and where the next line starts. At the
// blank line name is nil. ok is false for what the fast path does not
// take: an obsolete line fold, a bare LF, a name that is not a token, a
// control character in the value, no blank line.
func nextField(head []byte, i int) (name, value []byte, next int, ok bool) {
	rest := head[i:]
	if len(rest) >= 2 && rest[0] == '\r' && rest[1] == '\n' {
		return nil, nil, i + 2, true
	}
	colon := -1
	for j, c := range rest {
		if c == ':' {
			colon = j
			break
		}
		if !tokenByte[c] {
			return nil, nil, 0, false
		}
	}
	if colon <= 0 {
		return nil, nil, 0, false
	}
	name = rest[:colon]
	v := rest[colon+1:]
	end := -1
	for j, c := range v {
		if c == '\r' {
			end = j
			break
		}
		if c < ' ' && c != '\t' || c == 0x7f {
			return nil, nil, 0, false
		}
	}
	if end < 0 || end+1 >= len(v) || v[end+1] != '\n' {
		return nil, nil, 0, false
	}
	value = bytes.Trim(v[:end], " \t")
	return name, value, i + colon + 1 + end + 2, true
}

// tokenByte: the bytes of an HTTP token (RFC 9110 tchar).
var tokenByte = alnumAnd("!#$%&'*+-.^_`|~")

// alnumAnd is a byte table of the ASCII letters and digits and extra.
func alnumAnd(extra string) (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range extra {
		t[c] = true
	}
	return t
}

// The header names the parsers tell apart.
const (
	fieldOther = iota
	fieldHost
	fieldConnection
	fieldKeepAlive
	fieldProxyConnection
	fieldCookie
	fieldContentLength
	fieldDate
	fieldContentType
	fieldAuthorization
	fieldRefused // a header that sends a head down the full path
)

// fieldNames maps a lower-case name to its kind. Refused: bodies and
// their framing, logins, upgrades and expectations, the hop-by-hop
// headers the full path removes, and the forwarding headers it rewrites.
var fieldNames = map[string]int{
	"host":                fieldHost,
	"connection":          fieldConnection,
	"keep-alive":          fieldKeepAlive,
	"proxy-connection":    fieldProxyConnection,
	"cookie":              fieldCookie,
	"content-length":      fieldContentLength,
	"date":                fieldDate,
	"content-type":        fieldContentType,
	"transfer-encoding":   fieldRefused,
	"expect":              fieldRefused,
	"upgrade":             fieldRefused,
	"te":                  fieldRefused,
	"trailer":             fieldRefused,
	"authorization":       fieldAuthorization,
	"proxy-authorization": fieldRefused,
	"proxy-authenticate":  fieldRefused,
	"forwarded":           fieldRefused,
	"x-forwarded-for":     fieldRefused,
	"x-forwarded-host":    fieldRefused,
	"x-forwarded-proto":   fieldRefused,
	"x-real-ip":           fieldRefused,
}

// fieldName classifies a header name, in any case, without allocating.
func fieldName(name []byte) int {
	if len(name) > len("proxy-authorization") {
		return fieldOther
	}
	var buf [32]byte
	for j, c := range name {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		buf[j] = c
	}
	if k, ok := fieldNames[string(buf[:len(name)])]; ok {
		return k
	}
	return fieldOther
}
