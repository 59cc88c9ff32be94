package main

// The C build (c/plugin.c, committed as c/plugin.wasm) must behave as this
// Go source does: these tests load both into the real host and compare
// every verdict, field and counter (plugintest.Twin), for the testdata
// configurations and many more, over tables of requests and responses and
// under fuzzing. The C build's regular expressions are its own engine
// (plugins/internal/gore/gore.h); TestC_regexp and FuzzTwinPattern hold it
// to Go's regexp submatch by submatch, through a probe plugin
// (c/testdata/probe.c) that runs the same header.
//
// Load errors: both builds must refuse the same configurations with the
// same message, except where the C build refuses a pattern Go's regexp
// takes (its message then says the Go build is needed: Unicode classes,
// very large programs) and for JSON syntax errors
// (both refuse; the byte offsets and wording of encoding/json's syntax
// errors are not reproduced).

import (
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/debug"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
)

var (
	cacheOnce sync.Once
	cacheDir  string
)

// compileCache shares compiled modules between the many hosts of these
// tests, so each configuration does not compile the Go build again.
func compileCache(tb testing.TB) plugintest.Option {
	cacheOnce.Do(func() {
		d, err := os.MkdirTemp("", "url-rewrite-c-test-")
		if err != nil {
			tb.Fatal(err)
		}
		cacheDir = d
	})
	return func(s *plugin.Spec, o *plugin.Options) {
		o.CacheDir = cacheDir
		// The default 500 ms per call is far above what either build
		// needs, but a machine shared by many test runs can stall a call.
		s.Limits.CallTimeout = 10 * time.Second
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	for _, tw := range twins {
		tw.Ref.Host.Close(context.Background())
		tw.Port.Host.Close(context.Background())
	}
	if cacheDir != "" {
		os.RemoveAll(cacheDir)
	}
	os.Exit(code)
}

var (
	buildMu              sync.Mutex
	goWasm, cWasm, probe string
)

// builds returns the Go build and the C build (checked against its source).
func builds(tb testing.TB) (string, string) {
	tb.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if goWasm == "" {
		goWasm = plugintest.Build(tb, "plugins/url-rewrite")
	}
	if cWasm == "" {
		cWasm = plugintest.CPlugin(tb, "plugins/url-rewrite/c")
	}
	return goWasm, cWasm
}

// probeWasm builds c/testdata/probe.c (gore behind a rewrite hook) once.
func probeWasm(tb testing.TB) string {
	tb.Helper()
	buildMu.Lock()
	defer buildMu.Unlock()
	if probe != "" {
		return probe
	}
	root, err := filepath.Abs("../..") // the repository root, from this package's directory
	if err != nil {
		tb.Fatal(err)
	}
	clang, err := exec.LookPath("clang")
	if err != nil {
		tb.Fatal("clang not found: install clang, lld and wasi-libc (.ci/run does)")
	}
	dir, err := os.MkdirTemp("", "url-rewrite-probe-")
	if err != nil {
		tb.Fatal(err)
	}
	out := filepath.Join(dir, "probe.wasm")
	cmd := exec.Command(clang, plugintest.CFlags(out, "plugins/url-rewrite/c/testdata/probe.c")...)
	cmd.Dir = root
	if b, err := cmd.CombinedOutput(); err != nil {
		tb.Fatalf("clang probe.c: %v\n%s", err, b)
	}
	probe = out
	return out
}

func readTestdata(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// keepTB is a testing.TB whose Cleanup does nothing: the twins of
// newTwin outlive the test that loaded them (TestMain closes them), so
// the tables and the fuzz seeds share one pair of hosts per
// configuration instead of loading the Go build again for each.
type keepTB struct{ testing.TB }

// Cleanup implements testing.TB and drops f.
func (keepTB) Cleanup(func()) {}

var (
	twinMu sync.Mutex
	twins  = map[string]*plugintest.Twin{}
)

// newTwin returns the twin for config, loading it the first time.
func newTwin(tb testing.TB, config string) *plugintest.Twin {
	tb.Helper()
	twinMu.Lock()
	defer twinMu.Unlock()
	if tw := twins[config]; tw != nil {
		return tw
	}
	g, c := builds(tb)
	tw := plugintest.NewTwin(keepTB{tb}, g, c, plugintest.Config(config), compileCache(tb))
	if r, p := tw.Ref.Info(), tw.Port.Info(); strings.Join(r.Hooks, ",") != strings.Join(p.Hooks, ",") ||
		strings.Join(r.Events, ",") != strings.Join(p.Events, ",") || r.Filter != p.Filter || r.Reuse != p.Reuse {
		tb.Errorf("config %s: hooks/events/filter/reuse: Go %v %v %q %v, C %v %v %q %v", config, r.Hooks, r.Events, r.Filter, r.Reuse,
			p.Hooks, p.Events, p.Filter, p.Reuse)
	}
	twins[config] = tw
	return tw
}

// twinConfigs are the configurations of the request and response tables
// and of FuzzTwin: the testdata files and ones that reach every action,
// template form, host form, method form, rule chaining and host refusal.
func twinConfigs(tb testing.TB) []struct{ name, config string } {
	return []struct{ name, config string }{
		{"rules", readTestdata(tb, "rules.json")},
		{"response", readTestdata(tb, "response.json")},
		{"templates", `{"rules":[{"path":"^/t/(?P<a>[^/]*)/(\\w+)?(x*)(?:/(.*))?$","set_headers":{"X-T":"$0|$1|${2}|${a}|$a-|$$|$|${1}x|$3|${4}|${a|$.|$é|$1é|${01}|$01","X-U":"${a}${a}"},"last":false},` +
			`{"path":"(?i)^/T/","rewrite":{"path":"/lower${0}x","query":"q=$0&r=$$"}}]}`},
		{"query params", `{"rules":[{"path":"^/q","rewrite":{"query_params":{"b":"2 3","a+b":"x&y=z","c":"ü","ä":"%","d":""}}}]}`},
		{"redirects", `{"rules":[{"host":"Old.Example.COM.","path":"^(/.*?)(/+)?$","redirect":{"code":308,"to":"https://new.example.com$1?was=${2}"}},` +
			`{"path":"^/r(\\d+)$","method":["GET","HEAD"],"redirect":{"code":302,"to":"/s$1"}},{"path":"^/bad$","redirect":{"code":301,"to":"x\u0001y"}}]}`},
		{"methods and hosts", `{"rules":[{"method":"POST","host":"*.example.com","set_headers":{"X-A":"post"},"last":false},` +
			`{"method":["PUT","DELETE"],"host":"[2001:DB8::1]","set_headers":{"X-B":"v6"},"last":false},` +
			`{"method":[],"set_headers":{"X-C":"never"},"last":false},{"host":"10.0.0.1","set_headers":{"X-D":"v4"},"last":false},` +
			`{"host":"MAIL.example.com","remove_headers":["Accept","X-Debug"],"rewrite":{"host":"backend:8080"},"last":false},` +
			`{"host":"backend","set_headers":{"X-E":"after host rewrite"}}]}`},
		{"chain", `{"rules":[{"path":"^/a/(.*)","rewrite":{"path":"/b/$1"},"last":false},{"path":"^/b/(.*)","rewrite":{"path":"/c/$1","query":"from=b"},"last":false},` +
			`{"path":"^/c/(x)?","set_headers":{"X-C":"[$1]"}},{"path":".*","set_headers":{"X-Never":"1"}}]}`},
		{"host refusals", `{"rules":[{"path":"^/(nolead.*)$","rewrite":{"path":"$1"},"last":false},{"path":"^/h(.*)$","rewrite":{"host":"${1}"},"last":false},` +
			`{"path":"^/big(.*)$","set_headers":{"X-Big":"$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1$1"}}]}`},
		{"regexps", `{"rules":[{"path":"^/re/(a+?)(a*)(b|bc)?(c*)$","set_headers":{"X-1":"$1|$2|$3|$4"},"last":false},` +
			`{"path":"\\bword\\b|(?m)^x$|(é+)(\\x{65e5}?)","set_headers":{"X-2":"$0|$1|$2"},"last":false},` +
			`{"path":"(?i)ks|(?s)z.z|[^a-z/]+","set_headers":{"X-3":"[$0]"},"last":false},` +
			`{"path":"(|a)*(a|)+(a{2,3}?)","set_headers":{"X-4":"$1|$2|$3"},"last":false},` +
			`{"path":"^\\A/\\Qa.b\\E(?:[[:digit:]]{2}|\\d)\\z","set_headers":{"X-5":"$0"}}]}`},
		{"response rules", `{"response":[{"status":[200,302],"path":"^/app","location":[{"from":"http://in/","to":"https://out/"},{"from":"http://","to":"https://"}],` +
			`"cookie_domain":[{"from":".Internal","to":"example.com"},{"from":"σ.éx","to":"greek.example"}],"cookie_path":[{"from":"/app","to":"/"}],"last":false},` +
			`{"host":"*.example.com","hide_headers":["Server"],"set_headers":{"X-Frame-Options":"DENY"}},{"set_headers":{"X-Never":"1"}}]}`},
		{"both", `{"rules":[{"host":"mail.example.com","path":"^/zimbra/","rewrite":{"query":"a=1"}}],"response":[{"host":"*.example.com","path":"^/zimbra/x","hide_headers":["Server"]}]}`},
	}
}

func webFieldsFull(method, host, path, query string) *plugin.Fields {
	f := plugintest.MailFields("http", "")
	f.HTTP = &plugin.HTTPFields{Method: method, Host: host, Path: path, Query: query,
		Header: http.Header{"X-Debug": {"1"}, "Accept": {"*/*"}}}
	return f
}

type reqCase struct{ method, host, path, query string }

func reqCases() []reqCase {
	paths := []string{
		"/", "/zimbra/service/home/~/inbox", "/zimbra/", "/zimbra", "/service/home/~/x", "/api/v1/users/42", "/api/v1/",
		"/t/name/word", "/t//", "/t/n/w/xx", "/t/n/w/rest/of/it", "/t/ü/日本/x", "/T/x", "/q", "/q/x", "/r42", "/r", "/bad",
		"/a/x", "/a/", "/b/y", "/c/x", "/c/", "/nolead", "/hnew.example", "/h", "/h a", "/big" + strings.Repeat("y", 3000),
		"/re/aaab", "/re/aabc", "/re/a", "/re/", "/word", "/a word b", "/x", "/\nx\n", "/ééé日", "/é", "/KS", "/k\u212as", "/z\nz",
		"/aaa", "/a.b12", "/a.b1", "/a.b1\n", "/app/x", "/home/bob", "/home/", "/%7Euser", "/a//b", "/\xff\xfe", "/é\xff", "",
	}
	hosts := []string{"mail.example.com", "MAIL.Example.com:8443", "old.example.com", "old.example.com.", "a.b.example.com", "example.com",
		"[2001:db8::1]:443", "[2001:db8:0::1]", "10.0.0.1:80", "10.0.0.1", "backend", "", "x:1:2", "[bad"}
	var out []reqCase
	for i, p := range paths {
		for j, h := range hosts {
			if (i+j)%3 != 0 && j > 1 {
				continue
			}
			m := []string{"GET", "POST", "PUT", "HEAD", "DELETE", "get"}[(i+j)%6]
			q := []string{"", "fmt=json", "client=standard&fmt=json", "a+b=1&b=0&b=1&a%2Bb=2", "%zz=1&c=2", "&&", "d"}[(i*7+j)%7]
			out = append(out, reqCase{m, h, p, q})
		}
	}
	return out
}

// TestC_twinRequests runs every request case under every configuration
// through the rewrite hook of both builds.
func TestC_twinRequests(t *testing.T) {
	cases := reqCases()
	for _, cfg := range twinConfigs(t) {
		t.Run(cfg.name, func(t *testing.T) {
			tw := newTwin(t, cfg.config)
			for _, c := range cases {
				tw.Run(t, abi.HookRewrite, webFieldsFull(c.method, c.host, c.path, c.query))
			}
		})
	}
}

type respCase struct {
	host, path string
	status     int
	header     http.Header
}

func respCases() []respCase {
	headers := []http.Header{
		{},
		{"Location": {"http://mailbox1.internal:8080/zimbra/x"}, "Server": {"nginx"}, "X-Powered-By": {"php"}},
		{"Location": {"http://mailbox2.internal:8080/"}, "Set-Cookie": {"ZM_AUTH=1; Domain=mailbox.internal; Path=/zimbra/; HttpOnly"}},
		{"Location": {"http://in/a"}, "Set-Cookie": {"a=1; domain=.INTERNAL; path=/app/x", "b=2", "c=3;Path=/app;Domain=internal",
			"d=4; Domain = .internal ; Path= /appx ", "e=5; Domain=other; Domain=internal", "f=6;;path=/app;", "g"}},
		{"Location": {"http://elsewhere/"}, "Set-Cookie": {"x=1; Path=/zimbra/a; Domain=MAILBOX.internal"}, "Cache-Control": {"max-age=1"}},
		{"Location": {"https://mail.example.com/"}, "Set-Cookie": {"k=1; Domain=\u212a.internal", "s=1; path=/zimbra"}},
		{"Set-Cookie": {"g=1; Domain=Σ.ÉX", "h=1; Domain=.ς.éx; Path=/app", "i=1; Domain=σ.e\u0301x", "j=1; Domain=\xff.éx", "k=1; Domain=ǅ.éx"}},
	}
	var out []respCase
	for i, h := range []string{"mail.example.com", "a.example.com", "MAIL.EXAMPLE.COM:443", "other"} {
		for j, p := range []string{"/", "/app/x", "/zimbra/x", "/app"} {
			for k, s := range []int{200, 302, 404, 500} {
				out = append(out, respCase{h, p, s, headers[(i+j+k)%len(headers)]})
			}
		}
	}
	return out
}

// TestC_twinResponses runs every response case under every configuration
// through the response hook of both builds.
func TestC_twinResponses(t *testing.T) {
	cases := respCases()
	for _, cfg := range twinConfigs(t) {
		t.Run(cfg.name, func(t *testing.T) {
			tw := newTwin(t, cfg.config)
			for _, c := range cases {
				f := webFieldsFull("GET", c.host, c.path, "")
				f.HTTP.Status = c.status
				f.HTTP.RespHeader = c.header.Clone()
				tw.Run(t, abi.HookResponse, f)
			}
		})
	}
}

// cOnly reports whether a C build's refusal is one of the patterns it
// leaves to the Go build.
func cOnly(err error) bool {
	return err != nil && strings.Contains(err.Error(), "need the Go build of url-rewrite")
}

// TestC_configs: for every configuration, both builds accept it or both
// refuse it, with the same message (see the file comment for the two
// exceptions).
func TestC_configs(t *testing.T) {
	configs := []string{
		"", " ", "\u00a0", "null", "{}", `{"rules":[]}`, `{"rules":null}`, `{"response":[]}`, "[]", `"x"`, "1", "true", "{", "{}}", "{} x",
		`{"rules":5}`, `{"rules":{}}`, `{"rules":[1]}`, `{"rules":["x"]}`, `{"rules":[null]}`, `{"rules":[[]]}`, `{"x":1,"rules":5}`, `{"Rules":[{"set_headers":{"A":"b"}}]}`,
		`{"rules":[{"path":"/x","rewrite":{"path":"/"}}],"rules":[null]}`, `{"rules":[{"rewrite":{"path":1}}]}`, `{"rules":[{"set_headers":{"X":1}}]}`,
		`{"rules":[{"redirect":{"code":301.5,"to":"x"}}]}`, `{"rules":[{"redirect":{"code":"301","to":"x"}}]}`, `{"rules":[{"redirect":{"code":1e99,"to":"x"}}]}`,
		`{"rules":[{"redirect":{"code":301,"to":"x"}}]}`, `{"rules":[{"redirect":{"code":300,"to":"x"}}]}`, `{"rules":[{"redirect":{"code":301}}]}`,
		`{"rules":[{"redirect":{"code":301,"to":"a b"}}]}`, `{"rules":[{"redirect":{"code":-9223372036854775808,"to":"x"}}]}`,
		`{"rules":[{"redirect":{"code":9223372036854775808,"to":"x"}}]}`, `{"rules":[{"redirect":null,"set_headers":{"A":"b"}}]}`,
		`{"rules":[{"redirect":{"code":301},"redirect":{"to":"/x"}}]}`, `{"rules":[{"redirect":{"code":301,"to":"/x"},"redirect":null}]}`,
		`{"rules":[{"redirect":{"code":301,"to":"/x"},"set_headers":{"a":"b"}}]}`, `{"rules":[{"redirect":{"code":301,"to":"/x","x":1}}]}`,
		`{"rules":[{"rewrite":{"query_params":{"a":1}}}]}`, `{"rules":[{"rewrite":{}}]}`, `{"rules":[{"rewrite":null}]}`, `{"rules":[{"rewrite":[]}]}`,
		`{"rules":[{"rewrite":{"path":"x"}}]}`, `{"rules":[{"rewrite":{"path":"$1"}}]}`, `{"rules":[{"rewrite":{"path":"/a?b"}}]}`, `{"rules":[{"rewrite":{"path":""}}]}`,
		`{"rules":[{"rewrite":{"path":null}}]}`, `{"rules":[{"rewrite":{"query":"?a"}}]}`, `{"rules":[{"rewrite":{"query":"a b"}}]}`, `{"rules":[{"rewrite":{"query":""}}]}`,
		`{"rules":[{"rewrite":{"query":"a","query_params":{"b":"c"}}}]}`, `{"rules":[{"rewrite":{"query_params":{"":"c"}}}]}`, `{"rules":[{"rewrite":{"query_params":{}}}]}`,
		`{"rules":[{"rewrite":{"query_params":{"a":null}}}]}`, `{"rules":[{"rewrite":{"query_params":{"a":"1"},"query_params":null}}]}`,
		`{"rules":[{"rewrite":{"host":""}}]}`, `{"rules":[{"rewrite":{"host":"a/b"}}]}`, `{"rules":[{"rewrite":{"host":"a:1"}}]}`, `{"rules":[{"rewrite":{"path":"/","Path":"/x"},"REWRITE":{"query":"a"}}]}`,
		`{"rules":[{"rewrite":{"path":"/"},"rewrite":{"x":1}}]}`, `{"rules":[{"set_headers":{"b@d":"x"}}]}`, `{"rules":[{"set_headers":{"A":"x\ny"}}]}`,
		`{"rules":[{"set_headers":{"A":"x\u0000y"}}]}`, `{"rules":[{"set_headers":{}}]}`, `{"rules":[{"set_headers":null}]}`, `{"rules":[{"remove_headers":["a","b c"]}]}`,
		`{"rules":[{"remove_headers":[1]}]}`, `{"rules":[{"remove_headers":[null]}]}`, `{"rules":[{"remove_headers":["a"],"remove_headers":[null]}]}`,
		`{"rules":[{"remove_headers":["a","b"],"remove_headers":["c"]}]}`, `{"rules":[{"remove_headers":"a"}]}`, `{"rules":[{"last":"no","path":5}]}`,
		`{"rules":[{"last":null,"set_headers":{"a":"b"}}]}`, `{"rules":[{"method":5,"rewrite":{"path":"/"}}]}`, `{"rules":[{"method":["GET",5],"rewrite":{"path":"/"}}]}`,
		`{"rules":[{"method":["GET",null],"rewrite":{"path":"/"}}]}`, `{"rules":[{"method":"G T","rewrite":{"path":"/"}}]}`, `{"rules":[{"method":"","rewrite":{"path":"/"}}]}`,
		`{"rules":[{"method":[],"rewrite":{"path":"/"}}]}`, `{"rules":[{"method":null,"rewrite":{"path":"/"}}]}`, `{"rules":[{"method":{},"rewrite":{"path":"/"}}]}`,
		`{"rules":[{"method":"GET","method":["PUT"],"rewrite":{"path":"/"}}]}`, `{"rules":[{"method":"\u0047ET","rewrite":{"path":"/"}}]}`,
		`{"rules":[{"host":"1.2.3.4","rewrite":{"path":"/"}}]}`, `{"rules":[{"host":"01.2.3.4","rewrite":{"path":"/"}}]}`, `{"rules":[{"host":"[::1]","rewrite":{"path":"/"}}]}`,
		`{"rules":[{"host":"fe80::1%eth0","rewrite":{"path":"/"}}]}`, `{"rules":[{"host":"::ffff:1.2.3.4","rewrite":{"path":"/"}}]}`, `{"rules":[{"host":"a:1","rewrite":{"path":"/"}}]}`,
		`{"rules":[{"host":"*.a","rewrite":{"path":"/"}}]}`, `{"rules":[{"host":"*","rewrite":{"path":"/"}}]}`, `{"rules":[{"host":"*.","rewrite":{"path":"/"}}]}`,
		`{"rules":[{"host":"a.*.b","rewrite":{"path":"/"}}]}`, `{"rules":[{"host":"*.*.b","rewrite":{"path":"/"}}]}`, `{"rules":[{"host":".","rewrite":{"path":"/"}}]}`,
		`{"rules":[{"host":"ÜBER.example","rewrite":{"path":"/"}}]}`, `{"rules":[{"host":"a b","rewrite":{"path":"/"}}]}`, `{"rules":[{"host":"[x]","rewrite":{"path":"/"}}]}`,
		`{"rules":[{"path":"(a)","rewrite":{"path":"$2"}}]}`, `{"rules":[{"path":"(a)","rewrite":{"path":"${x}"}}]}`, `{"rules":[{"path":"(a)","rewrite":{"path":"/$1x"}}]}`,
		`{"rules":[{"path":"(?P<x>a)","rewrite":{"path":"/${x}$x"}}]}`, `{"rules":[{"path":"(a)","rewrite":{"path":"/$99999999999999999999"}}]}`,
		`{"rules":[{"path":"(a)","rewrite":{"path":"/$01"}}]}`, `{"rules":[{"path":"(a)","rewrite":{"path":"/$é${1"}}]}`, `{"rules":[{"rewrite":{"path":"/$0"}}]}`,
		`{"rules":[{"rewrite":{"path":"/$1"}}]}`, `{"rules":[{"path":"a)","rewrite":{"path":"/"}}]}`, `{"rules":[{"path":"\\pL","rewrite":{"path":"/"}}]}`,
		`{"rules":[{"path":"\\p{Foo}","rewrite":{"path":"/"}}]}`, `{"rules":[{"path":"(?i)é","rewrite":{"path":"/"}}]}`, `{"rules":[{"path":"x{1001}","rewrite":{"path":"/"}}]}`,
		`{"rules":[{"path":"((((((((((a))))))))))","rewrite":{"path":"/$10"}}]}`, `{"rules":[{"path":"a{1000}b{1000}c{1000}d{1000}e{1000}f{1000}g{1000}h{1000}i{1000}j{1000}k{1000}l{1000}m{1000}n{1000}o{1000}p{1000}q{1000}r{1000}s{1000}t{1000}u{1000}","rewrite":{"path":"/"}}]}`,
		`{"rules":[{"path":"` + strings.Repeat("(", 101) + strings.Repeat(")", 101) + `","rewrite":{"path":"/"}}]}`,
		`{"rules":[{"path":"","rewrite":{"path":"/"}}],"response":[{"path":"(","hide_headers":["a"]}]}`,
		`{"response":[{"path":"^/"}]}`, `{"response":[{"hide_headers":["a"]},{"status":[600],"hide_headers":["a"]}]}`, `{"response":[{"status":["x"]}]}`,
		`{"response":[{"status":[1.5]}]}`, `{"response":[{"status":[200,null],"hide_headers":["a"]}]}`, `{"response":[{"status":[],"hide_headers":["a"]}]}`,
		`{"response":[{"location":[{"from":1}]}]}`, `{"response":[{"location":[1]}]}`, `{"response":[{"location":[{"to":"/"}]}]}`,
		`{"response":[{"location":[{"from":"a","to":"b"}],"location":[{"to":"c"}]}]}`, `{"response":[{"location":[{"from":"a","to":"b"}],"location":[null]}]}`,
		`{"response":[{"location":[{"from":"a","x":"b"}]}]}`, `{"response":[{"set_headers":{"Set-Cookie":"a=1"}}]}`, `{"response":[{"set_headers":{"X":"a\nb"}}]}`,
		`{"response":[{"set_headers":{"content-length":"1"}}]}`, `{"response":[{"set_headers":{"TE":"1"}}]}`, `{"response":[{"hide_headers":["Transfer-Encoding"]}]}`,
		`{"response":[{"hide_headers":["b@d"]}]}`, `{"response":[{"cookie_domain":[{"from":"a","to":"b;c"}]}]}`, `{"response":[{"cookie_domain":[{"from":"a"}]}]}`,
		`{"response":[{"cookie_path":[{"from":"app","to":"/"}]}]}`, `{"response":[{"cookie_path":[{"from":"/a","to":"/ b"}]}]}`, `{"response":[{"hide":["a"]}]}`,
		`{"response":[{"host":"a:1","hide_headers":["a"]}]}`, `{"response":[{"path":"(?i)ß","hide_headers":["a"]}]}`, `{"response":[null]}`, `{"response":5}`,
		`{"rules":[{"set_headers":{"a\u0378":"x"}}]}`, `{"rules":[{"host":"a\u00ad b","rewrite":{"path":"/"}}]}`,
		`{"rules":[{"method":"\ud83d\ude00 x","rewrite":{"path":"/"}}]}`, `{"rules":[{"remove_headers":["\u200b\u0085\ufeff"]}]}`,
		`{"rules":[{"remove_headers":["\ud800\u0007\u007f\u00a0"]}]}`, "{\"rules\":[{\"remove_headers\":[\"\xff\xfe\"]}]}",
		`{"rules":[{"path":"(?P<é>x)","rewrite":{"path":"/"}}]}`, `{"rules":[{"path":"x","rewrite":{"path":"/${é}"}}]}`,
		readTestdata(t, "rules.json"), readTestdata(t, "response.json"),
	}
	for _, p := range regexpPatterns {
		configs = append(configs, `{"rules":[{"path":`+jsonQuote(p)+`,"set_headers":{"X":"y"}}]}`)
	}
	g, c := builds(t)
	for i, cfg := range configs {
		_, errNative := parseAll([]byte(cfg))
		p, errPort := plugintest.TryLoad(t, c, plugintest.Config(cfg), compileCache(t))
		if errPort == nil {
			p.Host.Close(context.Background())
		}
		compareLoad(t, cfg, errNative, errPort)
		if i%15 != 0 {
			continue
		}
		// Every fifteenth through both real loads as well (the Go build's
		// init, not just its parseAll).
		tw, errRef, errPort := plugintest.TryNewTwin(t, g, c, plugintest.Config(cfg), compileCache(t))
		compareLoad(t, cfg, errRef, errPort)
		if errRef == nil && errPort == nil {
			if r, p := tw.Ref.Info(), tw.Port.Info(); r.Filter != p.Filter || r.Reuse != p.Reuse {
				t.Errorf("config %s: filter/reuse: Go %q %v, C %q %v", cfg, r.Filter, r.Reuse, p.Filter, p.Reuse)
			}
		}
		if tw.Ref != nil {
			tw.Ref.Host.Close(context.Background())
		}
		if tw.Port != nil {
			tw.Port.Host.Close(context.Background())
		}
	}
}

// compareLoad fails unless both refused alike or both accepted.
func compareLoad(t *testing.T, cfg string, errRef, errPort error) {
	t.Helper()
	switch {
	case errPort != nil && cOnly(errPort):
		// The C build leaves this pattern to the Go build; Go may take it.
	case (errRef == nil) != (errPort == nil):
		t.Errorf("config %q:\nGo: %v\nC:  %v", cfg, errRef, errPort)
	case errRef == nil:
	case strings.Contains(errPort.Error(), "url-rewrite: config: not valid JSON"):
		// Both refuse; encoding/json's syntax messages are not reproduced.
	case !strings.Contains(errPort.Error(), errRef.Error()) && errPort.Error() != errRef.Error():
		t.Errorf("config %q: refusals differ:\nGo: %v\nC:  %v", cfg, errRef, errPort)
	}
}

func jsonQuote(s string) string {
	var b strings.Builder
	b.WriteByte('"')
	for _, r := range s {
		switch {
		case r == '"' || r == '\\':
			b.WriteByte('\\')
			b.WriteRune(r)
		case r < 0x20:
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('"')
	return b.String()
}

// regexpPatterns and regexpSubjects are TestC_regexp's table (and
// FuzzTwinPattern's seeds).
var regexpPatterns = []string{
	``, `a`, `a*`, `a+`, `a?`, `a*?`, `a+?`, `a??`, `(a*)*`, `(a*)+`, `(a+)*`, `(a|b)*`, `(a|ab)(c|bcd)(d*)`, `(a*?)(a*)`, `(a+)(b)?`,
	`^a`, `^(/.*)$`, `^/zimbra/(.*)$`, `^/zimbra/(?P<rest>.*)$`, `^/service/home/~/`, `^/api/v1/(.*)$`, `a$`, `^$`, `(?m)^b`, `(?m)a$`,
	`\bword\b`, `\Bor\B`, `\b`, `\B`, `x*`, `(?i)k`, `(?i)s`, `(?i)abc`, `(?i)[a-c]+`, `(?i)[k]`, `(?i)\w+`, `(?i)\W`, `(?i)[^k]`, `(?i)[[:lower:]]+`,
	`(?i)[[:^upper:]]`, `[^a]`, `[^\n]`, `.`, `(?s).`, `.*`, `(?s).*`, `a.b`, `(?U)a+`, `(?U)a+?`, `a{2}`, `a{2,}`, `a{2,3}`, `a{0}`, `a{,2}`, `a{1}`,
	`(ab){2}`, `(a){0,2}`, `(a?){3}`, `(a){2,4}?`, `[[:alpha:]]+`, `[[:^alpha:]]+`, `[[:foo:]]`, `[[:word:][:space:]]+`, `\d+`, `\D+`, `\s`, `\S+`, `\w+`, `[\d\s]+`,
	`\x41`, `\x{65e5}`, `\101`, `\0`, `\08`, `\Qa.b\E`, `\Qa.b`, `\.`, `\/`, `\_`, `a|b|c`, `abc|abd`, `(?:ab|ab)c`, `(?:/a|/b)x`, `^(?:/a|/b)x`, `^(?:/|/)x`,
	`^(?:/ab|/ab)c`, `^/a{1}b`, `^/ab*`, `^(?:/a)b`, `^(?i)/a`, `^[/]a`, `^\A/x`, `\A/x`, `^/x|^/y`, `^(?:/x|/y)z`, `^(?:/a(b)){1}`, `(?:^/a){1}/b`, `^/a(?i)b`,
	`^/(?:a|a)b`, `^(?:/x(?:/ya|/yb)|/x(?:/yc))`, `^/[a]b`, `^/a\d`, `^/zimbra/(?:x|y)`, `^/x{1,1}y`, `^(?:/x)*`, `^ /a`, `^/a b`, `^/a?b`, `^/a#`,
	`(?P<n>a)(?P<n>b)`, `(?<n>a)`, `(`, `)`, `a)`, `(a`, `a**`, `a*+`, `a*?*`, `*a`, `+`, `?`, `{1}`, `a{1001}`, `a{2,1}`, `a{1000}`, `(a{100}){11}`,
	`(?:a{10}){100}`, `(?:a{10}){101}`, `\q`, `\p{Greek}`, `\pL`, `[\p{L}]`, `\PL`, `\8`, `\x`, `\xA`, `\x{110000}`, `\x{zz}`, `\x{}`, `[a`, `[z-a]`, `[a-\d]`,
	`(?x)`, `(?-)`, `(?i-s:a.)`, `(?i)(?-i)a`, `(?P=n)`, `(?<>a)`, `(?P<a-b>x)`, `(?'n'a)`, `(?`, `(?i`, `a(?i)b`, `(?i)é`, `(?i)\x{e9}`, `(?i)[é]`, `[é]`, `é+`, `\C`,
	`x{2}{3}`, `(?:a{2}){3}`, `()`, `(|a)*`, `(a|)*`, `(?:)*`, `^*`, `$*`, `\b+`, `a{0,}`, `(?:a*)*`, `(?:a*)+`, `(?:a*?)*`, `(?:a+)?`, `((a)|b)+`, `(a)|(b)`,
	`(?:(a)|(b))+`, `[a-z]+@[a-z]+\.com`, `.*?(\d+)`, `^(\w+)\s*=\s*(.*?)\s*$`, `(\w+)@(\w+)`, `(a|b|c|d)`, `[\x00-\x{10FFFF}]`, `[^\x00-\x{10FFFF}]`,
	`(?i)[\x00-\x{10FFFF}]`, `[]a]`, `[^]a]`, `[a-]`, `[-a]`, `\z`, `x\z`, `(?m)$`, `(?m)^`, `[\x{FFFD}]`, `\x{FFFD}+`, `.+`, `[^x]+`, `(?s:.)+`, `[\n-\r]+`,
	`(?i)é`, `(?i)[à-ÿ]+`, `(?i)σ+`, `(?i)ς`, `(?i)[^é]`, `(?i)[\x{80}-\x{10FFFF}]+`, `(?i)ǅ`, `(?i)ß`, `(?i)İ`, `(?i)ı`, `(?i)[ǅ-ǌ]+`,
	`(?i)(?:é|è)`, `(?i)é|É`, `(?i)\x{1E921}`, `(?i)[\x{10400}-\x{1044F}]+`, `(?i)[^\x{0}-\x{40}]`,
	`a{,`, `a{1,2`, `a{01}`, `a{1,02}`, `{`, `}`, `]`, `x{2}?`, `(?U)(a+)(a*?)`, `(?U:a*)a`, `\Q\E*`, `\Q`, `\`, `a\`, `[\]]`, `[\-]`, `[\b]`, `\a\f\t\n\r\v`,
}

var regexpSubjects = []string{
	"", "a", "ab", "abc", "aaa", "aab", "abab", "xabcx", "/zimbra/service/home", "/a/b/c", "hello world", "foo.bar", "k", "K", "\u212a", "s", "\u017f",
	"ABC", "a\nb", "\n", "x\ny\n", "é", "É", "\xff", "a\xffb", "\xc3", "\xe6\x97", "日本語", "a1_b2", "-- word --", "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaab",
	"abcabcabc", "{}", "a{2}", "10.0.0.1", "/api/v1/users/42", "/", "//", "xyz", "a.b", "bob@example.com", " k = v ", "/ab", "/xyc", "\ufffd", "\x00",
	"É", "Σσς", "ǅǄǆ", "ßẞ", "İiIı", "ÀÿŸ", "\U0001E900\U0001E922", "𐐀𐐨", strings.Repeat("a", 1100),
}

// probeRun asks the probe plugin for gore's outcome on pattern and
// subject.
func probeRun(tb testing.TB, p *plugintest.Plugin, pattern, subject string) string {
	tb.Helper()
	f := webFieldsFull("GET", "x", "/", "")
	f.HTTP.Header = http.Header{"X-P": {pattern}, "X-S": {subject}}
	if r := p.Run(abi.HookRewrite, f); r.Err != nil {
		tb.Fatalf("probe: %v", r.Err)
	}
	return f.HTTP.Header.Get("X-R")
}

func escapeBytes(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < 0x7f && c != '\\' {
			b.WriteByte(c)
		} else {
			fmt.Fprintf(&b, `\x%02x`, c)
		}
	}
	return b.String()
}

// goOutcome is what the probe must answer: Go's regexp.Compile error, or
// FindStringSubmatchIndex and the literal prefix of requestFilter.
func goOutcome(pattern, subject string) string {
	re, err := regexp.Compile(pattern)
	if err != nil {
		return "ERR " + escapeBytes(err.Error())
	}
	var b strings.Builder
	m := re.FindStringSubmatchIndex(subject)
	if m == nil {
		b.WriteString("NO ")
	}
	for _, v := range m {
		fmt.Fprintf(&b, "%d ", v)
	}
	b.WriteString("|" + escapeBytes(rawPrefix(pattern)) + "|")
	return b.String()
}

// rawPrefix is literalPathPrefix before its path checks.
func rawPrefix(expr string) string {
	p := literalPathPrefix(expr)
	if p != "" {
		return p
	}
	// literalPathPrefix drops prefixes that are no path; compare those too
	// by asking with a "/" in front of the literals after "^".
	if strings.HasPrefix(expr, "^") {
		if q := literalPathPrefix("^/" + expr[1:]); len(q) > 1 && !strings.ContainsAny(q, " \r\n\t?#") {
			return q[1:]
		}
	}
	return ""
}

// probeMatches reports whether the probe's answer is Go's: the same, or a
// refusal of what the C build leaves to the Go build (ERRC). The literal
// prefix is compared as requestFilter uses it.
func probeMatches(got, want string) bool {
	if strings.HasPrefix(got, "ERRC ") {
		return true
	}
	if got == want {
		return true
	}
	// The prefix part: compare only what literalPathPrefix keeps.
	gi, wi := strings.Index(got, "|"), strings.Index(want, "|")
	if gi < 0 || wi < 0 || got[:gi] != want[:wi] {
		return false
	}
	return pathPrefix(got[gi:]) == pathPrefix(want[wi:])
}

func pathPrefix(s string) string {
	p := strings.TrimSuffix(strings.TrimPrefix(s, "|"), "|")
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \r\n\t?#") {
		return ""
	}
	return p
}

// TestC_regexp compares gore with Go's regexp for every pattern and
// subject of the table: the compile error, each submatch index, and the
// literal path prefix.
func TestC_regexp(t *testing.T) {
	p := plugintest.Load(t, probeWasm(t), compileCache(t))
	n := 0
	for _, pat := range regexpPatterns {
		for _, s := range regexpSubjects {
			got, want := probeRun(t, p, pat, s), goOutcome(pat, s)
			if !probeMatches(got, want) {
				t.Errorf("pattern %q on %q:\nGo: %s\nC:  %s", pat, s, want, got)
			}
			n++
		}
	}
	t.Logf("%d pattern x subject cases", n)
}

// TestC_twinRegexpTemplates runs a sample of the regexp table through
// both real builds: each pattern in a rule whose template writes every
// group into a header.
func TestC_twinRegexpTemplates(t *testing.T) {
	var rules []string
	for _, pat := range regexpPatterns {
		re, err := regexp.Compile(pat)
		if err != nil || strings.Contains(pat, `\p`) || strings.Contains(pat, `\P`) {
			continue
		}
		tmpl := "<$0>"
		for i := 1; i <= re.NumSubexp(); i++ {
			tmpl += fmt.Sprintf("<${%d}>", i)
		}
		rules = append(rules, `{"path":`+jsonQuote(pat)+`,"set_headers":{"X-M-`+fmt.Sprint(len(rules))+`":`+jsonQuote(tmpl)+`},"last":false}`)
	}
	// Several configurations of at most 40 rules each.
	for i := 0; i < len(rules); i += 40 {
		j := min(i+40, len(rules))
		tw := newTwin(t, `{"rules":[`+strings.Join(rules[i:j], ",")+`]}`)
		for _, s := range regexpSubjects {
			tw.Run(t, abi.HookRewrite, webFieldsFull("GET", "x", s, ""))
		}
	}
}

// FuzzTwin runs fuzzed requests (method, host, path, query) under every
// twin configuration through both builds.
func FuzzTwin(f *testing.F) {
	cfgs := twinConfigs(f)
	tws := make([]*plugintest.Twin, len(cfgs))
	for i, c := range cfgs {
		tws[i] = newTwin(f, c.config)
	}
	for i, c := range reqCases() {
		if i%5 == 0 {
			f.Add(uint8(i), c.method, c.host, c.path, c.query)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, method, host, path, query string) {
		for _, s := range []string{method, host, path, query} {
			if len(s) > abi.MaxFieldBytes/4 {
				return
			}
		}
		tws[int(which)%len(tws)].Run(t, abi.HookRewrite, webFieldsFull(method, host, path, query))
	})
}

// FuzzTwinResponse runs fuzzed responses (status, Location, Set-Cookie
// values, one a line) for fuzzed hosts and paths under every twin
// configuration through the response hook of both builds.
func FuzzTwinResponse(f *testing.F) {
	cfgs := twinConfigs(f)
	tws := make([]*plugintest.Twin, len(cfgs))
	for i, c := range cfgs {
		tws[i] = newTwin(f, c.config)
	}
	for i, c := range respCases() {
		if i%4 == 0 {
			f.Add(uint8(i), c.host, c.path, c.status, c.header.Get("Location"), strings.Join(c.header.Values("Set-Cookie"), "\n"))
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, host, path string, status int, location, cookies string) {
		if strings.ContainsAny(location, "\r\n\x00") || strings.ContainsAny(cookies, "\r\x00") || len(host+path+location+cookies) > abi.MaxFieldBytes/4 {
			return // not header values the host would carry
		}
		fl := webFieldsFull("GET", host, path, "")
		fl.HTTP.Status = status
		fl.HTTP.RespHeader = http.Header{}
		if location != "" {
			fl.HTTP.RespHeader.Set("Location", location)
		}
		for _, c := range strings.Split(cookies, "\n") {
			if c != "" {
				fl.HTTP.RespHeader.Add("Set-Cookie", c)
			}
		}
		tws[int(which)%len(tws)].Run(t, abi.HookResponse, fl)
	})
}

// FuzzTwinPattern fuzzes a pattern and a subject: gore (through the probe)
// must give Go's regexp's error or submatch indexes, and the C build must
// load a rule with the pattern exactly when the Go source's parseAll does
// (same message), and then rewrite as regexp.Expand does with the groups.
func FuzzTwinPattern(f *testing.F) {
	pr := plugintest.Load(f, probeWasm(f), compileCache(f))
	_, c := builds(f)
	for i, p := range regexpPatterns {
		f.Add(p, regexpSubjects[i%len(regexpSubjects)])
	}
	f.Fuzz(func(t *testing.T, pattern, subject string) {
		if len(pattern) > 1000 || len(subject) > 4000 || strings.ContainsAny(pattern+subject, "\r\n\x00") || !utf8.ValidString(pattern) {
			return // header values the host would not carry; config strings are UTF-8
		}
		if got, want := probeRun(t, pr, pattern, subject), goOutcome(pattern, subject); !probeMatches(got, want) {
			t.Fatalf("pattern %q on %q:\nGo: %s\nC:  %s", pattern, subject, want, got)
		}
		re, err := regexp.Compile(pattern)
		tmpl := "<$0>"
		if err == nil {
			for i := 1; i <= re.NumSubexp() && i < 20; i++ {
				tmpl += fmt.Sprintf("<${%d}>", i)
			}
		}
		cfg := `{"rules":[{"path":` + jsonQuote(pattern) + `,"set_headers":{"X-M":` + jsonQuote(tmpl) + `}}]}`
		_, errNative := parseAll([]byte(cfg))
		p, errPort := plugintest.TryLoad(t, c, plugintest.Config(cfg), compileCache(t))
		compareLoad(t, cfg, errNative, errPort)
		if errNative != nil || errPort != nil {
			if errPort == nil {
				p.Host.Close(context.Background())
			}
			return
		}
		defer p.Host.Close(context.Background())
		path := subject
		fl := webFieldsFull("GET", "x", path, "")
		p.Run(abi.HookRewrite, fl)
		want := ""
		if m := re.FindStringSubmatchIndex(path); m != nil {
			want = string(re.ExpandString(nil, tmpl, path, m))
		}
		if got := fl.HTTP.Header.Get("X-M"); got != want {
			t.Fatalf("pattern %q on %q: X-M %q, want %q", pattern, path, got, want)
		}
	})
}

// TestC_memory is the probe behind RATIONALE.md's memory figures: with
// POSTERN_MEASURE=go or POSTERN_MEASURE=c (and -v), the process's resident
// and proportional memory (smaps_rollup, after debug.FreeOSMemory) before
// and after loading that build of url-rewrite with testdata/rules.json and
// running four requests at once (so the pool holds up to four instances).
// Run it once per build: each in its own process.
func TestC_memory(t *testing.T) {
	which := os.Getenv("POSTERN_MEASURE")
	if which != "go" && which != "c" {
		t.Skip("set POSTERN_MEASURE=go or POSTERN_MEASURE=c to measure")
	}
	g, c := builds(t)
	path := c
	if which == "go" {
		path = g
	}
	mem := func() string {
		runtime.GC()
		debug.FreeOSMemory()
		b, _ := os.ReadFile("/proc/self/smaps_rollup")
		var out []string
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "Rss:") || strings.HasPrefix(l, "Pss:") {
				out = append(out, strings.Join(strings.Fields(l), " "))
			}
		}
		return strings.Join(out, ", ")
	}
	t.Logf("before: %s", mem())
	p := plugintest.Load(t, path, plugintest.Config(readTestdata(t, "rules.json")))
	var wg sync.WaitGroup
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.Run(abi.HookRewrite, webFieldsFull("GET", "mail.example.com", "/zimbra/service/home/~/inbox", ""))
		}()
	}
	wg.Wait()
	t.Logf("after loading the %s build (%d instances): %s", which, p.Host.Plugin("test").Info().Instances, mem())
}

// BenchmarkCWasm_Hook is BenchmarkWasm_Hook on the C build.
func BenchmarkCWasm_Hook(b *testing.B) {
	_, c := builds(b)
	p := plugintest.Load(b, c, plugintest.Config(readTestdata(b, "rules.json")), compileCache(b))
	b.ReportAllocs()
	for b.Loop() {
		f := webFields("mail.example.com", "/zimbra/service/home/~/inbox", "fmt=json")
		if r := p.Run(abi.HookRewrite, f); r.Verdict != abi.VerdictContinue {
			b.Fatal(r)
		}
	}
}
