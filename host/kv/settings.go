package kv

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/host/internal/confdecode"
	"github.com/postern/postern/host/kv/placement"
)

// DefaultTimeout is store.timeout's default: MemcachedOptions.Timeout's.
const DefaultTimeout = defaultMemcachedTimeout

// Settings is the `store` section of the configuration file: where the
// plugins' key-value store lives. host/config decodes it (Decode); Open
// builds the store.
type Settings struct {
	// Memcached lists the memcached servers (host:port, or the absolute
	// path of a Unix socket) shared by every proxy. Empty means an
	// in-process store that only this process sees.
	Memcached []string
	// Timeout bounds each network step of one memcached operation
	// (default DefaultTimeout).
	Timeout time.Duration
	// Distribution chooses each key's server among several: "crc32"
	// (default), "zimbra-nginx" or "ketama" (package kv/placement).
	Distribution string
	// KeyForm is the key as sent to memcached: "raw" (default) or
	// "sha256" (Zimbra 10.1 and later).
	KeyForm string
}

// DefaultSettings returns the section's defaults: an in-process store,
// DefaultTimeout for memcached.
func DefaultSettings() Settings { return Settings{Timeout: DefaultTimeout} }

// MemcachedOptions returns the memcached options the section describes.
func (s Settings) MemcachedOptions() MemcachedOptions {
	return MemcachedOptions{Timeout: s.Timeout, Distribution: s.Distribution, KeyForm: s.KeyForm}
}

// Open returns the store the section describes: memcached when servers
// are listed, else an in-process store. It does not connect.
func (s Settings) Open() (Store, error) {
	if len(s.Memcached) == 0 {
		return NewMemory(MemoryOptions{}), nil
	}
	st, err := NewMemcached(s.Memcached, s.MemcachedOptions())
	if err != nil {
		return nil, fmt.Errorf("config: store.memcached: %w", err)
	}
	return st, nil
}

// Decode decodes the section at n (key path path, "store") into s.
func (s *Settings) Decode(d *confdecode.Decoder, n *yaml.Node, path string) {
	d.Mapping(n, path,
		confdecode.Key("memcached", func(n *yaml.Node, p string) {
			seen := map[string]bool{}
			d.Sequence(n, p, "host:port", func(n *yaml.Node, p string) {
				var srv string
				if !d.Str(n, p, &srv) {
					return
				}
				if err := checkServer(srv); err != nil {
					d.Errorf(n, p, "%w", err)
				} else if seen[srv] {
					d.Errorf(n, p, "%s is listed twice: remove one", srv)
				} else {
					seen[srv] = true
					s.Memcached = append(s.Memcached, srv)
				}
			})
		}),
		confdecode.Key("timeout", func(n *yaml.Node, p string) { d.Duration(n, p, &s.Timeout) }),
		confdecode.Key("distribution", func(n *yaml.Node, p string) {
			d.OneOf(n, p, &s.Distribution, placement.Names...)
		}),
		confdecode.Key("key_form", func(n *yaml.Node, p string) { d.OneOf(n, p, &s.KeyForm, "raw", "sha256") }),
	)
}

// checkServer accepts host:port or an absolute Unix socket path, as
// NewMemcached does; it resolves nothing.
func checkServer(s string) error {
	if strings.HasPrefix(s, "/") {
		return nil
	}
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" || strings.ContainsAny(host, " \t/") {
		return fmt.Errorf("%q: want host:port (127.0.0.1:11211) or the path of a Unix socket", s)
	}
	if n, err := strconv.ParseUint(port, 10, 16); err != nil || n == 0 {
		return fmt.Errorf("%q: the port must be a number from 1 to 65535", s)
	}
	return nil
}
