// Command route-cache is Postern's bundled route cache: it keeps the
// routes a lookup found in memcached under Zimbra's keys, so that the next
// login of the same user, on any node, needs no lookup. See README.md.
//
// This file is the SDK wiring only; the logic is in cache.go and the key
// formats in package storekeys, which compile natively.
package main

import (
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/event/loginfailed"
	"github.com/postern/postern/guest-sdk/event/routedecided"
	"github.com/postern/postern/guest-sdk/hook/route"
	"github.com/postern/postern/plugins/internal/duration"
)

func main() {} // never called: the host runs init, then the exports

// state is this instance's cache state, built by init from the config.
var state *cache

func init() {
	postern.OnInit(func(cfg []byte) error {
		c, err := parseConfig(cfg)
		if err != nil {
			return err
		}
		state = &cache{cfg: c}
		if err := declareMetrics(); err != nil {
			return err
		}
		if err := duration.DeclareReuse("route-cache", c.reuse); err != nil {
			return err
		}
		// Nobody to look up or store without a login (route and the events
		// skip an empty account themselves on hosts older than ABI 1.1),
		// unless a web request without one may carry an auth token.
		if !c.zimbraID {
			_ = postern.OnlyWithLogin()
		}
		return nil
	})
	route.Handle(func() postern.Verdict { return state.route() })
	routedecided.Handle(func() { state.routeDecided() })
	loginfailed.Handle(func() { state.loginFailed() })
}
