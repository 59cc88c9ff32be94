package main

import (
	"net/url"
	"regexp"
	"strings"

	postern "github.com/postern/postern/guest-sdk"
)

// rules and respRules are this instance's configuration, set by
// configure (init).
var (
	rules     []rule
	respRules []respRule
)

// errLogged makes a failed write log once per instance.
var errLogged bool

// Counter names besides rule_<i>_hits.
const (
	ctrRedirects = "redirects"
	ctrErrors    = "errors"
)

// configure is the plugin's init: it refuses bad rules.
func configure(config []byte) error {
	c, err := parseAll(config)
	if err != nil {
		return err
	}
	rules, respRules, errLogged = c.rules, c.response, false
	// Requests no rule can match never enter the plugin (ABI 1.1; an older
	// host ignores this and apply finds no match itself).
	hosts, paths, methods := requestFilter(c.rules, c.response...)
	if hosts != nil {
		_ = postern.OnlyHosts(hosts...)
	}
	if paths != nil {
		_ = postern.OnlyPaths(paths...)
	}
	if methods != nil {
		_ = postern.OnlyMethods(methods...)
	}
	return nil
}

// apply is the rewrite hook. Rules run in order; a matching rule applies
// its actions, and unless it says "last": false no later rule is tried.
// Later rules see the request as earlier rules rewrote it. A redirect
// answers the request (Done); otherwise the verdict is Continue so later
// rewrite plugins still run.
func apply() postern.Verdict {
	method := postern.HTTPMethod()
	host := postern.HTTPHost()
	path := postern.HTTPPath()
	var m []int
	for i := range rules {
		r := &rules[i]
		if m = r.match(method, host, path, m[:0]); m == nil {
			continue
		}
		postern.CounterAdd(r.hits, 1)
		re := r.re()
		if r.redirectCode != 0 {
			to := string(re.ExpandString(nil, r.redirectTo, path, m))
			if err := postern.Redirect(r.redirectCode, to); err != nil {
				failed(r.hits, "redirect", err)
				return postern.Continue
			}
			postern.CounterAdd(ctrRedirects, 1)
			return postern.Done
		}
		if r.newQuery != nil {
			set(r, "query", postern.SetHTTPQuery, string(re.ExpandString(nil, *r.newQuery, path, m)))
		}
		if len(r.queryParams) > 0 {
			set(r, "query", postern.SetHTTPQuery, setParams(postern.HTTPQuery(), r.queryParams))
		}
		if r.newHost != nil {
			h := string(re.ExpandString(nil, *r.newHost, path, m))
			if set(r, "host", postern.SetHTTPHost, h) {
				host = h
			}
		}
		for _, h := range r.setHeaders {
			v := string(re.ExpandString(nil, h.value, path, m))
			if err := postern.SetHeader(h.name, v); err != nil {
				failed(r.hits, "header "+h.name, err)
			}
		}
		for _, name := range r.removeHeaders {
			_ = postern.DeleteHeader(name) // absent: nothing to remove
		}
		// The path last: the other templates expand from the matched path.
		if r.newPath != nil {
			p := string(re.ExpandString(nil, *r.newPath, path, m))
			if set(r, "path", postern.SetHTTPPath, p) {
				path = p
			}
		}
		if r.last {
			break
		}
	}
	return postern.Continue
}

// set writes one field and reports whether it took.
func set(r *rule, what string, fn func(string) error, v string) bool {
	if err := fn(v); err != nil {
		failed(r.hits, what, err)
		return false
	}
	return true
}

// failed counts a write the host refused (an expanded path without a
// leading "/", a value over the field limit) and logs the first one.
func failed(rule, what string, err error) {
	postern.CounterAdd(ctrErrors, 1)
	if !errLogged {
		errLogged = true
		postern.Warnf("url-rewrite: %s: the host refused the rewritten %s (%v); the request goes on without it; check the rule's templates (logged once per instance, counted in errors)",
			strings.TrimSuffix(rule, "_hits"), what, err)
	}
}

// re is the rule's path pattern, or an empty one for templates of a rule
// without a path (they hold no references: checkTemplate saw to it).
func (r *rule) re() *regexp.Regexp {
	if r.path != nil {
		return r.path
	}
	return emptyRE
}

// match returns the path's submatch indexes when the rule matches the
// request, else nil. dst is reused.
func (r *rule) match(method, host, path string, dst []int) []int {
	if r.methods != nil && !contains(r.methods, method) {
		return nil
	}
	if r.hostExact != "" || r.hostSuffix != "" {
		h := strings.ToLower(hostname(host))
		if r.hostExact != "" && h != r.hostExact {
			return nil
		}
		if r.hostSuffix != "" && (len(h) <= len(r.hostSuffix) || !strings.HasSuffix(h, r.hostSuffix)) {
			return nil
		}
	}
	if r.path == nil {
		return append(dst, 0, 0)
	}
	m := r.path.FindStringSubmatchIndex(path)
	if m == nil {
		return nil
	}
	return append(dst, m...)
}

// hostname strips a port from a Host header value ("a.example:8080",
// "[2001:db8::1]:443") and a trailing dot.
func hostname(h string) string {
	if strings.HasPrefix(h, "[") {
		if i := strings.IndexByte(h, ']'); i > 0 {
			return h[1:i]
		}
		return h
	}
	if i := strings.LastIndexByte(h, ':'); i >= 0 && strings.IndexByte(h, ':') == i {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// setParams sets each parameter in the raw query: the first occurrence of
// the name is replaced in place, later ones are dropped, and a missing one
// is appended. Other parameters keep their order and bytes.
func setParams(raw string, params []param) string {
	var parts []string
	if raw != "" {
		parts = strings.Split(raw, "&")
	}
	for _, p := range params {
		enc := url.QueryEscape(p.name) + "=" + url.QueryEscape(p.value)
		found := false
		out := parts[:0]
		for _, part := range parts {
			name, _, _ := strings.Cut(part, "=")
			if n, err := url.QueryUnescape(name); err == nil && n == p.name || name == p.name {
				if found {
					continue
				}
				found = true
				part = enc
			}
			out = append(out, part)
		}
		if !found {
			out = append(out, enc)
		}
		parts = out
	}
	return strings.Join(parts, "&")
}
