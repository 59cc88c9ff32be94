// Command throttle is a test guest: Zimbra-style counters per client IP and
// per user in the key-value store; above {"limit": N} requests in
// {"window_s": W} seconds it refuses with delay_ms = W seconds, which the
// web front end turns into 429 with Retry-After: W.
package main

import (
	"encoding/json"
	"errors"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/hook/throttle"
)

var conf struct {
	Limit   uint64 `json:"limit"`
	WindowS int    `json:"window_s"`
	Prefix  string `json:"prefix"` // key prefix; "throttle:" (Zimbra's) by default
}

func main() {}

func init() {
	postern.OnInit(func(cfg []byte) error {
		conf.Limit, conf.WindowS, conf.Prefix = 10, 60, "throttle:"
		if len(cfg) > 0 {
			return json.Unmarshal(cfg, &conf)
		}
		return nil
	})
	throttle.Handle(func() postern.Verdict {
		keys := []string{conf.Prefix + "proto=h,ip=" + postern.ClientIP().String()}
		if a := postern.Account(); a != "" {
			keys = append(keys, conf.Prefix+"user="+a)
		}
		window := time.Duration(conf.WindowS) * time.Second
		for _, k := range keys {
			n, err := postern.KVIncr(k, 1)
			if errors.Is(err, abi.ErrNotFound) {
				if postern.KVAdd(k, []byte("1"), window) == nil {
					n, err = 1, nil
				} else {
					n, err = postern.KVIncr(k, 1)
				}
			}
			if err != nil {
				continue // a store outage must not lock anyone out
			}
			if n > conf.Limit {
				_ = postern.SetDelay(window)
				return postern.Refuse("too many requests")
			}
		}
		return postern.Continue
	})
}
