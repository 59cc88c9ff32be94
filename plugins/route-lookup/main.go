// Command route-lookup is Postern's bundled route plugin: it asks a lookup
// service speaking nginx's mail auth_http protocol (Zimbra's
// nginx-lookup servlet) which mailbox server serves a login. See README.md.
//
// This file is the SDK wiring only; the logic is in lookup.go and
// config.go, which compile natively so their tests run with go test.
package main

import (
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/hook/route"
	"github.com/postern/postern/plugins/internal/duration"
)

func main() {} // never called: the host runs init, then the exports

// state is this instance's lookup state, built by init from the config.
var state *lookup

func init() {
	postern.OnInit(func(cfg []byte) error {
		c, err := parseConfig(cfg)
		if err != nil {
			return err
		}
		state = newLookup(c)
		if err := declareMetrics(); err != nil {
			return err
		}
		if err := duration.DeclareReuse("route-lookup", c.reuse); err != nil {
			return err
		}
		// Nothing to look up without a login (route skips an empty account
		// itself on hosts older than ABI 1.1), unless a web request
		// without one may carry an auth token.
		if !c.zimbraID {
			_ = postern.OnlyWithLogin()
		}
		if c.sendPassword {
			// The lookup service sees the password and refuses a wrong
			// one: this plugin can vouch for passwords (ABI 1.1).
			_ = postern.SetPasswordVerified(true)
		}
		return nil
	})
	route.Handle(func() postern.Verdict { return state.route() })
}
