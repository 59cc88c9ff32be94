//go:build wasip1

package loginfailed

import (
	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/internal/registry"
)

//go:wasmexport postern_event_login_failed
func export() { registry.RunEvent(abi.EventLoginFailed) }
