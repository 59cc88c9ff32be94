// Command after-hours-throttle is an example throttle plugin with
// stricter login limits at night and at weekends than in working hours,
// counted per account in the shared key-value store. See README.md.
//
// Build it with `make plugins` (build/wasm/examples/after-hours-throttle.wasm).
package main

import (
	"errors"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/hook/throttle"
)

func main() {} // never called: the host runs init, then the exports

var (
	policy *Policy
	// now is the clock; the host's (postern.Now) in production, a fixed
	// time in tests (sdktest's Host.Now drives postern.Now too).
	now = postern.Now
)

func init() {
	postern.OnInit(func(cfg []byte) error {
		p, err := ParseConfig(cfg)
		if err != nil {
			return err
		}
		policy = p
		return nil
	})
	throttle.Handle(check)
}

func check() postern.Verdict {
	t := now()
	period, lim := policy.At(t)
	if lim.Limit == 0 {
		return postern.Continue
	}
	key := Key(period, lim.Window, t, postern.Account())
	n, err := count(key, lim.Window)
	if err != nil {
		return postern.Continue // store down: fail open, as Zimbra does
	}
	if n > uint64(lim.Limit) {
		postern.CounterAdd("refused_"+period, 1)
		return postern.Refuse(lim.Message)
	}
	return postern.Continue
}

// count adds one to key: incr, else add "1" with the window as TTL, else
// (another node created it first) incr again (ABI.md's worked example).
func count(key string, window time.Duration) (uint64, error) {
	n, err := postern.KVIncr(key, 1)
	if !errors.Is(err, abi.ErrNotFound) {
		return n, err
	}
	if err := postern.KVAdd(key, []byte("1"), window); err == nil {
		return 1, nil
	} else if !errors.Is(err, abi.ErrExists) {
		return 0, err
	}
	return postern.KVIncr(key, 1)
}
