// Package routedecided registers a plugin's handler for the routedecided event.
// Importing it makes the plugin export postern_event_route_decided.
//
// It runs on every plugin that handles it after the route chain decided, with the decided fields (postern.Upstreams, postern.Upstream, postern.Account) readable: the place to fill a route cache.
package routedecided

import (
	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/internal/registry"
)

// Handle makes fn the plugin's handler of the event, replacing any
// earlier one. Call it from a func init. An event cannot change the
// outcome; fields are read-only. A panic in fn is not recovered: the call
// traps and the host counts it.
func Handle(fn func()) { registry.SetEvent(abi.EventRouteDecided, fn) }
