package main

import (
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/sdktest"
)

func TestParseResponse_errors(t *testing.T) {
	tests := []struct{ config, want string }{
		{`{"response":[]}`, "url-rewrite: config: rules: none given"},
		{`{"response":[{"path":"^/"}]}`, "url-rewrite: config: response[0]: no action; give location, set_headers, hide_headers, cookie_domain or cookie_path"},
		{`{"response":[{"hide_headers":["a"]},{"status":[600],"hide_headers":["a"]}]}`, "url-rewrite: config: response[1].status: 600 is not an HTTP status"},
		{`{"response":[{"path":"(","hide_headers":["a"]}]}`, "url-rewrite: config: response[0].path: error parsing regexp"},
		{`{"response":[{"host":"a:1","hide_headers":["a"]}]}`, `url-rewrite: config: response[0].host: "a:1" is not a host name`},
		{`{"response":[{"location":[{"to":"/"}]}]}`, "url-rewrite: config: response[0].location[0]: want from"},
		{`{"response":[{"set_headers":{"Set-Cookie":"a=1"}}]}`, "url-rewrite: config: response[0].set_headers: Set-Cookie cannot be set here"},
		{`{"response":[{"set_headers":{"X":"a\nb"}}]}`, "url-rewrite: config: response[0].set_headers.X: the value contains CR, LF or NUL"},
		{`{"response":[{"set_headers":{"content-length":"1"}}]}`, "url-rewrite: config: response[0].set_headers: content-length frames the response"},
		{`{"response":[{"hide_headers":["Transfer-Encoding"]}]}`, "url-rewrite: config: response[0].hide_headers[0]: Transfer-Encoding frames the response"},
		{`{"response":[{"hide_headers":["b@d"]}]}`, `url-rewrite: config: response[0].hide_headers[0]: "b@d" is not a header name`},
		{`{"response":[{"cookie_domain":[{"from":"a","to":"b;c"}]}]}`, "url-rewrite: config: response[0].cookie_domain[0]: want from and to domains"},
		{`{"response":[{"cookie_path":[{"from":"app","to":"/"}]}]}`, `url-rewrite: config: response[0].cookie_path[0]: want from and to paths starting with "/"`},
		{`{"response":[{"hide":["a"]}]}`, `url-rewrite: config: response[0]: json: unknown field "hide"`},
	}
	for _, tc := range tests {
		_, err := parseAll([]byte(tc.config))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("parseAll(%s)\n = %v\nwant %q...", tc.config, err, tc.want)
		}
	}
}

// respondTo runs the response hook natively on a response of status with
// headers, after a request for host and path.
func respondTo(t *testing.T, config, host, path, status string, headers map[string][]string) *sdktest.Host {
	t.Helper()
	h := sdktest.New(t)
	if err := h.Init([]byte(config)); err != nil {
		t.Fatal(err)
	}
	h.Fields[abi.FieldProtocol] = "http"
	h.Fields[abi.FieldHTTPMethod] = "GET"
	h.Fields[abi.FieldHTTPHost] = host
	h.Fields[abi.FieldHTTPPath] = path
	h.Fields[abi.FieldResponseStatus] = status
	for k, v := range headers {
		h.RespHeaders[k] = v
	}
	if v := h.CallHook(abi.HookResponse); v != abi.VerdictContinue {
		t.Fatalf("verdict %v", v)
	}
	return h
}

func TestRespond(t *testing.T) {
	conf, err := os.ReadFile("testdata/response.json")
	if err != nil {
		t.Fatal(err)
	}
	backend := map[string][]string{
		"Location":     {"http://mailbox2.internal:8080/home/?a=1"},
		"Server":       {"Jetty"},
		"X-Powered-By": {"x"},
		"Set-Cookie":   {"ZM_AUTH_TOKEN=t; Domain=.mailbox.internal; Path=/zimbra/; Secure", "other=1; Path=/service"},
	}
	t.Run("redirect", func(t *testing.T) {
		h := respondTo(t, string(conf), "mail.example.com:443", "/", "302", backend)
		want := map[string][]string{
			"Location":                  {"https://mail.example.com/home/?a=1"},
			"Set-Cookie":                {"ZM_AUTH_TOKEN=t; Domain=.mail.example.com; Path=/; Secure", "other=1; Path=/service"},
			"Strict-Transport-Security": {"max-age=31536000"},
		}
		if len(h.RespHeaders) != len(want) {
			t.Errorf("headers %q; want %q", h.RespHeaders, want)
		}
		for k, v := range want {
			if !slices.Equal(h.RespHeaders[k], v) {
				t.Errorf("%s = %q; want %q", k, h.RespHeaders[k], v)
			}
		}
		if h.Counters["response_1_hits"] != 1 || h.Counters["response_0_hits"] != 0 {
			t.Errorf("counters %v", h.Counters)
		}
	})
	t.Run("another host", func(t *testing.T) { // only the status rule (404) may apply, and it does not
		h := respondTo(t, string(conf), "other.example.com", "/", "200", map[string][]string{"Server": {"Jetty"}})
		if len(h.RespHeaders) != 1 || h.RespHeaders["Server"][0] != "Jetty" {
			t.Errorf("untouched response: %q", h.RespHeaders)
		}
	})
	t.Run("404", func(t *testing.T) { // both rules (the first has last: false)
		h := respondTo(t, string(conf), "mail.example.com", "/", "404", map[string][]string{"Server": {"Jetty"}})
		if h.RespHeaders["Cache-Control"] == nil || h.RespHeaders["Server"] != nil || h.RespHeaders["Strict-Transport-Security"] == nil {
			t.Errorf("404: %q", h.RespHeaders)
		}
	})
	t.Run("foreign Location", func(t *testing.T) {
		h := respondTo(t, string(conf), "mail.example.com", "/", "302", map[string][]string{"Location": {"https://elsewhere/"}})
		if h.RespHeaders["Location"][0] != "https://elsewhere/" {
			t.Errorf("foreign Location rewritten: %q", h.RespHeaders["Location"])
		}
	})
}

// TestRequestFilter_response: response rules widen the request filter (it
// applies to the response hook too).
func TestRequestFilter_response(t *testing.T) {
	c, err := parseAll([]byte(`{"rules":[{"path":"^/zimbra/","rewrite":{"path":"/"}}],"response":[{"path":"^/home/","hide_headers":["Server"]}]}`))
	if err != nil {
		t.Fatal(err)
	}
	hosts, paths, methods := requestFilter(c.rules, c.response...)
	if hosts != nil || !slices.Equal(paths, []string{"/zimbra/", "/home/"}) || methods != nil {
		t.Errorf("filter %v %v %v", hosts, paths, methods)
	}
	c, _ = parseAll([]byte(`{"rules":[{"path":"^/zimbra/","rewrite":{"path":"/"}}],"response":[{"hide_headers":["Server"]}]}`))
	if _, paths, _ := requestFilter(c.rules, c.response...); paths != nil {
		t.Errorf("a response rule for every path must lift the path filter: %v", paths)
	}
}
