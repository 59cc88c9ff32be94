// Command route-lookup is Postern's bundled route plugin: it asks a lookup
// service speaking nginx's mail auth_http protocol (Zimbra's
// nginx-lookup servlet) which mailbox server serves a login. See README.md.
//
// This file is the SDK wiring only; the logic is in lookup.go and
// config.go, which compile natively so their tests run with go test.
package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/hook/route"
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
		if err := declareReuse(c.reuse); err != nil {
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

// declareReuse declares the configured decision reuse (ABI 1.2). A host
// before 1.2 answers abi.ErrUnknownField and reuses nothing, which is
// always correct; any other error refuses the configuration.
func declareReuse(d time.Duration) error {
	if err := postern.ReuseDecisions(d); err != nil && !errors.Is(err, abi.ErrUnknownField) {
		return fmt.Errorf("route-lookup: config: reuse: the host refused a reuse of %dms: %w", d.Milliseconds(), err)
	}
	return nil
}
