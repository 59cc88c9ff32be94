package main

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"net/netip"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
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
			switch over(c, ipKey(proto, ip), true) {
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
			switch over(cfg.user, userKey(user), move) {
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

// ipKey is Zimbra's per-protocol IP key: throttle:proto=<i|p|h>,ip=<ip>.
// The protocol letter is the first letter of the protocol's name.
func ipKey(proto string, ip netip.Addr) string {
	return "throttle:proto=" + proto[:1] + ",ip=" + ip.String()
}

const userPrefix = "throttle:user="

// userKey is Zimbra's user key, throttle:user=<login>. A login that
// memcached cannot hold in a key is made safe: bytes memcached refuses
// (space, control characters) are %-escaped, and a key still longer than
// 250 bytes uses "sha256:" and the hex SHA-256 of the login instead.
func userKey(login string) string {
	k := userPrefix + escapeKey(login)
	if len(k) <= abi.MaxKeyBytes {
		return k
	}
	sum := sha256.Sum256([]byte(login))
	return userPrefix + "sha256:" + hex.EncodeToString(sum[:])
}

// escapeKey %-escapes the bytes memcached does not allow in a key. Other
// bytes, '%' included, are kept, so ordinary logins give Zimbra's keys
// byte for byte.
func escapeKey(s string) string {
	bad := 0
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] == 0x7f {
			bad++
		}
	}
	if bad == 0 {
		return s
	}
	const hexd = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*bad)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c == 0x7f {
			b = append(b, '%', hexd[c>>4], hexd[c&15])
			continue
		}
		b = append(b, c)
	}
	return string(b)
}
