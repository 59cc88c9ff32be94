// Package rewrite registers a plugin's handler for the rewrite hook. Importing
// it makes the plugin export postern_hook_rewrite, so the host runs the plugin
// at this hook; a plugin that does not import it is never called here.
//
// HTTP only. The handler rewrites the request (postern.SetHTTPHost, SetHTTPPath, SetHTTPQuery, SetHeader) or answers it with postern.Redirect.
package rewrite

import (
	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/internal/registry"
)

// Handle makes fn the plugin's rewrite hook, replacing any earlier handler.
// Call it from a func init. Until it is called the hook answers Continue.
// A panic in fn is not recovered: the call traps, and the host counts it
// and applies the plugin's failure policy.
func Handle(fn func() postern.Verdict) { registry.SetHook(abi.HookRewrite, fn) }
