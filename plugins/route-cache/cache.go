package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/plugins/internal/duration"
	"github.com/postern/postern/plugins/internal/zmauth"
	"github.com/postern/postern/storekeys"
)

// defaultTTL is how long Zimbra keeps a cached route or alias.
const defaultTTL = time.Hour

// config is the plugin's configuration after validation.
type config struct {
	ttl time.Duration
	// sslProtocols appends "ssl" to the proto of keys for TLS clients
	// (route:proto=imapssl;...), as Zimbra 8.5 and later write them.
	sslProtocols bool
	// webProtocol, when set, is the proto of every web key ("http" or
	// "httpssl"): Zimbra writes the scheme it proxies to, not the
	// client's.
	webProtocol string
	// zimbraID caches the routes of web requests without a user by the
	// account id in their auth token (route:proto=<p>;id=<id>).
	zimbraID bool
	// reuse is the decision reuse init declares (postern.ReuseDecisions):
	// for this long the host may reuse a web request's route for the same
	// credentials from the same client without asking the cache. By
	// default (duration.DefaultReuse) a purge reaches this node's reused
	// routes after at most 5 s.
	reuse time.Duration
}

type rawConfig struct {
	TTL          json.RawMessage `json:"ttl"`
	SSLProtocols *bool           `json:"ssl_protocols"`
	WebProtocol  *string         `json:"web_protocol"`
	ZimbraID     *bool           `json:"zimbra_id"`
	Reuse        json.RawMessage `json:"reuse"`
}

// parseConfig decodes and checks the configuration; an empty one takes
// every default.
func parseConfig(b []byte) (*config, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("route-cache: config: "+format, args...)
	}
	c := &config{ttl: defaultTTL, reuse: duration.DefaultReuse}
	if len(bytes.TrimSpace(b)) == 0 {
		return c, nil
	}
	var raw rawConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return nil, fail("key %q: want %s, got a JSON %s", te.Field, te.Type, te.Value)
		}
		if k, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			return nil, fail("unknown key %s; the keys are ttl, ssl_protocols, web_protocol, zimbra_id and reuse", k)
		}
		return nil, fail("%s", strings.TrimPrefix(err.Error(), "json: "))
	}
	if raw.TTL != nil {
		d, err := parseDuration(raw.TTL)
		if err != nil {
			return nil, fail("ttl: %v", err)
		}
		if d < time.Second {
			return nil, fail("ttl %v: want at least 1s", d)
		}
		c.ttl = d
	}
	if raw.SSLProtocols != nil {
		c.sslProtocols = *raw.SSLProtocols
	}
	if raw.WebProtocol != nil {
		switch *raw.WebProtocol {
		case "", "http", "httpssl":
			c.webProtocol = *raw.WebProtocol
		default:
			return nil, fail("web_protocol %q: want http or httpssl (the scheme Zimbra proxies to), or \"\"", *raw.WebProtocol)
		}
	}
	if raw.ZimbraID != nil {
		c.zimbraID = *raw.ZimbraID
	}
	reuse, err := duration.ParseReuse(raw.Reuse, "1h", "30m", duration.WantRange)
	if err != nil {
		return nil, fail("%v", err)
	}
	c.reuse = reuse
	return c, nil
}

// parseDuration reads "1h"-style text or a number of seconds.
func parseDuration(b json.RawMessage) (time.Duration, error) { return duration.Parse(b, "1h", "30m") }

// cache is the state of one plugin instance.
type cache struct {
	cfg *config
	// storeLogged is set once this instance logged a store outage: an
	// outage is logged once per instance, not once per login.
	storeLogged bool
}

// proto is the proto of this session's keys.
func (c *cache) proto() string {
	p := postern.Protocol()
	if p == "http" && c.cfg.webProtocol != "" {
		return c.cfg.webProtocol
	}
	if c.cfg.sslProtocols && postern.TLSVersion() != "" {
		p += "ssl"
	}
	return p
}

// aliasKey is the alias key of this session's login: by the proxy's
// address for mail, by the virtual host for the web. "" when there is
// neither.
func aliasKey(login string) string {
	if postern.Protocol() == "http" {
		if host := postern.HTTPHost(); host != "" {
			return storekeys.WebAlias(login, host)
		}
		return ""
	}
	if ip := postern.LocalIP(); ip.IsValid() {
		return storekeys.MailAlias(login, ip.String())
	}
	return ""
}

// skip reports whether this login is never cached: GSSAPI lookups are
// not (Zimbra's rule: the mapped login depends on the ticket).
func skip() bool { return postern.AuthMethod() == "gssapi" }

// storeFailed counts a store outage and logs it once per instance.
func (c *cache) storeFailed(op string, err error) {
	postern.CounterAdd("cache_errors", 1)
	if !c.storeLogged {
		c.storeLogged = true
		postern.Warnf("route-cache: key-value store %s failed: %v; routes are looked up without the cache until it is back", op, err)
	}
}

// unavailable reports whether err is a store outage rather than a miss.
func unavailable(err error) bool {
	return errors.Is(err, abi.ErrUnavailable) || errors.Is(err, abi.ErrTimeout)
}

// tokenID is the account id in a web request's auth token, with
// zimbra_id; "" otherwise.
func (c *cache) tokenID() string {
	if !c.cfg.zimbraID || postern.Protocol() != "http" {
		return ""
	}
	id, _ := zmauth.AccountID(zmauth.Token(postern.Cookie, postern.HTTPQuery()))
	return id
}

// route is the route hook: the alias (login -> account), then the route
// (account -> upstream). A hit decides; a miss lets the next plugin
// (route-lookup) run. A web request without a user is looked up by the
// account id of its auth token (zimbra_id), as Zimbra's proxy does.
func (c *cache) route() postern.Verdict {
	if skip() {
		return postern.Continue
	}
	login, account := postern.Login(), postern.Account()
	if account == "" {
		if id := c.tokenID(); id != "" {
			return c.cached(storekeys.RouteID(c.proto(), id))
		}
		return postern.Continue // nobody to look up: an anonymous web request
	}
	if postern.UpstreamAuth() == abi.UpstreamAuthMaster && !postern.PasswordVerified() {
		// The host will log in as a master user, so the password must be
		// checked by a plugin that asks an authority (route-lookup with
		// send_password). A cached route checks nothing: let it run.
		postern.CounterAdd("cache_bypassed_unverified", 1)
		return postern.Continue
	}
	// The alias (login -> account) and the route of the account as it
	// stands go in one round trip (kv_batch); only an alias naming
	// another account costs a second.
	routeKey := storekeys.Route(c.proto(), account)
	k := aliasKey(login)
	if k == "" {
		return c.cached(routeKey)
	}
	ops := []postern.KVOp{{Op: postern.KVOpGet, Key: k}, {Op: postern.KVOpGet, Key: routeKey}}
	t0 := time.Now() // WASI's monotonic clock: a wall clock step is no latency
	if err := postern.KVBatch(ops); err != nil {
		ops[0].Err, ops[1].Err = err, err
	}
	getSeconds.ObserveDuration(time.Since(t0)) // the round trip of the route key's get
	switch alias, err := ops[0].Value, ops[0].Err; {
	case err == nil && len(alias) > 0:
		if err := postern.SetAccount(string(alias)); err != nil {
			return postern.Continue
		}
		postern.CounterAdd("alias_hits", 1)
		if string(alias) != account {
			return c.cached(storekeys.Route(c.proto(), string(alias)))
		}
	case err != nil && unavailable(err):
		c.storeFailed("get", err)
		return postern.Continue // the store is down: do not wait on it twice
	}
	return c.use(routeKey, ops[1].Value, ops[1].Err)
}

// getSeconds is the latency of the route key's get (ABI 1.1 plugin metric
// get_seconds), declared by init.
var getSeconds postern.Histogram

// getBounds are get_seconds' bucket bounds: from 100 µs (memcached on the
// same network) to a second (a store timing out).
var getBounds = []float64{.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1}

// declareMetrics declares the plugin's metrics (init). The age of a hit
// is not one of them: a route is stored as Zimbra stores it, "ip:port"
// without a time, and a second key per route would double the store's
// traffic (README "Metrics").
func declareMetrics() (err error) {
	getSeconds, err = postern.NewHistogram("get_seconds",
		"Time of the route key's get in the key-value store (the round trip that carried it), hit or miss, failures included.", getBounds)
	return err
}

// cached routes by the route stored under key: Done on a hit, Continue on
// a miss, an outage or a value that is not ip:port (deleted).
func (c *cache) cached(key string) postern.Verdict {
	t0 := time.Now() // WASI's monotonic clock: a wall clock step is no latency
	v, err := postern.KVGet(key)
	getSeconds.ObserveDuration(time.Since(t0))
	return c.use(key, v, err)
}

// use routes by v, the value read from key (err: the read's error).
func (c *cache) use(key string, v []byte, err error) postern.Verdict {
	if err != nil {
		if unavailable(err) {
			c.storeFailed("get", err)
		} else {
			postern.CounterAdd("cache_misses", 1)
		}
		return postern.Continue
	}
	up, err := netip.ParseAddrPort(string(v))
	if err != nil || up.Port() == 0 {
		// Not a route we can use: let the lookup decide and overwrite it.
		postern.CounterAdd("cache_invalid", 1)
		_ = postern.KVDelete(key)
		return postern.Continue
	}
	if err := postern.SetUpstreams([]string{up.String()}); err != nil {
		return postern.Continue
	}
	_ = postern.SetRouteCached(true)
	postern.CounterAdd("cache_hits", 1)
	return postern.Done
}

// routeDecided stores the route another plugin decided (and the alias,
// when the lookup asked for it) with add, as Zimbra does: an entry already
// there is kept until it expires or a login fails.
func (c *cache) routeDecided() {
	if skip() || postern.RouteCached() {
		return
	}
	up := postern.Upstream()
	if up == "" {
		if l := postern.Upstreams(); len(l) > 0 {
			up = l[0]
		}
	}
	if up == "" {
		return
	}
	login, account := postern.Login(), postern.Account()
	if account == "" {
		return // no route was looked up (a token lookup that fell back to the pool)
	}
	key := storekeys.Route(c.proto(), account)
	if login == "" && c.tokenID() != "" {
		// A web request routed by its token: the account is the id the
		// lookup answered (Auth-User), which Zimbra keys the route by.
		key = storekeys.RouteID(c.proto(), account)
	}
	if err := postern.KVAdd(key, []byte(up), c.cfg.ttl); err == nil {
		postern.CounterAdd("routes_stored", 1)
	} else if unavailable(err) {
		c.storeFailed("add", err)
		return
	}
	if postern.CacheAlias() && login != "" && login != account {
		if k := aliasKey(login); k != "" {
			if err := postern.KVAdd(k, []byte(account), c.cfg.ttl); err == nil {
				postern.CounterAdd("aliases_stored", 1)
			} else if unavailable(err) {
				c.storeFailed("add", err)
			}
		}
	}
}

// loginFailed deletes the login's route and alias (and the account's
// route): the cached route may be stale, for instance after a mailbox
// moved.
func (c *cache) loginFailed() {
	if skip() {
		return
	}
	login, account := postern.Login(), postern.Account()
	del := []string{storekeys.Route(c.proto(), login)}
	if account != "" && account != login {
		del = append(del, storekeys.Route(c.proto(), account))
	}
	if k := aliasKey(login); k != "" {
		del = append(del, k)
	}
	for _, k := range del {
		switch err := postern.KVDelete(k); {
		case err == nil:
			postern.CounterAdd("routes_deleted", 1)
		case unavailable(err):
			c.storeFailed("delete", err)
			return
		}
	}
}
