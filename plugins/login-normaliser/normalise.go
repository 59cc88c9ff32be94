package main

import (
	"strings"
	"unicode/utf8"

	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/plugins/internal/duration"
)

// cfg is this instance's configuration, set by configure (init).
var cfg = &settings{lowercase: true, suffixes: defaultSuffixes, maxLength: defaultMaxLength}

// Counter names.
const (
	ctrChanged        = "changed"
	ctrSuffixStripped = "suffix_stripped"
	ctrDomainAdded    = "domain_added"
	ctrDomainStripped = "domain_stripped"
	ctrAliased        = "aliased"
	ctrTooLong        = "too_long"
	ctrEmpty          = "empty"
)

// configure is the plugin's init: it refuses a bad configuration.
func configure(config []byte) error {
	s, err := parseConfig(config)
	if err != nil {
		return err
	}
	cfg = s
	// The decision reuse (duration.DeclareReuse): the login's normal form
	// depends only on the login, the SNI and the listener, all in the
	// reuse key.
	return duration.DeclareReuse("login-normaliser", s.reuse)
}

// input is what the normaliser reads from the session.
type input struct {
	login, listener, sni string
}

// result is the normalised login and what happened to it.
type result struct {
	login   string
	account string // the alias's account, "" when not aliased
	suffix  string // the client suffix stripped, "" when none
	events  []string
}

// normaliseLogin is the login hook: it rewrites login, account and
// client_suffix and returns Continue so later login plugins still run.
func normaliseLogin() postern.Verdict {
	orig := postern.Login()
	acct := postern.Account() // reads as login unless a plugin set it
	r := cfg.normalise(input{login: orig, listener: postern.Listener(), sni: postern.SNI()})
	for _, e := range r.events {
		postern.CounterAdd(e, 1)
	}
	if r.login != orig {
		if err := postern.SetLogin(r.login); err != nil {
			postern.Warnf("login-normaliser: the host refused the normalised login (%v); the login goes on unchanged", err)
			return postern.Continue
		}
		postern.CounterAdd(ctrChanged, 1)
	}
	if r.suffix != "" {
		_ = postern.SetClientSuffix(r.suffix)
	}
	switch {
	case r.account != "":
		_ = postern.SetAccount(r.account)
	case acct == orig && r.login != orig:
		// The account followed the login; keep it following.
		_ = postern.SetAccount(r.login)
	}
	return postern.Continue
}

// normalise applies, in order: the client suffix, lower case, the domain,
// the alias. An empty or too long login is returned unchanged.
func (s *settings) normalise(in input) result {
	l := in.login
	if l == "" {
		return result{events: []string{ctrEmpty}}
	}
	if len(l) > s.maxLength {
		return result{login: l, events: []string{ctrTooLong}}
	}
	var r result

	// 1. A client suffix at the very end: "bob@example.com/tb".
	// Only when something is left: "/tb" is a login, not a bare suffix.
	if i := strings.LastIndexByte(l, '/'); i > 0 {
		suf := asciiLower(l[i+1:])
		for _, want := range s.suffixes {
			if suf == want {
				l, r.suffix = l[:i], want
				r.events = append(r.events, ctrSuffixStripped)
				break
			}
		}
	}

	// 2. Lower case.
	l = s.fold(l)

	// 3. The domain, after the last '@'.
	if i := strings.LastIndexByte(l, '@'); i < 0 || i == len(l)-1 && i > 0 {
		if d := s.domainFor(in); d != "" {
			l = strings.TrimSuffix(l, "@") + "@" + s.fold(d)
			r.events = append(r.events, ctrDomainAdded)
		}
	} else if i > 0 && s.strip[strings.ToLower(l[i+1:])] {
		l = l[:i]
		r.events = append(r.events, ctrDomainStripped)
	}

	// 4. The alias gives the account.
	if a, ok := s.aliases[l]; ok {
		r.account = a
		r.events = append(r.events, ctrAliased)
	}
	r.login = l
	return r
}

// domainFor is the domain to add: by SNI name, else by listener, else
// the default.
func (s *settings) domainFor(in input) string {
	if in.sni != "" {
		if d, ok := s.bySNI[strings.ToLower(strings.TrimSuffix(in.sni, "."))]; ok {
			return d
		}
	}
	if d, ok := s.byListener[in.listener]; ok {
		return d
	}
	return s.defaultDomain
}

// fold lower-cases a login when configured to: Unicode lower case for
// valid UTF-8 (strings.ToLower, no IDNA mapping of domains), ASCII only
// otherwise, so that bytes that are not UTF-8 pass unchanged.
func (s *settings) fold(l string) string {
	if !s.lowercase {
		return l
	}
	if utf8.ValidString(l) {
		return strings.ToLower(l)
	}
	return asciiLower(l)
}

func asciiLower(s string) string {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' {
			b := []byte(s)
			for j := i; j < len(b); j++ {
				if b[j] >= 'A' && b[j] <= 'Z' {
					b[j] += 'a' - 'A'
				}
			}
			return string(b)
		}
	}
	return s
}
