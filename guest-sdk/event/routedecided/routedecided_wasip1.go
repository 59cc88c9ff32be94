//go:build wasip1

package routedecided

import (
	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/internal/registry"
)

//go:wasmexport postern_event_route_decided
func export() { registry.RunEvent(abi.EventRouteDecided) }
