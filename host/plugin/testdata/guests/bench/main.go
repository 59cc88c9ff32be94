// Command bench is the benchmark guest of the host's plugin runtime: it
// exports only postern_hook_login, which reads FieldProtocol, FieldLogin
// and FieldClientIP, writes FieldAccount = login and returns Continue.
// The hot path does not allocate once its buffers have grown: it reads with
// postern.AppendGet into buffers kept between calls.
//
// Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared \
//	    -o host/plugin/testdata/guests/bench.wasm ./host/plugin/testdata/guests/bench
package main

import (
	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/hook/login"
)

func main() {}

var proto, user, ip = make([]byte, 0, 64), make([]byte, 0, 256), make([]byte, 0, 64)

func init() { login.Handle(hook) }

func hook() postern.Verdict {
	var err error
	if proto, err = postern.AppendGet(proto[:0], abi.FieldProtocol); err != nil {
		return postern.Continue
	}
	if ip, err = postern.AppendGet(ip[:0], abi.FieldClientIP); err != nil {
		return postern.Continue
	}
	if user, err = postern.AppendGet(user[:0], abi.FieldLogin); err != nil {
		return postern.Continue
	}
	_ = postern.SetBytes(abi.FieldAccount, user)
	return postern.Continue
}
