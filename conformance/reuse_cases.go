package conformance

import (
	"time"

	"github.com/postern/postern/abi"
)

// The ABI 1.2 decision reuse cases (testdata/reuse.wat): reuse_ms is
// written in init only, validated, and read back. They join abiCases, so
// Run runs them as "abi/reuse/...". Whether a host then reuses decisions
// is its web front end's business and not checked here.
func init() { abiCases = append(abiCases, reuseCases...) }

// checkReuse reports a declared reuse other than want, when the target
// can tell (ReusePlugin).
func checkReuse(c *C, p Plugin, want time.Duration) {
	if rp, ok := p.(ReusePlugin); ok {
		if got := rp.Reuse(); got != want {
			c.Errorf("declared reuse %v; want %v", got, want)
		}
	}
}

var reuseCases = []abiCase{
	{"reuse/reuse_ms in init: reads 0, valid values read back, invalid ones are ErrInvalid and change nothing", "ABI.md#decision-reuse", func(c *C) {
		p := c.load(Spec{Wasm: c.fixture("reuse.wasm")}) // init returns 100+N when check N failed
		checkReuse(c, p, 2500*time.Millisecond)
	}},
	{"reuse/reuse_ms with a sign is ErrInvalid", "ABI.md#fields", func(c *C) {
		// decimal: "ASCII digits, no sign"; init returns 101 or 102 when
		// "+5" or "-0" was accepted.
		p := c.load(Spec{Wasm: c.fixture("reuse.wasm"), Config: []byte("s")})
		checkReuse(c, p, 0)
	}},
	{"reuse/a plugin that writes no reuse_ms declares none", "ABI.md#decision-reuse", func(c *C) {
		checkReuse(c, c.load(Spec{Wasm: c.fixture("verdicts.wasm")}), 0)
	}},
	{"reuse/reuse_ms is not available in the hooks; feature abi-1.2 is 1", "ABI.md#access-per-phase", func(c *C) {
		p := c.load(Spec{Wasm: c.fixture("reuse.wasm")})
		for _, h := range abi.RequestHooks {
			f := HTTPFields("bob")
			if v, err := p.Run(h, f); err != nil || v != abi.VerdictDone {
				c.Errorf("%s: verdict %v, error %v; want Done (100+N: check N of testdata/reuse.wat failed)", h, v, err)
			}
		}
		if v, err := p.Run(abi.HookLogin, MailFields("imap", "bob")); err != nil || v != abi.VerdictDone {
			c.Errorf("login, IMAP: verdict %v, error %v; want Done (100+N: check N failed)", v, err)
		}
	}},
	{"reuse/reuse_ms is not available in route_decided", "ABI.md#access-per-phase", func(c *C) {
		p := c.load(Spec{Wasm: c.fixture("reuse.wasm")})
		f := HTTPFields("bob")
		f.Values[abi.FieldUpstream] = "10.0.0.5:8080"
		if err := p.Fire(abi.EventRouteDecided, f); err != nil {
			c.Fatalf("route_decided: %v", err)
		}
		if !hasLog(p, int32(abi.LevelInfo), "event") {
			c.Errorf("route_decided read reuse_ms, or did not run; logs:\n%s", logText(p))
		}
	}},
}
