package main

import (
	"context"
	"encoding/json"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
)

// The C build (c/plugin.c, committed as c/plugin.wasm) must behave as this
// Go source does: these tests load both into the real host and compare
// every verdict, field, store operation (in order, with TTLs) and counter
// (plugintest.Twin).

var (
	cCacheOnce sync.Once
	cCacheDir  string
)

// cCompileCache shares compiled modules between the many hosts of these
// tests, so that each configuration does not compile the Go build again.
func cCompileCache(tb testing.TB) plugintest.Option {
	cCacheOnce.Do(func() {
		d, err := os.MkdirTemp("", "throttle-c-test-")
		if err != nil {
			tb.Fatal(err)
		}
		cCacheDir = d
	})
	return func(_ *plugin.Spec, o *plugin.Options) { o.CacheDir = cCacheDir }
}

func TestMain(m *testing.M) {
	code := m.Run()
	if cCacheDir != "" {
		os.RemoveAll(cCacheDir)
	}
	os.Exit(code)
}

var (
	buildMu       sync.Mutex
	goWasm, cWasm string
)

// goBuild and cBuild build (and check) each build once per test binary.
func goBuild(tb testing.TB) string {
	buildMu.Lock()
	defer buildMu.Unlock()
	if goWasm == "" {
		goWasm = plugintest.Build(tb, "plugins/throttle")
	}
	return goWasm
}

func cBuild(tb testing.TB) string {
	buildMu.Lock()
	defer buildMu.Unlock()
	if cWasm == "" {
		cWasm = plugintest.CPlugin(tb, "plugins/throttle/c")
	}
	return cWasm
}

func newCTwin(tb testing.TB, config string) *plugintest.Twin {
	tb.Helper()
	return plugintest.NewTwin(tb, goBuild(tb), cBuild(tb), plugintest.Config(config), cCompileCache(tb))
}

// newCTwinStore is newCTwin over a store of the test's making (one each).
func newCTwinStore(tb testing.TB, config string, st func() kv.Store) *plugintest.Twin {
	tb.Helper()
	tw := &plugintest.Twin{RefStore: &plugintest.RecordingStore{Store: st()}, PortStore: &plugintest.RecordingStore{Store: st()}}
	tw.Ref = plugintest.Load(tb, goBuild(tb), plugintest.Config(config), cCompileCache(tb), plugintest.Store(tw.RefStore))
	tw.Port = plugintest.Load(tb, cBuild(tb), plugintest.Config(config), cCompileCache(tb), plugintest.Store(tw.PortStore))
	return tw
}

// try is one throttle hook call: the session's fields.
type try struct {
	proto   string // "" = imap; "-" = none
	ip      string // "" = 192.0.2.7; "-" = no client address
	login   string // "" = bob@example.com; "-" = empty
	account string // set by a login plugin; "" = none
	n       int    // login_attempt; 0 = 1; -1 = 0
}

func (a try) fields() *plugin.Fields {
	proto := a.proto
	switch proto {
	case "":
		proto = "imap"
	case "-":
		proto = ""
	}
	login := a.login
	switch login {
	case "":
		login = "bob@example.com"
	case "-":
		login = ""
	}
	f := plugintest.MailFields(proto, login)
	if proto == "http" {
		f.HTTP = &plugin.HTTPFields{Method: "GET", Host: "mail.example.com", Path: "/"}
		f.AuthMethod = "basic"
	}
	switch a.ip {
	case "":
	case "-":
		f.Client = netip.AddrPort{}
	default:
		f.Client = netip.AddrPortFrom(netip.MustParseAddr(a.ip), 50000)
	}
	f.Account = a.account
	switch {
	case a.n > 0:
		f.LoginAttempt = a.n
	case a.n < 0:
		f.LoginAttempt = 0
	}
	return f
}

func repeat(a try, n int) []try {
	out := make([]try, n)
	for i := range out {
		out[i] = a
	}
	return out
}

// twinCases cover every case of TestCheck and more: each configuration
// variant and branch, the key escaping and hashing, addresses.
var twinCases = []struct {
	name, config string
	tries        []try
}{
	{"no limits", ``, repeat(try{}, 3)},
	{"no limits null", `null`, repeat(try{}, 2)},
	{"ip limit 2", `{"ip":{"limit":2}}`, []try{{}, {}, {}, {ip: "192.0.2.8"}, {ip: "192.0.2.8", n: 3}}},
	{"per protocol limits", `{"ip":{"limit":1,"protocols":{"pop3":2,"http":0}}}`, []try{
		{}, {}, {proto: "pop3"}, {proto: "pop3"}, {proto: "pop3"}, {proto: "http"}, {proto: "http"}, {proto: "http"},
		{proto: "imapssl"}, {proto: "pop3ssl"}, {proto: "httpssl"}, {proto: "-"}, {proto: "x"}}},
	{"per protocol only", `{"ip":{"protocols":{"imap":1}}}`, []try{{}, {}, {proto: "pop3"}, {proto: "pop3"}}},
	{"ipv6 and zones", `{"ip":{"limit":2}}`, []try{{ip: "2001:db8::1"}, {ip: "2001:db8::1"}, {ip: "2001:db8::1"},
		{ip: "fe80::1%eth0"}, {ip: "fe80::1%eth1"}, {ip: "fe80::1"}, {ip: "::ffff:192.0.2.7"}, {ip: "::"}, {ip: "::1"},
		{ip: "-"}, {ip: "2001:db8:0:0:1:0:0:1"}, {ip: "1:0:0:1:0:0:0:1"}}},
	{"user limit once per session", `{"user":{"limit":2,"message":"slow down"}}`, []try{
		{}, {n: 2}, {n: 3}, {}, {}, {n: 2}, {login: "carol@example.com"}, {login: "dave@example.com", n: 2},
		{login: "erin@example.com", n: -1}, {login: "erin@example.com", n: -1}, {login: "erin@example.com", n: -1}}},
	{"user count attempt", `{"user":{"limit":2,"count":"attempt"}}`, []try{{}, {n: 2}, {n: 3}, {n: 4}}},
	{"user key account", `{"user":{"limit":1,"key":"account"}}`, []try{
		{login: "bob", account: "robert@example.com"}, {login: "bobby", account: "robert@example.com"},
		{login: "-", account: "robert@example.com"}, {login: "x"}, {login: "x"}}},
	{"user key login with account", `{"user":{"limit":1}}`, []try{
		{login: "bob", account: "robert@example.com"}, {login: "bob", account: "other@example.com"},
		{login: "-", account: "robert@example.com"}, {login: "-", account: "robert@example.com"}}},
	{"empty login", `{"user":{"limit":1}}`, []try{{login: "-"}, {login: "-"}}},
	{"no login: nothing counted", `{"ip":{"limit":1},"user":{"limit":1}}`, []try{
		{proto: "http", login: "-"}, {proto: "http", login: "-"}, {proto: "http", login: "-"}, {proto: "imap", login: "-"}}},
	{"ip refusal keeps the user counter", `{"ip":{"limit":1},"user":{"limit":5}}`, []try{{}, {}, {}}},
	{"allowlist", `{"ip":{"limit":1},"user":{"limit":1},"allowlist":["10.0.0.0/8","192.0.2.7","2001:db8::/32"]}`, []try{
		{}, {}, {ip: "10.1.2.3"}, {ip: "2001:db8::9"}, {ip: "192.0.2.9"}, {ip: "192.0.2.9"}, {ip: "11.0.0.1"},
		{ip: "::ffff:10.1.2.3"}, {ip: "2001:db9::1"}, {ip: "-"}, {ip: "2001:db8::1%eth0"}}},
	{"allowlist mapped and odd prefixes", `{"ip":{"limit":1},"allowlist":["::ffff:10.0.0.0/104","::ffff:192.0.2.1","10.1.2.3/8","fe80::/10","::/127","0.0.0.0/32","172.16.0.0/12","2001:db8::ff/120"]}`, []try{
		{ip: "10.200.0.1"}, {ip: "::ffff:10.200.0.1"}, {ip: "192.0.2.1"}, {ip: "fe80::1%eth0"}, {ip: "fe80::1"}, {ip: "::1"}, {ip: "::2"},
		{ip: "0.0.0.0"}, {ip: "172.31.255.255"}, {ip: "172.32.0.0"}, {ip: "2001:db8::1"}, {ip: "2001:db8::1:1"}, {ip: "2001:db8::1:1"},
		{ip: "::10.0.0.1"}, {ip: "::10.0.0.1"}}},
	{"allowlist everything", `{"ip":{"limit":1},"user":{"limit":1},"allowlist":["0.0.0.0/0","::/0"]}`, []try{
		{}, {}, {ip: "2001:db8::1"}, {ip: "-"}, {ip: "-"}}},
	{"soft and hard", `{"ip":{"limit":4,"soft_limit":2},"delay":"1500ms"}`, repeat(try{}, 6)},
	{"soft alone", `{"user":{"soft_limit":1},"delay":2}`, []try{{}, {}, {}, {n: 2}}},
	{"soft both, rounding", `{"ip":{"soft_limit":1},"user":{"soft_limit":2,"limit":3},"delay":"1.0000001ms"}`, repeat(try{}, 5)},
	{"soft µs", `{"user":{"soft_limit":1},"delay":"1µs"}`, repeat(try{}, 3)},
	{"windows", `{"ip":{"limit":9,"window":"90m"},"user":{"limit":9,"window":2592000}}`, []try{{}, {}, {login: "x", proto: "pop3"}}},
	{"windows fractions", `{"ip":{"limit":9,"window":"1.5m"},"user":{"limit":9,"window":"0.5h1s"}}`, []try{{}, {}}},
	{"odd logins", `{"user":{"limit":9}}`, []try{{login: "bob smith\x01"}, {login: strings.Repeat("x", 300)},
		{login: strings.Repeat("x", 236)}, {login: strings.Repeat("x", 237)}, {login: strings.Repeat("%", 79)}, {login: strings.Repeat("%", 78)},
		{login: "tab\tnl\n\x7f"}, {login: "jürgen@example.de"}, {login: "a;b,c"}, {login: "\xff\xfe"}, {login: "a\x00b"}}},
	{"escaped forms count apart", `{"user":{"limit":1}}`, []try{{login: "a b"}, {login: "a%20b"}, {login: "a b"},
		{login: strings.Repeat("x", 300)}, {login: "sha256:" + sha(strings.Repeat("x", 300))}, {login: "%sha256:" + sha(strings.Repeat("x", 300))}}},
	{"odd protocols", `{"ip":{"limit":1}}`, []try{{proto: ";x"}, {proto: ",x"}, {proto: " x"}, {proto: "%x"}, {proto: "\x01"}, {proto: "\xc3\xa9"}}},
	{"messages", `{"ip":{"limit":1,"message":"a\u0000b \u00e9 \ud83d\ude00 \ud800 x"},"user":{"limit":1,"message":"\u2028"}}`, []try{
		{}, {}, {ip: "192.0.2.9"}}},
	{"message invalid utf-8", "{\"ip\":{\"limit\":1,\"message\":\"a\xffb\xc3\xed\xa0\x80\"}}", []try{{}, {}}},
	{"message too long", `{"ip":{"limit":1,"message":"` + strings.Repeat("é", 40000) + `"}}`, []try{{}, {}}},
	{"zimbra", readFile("testdata/zimbra.json"), []try{{}, {proto: "pop3"}, {ip: "10.9.9.9"}, {ip: "192.0.2.10"}, {ip: "2001:db8:1::5"}, {proto: "http"}}},
	{"soft file", readFile("testdata/soft.json"), []try{{}, {account: "robert@example.com"}, {n: 2}}},
	{"folded keys and merges", `{"IP":{"LIMIT":5},"ip":{"Window":60},"User":{"ſoft_limit":1,"\u212aey":"account","Count":"attempt"},"Delay":"1s",` +
		`"allowList":["10.0.0.0/8"],"ALLOWLIST":["192.0.2.0/24"]}`, []try{{}, {ip: "10.0.0.1"}, {ip: "192.0.2.1"}, {account: "robert@example.com"}}},
	{"duplicates and nulls", `{"ip":{"limit":-1,"protocols":{"smtp":1},"message":"","soft_limit":null},"ip":{"limit":2,"protocols":null,"message":null},` +
		`"ip":{"protocols":{"imap":null,"pop3":1},"protocols":{"http":1}},"user":{"limit":3,"count":"session","key":null},"user":{"count":null,"limit":null,"window":null},"user":{"count":"attempt"},"delay":null}`,
		[]try{{}, {}, {proto: "pop3"}, {proto: "pop3"}, {proto: "http"}, {proto: "http"}, {n: 2}, {n: 2}, {n: 2}}},
	{"trailing close", `{"ip":{"limit":1}} }`, []try{{}, {}}},
}

func readFile(name string) string {
	b, err := os.ReadFile(name)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// TestC_twin runs every case through both builds, comparing each call.
func TestC_twin(t *testing.T) {
	for _, tc := range twinCases {
		t.Run(tc.name, func(t *testing.T) {
			tw := newCTwin(t, tc.config)
			if r, p := tw.Ref.Info(), tw.Port.Info(); strings.Join(r.Hooks, ",") != strings.Join(p.Hooks, ",") ||
				strings.Join(r.Events, ",") != strings.Join(p.Events, ",") || r.Filter != p.Filter || r.ABIVersion != p.ABIVersion ||
				r.Reuse != p.Reuse {
				t.Errorf("hooks/events/filter/ABI/reuse: Go %v %v %q %s %v, C %v %v %q %s %v", r.Hooks, r.Events, r.Filter, r.ABIVersion, r.Reuse,
					p.Hooks, p.Events, p.Filter, p.ABIVersion, p.Reuse)
			}
			for _, a := range tc.tries {
				tw.Run(t, abi.HookThrottle, a.fields())
			}
		})
	}
}

// TestC_reuse: both builds declare the same decision reuse
// (Info().Reuse, what the host keeps of init's reuse_ms) for every row of
// reuseCases, or both refuse the configuration with the same message.
func TestC_reuse(t *testing.T) {
	plugintest.CheckTwinReuse(t, goBuild(t), cBuild(t), reuseCases, nil, cCompileCache(t))
}

// flakyStore fails the operations its fields name, and can make add lose
// the race to another node (the key appears between incr and add).
type flakyStore struct {
	kv.Store
	incrDown, addDown, race bool
}

func (s *flakyStore) Incr(ctx context.Context, key string, delta uint64) (uint64, error) {
	if s.incrDown {
		return 0, kv.ErrUnavailable
	}
	n, err := s.Store.Incr(ctx, key, delta)
	if err == kv.ErrNotFound && s.race && delta > 0 {
		_ = s.Store.Add(ctx, key, []byte("7"), time.Minute) // another node won
	}
	return n, err
}

func (s *flakyStore) Add(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if s.addDown {
		return kv.ErrUnavailable
	}
	return s.Store.Add(ctx, key, value, ttl)
}

// TestC_twinStore: the store down (fail open, counted, logged once), add
// failing, and add losing the race (incr again).
func TestC_twinStore(t *testing.T) {
	for _, tc := range []struct {
		name  string
		store flakyStore
	}{
		{"down", flakyStore{incrDown: true}},
		{"add down", flakyStore{addDown: true}},
		{"race", flakyStore{race: true}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tw := newCTwinStore(t, `{"ip":{"limit":8},"user":{"limit":8}}`, func() kv.Store {
				s := tc.store
				s.Store = kv.NewMemory(kv.MemoryOptions{})
				return &s
			})
			for i := 0; i < 4; i++ {
				tw.Run(t, abi.HookThrottle, try{login: fmt.Sprintf("u%d", i%2), n: 1 + i/2}.fields())
			}
			for _, p := range []*plugintest.Plugin{tw.Ref, tw.Port} {
				want := 0
				if tc.name != "race" {
					want = 1
				}
				if n := strings.Count(p.Logs.String(), "logins are allowed unthrottled"); n != want {
					t.Errorf("the outage was logged %d times, want %d:\n%s", n, want, p.Logs)
				}
			}
		})
	}
}

// twinConfigCases are accepted or refused alike by both builds.
var twinConfigCases = []string{
	``, ` `, "\n\t ", "\v", "\xc2\xa0", "\xe3\x80\x80 \xe2\x80\xa8", "\v{}", "\xc2\xa0{}", `null`, ` null `, `null}`, `null]`, `null x`, `nul`, `{}`, `{}}`, `{}]x`,
	`{} x`, `{} {}`, `{}{`, "{}\x00", `[]`, `[1]`, `1`, `"x"`, `true`, `{`, `{,}`, `{"a" 1}`, `{"ip":{},}`, `{"ip":tru}`, `{"ip":{}}x`,
	`{"ip":}`, `{"ip":{"limit":01}}`, `{"ip":{"limit":1.}}`, `{"ip":{"limit":-}}`, `{"ip":{"limit":.5}}`, `{"ip":{"limit":1e}}`,
	// TestParseConfig_errors
	`{"ip":{"limit":-1}}`, `{"ip":{"limit":"ten"}}`, `{"ip":{"limt":3}}`, `{"ip":{"window":0}}`, `{"ip":{"window":"1.5s"}}`,
	`{"user":{"window":"soon"}}`, `{"user":{"window":1.5}}`, `{"user":{"window":true}}`, `{"user":{"limit":3,"soft_limit":3}}`,
	`{"user":{"soft_limit":-2}}`, `{"user":{"message":"a\nb"}}`, `{"ip":{"message":""}}`, `{"user":{"count":"session"}}`,
	`{"user":{"key":"email"}}`, `{"ip":{"protocols":{"smtp":3}}}`, `{"ip":{"protocols":{"imap":-3}}}`,
	`{"allowlist":["10.0.0.0/8","10.0.0/8"]}`, `{"allowlist":["fe80::1%eth0"]}`, `{"allowlist":["::ffff:0:0/80"]}`,
	`{"ip":{"soft_limit":2}}`, `{"delay":"1s"}`, `{"ip":{"soft_limit":2},"delay":"6m"}`, `{"ip":{}} {}`, `{"ip":`,
	// numbers
	`{"ip":{"limit":1.0}}`, `{"ip":{"limit":1e2}}`, `{"ip":{"limit":-0}}`, `{"ip":{"limit":9223372036854775807}}`,
	`{"ip":{"limit":9223372036854775808}}`, `{"ip":{"limit":-9223372036854775808}}`, `{"ip":{"limit":"5"}}`, `{"ip":{"limit":true}}`,
	`{"ip":{"limit":null}}`, `{"ip":{"limit":[]}}`, `{"ip":{"limit":{}}}`, `{"user":{"limit":2,"soft_limit":1},"delay":1}`,
	`{"user":{"limit":2,"soft_limit":2},"delay":1}`, `{"user":{"limit":0,"soft_limit":5},"delay":1}`,
	`{"ip":{"soft_limit":9223372036854775807},"delay":"1ms"}`,
	// durations
	`{"ip":{"window":"1h"}}`, `{"ip":{"window":"1.5h"}}`, `{"ip":{"window":"90m"}}`, `{"ip":{"window":"3600"}}`, `{"ip":{"window":3600}}`,
	`{"ip":{"window":"1h0m0.5s"}}`, `{"ip":{"window":".5m"}}`, `{"ip":{"window":"5.m"}}`, `{"ip":{"window":"."}}`, `{"ip":{"window":".s"}}`,
	`{"ip":{"window":"1e3s"}}`, `{"ip":{"window":"+1h"}}`, `{"ip":{"window":"-1h"}}`, `{"ip":{"window":"0"}}`, `{"ip":{"window":"+0"}}`,
	`{"ip":{"window":"-0"}}`, `{"ip":{"window":""}}`, `{"ip":{"window":"1"}}`, `{"ip":{"window":" 1h"}}`, `{"ip":{"window":"1h "}}`,
	`{"ip":{"window":"1µs"}}`, `{"ip":{"window":"1000000μs"}}`, `{"ip":{"window":"1000000\u00b5s"}}`, `{"ip":{"window":"1000000us"}}`,
	`{"ip":{"window":"1000000000ns"}}`, `{"ip":{"window":"1000ms"}}`, `{"ip":{"window":"1H"}}`, `{"ip":{"window":"1d"}}`,
	`{"ip":{"window":"720h"}}`, `{"ip":{"window":"720h1s"}}`, `{"ip":{"window":"719h59m60s"}}`, `{"ip":{"window":2592000}}`,
	`{"ip":{"window":2592001}}`, `{"ip":{"window":-1}}`, `{"ip":{"window":-2592001}}`, `{"ip":{"window":1e3}}`, `{"ip":{"window":1.0}}`,
	`{"ip":{"window":-0}}`, `{"ip":{"window":"1h\u0000"}}`, `{"ip":{"window":"0.000000001h"}}`, `{"ip":{"window":"0.5m"}}`,
	`{"ip":{"window":"1.0000000001s"}}`, `{"ip":{"window":"1.000000000s"}}`, `{"ip":{"window":"1.00000000000000000000000001s"}}`,
	`{"ip":{"window":"2562047h"}}`, `{"ip":{"window":"2562048h"}}`, `{"ip":{"window":"9223372036854775807ns"}}`,
	`{"ip":{"window":"9223372036854775808ns"}}`, `{"ip":{"window":"99999999999999999999s"}}`, `{"ip":{"window":"1s1s"}}`,
	`{"ip":{"window":"1s-1s"}}`, `{"ip":{"window":"1s.5s"}}`, `{"ip":{"window":"0.9999999999s"}}`, `{"ip":{"window":"1m-"}}`,
	`{"ip":{"window":null}}`, `{"ip":{"window":[]}}`, `{"ip":{"window":{}}}`, `{"ip":{"window":"60s","window":0}}`,
	`{"ip":{"soft_limit":1},"delay":"1.5ms"}`, `{"ip":{"soft_limit":1},"delay":"300s"}`, `{"ip":{"soft_limit":1},"delay":"300.001s"}`,
	`{"ip":{"soft_limit":1},"delay":"5m"}`, `{"ip":{"soft_limit":1},"delay":"5m0.000000001s"}`, `{"ip":{"soft_limit":1},"delay":300}`,
	`{"ip":{"soft_limit":1},"delay":301}`, `{"ip":{"soft_limit":1},"delay":0}`, `{"ip":{"soft_limit":1},"delay":"0s"}`,
	`{"ip":{"soft_limit":1},"delay":"-0s"}`, `{"ip":{"soft_limit":1},"delay":"-1s"}`, `{"ip":{"soft_limit":1},"delay":null}`,
	`{"ip":{"soft_limit":1},"delay":"1ns"}`, `{"delay":0}`, `{"delay":"0s"}`, `{"delay":null}`, `{"delay":"1ns"}`, `{"delay":-1}`,
	`{"delay":true}`, `{"delay":[1]}`, `{"delay":{}}`, `{"delay":"x"}`,
	// messages
	`{"ip":{"message":null}}`, `{"ip":{"message":"x"}}`, `{"ip":{"message":"a\rb"}}`, `{"ip":{"message":"\u0000"}}`, `{"ip":{"message":5}}`,
	`{"ip":{"message":"\u000a"}}`, `{"ip":{"message":"x","message":""}}`, `{"ip":{"message":"","message":null}}`, "{\"ip\":{\"message\":\"\xff\"}}",
	"{\"ip\":{\"message\":\"a\nb\"}}",
	// protocols
	`{"ip":{"protocols":{"imap":1,"smtp":2}}}`, `{"ip":{"protocols":{"IMAP":1}}}`, `{"ip":{"protocols":null}}`, `{"ip":{"protocols":{"imap":null}}}`,
	`{"ip":{"protocols":{"imap":-1}}}`, `{"ip":{"protocols":[]}}`, `{"ip":{"protocols":{"imap":"1"}}}`, `{"ip":{"protocols":{"imap":1.5}}}`,
	`{"ip":{"protocols":{"smtp":1}},"ip":{"protocols":null}}`, `{"ip":{"protocols":{"smtp":1},"protocols":{"imap":1}}}`,
	`{"ip":{"protocols":{"\u0069map":1,"pop3":0,"http":9}}}`, `{"ip":{"protocols":{"":1}}}`, `{"ip":{"protocols":{"imap ":1}}}`,
	`{"ip":{"protocols":{"imap":-1,"imap":1}}}`, `{"ip":{"protocols":{}}}`, `{"user":{"protocols":{}}}`,
	// count and key
	`{"user":{"count":""}}`, `{"user":{"count":"login"}}`, `{"user":{"count":"attempt"}}`, `{"user":{"count":"Attempt"}}`, `{"user":{"count":null}}`,
	`{"user":{"count":1}}`, `{"user":{"key":""}}`, `{"user":{"key":"account"}}`, `{"user":{"key":"ACCOUNT"}}`, `{"user":{"key":"\u0061ccount"}}`,
	`{"user":{"key":"account\u0000"}}`, `{"ip":{"count":"login"}}`, `{"ip":{"key":"login"}}`,
	// allowlist
	`{"allowlist":[]}`, `{"allowlist":null}`, `{"allowlist":["10.0.0.0/8"]}`, `{"allowlist":["10.0.0.0/08"]}`, `{"allowlist":["10.0.0.0/33"]}`,
	`{"allowlist":["10.0.0.0/32"]}`, `{"allowlist":["10.0.0.0/0"]}`, `{"allowlist":["10.0.0.0/00"]}`, `{"allowlist":["::/0"]}`,
	`{"allowlist":["::/128"]}`, `{"allowlist":["::/129"]}`, `{"allowlist":["::ffff:0:0/96"]}`, `{"allowlist":["::ffff:0:0/95"]}`,
	`{"allowlist":["1.2.3.4%eth0"]}`, `{"allowlist":["fe80::1%eth0/64"]}`, `{"allowlist":["fe80::1%/64"]}`, `{"allowlist":["fe80::1%"]}`,
	`{"allowlist":["1.2.3.4/"]}`, `{"allowlist":["/8"]}`, `{"allowlist":["1.2.3.4/-1"]}`, `{"allowlist":["1.2.3.4/+8"]}`,
	`{"allowlist":["01.2.3.4"]}`, `{"allowlist":["0.2.3.4"]}`, `{"allowlist":["1.2.3.256"]}`, `{"allowlist":["1.2.3"]}`, `{"allowlist":["1.2.3.4.5"]}`,
	`{"allowlist":["1..2.3"]}`, `{"allowlist":[".1.2.3"]}`, `{"allowlist":["1.2.3."]}`, `{"allowlist":["::1:2:3:4:5:6:7"]}`,
	`{"allowlist":["1::2::3"]}`, `{"allowlist":["::ffff:1.2.3.4"]}`, `{"allowlist":["1:2:3:4:5:6:1.2.3.4"]}`,
	`{"allowlist":["1:2:3:4:5:6:7:1.2.3.4"]}`, `{"allowlist":["1:2:3:4:5:1.2.3.4"]}`, `{"allowlist":["::1.2.3.4"]}`, `{"allowlist":["1::1.2.3.4"]}`,
	`{"allowlist":["::1.2.3.04"]}`, `{"allowlist":["::a.2.3.4"]}`, `{"allowlist":[":"]}`, `{"allowlist":["::"]}`, `{"allowlist":[":::"]}`,
	`{"allowlist":["12345::"]}`, `{"allowlist":["01234::"]}`, `{"allowlist":["1:2:3:4:5:6:7:8::"]}`, `{"allowlist":["::1:2:3:4:5:6:7:8"]}`,
	`{"allowlist":["1:2:3:4:5:6:7::"]}`, `{"allowlist":["::2:3:4:5:6:7:8"]}`, `{"allowlist":["1:2:3:4:5:6:7:8"]}`, `{"allowlist":["1:2:3:4:5:6:7"]}`,
	`{"allowlist":["1:2:3:4:5:6:7:8:9"]}`, `{"allowlist":["1:"]}`, `{"allowlist":[":1"]}`, `{"allowlist":["1::"]}`, `{"allowlist":["FFFF::"]}`,
	`{"allowlist":["g::"]}`, `{"allowlist":[1]}`, `{"allowlist":[null]}`, `{"allowlist":"10.0.0.0/8"}`, `{"allowlist":["a/b/c"]}`,
	`{"allowlist":["1.2.3.4/8/8"]}`, `{"allowlist":["0:0:0:0:0:ffff:10.0.0.0/104"]}`, `{"allowlist":["::ffff:10.0.0.0/95"]}`,
	`{"allowlist":["::ffff:10.0.0.0/128"]}`, `{"allowlist":["::ffff:10.0.0.0/129"]}`, `{"allowlist":[""]}`, `{"allowlist":["%"]}`,
	`{"allowlist":["1.2.3.4 "]}`, `{"allowlist":[" 1.2.3.4"]}`, `{"allowlist":["1.2.3.4/8 "]}`, `{"allowlist":["1.2.3.4/1_0"]}`,
	`{"allowlist":["10.0.0.0/8"],"allowlist":["x"]}`, `{"allowlist":["x"],"allowlist":["10.0.0.0/8"]}`, `{"allowlist":["x"],"allowlist":null}`,
	`{"allowlist":["1.2.3.4\u0000"]}`, `{"allowlist":["::ffff:1.2.3.4%x"]}`, `{"allowlist":["1.2.3.4/32","::ffff:1.2.3.4/128"]}`,
	// unknown fields, types, folding
	`{"x":1}`, `{"ip":{"x":1}}`, `{"ip":[]}`, `{"ip":1}`, `{"ip":null}`, `{"user":null}`, `{"user":"x"}`, `{"allowlist":{}}`,
	`{"IP":{"LIMIT":2}}`, `{"Ip":{"Soft_Limit":1},"DELAY":1}`, `{"user":{"\u212aey":"account"}}`, "{\"user\":{\"\xe2\x84\xaaey\":\"account\"}}",
	`{"ip":{"ſoft_limit":1},"delay":1}`, `{"uſer":{"limit":1}}`, `{"aLLowliſt":[]}`, `{"ip":{"soft-limit":1}}`, `{"ip":{"softlimit":1}}`,
	`{"ip":{"SOFT_LIMIT":1,"limit":3},"delay":"1s"}`, `{"İp":{}}`, `{"ıp":{}}`, `{"\u0069p":{}}`, `{"i\\p":{}}`, `{"ip\u0000":{}}`,
	"{\"ip\xff\":{}}", `{"ip":{"limit":5},"ip":{"window":60}}`, `{"ip":{"limit":-1},"ip":{"limit":1}}`, `{"ip":{"limit":1},"ip":{"limit":-1}}`,
	`{"ip":{"message":""},"ip":{"message":null}}`, `{"ip":{"limit":1,"soft_limit":1},"ip":{"soft_limit":null}}`,
	`{"delay":"1s","delay":null}`, `{"delay":"1s","user":{"soft_limit":1}}`, `{"user":{"count":"x"},"user":{"count":null}}`,
	`{"user":{"count":"x"},"user":{"count":"login"}}`, `{"ip":{"limit":5}} ]`,
	// reuse
	`{"reuse":"5s"}`, `{"reuse":2}`, `{"reuse":"0"}`, `{"reuse":"1h"}`, `{"reuse":"2h"}`, `{"reuse":"-1s"}`, `{"reuse":null}`,
	`{"reuse":3600}`, `{"reuse":3601}`, `{"reuse":-1}`, `{"reuse":-0}`, `{"reuse":"-0s"}`, `{"reuse":1.5}`, `{"reuse":"1.5ms"}`,
	`{"reuse":"1ns"}`, `{"reuse":"3600000ms"}`, `{"reuse":"3600000.000001ms"}`, `{"reuse":[]}`, `{"reuse":"x"}`, `{"Reuse":"1s","reuse":"2h"}`,
	readFile("testdata/zimbra.json"), readFile("testdata/soft.json"),
}

// TestC_twinConfig: both builds accept or both refuse each configuration.
// Every configuration is checked against the Go source's parseConfig run
// natively (the reference's init is configure(config), nothing more) and
// loaded into the host as the C build; every tenth one, and the files,
// also through plugintest.TryNewTwin (the Go build in the host: slow to
// load), and an accepted one then throttles alike.
func TestC_twinConfig(t *testing.T) {
	for i, config := range twinConfigCases {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			_, errNative := parseConfig([]byte(config))
			_, errPort := plugintest.TryLoad(t, cBuild(t), plugintest.Config(config), cCompileCache(t))
			if (errNative == nil) != (errPort == nil) {
				t.Fatalf("config %q: Go %v, C %v", config, errNative, errPort)
			}
			if errPort != nil && !strings.Contains(errPort.Error(), "throttle: config: ") {
				t.Errorf("config %q: C refusal %q does not say throttle: config:", config, errPort)
			}
			if i%10 != 0 && !strings.Contains(config, "\n") {
				return
			}
			tw, errRef, errPort := plugintest.TryNewTwin(t, goBuild(t), cBuild(t), plugintest.Config(config), cCompileCache(t))
			if (errRef == nil) != (errPort == nil) {
				t.Fatalf("config %q: Go %v, C %v", config, errRef, errPort)
			}
			if errRef != nil {
				return
			}
			for _, a := range []try{{}, {}, {n: 2}, {proto: "pop3", ip: "10.1.1.1"}, {proto: "http", ip: "2001:db8:1::1"}, {}} {
				tw.Run(t, abi.HookThrottle, a.fields())
			}
		})
	}
}

// FuzzConfigTwin: a fuzzed configuration is accepted by the C build
// exactly when the Go source's parseConfig accepts it.
func FuzzConfigTwin(f *testing.F) {
	for i, c := range twinConfigCases {
		if i%8 == 0 { // TestC_twinConfig checks them all
			f.Add([]byte(c))
		}
	}
	// Build, check and compile the C build once, outside the inputs: a
	// worker whose first input takes seconds (clang, the first compile on a
	// busy machine) is taken for hung.
	wasm := cBuild(f)
	plugintest.Load(f, wasm, cCompileCache(f))
	f.Fuzz(func(t *testing.T, b []byte) {
		_, errNative := parseConfig(b)
		p, errPort := plugintest.TryLoad(t, wasm, plugintest.Config(string(b)), cCompileCache(t))
		if (errNative == nil) != (errPort == nil) {
			t.Fatalf("config %q: Go %v, C %v", b, errNative, errPort)
		}
		if p != nil {
			p.Host.Close(context.Background())
		}
	})
}

// fuzzConfigs are the configurations FuzzTwin chooses from.
var fuzzConfigs = []string{
	`{"ip":{"limit":3,"protocols":{"pop3":2,"http":0}},"user":{"limit":2}}`,
	`{"ip":{"limit":4,"soft_limit":2},"user":{"limit":3,"soft_limit":1,"count":"attempt","key":"account"},"delay":"1.5ms"}`,
	`{"ip":{"limit":2},"user":{"limit":2},"allowlist":["10.0.0.0/8","192.0.2.7","2001:db8::/32","::ffff:172.16.0.0/108","fe80::/10"]}`,
	`{"user":{"soft_limit":1},"delay":2}`,
	readFile("testdata/zimbra.json"),
	``,
}

// FuzzTwin runs fuzzed sessions through both builds under each of
// fuzzConfigs and fails on any difference.
func FuzzTwin(f *testing.F) {
	f.Add(uint8(0), "imap", "192.0.2.7", "bob@example.com", "", 1, "")
	f.Add(uint8(0), "imap", "192.0.2.7", "bob@example.com", "", 1, "")
	f.Add(uint8(0), "imap", "192.0.2.7", "bob@example.com", "", 1, "")
	f.Add(uint8(0), "pop3", "2001:db8::1", "a b%20", "", 2, "")
	f.Add(uint8(1), "imap", "192.0.2.7", "bob", "robert@example.com", 1, "")
	f.Add(uint8(1), "imap", "192.0.2.7", "bob", "robert@example.com", 1, "")
	f.Add(uint8(1), "http", "192.0.2.7", "bob", "robert@example.com", 3, "")
	f.Add(uint8(2), "imap", "10.1.2.3", "x", "", 1, "")
	f.Add(uint8(2), "imap", "::ffff:172.16.9.9", "x", "", 1, "")
	f.Add(uint8(2), "imap", "fe80::1", "x", "", 1, "eth0")
	f.Add(uint8(3), "http", "", "", "", 0, "")
	f.Add(uint8(4), "pop3", "10.9.9.9", strings.Repeat("y", 240), "", 1, "")
	f.Add(uint8(5), ";", "1.2.3.4", "\x00\xff", "", -3, "")
	twins := make([]*plugintest.Twin, len(fuzzConfigs))
	for i, c := range fuzzConfigs {
		twins[i] = newCTwin(f, c)
	}
	f.Fuzz(func(t *testing.T, cfg uint8, proto, ip, login, account string, attempt int, zone string) {
		tw := twins[int(cfg)%len(twins)]
		f := plugintest.MailFields(proto, login)
		f.Account = account
		f.LoginAttempt = attempt
		a, err := netip.ParseAddr(ip)
		if err != nil {
			switch b := []byte(ip); {
			case len(b) >= 16:
				a = netip.AddrFrom16([16]byte(b[:16]))
			case len(b) >= 4:
				a = netip.AddrFrom4([4]byte(b[:4]))
			default:
				a = netip.Addr{}
			}
		}
		if a.Is6() {
			a = a.WithZone(zone)
		}
		f.Client = netip.AddrPortFrom(a, 50000)
		if !a.IsValid() {
			f.Client = netip.AddrPort{}
		}
		tw.Run(t, abi.HookThrottle, f)
	})
}

// FuzzConfigFieldsTwin builds well-formed configurations from fuzzed
// values (limits, durations as strings or seconds, allowlist entries,
// count, key, message), so that the checks behind the JSON decoding are
// fuzzed too: the C build accepts exactly what parseConfig accepts.
func FuzzConfigFieldsTwin(f *testing.F) {
	f.Add(int64(10), int64(5), "1h", "2s", "10.0.0.0/8", "::ffff:10.0.0.0/104", "attempt", "account", "slow down", int64(60), uint8(0))
	f.Add(int64(0), int64(1), "90m", "1.5ms", "2001:db8::/32", "192.0.2.7", "login", "login", "", int64(3600), uint8(1))
	f.Add(int64(3), int64(3), "1.5s", "-1s", "fe80::1%eth0", "1.2.3.4/33", "", "", "a\nb", int64(2592001), uint8(7))
	f.Add(int64(-1), int64(0), "720h1s", "5m", "::/0", "0.0.0.0/0", "x", "y", "é", int64(-5), uint8(6))
	f.Add(int64(9), int64(2), "1000000µs", "300s", "1:2:3:4:5:6:1.2.3.4", "::1.2.3.4/100", "login", "account", "\x00", int64(1), uint8(4))
	wasm := cBuild(f)
	plugintest.Load(f, wasm, cCompileCache(f))
	f.Fuzz(func(t *testing.T, limit, soft int64, window, delay, allow1, allow2, count, key, message string, secs int64, flags uint8) {
		q := func(s string) string {
			b, _ := json.Marshal(s)
			return string(b)
		}
		win, del := q(window), q(delay)
		if flags&1 != 0 {
			win = strconv.FormatInt(secs, 10)
		}
		if flags&4 != 0 {
			del = strconv.FormatInt(secs, 10)
		}
		msg := ""
		if flags&2 != 0 {
			msg = `,"message":` + q(message)
		}
		config := fmt.Sprintf(`{"ip":{"limit":%d,"soft_limit":%d,"window":%s%s,"protocols":{"imap":%d}},`+
			`"user":{"limit":%d,"soft_limit":%d,"window":%s,"count":%s,"key":%s},"allowlist":[%s,%s],"delay":%s}`,
			limit, soft, win, msg, secs, limit/2, soft/2, win, q(count), q(key), q(allow1), q(allow2), del)
		if flags&8 != 0 { // without the allowlist, so the other checks are reached
			config = strings.Replace(config, `"allowlist":[`+q(allow1)+`,`+q(allow2)+`],`, "", 1)
		}
		_, errNative := parseConfig([]byte(config))
		p, errPort := plugintest.TryLoad(t, wasm, plugintest.Config(config), cCompileCache(t))
		if (errNative == nil) != (errPort == nil) {
			t.Fatalf("config %s: Go %v, C %v", config, errNative, errPort)
		}
		if p != nil {
			p.Host.Close(context.Background())
		}
	})
}
