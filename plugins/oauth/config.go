package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// Defaults.
const (
	defaultSkew           = 60 * time.Second
	defaultJWKSMaxAge     = time.Hour        // a JWKS served without Cache-Control max-age
	minJWKSMaxAge         = time.Minute      // a max-age below this is raised to it
	maxJWKSMaxAge         = 24 * time.Hour   // and one above this lowered
	defaultRefreshMinimum = 30 * time.Second // at most one JWKS fetch per interval for unknown kids
	defaultTimeout        = 5 * time.Second
	defaultIntrospCache   = time.Minute // how long an active introspection answer is reused
)

// config is the plugin's configuration after validation.
type config struct {
	// JWT mode: local validation against a JWKS.
	jwksURL    string
	issuer     string
	audiences  []string
	algorithms map[string]bool
	refreshMin time.Duration
	cacheKey   string // kv key of the cached JWKS
	limitKey   string // kv key that rate-limits refreshes

	// Introspection mode (RFC 7662).
	introspectionURL string
	clientID         string
	clientSecret     string
	introspCache     time.Duration // 0: ask every time

	loginClaim    string
	requiredScope string
	skew          time.Duration
	timeout       time.Duration
	vouch         bool
	userMatch     string // "exact" or "ignore-case"
}

// rawConfig is the JSON the operator wrote (the host converts YAML).
type rawConfig struct {
	JWKSURL          string          `json:"jwks_url"`
	Issuer           string          `json:"issuer"`
	Audience         json.RawMessage `json:"audience"`
	Algorithms       []string        `json:"algorithms"`
	JWKSRefreshMin   json.RawMessage `json:"jwks_refresh_min"`
	IntrospectionURL string          `json:"introspection_url"`
	ClientID         string          `json:"client_id"`
	ClientSecret     string          `json:"client_secret"`
	IntrospCache     json.RawMessage `json:"introspection_cache"`
	LoginClaim       string          `json:"login_claim"`
	RequiredScope    string          `json:"required_scope"`
	ClockSkew        json.RawMessage `json:"clock_skew"`
	Timeout          json.RawMessage `json:"timeout"`
	Vouch            *bool           `json:"vouch"`
	UserMatch        string          `json:"user_match"`
}

// parseDuration reads "15s"-style text or a number of seconds.
func parseDuration(name string, b json.RawMessage, def time.Duration) (time.Duration, error) {
	if len(b) == 0 {
		return def, nil
	}
	var d time.Duration
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%s %q: want a duration like \"30s\"", name, s)
		}
		d = v
	} else {
		n, err := strconv.ParseFloat(string(b), 64)
		if err != nil {
			return 0, fmt.Errorf("%s %s: want a duration like \"30s\" or seconds", name, b)
		}
		d = time.Duration(n * float64(time.Second))
	}
	if d < 0 {
		return 0, fmt.Errorf("%s is negative", name)
	}
	return d, nil
}

func checkURL(name, s string) error {
	u, err := url.Parse(s)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return fmt.Errorf("%s %q: want an absolute http:// or https:// URL", name, s)
	}
	return nil
}

// parseConfig validates the configuration; errors name the key.
func parseConfig(b []byte) (*config, error) {
	var r rawConfig
	d := json.NewDecoder(bytes.NewReader(b))
	d.DisallowUnknownFields()
	if len(bytes.TrimSpace(b)) == 0 {
		return nil, errors.New("configuration is empty: set jwks_url (with issuer and audience) or introspection_url")
	}
	if err := d.Decode(&r); err != nil {
		return nil, fmt.Errorf("configuration: %v", err)
	}
	c := &config{jwksURL: r.JWKSURL, issuer: r.Issuer, introspectionURL: r.IntrospectionURL,
		clientID: r.ClientID, clientSecret: r.ClientSecret, loginClaim: r.LoginClaim,
		requiredScope: r.RequiredScope, vouch: true, userMatch: r.UserMatch}
	if r.Vouch != nil {
		c.vouch = *r.Vouch
	}
	switch {
	case c.jwksURL != "" && c.introspectionURL != "":
		return nil, errors.New("set jwks_url or introspection_url, not both")
	case c.jwksURL == "" && c.introspectionURL == "":
		return nil, errors.New("set jwks_url (with issuer and audience) or introspection_url")
	}
	var err error
	if c.skew, err = parseDuration("clock_skew", r.ClockSkew, defaultSkew); err != nil {
		return nil, err
	}
	if c.timeout, err = parseDuration("timeout", r.Timeout, defaultTimeout); err != nil {
		return nil, err
	}
	if c.refreshMin, err = parseDuration("jwks_refresh_min", r.JWKSRefreshMin, defaultRefreshMinimum); err != nil {
		return nil, err
	}
	if c.introspCache, err = parseDuration("introspection_cache", r.IntrospCache, defaultIntrospCache); err != nil {
		return nil, err
	}
	if len(r.Audience) > 0 {
		var one string
		if json.Unmarshal(r.Audience, &one) == nil {
			c.audiences = []string{one}
		} else if err := json.Unmarshal(r.Audience, &c.audiences); err != nil {
			return nil, errors.New("audience: want a string or a list of strings")
		}
		for _, a := range c.audiences {
			if a == "" {
				return nil, errors.New("audience: an empty audience")
			}
		}
	}
	switch c.userMatch {
	case "":
		c.userMatch = "ignore-case"
	case "exact", "ignore-case":
	default:
		return nil, fmt.Errorf("user_match %q: want exact or ignore-case", c.userMatch)
	}
	if c.jwksURL != "" {
		if err := checkURL("jwks_url", c.jwksURL); err != nil {
			return nil, err
		}
		if c.issuer == "" {
			return nil, errors.New("issuer is required with jwks_url: the iss every token must carry")
		}
		if len(c.audiences) == 0 {
			return nil, errors.New("audience is required with jwks_url: the aud a token for this service carries")
		}
		if c.clientID != "" || c.clientSecret != "" || r.IntrospCache != nil {
			return nil, errors.New("client_id, client_secret and introspection_cache are for introspection_url")
		}
		algs := r.Algorithms
		if algs == nil {
			algs = []string{"RS256", "ES256"}
		}
		if len(algs) == 0 {
			return nil, errors.New("algorithms is empty: RS256, ES256 or both")
		}
		c.algorithms = map[string]bool{}
		for _, a := range algs {
			if a != "RS256" && a != "ES256" {
				return nil, fmt.Errorf("algorithms: %q: want RS256 or ES256", a)
			}
			c.algorithms[a] = true
		}
		h := sha256.Sum256([]byte(c.jwksURL))
		id := hex.EncodeToString(h[:8])
		c.cacheKey = "postern:oauth:jwks:" + id
		c.limitKey = "postern:oauth:jwks-fetch:" + id
		if c.loginClaim == "" {
			c.loginClaim = "email"
		}
	} else {
		if err := checkURL("introspection_url", c.introspectionURL); err != nil {
			return nil, err
		}
		if r.Algorithms != nil {
			return nil, errors.New("algorithms is for jwks_url")
		}
		if (c.clientID == "") != (c.clientSecret == "") {
			return nil, errors.New("set client_id and client_secret together")
		}
		if strings.Contains(c.clientID, ":") {
			return nil, errors.New("client_id must not contain \":\" (HTTP Basic)")
		}
		if c.loginClaim == "" {
			c.loginClaim = "username"
		}
	}
	return c, nil
}
