package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/postern/postern/plugins/internal/duration"
)

// rawConfig is the configuration as the operator writes it (JSON).
type rawConfig struct {
	Lowercase     *bool             `json:"lowercase"`
	DefaultDomain string            `json:"default_domain"`
	Domains       rawDomains        `json:"domains"`
	StripDomains  []string          `json:"strip_domains"`
	Aliases       map[string]string `json:"aliases"`
	Suffixes      *[]string         `json:"suffixes"`
	MaxLength     *int              `json:"max_length"`
	Reuse         json.RawMessage   `json:"reuse"`
}

type rawDomains struct {
	Listener map[string]string `json:"listener"`
	SNI      map[string]string `json:"sni"`
}

// settings is the checked configuration.
type settings struct {
	lowercase     bool
	defaultDomain string
	byListener    map[string]string
	bySNI         map[string]string // keys lower case
	strip         map[string]bool   // lower case
	aliases       map[string]string // keys normalised like logins
	suffixes      []string          // lower case
	maxLength     int
	// reuse is the decision reuse init declares (postern.ReuseDecisions):
	// for this long the host may reuse a web request's normalised login
	// for the same credentials from the same client.
	reuse time.Duration
}

// Defaults: Zimbra's client suffixes, and RFC 5321's longest path.
var defaultSuffixes = []string{"tb", "wm", "ni"}

const (
	defaultMaxLength = 256
	maxMaxLength     = 65536
)

// parseConfig decodes and checks the configuration. Errors name the key,
// prefixed with "login-normaliser: config: ".
func parseConfig(b []byte) (*settings, error) {
	s, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("login-normaliser: config: %w", err)
	}
	return s, nil
}

func parse(b []byte) (*settings, error) {
	var rc rawConfig
	if len(bytes.TrimSpace(b)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rc); err != nil {
			return nil, jsonError(err)
		}
		if dec.More() {
			return nil, errors.New("trailing data after the JSON object")
		}
	}
	s := &settings{lowercase: rc.Lowercase == nil || *rc.Lowercase, maxLength: defaultMaxLength, suffixes: defaultSuffixes,
		reuse: duration.DefaultReuse}
	if rc.MaxLength != nil {
		if *rc.MaxLength < 1 || *rc.MaxLength > maxMaxLength {
			return nil, fmt.Errorf("max_length: %d is outside 1..%d", *rc.MaxLength, maxMaxLength)
		}
		s.maxLength = *rc.MaxLength
	}
	var err error
	if s.reuse, err = duration.ParseReuse(rc.Reuse, "5s", "500ms", duration.IsOutside); err != nil {
		return nil, err
	}
	if s.defaultDomain, err = domain("default_domain", rc.DefaultDomain, true); err != nil {
		return nil, err
	}
	for _, name := range slices.Sorted(maps.Keys(rc.Domains.Listener)) {
		d, err := domain("domains.listener."+name, rc.Domains.Listener[name], false)
		if err != nil {
			return nil, err
		}
		if s.byListener == nil {
			s.byListener = map[string]string{}
		}
		s.byListener[name] = d
	}
	for _, name := range slices.Sorted(maps.Keys(rc.Domains.SNI)) {
		d, err := domain("domains.sni."+name, rc.Domains.SNI[name], false)
		if err != nil {
			return nil, err
		}
		if s.bySNI == nil {
			s.bySNI = map[string]string{}
		}
		s.bySNI[strings.ToLower(strings.TrimSuffix(name, "."))] = d
	}
	for i, d := range rc.StripDomains {
		d, err := domain(fmt.Sprintf("strip_domains[%d]", i), d, false)
		if err != nil {
			return nil, err
		}
		if s.strip == nil {
			s.strip = map[string]bool{}
		}
		s.strip[strings.ToLower(d)] = true
	}
	// A domain both added and stripped would flip the login on every pass.
	added := map[string]string{"default_domain": s.defaultDomain}
	for k, v := range s.byListener {
		added["domains.listener."+k] = v
	}
	for k, v := range s.bySNI {
		added["domains.sni."+k] = v
	}
	for _, key := range slices.Sorted(maps.Keys(added)) {
		if d := added[key]; d != "" && s.strip[strings.ToLower(d)] {
			return nil, fmt.Errorf("%s: %q is also in strip_domains; a domain is either added or stripped", key, d)
		}
	}
	if rc.Suffixes != nil {
		s.suffixes = nil
		for i, suf := range *rc.Suffixes {
			if suf == "" || strings.ContainsAny(suf, "/@ \t\r\n") || !utf8.ValidString(suf) {
				return nil, fmt.Errorf("suffixes[%d]: %q: want a suffix without '/', '@' or spaces (\"tb\")", i, suf)
			}
			s.suffixes = append(s.suffixes, strings.ToLower(suf))
		}
	}
	for _, from := range slices.Sorted(maps.Keys(rc.Aliases)) {
		to := rc.Aliases[from]
		if from == "" || to == "" {
			return nil, fmt.Errorf("aliases: %q: %q: neither side may be empty", from, to)
		}
		if strings.ContainsAny(to, "\r\n\x00") {
			return nil, fmt.Errorf("aliases.%s: the account contains CR, LF or NUL", from)
		}
		key := s.fold(from)
		if s.aliases == nil {
			s.aliases = map[string]string{}
		}
		if prev, dup := s.aliases[key]; dup && prev != to {
			return nil, fmt.Errorf("aliases.%s: two aliases read as %q once lower-cased, with different accounts", from, key)
		}
		s.aliases[key] = to
	}
	return s, nil
}

// domain checks a domain name from the configuration: no '@', '/',
// spaces or control characters. Only def may be empty.
func domain(key, d string, mayBeEmpty bool) (string, error) {
	if d == "" {
		if mayBeEmpty {
			return "", nil
		}
		return "", fmt.Errorf("%s: empty; give a domain (\"example.com\")", key)
	}
	d = strings.TrimPrefix(d, "@")
	if d == "" || strings.ContainsAny(d, "@/") || !utf8.ValidString(d) || strings.IndexFunc(d, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		return "", fmt.Errorf("%s: %q is not a domain (\"example.com\")", key, d)
	}
	return d, nil
}

// jsonError turns encoding/json's errors into ones that name the key.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Errorf("the configuration must be a JSON object, got JSON %s", te.Value)
		}
		return fmt.Errorf("%s: JSON %s is not the expected type", te.Field, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("not valid JSON at byte %d: %v", se.Offset, err)
	}
	return err
}
