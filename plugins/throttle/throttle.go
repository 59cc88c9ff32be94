package main

import (
	"errors"
	"net/netip"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/storekeys"
)

// cfg is this instance's configuration, set by configure (init).
var cfg = &settings{}

// storeErrLogged makes the store outage log line once per instance.
var storeErrLogged bool

// Counter names (metrics labelled with the plugin's name).
const (
	ctrAllowed       = "allowed"
	ctrDelayed       = "delayed"
	ctrThrottledIP   = "throttled_ip"
	ctrThrottledUser = "throttled_user"
	ctrStoreErrors   = "store_errors"
	ctrAllowlisted   = "allowlisted"
)

// configure is the plugin's init: it refuses a bad configuration.
func configure(config []byte) error {
	s, err := parseConfig(config)
	if err != nil {
		return err
	}
	cfg = s
	storeErrLogged = false
	return nil
}

// check is the throttle hook. It allows (Continue), delays (delay_ms, then
// Continue) or refuses; it never fails the login because the store is down.
func check() postern.Verdict {
	// A request without a login (a web page load: no basic auth, no user
	// a login plugin found) is not a login attempt: counting it would let
	// page loads spend an address's login budget, and cost a store round
	// trip per request. account reads as login unless a plugin set it.
	if postern.Account() == "" {
		return postern.Continue
	}
	ip := postern.ClientIP().WithZone("")
	if ip.IsValid() && allowlisted(ip) {
		postern.CounterAdd(ctrAllowlisted, 1)
		return postern.Continue
	}
	delay := false

	// The IP counter moves on every login attempt.
	proto := postern.Protocol()
	if ip.IsValid() && proto != "" {
		c := cfg.ip
		if n, ok := cfg.perProto[proto]; ok {
			c.limit = n
		}
		if c.active() {
			switch over(c, storekeys.ThrottleIP(proto, ip.String()), true) {
			case hard:
				postern.CounterAdd(ctrThrottledIP, 1)
				return postern.Refuse(c.message)
			case soft:
				delay = true
			}
		}
	}

	// The user counter moves once per session (its first attempt), or on
	// every attempt with "count": "attempt"; later attempts only read it.
	if cfg.user.active() {
		var user string
		if cfg.userByAccount {
			user = postern.Account()
		} else {
			user = postern.Login()
		}
		if user != "" {
			move := cfg.userEveryAttempt || postern.LoginAttempt() <= 1
			switch over(cfg.user, storekeys.ThrottleUser(user), move) {
			case hard:
				postern.CounterAdd(ctrThrottledUser, 1)
				return postern.Refuse(cfg.user.message)
			case soft:
				delay = true
			}
		}
	}

	if delay {
		_ = postern.SetDelay(cfg.delay)
		postern.CounterAdd(ctrDelayed, 1)
	}
	postern.CounterAdd(ctrAllowed, 1)
	return postern.Continue
}

func allowlisted(ip netip.Addr) bool {
	for _, p := range cfg.allow {
		if p.Contains(ip) {
			return true
		}
	}
	return false
}

type level int

const (
	under level = iota
	soft
	hard
)

// over counts (or, when move is false, reads) the counter at key and says
// whether it is above the counter's limits. A store failure is "under":
// the throttle fails open.
func over(c counter, key string, move bool) level {
	n, err := count(key, c.window, move)
	if err != nil {
		storeFailed(err)
		return under
	}
	switch {
	case c.limit > 0 && n > c.limit:
		return hard
	case c.soft > 0 && n > c.soft:
		return soft
	}
	return under
}

// count is Zimbra's counting: incr key 1; on NOT_FOUND add key "1" with the
// window as TTL; when add loses the race to another node, incr again. With
// move false it reads the count (incr by 0) and creates nothing.
func count(key string, window time.Duration, move bool) (uint64, error) {
	var delta uint64
	if move {
		delta = 1
	}
	n, err := postern.KVIncr(key, delta)
	if !errors.Is(err, abi.ErrNotFound) {
		return n, err
	}
	if !move {
		return 0, nil
	}
	switch err := postern.KVAdd(key, []byte("1"), window); {
	case err == nil:
		return 1, nil
	case errors.Is(err, abi.ErrExists):
		return postern.KVIncr(key, 1)
	default:
		return 0, err
	}
}

// storeFailed counts a store failure and logs the first of this instance.
// The message names the error only: keys hold logins and addresses.
func storeFailed(err error) {
	postern.CounterAdd(ctrStoreErrors, 1)
	if storeErrLogged {
		return
	}
	storeErrLogged = true
	postern.Warnf("throttle: key-value store failed (%v); logins are allowed unthrottled while it fails; check the memcached servers in the store configuration (logged once per instance, counted in store_errors)", err)
}
