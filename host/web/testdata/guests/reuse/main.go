// Command reuse is a test guest for decision reuse (ABI 1.2). Its
// configuration:
//
//	{"reuse_ms": 5000, "routes": {"bob": "127.0.0.1:8080"},
//	 "slow": "carol", "refuse": "mallory"}
//
// reuse_ms is declared in init (absent or 0: none). login sets the account
// to the login in lower case; throttle delays "slow" by 10 ms and refuses
// "refuse"; route sends an account in routes to its upstream; route_decided
// does nothing. The host's call counter tells how often it was entered.
package main

import (
	"encoding/json"
	"strings"
	"time"

	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/event/routedecided"
	"github.com/postern/postern/guest-sdk/hook/login"
	"github.com/postern/postern/guest-sdk/hook/route"
	"github.com/postern/postern/guest-sdk/hook/throttle"
)

var cfg struct {
	ReuseMS int64             `json:"reuse_ms"`
	Routes  map[string]string `json:"routes"`
	Slow    string            `json:"slow"`
	Refuse  string            `json:"refuse"`
}

func main() {}

func init() {
	postern.OnInit(func(config []byte) error {
		if len(config) > 0 {
			if err := json.Unmarshal(config, &cfg); err != nil {
				return err
			}
		}
		if cfg.ReuseMS > 0 {
			return postern.ReuseDecisions(time.Duration(cfg.ReuseMS) * time.Millisecond)
		}
		return nil
	})
	login.Handle(func() postern.Verdict {
		_ = postern.SetAccount(strings.ToLower(postern.Login()))
		return postern.Continue
	})
	throttle.Handle(func() postern.Verdict {
		switch a := postern.Account(); {
		case a != "" && a == cfg.Slow:
			_ = postern.SetDelay(10 * time.Millisecond)
		case a != "" && a == cfg.Refuse:
			return postern.Refuse("too many")
		}
		return postern.Continue
	})
	route.Handle(func() postern.Verdict {
		if up, ok := cfg.Routes[postern.Account()]; ok {
			_ = postern.SetUpstreams([]string{up})
			return postern.Done
		}
		return postern.Continue
	})
	routedecided.Handle(func() {})
}
