package main

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/sdktest"
	"github.com/postern/postern/storekeys"
)

// attempt is one call of the throttle hook and what it must decide.
type attempt struct {
	proto, ip, login, account string
	n                         int // login_attempt; 0 means 1
	want                      abi.Verdict
	msg                       string // with Refuse: the message
	delayMS                   string // with Continue: delay_ms ("" = none)
}

func run(t *testing.T, h *sdktest.Host, i int, a attempt) {
	t.Helper()
	h.Fields = map[abi.Field]string{
		abi.FieldProtocol: def(a.proto, "imap"), abi.FieldClientIP: def(a.ip, "192.0.2.7"),
		abi.FieldLogin: def(a.login, "bob@example.com"), abi.FieldLoginAttempt: "1",
	}
	if a.n > 0 {
		h.Fields[abi.FieldLoginAttempt] = strconv.Itoa(a.n)
	}
	if a.account != "" {
		h.Fields[abi.FieldAccount] = a.account
	}
	if a.login == "-" {
		h.Fields[abi.FieldLogin] = ""
	}
	v := h.CallHook(abi.HookThrottle)
	if v != a.want {
		t.Fatalf("attempt %d (%+v): verdict %v, want %v", i, a, v, a.want)
	}
	if a.want == abi.VerdictRefuse && h.Fields[abi.FieldMessage] != a.msg {
		t.Errorf("attempt %d: message %q, want %q", i, h.Fields[abi.FieldMessage], a.msg)
	}
	if got := h.Fields[abi.FieldDelayMS]; a.want == abi.VerdictContinue && got != a.delayMS {
		t.Errorf("attempt %d: delay_ms %q, want %q", i, got, a.delayMS)
	}
}

func def(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

const (
	ok   = abi.VerdictContinue
	deny = abi.VerdictRefuse
	ipM  = defaultIPMessage
	usM  = defaultUserMessage
)

func TestCheck(t *testing.T) {
	tests := []struct {
		name     string
		config   string
		attempts []attempt
		keys     map[string]string // key -> value in the store afterwards
		counters map[string]int64
	}{
		{
			name:     "no limits: nothing counted",
			config:   ``,
			attempts: []attempt{{want: ok}, {want: ok}, {want: ok}},
			keys:     map[string]string{},
			counters: map[string]int64{ctrAllowed: 3},
		},
		{
			name:   "ip limit 2: the third attempt is refused",
			config: `{"ip":{"limit":2}}`,
			attempts: []attempt{{want: ok}, {want: ok}, {want: deny, msg: ipM},
				{ip: "192.0.2.8", want: ok}},
			keys: map[string]string{
				"throttle:proto=i,ip=192.0.2.7": "3",
				"throttle:proto=i,ip=192.0.2.8": "1",
			},
			counters: map[string]int64{ctrAllowed: 3, ctrThrottledIP: 1},
		},
		{
			name:   "ip counters are per protocol, with per-protocol limits",
			config: `{"ip":{"limit":1,"protocols":{"pop3":2,"http":0}}}`,
			attempts: []attempt{
				{want: ok}, {want: deny, msg: ipM},
				{proto: "pop3", want: ok}, {proto: "pop3", want: ok}, {proto: "pop3", want: deny, msg: ipM},
				{proto: "http", want: ok}, {proto: "http", want: ok}, {proto: "http", want: ok},
			},
			keys: map[string]string{
				"throttle:proto=i,ip=192.0.2.7": "2",
				"throttle:proto=p,ip=192.0.2.7": "3",
			},
			counters: map[string]int64{ctrAllowed: 6, ctrThrottledIP: 2},
		},
		{
			name:     "ipv6 key",
			config:   `{"ip":{"limit":5}}`,
			attempts: []attempt{{ip: "2001:db8::1", want: ok}},
			keys:     map[string]string{"throttle:proto=i,ip=2001:db8::1": "1"},
		},
		{
			name:   "user limit counts the first attempt of a session only",
			config: `{"user":{"limit":2,"message":"slow down"}}`,
			attempts: []attempt{
				{want: ok}, {n: 2, want: ok}, {n: 3, want: ok}, // one session, three attempts
				{want: ok},                           // second session
				{want: deny, msg: "slow down"},       // third session
				{n: 2, want: deny, msg: "slow down"}, // its retry reads the count
				{login: "carol@example.com", want: ok},
			},
			keys: map[string]string{
				"throttle:user=bob@example.com":   "3",
				"throttle:user=carol@example.com": "1",
			},
			counters: map[string]int64{ctrAllowed: 5, ctrThrottledUser: 2},
		},
		{
			name:     "user count attempt moves on every attempt",
			config:   `{"user":{"limit":2,"count":"attempt"}}`,
			attempts: []attempt{{want: ok}, {n: 2, want: ok}, {n: 3, want: deny, msg: usM}},
			keys:     map[string]string{"throttle:user=bob@example.com": "3"},
		},
		{
			name:   "user key account",
			config: `{"user":{"limit":1,"key":"account"}}`,
			attempts: []attempt{{login: "bob", account: "robert@example.com", want: ok},
				{login: "bobby", account: "robert@example.com", want: deny, msg: usM}},
			keys: map[string]string{"throttle:user=robert@example.com": "2"},
		},
		{
			name:     "empty login: user counter skipped",
			config:   `{"user":{"limit":1}}`,
			attempts: []attempt{{login: "-", want: ok}, {login: "-", want: ok}},
			keys:     map[string]string{},
		},
		{
			// A page load without credentials is not a login attempt.
			name:     "no login (anonymous web request): nothing counted",
			config:   `{"ip":{"limit":1},"user":{"limit":1}}`,
			attempts: []attempt{{proto: "http", login: "-", want: ok}, {proto: "http", login: "-", want: ok}, {proto: "http", login: "-", want: ok}},
			keys:     map[string]string{},
		},
		{
			name:     "ip refusal does not move the user counter",
			config:   `{"ip":{"limit":1},"user":{"limit":5}}`,
			attempts: []attempt{{want: ok}, {want: deny, msg: ipM}},
			keys: map[string]string{
				"throttle:proto=i,ip=192.0.2.7": "2",
				"throttle:user=bob@example.com": "1",
			},
		},
		{
			name:   "allowlist: never counted",
			config: `{"ip":{"limit":1},"user":{"limit":1},"allowlist":["10.0.0.0/8","192.0.2.7","2001:db8::/32"]}`,
			attempts: []attempt{{want: ok}, {want: ok}, {ip: "10.1.2.3", want: ok}, {ip: "2001:db8::9", want: ok},
				{ip: "192.0.2.9", want: ok}, {ip: "192.0.2.9", want: deny, msg: ipM}},
			keys: map[string]string{
				"throttle:proto=i,ip=192.0.2.9": "2",
				"throttle:user=bob@example.com": "1",
			},
			counters: map[string]int64{ctrAllowlisted: 4, ctrAllowed: 1, ctrThrottledIP: 1},
		},
		{
			name:   "soft limit delays, hard limit refuses",
			config: `{"ip":{"limit":4,"soft_limit":2},"delay":"1500ms"}`,
			attempts: []attempt{{want: ok}, {want: ok}, {want: ok, delayMS: "1500"}, {want: ok, delayMS: "1500"},
				{want: deny, msg: ipM}},
			counters: map[string]int64{ctrAllowed: 4, ctrDelayed: 2, ctrThrottledIP: 1},
		},
		{
			name:     "soft limit alone only delays",
			config:   `{"user":{"soft_limit":1},"delay":2}`,
			attempts: []attempt{{want: ok}, {want: ok, delayMS: "2000"}, {want: ok, delayMS: "2000"}},
			counters: map[string]int64{ctrAllowed: 3, ctrDelayed: 2},
		},
		{
			name:     "odd logins make valid memcached keys",
			config:   `{"user":{"limit":9}}`,
			attempts: []attempt{{login: "bob smith\x01", want: ok}, {login: strings.Repeat("x", 300), want: ok}},
			keys: map[string]string{
				"throttle:user=bob%20smith%01":                           "1",
				"throttle:user=%sha256:" + sha(strings.Repeat("x", 300)): "1",
			},
		},
		{
			// "a b" is stored as a%20b: the login "a%20b" must not spend its budget.
			name:   "a login and its escaped form count apart",
			config: `{"user":{"limit":1}}`,
			attempts: []attempt{{login: "a b", want: ok}, {login: "a%20b", want: ok},
				{login: "a b", want: deny, msg: defaultUserMessage}},
			keys: map[string]string{
				"throttle:user=a%20b":   "2",
				"throttle:user=a%2520b": "1",
			},
			counters: map[string]int64{ctrAllowed: 2, ctrThrottledUser: 1},
		},
		{
			name:   "a long login and a login reading like its hash count apart",
			config: `{"user":{"limit":1}}`,
			attempts: []attempt{{login: strings.Repeat("x", 300), want: ok},
				{login: "sha256:" + sha(strings.Repeat("x", 300)), want: ok}},
			keys: map[string]string{
				"throttle:user=%sha256:" + sha(strings.Repeat("x", 300)): "1",
				"throttle:user=sha256:" + sha(strings.Repeat("x", 300)):  "1",
			},
			counters: map[string]int64{ctrAllowed: 2},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := sdktest.New(t)
			if err := h.Init([]byte(tc.config)); err != nil {
				t.Fatal(err)
			}
			for i, a := range tc.attempts {
				run(t, h, i, a)
			}
			if tc.keys != nil {
				got := map[string]string{}
				for k, it := range h.KV {
					got[k] = string(it.Value)
				}
				for k, v := range tc.keys {
					if got[k] != v {
						t.Errorf("store[%q] = %q, want %q (store: %q)", k, got[k], v, got)
					}
				}
				if len(got) != len(tc.keys) {
					t.Errorf("store holds %d keys, want %d: %q", len(got), len(tc.keys), got)
				}
			}
			for name, want := range tc.counters {
				if got := h.Counters[name]; got != want {
					t.Errorf("counter %s = %d, want %d (all: %v)", name, got, want, h.Counters)
				}
			}
		})
	}
}

func TestCheck_windowExpires(t *testing.T) {
	h := sdktest.New(t)
	if err := h.Init([]byte(`{"ip":{"limit":1,"window":60}}`)); err != nil {
		t.Fatal(err)
	}
	run(t, h, 0, attempt{want: ok})
	run(t, h, 1, attempt{want: deny, msg: ipM})
	h.Advance(59 * time.Second)
	run(t, h, 2, attempt{want: deny, msg: ipM}) // the TTL is set once, by the creator
	h.Advance(time.Second)
	run(t, h, 3, attempt{want: ok})
}

func TestCheck_storeDownFailsOpen(t *testing.T) {
	h := sdktest.New(t)
	if err := h.Init([]byte(`{"ip":{"limit":1},"user":{"limit":1}}`)); err != nil {
		t.Fatal(err)
	}
	h.KVDown = true
	for i := 0; i < 4; i++ {
		run(t, h, i, attempt{want: ok})
	}
	if got := h.Counters[ctrStoreErrors]; got != 8 {
		t.Errorf("store_errors = %d, want 8 (two counters, four attempts)", got)
	}
	if got := h.Counters[ctrAllowed]; got != 4 {
		t.Errorf("allowed = %d, want 4", got)
	}
	if len(h.Logs) != 1 || h.Logs[0].Level != abi.LevelWarn || !strings.Contains(h.Logs[0].Msg, "logins are allowed unthrottled") {
		t.Errorf("logs = %+v, want one warning", h.Logs)
	}
	for _, l := range h.Logs {
		if strings.Contains(l.Msg, "bob") || strings.Contains(l.Msg, "192.0.2.7") {
			t.Errorf("log line names the login or address: %q", l.Msg)
		}
	}
	h.KVDown = false
	run(t, h, 4, attempt{want: ok})
	run(t, h, 5, attempt{want: deny, msg: ipM})
}

// TestUserKey: the user key is storekeys.ThrottleUser, Zimbra's
// throttle:user=<login> byte for byte for ordinary logins.
func TestUserKey(t *testing.T) {
	tests := []struct{ login, want string }{
		{"bob@example.com", "throttle:user=bob@example.com"},
		{"Bob@Example.COM", "throttle:user=Bob@Example.COM"}, // no case folding: that is login-normaliser's job
		{"a b", "throttle:user=a%20b"},
		{"a%20b", "throttle:user=a%2520b"}, // not a%20b: that is the key of "a b"
		{"tab\tnl\n\x7f", "throttle:user=tab%09nl%0A%7F"},
		{"jürgen@example.de", "throttle:user=jürgen@example.de"},
		{strings.Repeat("x", 236), "throttle:user=" + strings.Repeat("x", 236)},
		{strings.Repeat("x", 237), "throttle:user=%sha256:" + sha(strings.Repeat("x", 237))},
	}
	for _, tc := range tests {
		if got := storekeys.ThrottleUser(tc.login); got != tc.want {
			t.Errorf("ThrottleUser(%q) = %q, want %q", tc.login, got, tc.want)
		}
	}
}

func sha(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}
