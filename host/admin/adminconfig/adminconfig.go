// Package adminconfig is the admin API's section of the configuration
// file: its settings as data, their defaults and their checks. It is
// apart from host/admin so that host/config, which composes the
// sections, need not import the admin server (which sits above the
// configuration: it serves the running proxy and its reloads).
package adminconfig

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/host/internal/confdecode"
)

// DefaultAddress is where the admin server listens unless configured.
const DefaultAddress = "127.0.0.1:9090"

// IsLoopback reports whether addr ("host:port") binds loopback only:
// 127.0.0.0/8, ::1 or "localhost". An empty host (all interfaces) is not.
func IsLoopback(addr string) (bool, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false, fmt.Errorf("admin: address %q: want host:port, such as %s", addr, DefaultAddress)
	}
	return LoopbackHost(host), nil
}

// LoopbackHost reports whether a listen host ("127.0.0.1", "::1",
// "localhost") binds loopback only.
func LoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// Settings is the `admin` section of the configuration file, as data:
// host/config decodes it (Decode), and postern run turns it into
// admin.Options with the live parts (the reload function, the logger).
//
// The zero value is the default: enabled on DefaultAddress
// (127.0.0.1:9090) without a token. Address stays "" until the file sets
// it; use Addr for the address in effect.
type Settings struct {
	// Disabled turns the admin server off (admin.enabled: false).
	Disabled bool
	// Address is the "host:port" the file gave; "" means the default.
	// Port 0 picks any free port (tests).
	Address string
	// Token is the bearer token. Required when the address is not
	// loopback; when set, POST endpoints always require it.
	Token string
	// Refresh makes the status page reload itself this often (default
	// off; at least 1s).
	Refresh time.Duration
}

// Addr returns the address in effect: Address, or DefaultAddress.
func (s Settings) Addr() string {
	if s.Address == "" {
		return DefaultAddress
	}
	return s.Address
}

// Explicit reports whether the file chose the address. postern run
// treats a busy default port as a warning but a busy chosen one as fatal.
func (s Settings) Explicit() bool { return s.Address != "" }

// Decode decodes the section at n (key path path, "admin") into s and
// checks it: a malformed address, a short token, a refresh under a
// second, and a non-loopback address without a token are errors recorded
// in d. The token is never part of an error.
func (s *Settings) Decode(d *confdecode.Decoder, n *yaml.Node, path string) {
	var addrNode *yaml.Node
	before := d.Errors()
	d.Mapping(n, path,
		confdecode.Key("enabled", func(n *yaml.Node, p string) {
			on := true
			d.Bool(n, p, &on)
			s.Disabled = !on
		}),
		confdecode.Key("address", func(n *yaml.Node, p string) {
			if !d.Str(n, p, &s.Address) {
				return
			}
			addrNode = n
			_, port, err := net.SplitHostPort(s.Address)
			if err != nil {
				d.Errorf(n, p, "%q: want host:port, such as %s", s.Address, DefaultAddress)
				return
			}
			if _, err := strconv.ParseUint(port, 10, 16); err != nil {
				d.Errorf(n, p, "%q: the port must be a number from 0 (any free port) to 65535", s.Address)
			}
		}),
		confdecode.Key("token", func(n *yaml.Node, p string) {
			if d.Str(n, p, &s.Token) && s.Token != "" && len(s.Token) < 16 {
				// Never echo the token itself.
				d.Errorf(n, p, "too short (%d characters): use at least 16 random characters, e.g. `openssl rand -hex 24`", len(s.Token))
			}
		}),
		confdecode.Key("refresh", func(n *yaml.Node, p string) {
			d.Duration(n, p, &s.Refresh)
			if s.Refresh > 0 && s.Refresh < time.Second {
				d.Errorf(n, p, "%s: use at least 1s, or remove the key for no refresh", s.Refresh)
			}
		}),
	)
	if s.Disabled || d.Errors() > before {
		return
	}
	if loop, err := IsLoopback(s.Addr()); err == nil && !loop && s.Token == "" {
		at := addrNode
		if at == nil {
			at = n
		}
		d.Errorf(at, path+".address", "%s is not a loopback address: set admin.token (a bearer token) or bind 127.0.0.1", s.Addr())
	}
}
