// Command lockout is the SDK README's example plugin: it refuses a login
// after 5 failures in 10 minutes. Build it with
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o lockout.wasm ./guest-sdk/example/lockout
package main

import (
	"errors"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/event/loginfailed"
	"github.com/postern/postern/guest-sdk/hook/throttle"
)

func main() {} // never called: the host runs init, then the exports

func init() {
	throttle.Handle(check)
	loginfailed.Handle(func() {
		key := "fail:" + postern.Account()
		if _, err := postern.KVIncr(key, 1); errors.Is(err, abi.ErrNotFound) {
			_ = postern.KVAdd(key, []byte("1"), 10*time.Minute)
		}
	})
}

func check() postern.Verdict {
	n, err := postern.KVIncr("fail:"+postern.Account(), 0)
	if err == nil && n >= 5 {
		return postern.Refuse("too many failed logins, try again later")
	}
	return postern.Continue // a store outage (abi.ErrUnavailable) must not lock anyone out
}
