//go:build wasip1

package rewrite

import (
	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/internal/registry"
)

//go:wasmexport postern_hook_rewrite
func export() int32 { return registry.RunHook(abi.HookRewrite) }
