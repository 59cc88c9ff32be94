// Command throttle is Postern's bundled login throttle: Zimbra's per-IP and
// per-user login limits, counted in the shared key-value store so every
// Postern node (and a Zimbra nginx node on the same memcached) counts
// together. See README.md for the configuration.
//
// Build it with `make plugins` (build/wasm/plugins/throttle.wasm).
package main

import (
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/hook/throttle"
)

func main() {} // never called: the host runs init, then the exports

func init() {
	postern.OnInit(configure)
	// Only logins count (check skips a request without one too, for
	// hosts older than ABI 1.1): anonymous requests never enter it.
	postern.OnInit(func([]byte) error { _ = postern.OnlyWithLogin(); return nil })
	throttle.Handle(check)
}
