// Package throttle registers a plugin's handler for the throttle hook. Importing
// it makes the plugin export postern_hook_throttle, so the host runs the plugin
// at this hook; a plugin that does not import it is never called here.
//
// The handler allows (Continue or Done), delays (postern.SetDelay, then Continue or Done) or refuses (postern.Refuse; an HTTP client sees 429).
package throttle

import (
	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/internal/registry"
)

// Handle makes fn the plugin's throttle hook, replacing any earlier handler.
// Call it from a func init. Until it is called the hook answers Continue.
// A panic in fn is not recovered: the call traps, and the host counts it
// and applies the plugin's failure policy.
func Handle(fn func() postern.Verdict) { registry.SetHook(abi.HookThrottle, fn) }
