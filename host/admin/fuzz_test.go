package admin

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
)

// FuzzGuard sends requests with arbitrary method, Host, Authorization,
// Origin and Sec-Fetch-Site to a loopback server with a token, and checks
// that nothing panics and that a reload runs only for a request with the
// right token, a loopback Host and no cross-site marker.
func FuzzGuard(f *testing.F) {
	const token = "0123456789abcdef-token"
	f.Add("POST", "/reload", "127.0.0.1:9090", "Bearer "+token, "", "")
	f.Add("POST", "/reload", "localhost", "bearer  "+token+" ", "http://localhost", "same-origin")
	f.Add("POST", "/reload", "evil.example", "Bearer "+token, "http://evil.example", "")
	f.Add("POST", "/reload", "[::1]:9090", "Bearer "+token, "", "cross-site")
	f.Add("GET", "/", "127.0.0.1", "", "", "")
	f.Add("POST", "/purge-route", "127.0.0.1", "Bearer x", "null", "none")
	f.Add("DELETE", "/reload", "127.0.0.1\x00", "Bearer\t"+token, "", "")
	var reloads int
	s, err := New(Options{Address: "127.0.0.1:0", Token: token, Reload: func(context.Context) error { reloads++; return nil }})
	if err != nil {
		f.Fatal(err)
	}
	h := s.Handler()
	f.Fuzz(func(t *testing.T, method, path, host, auth, origin, site string) {
		if !strings.HasPrefix(path, "/") {
			path = "/" + path
		}
		r := &http.Request{Method: method, URL: &url.URL{Path: path}, Host: host, Header: http.Header{},
			RemoteAddr: "127.0.0.1:50000", Body: http.NoBody}
		r = r.WithContext(context.Background())
		r.Header.Set("Authorization", auth)
		if origin != "" {
			r.Header.Set("Origin", origin)
		}
		if site != "" {
			r.Header.Set("Sec-Fetch-Site", site)
		}
		before := reloads
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if reloads == before {
			return
		}
		scheme, tok, _ := strings.Cut(auth, " ")
		if !strings.EqualFold(scheme, "bearer") || strings.TrimSpace(tok) != token {
			t.Fatalf("reload ran with Authorization %q", auth)
		}
		if !loopbackHostHeader(host) {
			t.Fatalf("reload ran for Host %q", host)
		}
		if site == "cross-site" || site == "same-site" {
			t.Fatalf("reload ran for Sec-Fetch-Site %q", site)
		}
	})
}
