// Package loginfailed registers a plugin's handler for the loginfailed event.
// Importing it makes the plugin export postern_event_login_failed.
//
// It runs after the upstream refused the credentials, with postern.Message holding the upstream's text: the place to forget a cached route or alias.
package loginfailed

import (
	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/internal/registry"
)

// Handle makes fn the plugin's handler of the event, replacing any
// earlier one. Call it from a func init. An event cannot change the
// outcome; fields are read-only. A panic in fn is not recovered: the call
// traps and the host counts it.
func Handle(fn func()) { registry.SetEvent(abi.EventLoginFailed, fn) }
