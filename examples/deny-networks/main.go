// Command deny-networks is an example login plugin that refuses logins
// from listed networks and from the address blocks of listed countries,
// with the operator's message. See README.md.
//
// Build it with `make plugins` (build/wasm/examples/deny-networks.wasm).
package main

import (
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/hook/login"
)

func main() {} // never called: the host runs init, then the exports

var policy *Policy

func init() {
	postern.OnInit(func(cfg []byte) error {
		p, err := ParseConfig(cfg)
		if err != nil {
			return err
		}
		policy = p
		return nil
	})
	login.Handle(func() postern.Verdict {
		msg, denied := policy.Check(postern.ClientIP())
		if !denied {
			return postern.Continue
		}
		postern.CounterAdd("denied", 1)
		return postern.Refuse(msg)
	})
}
