package plugin

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/internal/confdecode"
)

// decodeChainYAML decodes src as plugins.chain of a file in dir.
func decodeChainYAML(t testing.TB, src, dir string) ([]Spec, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	d := confdecode.New("", dir)
	var specs []Spec
	if len(doc.Content) > 0 {
		specs = DecodeChain(d, doc.Content[0], "plugins.chain")
	}
	return specs, d.Err()
}

func TestDecodeChain(t *testing.T) {
	specs, err := decodeChainYAML(t, `
- name: a
  path: a.wasm
  hooks: [login, route]
  on_failure: {route: open}
  http_allow: ["127.0.0.1:7072", "*"]
  on_regression: keep
  regression_watch: {calls: 10, for: 1m}
  limits: {memory_pages: 32, call_timeout: 50ms, instances: 4, memory_high_water: 1MiB, uninterruptible: true}
  config: {k: [1, "x"]}
- {name: b, path: /abs/b.wasm, config: }
`, "/etc/postern")
	if err != nil {
		t.Fatal(err)
	}
	a, b := specs[0], specs[1]
	if a.Path != "/etc/postern/a.wasm" || len(a.Hooks) != 2 || a.OnFailure[abi.HookRoute] != FailOpen || len(a.HTTPAllow) != 2 ||
		a.OnRegression != RegressionKeep || a.RegressionWatch.Calls != 10 || a.RegressionWatch.For != time.Minute || string(a.Config) != `{"k":[1,"x"]}` {
		t.Errorf("a: %+v", a)
	}
	if l := a.Limits; l.MemoryPages != 32 || l.CallTimeout != 50*time.Millisecond || l.Instances != 4 || l.MemoryHighWater != 1<<20 || !l.Uninterruptible {
		t.Errorf("a.limits: %+v", l)
	}
	if b.Path != "/abs/b.wasm" || b.Config != nil {
		t.Errorf("b: %+v", b)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"- {name: a, path: a.wasm}\n- {name: a, path: b.wasm}", `line 2: plugins.chain[1].name: plugin "a" is configured twice (first at line 1)`},
		{"- {path: a.wasm}", "plugins.chain[0]: missing key name"},
		{"- {name: A, path: a.wasm}", `plugins.chain[0].name: "A": use 1 to 64 of a-z`},
		{"- {name: a, path: ''}", "plugins.chain[0].path: empty: give the plugin's .wasm file"},
		{"- {name: a, path: a, hooks: []}", "plugins.chain[0].hooks: empty list"},
		{"- {name: a, path: a, hooks: [login, login]}", "plugins.chain[0].hooks[1]: hook login is listed twice"},
		{"- {name: a, path: a, hooks: [route], on_failure: {login: open}}", "plugins.chain[0].on_failure.login: the plugin does not serve login"},
		{"- {name: a, path: a, http_allow: [\"http://x\"]}", `plugins.chain[0].http_allow[0]: "http://x": want host:port`},
		{"- {name: a, path: a, http_allow: [\"x:0\"]}", `"x:0": the port must be a number from 1 to 65535`},
		{"- {name: a, path: a, limits: {instances: 0}}", "plugins.chain[0].limits.instances: 0: want an integer from 1 to 65536"},
		{"- {name: a, path: a, on_regression: ignore}", "plugins.chain[0].on_regression"},
		{"- {name: a, path: a, config: {1: x}}", "plugins.chain[0].config: plugin config keys must be strings"},
	} {
		if _, err := decodeChainYAML(t, tc.yaml, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.yaml, err, tc.want)
		}
	}
}

// FuzzDecodeChain: no chain panics the decoder; what it accepts has
// unique, valid names and a path for every plugin.
func FuzzDecodeChain(f *testing.F) {
	for _, s := range []string{
		"- {name: a, path: a.wasm, hooks: [login], on_failure: {login: open}}",
		"- {name: a, path: a, limits: {memory_pages: 1, http_response_bytes: 1KiB}, config: {x: [1, ~]}}",
		"- {name: a, path: a}\n- {name: b, path: b, http_allow: ['*']}", "[1]", "- ~", "a: b",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		var doc yaml.Node
		if yaml.Unmarshal([]byte(src), &doc) != nil || len(doc.Content) == 0 {
			return
		}
		d := confdecode.New("", "/etc")
		specs := DecodeChain(d, doc.Content[0], "plugins.chain")
		if d.Err() != nil {
			return
		}
		seen := map[string]bool{}
		for _, s := range specs {
			if !nameRE.MatchString(s.Name) || s.Path == "" || seen[s.Name] {
				t.Fatalf("accepted %+v", s)
			}
			seen[s.Name] = true
		}
	})
}
