package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestParseConfig(t *testing.T) {
	b, err := os.ReadFile("testdata/rules.json")
	if err != nil {
		t.Fatal(err)
	}
	rules, err := parseConfig(b)
	if err != nil {
		t.Fatal(err)
	}
	if len(rules) != 4 || rules[0].redirectCode != 301 || rules[1].hostSuffix != ".example.com" || rules[1].last ||
		!rules[0].last || len(rules[1].methods) != 2 || rules[3].methods[0] != "POST" || rules[2].hits != "rule_2_hits" {
		t.Errorf("rules = %+v", rules)
	}
}

func TestParseConfig_errors(t *testing.T) {
	const ok = `{"path":"^/ok","rewrite":{"path":"/x"}}`
	tests := []struct{ config, want string }{
		{``, "url-rewrite: config: rules: none given"},
		{`{"rules":[]}`, "url-rewrite: config: rules: none given"},
		{`{"rule":[]}`, `url-rewrite: config: json: unknown field "rule"`},
		{`{"rules":[` + ok + `,` + ok + `,{"path":"(","rewrite":{"path":"/"}}]}`, "url-rewrite: config: rules[2].path: error parsing regexp: missing closing ): `(`"},
		{`{"rules":[{"path":"^/"}]}`, "url-rewrite: config: rules[0]: no action; give rewrite, set_headers, remove_headers or redirect"},
		{`{"rules":[` + ok + `,{"pth":"/"}]}`, `url-rewrite: config: rules[1]: json: unknown field "pth"`},
		{`{"rules":[{"path":1}]}`, "url-rewrite: config: rules[0]: path: JSON number is not the expected type"},
		{`{"rules":[{"rewrite":{}}]}`, "url-rewrite: config: rules[0].rewrite: empty"},
		{`{"rules":[{"rewrite":{"path":"x"}}]}`, `url-rewrite: config: rules[0].rewrite.path: "x" must start with "/"`},
		{`{"rules":[{"rewrite":{"path":"/a?b"}}]}`, `url-rewrite: config: rules[0].rewrite.path: "/a?b" contains`},
		{`{"rules":[{"path":"^/(a)","rewrite":{"path":"/$2"}}]}`, "url-rewrite: config: rules[0].rewrite.path: $2: the path pattern has 1 capture groups"},
		{`{"rules":[{"path":"^/(a)","rewrite":{"path":"/$1x"}}]}`, `url-rewrite: config: rules[0].rewrite.path: ${1x}: the path pattern has no group named "1x"`},
		{`{"rules":[{"rewrite":{"path":"/$1"}}]}`, "url-rewrite: config: rules[0].rewrite.path: $1: the path pattern has 0 capture groups"},
		{`{"rules":[{"path":"(?P<a>x)","rewrite":{"query":"q=${b}"}}]}`, `url-rewrite: config: rules[0].rewrite.query: ${b}: the path pattern has no group named "b"`},
		{`{"rules":[{"rewrite":{"query":"?a=1"}}]}`, `url-rewrite: config: rules[0].rewrite.query: "?a=1"`},
		{`{"rules":[{"rewrite":{"query":"a=1","query_params":{"b":"2"}}}]}`, "url-rewrite: config: rules[0].rewrite.query_params: cannot be combined"},
		{`{"rules":[{"rewrite":{"query_params":{"":"2"}}}]}`, "url-rewrite: config: rules[0].rewrite.query_params: an empty parameter name"},
		{`{"rules":[{"rewrite":{"host":"a/b"}}]}`, `url-rewrite: config: rules[0].rewrite.host: "a/b" is not a host`},
		{`{"rules":[{"host":"a.*.example","rewrite":{"path":"/"}}]}`, `url-rewrite: config: rules[0].host: "a.*.example": a wildcard is allowed only`},
		{`{"rules":[{"host":"a.example:80","rewrite":{"path":"/"}}]}`, `url-rewrite: config: rules[0].host: "a.example:80" is not a host name`},
		{`{"rules":[{"method":"GE T","rewrite":{"path":"/"}}]}`, `url-rewrite: config: rules[0].method: "GE T" is not an HTTP method`},
		{`{"rules":[{"method":3,"rewrite":{"path":"/"}}]}`, "url-rewrite: config: rules[0].method: want a method"},
		{`{"rules":[{"set_headers":{"X Y":"1"}}]}`, `url-rewrite: config: rules[0].set_headers: "X Y" is not a header name`},
		{`{"rules":[{"set_headers":{"X-Y":"a\r\nb"}}]}`, "url-rewrite: config: rules[0].set_headers.X-Y: the value contains CR, LF or NUL"},
		{`{"rules":[{"remove_headers":["ok","b@d"]}]}`, `url-rewrite: config: rules[0].remove_headers[1]: "b@d" is not a header name`},
		{`{"rules":[{"redirect":{"code":200,"to":"/x"}}]}`, "url-rewrite: config: rules[0].redirect.code: 200: want 301, 302, 303, 307 or 308"},
		{`{"rules":[{"redirect":{"code":302}}]}`, `url-rewrite: config: rules[0].redirect.to: "": want a URL`},
		{`{"rules":[{"redirect":{"code":302,"to":"/$1"}}]}`, "url-rewrite: config: rules[0].redirect.to: $1: the path pattern has 0 capture groups"},
		{`{"rules":[{"redirect":{"code":302,"to":"/"},"set_headers":{"a":"b"}}]}`, "url-rewrite: config: rules[0].redirect: cannot be combined"},
		{`{"rules":[` + ok + `]}x`, "url-rewrite: config: trailing data"},
		{`[]`, "url-rewrite: config: the configuration must be a JSON object"},
	}
	for _, tc := range tests {
		_, err := parseConfig([]byte(tc.config))
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("parseConfig(%s)\n = %v\nwant %q...", tc.config, err, tc.want)
		}
	}
}

func TestCheckTemplate(t *testing.T) {
	re := emptyRE
	for _, ok := range []string{"", "/plain", "$$1", "cost: 5$", "$-", "${", "a$$b"} {
		if err := checkTemplate(ok, re); err != nil {
			t.Errorf("checkTemplate(%q) = %v, want ok", ok, err)
		}
	}
}

// FuzzParseConfig checks that no configuration makes init panic and that
// an accepted one has an action in every rule.
func FuzzParseConfig(f *testing.F) {
	files, _ := filepath.Glob("testdata/*.json")
	for _, name := range files {
		b, err := os.ReadFile(name)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte(`{"rules":[{"path":"^/(?P<x>a)(b)","rewrite":{"path":"/${x}$2","host":"h"},"last":false}]}`))
	f.Add([]byte(`{"rules":[{"host":"*.a","redirect":{"code":307,"to":"x$$"}}]}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		rules, err := parseConfig(b)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "url-rewrite: config: ") {
				t.Fatalf("error without the component prefix: %v", err)
			}
			return
		}
		for i, r := range rules {
			acts := len(r.setHeaders) + len(r.removeHeaders) + len(r.queryParams) + r.redirectCode
			if r.newPath != nil || r.newQuery != nil || r.newHost != nil {
				acts++
			}
			if acts == 0 {
				t.Fatalf("rule %d accepted without an action", i)
			}
			// Expanding any template against any path must not panic.
			m := []int{0, 0}
			if r.path != nil {
				m = make([]int, 2*(r.path.NumSubexp()+1))
				for j := range m {
					m[j] = -1
				}
				m[0], m[1] = 0, 0
			}
			for _, tmpl := range []*string{r.newPath, r.newQuery, r.newHost, &r.redirectTo} {
				if tmpl != nil {
					r.re().ExpandString(nil, *tmpl, "", m)
				}
			}
		}
	})
}

func TestRequestFilter(t *testing.T) {
	tests := []struct {
		name                  string
		rules                 string
		hosts, paths, methods string // joined with ","
	}{
		{name: "anchored literal paths, hosts, methods",
			rules: `{"path":"^/zimbra/(.*)","host":"Mail.Example.com","method":"GET","rewrite":{"path":"/$1"}},
				{"path":"^/Microsoft-Server-ActiveSync$","host":"*.example.org","method":["POST","GET"],"set_headers":{"X":"1"}}`,
			hosts: "mail.example.com,*.example.org", paths: "/zimbra/,/Microsoft-Server-ActiveSync", methods: "GET,POST"},
		{name: "a rule without a host or method opens that kind",
			rules: `{"path":"^/a/","host":"a.example","rewrite":{"path":"/b"}},{"path":"^/c/","rewrite":{"path":"/d"}}`,
			paths: "/a/,/c/"},
		{name: "an unanchored path opens the paths",
			rules: `{"path":"^/a/","rewrite":{"path":"/b"}},{"path":"/c/","rewrite":{"path":"/d"}}`},
		{name: "case-insensitive path: only its case-free prefix",
			rules: `{"path":"^/(?i)abc","rewrite":{"path":"/b"}}`, paths: "/"},
		{name: "alternation at the top has no literal prefix",
			rules: `{"path":"^/a|^/b","rewrite":{"path":"/b"}}`},
		{name: "no path pattern", rules: `{"host":"x.example","rewrite":{"path":"/b"}}`, hosts: "x.example"},
		{name: "an IPv6 host is not a filter item", rules: `{"host":"2001:db8::1","rewrite":{"path":"/b"}}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rules, err := parseConfig([]byte(`{"rules":[` + tc.rules + `]}`))
			if err != nil {
				t.Fatal(err)
			}
			h, p, m := requestFilter(rules)
			if got := strings.Join(h, ","); got != tc.hosts {
				t.Errorf("hosts %q, want %q", got, tc.hosts)
			}
			if got := strings.Join(p, ","); got != tc.paths {
				t.Errorf("paths %q, want %q", got, tc.paths)
			}
			if got := strings.Join(m, ","); got != tc.methods {
				t.Errorf("methods %q, want %q", got, tc.methods)
			}
		})
	}
}
