// Package login registers a plugin's handler for the login hook. Importing
// it makes the plugin export postern_hook_login, so the host runs the plugin
// at this hook; a plugin that does not import it is never called here.
//
// Login extraction: who is this? The handler may rewrite the login (postern.SetLogin), the account (postern.SetAccount) and the client suffix, and reads the password.
package login

import (
	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/internal/registry"
)

// Handle makes fn the plugin's login hook, replacing any earlier handler.
// Call it from a func init. Until it is called the hook answers Continue.
// A panic in fn is not recovered: the call traps, and the host counts it
// and applies the plugin's failure policy.
func Handle(fn func() postern.Verdict) { registry.SetHook(abi.HookLogin, fn) }
