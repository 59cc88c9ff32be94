package authhttp

import (
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"
)

func newServer(t *testing.T, routes map[string]Route) *Server {
	t.Helper()
	s, err := NewServer(routes)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Error(err)
		}
	})
	return s
}

// lookup sends a lookup with nginx's headers plus extra ("Name", "value"
// pairs; an empty value deletes the header).
func lookup(t *testing.T, s *Server, extra ...string) (*http.Response, error) {
	t.Helper()
	req, err := http.NewRequest("GET", s.URL(), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := req.Header
	h.Set("Auth-Method", "plain")
	h.Set("Auth-User", "bob@example.com")
	h.Set("Auth-Pass", PasswordPlaceholder)
	h.Set("Auth-Protocol", "imap")
	h.Set("Auth-Login-Attempt", "1")
	h.Set("Client-IP", "192.0.2.7")
	h.Set("X-Proxy-IP", "198.51.100.1")
	for i := 0; i+1 < len(extra); i += 2 {
		if extra[i+1] == "" {
			h.Del(extra[i])
		} else {
			h.Set(extra[i], extra[i+1])
		}
	}
	c := &http.Client{Timeout: 2 * time.Second}
	resp, err := c.Do(req)
	if err == nil {
		resp.Body.Close()
	}
	return resp, err
}

func TestServer_Answers(t *testing.T) {
	s := newServer(t, map[string]Route{
		"bob@example.com": {Server: "10.0.0.5", Port: 143},
		"al":              {Server: "10.0.0.6", Port: 7143, Account: "al@example.com", CacheAlias: true, Password: "pw"},
		"b b":             {Server: "10.0.0.7", Port: 143},
		"waiter":          {Status: "WAIT", Wait: "2"},
		"locked":          {Status: "Account locked", Wait: "5"},
	})
	tests := []struct {
		name  string
		extra []string
		want  map[string]string // "" means absent
	}{
		{"ok", nil, map[string]string{"Auth-Status": "OK", "Auth-Server": "10.0.0.5", "Auth-Port": "143",
			"Auth-User": "", "Auth-Cache-Alias": "", "Auth-Wait": ""}},
		{"alias with account", []string{"Auth-User", "al"}, map[string]string{"Auth-Status": "OK",
			"Auth-Server": "10.0.0.6", "Auth-Port": "7143", "Auth-User": "al@example.com", "Auth-Cache-Alias": "TRUE", "Auth-Pass": "pw"}},
		{"escaped user", []string{"Auth-User", "b%20b"}, map[string]string{"Auth-Server": "10.0.0.7"}},
		{"wait", []string{"Auth-User", "waiter"}, map[string]string{"Auth-Status": "WAIT", "Auth-Wait": "2", "Auth-Server": ""}},
		{"error with wait", []string{"Auth-User", "locked"}, map[string]string{"Auth-Status": "Account locked", "Auth-Wait": "5"}},
		{"unknown user", []string{"Auth-User", "nobody"}, map[string]string{"Auth-Status": UnknownUser}},
		{"gssapi", []string{"Auth-Method", "gssapi", "Auth-ID", "bob@EXAMPLE.COM"}, map[string]string{"Auth-Status": "OK"}},
		{"web", []string{"Auth-Method", "username", "Auth-Protocol", "httpssl", "X-Proxy-Host", "mail.example.com"},
			map[string]string{"Auth-Status": "OK"}},
		{"missing user", []string{"Auth-User", ""}, map[string]string{"Auth-Status": "Invalid request: missing Auth-User"}},
		{"missing pass", []string{"Auth-Pass", ""}, map[string]string{"Auth-Status": "Invalid request: missing Auth-Pass"}},
		{"bad method", []string{"Auth-Method", "login"}, map[string]string{"Auth-Status": `Invalid request: unknown Auth-Method "login"`}},
		{"bad protocol", []string{"Auth-Protocol", "IMAP"}, map[string]string{"Auth-Status": `Invalid request: unknown Auth-Protocol "IMAP"`}},
		{"bad attempt", []string{"Auth-Login-Attempt", "x"}, map[string]string{"Auth-Status": `Invalid request: Auth-Login-Attempt "x" is not a number`}},
		{"bad client ip", []string{"Client-IP", "host"}, map[string]string{"Auth-Status": `Invalid request: Client-IP "host" is not an IP address`}},
		{"gssapi without id", []string{"Auth-Method", "gssapi"}, map[string]string{"Auth-Status": "Invalid request: gssapi lookup without Auth-ID"}},
		{"web with plain", []string{"Auth-Protocol", "http"}, map[string]string{"Auth-Status": "Invalid request: web lookups use Auth-Method username or zimbraId"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			resp, err := lookup(t, s, tc.extra...)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != 200 {
				t.Errorf("status %d, want 200", resp.StatusCode)
			}
			for k, want := range tc.want {
				if got := resp.Header.Get(k); got != want {
					t.Errorf("%s = %q, want %q", k, got, want)
				}
			}
		})
	}
	reqs := s.Requests()
	if len(reqs) != len(tests) || s.Lookups() != len(tests) {
		t.Fatalf("%d requests recorded, want %d", len(reqs), len(tests))
	}
	if r := reqs[0]; r.User != "bob@example.com" || r.Pass != PasswordPlaceholder || r.Protocol != "imap" ||
		r.ClientIP != "192.0.2.7" || r.ProxyIP != "198.51.100.1" || r.Problem != "" {
		t.Errorf("first request recorded as %+v", r)
	}
	if r := reqs[2]; r.User != "b b" {
		t.Errorf("escaped user recorded as %q, want unescaped", r.User)
	}
	s.Reset()
	if s.Lookups() != 0 {
		t.Error("Reset kept requests")
	}
}

func TestServer_Next(t *testing.T) {
	s := newServer(t, map[string]Route{
		"bob@example.com": {Status: "WAIT", Wait: "0", Next: &Route{Server: "10.0.0.5", Port: 143}},
	})
	for i, want := range []string{"WAIT", "OK", "OK"} {
		resp, err := lookup(t, s)
		if err != nil {
			t.Fatal(err)
		}
		if got := resp.Header.Get("Auth-Status"); got != want {
			t.Errorf("answer %d: %q, want %q", i, got, want)
		}
	}
}

func TestServer_Failures(t *testing.T) {
	s := newServer(t, map[string]Route{"bob@example.com": {Server: "10.0.0.5", Port: 143}})

	s.SetFailure(Fail500)
	resp, err := lookup(t, s)
	if err != nil || resp.StatusCode != 500 {
		t.Fatalf("Fail500: %v, %v", resp, err)
	}

	s.SetFailure(FailGarbage)
	if _, err := lookup(t, s); err == nil {
		t.Fatal("FailGarbage: the client read a response")
	}

	s.SetFailure(FailHang)
	start := time.Now()
	_, err = lookup(t, s)
	var ne interface{ Timeout() bool }
	if err == nil || !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("FailHang: %v, want a client timeout", err)
	}
	if d := time.Since(start); d < 2*time.Second {
		t.Errorf("FailHang answered after %v", d)
	}

	s.SetFailure(FailNone)
	resp, err = lookup(t, s)
	if err != nil || resp.Header.Get("Auth-Status") != "OK" {
		t.Fatalf("after FailNone: %v, %v", resp, err)
	}
	if n := s.Lookups(); n != 4 {
		t.Errorf("%d lookups recorded, want 4", n)
	}
}

// TestServer_CloseEndsHangs checks that Close returns while a request
// hangs, and that a second Close is harmless.
func TestServer_CloseEndsHangs(t *testing.T) {
	s, err := NewServer(nil)
	if err != nil {
		t.Fatal(err)
	}
	s.SetFailure(FailHang)
	done := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest("GET", s.URL(), nil)
		_, err := http.DefaultClient.Do(req)
		done <- err
	}()
	for s.Lookups() == 0 {
		time.Sleep(time.Millisecond)
	}
	closed := make(chan error, 1)
	go func() { closed <- s.Close() }()
	select {
	case err := <-closed:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return while a request hung")
	}
	if err := <-done; err == nil {
		t.Error("the hanging request got an answer")
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if !strings.HasPrefix(s.URL(), "http://127.0.0.1:") {
		t.Errorf("URL %q", s.URL())
	}
}
