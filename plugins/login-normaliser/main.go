// Command login-normaliser is Postern's bundled login hook plugin: it puts
// the login the client typed into the form the rest of the chain expects
// (lower case, with its domain, aliases resolved, client suffixes such as
// Zimbra's "/tb" moved to the client_suffix field). See README.md.
//
// Build it with `make plugins` (build/wasm/plugins/login-normaliser.wasm).
package main

import (
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
