package config

import (
	"net"
	"strconv"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/host/admin"
	"github.com/postern/postern/host/internal/confdecode"
)

// Admin is the `admin` section: the operator HTTP API (health, readiness,
// Prometheus metrics, plugins, reload, route purge, status page).
//
// The zero value is the default: enabled on admin.DefaultAddress
// (127.0.0.1:9090) without a token. Address stays "" until the file sets
// it; use Addr for the address in effect.
type Admin struct {
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

// Addr returns the address in effect: Address, or admin.DefaultAddress.
func (a Admin) Addr() string {
	if a.Address == "" {
		return admin.DefaultAddress
	}
	return a.Address
}

// Explicit reports whether the file chose the address. postern run
// treats a busy default port as a warning but a busy chosen one as fatal.
func (a Admin) Explicit() bool { return a.Address != "" }

func decodeAdmin(d *confdecode.Decoder, n *yaml.Node, path string, a *Admin) {
	var addrNode *yaml.Node
	before := d.Errors()
	d.Mapping(n, path,
		confdecode.Key("enabled", func(n *yaml.Node, p string) {
			on := true
			d.Bool(n, p, &on)
			a.Disabled = !on
		}),
		confdecode.Key("address", func(n *yaml.Node, p string) {
			if !d.Str(n, p, &a.Address) {
				return
			}
			addrNode = n
			_, port, err := net.SplitHostPort(a.Address)
			if err != nil {
				d.Errorf(n, p, "%q: want host:port, such as %s", a.Address, admin.DefaultAddress)
				return
			}
			if _, err := strconv.ParseUint(port, 10, 16); err != nil {
				d.Errorf(n, p, "%q: the port must be a number from 0 (any free port) to 65535", a.Address)
			}
		}),
		confdecode.Key("token", func(n *yaml.Node, p string) {
			if d.Str(n, p, &a.Token) && a.Token != "" && len(a.Token) < 16 {
				// Never echo the token itself.
				d.Errorf(n, p, "too short (%d characters): use at least 16 random characters, e.g. `openssl rand -hex 24`", len(a.Token))
			}
		}),
		confdecode.Key("refresh", func(n *yaml.Node, p string) {
			d.Duration(n, p, &a.Refresh)
			if a.Refresh > 0 && a.Refresh < time.Second {
				d.Errorf(n, p, "%s: use at least 1s, or remove the key for no refresh", a.Refresh)
			}
		}),
	)
	if a.Disabled || d.Errors() > before {
		return
	}
	if loop, err := admin.IsLoopback(a.Addr()); err == nil && !loop && a.Token == "" {
		at := addrNode
		if at == nil {
			at = n
		}
		d.Errorf(at, path+".address", "%s is not a loopback address: set admin.token (a bearer token) or bind 127.0.0.1", a.Addr())
	}
}
