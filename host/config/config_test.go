package config

import (
	"bytes"
	"log/slog"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugin"
)

func TestLoad_Good(t *testing.T) {
	t.Setenv("XDG_CACHE_HOME", "/xdg-cache")
	dir, err := filepath.Abs("testdata")
	if err != nil {
		t.Fatal(err)
	}
	small := plugin.Limits{
		MemoryPages: 16, CallTimeout: 20 * time.Millisecond, InitTimeout: time.Second,
		Instances: 4, MaxUses: 100, MaxAge: time.Minute, MemoryHighWater: 512 << 10,
		HTTPResponseBytes: 4096, HTTPTimeout: 2 * time.Second, LogPerSecond: 5, Uninterruptible: true,
	}
	defaultCache := ""
	if runtime.GOOS == "linux" {
		defaultCache = "/xdg-cache/postern"
	}
	tests := []struct {
		name string
		file string
		want Config
	}{
		{
			name: "full",
			file: "good_full.yaml",
			want: Config{
				CacheDir: filepath.Join(dir, "cache"),
				MaxProcs: 1,
				Log:      Log{Format: "text", Level: slog.LevelDebug},
				Store:    Store{Memcached: []string{"127.0.0.1:11211", "/run/memcached.sock"}, Timeout: 50 * time.Millisecond},
				Watch:    false,
				Debounce: time.Second,
				TLS:      TLS{Watch: true},
				Shutdown: Shutdown{Grace: 30 * time.Second},
				Limits:   Limits{MaxSessions: 20000},
				Plugins: []plugin.Spec{
					{
						Name:      "throttle",
						Path:      "/opt/postern/throttle.wasm",
						Hooks:     []abi.Hook{abi.HookThrottle},
						OnFailure: map[abi.Hook]plugin.FailurePolicy{abi.HookThrottle: plugin.FailClosed},
						Limits:    small,
						Config:    []byte(`{"limit":10,"window":"60s","allow":["10.0.0.0/8"],"ratio":0.5,"strict":true,"note":null}`),
					},
					{
						Name:      "route-lookup",
						Path:      filepath.Join(dir, "plugins/route-lookup.wasm"),
						Hooks:     []abi.Hook{abi.HookLogin, abi.HookRoute},
						OnFailure: map[abi.Hook]plugin.FailurePolicy{abi.HookLogin: plugin.FailOpen, abi.HookRoute: plugin.FailClosed},
						HTTPAllow: []string{"127.0.0.1:7072", "lookup.example.org", "[::1]:8080"},
						Limits:    small,
						Config:    []byte(`{"servers":["http://127.0.0.1:7072/service/extension/nginx-lookup"]}`),
					},
				},
			},
		},
		{
			name: "comments only",
			file: "good_empty.yaml",
			want: Config{
				CacheDir: defaultCache,
				Log:      Log{Format: "json", Level: slog.LevelInfo},
				Store:    Store{Timeout: 100 * time.Millisecond},
				Watch:    true,
				Debounce: 250 * time.Millisecond,
				TLS:      TLS{Watch: true},
				Shutdown: Shutdown{Grace: 30 * time.Second},
				Limits:   Limits{MaxSessions: 20000},
			},
		},
		{
			name: "minimal plugin",
			file: "good_minimal.yaml",
			want: Config{
				CacheDir: defaultCache,
				Log:      Log{Format: "json", Level: slog.LevelInfo},
				Store:    Store{Timeout: 100 * time.Millisecond},
				Watch:    true,
				Debounce: 250 * time.Millisecond,
				TLS:      TLS{Watch: true},
				Shutdown: Shutdown{Grace: 30 * time.Second},
				Limits:   Limits{MaxSessions: 20000},
				Plugins:  []plugin.Spec{{Name: "all", Path: filepath.Join(dir, "all_hooks.wasm")}},
			},
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join("testdata", tc.file)
			got, err := Load(path)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.File = path
			if !reflect.DeepEqual(*got, tc.want) {
				t.Errorf("Load(%s) =\n%+v\nwant\n%+v", path, *got, tc.want)
			}
		})
	}
}

func TestLoad_Bad(t *testing.T) {
	tests := []struct {
		file string
		want string // the whole error, one line per problem
	}{
		{"bad_unknown_key.yaml", "testdata/bad_unknown_key.yaml:8: plugins.chain[1].limits.call_timout: unknown key (did you mean call_timeout?)"},
		{"bad_unknown_top.yaml", "testdata/bad_unknown_top.yaml:1: plugin: unknown key (did you mean plugins?)"},
		{"bad_unknown_far.yaml", "testdata/bad_unknown_far.yaml:1: listeners: unknown key; known keys: cache_dir, max_procs, log, store, plugins, tls, mail, web, shutdown, limits, admin"},
		{"bad_duration_unit.yaml", "testdata/bad_duration_unit.yaml:5: plugins.chain[0].limits.call_timeout: 500: a duration needs a unit: write e.g. 500ms or 500s"},
		{"bad_duration_text.yaml", `testdata/bad_duration_text.yaml:2: plugins.debounce: "ten minutes" is not a duration: write e.g. 500ms, 15s or 10m`},
		{"bad_duration_negative.yaml", "testdata/bad_duration_negative.yaml:2: store.timeout: -1s: must be positive; remove the key for the default"},
		{"bad_size.yaml", `testdata/bad_size.yaml:6: plugins.chain[0].limits.memory_high_water: "32MB" is not a size: write bytes as an integer or with a unit: 64KiB, 32MiB, 1GiB (did you mean 32MiB?)`},
		{"bad_memory_pages.yaml", "testdata/bad_memory_pages.yaml:6: plugins.chain[0].limits.memory_pages: 70000: want an integer from 1 to 65536"},
		{"bad_hook.yaml", `testdata/bad_hook.yaml:5: plugins.chain[0].hooks[1]: hook "rout": want login, throttle, route, rewrite or response`},
		{"bad_policy.yaml", `testdata/bad_policy.yaml:5: plugins.chain[0].on_failure.route: failure policy "shut": want "open" or "closed"`},
		{"bad_policy_hook.yaml", "testdata/bad_policy_hook.yaml:8: plugins.chain[0].on_failure.login: the plugin does not serve login (hooks at line 5): remove this or add login to hooks"},
		{"bad_config_key.yaml", "testdata/bad_config_key.yaml:7: plugins.chain[0].config.ports: plugin config keys must be strings, not the integer 1: quote it"},
		{"bad_config_inf.yaml", "testdata/bad_config_inf.yaml:5: plugins.chain[0].config.ratio: .inf: JSON has no such number; quote it to pass a string"},
		{"bad_duplicate_name.yaml", `testdata/bad_duplicate_name.yaml:5: plugins.chain[1].name: plugin "p" is configured twice (first at line 3): names must be unique`},
		{"bad_duplicate_key.yaml", "testdata/bad_duplicate_key.yaml:3: log.level: duplicate key (first at line 2): remove one"},
		{"bad_missing.yaml", "testdata/bad_missing.yaml:3: plugins.chain[0]: missing key name: every plugin needs a unique name\n" +
			"testdata/bad_missing.yaml:3: plugins.chain[0]: missing key path: give the plugin's .wasm file"},
		{"bad_name.yaml", `testdata/bad_name.yaml:3: plugins.chain[0].name: "Route_Lookup": use 1 to 64 of a-z, 0-9, _ and -, starting with a letter or digit`},
		{"bad_syntax.yaml", "testdata/bad_syntax.yaml:2: YAML syntax: did not find expected key"},
		{"bad_log.yaml", `testdata/bad_log.yaml:1: log.format: "xml": want json or text` + "\n" +
			`testdata/bad_log.yaml:1: log.level: "verbose": want debug, info, warn or error`},
		{"bad_memcached.yaml", `testdata/bad_memcached.yaml:2: store.memcached[0]: "localhost": want host:port (127.0.0.1:11211) or the path of a Unix socket` + "\n" +
			`testdata/bad_memcached.yaml:2: store.memcached[1]: "127.0.0.1:0": the port must be a number from 1 to 65535`},
		{"bad_store_placement.yaml", `testdata/bad_store_placement.yaml:3: store.distribution: "consistent": want one of [crc32 zimbra-nginx ketama]` + "\n" +
			`testdata/bad_store_placement.yaml:4: store.key_form: "md5": want one of [raw sha256]`},
		{"bad_type.yaml", `testdata/bad_type.yaml:2: plugins.watch: want true or false, got the string "yes"` + "\n" +
			"testdata/bad_type.yaml:4: plugins.chain: want a list of plugins, got a mapping"},
		{"bad_null.yaml", "testdata/bad_null.yaml:2: plugins.debounce: no value: give one or remove the key for the default"},
		{"bad_two_docs.yaml", "testdata/bad_two_docs.yaml:2: a second YAML document: keep the configuration in one (remove the ---)"},
		{"bad_http_allow.yaml", `testdata/bad_http_allow.yaml:5: plugins.chain[0].http_allow[0]: "http://127.0.0.1:7072/": want host:port (127.0.0.1:7072), a host for any port, or *` + "\n" +
			`testdata/bad_http_allow.yaml:5: plugins.chain[0].http_allow[1]: "127.0.0.1:99999": the port must be a number from 1 to 65535`},
		{"bad_max_procs.yaml", "testdata/bad_max_procs.yaml:2: max_procs: -2: want an integer from 0 to 4096"},
		{"bad_root.yaml", "testdata/bad_root.yaml:1: want a mapping of keys (cache_dir, max_procs, log, store, plugins, tls, mail, web, shutdown, limits, admin), got a list"},
	}
	seen := map[string]bool{}
	for _, tc := range tests {
		seen[tc.file] = true
		t.Run(strings.TrimSuffix(tc.file, ".yaml"), func(t *testing.T) {
			_, err := Load(filepath.Join("testdata", tc.file))
			if err == nil {
				t.Fatalf("Load succeeded; want error\n%s", tc.want)
			}
			if err.Error() != tc.want {
				t.Errorf("error:\n%s\nwant:\n%s", err, tc.want)
			}
		})
	}
	bad, _ := filepath.Glob("testdata/bad_*.yaml")
	for _, f := range bad {
		if !seen[filepath.Base(f)] {
			t.Errorf("%s has no entry in this table", f)
		}
	}
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		yaml    string
		dir     string
		check   func(*Config) bool
		wantErr string
	}{
		{
			name: "store placement",
			yaml: "store: {memcached: [\"127.0.0.1:11211\", \"127.0.0.1:11212\"], distribution: zimbra-nginx, key_form: sha256}",
			check: func(c *Config) bool {
				o := c.Store.MemcachedOptions()
				return o.Distribution == "zimbra-nginx" && o.KeyForm == "sha256" && o.Timeout == DefaultStoreTimeout
			},
		},
		{
			name:  "store placement defaults",
			yaml:  "store: {memcached: [\"127.0.0.1:11211\"]}",
			check: func(c *Config) bool { return c.Store.Distribution == "" && c.Store.KeyForm == "" },
		},
		{
			name:  "relative path without dir stays relative",
			yaml:  "plugins: {chain: [{name: a, path: a.wasm}]}",
			check: func(c *Config) bool { return c.Plugins[0].Path == "a.wasm" },
		},
		{
			name:  "relative path joins dir",
			yaml:  "plugins: {chain: [{name: a, path: x/a.wasm}]}",
			dir:   "/etc/postern",
			check: func(c *Config) bool { return c.Plugins[0].Path == "/etc/postern/x/a.wasm" },
		},
		{
			name:  "empty cache_dir disables the disk cache",
			yaml:  `cache_dir: ""`,
			dir:   "/etc/postern",
			check: func(c *Config) bool { return c.CacheDir == "" },
		},
		{
			name: "sizes as integers and with units",
			yaml: "plugins: {chain: [{name: a, path: a, limits: {memory_high_water: 1GiB, http_response_bytes: 1024B}}]}",
			check: func(c *Config) bool {
				l := c.Plugins[0].Limits
				return l.MemoryHighWater == 1<<30 && l.HTTPResponseBytes == 1024
			},
		},
		{
			name:  "config null means no config",
			yaml:  "plugins: {chain: [{name: a, path: a, config: }]}",
			check: func(c *Config) bool { return c.Plugins[0].Config == nil },
		},
		{
			name:  "config scalar",
			yaml:  "plugins: {chain: [{name: a, path: a, config: 'hello'}]}",
			check: func(c *Config) bool { return string(c.Plugins[0].Config) == `"hello"` },
		},
		{
			name: "config keeps key order and expands aliases",
			yaml: "plugins: {chain: [{name: a, path: a, config: {z: 1, a: &x [1, {k: v}], b: *x, big: 18446744073709551615}}]}",
			check: func(c *Config) bool {
				return string(c.Plugins[0].Config) == `{"z":1,"a":[1,{"k":"v"}],"b":[1,{"k":"v"}],"big":18446744073709551615}`
			},
		},
		{
			name:    "errors without a file name",
			yaml:    "log: {level: loud}",
			wantErr: `line 1: log.level: "loud": want debug, info, warn or error`,
		},
		{
			name:    "on_failure hook typo",
			yaml:    "plugins: {chain: [{name: a, path: a, on_failure: {rout: open}}]}",
			wantErr: `line 1: plugins.chain[0].on_failure.rout: unknown key (did you mean route?)`,
		},
		{
			name:    "empty hooks list",
			yaml:    "plugins: {chain: [{name: a, path: a, hooks: []}]}",
			wantErr: `line 1: plugins.chain[0].hooks: empty list: name at least one hook, or remove the key to serve every hook the plugin exports`,
		},
		{
			name:    "duplicate hook",
			yaml:    "plugins: {chain: [{name: a, path: a, hooks: [route, route]}]}",
			wantErr: `line 1: plugins.chain[0].hooks[1]: hook route is listed twice: remove one`,
		},
		{
			name:    "zero instances",
			yaml:    "plugins: {chain: [{name: a, path: a, limits: {instances: 0}}]}",
			wantErr: `line 1: plugins.chain[0].limits.instances: 0: want an integer from 1 to 65536`,
		},
		{
			name:    "size too big for memory_high_water",
			yaml:    "plugins: {chain: [{name: a, path: a, limits: {memory_high_water: 4GiB}}]}",
			wantErr: `line 1: plugins.chain[0].limits.memory_high_water: 4GiB: want 1 to 4294967295 bytes`,
		},
		{
			name:    "integer key in a strict mapping",
			yaml:    "log: {1: json}",
			wantErr: `line 1: log: a key must be a string, not the integer 1: keys here are format, level`,
		},
		{
			name:    "alias bomb",
			yaml:    aliasBomb(),
			wantErr: "more than 100000 YAML nodes after expanding aliases: simplify the file",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), tc.dir)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v; want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !tc.check(c) {
				t.Errorf("unexpected config %+v", c)
			}
		})
	}
}

// aliasBomb is a plugin config that expands to 10^9 nodes.
func aliasBomb() string {
	var b strings.Builder
	b.WriteString("plugins:\n  chain:\n    - name: a\n      path: a\n      config:\n")
	b.WriteString("        a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n")
	for i := 1; i < 9; i++ {
		b.WriteString("        a" + string(rune('0'+i)) + ": &a" + string(rune('0'+i)) + " [")
		for j := 0; j < 10; j++ {
			if j > 0 {
				b.WriteString(", ")
			}
			b.WriteString("*a" + string(rune('0'+i-1)))
		}
		b.WriteString("]\n")
	}
	return b.String()
}

func TestExampleConfig(t *testing.T) {
	c, err := Load("../../postern.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Plugins) != 1 || c.Plugins[0].Name != "route-lookup" {
		t.Fatalf("plugins = %+v; want route-lookup only", c.Plugins)
	}
	// The example's limits are documented as the defaults: keep them so.
	want := plugin.Limits{
		MemoryPages: 1024, CallTimeout: 500 * time.Millisecond, InitTimeout: 5 * time.Second,
		Instances: 16, MaxUses: 10000, MaxAge: 10 * time.Minute, IdleTimeout: 30 * time.Second, MemoryHighWater: 32 << 20,
		HTTPResponseBytes: 64 << 10, HTTPTimeout: 15 * time.Second, LogPerSecond: 50,
	}
	if c.Plugins[0].Limits != want {
		t.Errorf("example limits %+v; want the defaults %+v", c.Plugins[0].Limits, want)
	}
	if c.Log != (Log{Format: DefaultLogFormat, Level: slog.LevelInfo}) || c.Store.Timeout != DefaultStoreTimeout ||
		c.Debounce != DefaultDebounce || !c.Watch {
		t.Errorf("example does not show the defaults: %+v", c)
	}
}

func TestConfig_Logger(t *testing.T) {
	for _, format := range []string{"json", "text"} {
		var buf bytes.Buffer
		c := &Config{Log: Log{Format: format, Level: slog.LevelWarn}}
		l := c.Logger(&buf)
		l.Info("hidden")
		l.Warn("shown")
		out := buf.String()
		if strings.Contains(out, "hidden") || !strings.Contains(out, "shown") {
			t.Errorf("%s: %q", format, out)
		}
		if (format == "json") != strings.HasPrefix(out, "{") {
			t.Errorf("%s: %q", format, out)
		}
	}
}

func TestConfig_OpenStore(t *testing.T) {
	c := &Config{}
	s, err := c.OpenStore()
	if err != nil || s.Shared() {
		t.Fatalf("in-process store: %v, shared %v", err, s != nil && s.Shared())
	}
	s.Close()
	c.Store = Store{Memcached: []string{"127.0.0.1:11211"}, Timeout: time.Millisecond}
	s, err = c.OpenStore()
	if err != nil || !s.Shared() {
		t.Fatalf("memcached store: %v", err)
	}
	s.Close()
}
