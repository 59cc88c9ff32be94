// Package gssapi is the server side of the SASL GSSAPI mechanism (RFC 4752)
// with Kerberos V5 (RFC 4120, RFC 4121), on gokrb5: it accepts a client's
// AP-REQ for a service principal in a keytab, answers with an AP-REP for
// mutual authentication, runs the security-layer exchange (offering no
// layer) and maps the client principal to a mail login.
//
// An [Acceptor] holds what every exchange shares: the keytab (re-read when
// the file changes), the principal mapping and a [ReplayCache], which may
// outlive it (a configuration reload hands the running cache to the new
// Acceptor). Each authentication is a [Server], which satisfies the
// sasl.Server interface of host/internal/sasl.
//
// Only RFC 4121 enctypes (AES) are supported: a ticket with a DES or RC4
// session key is refused. Errors never contain ticket or key bytes.
package gssapi

import (
	"crypto/sha256"
	"errors"
	"fmt"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jcmturner/gokrb5/v8/keytab"
)

// Config configures an [Acceptor].
type Config struct {
	// Keytab is the path of the keytab holding the service keys
	// (imap/<host>@REALM, pop/<host>@REALM). Required.
	Keytab string
	// ServiceHost is the host part of the service principals accepted.
	// Empty accepts any host the keytab has a key for, as MIT's acceptor
	// does with GSS_C_NO_NAME.
	ServiceHost string
	// MaxClockSkew is the largest difference allowed between the client's
	// clock and ours, and the grace given to ticket start and end times
	// (default 5m, RFC 4120's recommendation).
	MaxClockSkew time.Duration
	// Principals maps whole principals ("bob@EXAMPLE.COM") to logins. It is
	// checked first.
	Principals map[string]string
	// Realms maps a realm to the mail domain its users' logins get:
	// EXAMPLE.COM: example.com makes bob@EXAMPLE.COM log in as
	// bob@example.com. An empty domain strips the realm (bob). Principals
	// of realms not listed are refused. When Realms is empty, the realms of
	// the keytab's service principals are stripped.
	Realms map[string]string
	// Replay is the replay cache. Nil gives the Acceptor a new cache of its
	// own. Pass the same cache to the Acceptors of successive
	// configurations (a reload builds a new Acceptor), or an authenticator
	// captured before the reload is accepted once more after it.
	Replay *ReplayCache
}

// Service names of the mail protocols' principals (RFC 4752 and RFC 5034
// name them "imap" and "pop").
const (
	ServiceIMAP = "imap"
	ServicePOP  = "pop"
)

// maxReplayEntries bounds the replay cache; beyond it new authentications
// are refused rather than old entries forgotten, which would allow replays.
const maxReplayEntries = 1 << 20

// keytabCheckEvery is how often at most the keytab file is checked for
// changes.
const keytabCheckEvery = 5 * time.Second

// Acceptor verifies Kerberos logins for the mail front ends. It is safe for
// concurrent use.
type Acceptor struct {
	cfg Config

	mu        sync.Mutex
	kt        *keytab.Keytab
	ktMod     time.Time
	ktSize    int64
	ktChecked time.Time
	ktErr     error

	replay *ReplayCache
}

// ReplayCache remembers the authenticators presented to the Acceptors
// that share it, each for twice the clock skew allowed when it was seen
// (an authenticator is fresh within ±skew), so that each is accepted once.
// It lives in memory: a restart empties it. It is safe for concurrent use.
type ReplayCache struct {
	mu   sync.Mutex
	m    map[[32]byte]time.Time // hash of the ciphertext -> when it may be forgotten
	scan time.Time              // last sweep of expired entries
}

// NewReplayCache returns an empty ReplayCache.
func NewReplayCache() *ReplayCache {
	return &ReplayCache{m: map[[32]byte]time.Time{}}
}

// NewAcceptor loads the keytab and returns an Acceptor.
//
// # Errors
//
// A keytab that cannot be read or parsed, or that holds no key at all.
func NewAcceptor(cfg Config) (*Acceptor, error) {
	if cfg.Keytab == "" {
		return nil, errors.New("gssapi: no keytab configured; set mail.gssapi.keytab")
	}
	if cfg.MaxClockSkew <= 0 {
		cfg.MaxClockSkew = 5 * time.Minute
	}
	a := &Acceptor{cfg: cfg, replay: cfg.Replay}
	if a.replay == nil {
		a.replay = NewReplayCache()
	}
	kt, st, err := loadKeytab(cfg.Keytab)
	if err != nil {
		return nil, err
	}
	a.kt, a.ktMod, a.ktSize, a.ktChecked = kt, st.ModTime(), st.Size(), time.Now()
	return a, nil
}

func loadKeytab(path string) (*keytab.Keytab, os.FileInfo, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, nil, fmt.Errorf("gssapi: keytab: %w; create it with kadmin's ktadd and make it readable by postern", err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("gssapi: keytab: %w; make it readable by postern", err)
	}
	kt := keytab.New()
	if err := kt.Unmarshal(b); err != nil {
		return nil, nil, fmt.Errorf("gssapi: keytab %s: %v; is it a keytab (klist -k %s)?", path, err, path)
	}
	if len(kt.Entries) == 0 {
		return nil, nil, fmt.Errorf("gssapi: keytab %s holds no keys; add them with kadmin's ktadd", path)
	}
	return kt, st, nil
}

// keytab returns the current keytab, re-reading the file when its size or
// modification time changed. A changed file that does not parse (being
// written) leaves the previous keys in use; a removed or unreadable file
// returns nil, so GSSAPI is no longer offered.
func (a *Acceptor) keytab() *keytab.Keytab {
	a.mu.Lock()
	defer a.mu.Unlock()
	now := time.Now()
	if now.Sub(a.ktChecked) < keytabCheckEvery {
		if a.ktErr != nil {
			return nil
		}
		return a.kt
	}
	a.ktChecked = now
	st, err := os.Stat(a.cfg.Keytab)
	if err != nil {
		a.ktErr = err
		return nil
	}
	if f, err := os.Open(a.cfg.Keytab); err != nil {
		a.ktErr = err
		return nil
	} else {
		f.Close()
	}
	a.ktErr = nil
	if st.ModTime().Equal(a.ktMod) && st.Size() == a.ktSize {
		return a.kt
	}
	if kt, st, err := loadKeytab(a.cfg.Keytab); err == nil {
		a.kt, a.ktMod, a.ktSize = kt, st.ModTime(), st.Size()
	}
	return a.kt
}

// Offers reports whether the keytab is readable and holds a key for the
// service ("imap" or "pop") on ServiceHost (any host when empty). The mail
// front ends advertise GSSAPI only when it does.
func (a *Acceptor) Offers(service string) bool {
	kt := a.keytab()
	if kt == nil {
		return false
	}
	for _, e := range kt.Entries {
		c := e.Principal.Components
		if len(c) == 2 && c[0] == service && (a.cfg.ServiceHost == "" || strings.EqualFold(c[1], a.cfg.ServiceHost)) {
			return true
		}
	}
	return false
}

// keytabRealms returns the realms of the keytab's service principals.
func keytabRealms(kt *keytab.Keytab) map[string]bool {
	r := map[string]bool{}
	for _, e := range kt.Entries {
		r[e.Principal.Realm] = true
	}
	return r
}

// MapPrincipal returns the login for a client principal ("name@REALM"),
// following Principals, then Realms (or the keytab's realms when Realms is
// empty). Principals with an instance ("carol/admin@REALM") map only
// through Principals.
func (a *Acceptor) MapPrincipal(principal string) (string, error) {
	if login, ok := a.cfg.Principals[principal]; ok && login != "" {
		return login, nil
	}
	at := strings.LastIndexByte(principal, '@')
	if at <= 0 || at == len(principal)-1 {
		return "", fmt.Errorf("principal %q has no realm", principal)
	}
	name, realm := principal[:at], principal[at+1:]
	if strings.ContainsAny(name, "/@") {
		return "", fmt.Errorf("principal %q has an instance; map it in mail.gssapi.principals", principal)
	}
	if len(a.cfg.Realms) > 0 {
		domain, ok := a.cfg.Realms[realm]
		if !ok {
			return "", fmt.Errorf("realm %s is not in mail.gssapi.realms", realm)
		}
		if domain == "" {
			return name, nil
		}
		return name + "@" + domain, nil
	}
	kt := a.keytab()
	if kt == nil || !keytabRealms(kt)[realm] {
		return "", fmt.Errorf("realm %s is not the service's realm; list it in mail.gssapi.realms", realm)
	}
	return name, nil
}

// seen records an authenticator (by a hash of its ciphertext) and reports
// whether it was already presented within the replay window.
func (a *Acceptor) seen(cipher []byte) (replay, full bool) {
	// An authenticator is fresh within ±skew of our clock.
	return a.replay.seen(sha256.Sum256(cipher), 2*a.cfg.MaxClockSkew, time.Now())
}

// seen records key until now+window and reports whether it was recorded
// already and has not expired; full means it could not be recorded.
func (c *ReplayCache) seen(key [32]byte, window time.Duration, now time.Time) (replay, full bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if now.Sub(c.scan) > window/2 || len(c.m) >= maxReplayEntries {
		for k, exp := range c.m {
			if now.After(exp) {
				delete(c.m, k)
			}
		}
		c.scan = now
	}
	if exp, ok := c.m[key]; ok && now.Before(exp) {
		return true, false
	}
	if len(c.m) >= maxReplayEntries {
		return false, true
	}
	c.m[key] = now.Add(window)
	return false, false
}
