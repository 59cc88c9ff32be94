// Command filter is a test guest for request filters (ABI 1.1). Its
// configuration names the filters its init declares through the SDK:
//
//	{"login":true,"protocols":["http"],"hosts":["mail.example.com"],
//	 "paths":["/service/"],"methods":["GET"],"reuse_ms":5000}
//
// reuse_ms declares a decision reuse (ABI 1.2) in milliseconds.
//
// Every hook returns Continue and route_decided does nothing: the host's
// call counter tells whether the guest was entered. An init that fails to
// declare a filter refuses its configuration with the error.
package main

import (
	"encoding/json"
	"fmt"
	"time"

	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/event/routedecided"
	"github.com/postern/postern/guest-sdk/hook/login"
	"github.com/postern/postern/guest-sdk/hook/rewrite"
	"github.com/postern/postern/guest-sdk/hook/route"
	"github.com/postern/postern/guest-sdk/hook/throttle"
)

func main() {}

func init() {
	postern.OnInit(func(config []byte) error {
		var c struct {
			Login                            bool
			Protocols, Hosts, Paths, Methods []string
			ReuseMS                          int64 `json:"reuse_ms"`
		}
		if len(config) > 0 {
			if err := json.Unmarshal(config, &c); err != nil {
				return err
			}
		}
		try := func(what string, err error) error {
			if err != nil {
				return fmt.Errorf("%s: %w", what, err)
			}
			return nil
		}
		if c.ReuseMS != 0 {
			if err := try("reuse", postern.ReuseDecisions(time.Duration(c.ReuseMS)*time.Millisecond)); err != nil {
				return err
			}
		}
		if c.Login {
			if err := try("login", postern.OnlyWithLogin()); err != nil {
				return err
			}
		}
		for _, f := range []struct {
			what string
			v    []string
			set  func(...string) error
		}{{"protocols", c.Protocols, postern.OnlyProtocols}, {"hosts", c.Hosts, postern.OnlyHosts},
			{"paths", c.Paths, postern.OnlyPaths}, {"methods", c.Methods, postern.OnlyMethods}} {
			if f.v != nil {
				if err := try(f.what, f.set(f.v...)); err != nil {
					return err
				}
			}
		}
		return nil
	})
	cont := func() postern.Verdict { return postern.Continue }
	login.Handle(cont)
	throttle.Handle(cont)
	route.Handle(cont)
	rewrite.Handle(cont)
	routedecided.Handle(func() {})
}
