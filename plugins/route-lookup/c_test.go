package main

// The C build (c/plugin.c, committed as c/plugin.wasm) against this Go
// reference: both load into the real host side by side (plugintest.Twin),
// ask a real lookup server over HTTP, and must agree on every verdict,
// field, store operation, counter and lookup request.
//
// The round robin starts at a random server in both builds (math/rand in
// Go, WASI random_get in C), so the twin cases use one server, and the
// scenarios with several servers run each build on its own and compare
// what does not depend on the start: the spread over the servers, the
// counters, the verdicts and the store operations as a set.

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
)

// answer is what the lookup server replies.
type answer struct {
	status  int
	headers [][2]string // written as given (names not canonicalised)
	sleep   time.Duration
	bigBody bool
	// then, when set, answers every second request for the same user (so
	// a WAIT is followed by a final answer for each build in turn).
	then *answer
}

func okAnswer(extra ...string) answer {
	a := answer{headers: [][2]string{{"Auth-Status", "OK"}, {"Auth-Server", "10.0.0.5"}, {"Auth-Port", "143"}}}
	for i := 0; i+1 < len(extra); i += 2 {
		a.headers = append(a.headers, [2]string{extra[i], extra[i+1]})
	}
	return a
}

func hdrs(kv ...string) answer {
	a := answer{}
	for i := 0; i+1 < len(kv); i += 2 {
		a.headers = append(a.headers, [2]string{kv[i], kv[i+1]})
	}
	return a
}

// recorded is one request the lookup server saw.
type recorded struct {
	Method, URI string
	Header      http.Header
}

// lookupServer is an auth_http lookup service: it answers by the path
// ("/a", "/b"...) or else by Auth-User, and records every request.
type lookupServer struct {
	*httptest.Server
	mu     sync.Mutex
	byPath map[string]answer
	byUser map[string]answer
	def    answer
	reqs   []recorded
	count  map[string]int // requests per Auth-User
}

func newLookupServer(tb testing.TB) *lookupServer {
	s := &lookupServer{byPath: map[string]answer{}, byUser: map[string]answer{}, def: okAnswer(), count: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.reqs = append(s.reqs, recorded{r.Method, r.RequestURI, r.Header.Clone()})
		a, ok := s.byPath[r.URL.Path]
		if !ok {
			a, ok = s.byUser[r.Header.Get("Auth-User")]
		}
		if !ok {
			a = s.def
		}
		user := r.Header.Get("Auth-User")
		if a.then != nil && s.count[user]%2 == 1 {
			a = *a.then
		}
		s.count[user]++
		s.mu.Unlock()
		time.Sleep(a.sleep)
		for _, h := range a.headers {
			w.Header()[h[0]] = append(w.Header()[h[0]], h[1])
		}
		if a.status != 0 {
			w.WriteHeader(a.status)
		}
		if a.bigBody {
			_, _ = w.Write(make([]byte, 200<<10))
		}
	}))
	tb.Cleanup(s.Close)
	return s
}

func (s *lookupServer) addr() string { return strings.TrimPrefix(s.URL, "http://") }

func (s *lookupServer) take() []recorded {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.reqs
	s.reqs = nil
	return r
}

func (s *lookupServer) answerUser(user string, a answer) {
	s.mu.Lock()
	s.byUser[user] = a
	s.mu.Unlock()
}

func (s *lookupServer) answerPath(path string, a answer) {
	s.mu.Lock()
	s.byPath[path] = a
	s.mu.Unlock()
}

var (
	buildMu       sync.Mutex
	goWasm, cWasm string
)

// builds returns the Go and the C build (each checked once per test run).
func builds(tb testing.TB) (string, string) {
	tb.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if goWasm == "" {
		goWasm = plugintest.Build(tb, "plugins/route-lookup")
	}
	if cWasm == "" {
		cWasm = plugintest.CPlugin(tb, "plugins/route-lookup/c")
	}
	return goWasm, cWasm
}

// allow lets the plugin call addrs; it also keeps compiled modules in a
// cache directory shared by every load of the test run, since compiling
// the Go build (20 MB of wasm) per load would dominate the run time.
func allow(addrs ...string) plugintest.Option {
	return func(s *plugin.Spec, o *plugin.Options) {
		s.HTTPAllow = addrs
		s.Limits.HTTPResponseBytes = 64 << 10
		o.CacheDir = cacheDir()
	}
}

var cacheOnce = sync.OnceValue(func() string {
	return filepath.Join(os.TempDir(), "postern-route-lookup-c-test")
})

func cacheDir() string { return cacheOnce() }

func newTwin(tb testing.TB, srv *lookupServer, cfg string) *plugintest.Twin {
	tb.Helper()
	g, c := builds(tb)
	tw := plugintest.NewTwin(tb, g, c, plugintest.Config(cfg), allow(srv.addr()))
	if r, p := tw.Ref.Info(), tw.Port.Info(); r.VerifiesPasswords != p.VerifiesPasswords || r.Filter != p.Filter ||
		!slices.Equal(r.Hooks, p.Hooks) || !slices.Equal(r.Events, p.Events) || r.Reuse != p.Reuse {
		tb.Errorf("config %s: Go build declares verifying passwords %v, filter %q, hooks %v, events %v, reuse %v; C build %v, %q, %v, %v, %v",
			cfg, r.VerifiesPasswords, r.Filter, r.Hooks, r.Events, r.Reuse, p.VerifiesPasswords, p.Filter, p.Hooks, p.Events, p.Reuse)
	}
	return tw
}

// run runs the route hook on both builds and also compares the lookup
// requests they sent (the reference's come first).
func run(tb testing.TB, tw *plugintest.Twin, srv *lookupServer, f *plugin.Fields) plugin.Result {
	tb.Helper()
	srv.take()
	r := tw.Run(tb, abi.HookRoute, f)
	reqs := srv.take()
	if len(reqs)%2 != 0 {
		tb.Errorf("login %q: %d lookup requests in all: the builds sent different numbers", f.Login, len(reqs))
		return r
	}
	h := len(reqs) / 2
	for i := range h {
		if !reflect.DeepEqual(reqs[i], reqs[h+i]) {
			tb.Errorf("login %q: lookup requests differ\nGo: %+v\nC:  %+v", f.Login, reqs[i], reqs[h+i])
		}
	}
	return r
}

// closedAddr is a host:port nothing listens on.
func closedAddr(tb testing.TB) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	a := l.Addr().String()
	l.Close()
	return a
}

func TestC_RequestHeaders(t *testing.T) {
	srv := newLookupServer(t)
	u := srv.URL + "/service/extension/nginx-lookup"
	tests := []struct {
		name string
		cfg  string
		edit func(f *plugin.Fields)
	}{
		{"imap plain", "", nil},
		{"login method sent as plain", "", func(f *plugin.Fields) { f.AuthMethod = "login"; f.LoginAttempt = 3 }},
		{"empty method", "", func(f *plugin.Fields) { f.AuthMethod = "" }},
		{"basic method", "", func(f *plugin.Fields) { f.AuthMethod = "basic" }},
		{"other method passed on", "", func(f *plugin.Fields) { f.AuthMethod = "cram-md5" }},
		{"imap over TLS", "", func(f *plugin.Fields) { f.TLSVersion = "TLS1.3"; f.TLSCipher = "TLS_AES_128_GCM_SHA256" }},
		{"TLS version already with v", "", func(f *plugin.Fields) { f.TLSVersion = "TLSv1.2" }},
		{"TLS version not TLS", "", func(f *plugin.Fields) { f.TLSVersion = "SSL3" }},
		{"TLS version bare TLS", "", func(f *plugin.Fields) { f.TLSVersion = "TLS" }},
		{"pop3", "", func(f *plugin.Fields) { f.Protocol = "pop3" }},
		{"pop3 over TLS", "", func(f *plugin.Fields) { f.Protocol = "pop3"; f.TLSVersion = "TLS1.2" }},
		{"smtp over TLS", "", func(f *plugin.Fields) { f.Protocol = "smtp"; f.TLSVersion = "TLS1.2" }},
		{"unknown protocol passed on", "", func(f *plugin.Fields) { f.Protocol = "sieve"; f.TLSVersion = "TLS1.2" }},
		{"protocol_names override", `,"protocol_names":{"imap+tls":"imap","imap":"imap4"}`, func(f *plugin.Fields) { f.TLSVersion = "TLS1.3" }},
		{"protocol_names override plain", `,"protocol_names":{"imap+tls":"imap","imap":"imap4"}`, nil},
		{"protocol_names new protocol", `,"protocol_names":{"sieve+tls":"Sieve.S"}`, func(f *plugin.Fields) { f.Protocol = "sieve"; f.TLSVersion = "TLS1.3" }},
		{"gssapi with Auth-ID", "", func(f *plugin.Fields) { f.AuthMethod = "gssapi"; f.AuthID = "bob @EXAMPLE.COM" }},
		{"gssapi without Auth-ID", "", func(f *plugin.Fields) { f.AuthMethod = "gssapi" }},
		{"Auth-ID only with gssapi", "", func(f *plugin.Fields) { f.AuthID = "bob@EXAMPLE.COM" }},
		{"odd login escaped", "", func(f *plugin.Fields) { f.Login = "bob smith%\x7f\x01jörg" }},
		{"account set earlier", "", func(f *plugin.Fields) { f.Account = "robert@example.com" }},
		{"send_password", `,"send_password":true`, func(f *plugin.Fields) { f.Password = "secret pass%" }},
		{"send_password without a password", `,"send_password":true`, func(f *plugin.Fields) { f.Password = "" }},
		{"OAuth login with send_password", `,"send_password":true`, func(f *plugin.Fields) {
			f.AuthMethod, f.Password, f.OAuthToken, f.OAuthUser = "oauthbearer", "", "eyJ.tok.sig", "bob@example.com"
		}},
		{"XOAUTH2 login", "", func(f *plugin.Fields) { f.AuthMethod, f.Password, f.OAuthToken = "xoauth2", "", "t" }},
		{"password not sent by default", "", func(f *plugin.Fields) { f.Password = "secret" }},
		{"http username lookup", "", func(f *plugin.Fields) {
			f.Protocol, f.AuthMethod, f.TLSVersion = "http", "cookie", "TLS1.3"
			f.HTTP = &plugin.HTTPFields{Method: "GET", Host: "mail.example.com", Path: "/"}
		}},
		{"http gssapi", "", func(f *plugin.Fields) {
			f.Protocol, f.AuthMethod, f.AuthID = "http", "gssapi", "bob@EXAMPLE.COM"
			f.HTTP = &plugin.HTTPFields{Method: "GET", Host: "mail.example.com", Path: "/"}
		}},
		{"http without host", "", func(f *plugin.Fields) {
			f.Protocol = "http"
			f.HTTP = &plugin.HTTPFields{Method: "GET", Path: "/"}
		}},
		{"no client address", "", func(f *plugin.Fields) { f.Client = netip.AddrPort{} }},
		{"IPv6 client and proxy", "", func(f *plugin.Fields) {
			f.Client = netip.MustParseAddrPort("[2001:db8:0:0:1:0:0:1]:5000")
			f.Local = netip.MustParseAddrPort("[::1]:143")
		}},
		{"IPv4-mapped client, zoned proxy", "", func(f *plugin.Fields) {
			f.Client = netip.MustParseAddrPort("[::ffff:192.0.2.9]:5000")
			f.Local = netip.MustParseAddrPort("[fe80::1%eth0]:143")
		}},
		{"login attempt 0 and negative", "", func(f *plugin.Fields) { f.LoginAttempt = -4 }},
		{"header value with CR fails the server", "", func(f *plugin.Fields) { f.TLSVersion = "TLS1.3"; f.TLSCipher = "a\r\nb" }},
		{"no user: continue", "", func(f *plugin.Fields) {
			f.Protocol, f.Login, f.AuthMethod = "http", "", "none"
			f.HTTP = &plugin.HTTPFields{Method: "GET", Host: "mail.example.com", Path: "/"}
		}},
	}
	twins := map[string]*plugintest.Twin{}
	pt := t
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			cfg := `{"servers":["` + u + `"],"fail_timeout":0` + tc.cfg + `}`
			tw := twins[cfg]
			if tw == nil {
				tw = newTwin(pt, srv, cfg)
				twins[cfg] = tw
			}
			f := plugintest.MailFields("imap", "bob@example.com")
			f.Password = "secret pass"
			if tc.edit != nil {
				tc.edit(f)
			}
			want := abi.VerdictDone
			if strings.Contains(tc.name, "fails") {
				want = abi.VerdictTempFail
			} else if strings.Contains(tc.name, "continue") {
				want = abi.VerdictContinue
			}
			if r := run(t, tw, srv, f); r.Verdict != want {
				t.Errorf("verdict %v, want %v", r.Verdict, want)
			}
		})
	}
}

func TestC_Replies(t *testing.T) {
	srv := newLookupServer(t)
	u := srv.URL + "/lookup"
	closed := closedAddr(t)
	tests := []struct {
		name string
		cfg  string // extra config
		url  string // instead of u
		a    answer
		pass string // with send_password
	}{
		{name: "OK", a: okAnswer()},
		{name: "OK IPv6", a: hdrs("Auth-Status", "OK", "Auth-Server", "2001:DB8:0:0:0::5", "Auth-Port", "7143")},
		{name: "OK IPv6 with embedded IPv4", a: hdrs("Auth-Status", "OK", "Auth-Server", "64:ff9b::10.0.0.5", "Auth-Port", "7143")},
		{name: "OK v4-mapped unmapped", a: hdrs("Auth-Status", "OK", "Auth-Server", "::ffff:10.0.0.5", "Auth-Port", "143")},
		{name: "OK ::", a: hdrs("Auth-Status", "OK", "Auth-Server", "::", "Auth-Port", "143")},
		{name: "OK port with leading zeros", a: hdrs("Auth-Status", "OK", "Auth-Server", "10.0.0.5", "Auth-Port", "000143")},
		{name: "OK lower-case names", a: hdrs("auth-status", "OK", "auth-server", "10.0.0.6", "AUTH-PORT", "110", "auth-user", "x@example.com")},
		{name: "OK qualified user and cache alias", a: okAnswer("Auth-User", "robert@example.com", "Auth-Cache-Alias", "TRUE")},
		{name: "cache alias true", a: okAnswer("Auth-Cache-Alias", "true")},
		{name: "cache alias True", a: okAnswer("Auth-Cache-Alias", "True")},
		{name: "cache alias FALSE", a: okAnswer("Auth-Cache-Alias", "FALSE")},
		{name: "cache alias tRUE", a: okAnswer("Auth-Cache-Alias", "tRUE")},
		{name: "empty Auth-User", a: okAnswer("Auth-User", "")},
		{name: "two Auth-User: the first", a: okAnswer("Auth-User", "one@example.com", "Auth-User", "two@example.com")},
		{name: "OK with Auth-Pass", a: okAnswer("Auth-Pass", "master")},
		{name: "OK with empty Auth-Pass", a: okAnswer("Auth-Pass", "")},
		{name: "OK echoing the placeholder", a: okAnswer("Auth-Pass", "_password_")},
		{name: "send_password OK verifies", cfg: `,"send_password":true`, a: okAnswer(), pass: "secret pass"},
		{name: "send_password OK echoing placeholder", cfg: `,"send_password":true`, a: okAnswer("Auth-Pass", "_password_"), pass: "secret"},
		{name: "send_password the password is the placeholder", cfg: `,"send_password":true`, a: okAnswer("Auth-Pass", "_password_"), pass: "_password_"},
		{name: "send_password empty password", cfg: `,"send_password":true`, a: okAnswer(), pass: ""},
		{name: "send_password refused", cfg: `,"send_password":true`, a: hdrs("Auth-Status", "Invalid login or password", "Auth-Wait", "2"), pass: "wrong"},
		{name: "status is case-sensitive", a: hdrs("Auth-Status", "ok", "Auth-Server", "10.0.0.5", "Auth-Port", "143")},
		{name: "error text refuses", a: hdrs("Auth-Status", "Invalid login or password")},
		{name: "error with Auth-Wait", a: hdrs("Auth-Status", "Temporary failure", "Auth-Wait", "3")},
		{name: "error with Auth-Wait 0", a: hdrs("Auth-Status", "No", "Auth-Wait", "0")},
		{name: "error with a bad Auth-Wait", a: hdrs("Auth-Status", "No", "Auth-Wait", "soon")},
		{name: "error with a huge Auth-Wait", a: hdrs("Auth-Status", "No", "Auth-Wait", "4294967295")},
		{name: "error with an overflowing Auth-Wait", a: hdrs("Auth-Status", "No", "Auth-Wait", "4294967296")},
		{name: "error text with spaces and UTF-8", a: hdrs("Auth-Status", "  Mot de passe erroné \u00a0")},
		{name: "WAIT then OK", a: answer{headers: hdrs("Auth-Status", "WAIT", "Auth-Wait", "1").headers, then: &answer{headers: okAnswer().headers}}},
		{name: "WAIT 0 then refused", a: answer{headers: hdrs("Auth-Status", "WAIT", "Auth-Wait", "0").headers, then: &answer{headers: hdrs("Auth-Status", "No").headers}}},
		{name: "WAIT 0 for ever", a: hdrs("Auth-Status", "WAIT", "Auth-Wait", "0")},
		{name: "error with Auth-Wait capped", a: hdrs("Auth-Status", "No", "Auth-Wait", "99999")},
		{name: "WAIT with +2", a: hdrs("Auth-Status", "WAIT", "Auth-Wait", "+2")},
		{name: "WAIT without Auth-Wait", a: hdrs("Auth-Status", "WAIT")},
		{name: "hostname Auth-Server", a: hdrs("Auth-Status", "OK", "Auth-Server", "mail.example.com", "Auth-Port", "143")},
		{name: "zoned Auth-Server", a: hdrs("Auth-Status", "OK", "Auth-Server", "fe80::1%eth0", "Auth-Port", "143")},
		{name: "IPv4 with leading zero", a: hdrs("Auth-Status", "OK", "Auth-Server", "10.0.0.05", "Auth-Port", "143")},
		{name: "IPv6 too long", a: hdrs("Auth-Status", "OK", "Auth-Server", "1:2:3:4:5:6:7:8:9", "Auth-Port", "143")},
		{name: "IPv6 :: for nothing", a: hdrs("Auth-Status", "OK", "Auth-Server", "1:2:3:4::5:6:7:8", "Auth-Port", "143")},
		{name: "missing Auth-Server", a: hdrs("Auth-Status", "OK", "Auth-Port", "143")},
		{name: "port 0", a: hdrs("Auth-Status", "OK", "Auth-Server", "10.0.0.5", "Auth-Port", "0")},
		{name: "port 65535", a: hdrs("Auth-Status", "OK", "Auth-Server", "10.0.0.5", "Auth-Port", "65535")},
		{name: "port 65536", a: hdrs("Auth-Status", "OK", "Auth-Server", "10.0.0.5", "Auth-Port", "65536")},
		{name: "port +143", a: hdrs("Auth-Status", "OK", "Auth-Server", "10.0.0.5", "Auth-Port", "+143")},
		{name: "no Auth-Status", a: hdrs("X-Other", "1")},
		{name: "empty Auth-Status", a: hdrs("Auth-Status", "")},
		{name: "HTTP 500 with require_200", a: answer{status: 500, headers: okAnswer().headers}},
		{name: "HTTP 500 without require_200", cfg: `,"require_200":false`, a: answer{status: 500, headers: okAnswer().headers}},
		{name: "HTTP 404 without require_200, no headers", cfg: `,"require_200":false`, a: answer{status: 404}},
		{name: "unreachable", url: "http://" + closed + "/x"},
		{name: "denied", url: "http://192.0.2.1:7072/service/extension/nginx-lookup"},
		{name: "timeout", cfg: `,"timeout":"150ms"`, a: answer{sleep: 600 * time.Millisecond, headers: okAnswer().headers}},
		{name: "too large", a: answer{bigBody: true, headers: okAnswer().headers}},
	}
	// An instance keeps no state but its counters until a server fails
	// with fail_timeout 60s: cases share twins until then.
	shared := map[string]*plugintest.Twin{}
	pt := t
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := u
			if tc.url != "" {
				url = tc.url
			}
			for _, ft := range []string{"0", `"60s"`} {
				cfg := `{"servers":["` + url + `"],"fail_timeout":` + ft + tc.cfg + `}`
				g, c := builds(t)
				tw := shared[cfg]
				if tw == nil {
					tw = plugintest.NewTwin(pt, g, c, plugintest.Config(cfg), allow(srv.addr(), closed))
					shared[cfg] = tw
				}
				user := "user-" + strings.ReplaceAll(tc.name, " ", "-") + "@example.com"
				srv.answerUser(user, tc.a)
				f := plugintest.MailFields("imap", user)
				f.Password = tc.pass
				start := time.Now()
				run(t, tw, srv, f)
				if strings.HasPrefix(tc.name, "WAIT then") {
					if time.Since(start) < 2*time.Second {
						t.Errorf("both builds together waited %v, want 2 x Auth-Wait 1s", time.Since(start))
					}
					break // once is enough: each retry waits
				}
				// again: a failed server is now skipped (fail_timeout) or
				// asked again (0); an answered one answers again
				f = plugintest.MailFields("imap", user)
				f.Password = tc.pass
				run(t, tw, srv, f)
				if ft != "0" && tw.Ref.Info().Counters["server_down"] > 0 {
					delete(shared, cfg) // the server is marked down now
				}
			}
		})
	}
}

// TestC_FailTimeout: a failed server is skipped for fail_timeout by this
// instance, by any instance that sees the store's mark, and asked again
// after it.
func TestC_FailTimeout(t *testing.T) {
	srv := newLookupServer(t)
	srv.answerPath("/down", answer{status: 500})
	u := srv.URL + "/down"
	tw := newTwin(t, srv, `{"servers":["`+u+`"],"fail_timeout":"1s"}`)
	for i := range 3 {
		if r := run(t, tw, srv, plugintest.MailFields("imap", "bob@example.com")); r.Verdict != abi.VerdictTempFail {
			t.Fatalf("login %d: %v, want tempfail", i, r.Verdict)
		}
	}
	// After fail_timeout both the local and the store's marks are gone.
	time.Sleep(1100 * time.Millisecond)
	run(t, tw, srv, plugintest.MailFields("imap", "bob@example.com"))

	// A fresh pair of instances honours a mark another one left.
	tw2 := newTwin(t, srv, `{"servers":["`+u+`"]}`)
	ctx := context.Background()
	for _, st := range []*plugintest.RecordingStore{tw2.RefStore, tw2.PortStore} {
		_ = st.Set(ctx, downKey(u), []byte("1"), time.Minute)
		st.Take()
	}
	srv.answerPath("/down", okAnswer())
	run(t, tw2, srv, plugintest.MailFields("imap", "bob@example.com"))
	// Any value marks it down, an empty one too.
	for _, st := range []*plugintest.RecordingStore{tw2.RefStore, tw2.PortStore} {
		_ = st.Set(ctx, downKey(u), []byte(strings.Repeat("x", 700)), time.Minute)
		st.Take()
	}
	run(t, tw2, srv, plugintest.MailFields("imap", "bob@example.com"))
	for _, st := range []*plugintest.RecordingStore{tw2.RefStore, tw2.PortStore} {
		_ = st.Delete(ctx, downKey(u))
		st.Take()
	}
	if r := run(t, tw2, srv, plugintest.MailFields("imap", "bob@example.com")); r.Verdict != abi.VerdictDone {
		t.Fatalf("%v after the mark went, want done", r.Verdict)
	}
}

// scenario is what one build did over several logins with several
// servers, in a form that does not depend on the server it started at.
type scenario struct {
	Verdicts []abi.Verdict
	Hits     map[string]int
	Counters map[string]int64
	// Metrics: each declared metric's kind, help, bounds and observation
	// count (ABI 1.1 plugin metrics: lookup_seconds).
	Metrics  map[string]string
	StoreOps []string // sorted
	Starts   map[string]int
}

// runScenario loads wasm with servers /a, /b, /c (answers from srv), runs
// logins, and reports.
func runScenario(t *testing.T, wasm string, srv *lookupServer, cfgExtra string, paths []string, logins int, st kv.Store) scenario {
	t.Helper()
	var urls []string
	for _, p := range paths {
		urls = append(urls, `"`+srv.URL+p+`"`)
	}
	rec := plugintest.NewRecordingStore()
	if st != nil {
		rec.Store = st
	}
	p := plugintest.Load(t, wasm, plugintest.Config(`{"servers":[`+strings.Join(urls, ",")+`]`+cfgExtra+`}`),
		allow(srv.addr()), plugintest.Store(rec))
	sc := scenario{Hits: map[string]int{}}
	srv.take()
	for range logins {
		r := p.Run(abi.HookRoute, plugintest.MailFields("imap", "bob@example.com"))
		sc.Verdicts = append(sc.Verdicts, r.Verdict)
	}
	for _, r := range srv.take() {
		sc.Hits[r.URI]++
	}
	sc.Counters = p.Info().Counters
	sc.Metrics = map[string]string{}
	for _, m := range p.Host.Plugin("test").Metrics() {
		n, _, _ := m.Histogram()
		sc.Metrics[m.Name] = fmt.Sprintf("kind %d help %q bounds %v observed %d", m.Kind, m.Help, m.Bounds, n)
	}
	if sc.Metrics["lookup_seconds"] == "" || !strings.HasSuffix(sc.Metrics["lookup_seconds"], fmt.Sprintf("observed %d", sc.Counters["lookups"])) {
		t.Errorf("lookup_seconds %q; want one observation per lookup (%d)", sc.Metrics["lookup_seconds"], sc.Counters["lookups"])
	}
	sc.StoreOps = rec.Take()
	slices.Sort(sc.StoreOps)
	return sc
}

func TestC_RoundRobin(t *testing.T) {
	srv := newLookupServer(t)
	srv.answerPath("/down", answer{status: 500})
	g, c := builds(t)
	for _, tc := range []struct {
		name   string
		cfg    string
		paths  []string
		logins int
		check  func(t *testing.T, sc scenario)
	}{
		{"even spread", `,"fail_timeout":0`, []string{"/a", "/b", "/c"}, 9, func(t *testing.T, sc scenario) {
			if sc.Hits["/a"] != 3 || sc.Hits["/b"] != 3 || sc.Hits["/c"] != 3 {
				t.Errorf("hits %v, want 3 each", sc.Hits)
			}
		}},
		{"even spread with the store", ``, []string{"/a", "/b", "/c"}, 9, func(t *testing.T, sc scenario) {
			if sc.Hits["/a"] != 3 || sc.Hits["/b"] != 3 || sc.Hits["/c"] != 3 {
				t.Errorf("hits %v, want 3 each", sc.Hits)
			}
		}},
		{"one down is skipped", `,"fail_timeout":"60s"`, []string{"/down", "/b"}, 6, func(t *testing.T, sc scenario) {
			if sc.Hits["/down"] != 1 || sc.Hits["/b"] != 6 {
				t.Errorf("hits %v, want /down once, /b 6 times", sc.Hits)
			}
		}},
		{"one down keeps its turn with fail_timeout 0", `,"fail_timeout":0`, []string{"/down", "/b"}, 4, func(t *testing.T, sc scenario) {
			if sc.Hits["/down"] != 2 || sc.Hits["/b"] != 4 {
				t.Errorf("hits %v, want /down 2, /b 4", sc.Hits)
			}
		}},
		{"all down", ``, []string{"/down", "/down2"}, 3, func(t *testing.T, sc scenario) {
			if sc.Hits["/down"] != 1 || sc.Hits["/down2"] != 1 {
				t.Errorf("hits %v, want each once", sc.Hits)
			}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv.answerPath("/down2", answer{status: 503})
			ref := runScenario(t, g, srv, tc.cfg, tc.paths, tc.logins, nil)
			port := runScenario(t, c, srv, tc.cfg, tc.paths, tc.logins, nil)
			tc.check(t, ref)
			tc.check(t, port)
			if !reflect.DeepEqual(ref, port) {
				t.Errorf("builds differ\nGo: %+v\nC:  %+v", ref, port)
			}
		})
	}
	// Another instance honours the marks the first one left in a shared store.
	t.Run("shared store", func(t *testing.T) {
		for _, wasm := range []string{g, c} {
			st := kv.NewMemory(kv.MemoryOptions{})
			runScenario(t, wasm, srv, ``, []string{"/down", "/b"}, 2, st)
			sc := runScenario(t, wasm, srv, ``, []string{"/down", "/b"}, 4, st)
			if sc.Hits["/down"] != 0 || sc.Hits["/b"] != 4 {
				t.Errorf("%s: hits %v, want /b only", wasm, sc.Hits)
			}
		}
	})
	// The round robin starts at a random server: fresh instances do not all
	// send their first lookup to the same one.
	t.Run("random start", func(t *testing.T) {
		for _, wasm := range []string{g, c} {
			starts := map[string]int{}
			for range 8 {
				sc := runScenario(t, wasm, srv, `,"fail_timeout":0`, []string{"/a", "/b", "/c"}, 1, nil)
				for k := range sc.Hits {
					starts[k]++
				}
			}
			if len(starts) < 2 {
				t.Errorf("%s: 8 fresh instances all started at %v", wasm, starts)
			}
		}
	})
}

// TestC_Config: both builds accept and refuse the same configurations.
func TestC_Config(t *testing.T) {
	const u = `"http://127.0.0.1:7072/service/extension/nginx-lookup"`
	srv := `{"servers":[` + u + `]`
	cfgs := []string{
		``, ` `, "\n\t", `null`, `{}`, `[]`, `1`, `"x"`, `true`, `{`, `}`, `{"servers":[]}`, `{"servers":null}`,
		srv + `}`, srv + `} trailing`, srv + `}}`, srv + `}{`, ` ` + srv + "}\n", srv + `,}`, srv + `}]`,
		`{"servers":"http://a/"}`, `{"servers":[1]}`, `{"servers":[null]}`, `{"servers":[` + u + `,null]}`, `{"servers":{}}`,
		`{"Servers":[` + u + `]}`, `{"SERVERS":[` + u + `]}`, `{"ſervers":[` + u + `]}`, `{"serverſ":[` + u + `]}`,
		`{"serv\u0065rs":[` + u + `]}`, `{"servers ":[` + u + `]}`,
		`{"servers":[` + u + `],"servers":[]}`, `{"servers":[],"servers":[` + u + `]}`, `{"servers":[` + u + `],"servers":null}`,
		srv + `,"timeuot":"1s"}`, srv + `,"":1}`,
		`{"servers":["http://a/","http://a/"]}`, `{"servers":["http://a/","http://a"]}`, `{"servers":["http://a/","HTTP://a/"]}`,
		`{"servers":["http://a/\ud800"]}`, `{"servers":["http://a/\ud83d\ude00"]}`, "{\"servers\":[\"http://a\xff/\"]}",
		"{\"servers\":[\"http://a/\xff\",\"http://a/\\ufffd\"]}",
		srv + `,"send_password":true}`, srv + `,"send_password":false}`, srv + `,"send_password":null}`, srv + `,"send_password":1}`,
		srv + `,"send_password":"true"}`, srv + `,"send_password":true,"send_password":null}`, srv + `,"Send_Password":true}`,
		srv + `,"require_200":false}`, srv + `,"require_200":null}`, srv + `,"require_200":0}`,
		srv + `,"protocol_names":null}`, srv + `,"protocol_names":{}}`, srv + `,"protocol_names":[]}`, srv + `,"protocol_names":"imap"}`,
		srv + `,"protocol_names":{"imap":"imap4"}}`, srv + `,"protocol_names":{"imap+tls":"imaps"}}`,
		srv + `,"protocol_names":{"IMAP":"x"}}`, srv + `,"protocol_names":{"imap+TLS":"x"}}`, srv + `,"protocol_names":{"+tls":"x"}}`,
		srv + `,"protocol_names":{"imap+tls+tls":"x"}}`, srv + `,"protocol_names":{"":"x"}}`, srv + `,"protocol_names":{"imap":""}}`,
		srv + `,"protocol_names":{"imap":null}}`, srv + `,"protocol_names":{"imap":1}}`, srv + `,"protocol_names":{"imap":"a b"}}`,
		srv + `,"protocol_names":{"imap":"` + strings.Repeat("a", 32) + `"}}`, srv + `,"protocol_names":{"imap":"` + strings.Repeat("a", 33) + `"}}`,
		srv + `,"protocol_names":{"imap":"A.b_c-9"}}`, srv + `,"protocol_names":{"imap":"x","imap":"a b"}}`,
		srv + `,"protocol_names":{"imap":"a b","imap":"x"}}`, srv + `,"protocol_names":{"imap":"a b"},"protocol_names":{"pop3":"x"}}`,
		srv + `,"protocol_names":{"imap":"a b"},"protocol_names":null}`, srv + `,"protocol_names":{"imap":"a b"},"protocol_names":{"imap":"ok"}}`,
		srv + `,"protocol_names":{"im\u0061p":"x"}}`, srv + `,"protocol_names":{"imap\n":"x"}}`,
	}
	for _, d := range []string{
		`"15s"`, `"500ms"`, `"1ms"`, `"999us"`, `"999µs"`, `"1000μs"`, `"1000000ns"`, `"1h2m3.5s"`, `"1.5h"`, `".5s"`, `"5.s"`, `"."`, `".s"`,
		`"0"`, `"-0"`, `"+0"`, `"0s"`, `"-1s"`, `"+1s"`, `"1"`, `""`, `"s"`, `"1x"`, `"1S"`, `"soon"`, `"1s "`, `" 1s"`, `"1s1"`,
		`"2562047h"`, `"2562048h"`, `"9223372036854775807ns"`, `"9223372036854775808ns"`, `"-9223372036854775808ns"`,
		`"0.000000000000000000000000000001s"`, `"1.00000000000000000000000000000000001h"`, `"18446744073709551616ns"`,
		`0`, `1`, `0.001`, `0.0009`, `-0`, `-1`, `-0.0000000001`, `1e9`, `1000000000.0000001`, `1e10`, `1e-400`, `1e400`, `-1e400`,
		`2.5`, `1E3`, `0.` + strings.Repeat("0", 500) + `1`, `1` + strings.Repeat("0", 400), `-1` + strings.Repeat("0", 400), `null`, `true`, `false`, `{}`, `[]`, `[1]`, `"1\u0073"`, `"1\ud800"`, "\"1\xffs\"",
	} {
		cfgs = append(cfgs, srv+`,"timeout":`+d+`}`, srv+`,"fail_timeout":`+d+`}`, srv+`,"reuse":`+d+`}`)
	}
	for _, d := range []string{`"1h"`, `"2h"`, `"1h0.000001s"`, `"3600000ms"`, `"59m60s"`, `3600`, `3600.0000001`, `3601`, `5`, `-0.000000001`, `-0.0000000019`} {
		cfgs = append(cfgs, srv+`,"reuse":`+d+`}`)
	}
	for _, s := range []string{
		"http://a", "https://a", "HTTP://a/", "hTTpS://a/", "ftp://a/", "http:/a/", "http:a", "http:", "http://", "http:///x",
		"//a/", "a/", "http//a", "://a", "1http://a", "http://a#", "http://a#f", "http://a/#%zz", "http://a/#", "http://a?#",
		"http://u@a/", "http://u:p@a/", "http://@a/", "http://a/@x", "http://a/?u@x", "http://a:80/", "http://a:/", "http://:80/",
		"http://a:8x/", "http://a:80:80/", "http://a:b:80/", "http://[::1]/", "http://[::1]:80/", "http://[::1]x/", "http://[::1/",
		"http://::1/", "http://[1.2.3.4]/", "http://[::ffff:1.2.3.4]/", "http://[fe80::1%25eth0]/", "http://[fe80::1%25]/",
		"http://[fe80::1%eth0]/", "http://[fe80::1%25%65th0]/", "http://[fe80::1%25e%2Fh]/", "http://[fe80::1%25e%20h]/",
		"http://a[b]/", "http://[a]/", "http://[::1]]/", "http://[[::1]/", "http://a b/", "http://a%20b/", "http://a%C3%A9/",
		"http://%41/", "http://a%25b/", "http://a%2/", "http://a%zz/", "http://ä/", "http://a_b~c!$&'()*+,;=\"<>/",
		"http://a{b}/", "http://a|b/", "http://a\\b/", "http://a^b/", "http://a`b/", "http://a/%zz", "http://a/%2", "http://a/%41",
		"http://a/ b", "http://a?x%zz", "http://a/?", "http://a/??", "http://a/x?y", "http://a\u007f/", "http://a/\u0001",
		"*", "", "http://a/" + strings.Repeat("x", 2000),
	} {
		b, _ := jsonString(s)
		cfgs = append(cfgs, `{"servers":[`+b+`]}`)
	}
	g, c := builds(t)
	for i, cfg := range cfgs {
		// Every configuration against the reference's own parseConfig
		// (compiled natively: loading the Go build for each would take
		// minutes), and every seventh through the Go build as well.
		_, errNative := parseConfig([]byte(cfg))
		p, errPort := plugintest.TryLoad(t, c, plugintest.Config(cfg), allow())
		if (errNative == nil) != (errPort == nil) {
			t.Errorf("config %q: Go: %v; C build: %v", cfg, errNative, errPort)
			continue
		}
		if errPort != nil && !strings.Contains(errPort.Error(), "route-lookup: config: ") {
			t.Errorf("config %q: C build's refusal %q does not say it is the configuration", cfg, errPort)
		}
		if errPort == nil {
			p.Host.Close(context.Background())
		}
		if i%7 != 0 {
			continue
		}
		tw, errRef, errPort := plugintest.TryNewTwin(t, g, c, plugintest.Config(cfg), allow())
		if (errRef == nil) != (errPort == nil) {
			t.Errorf("config %q: Go build: %v; C build: %v", cfg, errRef, errPort)
			continue
		}
		if errRef == nil {
			if r, p := tw.Ref.Info(), tw.Port.Info(); r.VerifiesPasswords != p.VerifiesPasswords || r.Filter != p.Filter || r.Reuse != p.Reuse {
				t.Errorf("config %q: Go build declares verifying passwords %v, filter %q, reuse %v; C build %v, %q, %v",
					cfg, r.VerifiesPasswords, r.Filter, r.Reuse, p.VerifiesPasswords, p.Filter, p.Reuse)
			}
			tw.Ref.Host.Close(context.Background())
			tw.Port.Host.Close(context.Background())
		}
	}
}

// TestC_reuse: both builds declare the same decision reuse
// (Info().Reuse, what the host keeps of init's reuse_ms) for every row of
// reuseCases, or both refuse the configuration with the same message.
func TestC_reuse(t *testing.T) {
	g, c := builds(t)
	plugintest.CheckTwinReuse(t, g, c, reuseCases, reuseConfig, allow())
}

func jsonString(s string) (string, error) {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range []byte(s) {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteByte(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteByte(r)
		}
	}
	b.WriteByte('"')
	return b.String(), nil
}

// FuzzTwin runs fuzzed logins and fuzzed lookup answers through both
// builds: they must agree on everything, including the requests.
func FuzzTwin(f *testing.F) {
	srv := newLookupServer(f)
	u := srv.URL + "/lookup"
	var twins []*plugintest.Twin
	for _, cfg := range []string{
		`{"servers":["` + u + `"],"fail_timeout":0}`,
		`{"servers":["` + u + `"],"fail_timeout":0,"send_password":true}`,
		`{"servers":["` + u + `"],"fail_timeout":0,"require_200":false,"protocol_names":{"imap":"imap4","sieve+tls":"managesieve"}}`,
		`{"servers":["` + u + `"],"send_password":true,"timeout":"2s"}`,
	} {
		twins = append(twins, newTwin(f, srv, cfg))
	}
	ok := "Auth-Status: OK\nAuth-Server: 10.0.0.5\nAuth-Port: 143\n"
	f.Add(uint8(0), "imap", "bob@example.com", "secret", "plain", "", "", "192.0.2.7", "127.0.0.1", 1, "", "", 0, ok)
	f.Add(uint8(1), "imap", "bob smith%@example.com", "pass word", "login", "TLS1.3", "TLS_AES_128_GCM_SHA256", "2001:db8::7", "::1", 2, "", "", 0,
		ok+"Auth-User: robert@example.com\nAuth-Pass: master\nAuth-Cache-Alias: TRUE\n")
	f.Add(uint8(1), "pop3", "bob", "_password_", "plain", "TLS1.2", "", "::ffff:192.0.2.7", "fe80::1%eth0", 1, "", "", 0,
		"Auth-Status: OK\nAuth-Server: ::ffff:10.0.0.5\nAuth-Port: 0110\nAuth-Pass: _password_\n")
	f.Add(uint8(2), "http", "bob", "", "cookie", "TLS1.3", "x", "192.0.2.7", "", 7, "", "mail.example.com", 1,
		"auth-status: OK\nauth-server: 2001:db8:0:0:0:0:0:5\nauth-port: 8080\n")
	f.Add(uint8(2), "sieve", "bob", "", "gssapi", "TLS1.3", "", "", "", -1, "bob@EXAMPLE.COM", "", 2, ok)
	f.Add(uint8(0), "imap", "bob", "", "plain", "", "", "192.0.2.7", "", 1, "", "", 0, "Auth-Status: Invalid login\nAuth-Wait: 3\n")
	f.Add(uint8(3), "imap", "bob", "pw", "plain", "", "", "192.0.2.7", "", 1, "", "", 0, "Auth-Status: Invalid login\nAuth-Wait: x\n")
	f.Add(uint8(0), "imap", "bob", "", "plain", "", "", "192.0.2.7", "", 1, "", "", 0, "Auth-Status: WAIT\nAuth-Wait: 0\n")
	f.Add(uint8(0), "imap", "bob", "", "plain", "", "", "192.0.2.7", "", 1, "", "", 0, "Auth-Status: WAIT\n")
	f.Add(uint8(2), "imap", "bob", "", "plain", "", "", "192.0.2.7", "", 1, "", "", 3, "Auth-Status: OK\nAuth-Server: host\nAuth-Port: 143\n")
	f.Add(uint8(0), "imap", "bob", "", "plain", "", "", "192.0.2.7", "", 1, "", "", 0, "Auth-Status: OK\nAuth-Server: fe80::1%eth0\nAuth-Port: 143\n")
	f.Add(uint8(3), "imap", "bob", "", "plain", "", "", "192.0.2.7", "", 1, "", "", 3, ok)
	f.Add(uint8(0), "imap", "", "", "plain", "", "", "192.0.2.7", "", 1, "", "", 0, ok)
	statuses := []int{200, 200, 500, 404, 302}
	f.Fuzz(func(t *testing.T, cfg uint8, proto, login, pass, method, tlsVer, cipher, client, local string,
		attempt int, authID, host string, status int, reply string) {
		tw := twins[int(cfg)%len(twins)]
		fields := &plugin.Fields{Protocol: proto, Listener: "l", SessionID: "s", Login: login, Password: pass,
			AuthMethod: method, TLSVersion: tlsVer, TLSCipher: cipher, LoginAttempt: attempt, AuthID: authID}
		if a, err := netip.ParseAddr(client); err == nil {
			fields.Client = netip.AddrPortFrom(a, 50000)
		}
		if a, err := netip.ParseAddr(local); err == nil {
			fields.Local = netip.AddrPortFrom(a, 143)
		}
		if proto == "http" {
			fields.HTTP = &plugin.HTTPFields{Method: "GET", Host: host, Path: "/"}
		}
		if status < 0 {
			status = -status
		}
		a := answer{status: statuses[status%len(statuses)]}
		for _, line := range strings.Split(reply, "\n") {
			name, v, ok := strings.Cut(line, ":")
			switch http.CanonicalHeaderKey(strings.TrimSpace(name)) {
			case "", "Content-Length", "Transfer-Encoding", "Trailer", "Connection", "Upgrade", "Keep-Alive":
				continue
			}
			if ok && !strings.ContainsAny(v, "\r") {
				a.headers = append(a.headers, [2]string{name, strings.TrimPrefix(v, " ")})
			}
		}
		// The host sleeps Auth-Wait before each retry of a WAIT: keep it 0.
		waits := false
		for _, h := range a.headers {
			waits = waits || strings.Contains(h[1], "WAIT")
		}
		for i, h := range a.headers {
			if waits && http.CanonicalHeaderKey(strings.TrimSpace(h[0])) == "Auth-Wait" {
				a.headers[i][1] = strings.Map(func(r rune) rune {
					if r >= '1' && r <= '9' {
						return '0'
					}
					return r
				}, h[1])
			}
		}
		srv.mu.Lock()
		srv.def = a
		srv.mu.Unlock()
		run(t, tw, srv, fields)
	})
}

// webTokenFields is an anonymous web request with the Cookie header and
// query given.
func webTokenFields(cookie, query string) *plugin.Fields {
	f := plugintest.MailFields("http", "")
	f.AuthMethod = "cookie"
	f.TLSVersion = "TLS1.3"
	f.HTTP = &plugin.HTTPFields{Method: "GET", Host: "mail.example.com", Path: "/", Query: query, Header: http.Header{}}
	if cookie != "" {
		f.HTTP.Header.Set("Cookie", cookie)
	}
	return f
}

// TestC_ZimbraID: web requests routed by the account id of their auth
// token (zimbra_id), and every way that falls back to the pool.
func TestC_ZimbraID(t *testing.T) {
	srv := newLookupServer(t)
	u := srv.URL + "/lookup"
	closed := closedAddr(t)
	tok := func(data string) string { return "0_ab12_" + fmt.Sprintf("%x", data) }
	good := tok("id=36:" + zimbraID + ";exp=13:1896504658160;type=6:zimbra;")
	tests := []struct {
		name          string
		url           string
		cookie, query string
		login         string
		a             answer
		done          bool // else continue
	}{
		{name: "cookie", cookie: "ZM_AUTH_TOKEN=" + good, a: okAnswer(), done: true},
		{name: "cookie among others", cookie: "a=1; ZM_AUTH_TOKEN=" + good + "; b=2", a: okAnswer("Auth-User", "other-id"), done: true},
		{name: "argument", query: "x=1&zauthtoken=" + good, a: okAnswer(), done: true},
		{name: "cookie wins", cookie: "ZM_AUTH_TOKEN=" + good, query: "zauthtoken=" + tok("id=1:q;"), a: okAnswer(), done: true},
		{name: "empty cookie: argument", cookie: "ZM_AUTH_TOKEN=", query: "zauthtoken=" + tok("id=1:q;"), a: okAnswer(), done: true},
		{name: "a user first", cookie: "ZM_AUTH_TOKEN=" + good, login: "bob@example.com", a: okAnswer(), done: true},
		{name: "odd id escaped", cookie: "ZM_AUTH_TOKEN=" + tok("id=5:a b%\x7f;"), a: okAnswer(), done: true},
		{name: "upper-case hex", cookie: "ZM_AUTH_TOKEN=" + strings.ToUpper(good), a: okAnswer(), done: true},
		{name: "no id", cookie: "ZM_AUTH_TOKEN=" + tok("exp=1:1;"), a: okAnswer()},
		{name: "empty id", cookie: "ZM_AUTH_TOKEN=" + tok("id=0:;"), a: okAnswer()},
		{name: "bad hex", cookie: "ZM_AUTH_TOKEN=0_1_zz", a: okAnswer()},
		{name: "length past the end", cookie: "ZM_AUTH_TOKEN=" + tok("id=40:x"), a: okAnswer()},
		{name: "huge length", cookie: "ZM_AUTH_TOKEN=" + tok("id=123456789012345678901234567890:x"), a: okAnswer()},
		{name: "no token", a: okAnswer()},
		{name: "argument without =", query: "zauthtoken&a=" + good, a: okAnswer()},
		{name: "refused with Auth-Wait: pool", cookie: "ZM_AUTH_TOKEN=" + good, a: hdrs("Auth-Status", "account not found", "Auth-Wait", "10")},
		{name: "WAIT: pool", cookie: "ZM_AUTH_TOKEN=" + good, a: hdrs("Auth-Status", "WAIT", "Auth-Wait", "5")},
		{name: "bad answer: pool", cookie: "ZM_AUTH_TOKEN=" + good, a: hdrs("X", "1")},
		{name: "unreachable: pool", url: "http://" + closed + "/x", cookie: "ZM_AUTH_TOKEN=" + good},
	}
	twins := map[string]*plugintest.Twin{}
	pt := t
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			url := u
			if tc.url != "" {
				url = tc.url
			}
			tw := twins[url]
			if tw == nil {
				g, c := builds(t)
				tw = plugintest.NewTwin(pt, g, c, plugintest.Config(`{"servers":["`+url+`"],"zimbra_id":true}`), allow(srv.addr(), closed))
				twins[url] = tw
			}
			srv.mu.Lock()
			srv.def = tc.a
			srv.mu.Unlock()
			f := webTokenFields(tc.cookie, tc.query)
			f.Login = tc.login
			want := abi.VerdictContinue
			if tc.done {
				want = abi.VerdictDone
			}
			if r := run(t, tw, srv, f); r.Verdict != want {
				t.Errorf("verdict %v, want %v", r.Verdict, want)
			}
		})
	}
}

// FuzzTwinToken feeds fuzzed cookies, queries and answers to both builds
// with zimbra_id.
func FuzzTwinToken(f *testing.F) {
	srv := newLookupServer(f)
	tw := newTwin(f, srv, `{"servers":["`+srv.URL+`/lookup"],"fail_timeout":0,"zimbra_id":true}`)
	good := "0_ab12_" + fmt.Sprintf("%x", "id=36:"+zimbraID+";exp=13:1896504658160;")
	f.Add("ZM_AUTH_TOKEN="+good, "", "Auth-Status: OK\nAuth-Server: 10.0.0.5\nAuth-Port: 80\n")
	f.Add("", "zauthtoken="+good, "Auth-Status: OK\nAuth-Server: 10.0.0.5\nAuth-Port: 80\nAuth-User: x\n")
	f.Add("ZM_AUTH_TOKEN=0_0_"+fmt.Sprintf("%x", "a=1:b;id=2:xy"), "", "Auth-Status: nope\nAuth-Wait: 0\n")
	f.Add("ZM_AUTH_TOKEN=__", "zauthtoken=1_2_3", "Auth-Status: WAIT\nAuth-Wait: 0\n")
	f.Fuzz(func(t *testing.T, cookie, query, reply string) {
		if strings.ContainsAny(cookie, "\r\n\x00") {
			return // not a header value the host would pass
		}
		a := answer{status: 200}
		for _, line := range strings.Split(reply, "\n") {
			name, v, ok := strings.Cut(line, ":")
			switch http.CanonicalHeaderKey(strings.TrimSpace(name)) {
			case "", "Content-Length", "Transfer-Encoding", "Trailer", "Connection", "Upgrade", "Keep-Alive":
				continue
			}
			if ok && !strings.ContainsAny(v, "\r") {
				a.headers = append(a.headers, [2]string{name, strings.TrimPrefix(v, " ")})
			}
		}
		srv.mu.Lock()
		srv.def = a
		srv.mu.Unlock()
		run(t, tw, srv, webTokenFields(cookie, query))
	})
}
