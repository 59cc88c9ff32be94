package web

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// FuzzRedirectHandler: any Host and path give a 400 or an https redirect
// on one line, never a panic or a header injection.
func FuzzRedirectHandler(f *testing.F) {
	f.Add("mail.test", "/a?b=c", 8443)
	f.Add("[2001:db8::1]:80", "/", 443)
	f.Fuzz(func(t *testing.T, host, path string, port int) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = host
		req.URL.Path = path
		w := httptest.NewRecorder()
		(&redirectHandler{port: port & 0xffff}).ServeHTTP(w, req)
		loc := w.Header().Get("Location")
		switch w.Code {
		case http.StatusBadRequest:
		case http.StatusMovedPermanently:
			if !strings.HasPrefix(loc, "https://") {
				t.Fatalf("Location %q", loc)
			}
		default:
			t.Fatalf("status %d", w.Code)
		}
	})
}
