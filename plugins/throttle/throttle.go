package main

import (
	"errors"
	"net/netip"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/plugins/internal/duration"
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
	return duration.DeclareReuse("throttle", s.reuse)
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

	// The IP counter moves on every login attempt; the user counter once
	// per session (its first attempt), or on every attempt with "count":
	// "attempt"; later attempts only read it. Both go to the store in one
	// round trip (kv_batch).
	var ipC, userC *probe
	var probes [2]probe
	proto := postern.Protocol()
	if ip.IsValid() && proto != "" {
		c := cfg.ip
		if n, ok := cfg.perProto[proto]; ok {
			c.limit = n
		}
		if c.active() {
			probes[0] = probe{c: c, key: storekeys.ThrottleIP(proto, ip.String()), move: true}
			ipC = &probes[0]
		}
	}
	if cfg.user.active() {
		var user string
		if cfg.userByAccount {
			user = postern.Account()
		} else {
			user = postern.Login()
		}
		if user != "" {
			probes[1] = probe{c: cfg.user, key: storekeys.ThrottleUser(user), move: cfg.userEveryAttempt || postern.LoginAttempt() <= 1}
			userC = &probes[1]
		}
	}
	countAll(ipC, userC)

	delay := false
	if ipC != nil {
		switch ipC.level() {
		case hard:
			// The address is refused: this attempt must not spend the
			// user's budget, so give back what the batch counted.
			if userC != nil {
				userC.undo()
			}
			postern.CounterAdd(ctrThrottledIP, 1)
			return postern.Refuse(ipC.c.message)
		case soft:
			delay = true
		}
	}
	if userC != nil {
		switch userC.level() {
		case hard:
			postern.CounterAdd(ctrThrottledUser, 1)
			return postern.Refuse(cfg.user.message)
		case soft:
			delay = true
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

// probe is one counter of this attempt: its key, whether it moves, and
// what the store said.
type probe struct {
	c     counter
	key   string
	move  bool
	n     uint64
	err   error
	moved bool // the counter was raised for this attempt (undo lowers it)
}

// level says whether the counter is above its limits. A store failure is
// "under": the throttle fails open.
func (p *probe) level() level {
	if p.err != nil {
		storeFailed(p.err)
		return under
	}
	switch {
	case p.c.limit > 0 && p.n > p.c.limit:
		return hard
	case p.c.soft > 0 && p.n > p.c.soft:
		return soft
	}
	return under
}

// undo lowers a counter this attempt raised (memcached's decr).
func (p *probe) undo() {
	if !p.moved {
		return
	}
	ops := []postern.KVOp{{Op: postern.KVOpDecr, Key: p.key, Delta: 1}}
	if err := postern.KVBatch(ops); err == nil && ops[0].Err != nil && !errors.Is(ops[0].Err, abi.ErrNotFound) {
		storeFailed(ops[0].Err)
	}
}

// countAll is Zimbra's counting for each given probe: incr key 1; on
// NOT_FOUND add key "1" with the window as TTL; when add loses the race to
// another node, incr again. A probe that does not move reads the count
// (incr by 0) and creates nothing. The first incr of every probe goes in
// one kv_batch; the rare add (a new window) is a call of its own.
func countAll(ps ...*probe) {
	var ops [2]postern.KVOp
	var of [2]*probe
	k := 0
	for _, p := range ps {
		if p == nil {
			continue
		}
		var delta uint64
		if p.move {
			delta = 1
		}
		ops[k] = postern.KVOp{Op: postern.KVOpIncr, Key: p.key, Delta: delta}
		of[k] = p
		k++
	}
	if k == 0 {
		return
	}
	if err := postern.KVBatch(ops[:k]); err != nil {
		for _, p := range of[:k] {
			p.err = err
		}
		return
	}
	for i, p := range of[:k] {
		p.n, p.err = ops[i].N, ops[i].Err
		if p.err == nil {
			p.moved = p.move
			continue
		}
		if !errors.Is(p.err, abi.ErrNotFound) {
			continue
		}
		if !p.move {
			p.n, p.err = 0, nil
			continue
		}
		switch err := postern.KVAdd(p.key, []byte("1"), p.c.window); {
		case err == nil:
			p.n, p.err, p.moved = 1, nil, true
		case errors.Is(err, abi.ErrExists):
			p.n, p.err = postern.KVIncr(p.key, 1)
			p.moved = p.err == nil
		default:
			p.n, p.err = 0, err
		}
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
