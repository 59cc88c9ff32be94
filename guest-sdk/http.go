package postern

import (
	"sort"
	"strings"
	"time"

	"github.com/postern/postern/abi"
)

// HTTPHeader is a set of HTTP header fields keyed by canonical name
// ("Content-Type"), like net/http's Header, which the SDK does not use
// because net/http is too large for a plugin.
type HTTPHeader map[string][]string

// Get returns the first value of the named header, "" when absent.
func (h HTTPHeader) Get(name string) string {
	if v := h[CanonicalHeaderKey(name)]; len(v) > 0 {
		return v[0]
	}
	return ""
}

// Values returns every value of the named header.
func (h HTTPHeader) Values(name string) []string { return h[CanonicalHeaderKey(name)] }

// Set replaces the values of the named header with v.
func (h HTTPHeader) Set(name, v string) { h[CanonicalHeaderKey(name)] = []string{v} }

// Add appends v to the values of the named header.
func (h HTTPHeader) Add(name, v string) {
	k := CanonicalHeaderKey(name)
	h[k] = append(h[k], v)
}

// Del removes the named header.
func (h HTTPHeader) Del(name string) { delete(h, CanonicalHeaderKey(name)) }

// CanonicalHeaderKey returns name with the first letter and every letter
// after a hyphen upper case and the rest lower case ("x-test" becomes
// "X-Test"). A name with a byte not allowed in a header name is returned
// unchanged, as net/textproto does.
func CanonicalHeaderKey(name string) string {
	upper, change := true, false
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !isToken(c) {
			return name
		}
		if upper && 'a' <= c && c <= 'z' || !upper && 'A' <= c && c <= 'Z' {
			change = true
		}
		upper = c == '-'
	}
	if !change {
		return name
	}
	return canonical(name)
}

func canonical(name string) string {
	b := []byte(name)
	upper := true
	for i, c := range b {
		if upper && 'a' <= c && c <= 'z' {
			b[i] = c - 'a' + 'A'
		} else if !upper && 'A' <= c && c <= 'Z' {
			b[i] = c - 'A' + 'a'
		}
		upper = c == '-'
	}
	return string(b)
}

func isToken(c byte) bool {
	return c > ' ' && c < 0x7f && !strings.ContainsRune(`"(),/:;<=>?@[\]{}`, rune(c))
}

// HTTPRequest is an outbound HTTP request for [HTTPDo].
type HTTPRequest struct {
	// Method defaults to "GET".
	Method string
	// URL is absolute; its destination must be in the plugin's allowlist.
	URL string
	// Header holds the request headers; names and values must not contain
	// CR or LF.
	Header HTTPHeader
	// Body is sent as is, at most abi.MaxHTTPBody bytes.
	Body []byte
	// Timeout bounds the call, rounded up to whole milliseconds; 0 leaves
	// it to the host's default for the plugin.
	Timeout time.Duration
}

// HTTPResponse is the answer to an [HTTPDo].
type HTTPResponse struct {
	// Status is the HTTP status code, 100..599.
	Status int
	// Header holds the response headers by canonical name.
	Header HTTPHeader
	// Body is the response body, up to the plugin's response limit.
	Body []byte
}

// HTTPDo performs one outbound HTTP request synchronously. Errors are
// abi.ErrDenied (destination outside the plugin's allowlist; see
// HasFeature(abi.FeatureHTTPCall)), abi.ErrTimeout, abi.ErrUnavailable
// and abi.ErrTooLarge from the host, and abi.ErrInvalid for a header that
// cannot be encoded. Like a key-value miss, an unreachable service is best
// treated as "no opinion" (return Continue) or a TempFail, not a refusal.
func HTTPDo(req *HTTPRequest) (*HTTPResponse, error) {
	method := req.Method
	if method == "" {
		method = "GET"
	}
	headers, err := encodeHeader(req.Header)
	if err != nil {
		return nil, err
	}
	timeout := int32(0)
	if req.Timeout > 0 {
		timeout = int32(millis(req.Timeout))
	}
	st := hostHTTPCall(bs(method), bs(req.URL), headers, req.Body, timeout)
	if st < 0 {
		return nil, errOf(st)
	}
	resp := &HTTPResponse{Status: int(st)}
	raw, err := readString(func(buf []byte) int32 { return hostHTTPResponseGet(abi.HTTPPartHeaders, buf) })
	if err != nil {
		return nil, err
	}
	resp.Header = ParseHTTPHeader(raw)
	if resp.Body, err = readBytes(func(buf []byte) int32 { return hostHTTPResponseGet(abi.HTTPPartBody, buf) }); err != nil {
		return nil, err
	}
	return resp, nil
}

// encodeHeader writes h as "Name: value\r\n" lines, names sorted so the
// bytes are deterministic.
func encodeHeader(h HTTPHeader) ([]byte, error) {
	if len(h) == 0 {
		return nil, nil
	}
	names := make([]string, 0, len(h))
	for k := range h {
		names = append(names, k)
	}
	sort.Strings(names)
	var b []byte
	for _, k := range names {
		if k == "" || strings.ContainsAny(k, "\r\n:") {
			return nil, abi.ErrInvalid
		}
		for _, v := range h[k] {
			if strings.ContainsAny(v, "\r\n") {
				return nil, abi.ErrInvalid
			}
			b = append(b, k...)
			b = append(b, ": "...)
			b = append(b, v...)
			b = append(b, "\r\n"...)
		}
	}
	return b, nil
}

// ParseHTTPHeader parses "Name: value\r\n" lines (the ABI's header encoding)
// into an HTTPHeader. Lines without a colon are skipped; a bare "\n" ends a
// line too.
func ParseHTTPHeader(raw string) HTTPHeader {
	h := HTTPHeader{}
	for raw != "" {
		var line string
		line, raw, _ = strings.Cut(raw, "\n")
		line = strings.TrimSuffix(line, "\r")
		name, v, ok := strings.Cut(line, ":")
		if !ok || name == "" {
			continue
		}
		h.Add(strings.TrimSpace(name), strings.TrimSpace(v))
	}
	return h
}
