package web

import (
	"net/http"
	"testing"
)

// basicAuthOK is net/http's answer: what the full path reads as "basic".
func basicAuthOK(v string) bool {
	r := &http.Request{Header: http.Header{"Authorization": {v}}}
	_, _, ok := r.BasicAuth()
	return ok
}

func TestIsBasicAuth(t *testing.T) {
	for _, v := range []string{
		"Basic Ym9iOng=", "basic Ym9iOng=", "BASIC Ym9iOng=", "Basic Ym9i", "Basic ", "Basic",
		"Bearer abc", "Basic Ym9iOng", "Basic Ym9iOng=\t", "Basic  Ym9iOng=", "Basic Og==",
		"Basic " + string(make([]byte, 400)),
	} {
		if got, want := isBasicAuth([]byte(v)), basicAuthOK(v); got != want {
			t.Errorf("isBasicAuth(%q) = %v; net/http says %v", v, got, want)
		}
	}
}

// FuzzIsBasicAuth: whenever the fast path reads an Authorization value as
// basic credentials, so does net/http (the full path), so both compute
// the same reuse key. (The fast path may refuse more: a value over its
// buffer goes the full path.)
func FuzzIsBasicAuth(f *testing.F) {
	f.Add("Basic Ym9iOng=")
	f.Add("basic Og==")
	f.Fuzz(func(t *testing.T, v string) {
		if isBasicAuth([]byte(v)) && !basicAuthOK(v) {
			t.Errorf("isBasicAuth(%q) but net/http refuses it", v)
		}
	})
}

func TestParseFastRequest_authorization(t *testing.T) {
	one := rawHead("GET / HTTP/1.1", "Host: h", "Authorization: Basic Ym9iOng=")
	two := rawHead("GET / HTTP/1.1", "Host: h", "Authorization: Basic Ym9iOng=", "Authorization: Basic Ym9iOnk=")
	var fr fastRequest
	if parseFastRequest(one, "ZM_AUTH_TOKEN", false, &fr) {
		t.Error("Authorization taken without allowAuth")
	}
	if !parseFastRequest(one, "ZM_AUTH_TOKEN", true, &fr) || string(fr.authz) != "Basic Ym9iOng=" {
		t.Errorf("with allowAuth: authz %q, want the value", fr.authz)
	}
	if parseFastRequest(two, "ZM_AUTH_TOKEN", true, &fr) {
		t.Error("two Authorization lines taken")
	}
	plain := rawHead("GET / HTTP/1.1", "Host: h")
	if !parseFastRequest(plain, "ZM_AUTH_TOKEN", true, &fr) || fr.authz != nil {
		t.Errorf("no Authorization: authz %q, want nil", fr.authz)
	}
}

func TestParseFastRequest_authCookie(t *testing.T) {
	one := rawHead("GET / HTTP/1.1", "Host: h", "Cookie: a=1", "Cookie: ZM_AUTH_TOKEN=x")
	two := rawHead("GET / HTTP/1.1", "Host: h", "Cookie: ZM_AUTH_TOKEN=x", "Cookie: ZM_AUTH_TOKEN=y")
	var fr fastRequest
	if parseFastRequest(one, "ZM_AUTH_TOKEN", false, &fr) {
		t.Error("the auth cookie taken without allowAuth")
	}
	if !parseFastRequest(one, "ZM_AUTH_TOKEN", true, &fr) || string(fr.cookie) != "ZM_AUTH_TOKEN=x" {
		t.Errorf("with allowAuth: cookie %q, want the line naming the auth cookie", fr.cookie)
	}
	if parseFastRequest(two, "ZM_AUTH_TOKEN", true, &fr) {
		t.Error("two Cookie lines naming the auth cookie taken")
	}
}
