package postern

import (
	"strings"

	"github.com/postern/postern/abi"
)

// The response hook's fields (ABI 1.1, hook/response). Outside that hook
// they read as empty and writes return abi.ErrNotAvailable.

// ResponseStatus is the upstream's HTTP status code (response hook).
func ResponseStatus() int { return num(abi.FieldResponseStatus) }

// ResponseHeader returns a response header, several values joined with
// ", "; "" when absent. Read Set-Cookie with [ResponseCookies].
func ResponseHeader(name string) string { return keyed(abi.FieldResponseHeader, name) }

// SetResponseHeader replaces every value of a response header (nginx
// add_header for a header the upstream did not send, or a replacement).
func SetResponseHeader(name, v string) error {
	return SetKey(abi.FieldResponseHeader, name, v)
}

// DeleteResponseHeader removes a response header (nginx
// proxy_hide_header); abi.ErrNotFound when the upstream did not send it.
func DeleteResponseHeader(name string) error { return DeleteKey(abi.FieldResponseHeader, name) }

// ResponseCookies returns the response's Set-Cookie headers, one string
// each (they are never joined: the host reads them as a list).
func ResponseCookies() []string {
	v, err := GetKey(abi.FieldResponseHeader, "Set-Cookie")
	if err != nil || v == "" {
		return nil
	}
	return strings.Split(v, "\x00")
}

// SetResponseCookies replaces the response's Set-Cookie headers; an
// empty list removes them. A value with a NUL, CR or LF is abi.ErrInvalid.
func SetResponseCookies(cookies []string) error {
	if len(cookies) == 0 {
		err := DeleteResponseHeader("Set-Cookie")
		if err == abi.ErrNotFound {
			return nil
		}
		return err
	}
	for _, c := range cookies {
		if c == "" || strings.IndexByte(c, 0) >= 0 {
			return abi.ErrInvalid
		}
	}
	return SetKey(abi.FieldResponseHeader, "Set-Cookie", strings.Join(cookies, "\x00"))
}

// RewriteLocation is nginx's proxy_redirect from to: when the response's
// Location header starts with from, that prefix is replaced by to. It
// reports whether it rewrote the header.
func RewriteLocation(from, to string) (bool, error) {
	loc := ResponseHeader("Location")
	out, ok := RewritePrefix(loc, from, to)
	if !ok {
		return false, nil
	}
	return true, SetResponseHeader("Location", out)
}

// RewritePrefix replaces the prefix from of s by to; ok is false (and s
// returned) when s does not start with from or from is empty.
func RewritePrefix(s, from, to string) (string, bool) {
	if from == "" || !strings.HasPrefix(s, from) {
		return s, false
	}
	return to + s[len(from):], true
}

// RewriteCookieDomain is nginx's proxy_cookie_domain from to for one
// Set-Cookie value: a Domain attribute equal to from (in any case, a
// leading dot ignored) becomes to, keeping the dot. Other values are
// returned unchanged.
func RewriteCookieDomain(setCookie, from, to string) string {
	return rewriteAttr(setCookie, "domain", func(v string) (string, bool) {
		dot := strings.HasPrefix(v, ".")
		if !strings.EqualFold(strings.TrimPrefix(v, "."), strings.TrimPrefix(from, ".")) {
			return v, false
		}
		to = strings.TrimPrefix(to, ".")
		if dot {
			to = "." + to
		}
		return to, true
	})
}

// RewriteCookiePath is nginx's proxy_cookie_path from to for one
// Set-Cookie value: a Path attribute starting with from has that prefix
// replaced by to.
func RewriteCookiePath(setCookie, from, to string) string {
	return rewriteAttr(setCookie, "path", func(v string) (string, bool) { return RewritePrefix(v, from, to) })
}

// rewriteAttr rewrites the value of the first attribute called name (in
// any case) of a Set-Cookie value; the name=value pair before the first
// ";" is the cookie itself, never an attribute.
func rewriteAttr(setCookie, name string, fn func(string) (string, bool)) string {
	i := strings.IndexByte(setCookie, ';')
	if i < 0 {
		return setCookie
	}
	var b strings.Builder
	b.WriteString(setCookie[:i])
	rest := setCookie[i:]
	done := false
	for rest != "" {
		// rest starts with ";"
		j := strings.IndexByte(rest[1:], ';')
		part := rest
		if j >= 0 {
			part = rest[:j+1]
		}
		rest = rest[len(part):]
		if !done {
			attr := part[1:]
			trimmed := strings.TrimLeft(attr, " \t")
			if k := strings.IndexByte(trimmed, '='); k >= 0 && strings.EqualFold(strings.TrimSpace(trimmed[:k]), name) {
				v := strings.TrimSpace(trimmed[k+1:])
				if nv, ok := fn(v); ok {
					done = true
					b.WriteString(";" + attr[:len(attr)-len(trimmed)] + trimmed[:k+1] + nv)
					continue
				}
			}
		}
		b.WriteString(part)
	}
	return b.String()
}
