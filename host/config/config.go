// Package config reads Postern's configuration file, a YAML document
// (see postern.example.yaml at the repository root and
// docs/configuration.md, which list every key with its default), and
// composes its sections.
//
// Each component owns its section: its settings as a plain data type,
// their defaults and checks, and the code that decodes them. This package
// reads the file, hands each section's node to its owner, and makes the
// checks that span sections (a TLS listener needs the tls section):
//
//	admin     host/admin/adminconfig.Settings (alias Admin)
//	mail      host/mail.Settings (alias Mail)
//	web       host/web.Settings (alias Web)
//	tls       host/tlsstore.Settings (alias TLS)
//	store     host/kv.Settings (alias Store)
//	limits    host/connlimit.Settings (alias Limits)
//	plugins   chain: host/plugin.DecodeChain; watch, debounce: here
//	log, shutdown, cache_dir: here (they belong to the process)
//
// Every section is decoded with host/internal/confdecode, so decoding is
// equally strict everywhere: an unknown key, a value of the wrong type, a
// bad duration, size, hook or failure policy is an error that names the
// file, the line and the key path, for instance
//
//	postern.yaml:12: plugins.chain[1].limits.call_timout: unknown key (did you mean call_timeout?)
//
// The live objects a component also needs (certificates, plugin host,
// loggers, limiter) are not configuration: postern run builds them and
// passes them to the component's constructor beside its settings.
//
// The package only parses and validates; it opens no plugin file and
// connects to nothing (OpenStore does not connect either). Loading the
// plugins is host/plugin's job, so a configuration that parses can still
// fail to load (a missing .wasm file, a plugin that refuses its config).
// host/config imports the components whose sections it composes, never
// the admin server (TestImportDirection). This API is not yet stable.
package config

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/host/connlimit"
	"github.com/postern/postern/host/internal/confdecode"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/tlsstore"
)

// Config is a parsed and validated configuration. Defaults are filled in,
// so every field holds the value in effect.
type Config struct {
	// File is the path Load read, "" after Parse.
	File string
	// CacheDir keeps compiled plugins across restarts. Default:
	// os.UserCacheDir()/postern ($XDG_CACHE_HOME/postern on Linux); an
	// explicit "" means no disk cache (plugins compile at every start).
	CacheDir string
	// MaxProcs is how many CPUs may run Go code at once (GOMAXPROCS); 0,
	// the default, leaves Go's choice (the CPUs the process may use, or
	// the GOMAXPROCS environment variable). See MaxProcs in RATIONALE.md:
	// on a host it shares with its backends, fewer than all cores costs
	// less CPU per login.
	MaxProcs int
	// Log says how the process logs.
	Log Log
	// Store says where the plugins' key-value store lives.
	Store Store
	// Watch reloads a plugin when its file changes (default true).
	Watch bool
	// Debounce is the quiet period before a changed file is reloaded
	// (default 250ms).
	Debounce time.Duration
	// Plugins is the plugin chain: its order is the order of every hook
	// chain. Relative paths are already resolved against the directory of
	// the configuration file.
	Plugins []plugin.Spec
	// TLS holds the certificates of every TLS listener.
	TLS TLS
	// Mail configures the IMAP and POP3 front ends (none when it has no
	// listeners).
	Mail Mail
	// Web configures the HTTP and HTTPS front end (none when it has no
	// listeners).
	Web Web
	// Shutdown says how SIGTERM stops the proxy.
	Shutdown Shutdown
	// Limits are the process-wide limits.
	Limits Limits
	// Admin configures the admin API; its zero value is the default.
	Admin Admin
}

// Shutdown is the `shutdown` section.
type Shutdown struct {
	// Announce is how long the proxy keeps serving after SIGTERM with
	// /readyz answering 503, so that load balancers stop sending new
	// connections before the listeners close (default 0).
	Announce time.Duration
	// Grace is how long sessions in flight may finish once the listeners
	// are closed; then they are closed (default 30s).
	Grace time.Duration
}

// Log is the `log` section.
type Log struct {
	// Format is "json" (default) or "text".
	Format string
	// Level is the least severe level logged (default info).
	Level slog.Level
}

// Defaults of the keys whose default is not host/plugin's.
const (
	// DefaultLogFormat is log.format's default.
	DefaultLogFormat = "json"
	// DefaultStoreTimeout is store.timeout's default, kv's own default.
	DefaultStoreTimeout = kv.DefaultTimeout
	// DefaultDebounce is plugins.debounce's default, host/plugin's own.
	DefaultDebounce = 250 * time.Millisecond
)

// Load reads and parses the configuration file at path. Relative plugin
// paths and cache_dir are resolved against the file's directory; errors
// start with path and the line.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	dir, err := filepath.Abs(filepath.Dir(path))
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	c, err := parse(data, dir, path)
	if err != nil {
		return nil, err
	}
	c.File = path
	return c, nil
}

// Parse parses a configuration from data. Relative paths in it are
// resolved against dir (left relative when dir is ""); errors start with
// "line N:".
func Parse(data []byte, dir string) (*Config, error) {
	return parse(data, dir, "")
}

func parse(data []byte, dir, file string) (*Config, error) {
	d := confdecode.New(file, dir)
	c := &Config{
		CacheDir: defaultCacheDir(),
		Log:      Log{Format: DefaultLogFormat, Level: slog.LevelInfo},
		Store:    kv.DefaultSettings(),
		Watch:    true,
		Debounce: DefaultDebounce,
		TLS:      tlsstore.DefaultSettings(),
		Shutdown: Shutdown{Grace: 30 * time.Second},
		Limits:   connlimit.DefaultSettings(),
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	var doc yaml.Node
	if err := dec.Decode(&doc); err == io.EOF {
		return c, nil // an empty file: every default, no plugins
	} else if err != nil {
		d.Syntax(err)
		return nil, d.Err()
	}
	var extra yaml.Node
	if err := dec.Decode(&extra); err != io.EOF {
		if err != nil {
			d.Syntax(err)
		} else {
			d.Errorf(&extra, "", "a second YAML document: keep the configuration in one (remove the ---)")
		}
		return nil, d.Err()
	}
	root := &doc
	if root.Kind == yaml.DocumentNode && len(root.Content) == 1 {
		root = root.Content[0]
	}
	if root.Kind == yaml.ScalarNode && root.ShortTag() == "!!null" {
		return c, nil // only comments
	}
	d.Mapping(root, "",
		confdecode.Key("cache_dir", func(n *yaml.Node, p string) {
			if d.Str(n, p, &c.CacheDir) && c.CacheDir != "" {
				c.CacheDir = d.Path(c.CacheDir)
			}
		}),
		confdecode.Key("max_procs", func(n *yaml.Node, p string) {
			// 0 is Go's choice (every CPU the process may use).
			d.Int(n, p, 0, 4096, func(v int64) { c.MaxProcs = int(v) })
		}),
		confdecode.Key("log", func(n *yaml.Node, p string) { decodeLog(d, n, p, &c.Log) }),
		confdecode.Key("store", func(n *yaml.Node, p string) { c.Store.Decode(d, n, p) }),
		confdecode.Key("plugins", func(n *yaml.Node, p string) {
			d.Mapping(n, p,
				confdecode.Key("watch", func(n *yaml.Node, p string) { d.Bool(n, p, &c.Watch) }),
				confdecode.Key("debounce", func(n *yaml.Node, p string) { d.Duration(n, p, &c.Debounce) }),
				confdecode.Key("chain", func(n *yaml.Node, p string) { c.Plugins = plugin.DecodeChain(d, n, p) }),
			)
		}),
		confdecode.Key("tls", func(n *yaml.Node, p string) { c.TLS.Decode(d, n, p) }),
		confdecode.Key("mail", func(n *yaml.Node, p string) { c.Mail.Decode(d, n, p) }),
		confdecode.Key("web", func(n *yaml.Node, p string) { c.Web.Decode(d, n, p) }),
		confdecode.Key("shutdown", func(n *yaml.Node, p string) {
			d.Mapping(n, p,
				confdecode.Key("announce", func(n *yaml.Node, p string) { d.Duration(n, p, &c.Shutdown.Announce) }),
				confdecode.Key("grace", func(n *yaml.Node, p string) { d.Duration(n, p, &c.Shutdown.Grace) }),
			)
		}),
		confdecode.Key("limits", func(n *yaml.Node, p string) { c.Limits.Decode(d, n, p) }),
		confdecode.Key("admin", func(n *yaml.Node, p string) { c.Admin.Decode(d, n, p) }),
	)
	if err := d.Err(); err != nil {
		return nil, err
	}
	if c.Mail.Enabled() {
		// Certificates are loaded later (OpenTLS); a placeholder lets
		// Validate check that TLS listeners have some.
		m := c.Mail.Config
		if c.TLS.Configured() {
			m.TLS = &tls.Config{}
		}
		if err := m.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", orFile(file), err)
		}
	}
	if c.Web.Enabled() {
		if err := c.Web.Validate(); err != nil {
			return nil, fmt.Errorf("%s: %w", orFile(file), err)
		}
		for _, l := range c.Web.Listeners {
			if l.TLS && !c.TLS.Configured() {
				return nil, fmt.Errorf("%s: web listener %s has tls: true but the tls section lists no certificate", orFile(file), l.Name)
			}
		}
	}
	return c, nil
}

func orFile(file string) string {
	if file == "" {
		return "config"
	}
	return file
}

func decodeLog(d *confdecode.Decoder, n *yaml.Node, path string, l *Log) {
	d.Mapping(n, path,
		confdecode.Key("format", func(n *yaml.Node, p string) {
			var s string
			if !d.Str(n, p, &s) {
				return
			}
			if s != "json" && s != "text" {
				d.Errorf(n, p, "%q: want json or text", s)
				return
			}
			l.Format = s
		}),
		confdecode.Key("level", func(n *yaml.Node, p string) {
			var s string
			if !d.Str(n, p, &s) {
				return
			}
			lv, ok := levels[s]
			if !ok {
				d.Errorf(n, p, "%q: want debug, info, warn or error", s)
				return
			}
			l.Level = lv
		}),
	)
}

var levels = map[string]slog.Level{
	"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError,
}

func defaultCacheDir() string {
	d, err := os.UserCacheDir()
	if err != nil {
		return "" // no home: compile in memory only
	}
	return filepath.Join(d, "postern")
}

// Logger returns the logger the `log` section describes, writing to w.
func (c *Config) Logger(w io.Writer) *slog.Logger {
	o := &slog.HandlerOptions{Level: c.Log.Level}
	if c.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, o))
	}
	return slog.New(slog.NewJSONHandler(w, o))
}

// OpenStore returns the store the `store` section describes: memcached
// when servers are listed, else an in-process store. It does not connect.
// The caller closes it after closing the plugin host.
func (c *Config) OpenStore() (kv.Store, error) {
	return c.Store.Open()
}

// HostOptions returns the plugin host's options for this configuration,
// with the logger and store the caller built (Logger, OpenStore).
func (c *Config) HostOptions(log *slog.Logger, store kv.Store) plugin.Options {
	return plugin.Options{
		Store:    store,
		Logger:   log,
		CacheDir: c.CacheDir,
		Watch:    c.Watch,
		Debounce: c.Debounce,
	}
}
