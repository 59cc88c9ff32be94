package mail

import (
	"strings"

	"github.com/postern/postern/host/internal/imapwire"
	"github.com/postern/postern/host/internal/sasl"
)

// servePOP3 runs the AUTHORIZATION state of a POP3 session (RFC 1939,
// RFC 2449 CAPA, RFC 5034 AUTH, RFC 2595 STLS) and then the relay.
func (ss *session) servePOP3() {
	lim := ss.srv.cfg.Limits
	if err := ss.write("+OK " + ss.srv.cfg.Greeting + "\r\n"); err != nil {
		ss.outcome = "client_gone"
		return
	}
	r := &imapwire.Reader{R: ss.br, MaxLine: min(lim.MaxLine, 512)} // RFC 2449: 255 octets; be lenient
	if ss.oauthOffered("") {
		// AUTH with a bearer token as its initial response.
		r.LongLine, r.MaxLongLine = ss.isOAuthLine, max(lim.MaxLine, ss.srv.cfg.OAuth.maxLine())
	}
	var user string
	for {
		ss.idle()
		line, err := r.ReadLine()
		if err != nil {
			ss.pop3Fatal(err)
			return
		}
		verb, arg, _ := strings.Cut(string(line), " ")
		switch strings.ToUpper(verb) {
		case "CAPA":
			ss.write("+OK Capability list follows\r\n" + ss.pop3Caps() + ".\r\n")
		case "QUIT":
			ss.write("+OK Bye.\r\n")
			ss.outcome = "client_quit"
			return
		case "STLS":
			if ss.tlsActive() || ss.l.TLS != TLSStartTLS {
				if !ss.pop3Err("Command not available.") {
					return
				}
				continue
			}
			if err := ss.write("+OK Begin TLS negotiation now.\r\n"); err != nil {
				ss.outcome = "client_gone"
				return
			}
			if n := ss.br.Buffered(); n > 0 {
				ss.br.Discard(n)
				ss.srv.log.Warn("mail: discarded bytes pipelined after STLS", "session", ss.id, "bytes", n)
			}
			if err := ss.startTLS(); err != nil {
				ss.outcome = "tls_failed"
				ss.err = err
				return
			}
			r.R = ss.br
			user = ""
		case "USER":
			if !ss.loginAllowed() {
				ss.write("-ERR [AUTH] Plaintext authentication disallowed on non-secure connections.\r\n")
				continue
			}
			if arg == "" {
				if !ss.pop3Err("USER takes a user name.") {
					return
				}
				continue
			}
			user = arg
			ss.write("+OK\r\n")
		case "PASS":
			if user == "" {
				if !ss.pop3Err("USER first.") {
					return
				}
				continue
			}
			u := user
			user = ""
			if ss.pop3Login(sasl.Identity{User: u, Password: arg, Method: "plain"}, nil) {
				return
			}
		case "AUTH":
			if arg == "" {
				// RFC 5034 lets a bare AUTH list the mechanisms.
				ss.write("+OK\r\n" + strings.Join(ss.pop3Mechs(), "\r\n") + "\r\n.\r\n")
				continue
			}
			if ss.pop3Authenticate(arg, r) {
				return
			}
		default:
			if !ss.pop3Err("Unknown command or not valid before login.") {
				return
			}
		}
		if ss.authFailures >= lim.MaxAuthFailures {
			ss.write("-ERR [AUTH] Too many failed logins, disconnecting.\r\n")
			ss.outcome = "auth_failed"
			return
		}
	}
}

func (ss *session) pop3Mechs() []string {
	if !ss.loginAllowed() {
		return nil
	}
	mechs := []string{"PLAIN", "LOGIN"}
	if ss.gssapiOffered() {
		mechs = append(mechs, "GSSAPI")
	}
	return append(mechs, ss.oauthMechs()...)
}

func (ss *session) pop3Caps() string {
	var b strings.Builder
	b.WriteString("TOP\r\nUIDL\r\nRESP-CODES\r\nAUTH-RESP-CODE\r\nPIPELINING\r\n")
	if ss.loginAllowed() {
		b.WriteString("USER\r\n")
		b.WriteString("SASL " + strings.Join(ss.pop3Mechs(), " ") + "\r\n")
	}
	if !ss.tlsActive() && ss.l.TLS == TLSStartTLS {
		b.WriteString("STLS\r\n")
	}
	return b.String()
}

// pop3Err answers -ERR and reports whether the session may go on.
func (ss *session) pop3Err(msg string) bool {
	ss.badCommands++
	if ss.badCommands >= ss.srv.cfg.Limits.MaxBadCommands {
		ss.write("-ERR Too many invalid commands, disconnecting.\r\n")
		ss.outcome = "protocol_error"
		return false
	}
	ss.write("-ERR " + msg + "\r\n")
	return true
}

func (ss *session) pop3Fatal(err error) {
	if msg := ss.readFailed(err); msg != "" {
		ss.write("-ERR " + msg + "\r\n")
	}
}

// pop3Authenticate runs AUTH <mech> [initial-response] (RFC 5034).
func (ss *session) pop3Authenticate(arg string, r *imapwire.Reader) bool {
	if !ss.loginAllowed() {
		ss.write("-ERR [AUTH] Authentication disallowed on non-secure connections.\r\n")
		return false
	}
	name, ir, hasIR := strings.Cut(arg, " ")
	mech, err := ss.saslServer(name)
	if err != nil {
		ss.write("-ERR Unsupported authentication mechanism.\r\n")
		return false
	}
	var resp []byte
	if hasIR {
		if resp, err = sasl.Decode([]byte(ir)); err != nil {
			return !ss.pop3Err("Invalid base64 in the initial response.")
		}
	}
	// Responses are not commands: a Kerberos AP-REQ is well over the
	// command line's 512 octets (RFC 5034 4 lifts the limit for them).
	r = &imapwire.Reader{R: r.R, MaxLine: ss.srv.cfg.Limits.MaxLine}
	if sasl.IsOAuth(strings.ToLower(name)) {
		r.MaxLine = max(r.MaxLine, ss.srv.cfg.OAuth.maxLine())
	}
	switch end, msg := ss.saslExchange(mech, resp, r, ss.pop3Fatal); end {
	case saslFailed:
		ss.authFailures++
		ss.write("-ERR [AUTH] " + msg + "\r\n")
		return false
	case saslAborted:
		ss.write("-ERR Authentication aborted.\r\n")
		return false
	case saslBadBase64:
		return !ss.pop3Err("Invalid base64 in the response.")
	case saslGone:
		return true
	}
	return ss.pop3Login(mech.Identity(), r)
}

// pop3Login runs the login path and answers; true when the session is over.
// r reads the client's reply to an OAuth error challenge.
func (ss *session) pop3Login(id sasl.Identity, r *imapwire.Reader) bool {
	res := ss.doLogin(id)
	switch res.kind {
	case failAuth:
		ss.authFailures++
		if sasl.IsOAuth(id.Method) && !ss.oauthRefuse(id.Method, r, ss.pop3Fatal) {
			return true
		}
		ss.write("-ERR " + withCode(res.msg, "[AUTH]") + "\r\n")
		return false
	case failUnavailable:
		ss.write("-ERR [SYS/TEMP] " + res.msg + "\r\n")
		return false
	case failThrottled:
		ss.write("-ERR " + res.msg + "\r\n")
		ss.outcome = "throttled"
		return true
	}
	if err := ss.write(res.up.okLine + "\r\n"); err != nil {
		res.up.conn.Close()
		ss.outcome = "client_gone"
		return true
	}
	ss.loggedIn = res.up
	return true
}
