package mail

import (
	"crypto/tls"
	"errors"
	"fmt"
	"strings"

	"github.com/postern/postern/host/internal/imapwire"
	"github.com/postern/postern/host/internal/sasl"
)

// imapCaps returns the pre-login capabilities for this session's state.
func (ss *session) imapCaps() string {
	caps := []string{"IMAP4rev1", "LITERAL+", "SASL-IR", "ID", "ENABLE", "IDLE"}
	if !ss.tlsActive() && ss.l.TLS == TLSStartTLS {
		caps = append(caps, "STARTTLS")
	}
	if ss.loginAllowed() {
		caps = append(caps, "AUTH=PLAIN", "AUTH=LOGIN")
		if ss.gssapiOffered() {
			caps = append(caps, "AUTH=GSSAPI")
		}
		for _, m := range ss.oauthMechs() {
			caps = append(caps, "AUTH="+m)
		}
	} else {
		caps = append(caps, "LOGINDISABLED")
	}
	return strings.Join(caps, " ")
}

// serveIMAP runs the pre-login part of an IMAP session (RFC 9051 6.1, 6.2)
// and hands over to the relay after a successful login.
func (ss *session) serveIMAP() {
	lim := ss.srv.cfg.Limits
	if err := ss.write(fmt.Sprintf("* OK [CAPABILITY %s] %s\r\n", ss.imapCaps(), ss.srv.cfg.Greeting)); err != nil {
		ss.outcome = "client_gone"
		return
	}
	r := ss.imapReader()
	for {
		ss.idle()
		cmd, err := r.ReadCommand()
		if err != nil {
			var se *imapwire.SyntaxError
			if errors.As(err, &se) {
				if !ss.imapBad(se.Tag, se.Msg) {
					return
				}
				continue
			}
			ss.imapFatal(err)
			return
		}
		switch cmd.Name {
		case "CAPABILITY":
			ss.write("* CAPABILITY " + ss.imapCaps() + "\r\n" + cmd.Tag + " OK CAPABILITY completed.\r\n")
		case "NOOP":
			ss.write(cmd.Tag + " OK NOOP completed.\r\n")
		case "LOGOUT":
			ss.write("* BYE Logging out.\r\n" + cmd.Tag + " OK LOGOUT completed.\r\n")
			ss.outcome = "client_quit"
			return
		case "ID":
			params, err := cmd.IDParams()
			if err != nil {
				if !ss.imapBad(cmd.Tag, err.Error()) {
					return
				}
				continue
			}
			if params != nil {
				ss.imapID = params
			}
			ss.write("* ID (\"name\" \"Postern\")\r\n" + cmd.Tag + " OK ID completed.\r\n")
		case "STARTTLS":
			if ss.tlsActive() || ss.l.TLS != TLSStartTLS || len(cmd.Args) != 0 {
				if !ss.imapBad(cmd.Tag, "STARTTLS is not available here.") {
					return
				}
				continue
			}
			if err := ss.write(cmd.Tag + " OK Begin TLS negotiation now.\r\n"); err != nil {
				ss.outcome = "client_gone"
				return
			}
			// Anything pipelined after STARTTLS was sent in the clear and
			// must not be read as if it came through TLS (CVE-2011-0411).
			if n := ss.br.Buffered(); n > 0 {
				ss.br.Discard(n)
				ss.srv.log.Warn("mail: discarded bytes pipelined after STARTTLS", "session", ss.id, "bytes", n)
			}
			if err := ss.startTLS(); err != nil {
				ss.outcome = "tls_failed"
				ss.err = err
				return
			}
			r = ss.imapReader()
		case "LOGIN":
			args, ok := cmd.Strings()
			if !ok || len(args) != 2 {
				if !ss.imapBad(cmd.Tag, "LOGIN takes a user name and a password.") {
					return
				}
				continue
			}
			if !ss.loginAllowed() {
				ss.write(cmd.Tag + " NO [PRIVACYREQUIRED] Log in after STARTTLS.\r\n")
				continue
			}
			if ss.imapLogin(cmd.Tag, sasl.Identity{User: args[0], Password: args[1], Method: "plain"}, nil) {
				return
			}
		case "AUTHENTICATE":
			if ss.imapAuthenticate(cmd, r) {
				return
			}
		default:
			if !ss.imapBad(cmd.Tag, "Command not valid before login.") {
				return
			}
		}
		if ss.authFailures >= lim.MaxAuthFailures {
			ss.write("* BYE Too many failed logins.\r\n")
			ss.outcome = "auth_failed"
			return
		}
	}
}

func (ss *session) imapReader() *imapwire.Reader {
	lim := ss.srv.cfg.Limits
	r := &imapwire.Reader{R: ss.br, MaxLine: lim.MaxLine, MaxLiteral: lim.MaxLiteral,
		Continue: func() error { return ss.write("+ Ready for literal data.\r\n") }}
	if ss.oauthOffered("") && ss.loginAllowed() {
		// An AUTHENTICATE with a bearer token as its initial response.
		r.LongLine, r.MaxLongLine = ss.isOAuthLine, ss.srv.cfg.OAuth.maxLine()
	}
	return r
}

// imapBad answers BAD and reports whether the session may go on.
func (ss *session) imapBad(tag, msg string) bool {
	if tag == "" {
		tag = "*"
	}
	ss.badCommands++
	if ss.badCommands >= ss.srv.cfg.Limits.MaxBadCommands {
		ss.write(tag + " BAD " + msg + "\r\n* BYE Too many invalid commands.\r\n")
		ss.outcome = "protocol_error"
		return false
	}
	ss.write(tag + " BAD " + msg + "\r\n")
	return true
}

// imapFatal ends the session after a read error.
func (ss *session) imapFatal(err error) {
	if msg := ss.readFailed(err); msg != "" {
		ss.write("* BYE " + msg + "\r\n")
	}
}

// imapAuthenticate runs AUTHENTICATE (RFC 9051 6.2.2, SASL-IR RFC 4959).
// It returns true when the session is over (relayed or closed).
func (ss *session) imapAuthenticate(cmd *imapwire.Command, r *imapwire.Reader) bool {
	args, ok := cmd.Strings()
	if !ok || len(args) < 1 || len(args) > 2 {
		return !ss.imapBad(cmd.Tag, "AUTHENTICATE takes a mechanism and an optional initial response.")
	}
	if !ss.loginAllowed() {
		ss.write(cmd.Tag + " NO [PRIVACYREQUIRED] Authenticate after STARTTLS.\r\n")
		return false
	}
	mech, err := ss.saslServer(args[0])
	if err != nil {
		ss.write(cmd.Tag + " NO [CANNOT] Unsupported authentication mechanism.\r\n")
		return false
	}
	var resp []byte
	if len(args) == 2 {
		if resp, err = sasl.Decode([]byte(args[1])); err != nil {
			return !ss.imapBad(cmd.Tag, "Invalid base64 in the initial response.")
		}
	}
	if sasl.IsOAuth(strings.ToLower(args[0])) {
		// The token may come on a continuation line of its own.
		r = &imapwire.Reader{R: r.R, MaxLine: max(ss.srv.cfg.Limits.MaxLine, ss.srv.cfg.OAuth.maxLine())}
	}
	switch end, msg := ss.saslExchange(mech, resp, r, ss.imapFatal); end {
	case saslFailed:
		ss.authFailures++
		ss.write(cmd.Tag + " NO [AUTHENTICATIONFAILED] " + msg + "\r\n")
		return false
	case saslAborted:
		return !ss.imapBad(cmd.Tag, "Authentication aborted.")
	case saslBadBase64:
		return !ss.imapBad(cmd.Tag, "Invalid base64 in the response.")
	case saslGone:
		return true
	}
	return ss.imapLogin(cmd.Tag, mech.Identity(), r)
}

// imapLogin runs the login path and answers. It returns true when the
// session is over: relayed to the end, or closed after a throttle refusal.
// r reads the client's reply to an OAuth error challenge.
func (ss *session) imapLogin(tag string, id sasl.Identity, r *imapwire.Reader) bool {
	res := ss.doLogin(id)
	switch res.kind {
	case failAuth:
		ss.authFailures++
		if sasl.IsOAuth(id.Method) && !ss.oauthRefuse(id.Method, r, ss.imapFatal) {
			return true
		}
		ss.write(tag + " NO " + withCode(res.msg, "[AUTHENTICATIONFAILED]") + "\r\n")
		return false
	case failUnavailable:
		ss.write(tag + " NO [UNAVAILABLE] " + res.msg + "\r\n")
		return false
	case failThrottled:
		ss.write("* BYE " + res.msg + "\r\n" + tag + " NO LOGIN failed.\r\n")
		ss.outcome = "throttled"
		return true
	}
	up := res.up
	var b strings.Builder
	for _, l := range up.untagged {
		b.WriteString(l + "\r\n")
	}
	b.WriteString(tag + " OK " + up.okText + "\r\n")
	if err := ss.write(b.String()); err != nil {
		up.conn.Close()
		ss.outcome = "client_gone"
		return true
	}
	ss.loggedIn = up // run relays once this protocol code has returned
	return true
}

// withCode prefixes a response code unless the text has one.
func withCode(text, code string) string {
	if strings.HasPrefix(text, "[") {
		return text
	}
	return code + " " + text
}

// relay hands both sockets to the byte relay, first passing on whatever
// either side sent ahead (pipelined commands, early responses). It runs
// after the protocol code returned, so that nothing of the pre-login
// state (readers, parsers, plugin fields) stays reachable from a session
// that may idle for hours.
func (ss *session) relay(up *upstreamConn) {
	ss.closeMu.Lock()
	ss.up = up.conn
	ss.closeMu.Unlock()
	ss.relaying.Store(true)
	ss.conn.SetDeadline(timeZero)
	if n := ss.br.Buffered(); n > 0 {
		b, _ := ss.br.Peek(n)
		up.conn.Write(b)
		ss.in += int64(n)
	}
	if n := up.br.Buffered(); n > 0 {
		b, _ := up.br.Peek(n)
		ss.conn.Write(b)
		ss.out += int64(n)
	}
	ss.br = nil // no buffers held for the session's life
	conn := up.conn
	in, out, err := relay(ss.conn, conn, ss.srv.cfg.Limits.RelayIdle)
	ss.in += in
	ss.out += out
	ss.srv.stats.BytesIn.Add(in)
	ss.srv.stats.BytesOut.Add(out)
	switch {
	case ss.ctx.Err() != nil:
		ss.outcome = "shutdown"
	case errors.Is(err, errIdle):
		ss.outcome = "relay_idle"
	default:
		ss.outcome = "relayed"
	}
}

func tlsCipherName(id uint16) string { return tls.CipherSuiteName(id) }
