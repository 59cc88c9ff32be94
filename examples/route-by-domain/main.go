// Command route-by-domain is an example route plugin for multi-tenant
// hosting: it sends each login to the mailbox servers of its domain, from
// a table in the plugin's configuration. See README.md.
//
// Build it with `make plugins` (build/wasm/examples/route-by-domain.wasm).
package main

import (
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/hook/route"
)

func main() {} // never called: the host runs init, then the exports

// table is the configuration, parsed once per instance by init.
var table *Table

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
		ups, refuse := table.Route(postern.Protocol(), postern.Account(), postern.HTTPHost())
		switch {
		case refuse:
			postern.CounterAdd("unknown_domain", 1)
			return postern.Refuse(table.Message)
		case ups == nil:
			return postern.Continue // the static route (or a later plugin) decides
		}
		if err := postern.SetUpstreams(ups); err != nil {
			return postern.TempFail("")
		}
		return postern.Done
	})
}
