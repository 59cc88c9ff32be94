// Command tenant-route is an example Postern plugin kept in its own Go
// module (see ../README.md): a route hook that sends a login to the
// upstreams of its domain's tenant, read from the plugin's configuration:
//
//	{"tenants": {"example.com": ["10.0.0.5:143"], "example.org": ["10.0.1.5:143", "10.0.1.6:143"]}}
//
// Logins of other domains are left to later plugins and the static route.
package main

import (
	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/hook/route"
)

func main() {} // never called: the host runs init, then the exports

var table Table

func init() {
	postern.OnInit(func(cfg []byte) error {
		t, err := ParseConfig(cfg)
		if err != nil {
			return err
		}
		table = t
		return nil
	})
	route.Handle(func() postern.Verdict {
		ups := table.Lookup(postern.Account())
		if ups == nil {
			return postern.Continue
		}
		if err := postern.SetUpstreams(ups); err != nil {
			postern.Log(abi.LevelWarn, "tenant-route: upstreams: "+err.Error())
			return postern.Continue
		}
		return postern.Done
	})
}
