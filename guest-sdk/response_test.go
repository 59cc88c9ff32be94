package postern_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/hook/response"
	"github.com/postern/postern/guest-sdk/hook/rewrite"
	"github.com/postern/postern/guest-sdk/sdktest"
)

func httpHost(t *testing.T) *sdktest.Host {
	h := sdktest.New(t)
	h.Fields[abi.FieldProtocol] = "http"
	h.Fields[abi.FieldHTTPPath] = "/"
	return h
}

func TestResponseHook(t *testing.T) {
	h := httpHost(t)
	h.Fields[abi.FieldResponseStatus] = "302"
	h.RespHeaders["Location"] = []string{"http://backend:8080/app/login"}
	h.RespHeaders["Set-Cookie"] = []string{"a=1; Domain=backend; Path=/app", "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/app"}
	h.RespHeaders["X-Powered-By"] = []string{"PHP"}
	var status int
	var cookies []string
	response.Handle(func() postern.Verdict {
		status = postern.ResponseStatus()
		cookies = postern.ResponseCookies()
		if ok, err := postern.RewriteLocation("http://backend:8080/app/", "https://mail.example.com/"); !ok || err != nil {
			t.Errorf("RewriteLocation = %v, %v", ok, err)
		}
		out := make([]string, len(cookies))
		for i, c := range cookies {
			out[i] = postern.RewriteCookiePath(postern.RewriteCookieDomain(c, "backend", "mail.example.com"), "/app", "/")
		}
		if err := postern.SetResponseCookies(out); err != nil {
			t.Error(err)
		}
		if err := postern.DeleteResponseHeader("x-powered-by"); err != nil {
			t.Error(err)
		}
		if err := postern.SetResponseHeader("Strict-Transport-Security", "max-age=31536000"); err != nil {
			t.Error(err)
		}
		if err := postern.SetHeader("X-Late", "1"); !errors.Is(err, abi.ErrReadOnly) {
			t.Errorf("request header write in response = %v; want ErrReadOnly", err)
		}
		return postern.Continue
	})
	if v := h.CallHook(abi.HookResponse); v != abi.VerdictContinue {
		t.Fatalf("verdict %v", v)
	}
	if status != 302 || len(cookies) != 2 || !strings.HasPrefix(cookies[1], "b=2; Expires=Wed, 21 Oct") {
		t.Errorf("status %d cookies %q", status, cookies)
	}
	want := map[string][]string{
		"Location":                  {"https://mail.example.com/login"},
		"Set-Cookie":                {"a=1; Domain=mail.example.com; Path=/", "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/"},
		"Strict-Transport-Security": {"max-age=31536000"},
	}
	if len(h.RespHeaders) != len(want) {
		t.Errorf("headers %q", h.RespHeaders)
	}
	for k, v := range want {
		if strings.Join(h.RespHeaders[k], "|") != strings.Join(v, "|") {
			t.Errorf("%s = %q; want %q", k, h.RespHeaders[k], v)
		}
	}
}

func TestResponseFieldsOutsideResponse(t *testing.T) {
	h := httpHost(t)
	h.RespHeaders["Location"] = []string{"/x"}
	rewrite.Handle(func() postern.Verdict {
		if _, err := postern.Get(abi.FieldResponseStatus); !errors.Is(err, abi.ErrNotAvailable) {
			t.Errorf("response_status in rewrite: %v", err)
		}
		if err := postern.SetResponseHeader("A", "b"); !errors.Is(err, abi.ErrNotAvailable) {
			t.Errorf("response_header write in rewrite: %v", err)
		}
		return postern.Continue
	})
	h.CallHook(abi.HookRewrite)
}

func TestRewriteCookie(t *testing.T) {
	for _, tc := range []struct{ in, domain, path, want string }{
		{"a=1; Domain=Backend.Local; Path=/app/x", "backend.local", "/app/", "a=1; Domain=example.com; Path=/x"},
		{"a=1; Path=/app/x", "", "/app", "a=1; Path=//x"}, // a plain prefix, as nginx's proxy_cookie_path
		{"a=1; domain=.backend.local", "backend.local", "", "a=1; domain=.example.com"},
		{"a=1;Path=/app", "", "/app", "a=1;Path=/"},
		{"a=1", "backend.local", "/app", "a=1"},
		{"domain=backend.local; Path=/other", "backend.local", "/app", "domain=backend.local; Path=/other"},
		{"a=1; Domain=other; Path=/app;Secure", "backend.local", "/app", "a=1; Domain=other; Path=/;Secure"},
		{"a=1; Path=/app; Path=/app", "", "/app", "a=1; Path=/; Path=/app"},
	} {
		got := tc.in
		if tc.domain != "" {
			got = postern.RewriteCookieDomain(got, tc.domain, "example.com")
		}
		if tc.path != "" {
			got = postern.RewriteCookiePath(got, tc.path, "/")
		}
		if got != tc.want {
			t.Errorf("%q -> %q; want %q", tc.in, got, tc.want)
		}
	}
}

func FuzzRewriteCookie(f *testing.F) {
	f.Add("a=1; Domain=backend; Path=/app/", "backend", "/app")
	f.Add("a=1;;; Domain= ;Path", "", "/")
	f.Fuzz(func(t *testing.T, c, domain, path string) {
		out := postern.RewriteCookiePath(postern.RewriteCookieDomain(c, domain, "example.com"), path, "/p")
		// The cookie itself (before the first ";") is never touched.
		if i := strings.IndexByte(c, ';'); i >= 0 && !strings.HasPrefix(out, c[:i+1]) {
			t.Fatalf("%q -> %q: cookie changed", c, out)
		}
		if !strings.Contains(c, ";") && out != c {
			t.Fatalf("%q -> %q without attributes", c, out)
		}
	})
}

func TestMetricsDeclare(t *testing.T) {
	h := sdktest.New(t)
	var g postern.Gauge
	var hist postern.Histogram
	var errs []error
	active := true
	t.Cleanup(func() { active = false }) // init functions stay registered for later tests
	postern.OnInit(func([]byte) error {
		if !active {
			return nil
		}
		var err error
		g, err = postern.NewGauge("cache_age_seconds", "Age of the hit.")
		errs = append(errs, err)
		hist, err = postern.NewHistogram("lookup_seconds", "Lookup latency.", []float64{.01, .1, 1})
		errs = append(errs, err)
		_, err = postern.NewHistogram("lookup_seconds", "Lookup latency.", []float64{.01, .1, 1}) // again: same
		errs = append(errs, err)
		_, err = postern.NewGauge("lookup_seconds", "other")
		errs = append(errs, err)
		_, err = postern.NewGauge("lookup_seconds_count", "collides")
		errs = append(errs, err)
		_, err = postern.NewGauge("Bad-Name", "x")
		errs = append(errs, err)
		_, err = postern.NewHistogram("h", "x", []float64{1, 1})
		errs = append(errs, err)
		return nil
	})
	if err := h.Init(nil); err != nil {
		t.Fatal(err)
	}
	want := []error{nil, nil, nil, abi.ErrExists, abi.ErrExists, abi.ErrInvalid, abi.ErrInvalid}
	for i, w := range want {
		if (w == nil) != (errs[i] == nil) || (w != nil && !errors.Is(errs[i], w)) {
			t.Errorf("declaration %d: %v; want %v", i, errs[i], w)
		}
	}
	if errs[3] != nil && !strings.Contains(errs[3].Error(), `metric "lookup_seconds"`) {
		t.Errorf("error does not name the metric: %v", errs[3])
	}
	g.Set(3)
	g.Add(-1)
	hist.ObserveDuration(50 * time.Millisecond)
	hist.Observe(2)
	if m := h.Metrics["cache_age_seconds"]; m == nil || m.Value != 2 {
		t.Errorf("gauge %+v", m)
	}
	if m := h.Metrics["lookup_seconds"]; m == nil || len(m.Observations) != 2 || m.Observations[0] != 0.05 {
		t.Errorf("histogram %+v", m)
	}
	if _, err := postern.NewGauge("late", "x"); !errors.Is(err, abi.ErrNotAvailable) {
		t.Errorf("declare outside init: %v", err)
	}
	var zero postern.Gauge
	zero.Set(1) // undeclared: nothing happens
}
