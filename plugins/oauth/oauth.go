package main

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
)

// unavailableError is a failure to check a token at all (the key set or
// the introspection endpoint cannot be had): a temporary failure, never a
// pass and never a refusal of the user.
type unavailableError struct{ msg string }

func (e *unavailableError) Error() string { return e.msg }

func unavailable(msg string) error { return &unavailableError{msg} }

// failFast: after a failed JWKS fetch, logins that need one fail at once
// for this long rather than each waiting for the timeout.
const failFast = 5 * time.Second

// checker holds one instance's state: the parsed key set and when it
// expires.
type checker struct {
	c         *config
	keys      []jwk
	keysExp   time.Time // the key set is used until then
	lastFetch time.Time // the last fetch this instance made
	failUntil time.Time // a fetch failed: do not try again before this
}

func newChecker(c *config) *checker { return &checker{c: c} }

// login is the login hook: it checks the bearer token of an OAUTHBEARER
// or XOAUTH2 login, sets the login from the token and vouches for it;
// other logins are left to the next plugin.
func (ck *checker) login() postern.Verdict {
	m := postern.AuthMethod()
	if m != "oauthbearer" && m != "xoauth2" {
		return postern.Continue
	}
	claimed := postern.OAuthUser()
	login, err := ck.check(postern.OAuthToken())
	if err == nil && claimed != "" && !ck.sameUser(claimed, login) {
		err = refused(reasonMismatch)
	}
	var te *tokenError
	switch {
	case errors.As(err, &te):
		postern.CounterAdd("refused_"+te.reason, 1)
		postern.Infof("oauth: %s token refused: %s (claimed user %q, token user %q)", m, te.reason, claimed, login)
		return postern.Refuse("Invalid or expired token.")
	case err != nil:
		postern.CounterAdd("unavailable", 1)
		postern.Warnf("oauth: cannot check tokens: %v", err)
		return postern.TempFail("")
	}
	if err := postern.SetLogin(login); err != nil {
		postern.Errorf("oauth: setting the login: %v", err)
		return postern.TempFail("")
	}
	if ck.c.vouch {
		_ = postern.SetPasswordVerified(true)
	}
	postern.CounterAdd("accepted", 1)
	return postern.Continue
}

func (ck *checker) sameUser(claimed, login string) bool {
	if ck.c.userMatch == "exact" {
		return claimed == login
	}
	return strings.EqualFold(claimed, login)
}

// check validates a token and returns the login it names.
func (ck *checker) check(tok string) (string, error) {
	if ck.c.introspectionURL != "" {
		return ck.introspect(tok)
	}
	t, err := parseJWT(tok)
	if err != nil {
		return "", err
	}
	if !ck.c.algorithms[t.alg] {
		return "", refused(reasonAlg)
	}
	k, err := ck.key(t.alg, t.kid)
	if err != nil {
		return "", err
	}
	if !verifySig(t, k) {
		return "", refused(reasonSignature)
	}
	if claimString(t.claims, "iss") != ck.c.issuer {
		return "", refused(reasonIssuer)
	}
	if !ck.audienceOK(t.claims) {
		return "", refused(reasonAudience)
	}
	return ck.claims(t.claims, true)
}

// claims checks the time claims (exp required when needExp), the scope,
// and returns the login claim.
func (ck *checker) claims(c map[string]json.RawMessage, needExp bool) (string, error) {
	now := float64(postern.Now().UnixNano()) / 1e9
	skew := ck.c.skew.Seconds()
	exp, has, err := claimTime(c, "exp")
	if err != nil {
		return "", err
	}
	if !has && needExp {
		return "", refused(reasonMalformed)
	}
	if has && now >= exp+skew {
		return "", refused(reasonExpired)
	}
	nbf, has, err := claimTime(c, "nbf")
	if err != nil {
		return "", err
	}
	if has && now < nbf-skew {
		return "", refused(reasonNotYet)
	}
	if ck.c.requiredScope != "" && !hasScope(c, ck.c.requiredScope) {
		return "", refused(reasonScope)
	}
	login := claimString(c, ck.c.loginClaim)
	if login == "" || strings.ContainsAny(login, "\x00\r\n") {
		return "", refused(reasonNoLogin)
	}
	return login, nil
}

func (ck *checker) audienceOK(c map[string]json.RawMessage) bool {
	for _, a := range claimStrings(c, "aud") {
		for _, want := range ck.c.audiences {
			if a == want {
				return true
			}
		}
	}
	return false
}

// key returns the key that verifies a token, loading the key set from the
// store or the identity provider when it is not held or expired, and
// fetching it again (rate-limited) for a kid it does not know, since
// providers rotate keys.
func (ck *checker) key(alg, kid string) (jwk, error) {
	now := postern.Now()
	fetched := false
	if ck.keys == nil || !now.Before(ck.keysExp) {
		if !ck.loadCached(now) {
			if err := ck.fetch(now); err != nil {
				return jwk{}, err
			}
			fetched = true
		}
	}
	if k, ok := findKey(ck.keys, alg, kid); ok {
		return k, nil
	}
	if fetched || !ck.mayRefresh(now) {
		return jwk{}, refused(reasonUnknownKey)
	}
	if err := ck.fetch(now); err != nil {
		return jwk{}, err
	}
	if k, ok := findKey(ck.keys, alg, kid); ok {
		return k, nil
	}
	return jwk{}, refused(reasonUnknownKey)
}

// loadCached takes the key set another instance or node stored, if it is
// still fresh. The value is "<expiry unix seconds>\n<JWKS JSON>".
func (ck *checker) loadCached(now time.Time) bool {
	v, err := postern.KVGet(ck.c.cacheKey)
	if err != nil {
		return false
	}
	head, body, ok := strings.Cut(string(v), "\n")
	exp, err := strconv.ParseInt(head, 10, 64)
	if !ok || err != nil || !now.Before(time.Unix(exp, 0)) {
		return false
	}
	keys, err := parseJWKS([]byte(body))
	if err != nil {
		return false
	}
	ck.keys, ck.keysExp = keys, time.Unix(exp, 0)
	return true
}

// mayRefresh reports whether an unknown kid may fetch the key set now: at
// most once per jwks_refresh_min, in this instance and, through the
// store, across instances and nodes.
func (ck *checker) mayRefresh(now time.Time) bool {
	if ck.c.refreshMin == 0 {
		return true
	}
	if now.Sub(ck.lastFetch) < ck.c.refreshMin {
		return false
	}
	err := postern.KVAdd(ck.c.limitKey, []byte("1"), ck.c.refreshMin)
	return !errors.Is(err, abi.ErrExists)
}

// fetch gets the key set from jwks_url and stores it with its max-age.
func (ck *checker) fetch(now time.Time) error {
	if now.Before(ck.failUntil) {
		return unavailable("JWKS " + ck.c.jwksURL + ": the last fetch failed; retrying shortly")
	}
	ck.lastFetch = now
	postern.CounterAdd("jwks_fetch", 1)
	resp, err := postern.HTTPDo(&postern.HTTPRequest{URL: ck.c.jwksURL, Timeout: ck.c.timeout,
		Header: postern.HTTPHeader{"Accept": {"application/json"}}})
	var keys []jwk
	switch {
	case err != nil:
		err = unavailable("JWKS " + ck.c.jwksURL + ": " + err.Error())
	case resp.Status != 200:
		err = unavailable("JWKS " + ck.c.jwksURL + ": HTTP " + strconv.Itoa(resp.Status))
	default:
		if keys, err = parseJWKS(resp.Body); err != nil {
			err = unavailable(ck.c.jwksURL + ": " + err.Error())
		} else if len(keys) == 0 {
			err = unavailable("JWKS " + ck.c.jwksURL + ": no RSA or P-256 signing key")
		}
	}
	if err != nil {
		postern.CounterAdd("jwks_fetch_failed", 1)
		ck.failUntil = now.Add(failFast)
		return err
	}
	age := maxAge(resp.Header.Get("Cache-Control"))
	ck.keys, ck.keysExp = keys, now.Add(age)
	val := strconv.FormatInt(ck.keysExp.Unix(), 10) + "\n" + string(resp.Body)
	if len(val) <= abi.MaxKVValueBytes {
		_ = postern.KVSet(ck.c.cacheKey, []byte(val), age)
	}
	return nil
}

// maxAge returns a Cache-Control max-age, clamped, or the default.
func maxAge(cc string) time.Duration {
	for _, d := range strings.Split(cc, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(d), "=")
		if !ok || !strings.EqualFold(k, "max-age") {
			continue
		}
		n, err := strconv.ParseInt(strings.Trim(v, `"`), 10, 64)
		if err != nil || n < 0 {
			break
		}
		return min(max(time.Duration(n)*time.Second, minJWKSMaxAge), maxJWKSMaxAge)
	}
	return defaultJWKSMaxAge
}

// introspectKey is the store key of a token's cached introspection
// answer: a digest, never the token.
func introspectKey(tok string) string {
	h := sha256.Sum256([]byte(tok))
	return "postern:oauth:introspect:" + hex.EncodeToString(h[:16])
}

// introspect asks the RFC 7662 endpoint about a token, or reuses its
// answer from the store: an active answer is kept for introspection_cache
// (never past the token's exp), so a client that reconnects often costs
// one request per interval. Inactive answers are not kept.
func (ck *checker) introspect(tok string) (string, error) {
	if len(tok) > maxJWT {
		return "", refused(reasonMalformed)
	}
	key := introspectKey(tok)
	if ck.c.introspCache > 0 {
		if b, err := postern.KVGet(key); err == nil {
			if c, err := parseIntrospection(b); err == nil {
				postern.CounterAdd("introspection_cached", 1)
				return ck.judge(c)
			}
		}
	}
	hdr := postern.HTTPHeader{"Content-Type": {"application/x-www-form-urlencoded"}, "Accept": {"application/json"}}
	if ck.c.clientID != "" {
		// RFC 6749 2.3.1: both form-encoded, then HTTP Basic.
		cred := url.QueryEscape(ck.c.clientID) + ":" + url.QueryEscape(ck.c.clientSecret)
		hdr.Set("Authorization", "Basic "+base64.StdEncoding.EncodeToString([]byte(cred)))
	}
	postern.CounterAdd("introspection", 1)
	resp, err := postern.HTTPDo(&postern.HTTPRequest{Method: "POST", URL: ck.c.introspectionURL, Header: hdr,
		Body: []byte("token=" + url.QueryEscape(tok) + "&token_type_hint=access_token"), Timeout: ck.c.timeout})
	if err != nil {
		return "", unavailable("introspection " + ck.c.introspectionURL + ": " + err.Error())
	}
	if resp.Status != 200 {
		return "", unavailable("introspection " + ck.c.introspectionURL + ": HTTP " + strconv.Itoa(resp.Status))
	}
	c, err := parseIntrospection(resp.Body)
	if err != nil {
		return "", unavailable("introspection " + ck.c.introspectionURL + ": " + err.Error())
	}
	login, err := ck.judge(c)
	if err == nil && ck.c.introspCache > 0 {
		ttl := ck.c.introspCache
		if exp, has, _ := claimTime(c, "exp"); has {
			ttl = min(ttl, time.Duration((exp-float64(postern.Now().Unix()))*float64(time.Second)))
		}
		if ttl >= time.Second && len(resp.Body) <= abi.MaxKVValueBytes {
			_ = postern.KVSet(key, resp.Body, ttl)
		}
	}
	return login, err
}

// judge checks an introspection answer.
func (ck *checker) judge(c map[string]json.RawMessage) (string, error) {
	var active bool
	if json.Unmarshal(c["active"], &active) != nil || !active {
		return "", refused(reasonInactive)
	}
	if ck.c.issuer != "" && claimString(c, "iss") != ck.c.issuer {
		return "", refused(reasonIssuer)
	}
	if len(ck.c.audiences) > 0 && !ck.audienceOK(c) {
		return "", refused(reasonAudience)
	}
	return ck.claims(c, false)
}

// parseIntrospection reads an introspection response: a JSON object with
// a boolean "active" (RFC 7662 2.2).
func parseIntrospection(b []byte) (map[string]json.RawMessage, error) {
	var c map[string]json.RawMessage
	if err := json.Unmarshal(b, &c); err != nil || c == nil {
		return nil, errors.New("not a JSON object")
	}
	var active bool
	if raw, ok := c["active"]; !ok || json.Unmarshal(raw, &active) != nil {
		return nil, errors.New(`no boolean "active"`)
	}
	return c, nil
}
