package main

import (
	"os"
	"strings"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/sdktest"
)

type request struct {
	method, host, path, query string
	headers                   map[string][]string
}

type outcome struct {
	verdict                   abi.Verdict
	host, path, query         string
	redirectCode, redirectURL string
	headers                   map[string]string // "" = must be absent
	counters                  map[string]int64
}

func call(t *testing.T, config string, req request) (*sdktest.Host, abi.Verdict) {
	t.Helper()
	h := sdktest.New(t)
	if err := h.Init([]byte(config)); err != nil {
		t.Fatal(err)
	}
	h.Fields[abi.FieldProtocol] = "http"
	h.Fields[abi.FieldHTTPMethod] = def(req.method, "GET")
	h.Fields[abi.FieldHTTPHost] = def(req.host, "www.example.com")
	h.Fields[abi.FieldHTTPPath] = def(req.path, "/")
	h.Fields[abi.FieldHTTPQuery] = req.query
	for k, v := range req.headers {
		h.Headers[k] = v
	}
	return h, h.CallHook(abi.HookRewrite)
}

func def(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

func TestApply(t *testing.T) {
	rulesJSON, err := os.ReadFile("testdata/rules.json")
	if err != nil {
		t.Fatal(err)
	}
	example := string(rulesJSON)
	tests := []struct {
		name   string
		config string
		req    request
		want   outcome
	}{
		{
			name: "redirect with the whole path", config: example,
			req: request{host: "old.example.com:443", path: "/home/bob/inbox", query: "a=1"},
			want: outcome{verdict: abi.VerdictDone, host: "old.example.com:443", path: "/home/bob/inbox", query: "a=1",
				redirectCode: "301", redirectURL: "https://new.example.com/home/bob/inbox",
				counters: map[string]int64{"rule_0_hits": 1, "redirects": 1}},
		},
		{
			name: "wildcard host, named capture, query param, headers, then the next rule", config: example,
			req: request{method: "GET", host: "Mail.Example.COM", path: "/zimbra/service/home/~/inbox", query: "fmt=json&client=standard&client=x",
				headers: map[string][]string{"X-Debug": {"1"}, "Cookie": {"a=b"}}},
			want: outcome{verdict: abi.VerdictContinue, host: "mailbox.internal:8080", path: "/service/home/~/inbox",
				query:    "fmt=json&client=advanced",
				headers:  map[string]string{"X-Original-Path": "/zimbra/service/home/~/inbox", "X-Debug": "", "Cookie": "a=b"},
				counters: map[string]int64{"rule_1_hits": 1, "rule_2_hits": 1}},
		},
		{
			name: "method does not match", config: example,
			req: request{method: "POST", host: "mail.example.com", path: "/zimbra/x"},
			want: outcome{verdict: abi.VerdictContinue, host: "mail.example.com", path: "/zimbra/x",
				counters: map[string]int64{}},
		},
		{
			name: "a wildcard does not match the bare domain", config: example,
			req:  request{host: "example.com", path: "/zimbra/x"},
			want: outcome{verdict: abi.VerdictContinue, host: "example.com", path: "/zimbra/x", counters: map[string]int64{}},
		},
		{
			name: "last (the default) stops at the first match", config: example,
			req: request{method: "POST", host: "x.test", path: "/api/v1/users", query: "q=1"},
			want: outcome{verdict: abi.VerdictContinue, host: "x.test", path: "/api/v2/users", query: "compat=v1",
				counters: map[string]int64{"rule_3_hits": 1}},
		},
		{
			name:   "first match wins",
			config: `{"rules":[{"path":"^/a","rewrite":{"path":"/first"}},{"path":"^/a","rewrite":{"path":"/second"}}]}`,
			req:    request{path: "/a"},
			want:   outcome{verdict: abi.VerdictContinue, path: "/first", counters: map[string]int64{"rule_0_hits": 1}},
		},
		{
			name:   "last false chains on the rewritten path",
			config: `{"rules":[{"path":"^/a$","rewrite":{"path":"/b"},"last":false},{"path":"^/b$","rewrite":{"path":"/c"}}]}`,
			req:    request{path: "/a"},
			want:   outcome{verdict: abi.VerdictContinue, path: "/c", counters: map[string]int64{"rule_0_hits": 1, "rule_1_hits": 1}},
		},
		{
			name:   "exact host, method list, ${1}x and $$",
			config: `{"rules":[{"host":"a.test","method":["PUT","GET"],"path":"^/(\\w+)$","rewrite":{"path":"/${1}x","query":"p=$$1&v=$1"}}]}`,
			req:    request{host: "A.test.", path: "/abc"},
			want:   outcome{verdict: abi.VerdictContinue, host: "A.test.", path: "/abcx", query: "p=$1&v=abc", counters: map[string]int64{"rule_0_hits": 1}},
		},
		{
			name:   "a rule without criteria matches everything; query params append",
			config: `{"rules":[{"rewrite":{"query_params":{"a b":"c&d"}}}]}`,
			req:    request{path: "/x", query: "z=1"},
			want:   outcome{verdict: abi.VerdictContinue, path: "/x", query: "z=1&a+b=c%26d", counters: map[string]int64{"rule_0_hits": 1}},
		},
		{
			name:   "a rewritten path the host refuses is counted and skipped",
			config: `{"rules":[{"path":"^/(.*)$","rewrite":{"path":"$1"}}]}`,
			req:    request{path: "/relative"},
			want:   outcome{verdict: abi.VerdictContinue, path: "/relative", counters: map[string]int64{"rule_0_hits": 1, "errors": 1}},
		},
		{
			name:   "redirect with a 308 and an IPv6 host",
			config: `{"rules":[{"host":"2001:db8::1","redirect":{"code":308,"to":"https://[2001:db8::2]/"}}]}`,
			req:    request{host: "[2001:db8::1]:8443", path: "/"},
			want:   outcome{verdict: abi.VerdictDone, host: "[2001:db8::1]:8443", path: "/", redirectCode: "308", redirectURL: "https://[2001:db8::2]/", counters: map[string]int64{"rule_0_hits": 1, "redirects": 1}},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, v := call(t, tc.config, tc.req)
			if v != tc.want.verdict {
				t.Fatalf("verdict %v, want %v", v, tc.want.verdict)
			}
			w := tc.want
			for f, want := range map[abi.Field]string{
				abi.FieldHTTPHost: def(w.host, "www.example.com"), abi.FieldHTTPPath: w.path, abi.FieldHTTPQuery: w.query,
				abi.FieldRedirectCode: w.redirectCode, abi.FieldRedirectURL: w.redirectURL,
			} {
				if got := h.Fields[f]; got != want {
					t.Errorf("%s = %q, want %q", f, got, want)
				}
			}
			for name, want := range w.headers {
				got, ok := h.Headers[name]
				if want == "" && ok {
					t.Errorf("header %s = %q, want it removed", name, got)
				} else if want != "" && strings.Join(got, ", ") != want {
					t.Errorf("header %s = %q, want %q", name, got, want)
				}
			}
			for name, want := range w.counters {
				if got := h.Counters[name]; got != want {
					t.Errorf("counter %s = %d, want %d (all %v)", name, got, want, h.Counters)
				}
			}
			if len(h.Counters) != len(w.counters) {
				t.Errorf("counters %v, want %v", h.Counters, w.counters)
			}
		})
	}
}

func TestSetParams(t *testing.T) {
	tests := []struct {
		raw    string
		params []param
		want   string
	}{
		{"", []param{{"a", "1"}}, "a=1"},
		{"a=0&b=2", []param{{"a", "1"}}, "a=1&b=2"},
		{"b=2&a=0&a=9&c", []param{{"a", "1"}, {"c", ""}}, "b=2&a=1&c="},
		{"x%20y=1", []param{{"x y", "2"}}, "x+y=2"},
		{"q=%zz", []param{{"n", "é"}}, "q=%zz&n=%C3%A9"},
	}
	for _, tc := range tests {
		if got := setParams(tc.raw, tc.params); got != tc.want {
			t.Errorf("setParams(%q, %v) = %q, want %q", tc.raw, tc.params, got, tc.want)
		}
	}
}

func TestHostname(t *testing.T) {
	for in, want := range map[string]string{
		"a.example": "a.example", "a.example:80": "a.example", "a.example.": "a.example",
		"[2001:db8::1]:443": "2001:db8::1", "2001:db8::1": "2001:db8::1", "": "",
	} {
		if got := hostname(in); got != want {
			t.Errorf("hostname(%q) = %q, want %q", in, got, want)
		}
	}
}
