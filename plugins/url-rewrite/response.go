package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"

	postern "github.com/postern/postern/guest-sdk"
)

// Response rules (ABI 1.1 response hook): nginx's proxy_redirect,
// add_header, proxy_hide_header, proxy_cookie_domain and
// proxy_cookie_path, applied to the upstream's response headers before the
// client gets a byte.

type rawResponseRule struct {
	Host         string            `json:"host"`
	Path         string            `json:"path"`
	Status       []int             `json:"status"`
	Location     []rawFromTo       `json:"location"`
	SetHeaders   map[string]string `json:"set_headers"`
	HideHeaders  []string          `json:"hide_headers"`
	CookieDomain []rawFromTo       `json:"cookie_domain"`
	CookiePath   []rawFromTo       `json:"cookie_path"`
	Last         *bool             `json:"last"`
}

type rawFromTo struct {
	From string `json:"from"`
	To   string `json:"to"`
}

// respRule is one checked response rule.
type respRule struct {
	hits string // counter name, response_<i>_hits

	hostExact, hostSuffix string
	path                  *regexp.Regexp
	status                []int

	location     []rawFromTo // first prefix that matches Location wins
	setHeaders   []param
	hideHeaders  []string
	cookieDomain []rawFromTo // first domain that matches wins, per cookie
	cookiePath   []rawFromTo // first prefix that matches wins, per cookie

	last bool
}

// parseResponse decodes the "response" rules; errors name
// "response[i].key".
func parseResponse(raws []json.RawMessage) ([]respRule, error) {
	out := make([]respRule, 0, len(raws))
	for i, raw := range raws {
		var rr rawResponseRule
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&rr); err != nil {
			return nil, fmt.Errorf("response[%d]: %w", i, jsonError(err))
		}
		r, err := rr.check()
		if err != nil {
			return nil, fmt.Errorf("response[%d]%w", i, err)
		}
		r.hits = "response_" + strconv.Itoa(i) + "_hits"
		out = append(out, r)
	}
	return out, nil
}

func (rr rawResponseRule) check() (respRule, error) {
	r := respRule{last: rr.Last == nil || *rr.Last}
	if rr.Host != "" {
		var err error
		if r.hostExact, r.hostSuffix, err = hostPattern(rr.Host); err != nil {
			return r, keyErr("host", "%v", err)
		}
	}
	if rr.Path != "" {
		var err error
		if r.path, err = regexp.Compile(rr.Path); err != nil {
			return r, keyErr("path", "%v", err)
		}
	}
	for _, s := range rr.Status {
		if s < 100 || s > 599 {
			return r, keyErr("status", "%d is not an HTTP status (100..599)", s)
		}
	}
	r.status = rr.Status
	n := 0
	for i, ft := range rr.Location {
		if ft.From == "" || strings.ContainsAny(ft.From+ft.To, "\r\n\x00") {
			return r, keyErr("location["+strconv.Itoa(i)+"]", "want from (a non-empty URL prefix) and to, without CR, LF or NUL")
		}
		n++
	}
	r.location = rr.Location
	for _, name := range sortedKeys(rr.SetHeaders) {
		v := rr.SetHeaders[name]
		if !isToken(name) {
			return r, keyErr("set_headers", "%q is not a header name", name)
		}
		if strings.EqualFold(name, "Set-Cookie") {
			return r, keyErr("set_headers", "Set-Cookie cannot be set here; rewrite cookies with cookie_domain and cookie_path")
		}
		if framing(name) {
			return r, keyErr("set_headers", "%s frames the response; the host keeps it", name)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return r, keyErr("set_headers."+name, "the value contains CR, LF or NUL")
		}
		r.setHeaders = append(r.setHeaders, param{name, v})
		n++
	}
	for i, name := range rr.HideHeaders {
		if !isToken(name) {
			return r, keyErr("hide_headers["+strconv.Itoa(i)+"]", "%q is not a header name", name)
		}
		if framing(name) {
			return r, keyErr("hide_headers["+strconv.Itoa(i)+"]", "%s frames the response; the host keeps it", name)
		}
		r.hideHeaders = append(r.hideHeaders, name)
		n++
	}
	for i, ft := range rr.CookieDomain {
		if ft.From == "" || ft.To == "" || strings.ContainsAny(ft.From+ft.To, " ;,\t\r\n\x00") {
			return r, keyErr("cookie_domain["+strconv.Itoa(i)+"]", "want from and to domains, without spaces, ';' or ','")
		}
		n++
	}
	r.cookieDomain = rr.CookieDomain
	for i, ft := range rr.CookiePath {
		if !strings.HasPrefix(ft.From, "/") || !strings.HasPrefix(ft.To, "/") || strings.ContainsAny(ft.From+ft.To, " ;\t\r\n\x00") {
			return r, keyErr("cookie_path["+strconv.Itoa(i)+"]", "want from and to paths starting with \"/\", without spaces or ';'")
		}
		n++
	}
	r.cookiePath = rr.CookiePath
	if n == 0 {
		return r, errors.New(": no action; give location, set_headers, hide_headers, cookie_domain or cookie_path")
	}
	return r, nil
}

// framing reports whether name is a header the host keeps read-only in
// the response hook (ABI.md "Response hook"): the message framing and
// the hop-by-hop headers.
func framing(name string) bool {
	for _, h := range []string{"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
		"Proxy-Connection", "Te", "Trailer", "Upgrade"} {
		if strings.EqualFold(name, h) {
			return true
		}
	}
	return false
}

// matches reports whether the rule applies to the request and status.
func (r *respRule) matches(host, path string, status int) bool {
	if r.status != nil && !containsInt(r.status, status) {
		return false
	}
	if r.hostExact != "" || r.hostSuffix != "" {
		h := strings.ToLower(hostname(host))
		if r.hostExact != "" && h != r.hostExact {
			return false
		}
		if r.hostSuffix != "" && (len(h) <= len(r.hostSuffix) || !strings.HasSuffix(h, r.hostSuffix)) {
			return false
		}
	}
	return r.path == nil || r.path.MatchString(path)
}

func containsInt(list []int, v int) bool {
	for _, x := range list {
		if x == v {
			return true
		}
	}
	return false
}

// respond is the response hook: the matching response rules, in order,
// edit the response's headers. It always returns Continue.
func respond() postern.Verdict {
	if len(respRules) == 0 {
		return postern.Continue
	}
	host, path, status := postern.HTTPHost(), postern.HTTPPath(), postern.ResponseStatus()
	for i := range respRules {
		r := &respRules[i]
		if !r.matches(host, path, status) {
			continue
		}
		postern.CounterAdd(r.hits, 1)
		r.apply()
		if r.last {
			break
		}
	}
	return postern.Continue
}

func (r *respRule) apply() {
	for _, ft := range r.location {
		ok, err := postern.RewriteLocation(ft.From, ft.To)
		if err != nil {
			failed(r.hits, "Location", err)
		}
		if ok || err != nil {
			break
		}
	}
	for _, name := range r.hideHeaders {
		_ = postern.DeleteResponseHeader(name) // absent: nothing to hide
	}
	for _, h := range r.setHeaders {
		if err := postern.SetResponseHeader(h.name, h.value); err != nil {
			failed(r.hits, "header "+h.name, err)
		}
	}
	if len(r.cookieDomain) == 0 && len(r.cookiePath) == 0 {
		return
	}
	cookies := postern.ResponseCookies()
	if len(cookies) == 0 {
		return
	}
	changed := false
	for i, c := range cookies {
		nc := rewriteCookie(c, r.cookieDomain, r.cookiePath)
		if nc != c {
			cookies[i], changed = nc, true
		}
	}
	if changed {
		if err := postern.SetResponseCookies(cookies); err != nil {
			failed(r.hits, "Set-Cookie", err)
		}
	}
}

// rewriteCookie applies the first matching domain and path rewrite to one
// Set-Cookie value.
func rewriteCookie(c string, domains, paths []rawFromTo) string {
	for _, ft := range domains {
		if nc := postern.RewriteCookieDomain(c, ft.From, ft.To); nc != c {
			c = nc
			break
		}
	}
	for _, ft := range paths {
		if nc := postern.RewriteCookiePath(c, ft.From, ft.To); nc != c {
			c = nc
			break
		}
	}
	return c
}
