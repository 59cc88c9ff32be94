// Command login-normaliser is Postern's bundled login hook plugin: it puts
// the login the client typed into the form the rest of the chain expects
// (lower case, with its domain, aliases resolved, client suffixes such as
// Zimbra's "/tb" moved to the client_suffix field). See README.md.
//
// Build it with `make plugins` (build/wasm/plugins/login-normaliser.wasm).
package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/hook/login"
)

func main() {} // never called: the host runs init, then the exports

func init() {
	postern.OnInit(configure)
	// An empty login has nothing to normalise: anonymous web requests
	// never enter the plugin (ABI 1.1 request filter).
	postern.OnInit(func([]byte) error { _ = postern.OnlyWithLogin(); return nil })
	login.Handle(normaliseLogin)
}

// declareReuse declares the configured decision reuse (ABI 1.2): the
// login's normal form depends only on the login, the SNI and the
// listener, all in the reuse key. A host before 1.2 answers
// abi.ErrUnknownField and reuses nothing, which is always correct; any
// other error refuses the configuration.
func declareReuse(d time.Duration) error {
	if err := postern.ReuseDecisions(d); err != nil && !errors.Is(err, abi.ErrUnknownField) {
		return fmt.Errorf("login-normaliser: config: reuse: the host refused a reuse of %dms: %w", d.Milliseconds(), err)
	}
	return nil
}
