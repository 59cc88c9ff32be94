package mail

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/internal/gssapi"
	"github.com/postern/postern/host/internal/imapwire"
	"github.com/postern/postern/host/internal/sasl"
	"github.com/postern/postern/host/plugin"
)

// failKind says how a login failed, which decides the wire answer.
type failKind int

const (
	failNone        failKind = iota
	failAuth                 // bad credentials: IMAP NO [AUTHENTICATIONFAILED], POP3 -ERR [AUTH]
	failThrottled            // throttle refused: IMAP * BYE + NO, POP3 -ERR, then close
	failUnavailable          // no route or all upstreams down: NO [UNAVAILABLE], -ERR [SYS/TEMP]
)

// loginResult is the outcome of one login attempt.
type loginResult struct {
	kind failKind
	msg  string // client-facing text for failures
	up   *upstreamConn
}

// Default client-facing texts.
const (
	msgAuthFailed  = "Authentication failed."
	msgUnavailable = "Mailbox server temporarily unavailable, try again later."
	msgThrottled   = "Too many login attempts, try again later."
)

// doLogin runs the hook chains for one set of credentials and, when they
// allow it, logs in upstream. tag is the client's IMAP tag ("" for POP3).
func (ss *session) doLogin(id sasl.Identity) loginResult {
	srv := ss.srv
	ss.attempts++
	ctx, cancel := context.WithTimeout(ss.ctx, srv.cfg.Limits.LoginTimeout)
	defer cancel()

	// A client's PLAIN authzid is ignored, as nginx does: the proxy logs in
	// as the authenticated user, never as someone else on their word.
	login := id.User
	if id.Method == "gssapi" {
		// id.User is the principal; the exchange already checked that it
		// maps (again here, as the keytab may have changed since).
		a := srv.cfg.acceptor()
		if a == nil {
			return loginResult{kind: failUnavailable, msg: msgUnavailable}
		}
		var err error
		if login, err = a.MapPrincipal(id.User); err != nil {
			ss.count(outAuthFailed)
			srv.log.Info("mail: gssapi authentication failed", "session", ss.id, "reason", gssapi.ReasonUnmapped, "principal", id.User, "error", err.Error())
			return loginResult{kind: failAuth, msg: msgAuthFailed}
		}
	}
	f := &plugin.Fields{
		Protocol: ss.l.Protocol, Listener: ss.l.Name, SessionID: ss.id,
		Client: ss.client, Local: ss.local,
		TLSVersion: ss.tlsVersion(), SNI: ss.sni(), TLSCipher: ss.cipher(),
		AuthMethod: id.Method, Login: login, Password: id.Password,
		LoginAttempt: ss.attempts, IMAPID: ss.imapID,
	}
	oauth := sasl.IsOAuth(id.Method)
	f.UpstreamAuth = abi.UpstreamAuthPassword
	switch {
	case id.Method == "gssapi":
		f.AuthID = id.User // the principal, Zimbra's Auth-ID
		f.UpstreamAuth = abi.UpstreamAuthMaster
	case oauth:
		// The login starts as the claimed user; a plugin that checks the
		// token sets it from the token.
		f.OAuthToken, f.OAuthUser = id.Token, id.User
		if srv.cfg.Upstream.OAuthLogin != LoginPassthrough {
			f.UpstreamAuth = abi.UpstreamAuthMaster
		}
	case srv.cfg.Upstream.Login != LoginAsUser:
		f.UpstreamAuth = abi.UpstreamAuthMaster
	}
	ss.login = login

	// login -> throttle -> route, each a chain; Continue falls to the default.
	for _, hook := range []abi.Hook{abi.HookLogin, abi.HookThrottle, abi.HookRoute} {
		r := ss.runHook(ctx, hook, f)
		if err := sleepCtx(ctx, f.Delay); err != nil {
			return loginResult{kind: failUnavailable, msg: msgUnavailable}
		}
		f.Delay = 0
		ss.login = f.Login
		switch r.Verdict {
		case abi.VerdictRefuse:
			switch hook {
			case abi.HookThrottle:
				ss.count(outThrottled)
				return loginResult{kind: failThrottled, msg: orDefault(f.Message, msgThrottled)}
			}
			// A login plugin's refusal, or a lookup's "Auth-Status:
			// <error>": the credentials or the account were refused.
			ss.count(outAuthFailed)
			return loginResult{kind: failAuth, msg: orDefault(f.Message, msgAuthFailed)}
		case abi.VerdictTempFail:
			ss.count(outUnavailable)
			if r.Err != nil {
				ss.err = r.Err
			}
			return loginResult{kind: failUnavailable, msg: orDefault(f.Message, msgUnavailable)}
		}
	}
	routes := f.Upstreams
	if len(routes) == 0 {
		routes = ss.l.Route
	}
	if len(routes) == 0 {
		ss.count(outUnavailable)
		ss.err = errors.New("no route: no plugin chose an upstream and the listener has no route")
		return loginResult{kind: failUnavailable, msg: msgUnavailable}
	}

	creds := upstreamCreds(srv.cfg.Upstream, f, id.Method)
	if id.Method != "gssapi" && creds.password != f.Password && !f.PasswordVerified {
		// The upstream would not see the password (or token) the client
		// gave (a master login, or credentials the route gave), and no
		// plugin checked it: logging in would let anything through. Fail
		// closed. (A GSSAPI login was verified by the exchange itself; a
		// token passed through is checked by the mailbox server.)
		ss.count(outUnavailable)
		ss.err = errUnverifiedPassword
		srv.log.Error("mail: refused a login: the upstream login does not use the client's password and no plugin verified it; "+
			"configure a plugin that checks passwords (route-lookup with send_password: true against a lookup service that checks them) or set mail.upstream.login: user",
			"session", ss.id, "listener", ss.l.Name, "mode", srv.cfg.Upstream.Login)
		return loginResult{kind: failUnavailable, msg: msgUnavailable}
	}
	var lastErr error
	for _, addr := range routes {
		up, err := srv.dialUpstream(ctx, ss, addr)
		if err != nil {
			srv.stats.UpstreamErr.Add(1)
			lastErr = err
			srv.log.Warn("mail: upstream unreachable; trying the next", "session", ss.id, "upstream", addr, "error", err.Error())
			continue
		}
		ok, text, err := up.login(ctx, creds)
		if err != nil {
			up.conn.Close()
			srv.stats.UpstreamErr.Add(1)
			lastErr = err
			srv.log.Warn("mail: upstream login failed; trying the next", "session", ss.id, "upstream", addr, "error", err.Error())
			continue
		}
		f.Upstream = addr
		if !ok {
			up.conn.Close()
			ss.count(outAuthFailed)
			f.Message = text
			ss.fire(abi.EventLoginFailed, f)
			return loginResult{kind: failAuth, msg: text}
		}
		ss.upstream = addr
		// From now on a shutdown lets this session finish its work.
		ss.relaying.Store(true)
		ss.fire(abi.EventRouteDecided, f)
		ss.count(outLogin)
		return loginResult{up: up}
	}
	ss.count(outUnavailable)
	ss.err = fmt.Errorf("every upstream failed; last: %w", lastErr)
	return loginResult{kind: failUnavailable, msg: msgUnavailable}
}

func (ss *session) runHook(ctx context.Context, hook abi.Hook, f *plugin.Fields) plugin.Result {
	if ss.srv.cfg.Plugins == nil {
		return plugin.Result{Verdict: abi.VerdictContinue}
	}
	return ss.srv.cfg.Plugins.Run(ctx, hook, f)
}

// fire delivers an event; its failures are the plugin runtime's to log.
func (ss *session) fire(e abi.Event, f *plugin.Fields) {
	if ss.srv.cfg.Plugins != nil {
		_ = ss.srv.cfg.Plugins.Fire(ss.ctx, e, f)
	}
}

func (ss *session) sni() string {
	if ss.tlsState == nil {
		return ""
	}
	return ss.tlsState.ServerName
}

func (ss *session) cipher() string {
	if ss.tlsState == nil {
		return ""
	}
	return tlsCipherName(ss.tlsState.CipherSuite)
}

func orDefault(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return nil
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// creds are what the proxy presents upstream.
type creds struct {
	user, password string // the account's own, or the master's
	authzid        string // for master-authzid: the user to act as
	plainMech      bool   // use SASL PLAIN rather than LOGIN / USER+PASS
	// oauthMech and token: pass the client's bearer token through with
	// this mechanism (sasl.MethodOAuthBearer, sasl.MethodXOAuth2).
	oauthMech, token string
}

// errUnverifiedPassword is a session's error when a login was refused
// because the upstream login would not check the password and no plugin
// verified it.
var errUnverifiedPassword = errors.New("refused: master or route-given upstream login for a password no plugin verified")

// upstreamCreds picks the upstream login. Credentials the route gave (an
// upstream_password, nginx's Auth-Pass) are used as they are, with
// upstream_login or the login as the user: the lookup said how to log in,
// as nginx does. Otherwise the user is the route's upstream_login, else
// the (rewritten) login, logged in with the client's password or as a
// master user on the user's behalf, as mail.upstream.login says.
func upstreamCreds(u Upstream, f *plugin.Fields, method string) creds {
	user := f.Login
	if f.UpstreamLogin != "" {
		user = f.UpstreamLogin
	}
	if f.UpstreamPassword != "" {
		return creds{user: user, password: f.UpstreamPassword}
	}
	pass := f.Password
	mode := u.Login
	switch {
	case method == "gssapi":
		// No password to pass on: only a master login can act for the user.
		mode = u.GSSAPILogin
	case sasl.IsOAuth(method):
		if u.OAuthLogin == LoginPassthrough {
			return creds{user: user, oauthMech: method, token: f.OAuthToken}
		}
		mode = u.OAuthLogin
	}
	switch mode {
	case LoginMasterSeparator:
		return creds{user: user + u.MasterSeparator + u.MasterUser, password: u.MasterPassword}
	case LoginMasterAuthzID:
		return creds{user: u.MasterUser, password: u.MasterPassword, authzid: user, plainMech: true}
	}
	return creds{user: user, password: pass}
}

// dialUpstream connects to one mailbox server and gets it ready for login:
// TLS or STARTTLS, greeting, client address.
func (srv *Server) dialUpstream(ctx context.Context, ss *session, addr string) (*upstreamConn, error) {
	// No TCP keepalive (four setsockopt calls per login): the relay's idle
	// timeout ends a session whose mailbox server vanished.
	d := net.Dialer{Timeout: srv.cfg.Upstream.ConnectTimeout, KeepAlive: -1}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	up := &upstreamConn{conn: c, srv: srv, ss: ss, addr: addr, proto: ss.l.Protocol}
	c.SetDeadline(time.Now().Add(srv.cfg.Upstream.LoginTimeout))
	if err := up.prepare(); err != nil {
		c.Close()
		return nil, err
	}
	return up, nil
}

// gssapiService is the Kerberos service name of this listener's protocol.
func (ss *session) gssapiService() string {
	if ss.l.Protocol == POP3 {
		return gssapi.ServicePOP
	}
	return gssapi.ServiceIMAP
}

// gssapiOffered reports whether GSSAPI is configured and the keytab holds
// a key for this listener's service.
func (ss *session) gssapiOffered() bool {
	a := ss.srv.cfg.acceptor()
	return a != nil && a.Offers(ss.gssapiService())
}

// oauthOffered reports whether OAuth logins with method ("oauthbearer",
// "xoauth2"; "" for any) are configured.
func (ss *session) oauthOffered(method string) bool {
	o := &ss.srv.cfg.OAuth
	if method == "" {
		return len(o.Mechanisms) > 0
	}
	return o.offers(method)
}

// oauthMechs returns the configured OAuth mechanisms in upper case, for
// CAPABILITY and CAPA.
func (ss *session) oauthMechs() []string {
	var out []string
	for _, m := range []string{sasl.MethodOAuthBearer, sasl.MethodXOAuth2} {
		if ss.oauthOffered(m) {
			out = append(out, strings.ToUpper(m))
		}
	}
	return out
}

// isOAuthLine reports whether a command line starts an OAuth exchange
// ("<tag> AUTHENTICATE XOAUTH2 ..." in IMAP, "AUTH XOAUTH2 ..." in POP3),
// which may then be as long as a token needs, once a login is allowed.
func (ss *session) isOAuthLine(start []byte) bool {
	if !ss.loginAllowed() {
		return false // refused anyway: no long line before TLS
	}
	f := strings.Fields(string(start[:min(len(start), 128)]))
	if ss.l.Protocol == IMAP {
		if len(f) < 3 || !strings.EqualFold(f[1], "AUTHENTICATE") {
			return false
		}
		f = f[1:]
	} else if len(f) < 2 || !strings.EqualFold(f[0], "AUTH") {
		return false
	}
	return ss.oauthOffered(strings.ToLower(f[1]))
}

// oauthRefuse ends a refused OAuth login as the mechanism wants: the JSON
// error challenge, then the client's reply (OAUTHBEARER %x01, XOAUTH2 an
// empty line; whatever it is, the login has failed). It returns false
// when the session is over.
func (ss *session) oauthRefuse(method string, r *imapwire.Reader, fatal func(error)) bool {
	o := ss.srv.cfg.OAuth
	ch := sasl.OAuthError{Scope: o.Scope, OpenIDConfiguration: o.OpenIDConfiguration}.Challenge(method)
	if err := ss.write("+ " + sasl.Encode(ch) + "\r\n"); err != nil {
		ss.outcome = "client_gone"
		return false
	}
	ss.idle()
	if _, err := r.ReadLine(); err != nil {
		fatal(err)
		return false
	}
	return true
}

// saslServer starts the server side of a SASL mechanism for this session.
func (ss *session) saslServer(mech string) (sasl.Server, error) {
	if m := strings.ToLower(mech); sasl.IsOAuth(m) {
		if !ss.oauthOffered(m) {
			return nil, sasl.ErrUnknown
		}
		return sasl.NewOAuthServer(m, ss.srv.cfg.OAuth.MaxToken)
	}
	if strings.EqualFold(mech, "GSSAPI") {
		if !ss.gssapiOffered() {
			return nil, sasl.ErrUnknown
		}
		return ss.srv.cfg.acceptor().NewServer(ss.gssapiService(), ss.client.Addr()), nil
	}
	return sasl.NewServer(mech)
}

// saslFailed logs why an exchange failed and returns the client's text. A
// GSSAPI failure is logged with its reason (wrong service, expired,
// clock skew, replay, ...), never with the token.
func (ss *session) saslFailed(err error) string {
	var ge *gssapi.Error
	if errors.As(err, &ge) {
		ss.count(outAuthFailed)
		ss.srv.log.Info("mail: gssapi authentication failed", "session", ss.id, "listener", ss.l.Name,
			"client", ss.client.String(), "reason", string(ge.Reason), "principal", ge.Principal, "error", ge.Error())
		return msgAuthFailed
	}
	return "Malformed credentials."
}
