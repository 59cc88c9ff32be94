// Package authhttp is a route lookup service speaking nginx's mail
// auth_http protocol with Zimbra's extensions (REFERENCE.md "Route
// lookup"): the peer the route-lookup plugin talks to in tests, and later
// in `postern demo`.
//
// It checks each request the way Zimbra's nginx-lookup servlet does
// (Auth-Method, Auth-User, Auth-Protocol, ...), answers from a table of
// routes, records every request for assertions, and can be told to fail
// (HTTP 500, a hang, garbage instead of HTTP). It listens on 127.0.0.1
// only.
package authhttp

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strconv"
	"sync"
	"time"
)

// Path is the path the server answers on: Zimbra's lookup servlet's.
const Path = "/service/extension/nginx-lookup"

// PasswordPlaceholder is the Auth-Pass Zimbra's proxy sends for a
// route-only lookup.
const PasswordPlaceholder = "_password_"

// Route is the answer for one user.
type Route struct {
	// Status is Auth-Status; "" means "OK". Any other text is the error
	// the proxy shows the client; "WAIT" asks it to ask again.
	Status string
	// Server and Port are Auth-Server and Auth-Port (sent when Status is
	// OK; a zero Port is omitted). Server is normally an IP literal; tests
	// of bad answers put anything there.
	Server string
	Port   int
	// Wait is Auth-Wait, sent verbatim when not empty (seconds).
	Wait string
	// Account is the Auth-User of the answer: Zimbra's qualified account
	// name. Empty: not sent.
	Account string
	// Password is the Auth-Pass of the answer. Empty: not sent.
	Password string
	// CacheAlias sends Auth-Cache-Alias: TRUE.
	CacheAlias bool
	// CheckPassword, when set, makes the server check passwords: a request
	// whose Auth-Pass is neither this nor the route-only placeholder is
	// answered with UnknownUser, as a lookup service backed by a directory
	// does. Empty: the password is not checked.
	CheckPassword string
	// Next, when set, replaces this route after it has answered once (a
	// WAIT followed by an OK, say).
	Next *Route
}

// Request is one lookup the server received, with the Auth-* values
// %-unescaped as the servlet reads them.
type Request struct {
	Path         string
	Method       string // Auth-Method
	User         string // Auth-User, unescaped
	Pass         string // Auth-Pass, unescaped
	Protocol     string // Auth-Protocol
	LoginAttempt string // Auth-Login-Attempt
	ClientIP     string // Client-IP
	ProxyIP      string // X-Proxy-IP
	ProxyHost    string // X-Proxy-Host
	AuthID       string // Auth-ID
	SSL          string // Auth-SSL
	Header       http.Header
	// Problem is why the request was refused as malformed, "" when it was
	// well formed.
	Problem string
}

// Failure makes the server fail every request until it is set back to
// FailNone.
type Failure int

const (
	// FailNone answers normally.
	FailNone Failure = iota
	// Fail500 answers HTTP 500 with a valid-looking OK route, which a proxy
	// requiring 200 (Zimbra's) must not use.
	Fail500
	// FailHang never answers; the request ends when the client gives up
	// or the server closes.
	FailHang
	// FailGarbage writes bytes that are not HTTP and closes the connection.
	FailGarbage
)

// Accepted values, as Zimbra's lookup servlet knows them.
var (
	methods   = map[string]bool{"plain": true, "username": true, "gssapi": true, "zimbraId": true, "certauth": true}
	protocols = map[string]bool{"imap": true, "imapssl": true, "pop3": true, "pop3ssl": true,
		"http": true, "httpssl": true, "smtp": true}
)

// UnknownUser is the Auth-Status for a user the table does not hold.
const UnknownUser = "Invalid login or password"

// Server is a running lookup service. It is safe for concurrent use.
type Server struct {
	ln       net.Listener
	srv      *http.Server
	stop     chan struct{}
	serveEnd sync.WaitGroup // the Serve goroutine
	handlers sync.WaitGroup // requests in flight

	mu       sync.Mutex
	closed   bool
	routes   map[string]Route
	failure  Failure
	delay    time.Duration
	requests []Request
}

// NewServer starts a lookup service on 127.0.0.1 (a free port) answering
// with routes, keyed by the unescaped Auth-User. Close it when done.
func NewServer(routes map[string]Route) (*Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("authhttp: listen on 127.0.0.1: %w", err)
	}
	s := &Server{ln: ln, stop: make(chan struct{}), routes: map[string]Route{}}
	for u, r := range routes {
		s.routes[u] = r
	}
	s.srv = &http.Server{Handler: http.HandlerFunc(s.serve), ReadHeaderTimeout: 5 * time.Second}
	s.serveEnd.Add(1)
	go func() {
		defer s.serveEnd.Done()
		_ = s.srv.Serve(ln)
	}()
	return s, nil
}

// Addr is the server's "127.0.0.1:port", for a plugin's http_allow.
func (s *Server) Addr() string { return s.ln.Addr().String() }

// URL is the lookup URL: http://127.0.0.1:port/service/extension/nginx-lookup.
func (s *Server) URL() string { return "http://" + s.Addr() + Path }

// SetRoute sets (or replaces) the answer for user.
func (s *Server) SetRoute(user string, r Route) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.routes[user] = r
}

// SetDelay makes every later answer wait d first, as a lookup servlet
// that asks LDAP does (benchmarks).
func (s *Server) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// SetFailure makes every later request fail as f says.
func (s *Server) SetFailure(f Failure) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.failure = f
}

// Requests returns a copy of every request received since the start or
// the last Reset.
func (s *Server) Requests() []Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Request(nil), s.requests...)
}

// Lookups is the number of requests received since the start or the last
// Reset.
func (s *Server) Lookups() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.requests)
}

// Reset forgets the recorded requests.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = nil
}

// Close stops the server, ends hanging requests and waits for every
// handler to return.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil
	}
	s.closed = true
	s.mu.Unlock()
	close(s.stop)
	err := s.srv.Close()
	s.serveEnd.Wait()
	s.handlers.Wait()
	if errors.Is(err, http.ErrServerClosed) {
		err = nil
	}
	return err
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	req := parseRequest(r)

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.handlers.Add(1)
	defer s.handlers.Done()
	s.requests = append(s.requests, req)
	failure := s.failure
	delay := s.delay
	route, known := s.routes[req.User]
	if known && route.Next != nil && req.Problem == "" && failure == FailNone {
		s.routes[req.User] = *route.Next
	}
	s.mu.Unlock()
	if delay > 0 {
		time.Sleep(delay)
	}

	switch failure {
	case FailHang:
		select {
		case <-r.Context().Done():
		case <-s.stop:
			panic(http.ErrAbortHandler) // close the connection without an answer
		}
		return
	case FailGarbage:
		if hj, ok := w.(http.Hijacker); ok {
			if c, _, err := hj.Hijack(); err == nil {
				_, _ = c.Write([]byte("\x00\x01 this is not HTTP\r\n\r\n"))
				c.Close()
				return
			}
		}
		panic(http.ErrAbortHandler) // closes the connection without a response
	case Fail500:
		h := w.Header()
		h.Set("Auth-Status", "OK")
		h.Set("Auth-Server", "127.0.0.1")
		h.Set("Auth-Port", "143")
		w.WriteHeader(http.StatusInternalServerError)
		return
	}

	h := w.Header()
	switch {
	case req.Problem != "":
		h.Set("Auth-Status", "Invalid request: "+req.Problem)
	case !known:
		h.Set("Auth-Status", UnknownUser)
	case route.CheckPassword != "" && req.Pass != PasswordPlaceholder && req.Pass != route.CheckPassword:
		h.Set("Auth-Status", UnknownUser)
	default:
		writeRoute(h, route)
	}
	w.WriteHeader(http.StatusOK)
}

// writeRoute writes a route's answer headers.
func writeRoute(h http.Header, r Route) {
	status := r.Status
	if status == "" {
		status = "OK"
	}
	h.Set("Auth-Status", status)
	if r.Wait != "" {
		h.Set("Auth-Wait", r.Wait)
	}
	if status != "OK" {
		return
	}
	if r.Server != "" {
		h.Set("Auth-Server", r.Server)
	}
	if r.Port != 0 {
		h.Set("Auth-Port", strconv.Itoa(r.Port))
	}
	if r.Account != "" {
		h.Set("Auth-User", r.Account)
	}
	if r.Password != "" {
		h.Set("Auth-Pass", r.Password)
	}
	if r.CacheAlias {
		h.Set("Auth-Cache-Alias", "TRUE")
	}
}

// parseRequest reads and checks a lookup request like Zimbra's servlet:
// the method and protocol must be ones it knows, the user present, and
// GSSAPI lookups must name the principal.
func parseRequest(r *http.Request) Request {
	h := r.Header
	req := Request{
		Path:         r.URL.Path,
		Method:       h.Get("Auth-Method"),
		Protocol:     h.Get("Auth-Protocol"),
		LoginAttempt: h.Get("Auth-Login-Attempt"),
		ClientIP:     h.Get("Client-IP"),
		ProxyIP:      h.Get("X-Proxy-IP"),
		ProxyHost:    h.Get("X-Proxy-Host"),
		SSL:          h.Get("Auth-SSL"),
		Header:       h.Clone(),
	}
	var userErr, passErr, idErr error
	req.User, userErr = unescape(h.Get("Auth-User"))
	req.Pass, passErr = unescape(h.Get("Auth-Pass"))
	req.AuthID, idErr = unescape(h.Get("Auth-ID"))
	problem := func() string {
		switch {
		case r.Method != http.MethodGet:
			return "method " + r.Method + ", want GET"
		case r.URL.Path != Path:
			return "path " + r.URL.Path + ", want " + Path
		case len(h.Values("Auth-Method")) == 0:
			return "missing Auth-Method"
		case !methods[req.Method]:
			return "unknown Auth-Method " + strconv.Quote(req.Method)
		case len(h.Values("Auth-User")) == 0 || req.User == "":
			return "missing Auth-User"
		case userErr != nil:
			return "Auth-User: " + userErr.Error()
		case len(h.Values("Auth-Pass")) == 0:
			return "missing Auth-Pass"
		case passErr != nil:
			return "Auth-Pass: " + passErr.Error()
		case !protocols[req.Protocol]:
			return "unknown Auth-Protocol " + strconv.Quote(req.Protocol)
		case req.LoginAttempt == "" || !isDigits(req.LoginAttempt):
			return "Auth-Login-Attempt " + strconv.Quote(req.LoginAttempt) + " is not a number"
		case req.ClientIP != "" && !isIP(req.ClientIP):
			return "Client-IP " + strconv.Quote(req.ClientIP) + " is not an IP address"
		case req.ProxyIP != "" && !isIP(req.ProxyIP):
			return "X-Proxy-IP " + strconv.Quote(req.ProxyIP) + " is not an IP address"
		case req.Method == "gssapi" && (req.AuthID == "" || idErr != nil):
			return "gssapi lookup without Auth-ID"
		case (req.Protocol == "http" || req.Protocol == "httpssl") && req.Method == "plain":
			return "web lookups use Auth-Method username or zimbraId"
		}
		return ""
	}
	req.Problem = problem()
	return req
}

// unescape undoes nginx's %XX escaping (and only that: '+' is a plus).
func unescape(s string) (string, error) { return url.PathUnescape(s) }

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

func isIP(s string) bool {
	_, err := netip.ParseAddr(s)
	return err == nil
}
