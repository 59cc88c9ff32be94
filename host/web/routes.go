package web

import (
	"net/http"
	"path"
	"strconv"
	"strings"
	"time"
)

// route is a compiled Config.Routes entry. Matching a request is a scan
// of an ordered slice with no allocation (unless the path holds dot
// segments or doubled slashes, which are resolved first).
type route struct {
	name    string
	exact   []string // host names, lower case
	suffix  []string // ".example.com" of "*.example.com", lower case
	prefix  string
	methods []string
	pool    *pool

	dialTimeout   time.Duration // 0: the web-level one
	headerTimeout time.Duration // effective; always set
	readTimeout   time.Duration // effective; always set
	maxBody       int64         // effective; 0 means no limit
	noBuffering   bool
	noWebSocket   bool
}

// compileRoutes builds the routes of cfg (validated, with defaults).
func (s *Server) compileRoutes() []*route {
	out := make([]*route, 0, len(s.cfg.Routes))
	for i, rc := range s.cfg.Routes {
		r := &route{
			name: rc.Name, prefix: rc.PathPrefix, methods: rc.Methods, pool: s.pools[rc.Pool],
			dialTimeout: rc.DialTimeout, headerTimeout: s.cfg.UpstreamHeaderTimeout, readTimeout: s.cfg.UpstreamReadTimeout,
			maxBody: s.cfg.MaxBodyBytes, noBuffering: rc.NoBuffering, noWebSocket: rc.NoWebSocket,
		}
		if r.name == "" {
			r.name = "routes[" + strconv.Itoa(i) + "]"
		}
		if rc.HeaderTimeout > 0 {
			r.headerTimeout = rc.HeaderTimeout
		}
		if rc.ReadTimeout > 0 {
			r.readTimeout = rc.ReadTimeout
		}
		if rc.MaxBodyBytes > 0 {
			r.maxBody = rc.MaxBodyBytes
		}
		for _, h := range rc.Hosts {
			h = strings.ToLower(h)
			if sfx, ok := strings.CutPrefix(h, "*"); ok {
				r.suffix = append(r.suffix, sfx)
			} else {
				r.exact = append(r.exact, h)
			}
		}
		out = append(out, r)
	}
	return out
}

// matchRoute returns the first route matching r, or nil.
func (s *Server) matchRoute(r *http.Request) *route {
	if len(s.routes) == 0 {
		return nil
	}
	return s.routeFor(r.Method, r.Host, r.URL.Path)
}

// routeFor returns the first route matching a method, a Host header value
// and a decoded path, or nil.
func (s *Server) routeFor(method, hostHeader, path string) *route {
	if len(s.routes) == 0 {
		return nil
	}
	host := hostOnly(hostHeader)
	p := cleanPath(path)
	for _, rt := range s.routes {
		if rt.match(method, host, p) {
			return rt
		}
	}
	return nil
}

func (rt *route) match(method, host, p string) bool {
	if len(rt.methods) > 0 && !containsString(rt.methods, method) {
		return false
	}
	if rt.prefix != "" && !strings.HasPrefix(p, rt.prefix) {
		return false
	}
	if len(rt.exact)+len(rt.suffix) == 0 {
		return true
	}
	for _, h := range rt.exact {
		if strings.EqualFold(host, h) {
			return true
		}
	}
	for _, sfx := range rt.suffix {
		if len(host) > len(sfx) && strings.EqualFold(host[len(host)-len(sfx):], sfx) {
			return true
		}
	}
	return false
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// hostOnly strips the port and a trailing dot from a Host header value.
func hostOnly(h string) string {
	if i := strings.LastIndexByte(h, ':'); i >= 0 && !strings.Contains(h[i:], "]") {
		h = h[:i]
	}
	return strings.TrimSuffix(h, ".")
}

// cleanPath resolves dot segments and doubled slashes in a decoded path,
// keeping a trailing slash, so "/public/../admin/" is matched as
// "/admin/" (the backend would read it so). Paths without them are
// returned as they are, without allocating.
func cleanPath(p string) string {
	if p == "" {
		return "/"
	}
	if !strings.Contains(p, "//") && !strings.Contains(p, "/.") {
		return p
	}
	c := path.Clean("/" + p)
	if strings.HasSuffix(p, "/") && c != "/" {
		c += "/"
	}
	return c
}

// isWebSocket reports whether r asks for a WebSocket: an HTTP/1.1
// Upgrade or an HTTP/2 extended CONNECT (RFC 8441).
func isWebSocket(r *http.Request) bool {
	if r.Method == http.MethodConnect && strings.EqualFold(r.Header.Get(":protocol"), "websocket") {
		return true
	}
	for _, v := range r.Header["Upgrade"] {
		for _, tok := range strings.Split(v, ",") {
			if strings.EqualFold(strings.TrimSpace(strings.SplitN(tok, "/", 2)[0]), "websocket") {
				return true
			}
		}
	}
	return false
}
