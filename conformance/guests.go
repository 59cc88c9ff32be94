package conformance

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
)

// guestCase sends one command (testdata/guests/README.md) through a hook
// of an SDK guest and checks the answer.
type guestCase struct {
	name    string
	section string
	hook    abi.Hook // default login
	fields  func(cmd string) *Fields
	// cmd may hold {srv} (the test server's URL), {dead} (a loopback
	// host:port where nothing listens) and {key} (a store key unique to
	// this case and guest).
	cmd     string
	spec    string      // "" (config {"greeting":"hi"}), "http" (allowlist), "one" (1 instance), "timeout" (200ms)
	verdict abi.Verdict // default Done
	cont    bool        // the hook returns Continue
	want    string      // the message; see match
	match   string      // "" exact, "prefix", "sorted" (comma-separated items in any order), "any"
	fail    bool        // the call must fail (and its writes be discarded)
	prep    func(c *C, key string)
	after   func(c *C, p Plugin, f *Fields, key string)
}

func imapCmd(cmd string) *Fields { return MailFields("imap", cmd) }

// oauthCmd is an IMAP OAUTHBEARER login claiming bob@example.com.
func oauthCmd(cmd string) *Fields {
	f := MailFields("imap", cmd)
	f.Values[abi.FieldAuthMethod] = "oauthbearer"
	f.Values[abi.FieldPassword] = ""
	f.Values[abi.FieldOAuthToken] = "eyJ.tok.sig"
	f.Values[abi.FieldOAuthUser] = "bob@example.com"
	return f
}
func httpCmd(cmd string) *Fields { return HTTPFields(cmd) }

// httpPool is an HTTP request the configuration's routes sent to pool.
func httpPool(pool string) func(cmd string) *Fields {
	return func(cmd string) *Fields {
		f := HTTPFields(cmd)
		f.Values[abi.FieldPool] = pool
		return f
	}
}

// storeHas checks a store key after a case.
func storeHas(key, want string) func(c *C, p Plugin, f *Fields, k string) {
	return func(c *C, _ Plugin, _ *Fields, k string) {
		key := strings.ReplaceAll(key, "{key}", k)
		got, err := c.Target.Store().Get(key)
		if want == "" {
			if !errors.Is(err, abi.ErrNotFound) {
				c.Errorf("store %s = %q, %v; want not found", key, got, err)
			}
			return
		}
		if err != nil || string(got) != want {
			c.Errorf("store %s = %q, %v; want %q", key, got, err, want)
		}
	}
}

func storePut(key, val string) func(c *C, k string) {
	return func(c *C, k string) {
		if err := c.Target.Store().Set(strings.ReplaceAll(key, "{key}", k), []byte(val), 0); err != nil {
			c.Fatalf("store: %v", err)
		}
	}
}

func fieldIs(id abi.Field, want string) func(c *C, p Plugin, f *Fields, k string) {
	return func(c *C, _ Plugin, f *Fields, _ string) {
		if got := f.Get(id); got != want {
			c.Errorf("field %s = %q after the call; want %q", id, got, want)
		}
	}
}

var (
	hookRoute    = abi.HookRoute
	hookRewrite  = abi.HookRewrite
	hookThrottle = abi.HookThrottle
)

var guestCases = []guestCase{
	// field_get
	{name: "get/protocol", section: "ABI.md#field_get", cmd: "get:1", want: "imap"},
	{name: "get/client_ip", section: "ABI.md#fields", cmd: "get:4", want: "192.0.2.7"},
	{name: "get/client_port is decimal", section: "ABI.md#fields", cmd: "get:5", want: "51234"},
	{name: "get/IPv4-mapped client reads as IPv4", section: "ABI.md#fields", cmd: "get:4", want: "192.0.2.8",
		fields: func(cmd string) *Fields {
			f := MailFields("imap", cmd)
			f.Values[abi.FieldClientIP] = "::ffff:192.0.2.8"
			return f
		}},
	{name: "get/tls_version", section: "ABI.md#fields", cmd: "get:8", want: "TLS1.3"},
	{name: "get/login_attempt", section: "ABI.md#fields", cmd: "get:14", want: "1"},
	{name: "get/account reads as login until set", section: "ABI.md#fields", cmd: "get:15", want: "get:15"},
	{name: "get/password in login", section: "ABI.md#access-per-phase", cmd: "get:13", want: "secret"},
	{name: "get/password in route", section: "ABI.md#access-per-phase", hook: hookRoute, cmd: "get:13", want: "secret"},
	{name: "get/no password in throttle", section: "ABI.md#access-per-phase", hook: abi.HookThrottle, cmd: "get:13", want: "-2"},
	{name: "get/no password in rewrite", section: "ABI.md#access-per-phase", hook: hookRewrite, fields: httpCmd, cmd: "get:13", want: "-2"},
	{name: "get/unknown field 999", section: "ABI.md#field_get", cmd: "get:999", want: "-1"},
	{name: "get/unknown field 0", section: "ABI.md#field_get", cmd: "get:0", want: "-1"},
	{name: "get/unknown negative field", section: "ABI.md#field_get", cmd: "get:-3", want: "-1"},
	{name: "get/keyed field with field_get", section: "ABI.md#field_get", fields: httpCmd, cmd: "get:21", want: "-2"},
	{name: "get/HTTP field in IMAP", section: "ABI.md#fields", cmd: "get:17", want: "-2"},
	{name: "get/HTTP field in HTTP", section: "ABI.md#fields", fields: httpCmd, cmd: "get:17", want: "GET"},
	{name: "get/http_headers lists names", section: "ABI.md#fields", fields: httpCmd, cmd: "get:23",
		want: "Accept-Language,Cookie,User-Agent", match: "sorted"},
	{name: "get/upstreams not in login", section: "ABI.md#access-per-phase", cmd: "get:24", want: "-2"},
	{name: "get/upstream not in hooks", section: "ABI.md#access-per-phase", hook: hookRoute, cmd: "get:34", want: "-2"},
	{name: "get/delay_ms reads 0 when unset", section: "ABI.md#fields", cmd: "get:28", want: "0"},
	{name: "get/cache_alias reads 0", section: "ABI.md#fields", hook: hookRoute, cmd: "get:31", want: "0"},
	{name: "get/redirect_code reads empty when unset", section: "ABI.md#fields", hook: hookRewrite, fields: httpCmd, cmd: "get:29", want: ""},
	{name: "get/redirect_code not in login", section: "ABI.md#access-per-phase", fields: httpCmd, cmd: "get:29", want: "-2"},
	{name: "len/a value larger than any first buffer", section: "ABI.md#memory", cmd: "len:13", want: "100000",
		fields: func(cmd string) *Fields {
			f := MailFields("imap", cmd)
			f.Values[abi.FieldPassword] = strings.Repeat("p", 100000)
			return f
		}},

	// field_set
	{name: "set/login in login", section: "ABI.md#field_set", cmd: "set:12:bob", want: "ok", after: fieldIs(abi.FieldLogin, "bob")},
	{name: "set/login in route is read-only", section: "ABI.md#field_set", hook: hookRoute, cmd: "set:12:bob", want: "-3"},
	{name: "set/account in route", section: "ABI.md#access-per-phase", hook: hookRoute, cmd: "set:15:acct@example.com", want: "ok",
		after: fieldIs(abi.FieldAccount, "acct@example.com")},
	{name: "set/account in throttle is read-only", section: "ABI.md#access-per-phase", hook: abi.HookThrottle, cmd: "set:15:x", want: "-3"},
	{name: "set/protocol is read-only", section: "ABI.md#field_set", cmd: "set:1:smtp", want: "-3"},
	{name: "set/unknown field", section: "ABI.md#field_set", cmd: "set:999:x", want: "-1"},
	{name: "set/upstreams not in login", section: "ABI.md#field_set", cmd: "setlist:24:10.0.0.5:143", want: "-2"},
	{name: "set/upstreams list in route", section: "ABI.md#fields", hook: hookRoute, cmd: "setlist:24:10.0.0.5:143,[2001:db8::5]:143",
		want: "ok", after: fieldIs(abi.FieldUpstreams, "10.0.0.5:143\x00[2001:db8::5]:143")},
	{name: "set/upstreams empty list", section: "ABI.md#fields", hook: hookRoute, cmd: "setlist:24:", want: "ok"},
	{name: "set/upstreams without a port", section: "ABI.md#fields", hook: hookRoute, cmd: "setlist:24:10.0.0.5", want: "-4"},
	{name: "set/upstreams port 0", section: "ABI.md#fields", hook: hookRoute, cmd: "setlist:24:10.0.0.5:0", want: "-4"},
	{name: "set/upstreams empty item", section: "ABI.md#fields", hook: hookRoute, cmd: "set:24:a:1\x00", want: "-4"},
	{name: "set/delay_ms at the maximum", section: "ABI.md#fields", cmd: "set:28:300000", want: "ok"},
	{name: "set/delay_ms over the maximum", section: "ABI.md#limits", cmd: "set:28:300001", want: "-4"},
	{name: "set/delay_ms not decimal", section: "ABI.md#fields", cmd: "set:28:1s", want: "-4"},
	{name: "set/delay_ms with a sign", section: "ABI.md#fields", cmd: "set:28:+5", want: "-4"},
	{name: "set/boolean true", section: "ABI.md#fields", hook: hookRoute, cmd: "set:31:true", want: "ok", after: fieldIs(abi.FieldCacheAlias, "1")},
	// ABI 1.1: password_verified and upstream_auth.
	{name: "get/password_verified reads 0", section: "ABI.md#password-verification", hook: hookRoute, cmd: "get:36", want: "0"},
	{name: "set/password_verified in route", section: "ABI.md#password-verification", hook: hookRoute, cmd: "set:36:1", want: "ok",
		after: fieldIs(abi.FieldPasswordVerified, "1")},
	{name: "set/password_verified in login", section: "ABI.md#password-verification", cmd: "set:36:true", want: "ok",
		after: fieldIs(abi.FieldPasswordVerified, "1")},
	{name: "set/password_verified in throttle is read-only", section: "ABI.md#access-per-phase", hook: hookThrottle, cmd: "set:36:1", want: "-3"},
	{name: "set/password_verified rejects yes", section: "ABI.md#fields", hook: hookRoute, cmd: "set:36:yes", want: "-4"},
	{name: "get/upstream_auth", section: "ABI.md#fields", hook: hookRoute, cmd: "get:37", want: "master",
		fields: func(cmd string) *Fields {
			f := MailFields("imap", cmd)
			f.Values[abi.FieldUpstreamAuth] = "master"
			return f
		}},
	{name: "set/upstream_auth is read-only", section: "ABI.md#access-per-phase", hook: hookRoute, cmd: "set:37:password", want: "-3"},
	// ABI 1.1: OAuth logins (oauth_token is gated like password).
	{name: "get/oauth_token in login", section: "ABI.md#oauth-logins", fields: oauthCmd, cmd: "get:43", want: "eyJ.tok.sig"},
	{name: "get/oauth_token in route", section: "ABI.md#oauth-logins", hook: hookRoute, fields: oauthCmd, cmd: "get:43", want: "eyJ.tok.sig"},
	{name: "get/no oauth_token in throttle", section: "ABI.md#access-per-phase", hook: hookThrottle, fields: oauthCmd, cmd: "get:43", want: "-2"},
	{name: "get/oauth_token empty for a password login", section: "ABI.md#fields", cmd: "get:43", want: ""},
	{name: "get/oauth_user in throttle", section: "ABI.md#oauth-logins", hook: hookThrottle, fields: oauthCmd, cmd: "get:44", want: "bob@example.com"},
	{name: "get/auth_method oauthbearer", section: "ABI.md#oauth-logins", fields: oauthCmd, cmd: "get:11", want: "oauthbearer"},
	{name: "set/oauth_token is read-only", section: "ABI.md#access-per-phase", fields: oauthCmd, cmd: "set:43:x", want: "-3"},
	{name: "set/oauth_user is read-only", section: "ABI.md#access-per-phase", fields: oauthCmd, cmd: "set:44:eve", want: "-3"},
	// ABI 1.1: pool (HTTP only; read in route, rewrite and route_decided, written in route).
	{name: "get/pool in route reads the configuration's choice", section: "ABI.md#fields", hook: hookRoute, fields: httpPool("static"), cmd: "get:45", want: "static"},
	{name: "get/pool reads empty when no route matched", section: "ABI.md#fields", hook: hookRoute, fields: httpCmd, cmd: "get:45", want: ""},
	{name: "get/pool in rewrite", section: "ABI.md#access-per-phase", hook: hookRewrite, fields: httpPool("api"), cmd: "get:45", want: "api"},
	{name: "get/pool not in login", section: "ABI.md#access-per-phase", fields: httpPool("api"), cmd: "get:45", want: "-2"},
	{name: "get/pool in IMAP", section: "ABI.md#fields", hook: hookRoute, cmd: "get:45", want: "-2"},
	{name: "set/pool in route", section: "ABI.md#fields", hook: hookRoute, fields: httpPool("static"), cmd: "set:45:api", want: "ok",
		after: fieldIs(abi.FieldPool, "api")},
	{name: "set/pool empty in route", section: "ABI.md#fields", hook: hookRoute, fields: httpPool("static"), cmd: "set:45:", want: "ok",
		after: fieldIs(abi.FieldPool, "")},
	{name: "set/pool with a space", section: "ABI.md#fields", hook: hookRoute, fields: httpCmd, cmd: "set:45:a b", want: "-4"},
	{name: "set/pool in rewrite is read-only", section: "ABI.md#access-per-phase", hook: hookRewrite, fields: httpCmd, cmd: "set:45:api", want: "-3"},
	{name: "set/pool in IMAP", section: "ABI.md#fields", hook: hookRoute, cmd: "set:45:api", want: "-2"},
	// ABI 1.1: request filters are init's only.
	{name: "get/only_login outside init", section: "ABI.md#request-filters", hook: hookRoute, cmd: "get:38", want: "-2"},
	{name: "set/only_login outside init", section: "ABI.md#request-filters", cmd: "set:38:1", want: "-2"},
	{name: "set/only_paths outside init", section: "ABI.md#request-filters", hook: hookThrottle, cmd: "set:41:/service/", want: "-2"},
	// ABI 1.2: reuse_ms is init's only (testdata/reuse.wat checks init).
	{name: "get/reuse_ms outside init", section: "ABI.md#decision-reuse", hook: hookRoute, fields: httpCmd, cmd: "get:48", want: "-2"},
	{name: "set/reuse_ms outside init", section: "ABI.md#decision-reuse", fields: httpCmd, cmd: "set:48:5000", want: "-2"},
	{name: "set/reuse_ms in route", section: "ABI.md#access-per-phase", hook: hookRoute, cmd: "set:48:5000", want: "-2"},
	{name: "set/boolean rejects yes", section: "ABI.md#fields", hook: hookRoute, cmd: "set:31:yes", want: "-4"},
	{name: "set/message with a line break", section: "ABI.md#fields", cmd: "set:27:a\nb", match: "any",
		after: func(c *C, _ Plugin, f *Fields, _ string) {
			if strings.ContainsAny(f.Get(abi.FieldMessage), "\r\n") {
				c.Errorf("message %q holds a line break", f.Get(abi.FieldMessage))
			}
		}},
	{name: "set/message of MaxFieldBytes", section: "ABI.md#limits", cmd: "big:27:65536", match: "any",
		after: func(c *C, _ Plugin, f *Fields, _ string) {
			if n := len(f.Get(abi.FieldMessage)); n != abi.MaxFieldBytes {
				c.Errorf("message is %d bytes; want %d", n, abi.MaxFieldBytes)
			}
		}},
	{name: "set/message over MaxFieldBytes", section: "ABI.md#limits", cmd: "big:27:65537", want: "-7"},
	{name: "set/http_host in rewrite", section: "ABI.md#fields", hook: hookRewrite, fields: httpCmd, cmd: "set:18:new.example.com",
		want: "ok", after: fieldIs(abi.FieldHTTPHost, "new.example.com")},
	{name: "set/http_host with a slash", section: "ABI.md#fields", hook: hookRewrite, fields: httpCmd, cmd: "set:18:a/b", want: "-4"},
	{name: "set/http_host in login is read-only", section: "ABI.md#access-per-phase", fields: httpCmd, cmd: "set:18:x.example.com", want: "-3"},
	{name: "set/http_path must start with a slash", section: "ABI.md#fields", hook: hookRewrite, fields: httpCmd, cmd: "set:19:inbox", want: "-4"},
	{name: "set/http_path without a query", section: "ABI.md#fields", hook: hookRewrite, fields: httpCmd, cmd: "set:19:/a?b", want: "-4"},
	{name: "set/redirect_code 302", section: "ABI.md#fields", hook: hookRewrite, fields: httpCmd, cmd: "set:29:302", want: "ok",
		after: fieldIs(abi.FieldRedirectCode, "302")},
	{name: "set/redirect_code 200", section: "ABI.md#fields", hook: hookRewrite, fields: httpCmd, cmd: "set:29:200", want: "-4"},
	{name: "set/redirect_url empty", section: "ABI.md#fields", hook: hookRewrite, fields: httpCmd, cmd: "set:30:", want: "-4"},

	// keyed fields
	{name: "key/header joined with comma", section: "ABI.md#field_get_key", fields: httpCmd, cmd: "key:21:accept-language", want: "de, fr"},
	{name: "key/missing header", section: "ABI.md#field_get_key", fields: httpCmd, cmd: "key:21:X-Missing", want: "-5"},
	{name: "key/header name not a token", section: "ABI.md#field_get_key", fields: httpCmd, cmd: "key:21:bad name", want: "-4"},
	{name: "key/empty key", section: "ABI.md#field_get_key", fields: httpCmd, cmd: "key:21:", want: "-4"},
	{name: "key/key over MaxKeyNameBytes", section: "ABI.md#limits", fields: httpCmd, cmd: "key:21:" + strings.Repeat("k", abi.MaxKeyNameBytes+1), want: "-4"},
	{name: "key/cookie", section: "ABI.md#field_get_key", fields: httpCmd, cmd: "key:22:ZM_AUTH_TOKEN", want: "tok123"},
	{name: "key/cookie names match exactly", section: "ABI.md#field_get_key", fields: httpCmd, cmd: "key:22:zm_auth_token", want: "-5"},
	{name: "key/IMAP ID in any case", section: "ABI.md#field_get_key", cmd: "key:33:NAME", want: "Thunderbird"},
	{name: "key/IMAP ID missing", section: "ABI.md#field_get_key", cmd: "key:33:os", want: "-5"},
	{name: "key/IMAP ID outside IMAP", section: "ABI.md#fields", fields: httpCmd, cmd: "key:33:name", want: "-5"},
	{name: "key/header in IMAP", section: "ABI.md#fields", cmd: "key:21:Host", want: "-2"},
	{name: "key/plain field", section: "ABI.md#field_get_key", cmd: "key:12:x", want: "-2"},
	{name: "key/unknown field", section: "ABI.md#field_get_key", cmd: "key:999:x", want: "-1"},
	{name: "setkey/header in rewrite", section: "ABI.md#field_set_key", hook: hookRewrite, fields: httpCmd, cmd: "setkey:21:X-Tenant:acme", want: "ok",
		after: func(c *C, _ Plugin, f *Fields, _ string) {
			if got := f.Header["X-Tenant"]; len(got) != 1 || got[0] != "acme" {
				c.Errorf("X-Tenant = %q; want exactly [acme]", got)
			}
		}},
	{name: "setkey/replaces every value", section: "ABI.md#field_set_key", hook: hookRewrite, fields: httpCmd, cmd: "setkey:21:Accept-Language:en", want: "ok",
		after: func(c *C, _ Plugin, f *Fields, _ string) {
			if got := f.Header["Accept-Language"]; len(got) != 1 || got[0] != "en" {
				c.Errorf("Accept-Language = %q; want exactly [en]", got)
			}
		}},
	{name: "setkey/header outside rewrite", section: "ABI.md#field_set_key", fields: httpCmd, cmd: "setkey:21:X-Tenant:acme", want: "-3"},
	{name: "setkey/cookie is read-only", section: "ABI.md#field_set_key", hook: hookRewrite, fields: httpCmd, cmd: "setkey:22:a:b", want: "-3"},
	{name: "setkey/IMAP ID is read-only", section: "ABI.md#field_set_key", cmd: "setkey:33:a:b", want: "-3"},
	{name: "setkey/bad header name", section: "ABI.md#field_set_key", hook: hookRewrite, fields: httpCmd, cmd: "setkey:21:bad name:v", want: "-4"},
	{name: "setkey/value with a line break", section: "ABI.md#field_set_key", hook: hookRewrite, fields: httpCmd, cmd: "setkey:21:X-A:a\r\nX-B: b", want: "-4"},
	{name: "delkey/header", section: "ABI.md#field_delete_key", hook: hookRewrite, fields: httpCmd, cmd: "delkey:21:cookie", want: "ok",
		after: func(c *C, _ Plugin, f *Fields, _ string) {
			if _, ok := f.Header["Cookie"]; ok {
				c.Errorf("Cookie header still present: %q", f.Header)
			}
		}},
	{name: "delkey/missing header", section: "ABI.md#field_delete_key", hook: hookRewrite, fields: httpCmd, cmd: "delkey:21:X-None", want: "-5"},

	// key-value store
	{name: "kv/set", section: "ABI.md#kv_set", cmd: "kvset:{key}:v1:0", want: "ok", after: storeHas("{key}", "v1")},
	{name: "kv/get", section: "ABI.md#kv_get", cmd: "kvget:{key}", want: "stored", prep: storePut("{key}", "stored")},
	{name: "kv/get missing", section: "ABI.md#kv_get", cmd: "kvget:{key}", want: "-5"},
	{name: "kv/add absent", section: "ABI.md#kv_add", cmd: "kvadd:{key}:a:60", want: "ok", after: storeHas("{key}", "a")},
	{name: "kv/add present", section: "ABI.md#kv_add", cmd: "kvadd:{key}:b:60", want: "-9", prep: storePut("{key}", "a"), after: storeHas("{key}", "a")},
	{name: "kv/incr", section: "ABI.md#kv_incr", cmd: "kvincr:{key}:2", want: "3", prep: storePut("{key}", "1"), after: storeHas("{key}", "3")},
	{name: "kv/incr by 0 reads", section: "ABI.md#kv_incr", cmd: "kvincr:{key}:0", want: "7", prep: storePut("{key}", "7")},
	{name: "kv/incr missing", section: "ABI.md#kv_incr", cmd: "kvincr:{key}:1", want: "-5"},
	{name: "kv/incr negative delta", section: "ABI.md#kv_incr", cmd: "kvincr:{key}:-1", want: "-4", prep: storePut("{key}", "1")},
	{name: "kv/incr not a number", section: "ABI.md#kv_incr", cmd: "kvincr:{key}:1", want: "-4", prep: storePut("{key}", "abc")},
	{name: "kv/delete", section: "ABI.md#kv_delete", cmd: "kvdel:{key}", want: "ok", prep: storePut("{key}", "x"), after: storeHas("{key}", "")},
	{name: "kv/delete missing", section: "ABI.md#kv_delete", cmd: "kvdel:{key}", want: "-5"},
	{name: "kv/batch", section: "ABI.md#kv_batch", cmd: "kvbatch:{key}", want: "2,v,0,0,x,0,-5,-4",
		prep: func(c *C, k string) { storePut("{key}a", "1")(c, k); storePut("{key}b", "v")(c, k) },
		after: func(c *C, p Plugin, f *Fields, k string) {
			storeHas("{key}a", "0")(c, p, f, k)
			storeHas("{key}b", "")(c, p, f, k)
			storeHas("{key}c", "x")(c, p, f, k)
		}},
	{name: "kv/key with a space", section: "ABI.md#kv_get", cmd: "kvset:a b:v:0", want: "-4"},
	{name: "kv/empty key", section: "ABI.md#kv_get", cmd: "kvget:", want: "-4"},
	{name: "kv/key with a control character", section: "ABI.md#kv_get", cmd: "kvget:a\x01b", want: "-4"},
	{name: "kv/key of MaxKeyBytes", section: "ABI.md#kv_get", cmd: "kvget:" + strings.Repeat("k", abi.MaxKeyBytes), want: "-5"},
	{name: "kv/key over MaxKeyBytes", section: "ABI.md#kv_get", cmd: "kvget:" + strings.Repeat("k", abi.MaxKeyBytes+1), want: "-4"},
	{name: "kv/negative ttl", section: "ABI.md#kv_get", cmd: "kvset:{key}:v:-1", want: "-4", after: storeHas("{key}", "")},
	{name: "kv/value over MaxKVValueBytes", section: "ABI.md#kv_get", cmd: "kvbig:{key}:1048577", want: "-7", after: storeHas("{key}", "")},
	{name: "kv/ttl expires", section: "ABI.md#kv_get", cmd: "kvset:{key}:v:1", want: "ok",
		after: func(c *C, _ Plugin, _ *Fields, k string) {
			deadline := time.Now().Add(4 * time.Second)
			for time.Now().Before(deadline) {
				if _, err := c.Target.Store().Get(k); errors.Is(err, abi.ErrNotFound) {
					return
				}
				time.Sleep(100 * time.Millisecond)
			}
			c.Errorf("a key set with ttl 1 s is still there after 4 s")
		}},
	{name: "kv/usable in init and events", section: "ABI.md#guest-exports", cmd: "init", want: "login=-2 set=ok"},

	// http_call
	{name: "http/GET with headers", section: "ABI.md#http_call", spec: "http", cmd: "http:GET:2000:{srv}/ok", want: "200 hello x=1"},
	{name: "http/response headers", section: "ABI.md#http_response_get", spec: "http", cmd: "httph:{srv}/ok", want: "1"},
	{name: "http/redirects are not followed", section: "ABI.md#http_call", spec: "http", cmd: "http:GET:2000:{srv}/redirect", want: "302 "},
	{name: "http/denied without an allowlist", section: "ABI.md#http_call", cmd: "http:GET:2000:{srv}/ok", want: "-8"},
	{name: "http/denied outside the allowlist", section: "ABI.md#http_call", spec: "http", cmd: "http:GET:2000:http://192.0.2.1:8080/", want: "-8"},
	{name: "http/not http or https", section: "ABI.md#http_call", spec: "http", cmd: "http:GET:2000:ftp://127.0.0.1/x", want: "-4"},
	{name: "http/bad method", section: "ABI.md#http_call", spec: "http", cmd: "http:G T:2000:{srv}/ok", want: "-4"},
	{name: "http/timeout", section: "ABI.md#http_call", spec: "http", cmd: "http:GET:200:{srv}/slow", want: "-10"},
	{name: "http/unreachable", section: "ABI.md#http_call", spec: "http", cmd: "http:GET:2000:http://{dead}/", want: "-6"},
	{name: "http/response over the limit", section: "ABI.md#http_call", spec: "http", cmd: "http:GET:2000:{srv}/big", want: "-7"},

	// feature, log, counter, clock, config
	{name: "feature/abi-1.0", section: "ABI.md#feature", cmd: "feature:abi-1.0", want: "1"},
	{name: "feature/abi-1.2", section: "ABI.md#feature", cmd: "feature:abi-1.2", want: "1"},
	{name: "feature/names are case-sensitive", section: "ABI.md#feature", cmd: "feature:ABI-1.0", want: "0"},
	{name: "feature/unknown", section: "ABI.md#feature", cmd: "feature:teleport", want: "0"},
	{name: "feature/http-call without an allowlist", section: "ABI.md#feature", cmd: "feature:http-call", want: "0"},
	{name: "feature/http-call with an allowlist", section: "ABI.md#feature", spec: "http", cmd: "feature:http-call", want: "1"},
	{name: "feature/kv-shared follows the store", section: "ABI.md#feature", cmd: "feature:kv-shared", match: "any",
		after: func(c *C, _ Plugin, f *Fields, _ string) {
			want := "0"
			if c.Target.Store().Shared() {
				want = "1"
			}
			if got := f.Get(abi.FieldMessage); got != want {
				c.Errorf("feature kv-shared = %s; the store's Shared() says %s", got, want)
			}
		}},
	{name: "log/info", section: "ABI.md#log", cmd: "log:1:3", want: "3",
		after: func(c *C, p Plugin, _ *Fields, _ string) {
			for i := 1; i <= 3; i++ {
				if !hasLog(p, int32(abi.LevelInfo), "line "+strconv.Itoa(i)) {
					c.Errorf("no info line %q; logs:\n%s", "line "+strconv.Itoa(i), logText(p))
				}
			}
		}},
	{name: "log/unknown level is error", section: "ABI.md#log", cmd: "log:9:1", want: "1",
		after: func(c *C, p Plugin, _ *Fields, _ string) {
			if !hasLog(p, int32(abi.LevelError), "line 1") {
				c.Errorf("level 9 not logged at error; logs:\n%s", logText(p))
			}
		}},
	{name: "counter/adds", section: "ABI.md#counter_add", cmd: "counter:conf_logins:2", want: "ok",
		after: func(c *C, p Plugin, _ *Fields, _ string) {
			if n := p.Counters()["conf_logins"]; n < 2 {
				c.Errorf("counter conf_logins = %d; want at least 2", n)
			}
		}},
	{name: "counter/bad name ignored", section: "ABI.md#counter_add", cmd: "counter:Bad-Name:1", want: "ok",
		after: func(c *C, p Plugin, _ *Fields, _ string) {
			if _, ok := p.Counters()["Bad-Name"]; ok {
				c.Errorf("counter with a bad name was counted")
			}
		}},
	{name: "counter/negative delta ignored", section: "ABI.md#counter_add", cmd: "counter:conf_neg:-1", want: "ok",
		after: func(c *C, p Plugin, _ *Fields, _ string) {
			if n := p.Counters()["conf_neg"]; n != 0 {
				c.Errorf("counter conf_neg = %d after a negative delta; want 0", n)
			}
		}},
	{name: "clock/now", section: "ABI.md#clock_now", cmd: "clock", match: "any",
		after: func(c *C, _ Plugin, f *Fields, _ string) {
			ns, err := strconv.ParseInt(f.Get(abi.FieldMessage), 10, 64)
			if d := time.Since(time.Unix(0, ns)); err != nil || d < -5*time.Second || d > 5*time.Second {
				c.Errorf("clock_now %q is %v from now", f.Get(abi.FieldMessage), d)
			}
		}},
	{name: "config/as configured", section: "ABI.md#config_get", cmd: "config", want: `{"greeting":"hi"}`},

	// verdicts
	{name: "verdict/continue", section: "ABI.md#verdicts", cmd: "continue", cont: true, want: "before"},
	{name: "verdict/refuse", section: "ABI.md#verdicts", cmd: "refuse:go away", verdict: abi.VerdictRefuse, want: "go away"},
	{name: "verdict/tempfail", section: "ABI.md#verdicts", hook: abi.HookThrottle, cmd: "tempfail:later", verdict: abi.VerdictTempFail, want: "later"},
	{name: "verdict/retry then done", section: "ABI.md#verdicts", spec: "one", hook: hookRoute, cmd: "retry:10", want: "retried"},
	{name: "verdict/retry at most MaxRetries", section: "ABI.md#verdicts", cmd: "retryalways:0", verdict: abi.VerdictTempFail, match: "any"},
	{name: "verdict/delay", section: "ABI.md#verdicts", hook: abi.HookThrottle, cmd: "delay:250", cont: true, want: "ok",
		after: fieldIs(abi.FieldDelayMS, "250")},
	{name: "verdict/negative delay", section: "ABI.md#fields", hook: abi.HookThrottle, cmd: "delay:-5", cont: true, want: "-4"},
	{name: "verdict/unknown command continues", section: "ABI.md#verdicts", cmd: "bob@example.com", cont: true, want: "before"},
	{name: "failure/trap discards writes", section: "ABI.md#failure-policy", cmd: "trap", fail: true},
	{name: "failure/deadline", section: "ABI.md#limits", spec: "timeout", cmd: "loop", fail: true},
}

// runGuest runs guestCases and the event cases against one guest.
func runGuest(t *testing.T, target Target, name string, wasm []byte, o *options) {
	env := newEnv(t, target, name, o)
	loaded := map[string]Plugin{}
	specFor := func(variant string) Spec {
		s := Spec{Name: "guest-" + name, Wasm: wasm, Config: []byte(`{"greeting":"hi"}`)}
		switch variant {
		case "http":
			s.HTTPAllow = []string{env.hostPort(), env.deadAddr}
		case "one":
			s.Limits.Instances = 1
		case "timeout":
			s.Limits.CallTimeout = 200 * time.Millisecond
		}
		return s
	}
	plugin := func(c *C, variant string) Plugin {
		if p, ok := loaded[variant]; ok {
			return p
		}
		p, err := target.Load(t, specFor(variant)) // lives as long as the guest's test
		if err != nil {
			c.Fatalf("load %s guest (%q): %v", name, variant, err)
		}
		loaded[variant] = p
		return p
	}
	for i, tc := range guestCases {
		tc := tc
		key := fmt.Sprintf("%s-%d", env.prefix, i)
		env.run(t, tc.name, tc.section, func(c *C) {
			hook := tc.hook
			if hook == 0 {
				hook = abi.HookLogin
			}
			cmd := strings.NewReplacer("{srv}", env.srv.URL, "{dead}", env.deadAddr, "{key}", key).Replace(tc.cmd)
			mk := tc.fields
			if mk == nil {
				mk = imapCmd
			}
			f := mk(cmd)
			f.Values[abi.FieldMessage] = "before"
			if tc.prep != nil {
				tc.prep(c, key)
			}
			p := plugin(c, tc.spec)
			if hook == abi.HookResponse && !guestExportsResponse(p) {
				c.T.Logf("the %s guest does not export postern_hook_response: not run", name)
				return
			}
			v, err := p.Run(hook, f)
			msg := f.Get(abi.FieldMessage)
			if tc.fail {
				if err == nil {
					c.Errorf("verdict %v, message %q; the call must fail", v, msg)
				} else if msg != "before" {
					c.Errorf("message %q after a failed call; its writes must be discarded", msg)
				}
				return
			}
			if err != nil {
				c.Fatalf("%s %q failed: %v", hook, cmd, err)
			}
			want := tc.verdict
			if want == 0 && !tc.cont {
				want = abi.VerdictDone
			}
			if v != want {
				c.Errorf("%s %q: verdict %v; want %v (message %q)", hook, cmd, v, want, msg)
			}
			switch tc.match {
			case "any":
			case "sorted":
				if sortedItems(msg) != tc.want {
					c.Errorf("%s %q: message %q; want the items %q in any order", hook, cmd, msg, tc.want)
				}
			default:
				if msg != tc.want {
					c.Errorf("%s %q: message %q; want %q", hook, cmd, msg, tc.want)
				}
			}
			if tc.after != nil {
				tc.after(c, p, f, key)
			}
		})
	}
	env.run(t, "init/refusal fails the load with its message", "ABI.md#guest-exports", func(c *C) {
		_, err := target.Load(t, Spec{Name: "guest-" + name + "-refuse", Wasm: wasm, Config: []byte(`{"refuse":"no servers configured"}`)})
		if err == nil || !strings.Contains(err.Error(), "no servers configured") {
			c.Errorf("load error %v; want a refusal naming %q", err, "no servers configured")
		}
	})
	env.run(t, "events/delivered read-only, kv usable", "ABI.md#events", func(c *C) {
		s := specFor("one")
		s.Name = "guest-" + name + "-events"
		p, err := target.Load(t, s)
		if err != nil {
			c.Fatalf("load: %v", err)
		}
		account := env.prefix + "-bob"
		if err := target.Store().Set("route:"+account, []byte("10.0.0.5:143"), 0); err != nil {
			c.Fatalf("store: %v", err)
		}
		f := MailFields("imap", "bob")
		f.Values[abi.FieldAccount] = account
		f.Values[abi.FieldUpstreams] = "10.0.0.5:143\x0010.0.0.6:143"
		f.Values[abi.FieldUpstream] = "10.0.0.5:143"
		if err := p.Fire(abi.EventRouteDecided, f); err != nil {
			c.Errorf("route_decided: %v", err)
		}
		want := "route_decided upstream=10.0.0.5:143 upstreams=10.0.0.5:143,10.0.0.6:143 set=-3"
		if !hasLog(p, int32(abi.LevelInfo), want) {
			c.Errorf("route_decided: no log line %q; logs:\n%s", want, logText(p))
		}
		f.Values[abi.FieldMessage] = "bad password"
		if err := p.Fire(abi.EventLoginFailed, f); err != nil {
			c.Errorf("login_failed: %v", err)
		}
		want = "login_failed message=bad password account=" + account + " del=ok"
		if !hasLog(p, int32(abi.LevelInfo), want) {
			c.Errorf("login_failed: no log line %q; logs:\n%s", want, logText(p))
		}
		if _, err := target.Store().Get("route:" + account); !errors.Is(err, abi.ErrNotFound) {
			c.Errorf("route:%s still stored after login_failed deleted it: %v", account, err)
		}
		g := MailFields("imap", "events")
		if v, err := p.Run(abi.HookLogin, g); err != nil || g.Get(abi.FieldMessage) != "route_decided=1 login_failed=1" {
			c.Errorf("events: verdict %v, error %v, message %q; want each event once", v, err, g.Get(abi.FieldMessage))
		}
	})
}
