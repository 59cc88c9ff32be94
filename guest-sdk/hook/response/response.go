// Package response registers a plugin's handler for the response hook (ABI
// 1.1). Importing it makes the plugin export postern_hook_response, so the
// host runs the plugin on HTTP responses; a plugin that does not import it
// is never called there, and a host where no plugin exports it enters no
// guest at all.
//
// HTTP only. The handler runs when the upstream's response headers arrived,
// before any byte reaches the client: it reads postern.ResponseStatus and
// the response headers and edits them (postern.SetResponseHeader,
// DeleteResponseHeader, RewriteLocation, SetResponseCookies with
// RewriteCookieDomain and RewriteCookiePath). The request fields are
// readable, not writable. Refuse answers the client 403 and TempFail 503
// instead of the upstream's response.
package response

import (
	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/internal/registry"
)

// Handle makes fn the plugin's response hook, replacing any earlier
// handler. Call it from a func init. Until it is called the hook answers
// Continue. A panic in fn is not recovered: the call traps, and the host
// counts it and applies the plugin's failure policy (open by default: the
// response goes out as the upstream sent it).
func Handle(fn func() postern.Verdict) { registry.SetHook(abi.HookResponse, fn) }
