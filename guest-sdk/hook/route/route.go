// Package route registers a plugin's handler for the route hook. Importing
// it makes the plugin export postern_hook_route, so the host runs the plugin
// at this hook; a plugin that does not import it is never called here.
//
// The handler chooses the upstreams (postern.SetUpstreams) and optionally the credentials used upstream; Done stops the route chain.
package route

import (
	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/internal/registry"
)

// Handle makes fn the plugin's route hook, replacing any earlier handler.
// Call it from a func init. Until it is called the hook answers Continue.
// A panic in fn is not recovered: the call traps, and the host counts it
// and applies the plugin's failure policy.
func Handle(fn func() postern.Verdict) { registry.SetHook(abi.HookRoute, fn) }
