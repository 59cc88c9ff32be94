//go:build wasip1

package route

import (
	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/internal/registry"
)

//go:wasmexport postern_hook_route
func export() int32 { return registry.RunHook(abi.HookRoute) }
