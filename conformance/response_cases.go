package conformance

import (
	"math"
	"slices"
	"strings"

	"github.com/postern/postern/abi"
)

// The ABI 1.1 response hook and plugin metrics cases (testdata/response.wat,
// testdata/metrics.wat). They join abiCases, so Run runs them as "abi/...".
func init() { abiCases = append(abiCases, responseCases...) }

// responseFields is an HTTP request answered by a 302 with a Location, a
// Server header and two cookies.
func responseFields(status string) *Fields {
	f := HTTPFields("bob")
	f.Values[abi.FieldUpstream] = "10.0.0.5:8080"
	f.Values[abi.FieldResponseStatus] = status
	f.RespHeader = map[string][]string{
		"Location":   {"http://10.0.0.5:8080/app/login"},
		"Server":     {"backend/1.0"},
		"Set-Cookie": {"a=1; Path=/app", "b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT"},
	}
	return f
}

func joinHeader(h map[string][]string, k string) string { return strings.Join(h[k], "|") }

var responseCases = []abiCase{
	{"response/reads the status and edits the response headers", "ABI.md#response-hook", func(c *C) {
		f := responseFields("302")
		_, v, err := runHook(c, "response.wasm", Spec{}, abi.HookResponse, f)
		if err != nil || v != abi.VerdictDone {
			c.Fatalf("verdict %v, error %v; want Done (100+N: check N of testdata/response.wat failed)", v, err)
		}
		if got := f.Get(abi.FieldMessage); got != "302" {
			c.Errorf("message %q; want the status read from response_status, \"302\"", got)
		}
		want := map[string]string{
			"Location":   "https://mail.example.com/app/login",
			"Set-Cookie": "a=1; Path=/app|b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT|c=3",
			"X-Added":    "yes",
		}
		for k, w := range want {
			if got := joinHeader(f.RespHeader, k); got != w {
				c.Errorf("response header %s = %q; want %q", k, got, w)
			}
		}
		if _, ok := f.RespHeader["Server"]; ok || len(f.RespHeader) != len(want) {
			c.Errorf("response headers %q; want exactly %v (Server deleted)", f.RespHeader, want)
		}
		if _, ok := f.Header["X-Late"]; ok {
			c.Errorf("a request header was written in the response hook")
		}
	}},
	{"response/a failed call's header writes are discarded", "ABI.md#response-hook", func(c *C) {
		f := responseFields("502")
		_, v, err := runHook(c, "response.wasm", Spec{}, abi.HookResponse, f)
		if err == nil {
			c.Fatalf("verdict %v; want a failed call (the fixture traps on a 5xx)", v)
		}
		if _, ok := f.RespHeader["X-Added"]; ok || joinHeader(f.RespHeader, "Server") != "backend/1.0" {
			c.Errorf("response headers after the failed call: %q; want them unchanged", f.RespHeader)
		}
	}},
	{"response/response fields are not available in rewrite", "ABI.md#fields", func(c *C) {
		f := HTTPFields("bob")
		_, v, err := runHook(c, "response.wasm", Spec{}, abi.HookRewrite, f)
		if err != nil || v != abi.VerdictContinue {
			c.Errorf("verdict %v, error %v; want Continue (100+N: check N failed)", v, err)
		}
	}},
	{"response/response_status is not available in a mail session", "ABI.md#fields", func(c *C) {
		f := MailFields("imap", "bob")
		_, v, err := runHook(c, "response.wasm", Spec{}, abi.HookLogin, f)
		if err != nil || v != abi.VerdictContinue {
			c.Errorf("verdict %v, error %v; want Continue (100+N: check N failed)", v, err)
		}
	}},
	{"metrics/declarations in init follow the rules", "ABI.md#plugin-metrics", func(c *C) {
		p := c.load(Spec{Wasm: c.fixture("metrics.wasm")}) // init returns 100+N when check N failed
		mp, ok := p.(MetricsPlugin)
		if !ok {
			return
		}
		m := mp.Metrics()
		g, h := m["queue_len"], m["lookup_seconds"]
		if len(m) != abi.MaxMetrics || m["xn"].Kind != abi.MetricGauge || g.Kind != abi.MetricGauge || g.Help != "Queued requests." ||
			h.Kind != abi.MetricHistogram || h.Help != "Lookup latency." || !slices.Equal(h.Bounds, []float64{0.1, 1}) {
			c.Errorf("declared metrics %+v; want the gauge queue_len, the histogram lookup_seconds (0.1, 1) and the gauges xa..xn", m)
		}
	}},
	{"metrics/gauge set and add, histogram observe", "ABI.md#plugin-metrics", func(c *C) {
		p := c.load(Spec{Wasm: c.fixture("metrics.wasm"), Limits: Limits{Instances: 1}})
		for _, cmd := range []string{"s", "a", "o", "x"} {
			if v, err := p.Run(abi.HookLogin, MailFields("imap", cmd)); err != nil || v != abi.VerdictDone {
				c.Fatalf("command %s: verdict %v, error %v; want Done (100+N: check N failed)", cmd, v, err)
			}
		}
		mp, ok := p.(MetricsPlugin)
		if !ok {
			return
		}
		m := mp.Metrics()
		if g := m["queue_len"]; g.Value != 3.5 {
			c.Errorf("gauge %v; want 2.5 + 1", g.Value)
		}
		h := m["lookup_seconds"]
		if h.Count != 3 || math.Abs(h.Sum-5.55) > 1e-9 || !slices.Equal(h.Buckets, []uint64{1, 2}) {
			c.Errorf("histogram count %d sum %v buckets %v; want 3, 5.55, [1 2] (0.05, 0.5, 5 in le 0.1, le 1)", h.Count, h.Sum, h.Buckets)
		}
	}},
}
