// Command router is the mail front end's test plugin. Its configuration
// (JSON) drives it:
//
//	{"upstreams": ["127.0.0.1:1", "127.0.0.1:2"],  // route hook: Done with these
//	 "throttle": "slow@example.com",             // throttle hook: refuse this login
//	 "refuse": "nobody@example.com",             // login hook: refuse this login
//	 "tempfail": "broken@example.com"}           // route hook: TempFail for this login
//
// The login hook lower-cases the login (so tests see a login plugin's
// rewrite reach the backend). Events log "event <name> login=<l>
// upstream=<u> message=<m>".
package main

import (
	"encoding/json"
	"strings"

	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/event/loginfailed"
	"github.com/postern/postern/guest-sdk/event/routedecided"
	"github.com/postern/postern/guest-sdk/hook/login"
	"github.com/postern/postern/guest-sdk/hook/route"
	"github.com/postern/postern/guest-sdk/hook/throttle"
)

var cfg struct {
	Upstreams []string `json:"upstreams"`
	Throttle  string   `json:"throttle"`
	Refuse    string   `json:"refuse"`
	TempFail  string   `json:"tempfail"`
}

func main() {}

func init() {
	postern.OnInit(func(b []byte) error {
		if len(b) == 0 {
			return nil
		}
		return json.Unmarshal(b, &cfg)
	})
	login.Handle(func() postern.Verdict {
		l := strings.ToLower(postern.Login())
		if l == cfg.Refuse {
			return postern.Refuse("Account disabled.")
		}
		postern.SetLogin(l)
		return postern.Continue
	})
	throttle.Handle(func() postern.Verdict {
		if postern.Login() == cfg.Throttle {
			return postern.Refuse("Slow down, " + postern.Login())
		}
		return postern.Continue
	})
	route.Handle(func() postern.Verdict {
		if postern.Login() == cfg.TempFail {
			return postern.TempFail("")
		}
		if len(cfg.Upstreams) == 0 {
			return postern.Continue
		}
		postern.SetUpstreams(cfg.Upstreams)
		return postern.Done
	})
	routedecided.Handle(func() { event("route_decided") })
	loginfailed.Handle(func() { event("login_failed") })
}

func event(name string) {
	postern.Infof("event %s login=%s upstream=%s message=%s", name, postern.Login(), postern.Upstream(), postern.Message())
}
