package main

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
	"github.com/postern/postern/storekeys"
)

// The C build (c/plugin.c, committed as c/plugin.wasm) must behave as
// this Go source does: these tests load both into the real host and
// compare every verdict, field, store operation and counter
// (plugintest.Twin).

var (
	cacheOnce sync.Once
	cacheDir  string
)

// compileCache shares compiled modules between the hosts of these tests.
func compileCache(tb testing.TB) plugintest.Option {
	cacheOnce.Do(func() {
		d, err := os.MkdirTemp("", "route-cache-c-test-")
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

// flakyStore is a memory store that can be taken down: every operation
// then fails as an unreachable memcached does.
type flakyStore struct {
	kv.Store
	down atomic.Bool
}

func (s *flakyStore) Get(ctx context.Context, key string) ([]byte, error) {
	if s.down.Load() {
		return nil, kv.ErrUnavailable
	}
	return s.Store.Get(ctx, key)
}

func (s *flakyStore) Add(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if s.down.Load() {
		return kv.ErrUnavailable
	}
	return s.Store.Add(ctx, key, v, ttl)
}

func (s *flakyStore) Set(ctx context.Context, key string, v []byte, ttl time.Duration) error {
	if s.down.Load() {
		return kv.ErrUnavailable
	}
	return s.Store.Set(ctx, key, v, ttl)
}

func (s *flakyStore) Delete(ctx context.Context, key string) error {
	if s.down.Load() {
		return kv.ErrUnavailable
	}
	return s.Store.Delete(ctx, key)
}

// twin is a plugintest.Twin whose two stores can be seeded and taken down.
type twin struct {
	*plugintest.Twin
	ref, port *flakyStore
}

func newTwin(tb testing.TB, config string) *twin {
	tb.Helper()
	ref, port := &flakyStore{Store: kv.NewMemory(kv.MemoryOptions{})}, &flakyStore{Store: kv.NewMemory(kv.MemoryOptions{})}
	tw := &plugintest.Twin{RefStore: &plugintest.RecordingStore{Store: ref}, PortStore: &plugintest.RecordingStore{Store: port}}
	tw.Ref = plugintest.Load(tb, plugintest.Build(tb, "plugins/route-cache"), plugintest.Config(config), compileCache(tb),
		plugintest.Store(tw.RefStore))
	tw.Port = plugintest.Load(tb, plugintest.CPlugin(tb, "plugins/route-cache/c"), plugintest.Config(config), compileCache(tb),
		plugintest.Store(tw.PortStore))
	return &twin{Twin: tw, ref: ref, port: port}
}

// seed stores key = value in both stores (not recorded).
func (tw *twin) seed(tb testing.TB, key, value string) {
	for _, s := range []*flakyStore{tw.ref, tw.port} {
		if err := s.Store.Set(context.Background(), key, []byte(value), time.Hour); err != nil {
			tb.Fatal(err)
		}
	}
}

// seedKeys stores value under the keys a session reads (fuzzing).
func (tw *twin) seedKeys(s session, value string) {
	proto := s.proto
	if s.tls != "" {
		proto += "ssl"
	}
	keys := []string{storekeys.Route(s.proto, s.login), storekeys.Route(proto, s.login), storekeys.Route(s.proto, s.account)}
	if s.proto == "http" {
		keys = append(keys, storekeys.WebAlias(s.login, s.host))
	} else if ap, err := netip.ParseAddrPort(s.local); err == nil {
		keys = append(keys, storekeys.MailAlias(s.login, ap.Addr().String()))
	}
	for _, k := range keys {
		for _, st := range []*flakyStore{tw.ref, tw.port} {
			_ = st.Store.Set(context.Background(), k, []byte(value), time.Hour)
		}
	}
}

func (tw *twin) setDown(down bool) {
	tw.ref.down.Store(down)
	tw.port.down.Store(down)
}

// session describes one login for a step.
type session struct {
	proto, login, account, auth, tls, host, local string
	upstreamAuth                                  string
	cookie, query                                 string // http: the Cookie header and the raw query
	verified, cacheAlias, routeCached             bool
	upstreams                                     []string
	upstream                                      string
}

func (s session) fields() *plugin.Fields {
	proto := s.proto
	if proto == "" {
		proto = "imap"
	}
	f := plugintest.MailFields(proto, s.login)
	f.Account = s.account
	if s.auth != "" {
		f.AuthMethod = s.auth
	}
	f.TLSVersion = s.tls
	switch s.local {
	case "":
		f.Local = netip.MustParseAddrPort("198.51.100.1:143")
	case "none":
		f.Local = netip.AddrPort{}
	default:
		f.Local = netip.MustParseAddrPort(s.local)
	}
	if proto == "http" {
		f.HTTP = &plugin.HTTPFields{Method: "GET", Host: s.host, Path: "/", Query: s.query}
		if s.cookie != "" {
			f.HTTP.Header = http.Header{"Cookie": {s.cookie}}
		}
	}
	f.UpstreamAuth = s.upstreamAuth
	f.PasswordVerified = s.verified
	f.CacheAlias = s.cacheAlias
	f.RouteCached = s.routeCached
	f.Upstreams = s.upstreams
	f.Upstream = s.upstream
	return f
}

const (
	stepRoute = iota
	stepDecided
	stepFailed
)

type step struct {
	what int
	s    session
	seed map[string]string
}

func (tw *twin) run(tb testing.TB, st step) {
	tb.Helper()
	for k, v := range st.seed {
		tw.seed(tb, k, v)
	}
	f := st.s.fields()
	switch st.what {
	case stepRoute:
		tw.Run(tb, abi.HookRoute, f)
	case stepDecided:
		tw.fire(tb, abi.EventRouteDecided, f)
	case stepFailed:
		tw.fire(tb, abi.EventLoginFailed, f)
	}
	if mr, mp := metricSummary(tw.Ref), metricSummary(tw.Port); mr != mp {
		tb.Errorf("metrics differ\nreference: %s\nport:      %s", mr, mp)
	}
}

// metricSummary describes a build's declared metrics (ABI 1.1): name,
// kind, help, bounds and observation count of each.
func metricSummary(p *plugintest.Plugin) string {
	var b strings.Builder
	for _, m := range p.Host.Plugin("test").Metrics() {
		n, _, _ := m.Histogram()
		fmt.Fprintf(&b, "%s kind %d help %q bounds %v observed %d; ", m.Name, m.Kind, m.Help, m.Bounds, n)
	}
	return b.String()
}

// fire is Twin.Fire for any tb: plugintest.Plugin.Fire reports through
// the tb the plugin was loaded with, which a fuzz target may not use (the
// twins are built once per fuzz target).
func (tw *twin) fire(tb testing.TB, e abi.Event, f *plugin.Fields) {
	tb.Helper()
	fr, fp := plugintest.CloneFields(f), plugintest.CloneFields(f)
	errRef := tw.Ref.Host.Fire(context.Background(), e, fr)
	errPort := tw.Port.Host.Fire(context.Background(), e, fp)
	what := fmt.Sprintf("event %s, login %q", e, f.Login)
	if (errRef == nil) != (errPort == nil) {
		tb.Errorf("%s: reference err %v, port err %v", what, errRef, errPort)
	}
	if !reflect.DeepEqual(fr, fp) {
		tb.Errorf("%s: fields differ\nreference: %+v\nport:      %+v", what, *fr, *fp)
	}
	if or, op := tw.RefStore.Take(), tw.PortStore.Take(); !reflect.DeepEqual(or, op) {
		tb.Errorf("%s: store operations differ\nreference:\n  %s\nport:\n  %s", what, strings.Join(or, "\n  "), strings.Join(op, "\n  "))
	}
	if cr, cp := tw.Ref.Info().Counters, tw.Port.Info().Counters; !reflect.DeepEqual(cr, cp) {
		tb.Errorf("%s: counters differ\nreference: %v\nport:      %v", what, cr, cp)
	}
}

var configs = []string{
	``,
	`{"ssl_protocols":true}`,
	`{"ttl":"10m","ssl_protocols":false}`,
	`{"ttl":1.5}`,
	`{"ttl":"2562047h47m16.854775807s"}`, // the longest duration: the SDK's rounding wraps
	`{"TTL":"1h30m","SSL_Protocols":true}`,
	`{"zimbra_id":true,"web_protocol":"httpssl"}`,
	`{"zimbra_id":true,"ssl_protocols":true}`,
}

// scenarios are step sequences over one store, each covering a case of
// the Go tests (cache_test.go) and more.
func scenarios() map[string][]step {
	bob := session{login: "bob"}
	long := strings.Repeat("b", 300)
	big := strings.Repeat("x", 700) // past the SDK's 512-byte first read
	tok := func(id string) string {
		return "ZM_AUTH_TOKEN=0_ab_" + fmt.Sprintf("%x", fmt.Sprintf("id=%d:%s;exp=13:1896504658160;", len(id), id))
	}
	web := func(cookie, query string) session {
		return session{proto: "http", host: "mail.example.com", auth: "cookie", cookie: cookie, query: query}
	}
	const zid = "cc00ce85-8c0b-49eb-8e08-a8aab43ce836"
	idRoutes := map[string]string{"route:proto=http;id=" + zid: "10.0.0.7:8080", "route:proto=httpssl;id=" + zid: "10.0.0.7:8443"}
	decidedBy := func(ses session, account string) session {
		ses.account, ses.upstreams, ses.upstream = account, []string{"10.0.0.8:80"}, "10.0.0.8:80"
		return ses
	}
	return map[string][]step{
		"token hit":           {{what: stepRoute, s: web(tok(zid), ""), seed: idRoutes}},
		"token hit over TLS":  {{what: stepRoute, s: func() session { w := web(tok(zid), ""); w.tls = "TLS1.3"; return w }(), seed: idRoutes}},
		"token miss":          {{what: stepRoute, s: web(tok(zid), "")}},
		"token argument":      {{what: stepRoute, s: web("", "a=1&zauthtoken="+tok(zid)[len("ZM_AUTH_TOKEN="):]), seed: idRoutes}},
		"token cookie wins":   {{what: stepRoute, s: web(tok(zid)+"; x=1", "zauthtoken="+tok("other")[len("ZM_AUTH_TOKEN="):]), seed: idRoutes}},
		"token invalid value": {{what: stepRoute, s: web(tok(zid), ""), seed: map[string]string{"route:proto=http;id=" + zid: "nope", "route:proto=httpssl;id=" + zid: "nope"}}, {what: stepRoute, s: web(tok(zid), "")}},
		"token garbage":       {{what: stepRoute, s: web("ZM_AUTH_TOKEN=0_1_zz", "zauthtoken=__"), seed: idRoutes}},
		"token odd id":        {{what: stepRoute, s: web(tok("a b%;"+strings.Repeat("i", 300)), "")}, {what: stepDecided, s: decidedBy(web(tok("a b%;"+strings.Repeat("i", 300)), ""), "a b%;"+strings.Repeat("i", 300))}},
		"token stored":        {{what: stepDecided, s: decidedBy(web(tok(zid), ""), zid)}, {what: stepRoute, s: web(tok(zid), "")}},
		"token stored by Auth-User": {{what: stepDecided, s: func() session {
			d := decidedBy(web(tok(zid), ""), "other-id")
			d.cacheAlias = true
			return d
		}()}},
		"token fell back to the pool": {{what: stepDecided, s: decidedBy(web(tok(zid), ""), "")}},
		"token with a user":           {{what: stepRoute, s: func() session { w := web(tok(zid), ""); w.login = "bob"; return w }(), seed: idRoutes}},
		"token big cookie":            {{what: stepRoute, s: web(tok(zid)+"; pad="+strings.Repeat("p", 900), ""), seed: map[string]string{"route:proto=http;id=" + zid: strings.Repeat("v", 700)}}},
		"miss":                        {{what: stepRoute, s: bob}},
		"route hit":                   {{what: stepRoute, s: bob, seed: map[string]string{"route:proto=imap;user=bob": "10.0.0.5:143"}}},
		"ipv6 route hit":              {{what: stepRoute, s: bob, seed: map[string]string{"route:proto=imap;user=bob": "[2001:DB8:0:0::5]:0143"}}},
		"4in6 and zone":               {{what: stepRoute, s: bob, seed: map[string]string{"route:proto=imap;user=bob": "[::ffff:10.0.0.5%eth0]:143"}}},
		"ipv4 in brackets":            {{what: stepRoute, s: bob, seed: map[string]string{"route:proto=imap;user=bob": "[10.0.0.5]:143"}}, {what: stepRoute, s: bob}},
		"port 0":                      {{what: stepRoute, s: bob, seed: map[string]string{"route:proto=imap;user=bob": "10.0.0.5:0"}}},
		"invalid value":               {{what: stepRoute, s: bob, seed: map[string]string{"route:proto=imap;user=bob": "mailbox1:143"}}, {what: stepRoute, s: bob}},
		"empty value":                 {{what: stepRoute, s: bob, seed: map[string]string{"route:proto=imap;user=bob": ""}}},
		"leading zero v4":             {{what: stepRoute, s: bob, seed: map[string]string{"route:proto=imap;user=bob": "10.0.0.05:143"}}},
		"alias then route": {{what: stepRoute, s: bob, seed: map[string]string{"alias:user=bob;ip=198.51.100.1": "bob@example.com",
			"route:proto=imap;user=bob@example.com": "10.0.0.6:143"}}},
		"alias hit, route miss": {{what: stepRoute, s: bob, seed: map[string]string{"alias:user=bob;ip=198.51.100.1": "bob@example.com"}}},
		"empty alias value": {{what: stepRoute, s: bob, seed: map[string]string{"alias:user=bob;ip=198.51.100.1": "",
			"route:proto=imap;user=bob": "10.0.0.5:143"}}},
		"alias of another ip": {{what: stepRoute, s: bob, seed: map[string]string{"alias:user=bob;ip=198.51.100.2": "bob@example.com"}}},
		"no local ip":         {{what: stepRoute, s: session{login: "bob", local: "none"}}},
		"ipv6 local":          {{what: stepRoute, s: session{login: "bob", local: "[2001:db8::1]:143"}, seed: map[string]string{"alias:user=bob;ip=2001:db8::1": "b@x"}}},
		"web alias by vhost": {{what: stepRoute, s: session{proto: "http", login: "bob", host: "mail.example.com", auth: "basic"},
			seed: map[string]string{"alias:user=bob;vhost=mail.example.com": "bob@example.com", "route:proto=http;user=bob@example.com": "10.0.0.7:8080"}}},
		"web without host": {{what: stepRoute, s: session{proto: "http", login: "bob", auth: "basic"}}},
		"pop3 keys are separate": {{what: stepRoute, s: session{proto: "pop3", login: "bob"},
			seed: map[string]string{"route:proto=imap;user=bob": "10.0.0.5:143"}}},
		"tls": {{what: stepRoute, s: session{login: "bob", tls: "TLS1.3"},
			seed: map[string]string{"route:proto=imap;user=bob": "10.0.0.5:143", "route:proto=imapssl;user=bob": "10.0.0.5:993"}}},
		"gssapi": {{what: stepRoute, s: session{login: "bob", auth: "gssapi"}, seed: map[string]string{"route:proto=imap;user=bob": "10.0.0.5:143"}},
			{what: stepDecided, s: session{login: "bob", auth: "gssapi", upstreams: []string{"10.0.0.5:143"}}},
			{what: stepFailed, s: session{login: "bob", auth: "gssapi"}}},
		"odd login":     {{what: stepRoute, s: session{login: "bob smith%;,\x7f\x01"}, seed: map[string]string{"route:proto=imap;user=bob%20smith%25;,%7F%01": "10.0.0.5:143"}}},
		"long login":    {{what: stepDecided, s: session{login: long, upstreams: []string{"10.0.0.5:143"}, cacheAlias: true, account: "a@x"}}, {what: stepRoute, s: session{login: long}}, {what: stepFailed, s: session{login: long, account: "a@x"}}},
		"long both":     {{what: stepDecided, s: session{proto: "http", host: strings.Repeat("h", 200) + ";x", login: long, account: "a", upstreams: []string{"10.0.0.5:80"}, cacheAlias: true}}, {what: stepRoute, s: session{proto: "http", host: strings.Repeat("h", 200) + ";x", login: long}}},
		"empty account": {{what: stepRoute, s: session{login: "", auth: "none"}}, {what: stepDecided, s: session{login: "", upstreams: []string{"10.0.0.5:143"}}}, {what: stepFailed, s: session{login: ""}}},
		"master unverified": {{what: stepRoute, s: session{login: "bob", upstreamAuth: "master"}, seed: map[string]string{"route:proto=imap;user=bob": "10.0.0.5:143"}},
			{what: stepRoute, s: session{login: "bob", upstreamAuth: "master", verified: true}},
			{what: stepRoute, s: session{login: "bob", upstreamAuth: "password"}}},
		"store route":    {{what: stepDecided, s: session{login: "bob", upstreams: []string{"10.0.0.5:143"}, upstream: "10.0.0.5:143"}}, {what: stepRoute, s: bob}},
		"upstream used":  {{what: stepDecided, s: session{login: "bob", upstreams: []string{"10.0.0.5:143", "10.0.0.6:143"}, upstream: "10.0.0.6:143"}}, {what: stepRoute, s: bob}},
		"first upstream": {{what: stepDecided, s: session{login: "bob", upstreams: []string{"10.0.0.5:143", "10.0.0.6:143"}}}, {what: stepRoute, s: bob}},
		"no upstream":    {{what: stepDecided, s: session{login: "bob"}}},
		"add keeps":      {{what: stepDecided, s: session{login: "bob", upstreams: []string{"10.0.0.9:143"}}, seed: map[string]string{"route:proto=imap;user=bob": "10.0.0.5:143"}}},
		"alias stored": {{what: stepDecided, s: session{login: "bob", account: "bob@example.com", cacheAlias: true, upstreams: []string{"10.0.0.5:143"}}},
			{what: stepRoute, s: bob}, {what: stepFailed, s: session{login: "bob", account: "bob@example.com"}}, {what: stepRoute, s: bob}},
		"alias exists": {{what: stepDecided, s: session{login: "bob", account: "bob@example.com", cacheAlias: true, upstreams: []string{"10.0.0.5:143"}},
			seed: map[string]string{"alias:user=bob;ip=198.51.100.1": "other", "route:proto=imap;user=bob@example.com": "10.0.0.1:1"}}},
		"alias same as login":          {{what: stepDecided, s: session{login: "bob", account: "bob", cacheAlias: true, upstreams: []string{"10.0.0.5:143"}}}},
		"no alias without cache_alias": {{what: stepDecided, s: session{login: "bob", account: "bob@example.com", upstreams: []string{"10.0.0.5:143"}}}},
		"web alias stored": {{what: stepDecided, s: session{proto: "http", host: "mail.example.com", login: "bob", account: "bob@example.com", cacheAlias: true, upstreams: []string{"10.0.0.7:8080"}}},
			{what: stepRoute, s: session{proto: "http", host: "mail.example.com", login: "bob"}}, {what: stepFailed, s: session{proto: "http", host: "mail.example.com", login: "bob", account: "bob@example.com"}}},
		"route cached": {{what: stepDecided, s: session{login: "bob", routeCached: true, upstreams: []string{"10.0.0.5:143"}}}},
		"tls stored":   {{what: stepDecided, s: session{login: "bob", tls: "TLS1.2", upstreams: []string{"10.0.0.5:993"}}}, {what: stepRoute, s: session{login: "bob", tls: "TLS1.2"}}},
		"login failed": {{what: stepFailed, s: session{login: "bob", account: "bob@example.com"}, seed: map[string]string{"route:proto=imap;user=bob": "x", "route:proto=imap;user=bob@example.com": "x", "alias:user=bob;ip=198.51.100.1": "x", "route:proto=pop3;user=bob@example.com": "x"}}},
		"failed, none": {{what: stepFailed, s: bob}},
		"big values": {{what: stepRoute, s: bob, seed: map[string]string{"alias:user=bob;ip=198.51.100.1": big, storekeys.Route("imap", big): "10.0.0.5:143"}},
			{what: stepRoute, s: bob}, {what: stepRoute, s: session{login: strings.Repeat("L", 1000)}, seed: map[string]string{"route:proto=imap;user=%sha256:" + sha(strings.Repeat("L", 1000)): big}},
			{what: stepRoute, s: session{login: strings.Repeat("L", 1000)}}},
		"big account first": {{what: stepRoute, s: session{login: "bob", account: strings.Repeat("A", 3000)}, seed: map[string]string{"alias:user=bob;ip=198.51.100.1": strings.Repeat("v", 2000)}},
			{what: stepRoute, s: bob}},
	}
}

// TestC_twin runs every scenario under every configuration, each on a
// fresh pair of stores.
func TestC_twin(t *testing.T) {
	for _, cfg := range configs {
		t.Run(cfg, func(t *testing.T) {
			tw := newTwin(t, cfg)
			if r, p := tw.Ref.Info(), tw.Port.Info(); strings.Join(r.Hooks, ",") != strings.Join(p.Hooks, ",") ||
				strings.Join(r.Events, ",") != strings.Join(p.Events, ",") || r.Filter != p.Filter || r.Reuse != p.Reuse {
				t.Errorf("hooks/events/filter/reuse: Go %v %v %q %v, C %v %v %q %v", r.Hooks, r.Events, r.Filter, r.Reuse,
					p.Hooks, p.Events, p.Filter, p.Reuse)
			}
			for name, steps := range scenarios() {
				for _, st := range steps {
					tw.run(t, st)
				}
				// Clear both stores between scenarios.
				for _, k := range []string{"route:proto=imap;user=bob", "route:proto=imap;user=bob@example.com", "alias:user=bob;ip=198.51.100.1",
					"route:proto=imapssl;user=bob", "route:proto=http;user=bob@example.com", "alias:user=bob;vhost=mail.example.com",
					"route:proto=http;id=cc00ce85-8c0b-49eb-8e08-a8aab43ce836", "route:proto=httpssl;id=cc00ce85-8c0b-49eb-8e08-a8aab43ce836"} {
					for _, s := range []*flakyStore{tw.ref, tw.port} {
						_ = s.Store.Delete(context.Background(), k)
					}
				}
				if t.Failed() {
					t.Fatalf("scenario %q differs", name)
				}
			}
		})
	}
}

// TestC_twinStoreDown: an unreachable store is counted (and logged once
// per instance) the same way by both.
func TestC_twinStoreDown(t *testing.T) {
	tw := newTwin(t, "")
	tw.seed(t, "alias:user=bob;ip=198.51.100.1", "bob@example.com")
	tw.setDown(true)
	for range 3 {
		tw.run(t, step{what: stepRoute, s: session{login: "bob"}})
		tw.run(t, step{what: stepRoute, s: session{login: "bob", local: "none"}})
		tw.run(t, step{what: stepDecided, s: session{login: "bob", account: "bob@example.com", cacheAlias: true, upstreams: []string{"10.0.0.5:143"}}})
		tw.run(t, step{what: stepFailed, s: session{login: "bob", account: "bob@example.com"}})
	}
	tw.setDown(false)
	tw.run(t, step{what: stepRoute, s: session{login: "bob"}})
}

// TestC_configs: for every configuration, both builds accept it or both refuse it.
func TestC_configs(t *testing.T) {
	cfgs := []string{
		"", " ", "\v", "\u00a0", "null", "null}", "nullx", "nul", "{}", "{}}", "{} {}", "{}x", "{} garbage", "{", "[]", `"x"`, "1", "true",
		`{"ttl":"1h"}`, `{"ttl":"1h"} trailing`, `{"ttl":600}`, `{"ttl":1}`, `{"ttl":0.999999999}`, `{"ttl":0.9999999999}`, `{"ttl":1e9}`,
		`{"ttl":1000000000.0000001}`, `{"ttl":1e10}`, `{"ttl":-1}`, `{"ttl":-0}`, `{"ttl":0}`, `{"ttl":1e-400}`, `{"ttl":1e400}`,
		`{"ttl":"1s"}`, `{"ttl":"999ms"}`, `{"ttl":"1000ms"}`, `{"ttl":"0"}`, `{"ttl":"-1h"}`, `{"ttl":"+1h"}`, `{"ttl":""}`, `{"ttl":"1"}`,
		`{"ttl":".5h"}`, `{"ttl":"1.h"}`, `{"ttl":"1.5h"}`, `{"ttl":"1h30m"}`, `{"ttl":"1µs"}`, `{"ttl":"1000000μs"}`, `{"ttl":"1000000us"}`,
		`{"ttl":"1000000000ns"}`, `{"ttl":"1d"}`, `{"ttl":"1H"}`, `{"ttl":"an hour"}`, `{"ttl":"10ms"}`, `{"ttl":"2562047h47m16.854775807s"}`,
		`{"ttl":"2562047h47m16.854775808s"}`, `{"ttl":"9223372036854775807ns"}`, `{"ttl":"9223372036854775808ns"}`,
		`{"ttl":"2562047h47m16.854775808s2562047h47m16.854775808s"}`, `{"ttl":"1.00000000000000000000000000001s"}`,
		`{"ttl":"0.000000001h"}`, `{"ttl":"1s."}`, `{"ttl":"."}`, `{"ttl":"1h "}`, `{"ttl":"\u0031h"}`,
		`{"ttl":null}`, `{"ttl":true}`, `{"ttl":{}}`, `{"ttl":[1]}`, `{"ttl":null,"ttl":"1h"}`, `{"ttl":{"a":[1,{"b":null}]},"ttl":60}`,
		`{"ttl":[1,2,}`, `{"ttl":{"a" 1}}`, `{"ttl":"1h","ttl":null}`, `{"ttl":"1h","ttl":"1ms"}`,
		`{"ssl_protocols":true}`, `{"ssl_protocols":false}`, `{"ssl_protocols":null}`, `{"ssl_protocols":"yes"}`, `{"ssl_protocols":1}`,
		`{"ssl_protocols":"yes","ssl_protocols":true}`, `{"SSL_PROTOCOLS":true}`, `{"ſsl_protocols":true}`, `{"TTL":"1h"}`, `{"tll":"1h"}`,
		`{"ttl":"1h",}`, `{"ttl" "1h"}`, `{'ttl':"1h"}`, `{"ttl":01}`, `{"ttl":1.}`, `{"ttl":.5}`, `{"ttl":"1h\x"}`,
		`{"ttl":` + strings.Repeat("[", 200) + strings.Repeat("]", 200) + `,"ttl":5}`,
		`{"zimbra_id":true}`, `{"zimbra_id":false}`, `{"zimbra_id":null}`, `{"zimbra_id":"true"}`, `{"zimbra_id":1}`, `{"Zimbra_ID":true}`,
		`{"web_protocol":"http"}`, `{"web_protocol":"httpssl"}`, `{"web_protocol":""}`, `{"web_protocol":null}`, `{"web_protocol":"https"}`,
		`{"web_protocol":"HTTP"}`, `{"web_protocol":1}`, `{"web_protocol":["http"]}`, `{"web_protocol":"https","web_protocol":"http"}`,
		`{"web_protocol":"http\u0000"}`, `{"WEB_PROTOCOL":"httpssl","zimbra_id":true}`,
		`{"reuse":"5s"}`, `{"reuse":2}`, `{"reuse":"0"}`, `{"reuse":"1h"}`, `{"reuse":"2h"}`, `{"reuse":"-1s"}`, `{"reuse":null}`,
		`{"reuse":3600}`, `{"reuse":3600.0000001}`, `{"reuse":-1}`, `{"reuse":-0}`, `{"reuse":-0.0000000001}`, `{"reuse":-0.000000001}`,
		`{"reuse":-0.0000000019}`, `{"reuse":-1e10}`, `{"reuse":1e-400}`, `{"reuse":-1e400}`, `{"reuse":1e400}`, `{"reuse":"-0s"}`,
		`{"reuse":"1ns"}`, `{"reuse":"3600000ms"}`, `{"reuse":"3600000.000001ms"}`, `{"reuse":[]}`, `{"reuse":{"a":[1]}}`, `{"reuse":"x"}`,
		`{"Reuse":"1s","reuse":"2h"}`, `{"reuse":"2h","reuse":1}`, `{"reuse":"1s","ttl":"1h"}`,
	}
	ref := plugintest.Build(t, "plugins/route-cache")
	port := plugintest.CPlugin(t, "plugins/route-cache/c")
	for i, cfg := range cfgs {
		// Loading the Go build is slow, so most configurations are
		// checked against the reference's own parseConfig compiled
		// natively, and every fifth through both real loads.
		var errRef, errPort error
		if i%5 == 0 {
			_, errRef, errPort = plugintest.TryNewTwin(t, ref, port, plugintest.Config(cfg), compileCache(t))
		} else {
			_, errRef = parseConfig([]byte(cfg))
			_, errPort = plugintest.TryLoad(t, port, plugintest.Config(cfg), compileCache(t))
		}
		if (errRef == nil) != (errPort == nil) {
			t.Errorf("config %q:\nGo: %v\nC:  %v", cfg, errRef, errPort)
		} else if errRef != nil && !strings.Contains(errPort.Error(), "route-cache: config: ") {
			t.Errorf("config %q: C refusal without the component prefix: %v", cfg, errPort)
		}
	}
}

// TestC_reuse: both builds declare the same decision reuse
// (Info().Reuse, what the host keeps of init's reuse_ms) for every row of
// reuseCases, or both refuse the configuration with the same message.
func TestC_reuse(t *testing.T) {
	ref := plugintest.Build(t, "plugins/route-cache")
	port := plugintest.CPlugin(t, "plugins/route-cache/c")
	plugintest.CheckTwinReuse(t, ref, port, reuseCases, nil, compileCache(t))
}

// FuzzTwin runs fuzzed sessions (login, account, protocol, addresses,
// flags, a cached value) through the route hook and both events of both
// builds, under a fuzzed configuration choice.
func FuzzTwin(f *testing.F) {
	twins := make([]*twin, len(configs))
	for i, c := range configs {
		twins[i] = newTwin(f, c)
	}
	f.Add(uint8(0), "bob", "", "imap", "", "198.51.100.1", "", "10.0.0.5:143", uint8(0))
	f.Add(uint8(1), "bob", "bob@example.com", "imap", "TLS1.3", "198.51.100.1", "", "[2001:db8::5]:143", uint8(0x0f))
	f.Add(uint8(2), "Bob Smith;x", "a,b", "http", "", "", "mail.example.com", "::ffff:1.2.3.4:80", uint8(0x33))
	f.Add(uint8(3), strings.Repeat("l", 260), "", "pop3", "", "2001:db8::1", "", "[fe80::1%eth0]:110", uint8(0x41))
	f.Add(uint8(4), "bob", "", "imap", "", "", "", "10.0.0.05:1", uint8(0x80))
	f.Add(uint8(5), "", "", "http", "", "", "h", "", uint8(0xff))
	f.Add(uint8(0), "bob", "x", "imap", "", "10.1.2.3", "", strings.Repeat("7", 600), uint8(0x12))
	f.Fuzz(func(t *testing.T, which uint8, login, account, proto, tls, local, host, value string, flags uint8) {
		for _, s := range []string{login, account, host, value} {
			if len(s) > abi.MaxFieldBytes/4 {
				return
			}
		}
		tw := twins[int(which)%len(twins)]
		s := session{proto: proto, login: login, account: account, tls: tls, host: host, local: "none",
			cacheAlias: flags&1 != 0, routeCached: flags&2 != 0, verified: flags&4 != 0}
		if proto != "imap" && proto != "pop3" && proto != "http" {
			s.proto = "imap"
		}
		if a, err := netip.ParseAddr(local); err == nil {
			s.local = netip.AddrPortFrom(a, 143).String()
		}
		if flags&8 != 0 {
			s.auth = "gssapi"
		}
		switch flags >> 4 & 3 {
		case 1:
			s.upstreamAuth = "master"
		case 2:
			s.upstreamAuth = "password"
		}
		if flags&0x40 != 0 {
			s.upstreams = []string{"10.0.0.5:143", "10.0.0.6:143"}
		}
		if flags&0x80 != 0 {
			s.upstream = "10.0.0.7:143"
		}
		tw.seedKeys(s, value)
		tw.run(t, step{what: stepRoute, s: s})
		tw.run(t, step{what: stepDecided, s: s})
		tw.run(t, step{what: stepRoute, s: s})
		tw.run(t, step{what: stepFailed, s: s})
	})
}

// FuzzTwinToken runs fuzzed auth tokens (cookie and query) and cached
// values through the route hook and route_decided of both builds with
// zimbra_id.
func FuzzTwinToken(f *testing.F) {
	twins := []*twin{newTwin(f, `{"zimbra_id":true}`), newTwin(f, `{"zimbra_id":true,"web_protocol":"httpssl","ssl_protocols":true}`)}
	good := "0_ab_" + fmt.Sprintf("%x", "id=36:cc00ce85-8c0b-49eb-8e08-a8aab43ce836;exp=13:1896504658160;")
	f.Add(uint8(0), "ZM_AUTH_TOKEN="+good, "", "", "10.0.0.5:80")
	f.Add(uint8(1), "", "zauthtoken="+good, "other-id", "[2001:db8::5]:443")
	f.Add(uint8(0), "ZM_AUTH_TOKEN=0_0_"+fmt.Sprintf("%x", "a=1:b;id=2:xy"), "", "xy", "bad")
	f.Add(uint8(1), "ZM_AUTH_TOKEN=__; ZM_AUTH_TOKEN="+good, "zauthtoken=1_2_3", "", strings.Repeat("9", 600))
	f.Fuzz(func(t *testing.T, which uint8, cookie, query, account, value string) {
		if strings.ContainsAny(cookie, "\r\n\x00") || len(cookie)+len(query)+len(account)+len(value) > abi.MaxFieldBytes/4 {
			return
		}
		tw := twins[int(which)%len(twins)]
		s := session{proto: "http", host: "mail.example.com", auth: "cookie", cookie: cookie, query: query, local: "none"}
		if which&2 != 0 {
			s.tls = "TLS1.3"
		}
		for _, k := range []string{storekeys.RouteID("http", account), storekeys.RouteID("httpssl", account)} {
			for _, st := range []*flakyStore{tw.ref, tw.port} {
				_ = st.Store.Set(context.Background(), k, []byte(value), time.Hour)
			}
		}
		tw.run(t, step{what: stepRoute, s: s})
		d := s
		d.account, d.upstreams = account, []string{"10.0.0.8:80"}
		tw.run(t, step{what: stepDecided, s: d})
		tw.run(t, step{what: stepRoute, s: s})
	})
}
