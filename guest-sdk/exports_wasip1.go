//go:build wasip1

package postern

import (
	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/internal/registry"
)

// Every Go plugin exports the version marker and init; hooks and events are
// exported by the hook/... and event/... subpackages a plugin imports.

//go:wasmexport postern_abi_version
func exportABIVersion() int32 {
	return int32(abi.PackVersion(abi.VersionMajor, abi.VersionMinor))
}

//go:wasmexport postern_init
func exportInit() int32 { return registry.Init() }
