package main

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
)

// The C build (c/plugin.c, committed as c/plugin.wasm) must behave as
// this Go source does: these tests load both into the real host and
// compare every verdict, field and counter (plugintest.Twin).

var (
	cacheOnce sync.Once
	cacheDir  string
)

// compileCache shares compiled modules between the many hosts of these
// tests, so each configuration does not compile the Go build again.
func compileCache(tb testing.TB) plugintest.Option {
	cacheOnce.Do(func() {
		d, err := os.MkdirTemp("", "login-normaliser-c-test-")
		if err != nil {
			tb.Fatal(err)
		}
		cacheDir = d
	})
	return func(s *plugin.Spec, o *plugin.Options) {
		o.CacheDir = cacheDir
		// The default 500 ms per call is far above what either build
		// needs (a few ms for the largest inputs here), but a machine
		// shared by many test runs can stall a call that long.
		s.Limits.CallTimeout = 10 * time.Second
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cacheDir != "" {
		os.RemoveAll(cacheDir)
	}
	os.Exit(code)
}

func readTestdata(tb testing.TB, name string) string {
	tb.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		tb.Fatal(err)
	}
	return string(b)
}

// twinConfigs are the configurations the twin tables and the fuzz test
// run: the testdata files, the defaults, and ones that reach Unicode case
// folding, bytes that are not UTF-8, no lower case, collisions.
func twinConfigs(tb testing.TB) []struct{ name, config string } {
	return []struct{ name, config string }{
		{"zimbra", readTestdata(tb, "zimbra.json")},
		{"strip", readTestdata(tb, "strip.json")},
		{"defaults", ""},
		{"unicode", `{"default_domain":"@BÜCHER.Example","domains":{"sni":{"MAIL.Ü.example.":"Ü.example","mail.ü.example":"last.example"},` +
			`"listener":{"imap-a":"A.EXAMPLE","":"empty-listener.example"}},"aliases":{"JÜRGEN@bücher.example":"j@x","\u0130@bücher.example":"dotted-i"},` +
			`"suffixes":["TB","ÄB","K\u212a"],"max_length":65536}`},
		{"no lower case", `{"lowercase":false,"default_domain":"Example.COM","suffixes":["tb"],"aliases":{"Bob@Example.COM":"robert"},"strip_domains":["Corp.Example"]}`},
		{"invalid utf-8", "{\"strip_domains\":[\"\xff.example\",\"Ü.EXAMPLE\"],\"suffixes\":[\"t\xffb\"],\"aliases\":{\"a\xfe@\xff.example\":\"invalid\"},\"default_domain\":\"d\xc3.example\"}"},
		{"folded keys and merges", `{"LowerCase":true,"DEFAULT_DOMAIN":"x.example","domains":{"SNI":{"a.example":"b.example"}},"domains":{"Listener":{"pop3":"p.example"}},` +
			`"aliases":{"a@x.example":"one"},"aliases":{"b@x.example":"two"},"ſuffixes":["wm"],"max_length":1,"max_length":40}`},
	}
}

// loginCases are the logins (and session fields) of the twin table: every
// case of TestNormalise and TestHook, and more.
type loginCase struct {
	login, account, listener, sni string
}

func loginCases() []loginCase {
	logins := []string{
		"bob@example.com", "Bob@Example.COM", "bob", "Bob/tb", "Bob@Example.com/TB", "bob/wm", "bob@example.com/xx",
		"bob/tb/ni", "OLD@example.com", "old@example.com", "postmaster", "a@b@C.example", "bob@", "Bob@", "/TB", "@", "",
		strings.Repeat("A", 257), strings.Repeat("x", 65), strings.Repeat("x", 64), strings.Repeat("x", 40), strings.Repeat("X", 41),
		"JÜRGEN@BÜCHER.EXAMPLE", "jürgen", "JÜRGEN", "B\xffOB", "Bo b\x01", "Bob/NI", "Bob@CORP.example", "Bob@other.example",
		"bob@corp.example/tb", "@corp.example", "bob/ÄB", "bob/äb", "bob/äB", "bob/kk", "bob/KK", "bob/k\u212a", "İ", "İ@BÜCHER.EXAMPLE",
		"bob@\xff.example", "a\xfe@\xff.example", "A\xfe", "bob/t\xffb", "bob/T\xffB", "bob@Ü.example", "bob@ü.EXAMPLE", "Ⱥ", "ȺȾ@X",
		"\u212a", "ǅ", "ΣΑΣ", "bob@x.example", "a@x.example", "A@X.Example", "bob@CORP.EXAMPLE", "Bob@Corp.Example/tb",
		"/", "//", "bob/", "@/tb", "x@/tb", "bob\x00@example.com", "bob\r\n", "é/tb", "\xed\xa0\x80", "\xf4\x90\x80\x80", "\xc0\xaf",
	}
	var cases []loginCase
	sessions := []loginCase{
		{listener: "imap"}, {listener: "imap-a"}, {listener: "imap-a", sni: "Mail.B.Example."}, {listener: "imap-a", sni: "other.example"},
		{listener: "pop3", sni: "MAIL.Ü.EXAMPLE"}, {listener: "", sni: "mail.ü.example."}, {listener: "imap", sni: "A.EXAMPLE"},
		{listener: "imap", sni: "\xff"}, {listener: "imap", sni: "."}, {account: "robert@example.com", listener: "imap"},
	}
	for _, l := range logins {
		for _, s := range sessions {
			s.login = l
			cases = append(cases, s)
		}
	}
	return cases
}

func runCase(tb testing.TB, tw *plugintest.Twin, c loginCase) {
	tb.Helper()
	f := plugintest.MailFields("imap", c.login)
	f.Listener, f.SNI, f.Account = c.listener, c.sni, c.account
	tw.Run(tb, abi.HookLogin, f)
}

func newTwin(tb testing.TB, config string) *plugintest.Twin {
	tb.Helper()
	return plugintest.NewTwin(tb, plugintest.Build(tb, "plugins/login-normaliser"), plugintest.CPlugin(tb, "plugins/login-normaliser/c"),
		plugintest.Config(config), compileCache(tb))
}

// TestC_twin runs every login case under every configuration through both builds.
func TestC_twin(t *testing.T) {
	for _, cfg := range twinConfigs(t) {
		t.Run(cfg.name, func(t *testing.T) {
			tw := newTwin(t, cfg.config)
			if r, p := tw.Ref.Info(), tw.Port.Info(); strings.Join(r.Hooks, ",") != strings.Join(p.Hooks, ",") ||
				strings.Join(r.Events, ",") != strings.Join(p.Events, ",") || r.Filter != p.Filter || r.Reuse != p.Reuse {
				t.Errorf("hooks/events/filter/reuse: Go %v %v %q %v, C %v %v %q %v", r.Hooks, r.Events, r.Filter, r.Reuse,
					p.Hooks, p.Events, p.Filter, p.Reuse)
			}
			for _, c := range loginCases() {
				runCase(t, tw, c)
			}
		})
	}
}

// TestC_twinHTTP: an HTTP request without credentials (empty login) and
// one with basic auth.
func TestC_twinHTTP(t *testing.T) {
	tw := newTwin(t, readTestdata(t, "zimbra.json"))
	for _, login := range []string{"", "Bob/tb"} {
		f := plugintest.MailFields("http", login)
		f.AuthMethod = "none"
		f.HTTP = &plugin.HTTPFields{Method: "GET", Host: "mail.b.example", Path: "/"}
		tw.Run(t, abi.HookLogin, f)
	}
}

// TestC_twinLowerCase lower-cases every rune (and some bytes that are not
// UTF-8) in both builds: the C table must be Go's unicode.ToLower.
func TestC_twinLowerCase(t *testing.T) {
	tw := newTwin(t, `{"max_length":65536}`)
	var b strings.Builder
	flush := func() {
		if b.Len() > 0 {
			runCase(t, tw, loginCase{login: b.String(), listener: "imap"})
			b.Reset()
		}
	}
	for r := rune(0x41); r <= utf8.MaxRune; r++ {
		if r >= 0xD800 && r < 0xE000 {
			continue
		}
		b.WriteRune(r)
		if b.Len() > 16000 {
			flush()
		}
	}
	flush()
	// Not UTF-8: ASCII only in the login; U+FFFD for the SNI lookup.
	runCase(t, tw, loginCase{login: "ÀÉ\xffÎ", listener: "imap"})
}

// TestC_configs: for every configuration, both builds accept it or both refuse it.
func TestC_configs(t *testing.T) {
	configs := []string{
		"", " ", "\n\t ", "\v", "\u00a0", "\u0085 ", "null", " null ", "{}", "{} ", "{}}", "{}]", "{} {}", "{}x", "{}\v", "nullx", "null}",
		"[]", `"x"`, "1", "true", "{", "{]", `{"a":1}`, `{"lowercase":"yes"}`, `{"lowercase":null}`, `{"lowercase":1}`,
		`{"lowercase":true}`, `{"lowercase":false}`, `{"Lowercase":false}`, `{"LOWERCASE":tru}`,
		`{"default_domian":"x"}`, `{"default_domain":"a b"}`, `{"default_domain":"@"}`, `{"default_domain":"@@x"}`, `{"default_domain":"@x"}`,
		`{"default_domain":""}`, `{"default_domain":null}`, `{"default_domain":1}`, `{"default_domain":"a\u0000b"}`, `{"default_domain":"a\u007fb"}`,
		`{"default_domain":"a\u0085b"}`, `{"default_domain":"a\tb"}`, `{"default_domain":"a/b"}`, `{"default_domain":"ü.example"}`,
		"{\"default_domain\":\"\xff\"}", `{"default_domain":"\ud800"}`, `{"default_domain":"\ud83d\ude00.example"}`, `{"default_domain":"\x"}`,
		"{\"default_domain\":\"a\x01b\"}",
		`{"domains":{"listener":{"imap-a":""}}}`, `{"domains":{"listener":{"imap-a":null}}}`, `{"domains":{"listener":{"imap-a":"a.example"}}}`,
		`{"domains":{"listener":null}}`, `{"domains":null}`, `{"domains":[]}`, `{"domains":{"listener":[]}}`, `{"domains":{"listener":{"a":1}}}`,
		`{"domains":{"sni":{"m.example":"a/b"}}}`, `{"domains":{"port":{}}}`, `{"domains":{"sni":{"M.example.":"@b.example"}}}`,
		`{"domains":{"ſni":{"m.example":"b.example"}}}`, `{"domains":{"snı":{"m.example":"b.example"}}}`,
		`{"strip_domains":["ok.example",""]}`, `{"strip_domains":["ok.example"]}`, `{"strip_domains":null}`, `{"strip_domains":[null]}`,
		`{"strip_domains":["a.example"],"strip_domains":[null]}`, `{"strip_domains":"a"}`, `{"strip_domains":[1]}`,
		`{"default_domain":"a.example","strip_domains":["A.example"]}`, `{"default_domain":"@a.example","strip_domains":["@A.EXAMPLE"]}`,
		`{"domains":{"listener":{"x":"b.example"}},"strip_domains":["b.example"]}`, `{"domains":{"sni":{"x":"ü.example"}},"strip_domains":["Ü.example"]}`,
		`{"suffixes":["tb","t/b"]}`, `{"suffixes":[""]}`, `{"suffixes":[]}`, `{"suffixes":null}`, `{"suffixes":[null]}`, `{"suffixes":["a b"]}`,
		`{"suffixes":["a\tb"]}`, `{"suffixes":["a\u0000b"]}`, `{"suffixes":["a@b"]}`, `{"suffixes":["a\u000bb"]}`, `{"suffixes":"tb"}`,
		`{"suffixes":["tb"],"suffixes":[null]}`, `{"suffixes":["tb"],"suffixes":null,"suffixes":[null]}`,
		`{"aliases":{"a":""}}`, `{"aliases":{"":"a"}}`, `{"aliases":{"a":null}}`, `{"aliases":{"a":"b\nc"}}`, `{"aliases":{"a":"b\u0000c"}}`,
		`{"aliases":{"a":"b\rc"}}`, `{"aliases":{"A":"x","a":"y"}}`, `{"aliases":{"A":"x","a":"x"}}`, `{"lowercase":false,"aliases":{"A":"x","a":"y"}}`,
		`{"aliases":{"İ":"x","i̇":"y"}}`, `{"aliases":{"K":"x","\u212a":"y"}}`, `{"aliases":{"k":"x","\u212a":"y"}}`, `{"aliases":null}`,
		`{"aliases":{"a":"x"},"aliases":{"A":"y"}}`, `{"aliases":{"a":"x"},"aliases":null,"aliases":{"A":"y"}}`, `{"aliases":[]}`,
		`{"max_length":0}`, `{"max_length":1}`, `{"max_length":65536}`, `{"max_length":65537}`, `{"max_length":-1}`, `{"max_length":-0}`,
		`{"max_length":1.0}`, `{"max_length":1e2}`, `{"max_length":"5"}`, `{"max_length":null}`, `{"max_length":9223372036854775807}`,
		`{"max_length":9223372036854775808}`, `{"max_length":-9223372036854775808}`, `{"max_length":01}`, `{"max_length":5,}`,
		`{"MAX_LENGTH":5}`, `{"max_length":5,"max_length":0}`, `{"max_length":0,"max_length":5}`,
		`{"lowercase":true,}`, `{"lowercase" true}`, `{lowercase:true}`, `{"lowercase":true /* */}`, `{'lowercase':true}`,
		"\xef\xbb\xbf{}", "{\"lowercase\":true}\n", `{"\u006cowercase":false}`, `{"lowercase\u0000":false}`,
		`{"reuse":"5s"}`, `{"reuse":2}`, `{"reuse":"0"}`, `{"reuse":"1h"}`, `{"reuse":"2h"}`, `{"reuse":"-1s"}`, `{"reuse":null}`,
		`{"reuse":3600}`, `{"reuse":3600.0000001}`, `{"reuse":-1}`, `{"reuse":-0}`, `{"reuse":-0.000000001}`, `{"reuse":-0.0000000019}`,
		`{"reuse":-1e10}`, `{"reuse":1e-400}`, `{"reuse":-1e400}`, `{"reuse":1e400}`, `{"reuse":1e9}`, `{"reuse":"-0s"}`, `{"reuse":"1ns"}`,
		`{"reuse":"3600000ms"}`, `{"reuse":"3600000.000001ms"}`, `{"reuse":[]}`, `{"reuse":[1,{"a":null}]}`, `{"reuse":[1,}`, `{"reuse":true}`,
		`{"reuse":"x"}`, `{"reuse":""}`, `{"reuse":"\u0035s"}`, `{"reuse":01}`, `{"reuse":1.}`, `{"Reuse":"1s","reuse":"2h"}`,
		`{"reuse":"2h","REUSE":1}`, `{"reuse":"1s","max_length":0}`,
		readTestdata(t, "zimbra.json"), readTestdata(t, "strip.json"),
	}
	ref := plugintest.Build(t, "plugins/login-normaliser")
	port := plugintest.CPlugin(t, "plugins/login-normaliser/c")
	for i, cfg := range configs {
		// Loading the Go build is slow (its runtime starts in every
		// instance), so most configurations are checked against the
		// reference's own parseConfig compiled natively, and every
		// fifth, with the testdata files, through both real loads.
		var errRef, errPort error
		if i%5 == 0 || i >= len(configs)-2 {
			_, errRef, errPort = plugintest.TryNewTwin(t, ref, port, plugintest.Config(cfg), compileCache(t))
		} else {
			_, errRef = parseConfig([]byte(cfg))
			_, errPort = plugintest.TryLoad(t, port, plugintest.Config(cfg), compileCache(t))
		}
		if (errRef == nil) != (errPort == nil) {
			t.Errorf("config %q:\nGo: %v\nC:  %v", cfg, errRef, errPort)
		} else if errRef != nil && !strings.Contains(errPort.Error(), "login-normaliser: config: ") {
			t.Errorf("config %q: C refusal without the component prefix: %v", cfg, errPort)
		}
	}
}

// TestC_reuse: both builds declare the same decision reuse
// (Info().Reuse, what the host keeps of init's reuse_ms) for every row of
// reuseCases, or both refuse the configuration with the same message.
func TestC_reuse(t *testing.T) {
	ref := plugintest.Build(t, "plugins/login-normaliser")
	port := plugintest.CPlugin(t, "plugins/login-normaliser/c")
	plugintest.CheckTwinReuse(t, ref, port, reuseCases, nil, compileCache(t))
}

// FuzzTwin runs fuzzed logins and session fields under every twin
// configuration through both builds.
func FuzzTwin(f *testing.F) {
	cfgs := twinConfigs(f)
	twins := make([]*plugintest.Twin, len(cfgs))
	for i, c := range cfgs {
		twins[i] = newTwin(f, c.config)
	}
	for i, c := range loginCases() {
		if i%7 == 0 {
			f.Add(uint8(i), c.login, c.account, c.listener, c.sni)
		}
	}
	f.Fuzz(func(t *testing.T, which uint8, login, account, listener, sni string) {
		for _, s := range []string{login, account, listener, sni} {
			if len(s) > abi.MaxFieldBytes/4 {
				return
			}
		}
		runCase(t, twins[int(which)%len(twins)], loginCase{login: login, account: account, listener: listener, sni: sni})
	})
}
