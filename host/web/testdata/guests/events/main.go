// Command events is a test guest that listens for route_decided and, like
// a route cache, writes to the store there: key "event:<upstream>", value
// the account. With a slow store, the event is slow.
package main

import (
	"time"

	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/event/routedecided"
)

func main() {}

func init() {
	routedecided.Handle(func() {
		_ = postern.KVSet("event:"+postern.Upstream(), []byte(postern.Account()), time.Minute)
	})
}
