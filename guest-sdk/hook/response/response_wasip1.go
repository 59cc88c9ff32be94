//go:build wasip1

package response

import (
	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/internal/registry"
)

//go:wasmexport postern_hook_response
func export() int32 { return registry.RunHook(abi.HookResponse) }
