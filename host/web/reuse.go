package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugin"
)

// Decision reuse (ABI 1.2, ABI.md "Decision reuse"): when every plugin a
// web request could enter at login, throttle, route or route_decided
// declared a reuse (plugin.Host.Reuse), the outcome of those chains for a
// request with credentials is kept for the shortest declared time, and a
// later request with the same reuse key takes it instead of entering the
// plugins: no guest call, no store round trip, no route_decided.
//
// The key is a SHA-256, salted per process, of what the bundled plugins'
// decisions depend on: the listener, TLS and the server name, the client
// address, the Host header, the matched route, the auth method, the
// Authorization header and the auth cookie. Credentials are never kept in
// clear. Only an outcome that let the request through with no delay is
// kept; it is dropped when the upstream answers 401 or no backend
// answers, so refused credentials and dead routes run the chains again.
// A load or reload of any plugin moves the host's epoch, which every kept
// decision carries: older ones are not reused.

// maxDecisions bounds the kept decisions of one server (a few hundred
// bytes each). When full, expired ones are swept; when all are live, a
// quarter is dropped at random (map order), which only costs those
// clients one run of the chains.
const maxDecisions = 16384

// decision is what the login, throttle and route chains left: the fields
// they may write and the pool field as the route chain left it (before
// the host chose the pool), with the verdicts for the access log.
type decision struct {
	expires int64 // unix nanos
	epoch   uint32

	login, account, clientSuffix              string
	upstreams                                 []string
	upstreamLogin, upstreamPass               string
	pool, message                             string
	cacheAlias, routeCached, passwordVerified bool
	verdicts                                  string
}

// decisions are a server's kept decisions.
type decisions struct {
	salt [16]byte
	mu   sync.Mutex
	m    map[[sha256.Size]byte]*decision
}

func newDecisions() *decisions {
	d := &decisions{m: make(map[[sha256.Size]byte]*decision)}
	_, _ = rand.Read(d.salt[:])
	return d
}

// key is a request's reuse key (see above) from its parts: authz are its
// Authorization values, cookie the auth cookie's value. It appends
// length-prefixed parts, so no two different requests share the material.
func (d *decisions) key(listener, tlsVersion, sni, client, host, route, authMethod string, authz []string, cookie string) [sha256.Size]byte {
	var buf [512]byte
	b := append(buf[:0], d.salt[:]...)
	part := func(s string) {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	part(listener)
	part(tlsVersion)
	part(sni)
	part(client)
	part(host)
	part(route)
	part(authMethod)
	b = binary.AppendUvarint(b, uint64(len(authz)))
	for _, v := range authz {
		part(v)
	}
	part(cookie)
	return sha256.Sum256(b)
}

// get returns the live decision kept under k in epoch, or nil.
func (d *decisions) get(k [sha256.Size]byte, epoch uint32, now int64) *decision {
	d.mu.Lock()
	dec := d.m[k]
	if dec != nil && (dec.epoch != epoch || now >= dec.expires) {
		delete(d.m, k)
		dec = nil
	}
	d.mu.Unlock()
	return dec
}

// put keeps dec under k, replacing what was there.
func (d *decisions) put(k [sha256.Size]byte, dec *decision, now int64) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if _, ok := d.m[k]; !ok && len(d.m) >= maxDecisions {
		for k, v := range d.m {
			if now >= v.expires {
				delete(d.m, k)
			}
		}
		for k := range d.m {
			if len(d.m) < maxDecisions*3/4 {
				break
			}
			delete(d.m, k)
		}
	}
	d.m[k] = dec
}

// drop forgets the decision kept under k.
func (d *decisions) drop(k [sha256.Size]byte) {
	d.mu.Lock()
	delete(d.m, k)
	d.mu.Unlock()
}

// len is the number of kept decisions, expired ones included.
func (d *decisions) len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.m)
}

// capture records what the chains left in f; pool is the pool field as
// the route chain left it.
func capture(f *plugin.Fields, pool string, verdicts []byte) *decision {
	return &decision{
		login: f.Login, account: f.Account, clientSuffix: f.ClientSuffix,
		upstreams:     slices.Clone(f.Upstreams),
		upstreamLogin: f.UpstreamLogin, upstreamPass: f.UpstreamPassword,
		cacheAlias: f.CacheAlias, pool: pool, message: f.Message,
		routeCached: f.RouteCached, passwordVerified: f.PasswordVerified,
		verdicts: string(verdicts),
	}
}

// apply sets the fields a request's chains would have left.
func (dec *decision) apply(f *plugin.Fields) {
	f.Login, f.Account, f.ClientSuffix = dec.login, dec.account, dec.clientSuffix
	f.Upstreams = dec.upstreams // never written in place: a plugin's field_set replaces the slice
	f.UpstreamLogin, f.UpstreamPassword = dec.upstreamLogin, dec.upstreamPass
	f.CacheAlias, f.Message = dec.cacheAlias, dec.message
	f.RouteCached, f.PasswordVerified = dec.routeCached, dec.passwordVerified
	f.HTTP.Pool = dec.pool
}

// reuseState is a request's part in decision reuse.
type reuseState struct {
	keyed  bool // key is the request's reuse key: a decision may be kept or was reused
	reused bool // the request took a kept decision
	sent   bool // the request went to the forwarder (not answered by the host)
	key    [sha256.Size]byte
	ttl    time.Duration
	epoch  uint32
}

// reusedHooks is how many of abi.RequestHooks, from the first, a reused
// decision skips: login, throttle and route (init checks the order).
const reusedHooks = 3

func init() {
	if !slices.Equal(abi.RequestHooks[:reusedHooks], []abi.Hook{abi.HookLogin, abi.HookThrottle, abi.HookRoute}) {
		panic("web: abi.RequestHooks no longer starts with login, throttle, route")
	}
}

// reuseDecision sets st up for decision reuse before the chains run: it
// keys a request with credentials when the plugins allow a reuse, and
// takes a kept decision when there is one. It reports whether it did.
func (s *Server) reuseDecision(r *http.Request, st *reqState, l *Listener) bool {
	f := st.f
	if s.decisions == nil || s.plugins == nil || f.AuthMethod == "none" {
		return false
	}
	ttl, epoch := s.plugins.Reuse()
	if ttl <= 0 {
		return false
	}
	cookie := ""
	if c, err := r.Cookie(s.cfg.AuthCookie); err == nil {
		cookie = c.Value
	}
	ru := &st.reuse
	rt := ""
	if st.rt != nil {
		rt = st.rt.name
	}
	ru.keyed, ru.ttl, ru.epoch = true, ttl, epoch
	ru.key = s.decisions.key(l.Name, f.TLSVersion, f.SNI, st.clientIP, r.Host, rt, f.AuthMethod, r.Header["Authorization"], cookie)
	now := time.Now().UnixNano()
	dec := s.decisions.get(ru.key, epoch, now)
	if dec == nil {
		return false
	}
	dec.apply(f)
	ru.reused = true
	st.verdicts = append(st.verdicts, "reused"...)
	if dec.verdicts != "" {
		st.verdicts = append(st.verdicts, ' ')
		st.verdicts = append(st.verdicts, dec.verdicts...)
	}
	if st.ls != nil {
		st.ls.reused.Add(1)
	}
	return true
}

// keepDecision keeps what the login, throttle and route chains decided
// for st, after the route chain, when the request was keyed and nothing
// delayed it. pool is the pool field as the route chain left it.
func (s *Server) keepDecision(st *reqState, pool string, delayed bool) {
	ru := &st.reuse
	if !ru.keyed || ru.reused || delayed {
		return
	}
	dec := capture(st.f, pool, st.verdicts)
	now := time.Now().UnixNano()
	dec.epoch, dec.expires = ru.epoch, now+int64(ru.ttl)
	s.decisions.put(ru.key, dec, now)
}

// settleDecision drops the request's kept decision when the request was
// sent on and the upstream refused the credentials (401) or no backend
// answered: the next request with the same key runs the chains again. A
// request the host answered itself (a rewrite's redirect or refusal)
// leaves it.
func (s *Server) settleDecision(st *reqState) {
	if ru := &st.reuse; ru.keyed && ru.sent && (!st.connected || st.upStatus == http.StatusUnauthorized) {
		s.decisions.drop(ru.key)
	}
}
