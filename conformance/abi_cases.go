package conformance

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/abi"
)

// abiCase is one check of a host against ABI.md with WAT fixtures.
type abiCase struct {
	name    string
	section string // "ABI.md#anchor"
	check   func(c *C)
}

// loadFails expects the host to refuse the fixture at load; when want is
// not empty the error must contain it.
func loadFails(fixture string, limits Limits, want string) func(c *C) {
	return func(c *C) {
		_, err := c.tryLoad(Spec{Wasm: c.fixture(fixture), Limits: limits})
		if err == nil {
			c.Fatalf("%s loaded; the host must refuse it", fixture)
		}
		if want != "" && !strings.Contains(err.Error(), want) {
			c.Errorf("load error %q does not contain %q", err, want)
		}
	}
}

// runHook loads fixture and runs hook once on fields f.
func runHook(c *C, fixture string, spec Spec, hook abi.Hook, f *Fields) (Plugin, abi.Verdict, error) {
	spec.Wasm = c.fixture(fixture)
	p := c.load(spec)
	v, err := p.Run(hook, f)
	return p, v, err
}

// expectMessage runs fixture's hook on f and expects verdict and message.
func expectMessage(fixture string, spec Spec, hook abi.Hook, f func() *Fields, verdict abi.Verdict, msg string) func(c *C) {
	return func(c *C) {
		fields := f()
		_, v, err := runHook(c, fixture, spec, hook, fields)
		if err != nil {
			c.Fatalf("hook %s failed: %v", hook, err)
		}
		if v != verdict || fields.Get(abi.FieldMessage) != msg {
			c.Errorf("verdict %v message %q; want %v %q", v, fields.Get(abi.FieldMessage), verdict, msg)
		}
	}
}

// expectFailure runs fixture's hook and expects the call to fail with
// its field writes discarded.
func expectFailure(fixture string, spec Spec, login string) func(c *C) {
	return func(c *C) {
		f := MailFields("imap", login)
		f.Values[abi.FieldMessage] = "before"
		_, v, err := runHook(c, fixture, spec, abi.HookLogin, f)
		if err == nil {
			c.Fatalf("the call returned %v; want a failed call (trap, deadline or memory limit)", v)
		}
		if got := f.Get(abi.FieldMessage); got != "before" {
			c.Errorf("message after the failed call = %q; the call's writes must be discarded", got)
		}
	}
}

func imap(login string) func() *Fields { return func() *Fields { return MailFields("imap", login) } }

// boundsCases: one case per command letter of testdata/bounds.wat.
func boundsCases() []abiCase {
	type b struct {
		letter, what string
		traps        bool
	}
	list := []b{
		{"a", "field_get buffer crosses the end of memory", true},
		{"b", "field_get buffer wraps around 2^32", true},
		{"c", "field_get size probe at a wild pointer", false},
		{"d", "field_set value crosses the end", true},
		{"e", "field_set of length 0 at a wild pointer", false},
		{"f", "log message crosses the end", true},
		{"g", "config_get buffer crosses the end with an empty config", true},
		{"h", "kv_get key crosses the end", true},
		{"i", "kv_set value crosses the end", true},
		{"j", "field_get_key key crosses the end", true},
		{"k", "http_call url crosses the end", true},
		{"l", "feature name crosses the end", true},
		{"m", "counter_add name crosses the end", true},
		{"n", "kv_get buffer crosses the end on a miss", true},
		{"o", "kv_incr key crosses the end", true},
		{"p", "kv_delete key crosses the end", true},
		{"q", "http_response_get buffer crosses the end with no response", true},
		{"r", "field_set_key value crosses the end", true},
		{"s", "field_delete_key key crosses the end", true},
		{"t", "http_call method length past the end", true},
		{"u", "log of length 0 at a wild pointer", false},
		{"v", "a range ending exactly at the end of memory", false},
		{"w", "field_get buffer crosses the end for a field not in this hook", true},
	}
	var out []abiCase
	for _, x := range list {
		x := x
		out = append(out, abiCase{"bounds/" + x.letter + " " + x.what, "ABI.md#bounds", func(c *C) {
			f := HTTPFields(x.letter)
			_, v, err := runHook(c, "bounds.wasm", Spec{}, abi.HookLogin, f)
			if x.traps && err == nil {
				c.Errorf("returned %v; the call must trap", v)
			}
			if !x.traps && (err != nil || v != abi.VerdictDone) {
				c.Errorf("verdict %v, error %v; the range is valid, the call must return Done", v, err)
			}
		}})
	}
	// After a trap the plugin keeps serving on a new instance.
	out = append(out, abiCase{"bounds/a trapped instance is replaced", "ABI.md#failure-policy", func(c *C) {
		p := c.load(Spec{Wasm: c.fixture("bounds.wasm"), Limits: Limits{Instances: 1}})
		if _, err := p.Run(abi.HookLogin, HTTPFields("a")); err == nil {
			c.Fatalf("command a did not trap")
		}
		if v, err := p.Run(abi.HookLogin, HTTPFields("c")); err != nil || v != abi.VerdictDone {
			c.Errorf("the call after a trap: verdict %v, error %v; want Done on a fresh instance", v, err)
		}
	}})
	return out
}

var abiCases = append([]abiCase{
	// Versioning
	{"versioning/1.0 loads", "ABI.md#versioning", func(c *C) {
		p := c.load(Spec{Wasm: c.fixture("abi/minimal.wasm")})
		f := MailFields("imap", "bob")
		if v, err := p.Run(abi.HookLogin, f); err != nil || v != abi.VerdictContinue {
			c.Errorf("a plugin without hooks: verdict %v, error %v; want Continue (not served)", v, err)
		}
	}},
	{"versioning/1.9 loads on a 1.0 host", "ABI.md#versioning", func(c *C) {
		c.load(Spec{Wasm: c.fixture("abi/version1_9.wasm")})
	}},
	{"versioning/2.0 is refused", "ABI.md#versioning", loadFails("abi/version2.wasm", Limits{}, "2.0")},
	{"versioning/0.1 is refused", "ABI.md#versioning", loadFails("version0_1.wasm", Limits{}, "0.1")},
	{"versioning/no postern_abi_version", "ABI.md#guest-exports", loadFails("abi/no_version.wasm", Limits{}, abi.ExportABIVersion)},
	{"versioning/unknown import is refused naming it", "ABI.md#versioning", loadFails("abi/unknown_import.wasm", Limits{}, "no_such_function")},

	// Guest exports
	{"exports/hook with a wrong signature", "ABI.md#guest-exports", loadFails("abi/bad_signature.wasm", Limits{}, abi.ExportHookRoute)},
	{"exports/event with a wrong signature", "ABI.md#guest-exports", loadFails("abi/bad_signature_event.wasm", Limits{}, abi.ExportEventLoginFailed)},
	{"exports/no memory export", "ABI.md#guest-exports", loadFails("abi/no_memory.wasm", Limits{}, "")},
	{"exports/imported memory", "ABI.md#guest-exports", loadFails("imported_memory.wasm", Limits{}, "")},
	{"exports/initial memory over the page limit", "ABI.md#limits", loadFails("big_memory.wasm", Limits{MemoryPages: 16}, "")},
	{"exports/initial memory within the default limit", "ABI.md#limits", func(c *C) {
		c.load(Spec{Wasm: c.fixture("big_memory.wasm")})
	}},
	{"exports/a WASI command (_start without _initialize) is refused", "ABI.md#guest-exports", loadFails("command.wasm", Limits{}, "_start")},
	{"exports/_initialize then init then hooks; _start and unknown exports ignored", "ABI.md#guest-exports",
		expectMessage("lifecycle.wasm", Spec{}, abi.HookLogin, imap("bob"), abi.VerdictDone, "")},
	{"exports/init refusal fails the load with its message", "ABI.md#guest-exports", loadFails("abi/init_refuse.wasm", Limits{}, `missing key "servers"`)},
	{"exports/init trap fails the load", "ABI.md#guest-exports", loadFails("abi/init_trap.wasm", Limits{}, "")},
	{"exports/init result other than 0 or 1 fails the load", "ABI.md#guest-exports", loadFails("init_bad_result.wasm", Limits{}, "")},
	{"exports/start function trap fails the load", "ABI.md#overview", loadFails("abi/start_trap.wasm", Limits{}, "")},

	// Hooks and events
	{"hooks/every hook and event is served", "ABI.md#overview", func(c *C) {
		p := c.load(Spec{Wasm: c.fixture("abi/all_hooks.wasm")})
		for _, h := range abi.RequestHooks {
			f := HTTPFields("bob")
			v, err := p.Run(h, f)
			if err != nil || v != abi.VerdictDone || f.Get(abi.FieldMessage) != h.String() {
				c.Errorf("hook %s: verdict %v, error %v, message %q; want Done %q", h, v, err, f.Get(abi.FieldMessage), h)
			}
			if h == abi.HookRoute && f.Get(abi.FieldUpstreams) != "127.0.0.1:1143\x00127.0.0.1:2143" {
				c.Errorf("route: upstreams %q", f.Get(abi.FieldUpstreams))
			}
		}
		for _, e := range abi.Events {
			f := MailFields("imap", "bob")
			f.Values[abi.FieldUpstream] = "127.0.0.1:1143"
			if err := p.Fire(e, f); err != nil {
				c.Errorf("event %s: %v", e, err)
			}
			if !hasLog(p, int32(abi.LevelInfo), e.String()) {
				c.Errorf("event %s did not run: logs\n%s", e, logText(p))
			}
		}
	}},
	{"verdicts/a plugin without the hook is skipped", "ABI.md#overview", func(c *C) {
		p := c.load(Spec{Wasm: c.fixture("abi/version1_9.wasm")}) // serves login only
		f := MailFields("imap", "bob")
		if v, err := p.Run(abi.HookRoute, f); err != nil || v != abi.VerdictContinue {
			c.Errorf("route on a login-only plugin: verdict %v, error %v; want Continue", v, err)
		}
		if err := p.Fire(abi.EventRouteDecided, f); err != nil {
			c.Errorf("an event the plugin does not export: %v", err)
		}
	}},
}, append(append(verdictCases(), boundsCases()...), []abiCase{
	// Memory
	{"memory/size probe, short buffer, exact copy", "ABI.md#memory", func(c *C) {
		f := MailFields("imap", "alice@example.com")
		f.Values[abi.FieldSNI] = ""
		_, v, err := runHook(c, "probe.wasm", Spec{Config: []byte(`{"limit":10}`)}, abi.HookLogin, f)
		if err != nil || v != abi.VerdictDone || f.Get(abi.FieldMessage) != "ok" {
			c.Errorf("verdict %v, error %v, message %q; want Done \"ok\" (the letter names the failed check in testdata/probe.wat)",
				v, err, f.Get(abi.FieldMessage))
		}
	}},
	{"memory/field_get far outside memory traps", "ABI.md#bounds", expectFailure("abi/oob.wasm", Spec{}, "bob")},
	{"memory/field_set crossing the end traps", "ABI.md#bounds", expectFailure("abi/oob_set.wasm", Spec{}, "bob")},

	// Failure policy and limits
	{"failure/trap fails the call and discards writes", "ABI.md#failure-policy", expectFailure("abi/trap.wasm", Spec{}, "bob")},
	{"failure/an endless loop is stopped by the deadline", "ABI.md#limits",
		expectFailure("abi/loop.wasm", Spec{Limits: Limits{CallTimeout: 200 * time.Millisecond}}, "bob")},
	{"failure/memory.grow stops at the page limit", "ABI.md#limits",
		expectFailure("abi/membomb.wasm", Spec{Limits: Limits{MemoryPages: 4}}, "bob")},
	{"limits/a value over MaxFieldBytes is ErrTooLarge, not a trap", "ABI.md#limits",
		expectMessage("abi/huge_output.wasm", Spec{}, abi.HookLogin, imap("bob"), abi.VerdictDone, "")},
	{"limits/log lines are rate-limited", "ABI.md#log", func(c *C) {
		p, v, err := runHook(c, "abi/log_flood.wasm", Spec{}, abi.HookLogin, MailFields("imap", "bob"))
		if err != nil || v != abi.VerdictContinue {
			c.Fatalf("verdict %v, error %v; want Continue", v, err)
		}
		n := 0
		for _, l := range p.Logs() {
			if l.Message == "flood" {
				n++
			}
		}
		if n == 0 || n >= 10000 {
			c.Errorf("%d of 10000 lines were logged; want some, not all", n)
		}
	}},

	// Fields and config
	{"fields/unknown, read-only, not in this hook, not keyed", "ABI.md#fields",
		expectMessage("abi/field_errors.wasm", Spec{}, abi.HookThrottle, imap("bob"), abi.VerdictDone, "-1,-3,-2,-2")},
	{"config_get/returns the configuration", "ABI.md#config_get",
		expectMessage("abi/config_echo.wasm", Spec{Config: []byte(`{"servers":["10.0.0.5:7072"],"n":1}`)}, abi.HookLogin,
			imap("bob"), abi.VerdictDone, `{"servers":["10.0.0.5:7072"],"n":1}`)},
	{"config_get/empty without configuration", "ABI.md#config_get",
		expectMessage("abi/config_echo.wasm", Spec{}, abi.HookLogin, imap("bob"), abi.VerdictDone, "")},

	{"http/response kept until the next call, unknown part, denied call discards it", "ABI.md#http_response_get", func(c *C) {
		f := MailFields("imap", "bob")
		_, v, err := runHook(c, "http_response.wasm", Spec{
			Config:    []byte(c.env.srv.URL + "/ok"),
			HTTPAllow: []string{c.env.hostPort()},
		}, abi.HookLogin, f)
		if err != nil || v != abi.VerdictDone || f.Get(abi.FieldMessage) != "ok" {
			c.Errorf("verdict %v, error %v, message %q; want Done \"ok\" (the letter names the failed check in testdata/http_response.wat)",
				v, err, f.Get(abi.FieldMessage))
		}
	}},

	{"kv/batch refused whole when malformed, results first, cut values", "ABI.md#kv_batch",
		expectMessage("kv_batch.wasm", Spec{}, abi.HookLogin, imap("bob"), abi.VerdictDone, "ok")},

	// Request filters (1.1)
	{"filters/entered for a request inside every filter", "ABI.md#request-filters", filterCase(func() *Fields {
		return HTTPFields("bob") // GET /home/bob/inbox
	}, true)},
	{"filters/entered when a login plugin set the account", "ABI.md#request-filters", filterCase(func() *Fields {
		f := HTTPFields("")
		f.Values[abi.FieldAccount] = "bob"
		return f
	}, true)},
	{"filters/not entered without a login", "ABI.md#request-filters", filterCase(func() *Fields {
		return HTTPFields("")
	}, false)},
	{"filters/not entered for another path", "ABI.md#request-filters", filterCase(func() *Fields {
		f := HTTPFields("bob")
		f.Values[abi.FieldHTTPPath] = "/zimbra/home/"
		return f
	}, false)},
	{"filters/not entered for another method", "ABI.md#request-filters", filterCase(func() *Fields {
		f := HTTPFields("bob")
		f.Values[abi.FieldHTTPMethod] = "DELETE"
		return f
	}, false)},
	{"filters/HTTP filters exclude IMAP", "ABI.md#request-filters", filterCase(func() *Fields {
		return MailFields("imap", "bob")
	}, false)},

	// Key-value store
	{"kv/set get add incr delete", "ABI.md#kv_get", func(c *C) {
		st := c.Target.Store()
		for _, k := range []string{"k", "n"} {
			if err := st.Delete(k); err != nil && !errors.Is(err, abi.ErrNotFound) {
				c.Fatalf("store: delete %s: %v", k, err)
			}
		}
		f := MailFields("imap", "bob")
		_, v, err := runHook(c, "abi/kv.wasm", Spec{}, abi.HookRoute, f)
		if err != nil || v != abi.VerdictDone || f.Get(abi.FieldMessage) != "ok" {
			c.Fatalf("verdict %v, error %v, message %q; want Done \"ok\" (see abi/testdata/README.md for the steps)", v, err, f.Get(abi.FieldMessage))
		}
		if got, err := st.Get("n"); err != nil || string(got) != "3" {
			c.Errorf("store n = %q, %v; want \"3\"", got, err)
		}
		if _, err := st.Get("k"); !errors.Is(err, abi.ErrNotFound) {
			c.Errorf("store k after kv_delete: %v; want not found", err)
		}
	}},
}...)...)

// verdictCases check testdata/verdicts.wat's verdicts at every hook.
func verdictCases() []abiCase {
	var out []abiCase
	for _, h := range abi.RequestHooks {
		h := h
		for _, n := range []int{0, 1, 2, 3} {
			n := n
			out = append(out, abiCase{fmt.Sprintf("verdicts/%s returns %v", h, abi.Verdict(n)), "ABI.md#verdicts", func(c *C) {
				f := HTTPFields(strconv.Itoa(n))
				_, v, err := runHook(c, "verdicts.wasm", Spec{}, h, f)
				if err != nil || v != abi.Verdict(n) {
					c.Errorf("verdict %v, error %v; want %v", v, err, abi.Verdict(n))
				}
				if f.Get(abi.FieldMessage) != "seen" {
					c.Errorf("message %q: the writes of a call with a valid verdict must be kept", f.Get(abi.FieldMessage))
				}
			}})
		}
		for _, bad := range []string{"5", "9", "-"} {
			bad := bad
			out = append(out, abiCase{fmt.Sprintf("verdicts/%s invalid verdict %s fails the call", h, bad), "ABI.md#verdicts",
				func(c *C) {
					f := HTTPFields(bad)
					_, v, err := runHook(c, "verdicts.wasm", Spec{}, h, f)
					if err == nil {
						c.Errorf("verdict %v accepted; an invalid verdict is a failed call", v)
					}
					if f.Get(abi.FieldMessage) != "" {
						c.Errorf("message %q: a failed call's writes must be discarded", f.Get(abi.FieldMessage))
					}
				}})
		}
	}
	out = append(out, abiCase{"verdicts/retry at most MaxRetries times, then TempFail", "ABI.md#verdicts", func(c *C) {
		f := MailFields("imap", "4")
		_, v, _ := runHook(c, "verdicts.wasm", Spec{}, abi.HookLogin, f)
		if v != abi.VerdictTempFail {
			c.Errorf("verdict %v after endless Retry; want TempFail", v)
		}
	}})
	for _, e := range abi.Events {
		e := e
		out = append(out, abiCase{"events/" + e.String() + " is delivered", "ABI.md#events", func(c *C) {
			p := c.load(Spec{Wasm: c.fixture("verdicts.wasm")})
			f := MailFields("imap", "bob")
			f.Values[abi.FieldUpstream] = "10.0.0.5:143"
			if err := p.Fire(e, f); err != nil {
				c.Fatalf("fire %s: %v", e, err)
			}
			if !hasLog(p, int32(abi.LevelInfo), "event") {
				c.Errorf("event export did not run; logs:\n%s", logText(p))
			}
		}})
	}
	return out
}

// filterCase loads testdata/request_filter.wat (only_login, only_paths
// /service/ and /home/, only_methods GET and POST) and runs every hook and
// route_decided on f: entered, every hook must have run (message "seen")
// and the event logged; not entered, nothing may have run.
func filterCase(f func() *Fields, entered bool) func(c *C) {
	return func(c *C) {
		p := c.load(Spec{Wasm: c.fixture("request_filter.wasm")})
		for _, h := range abi.RequestHooks {
			fields := f()
			v, err := p.Run(h, fields)
			if err != nil || v != abi.VerdictContinue {
				c.Fatalf("%s: verdict %v, error %v; want Continue", h, v, err)
			}
			if got := fields.Get(abi.FieldMessage) == "seen"; got != entered {
				c.Errorf("%s: entered %v (message %q), want %v", h, got, fields.Get(abi.FieldMessage), entered)
			}
		}
		if err := p.Fire(abi.EventRouteDecided, f()); err != nil {
			c.Fatalf("route_decided: %v", err)
		}
		if got := hasLog(p, int32(abi.LevelInfo), "event"); got != entered {
			c.Errorf("route_decided entered %v, want %v; logs:\n%s", got, entered, logText(p))
		}
	}
}
