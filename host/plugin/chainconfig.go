package plugin

import (
	"bytes"
	"fmt"
	"net"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/internal/confdecode"
)

// This file decodes the plugins.chain part of the configuration file
// (host/config composes it with plugins.watch and plugins.debounce).

// DecodeChain decodes the plugin chain at n (key path path,
// "plugins.chain"): a list of Specs with unique names. Relative paths are
// resolved by d; every error is recorded in d with its line and key
// path, and a plugin with an error is left out of the result.
func DecodeChain(d *confdecode.Decoder, n *yaml.Node, path string) []Spec {
	var specs []Spec
	names := map[string]int{}
	d.Sequence(n, path, "plugins", func(n *yaml.Node, p string) {
		s, ok := decodeSpec(d, n, p)
		if !ok {
			return
		}
		if first, dup := names[s.Name]; dup {
			d.Errorf(n, p+".name", "plugin %q is configured twice (first at line %d): names must be unique", s.Name, first)
			return
		}
		names[s.Name] = confdecode.Line(n)
		specs = append(specs, s)
	})
	return specs
}

// decodeSpec decodes one entry of plugins.chain and reports whether it
// had no error.
func decodeSpec(d *confdecode.Decoder, n *yaml.Node, path string) (Spec, bool) {
	var s Spec
	before := d.Errors()
	var hasName, hasPath bool
	var hooksLine int
	policyLines := map[abi.Hook]int{}
	d.Mapping(n, path,
		confdecode.Key("name", func(n *yaml.Node, p string) {
			if !d.Str(n, p, &s.Name) {
				return
			}
			hasName = true
			if !nameRE.MatchString(s.Name) {
				d.Errorf(n, p, "%q: use 1 to 64 of a-z, 0-9, _ and -, starting with a letter or digit", s.Name)
			}
		}),
		confdecode.Key("path", func(n *yaml.Node, p string) {
			if !d.Str(n, p, &s.Path) {
				return
			}
			hasPath = true
			if s.Path == "" {
				d.Errorf(n, p, "empty: give the plugin's .wasm file")
				return
			}
			s.Path = d.Path(s.Path)
		}),
		confdecode.Key("hooks", func(n *yaml.Node, p string) {
			hooksLine = confdecode.Line(n)
			d.Sequence(n, p, "hook names", func(n *yaml.Node, p string) {
				var name string
				if !d.Str(n, p, &name) {
					return
				}
				h, err := ParseHook(name)
				if err != nil {
					d.Errorf(n, p, "%w", err)
				} else if slices.Contains(s.Hooks, h) {
					d.Errorf(n, p, "hook %s is listed twice: remove one", h)
				} else {
					s.Hooks = append(s.Hooks, h)
				}
			})
			if len(s.Hooks) == 0 && d.Errors() == before {
				d.Errorf(n, p, "empty list: name at least one hook, or remove the key to serve every hook the plugin exports")
			}
		}),
		confdecode.Key("on_failure", func(n *yaml.Node, p string) {
			fields := make([]confdecode.Field, 0, len(abi.Hooks))
			for _, h := range abi.Hooks {
				fields = append(fields, confdecode.Key(h.String(), func(n *yaml.Node, p string) {
					var v string
					if !d.Str(n, p, &v) {
						return
					}
					pol, err := ParseFailurePolicy(v)
					if err != nil {
						d.Errorf(n, p, "%w", err)
						return
					}
					if s.OnFailure == nil {
						s.OnFailure = map[abi.Hook]FailurePolicy{}
					}
					s.OnFailure[h] = pol
					policyLines[h] = confdecode.Line(n)
				}))
			}
			d.Mapping(n, p, fields...)
		}),
		confdecode.Key("http_allow", func(n *yaml.Node, p string) {
			d.Sequence(n, p, "host:port destinations", func(n *yaml.Node, p string) {
				var a string
				if !d.Str(n, p, &a) {
					return
				}
				if err := checkAllow(a); err != nil {
					d.Errorf(n, p, "%w", err)
					return
				}
				s.HTTPAllow = append(s.HTTPAllow, a)
			})
		}),
		confdecode.Key("limits", func(n *yaml.Node, p string) { s.Limits.Decode(d, n, p) }),
		confdecode.Key("on_regression", func(n *yaml.Node, p string) {
			var v string
			if !d.Str(n, p, &v) {
				return
			}
			pol, err := ParseRegressionPolicy(v)
			if err != nil {
				d.Errorf(n, p, "%w", err)
				return
			}
			s.OnRegression = pol
		}),
		confdecode.Key("regression_watch", func(n *yaml.Node, p string) {
			d.Mapping(n, p,
				confdecode.Key("calls", func(n *yaml.Node, p string) {
					d.Int(n, p, 1, 1<<31-1, func(v int64) { s.RegressionWatch.Calls = v })
				}),
				confdecode.Key("for", func(n *yaml.Node, p string) { d.Duration(n, p, &s.RegressionWatch.For) }),
			)
		}),
		confdecode.Key("config", func(n *yaml.Node, p string) {
			if r := d.Resolve(n); r != nil && r.Kind == yaml.ScalarNode && r.ShortTag() == "!!null" {
				return // `config:` alone: no configuration
			}
			var b bytes.Buffer
			d.JSON(n, p, &b)
			s.Config = b.Bytes()
		}),
	)
	if r := confdecode.Deref(n); r == nil || r.Kind != yaml.MappingNode {
		return s, false
	}
	if !hasName {
		d.Errorf(n, path, "missing key name: every plugin needs a unique name")
	}
	if !hasPath {
		d.Errorf(n, path, "missing key path: give the plugin's .wasm file")
	}
	// A policy for a hook the plugin was told not to serve is a mistake:
	// the operator thinks it applies.
	if len(s.Hooks) > 0 {
		for _, h := range abi.Hooks {
			if l, ok := policyLines[h]; ok && !slices.Contains(s.Hooks, h) {
				d.Errorf(&yaml.Node{Line: l}, path+".on_failure."+h.String(),
					"the plugin does not serve %s (hooks at line %d): remove this or add %s to hooks", h, hooksLine, h)
			}
		}
	}
	return s, d.Errors() == before
}

// checkAllow accepts the http_allow forms the host understands: "*",
// "host" (any port) and "host:port".
func checkAllow(a string) error {
	if a == "*" {
		return nil
	}
	if a == "" || strings.ContainsAny(a, " \t/") || strings.Contains(a, "://") {
		return fmt.Errorf("%q: want host:port (127.0.0.1:7072), a host for any port, or *", a)
	}
	if _, port, err := net.SplitHostPort(a); err == nil {
		if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
			return fmt.Errorf("%q: the port must be a number from 1 to 65535", a)
		}
	}
	return nil
}

// Decode decodes a plugin's limits at n (key path path,
// "plugins.chain[i].limits") into l; keys left out keep their values.
func (l *Limits) Decode(d *confdecode.Decoder, n *yaml.Node, path string) {
	const maxInt32 = 1<<31 - 1
	d.Mapping(n, path,
		confdecode.Key("memory_pages", func(n *yaml.Node, p string) {
			d.Int(n, p, 1, 65536, func(v int64) { l.MemoryPages = uint32(v) })
		}),
		confdecode.Key("call_timeout", func(n *yaml.Node, p string) { d.Duration(n, p, &l.CallTimeout) }),
		confdecode.Key("init_timeout", func(n *yaml.Node, p string) { d.Duration(n, p, &l.InitTimeout) }),
		confdecode.Key("instances", func(n *yaml.Node, p string) {
			d.Int(n, p, 1, 65536, func(v int64) { l.Instances = int(v) })
		}),
		confdecode.Key("max_uses", func(n *yaml.Node, p string) {
			d.Int(n, p, 1, maxInt32, func(v int64) { l.MaxUses = int(v) })
		}),
		confdecode.Key("max_age", func(n *yaml.Node, p string) { d.Duration(n, p, &l.MaxAge) }),
		confdecode.Key("idle_timeout", func(n *yaml.Node, p string) { d.Duration(n, p, &l.IdleTimeout) }),
		confdecode.Key("memory_high_water", func(n *yaml.Node, p string) {
			d.Size(n, p, 1<<32-1, func(v int64) { l.MemoryHighWater = uint32(v) })
		}),
		confdecode.Key("http_response_bytes", func(n *yaml.Node, p string) {
			d.Size(n, p, 1<<30, func(v int64) { l.HTTPResponseBytes = int(v) })
		}),
		confdecode.Key("http_timeout", func(n *yaml.Node, p string) { d.Duration(n, p, &l.HTTPTimeout) }),
		confdecode.Key("log_per_second", func(n *yaml.Node, p string) {
			d.Int(n, p, 1, 1000000, func(v int64) { l.LogPerSecond = int(v) })
		}),
		confdecode.Key("uninterruptible", func(n *yaml.Node, p string) { d.Bool(n, p, &l.Uninterruptible) }),
	)
}
