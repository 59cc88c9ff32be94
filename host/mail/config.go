package mail

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"sync"
	"time"

	"github.com/postern/postern/host/connlimit"
	"github.com/postern/postern/host/internal/gssapi"
	"github.com/postern/postern/host/plugin"
)

// Config configures the mail front ends. The zero value of every limit and
// timeout takes the default documented on it.
type Config struct {
	// Listeners are the sockets to serve.
	Listeners []Listener
	// Upstream says how to reach and log in to mailbox servers.
	Upstream Upstream
	// Limits bound what a client may do before and after login.
	Limits Limits
	// TLS is the server side for STARTTLS, STLS and implicit TLS
	// (certificates by SNI, from host/tlsstore). Required when a listener
	// uses TLS.
	TLS *tls.Config
	// Greeting is the text after "* OK" / "+OK" (default "Postern ready.").
	Greeting string
	// Plugins runs the hook chains. Nil runs only the built-in defaults.
	Plugins *plugin.Host
	// Logger receives one line per session and errors; nil: slog.Default().
	Logger *slog.Logger
	// Stats receives the counters; nil: the Server's own. Passing the same
	// Stats to the Servers of successive configurations keeps the counters
	// going across reloads.
	Stats *Stats
	// GSSAPI enables Kerberos logins (IMAP AUTHENTICATE GSSAPI, POP3 AUTH
	// GSSAPI) when its Keytab is set.
	GSSAPI GSSAPI
	// OAuth enables OAuth 2.0 logins (SASL OAUTHBEARER and XOAUTH2) when
	// its Mechanisms are set.
	OAuth OAuth
	// GSSAPIReplay is the Kerberos replay cache; nil: the Server's own.
	// Like Stats, pass the same cache to the Servers of successive
	// configurations: a reload then cannot reopen the replay window of
	// authenticators seen before it.
	GSSAPIReplay *ReplayCache
	// Limiter counts connections against Limits.MaxConnections,
	// MaxConnectionsPerClient and MaxPreLogin, and holds the process-wide
	// session cap (shared with the web front end); nil: the Server's own,
	// without a session cap. Like Stats, pass the same Registry to the
	// Servers of successive configurations, so that sessions still on the
	// previous one count against the new limits.
	Limiter *connlimit.Registry

	gss *gssState // the acceptor, loaded on first use; set by withDefaults
}

// GSSAPI configures Kerberos single sign-on (RFC 4752). The client
// authenticates with a ticket for imap/<host>@REALM or pop/<host>@REALM;
// Postern checks it with the keytab, maps the principal to a login, runs
// the hooks with auth_method "gssapi" and auth_id the principal, and logs
// in upstream with the master credentials (Upstream.GSSAPILogin).
// AUTH=GSSAPI is advertised only while the keytab is readable and holds a
// key for the listener's service.
type GSSAPI struct {
	// Keytab is the path of the service keytab. Empty: no GSSAPI.
	Keytab string
	// ServiceHost is the host part of the service principals accepted
	// ("mail.example.com"); empty accepts any host the keytab has keys for.
	ServiceHost string
	// MaxClockSkew is the largest clock difference with clients, and the
	// grace on ticket times (default 5m).
	MaxClockSkew time.Duration
	// Principals maps whole principals ("bob@EXAMPLE.COM") to logins,
	// checked first.
	Principals map[string]string
	// Realms maps a realm to the domain appended to its users' names
	// (EXAMPLE.COM: example.com makes bob@EXAMPLE.COM bob@example.com);
	// an empty domain strips the realm. Principals of other realms are
	// refused. Empty: the realm of the keytab's principals is stripped.
	Realms map[string]string
}

// OAuth configures OAuth 2.0 logins: IMAP AUTHENTICATE and POP3 AUTH with
// OAUTHBEARER (RFC 7628) or XOAUTH2, carrying a bearer token instead of a
// password. They are advertised, like password logins, only where a
// client may log in (after STARTTLS unless AllowPlaintextLogin). The host
// only decodes the token: a login plugin (the bundled oauth plugin)
// checks it and sets the login, or the mailbox server checks it when the
// token is passed through (Upstream.OAuthLogin).
type OAuth struct {
	// Mechanisms offered: "oauthbearer", "xoauth2". Empty: none.
	Mechanisms []string
	// MaxToken bounds a token's length in bytes (default 16384, at most
	// 65536). The lines that carry a token (an AUTHENTICATE or AUTH with
	// an initial response, the response to an empty challenge) may be as
	// long as its base64 plus 4 KiB, whatever Limits.MaxLine says.
	MaxToken int
	// Scope is the "scope" of the error challenge a refused client gets
	// ("" leaves it out).
	Scope string
	// OpenIDConfiguration is the "openid-configuration" URL of the
	// OAUTHBEARER error challenge, the identity provider's discovery
	// document ("" leaves it out).
	OpenIDConfiguration string
}

// offers reports whether the OAuth mechanism method ("oauthbearer",
// "xoauth2") is configured.
func (o *OAuth) offers(method string) bool {
	for _, m := range o.Mechanisms {
		if m == method {
			return true
		}
	}
	return false
}

// maxLine is the longest line that may carry a token: its base64 with
// room for the user, the other key-value pairs and the command.
func (o *OAuth) maxLine() int { return (o.MaxToken+4096+2)/3*4 + 64 }

// ReplayCache remembers the Kerberos authenticators seen, so that each is
// accepted once (for twice mail.gssapi.max_clock_skew). It is in memory
// only. Create it with NewReplayCache.
type ReplayCache = gssapi.ReplayCache

// NewReplayCache returns an empty ReplayCache for Config.GSSAPIReplay.
func NewReplayCache() *ReplayCache { return gssapi.NewReplayCache() }

// gssState holds the GSSAPI acceptor of one Server.
type gssState struct {
	once sync.Once
	a    *gssapi.Acceptor
}

// acceptor returns the GSSAPI acceptor, loading the keytab on first use;
// nil when GSSAPI is not configured or the keytab cannot be loaded (logged
// once).
func (c *Config) acceptor() *gssapi.Acceptor {
	if c.gss == nil {
		return nil
	}
	c.gss.once.Do(func() {
		g := c.GSSAPI
		a, err := gssapi.NewAcceptor(gssapi.Config{Keytab: g.Keytab, ServiceHost: g.ServiceHost,
			MaxClockSkew: g.MaxClockSkew, Principals: g.Principals, Realms: g.Realms, Replay: c.GSSAPIReplay})
		if err != nil {
			c.Logger.Error("mail: GSSAPI disabled: the keytab did not load", "error", err.Error())
			return
		}
		c.gss.a = a
	})
	return c.gss.a
}

// Protocols.
const (
	IMAP = "imap"
	POP3 = "pop3"
)

// TLS modes of a listener or upstream.
const (
	TLSNone     = "none"     // plaintext only
	TLSStartTLS = "starttls" // plaintext, upgraded with STARTTLS / STLS
	TLSImplicit = "implicit" // TLS from the first byte (993, 995)
)

// Listener is one socket.
type Listener struct {
	// Name identifies the listener in logs and to plugins (the listener
	// field). Required, unique.
	Name string
	// Address to listen on, "host:port".
	Address string
	// Protocol is "imap" or "pop3".
	Protocol string
	// TLS is "none", "starttls" (default) or "implicit".
	TLS string
	// AllowPlaintextLogin lets clients log in without TLS on a
	// "starttls" or "none" listener. Off by default: LOGINDISABLED is
	// advertised until STARTTLS. Use it only on trusted networks.
	AllowPlaintextLogin bool
	// ProxyProtocol expects a PROXY v1/v2 header from TrustedProxies
	// before the first byte of the protocol.
	ProxyProtocol bool
	// TrustedProxies may send a PROXY header; connections from other
	// addresses with ProxyProtocol on are refused.
	TrustedProxies []netip.Prefix
	// Route is the built-in default route ("host:port", tried in order)
	// when no route plugin decides.
	Route []string
}

// Client-address modes for Upstream.ClientAddress.
const (
	// ClientAddrAuto: IMAP ID x-originating-ip/port/session-id, POP3
	// XCLIENT ADDR/PORT (Dovecot honours both from login_trusted_networks).
	ClientAddrAuto = "auto"
	// ClientAddrProxyV2: a PROXY protocol v2 header before the greeting.
	ClientAddrProxyV2 = "proxy-v2"
	// ClientAddrNone: do not pass the client's address.
	ClientAddrNone = "none"
)

// Upstream login modes.
const (
	// LoginAsUser logs in with the user's own login and password.
	LoginAsUser = "user"
	// LoginMasterSeparator logs in as "<user><sep><master>" with the master
	// password (Dovecot's auth_master_user_separator).
	LoginMasterSeparator = "master-separator"
	// LoginMasterAuthzID logs in with SASL PLAIN, authzid = the user,
	// authcid = the master user.
	LoginMasterAuthzID = "master-authzid"
	// LoginPassthrough (OAuth logins only) logs in with the client's own
	// mechanism and bearer token: the mailbox server checks the token.
	LoginPassthrough = "passthrough"
)

// Upstream says how to talk to mailbox servers.
type Upstream struct {
	// TLS to the backend: "none" (default), "starttls" or "implicit".
	TLS string
	// TLSConfig verifies the backend (RootCAs, ServerName). Nil uses the
	// system roots.
	TLSConfig *tls.Config
	// ClientAddress: "auto" (default), "proxy-v2" or "none".
	ClientAddress string
	// Login for password logins: "user" (default: the user's own login
	// and password), "master-separator" or "master-authzid". A master mode
	// means the backend no longer checks the user's password, so a
	// password login goes upstream only when a plugin verified the
	// password in this session (plugin.Fields.PasswordVerified); every
	// other one is refused with a temporary error.
	Login string
	// GSSAPILogin for Kerberos logins, which have no password to pass on:
	// "master-separator" (default) or "master-authzid".
	GSSAPILogin string
	// OAuthLogin for OAuth logins: "passthrough" (default: AUTHENTICATE
	// or AUTH with the client's mechanism and token; the mailbox server
	// checks the token), "master-separator" or "master-authzid" (the
	// master user on the user's behalf: only when a plugin verified the
	// token, plugin.Fields.PasswordVerified, as for passwords).
	OAuthLogin     string
	MasterUser     string
	MasterPassword string
	// MasterSeparator for "master-separator" (default "*").
	MasterSeparator string
	// ConnectTimeout bounds one dial (default 5s).
	ConnectTimeout time.Duration
	// LoginTimeout bounds greeting, STARTTLS and login upstream (default 15s).
	LoginTimeout time.Duration
}

// Limits bound a client.
type Limits struct {
	MaxLine         int           // one command line (default 8192)
	MaxLiteral      int           // one literal, and all literals of a command (default 8192)
	MaxAuthFailures int           // failed logins per connection before BYE (default 3)
	MaxBadCommands  int           // BAD answers per connection before BYE (default 10)
	PreLoginIdle    time.Duration // idle before login (default 60s)
	RelayIdle       time.Duration // idle after login, both directions (default 1h; IMAP IDLE clients refresh every 29 min)
	LoginTimeout    time.Duration // all hooks plus the upstream login of one attempt (default 30s)
	TLSHandshake    time.Duration // client TLS handshake (default 10s)

	// Connection limits, per listener, checked when a connection is
	// accepted (the per-client one after the PROXY header when the
	// listener reads one). Zero takes the default, a negative value means
	// no limit. A refused client gets "* BYE [UNAVAILABLE] ..." or
	// "-ERR [SYS/TEMP] ..." and is closed.

	// MaxConnections caps one listener's connections (default: no limit;
	// the process-wide session cap applies).
	MaxConnections int
	// MaxConnectionsPerClient caps the connections from one client
	// address to one listener (default 500).
	MaxConnectionsPerClient int
	// MaxPreLogin caps one listener's connections that have not logged in
	// yet (default 5000).
	MaxPreLogin int
	// PerClientExempt are client addresses MaxConnectionsPerClient does
	// not apply to. Nil: loopback (127.0.0.0/8, ::1); empty: none.
	PerClientExempt []netip.Prefix
}

// connLimits returns the limits as connlimit takes them (0: none).
func (l *Limits) connLimits() connlimit.Limits {
	n := func(v, def int) int {
		switch {
		case v < 0:
			return 0
		case v == 0:
			return def
		}
		return v
	}
	ex := l.PerClientExempt
	if ex == nil {
		ex = connlimit.DefaultExempt()
	}
	return connlimit.Limits{
		MaxConns:     n(l.MaxConnections, 0),
		MaxPerClient: n(l.MaxConnectionsPerClient, connlimit.DefaultMaxPerClient),
		MaxEarly:     n(l.MaxPreLogin, connlimit.DefaultMaxEarly),
		Exempt:       ex,
	}
}

func (c *Config) withDefaults() Config {
	d := *c
	if d.Greeting == "" {
		d.Greeting = "Postern ready."
	}
	if d.Logger == nil {
		d.Logger = slog.Default()
	}
	l := &d.Limits
	setInt(&l.MaxLine, 8192)
	setInt(&l.MaxLiteral, 8192)
	setInt(&l.MaxAuthFailures, 3)
	setInt(&l.MaxBadCommands, 10)
	setDur(&l.PreLoginIdle, 60*time.Second)
	setDur(&l.RelayIdle, time.Hour)
	setDur(&l.LoginTimeout, 30*time.Second)
	setDur(&l.TLSHandshake, 10*time.Second)
	u := &d.Upstream
	setStr(&u.TLS, TLSNone)
	setStr(&u.ClientAddress, ClientAddrAuto)
	setStr(&u.Login, LoginAsUser)
	setStr(&u.GSSAPILogin, LoginMasterSeparator)
	setStr(&u.OAuthLogin, LoginPassthrough)
	setInt(&d.OAuth.MaxToken, 16<<10)
	setStr(&u.MasterSeparator, "*")
	setDur(&u.ConnectTimeout, 5*time.Second)
	setDur(&u.LoginTimeout, 15*time.Second)
	if d.GSSAPI.Keytab != "" && d.gss == nil {
		d.gss = &gssState{}
	}
	d.Listeners = append([]Listener(nil), c.Listeners...)
	for i := range d.Listeners {
		setStr(&d.Listeners[i].TLS, TLSStartTLS)
	}
	return d
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setDur(p *time.Duration, v time.Duration) {
	if *p == 0 {
		*p = v
	}
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}

// Validate checks the configuration; errors name the listener and key.
func (c *Config) Validate() error {
	d := c.withDefaults()
	var errs []error
	seen := map[string]bool{}
	for i, l := range d.Listeners {
		where := fmt.Sprintf("mail.listeners[%d] (%s)", i, l.Name)
		if l.Name == "" {
			errs = append(errs, fmt.Errorf("mail.listeners[%d]: name is empty", i))
		} else if seen[l.Name] {
			errs = append(errs, fmt.Errorf("%s: name used twice", where))
		}
		seen[l.Name] = true
		if _, _, err := net.SplitHostPort(l.Address); err != nil {
			errs = append(errs, fmt.Errorf("%s: address %q: want host:port", where, l.Address))
		}
		if l.Protocol != IMAP && l.Protocol != POP3 {
			errs = append(errs, fmt.Errorf("%s: protocol %q: want imap or pop3", where, l.Protocol))
		}
		switch l.TLS {
		case TLSNone:
		case TLSStartTLS, TLSImplicit:
			if d.TLS == nil {
				errs = append(errs, fmt.Errorf("%s: tls %s needs certificates (tls section)", where, l.TLS))
			}
		default:
			errs = append(errs, fmt.Errorf("%s: tls %q: want none, starttls or implicit", where, l.TLS))
		}
		if l.ProxyProtocol && len(l.TrustedProxies) == 0 {
			errs = append(errs, fmt.Errorf("%s: proxy_protocol needs trusted_proxies", where))
		}
		for _, r := range l.Route {
			if err := checkHostPort(r); err != nil {
				errs = append(errs, fmt.Errorf("%s: route %q: %v", where, r, err))
			}
		}
	}
	u := d.Upstream
	if u.TLS != TLSNone && u.TLS != TLSStartTLS && u.TLS != TLSImplicit {
		errs = append(errs, fmt.Errorf("mail.upstream.tls %q: want none, starttls or implicit", u.TLS))
	}
	if u.ClientAddress != ClientAddrAuto && u.ClientAddress != ClientAddrProxyV2 && u.ClientAddress != ClientAddrNone {
		errs = append(errs, fmt.Errorf("mail.upstream.client_address %q: want auto, proxy-v2 or none", u.ClientAddress))
	}
	switch u.Login {
	case LoginAsUser:
	case LoginMasterSeparator, LoginMasterAuthzID:
		if u.MasterUser == "" || u.MasterPassword == "" {
			errs = append(errs, fmt.Errorf("mail.upstream.login %s needs master_user and master_password", u.Login))
		}
	default:
		errs = append(errs, fmt.Errorf("mail.upstream.login %q: want user, master-separator or master-authzid", u.Login))
	}
	if u.GSSAPILogin != LoginMasterSeparator && u.GSSAPILogin != LoginMasterAuthzID {
		errs = append(errs, fmt.Errorf("mail.upstream.gssapi_login %q: want master-separator or master-authzid", u.GSSAPILogin))
	}
	switch u.OAuthLogin {
	case LoginPassthrough:
	case LoginMasterSeparator, LoginMasterAuthzID:
		if len(d.OAuth.Mechanisms) > 0 && (u.MasterUser == "" || u.MasterPassword == "") {
			errs = append(errs, fmt.Errorf("mail.upstream.oauth_login %s needs master_user and master_password", u.OAuthLogin))
		}
	default:
		errs = append(errs, fmt.Errorf("mail.upstream.oauth_login %q: want passthrough, master-separator or master-authzid", u.OAuthLogin))
	}
	for i, m := range d.OAuth.Mechanisms {
		if m != "oauthbearer" && m != "xoauth2" {
			errs = append(errs, fmt.Errorf("mail.oauth.mechanisms[%d] %q: want oauthbearer or xoauth2", i, m))
		}
	}
	if t := d.OAuth.MaxToken; t < 1 || t > 64<<10 {
		errs = append(errs, fmt.Errorf("mail.oauth.max_token %d: want 1 to 65536", t))
	}
	if g := d.GSSAPI; g.Keytab != "" {
		if u.MasterUser == "" || u.MasterPassword == "" {
			errs = append(errs, errors.New("mail.gssapi needs mail.upstream.master_user and master_password: Kerberos logins have no password to pass on"))
		}
		if g.MaxClockSkew < 0 {
			errs = append(errs, errors.New("mail.gssapi.max_clock_skew is negative"))
		}
	}
	for i, p := range d.Limits.PerClientExempt {
		if !p.IsValid() {
			errs = append(errs, fmt.Errorf("mail.limits.per_client_exempt[%d]: not a CIDR prefix", i))
		}
	}
	return errors.Join(errs...)
}

func checkHostPort(s string) error {
	h, p, err := net.SplitHostPort(s)
	if err != nil {
		return err
	}
	if h == "" {
		return errors.New("empty host")
	}
	if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
		return errors.New("port must be 1-65535")
	}
	return nil
}
