package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
)

// Rules is a parsed configuration.
type Rules struct {
	hosts map[string]string // old host (lower case) -> new base URL, no trailing "/"
	code  int
	paths []pathRule // longest prefix first
}

type pathRule struct{ from, to string }

type config struct {
	RedirectHosts map[string]string `json:"redirect_hosts"`
	Code          int               `json:"code"`
	Paths         []struct {
		From string `json:"from"`
		To   string `json:"to"`
	} `json:"paths"`
}

// ParseConfig parses and checks the plugin's configuration.
func ParseConfig(b []byte) (*Rules, error) {
	var c config
	if len(b) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("legacy-urls: config: %v", err)
		}
	}
	r := &Rules{hosts: map[string]string{}, code: c.Code}
	if r.code == 0 {
		r.code = 301
	}
	switch r.code {
	case 301, 302, 303, 307, 308:
	default:
		return nil, fmt.Errorf("legacy-urls: config.code %d: want 301, 302, 303, 307 or 308", c.Code)
	}
	for host, base := range c.RedirectHosts {
		if !strings.HasPrefix(base, "https://") && !strings.HasPrefix(base, "http://") || strings.ContainsAny(base, " \r\n\t?#") {
			return nil, fmt.Errorf("legacy-urls: config.redirect_hosts[%q]: %q is not an http(s) URL without query", host, base)
		}
		r.hosts[strings.ToLower(host)] = strings.TrimSuffix(base, "/")
	}
	for i, p := range c.Paths {
		if !strings.HasPrefix(p.From, "/") || !strings.HasPrefix(p.To, "/") || strings.ContainsAny(p.From+p.To, " \r\n\t?#") {
			return nil, fmt.Errorf("legacy-urls: config.paths[%d]: from and to must be paths starting with \"/\", without query", i)
		}
		r.paths = append(r.paths, pathRule{p.From, p.To})
	}
	sort.SliceStable(r.paths, func(i, j int) bool { return len(r.paths[i].from) > len(r.paths[j].from) })
	if len(r.hosts) == 0 && len(r.paths) == 0 {
		return nil, errors.New("legacy-urls: nothing to do: set config.redirect_hosts or config.paths")
	}
	return r, nil
}

// Action is what Apply decided: a redirect, a new path, or nothing.
type Action struct {
	Code        int
	RedirectURL string
	Path        string
}

// Apply decides for a request. An old host name redirects to the new base
// with the path (itself rewritten by the path rules) and query kept; a
// legacy path on any other host is rewritten in place.
func (r *Rules) Apply(host, path, query string) Action {
	newPath := r.rewritePath(path)
	h := strings.ToLower(host)
	if hh, _, err := net.SplitHostPort(h); err == nil {
		h = hh
	}
	if base, ok := r.hosts[h]; ok {
		u := base + newPath
		if query != "" {
			u += "?" + query
		}
		return Action{Code: r.code, RedirectURL: u}
	}
	if newPath != path {
		return Action{Path: newPath}
	}
	return Action{}
}

// rewritePath replaces the longest matching prefix; a prefix ending
// without "/" matches only whole path segments ("/zimbra" matches
// "/zimbra" and "/zimbra/x", not "/zimbrax").
func (r *Rules) rewritePath(path string) string {
	for _, p := range r.paths {
		if !strings.HasPrefix(path, p.from) {
			continue
		}
		rest := path[len(p.from):]
		if rest != "" && !strings.HasSuffix(p.from, "/") && rest[0] != '/' {
			continue
		}
		return joinPath(p.to, rest)
	}
	return path
}

// joinPath appends the rest of a matched path to the new prefix with
// exactly one "/" between them.
func joinPath(to, rest string) string {
	switch {
	case rest == "":
		return to
	case strings.HasSuffix(to, "/") && strings.HasPrefix(rest, "/"):
		return to + rest[1:]
	case !strings.HasSuffix(to, "/") && !strings.HasPrefix(rest, "/"):
		return to + "/" + rest
	}
	return to + rest
}
