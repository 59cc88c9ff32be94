package mail

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/host/internal/proxyproto"
	"github.com/postern/postern/host/internal/sasl"
)

// upstreamConn is a connection to a mailbox server during login.
type upstreamConn struct {
	srv   *Server
	ss    *session
	conn  net.Conn
	br    *bufio.Reader
	addr  string
	proto string
	caps  map[string]bool // IMAP capabilities, upper-case; POP3 greeting codes
	tagN  int

	// pendingID is an ID command to pipeline with the login.
	pendingID string

	// After a successful IMAP login: the tagged OK's text after the tag,
	// and the untagged lines worth passing on (CAPABILITY, ALERT).
	okText   string
	untagged []string
	okLine   string // POP3: the +OK line
}

// errProtocol marks an upstream that does not speak the protocol as
// expected; the next upstream is tried.
var errProtocol = errors.New("upstream protocol error")

const maxUpstreamLine = 64 << 10

func (u *upstreamConn) readLine() (string, error) {
	var line []byte
	for {
		frag, err := u.br.ReadSlice('\n')
		line = append(line, frag...)
		if len(line) > maxUpstreamLine {
			return "", fmt.Errorf("%w: line over %d bytes", errProtocol, maxUpstreamLine)
		}
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			return "", err
		}
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

func (u *upstreamConn) send(s string) error {
	_, err := u.conn.Write([]byte(s))
	return err
}

// prepare sends a PROXY header if configured, starts TLS as configured,
// reads the greeting and passes the client's address.
func (u *upstreamConn) prepare() error {
	cfg := u.srv.cfg.Upstream
	if cfg.ClientAddress == ClientAddrProxyV2 {
		if _, err := u.conn.Write(proxyproto.AppendV2(nil, u.ss.client, u.ss.local)); err != nil {
			return err
		}
	}
	if cfg.TLS == TLSImplicit {
		if err := u.startTLS(); err != nil {
			return err
		}
	}
	u.br = bufio.NewReaderSize(u.conn, 4096)
	if u.proto == IMAP {
		return u.prepareIMAP()
	}
	return u.preparePOP3()
}

func (u *upstreamConn) startTLS() error {
	cfg := u.srv.cfg.Upstream.TLSConfig
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg = cfg.Clone()
	if cfg.ServerName == "" {
		host, _, _ := net.SplitHostPort(u.addr)
		cfg.ServerName = host
	}
	if cfg.MinVersion == 0 {
		cfg.MinVersion = tls.VersionTLS12
	}
	tc := tls.Client(u.conn, cfg)
	if err := tc.Handshake(); err != nil {
		return fmt.Errorf("TLS to upstream: %w", err)
	}
	u.conn = tc
	return nil
}

// IMAP.

func (u *upstreamConn) tag() string {
	u.tagN++
	return "P" + strconv.Itoa(u.tagN)
}

func (u *upstreamConn) prepareIMAP() error {
	g, err := u.readLine()
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if !strings.HasPrefix(g, "* OK") {
		return fmt.Errorf("%w: greeting %q", errProtocol, truncate(g))
	}
	u.caps = capsFrom(g)
	cfg := u.srv.cfg.Upstream
	if cfg.TLS == TLSStartTLS {
		if u.caps != nil && !u.caps["STARTTLS"] {
			return fmt.Errorf("%w: STARTTLS configured but not offered", errProtocol)
		}
		if _, _, err := u.imapCommand("STARTTLS"); err != nil {
			return err
		}
		if u.br.Buffered() > 0 {
			return fmt.Errorf("%w: bytes after STARTTLS OK", errProtocol)
		}
		if err := u.startTLS(); err != nil {
			return err
		}
		u.br = bufio.NewReaderSize(u.conn, 4096)
		u.caps = nil // capabilities change under TLS
	}
	if u.caps == nil {
		ok, lines, err := u.imapCommandLines("CAPABILITY")
		if err != nil || !ok {
			return fmt.Errorf("%w: CAPABILITY failed", errProtocol)
		}
		u.caps = map[string]bool{}
		for _, l := range lines {
			if strings.HasPrefix(strings.ToUpper(l), "* CAPABILITY ") {
				for _, c := range strings.Fields(l[len("* CAPABILITY "):]) {
					u.caps[strings.ToUpper(c)] = true
				}
			}
		}
	}
	if cfg.ClientAddress == ClientAddrAuto && u.caps["ID"] {
		ss := u.ss
		cmd := fmt.Sprintf(`ID ("x-originating-ip" "%s" "x-originating-port" "%d" "x-session-id" "%s")`,
			ss.client.Addr().Unmap(), ss.client.Port(), ss.id)
		if u.caps["LITERAL+"] {
			// Sent in the same write as LOGIN: one round trip fewer.
			u.pendingID = cmd
			return nil
		}
		if _, _, err := u.imapCommand(cmd); err != nil {
			return err
		}
	}
	return nil
}

// capsFrom returns the capabilities of a "* OK [CAPABILITY ...]" line, or
// nil when it has none.
func capsFrom(line string) map[string]bool {
	i := strings.Index(strings.ToUpper(line), "[CAPABILITY ")
	if i < 0 {
		return nil
	}
	rest := line[i+len("[CAPABILITY "):]
	j := strings.IndexByte(rest, ']')
	if j < 0 {
		return nil
	}
	m := map[string]bool{}
	for _, c := range strings.Fields(rest[:j]) {
		m[strings.ToUpper(c)] = true
	}
	return m
}

// imapCommand sends a command and reads to its tagged reply, returning
// whether it was OK and the tagged reply's text after the status.
func (u *upstreamConn) imapCommand(cmd string) (bool, string, error) {
	ok, _, text, err := u.imapExchange(cmd, nil)
	return ok, text, err
}

func (u *upstreamConn) imapCommandLines(cmd string) (bool, []string, error) {
	ok, lines, _, err := u.imapExchange(cmd, nil)
	return ok, lines, err
}

// imapExchange sends "<tag> cmd" followed by literals (each sent after the
// server's "+" unless LITERAL+ is in use) and reads untagged lines until
// the tagged reply, which may arrive in pieces.
func (u *upstreamConn) imapExchange(cmd string, literals []string) (ok bool, untagged []string, text string, err error) {
	tag := u.tag()
	first := tag + " " + cmd
	if len(literals) == 0 {
		if err := u.send(first + "\r\n"); err != nil {
			return false, nil, "", err
		}
	} else {
		plus := u.caps["LITERAL+"]
		// cmd ends with the first literal's {n}; the rest follow inline.
		if err := u.send(first + "\r\n"); err != nil {
			return false, nil, "", err
		}
		for i, lit := range literals {
			if !plus {
				l, err := u.readLine()
				if err != nil {
					return false, nil, "", err
				}
				if !strings.HasPrefix(l, "+") {
					// Refused before the literal (e.g. a tagged NO).
					return u.finishTagged(tag, l, untagged)
				}
			}
			next := lit
			if i+1 < len(literals) {
				next += " " + literalHeader(literals[i+1], plus)
			}
			if err := u.send(next + "\r\n"); err != nil {
				return false, nil, "", err
			}
		}
	}
	for {
		l, err := u.readLine()
		if err != nil {
			return false, nil, "", err
		}
		if strings.HasPrefix(l, "* ") || strings.HasPrefix(l, "+") {
			untagged = append(untagged, l)
			if len(untagged) > 1000 {
				return false, nil, "", fmt.Errorf("%w: too many untagged lines", errProtocol)
			}
			continue
		}
		return u.finishTagged(tag, l, untagged)
	}
}

func (u *upstreamConn) finishTagged(tag, l string, untagged []string) (bool, []string, string, error) {
	if !strings.HasPrefix(l, tag+" ") {
		return false, nil, "", fmt.Errorf("%w: unexpected line %q", errProtocol, truncate(l))
	}
	rest := l[len(tag)+1:]
	switch {
	case strings.HasPrefix(strings.ToUpper(rest), "OK"):
		return true, untagged, strings.TrimSpace(rest[2:]), nil
	case strings.HasPrefix(strings.ToUpper(rest), "NO"):
		return false, untagged, strings.TrimSpace(rest[2:]), nil
	case strings.HasPrefix(strings.ToUpper(rest), "BAD"):
		return false, untagged, "", fmt.Errorf("%w: %q", errProtocol, truncate(l))
	}
	return false, nil, "", fmt.Errorf("%w: %q", errProtocol, truncate(l))
}

func literalHeader(s string, plus bool) string {
	if plus {
		return "{" + strconv.Itoa(len(s)) + "+}"
	}
	return "{" + strconv.Itoa(len(s)) + "}"
}

// login logs in with c. ok=false with text is a refusal of the credentials
// (relayed to the client); err is anything else (the next upstream is
// tried).
func (u *upstreamConn) login(ctx context.Context, c creds) (ok bool, text string, err error) {
	if dl, has := ctx.Deadline(); has {
		u.conn.SetDeadline(dl)
	}
	if u.proto == IMAP {
		ok, text, err = u.loginIMAP(c)
	} else {
		ok, text, err = u.loginPOP3(c)
	}
	if err == nil {
		u.conn.SetDeadline(timeZero)
	}
	return ok, text, err
}

func (u *upstreamConn) loginIMAP(c creds) (bool, string, error) {
	var ok bool
	var untagged []string
	var text string
	var err error
	if c.oauthMech != "" {
		if u.pendingID != "" {
			if _, _, err := u.imapCommand(u.pendingID); err != nil {
				return false, "", err
			}
			u.pendingID = ""
		}
		ok, untagged, text, err = u.imapOAuth(c)
	} else if c.plainMech {
		if u.pendingID != "" {
			if _, _, err := u.imapCommand(u.pendingID); err != nil {
				return false, "", err
			}
			u.pendingID = ""
		}
		resp := sasl.EncodePlain(c.authzid, c.user, c.password)
		if u.caps["SASL-IR"] {
			ok, untagged, text, err = u.imapExchange("AUTHENTICATE PLAIN "+resp, nil)
		} else {
			ok, untagged, text, err = u.imapAuthenticate(resp)
		}
	} else if u.caps["LITERAL+"] {
		ok, untagged, text, err = u.imapPipelinedLogin(c)
	} else {
		// Both strings as literals: any byte in a login or password is safe.
		ok, untagged, text, err = u.imapExchange("LOGIN "+literalHeader(c.user, false), []string{c.user, c.password})
	}
	if err != nil {
		return false, "", err
	}
	if !ok {
		return false, text, nil
	}
	u.okText = text
	for _, l := range untagged {
		ul := strings.ToUpper(l)
		if strings.HasPrefix(ul, "* CAPABILITY ") || strings.Contains(ul, "[ALERT]") {
			u.untagged = append(u.untagged, l)
		}
	}
	return true, "", nil
}

// imapPipelinedLogin sends the pending ID command and LOGIN with
// non-synchronizing literals in one write (RFC 7888), then reads both
// tagged replies. A refused ID is not fatal: the login decides.
func (u *upstreamConn) imapPipelinedLogin(c creds) (bool, []string, string, error) {
	var b strings.Builder
	idTag := ""
	if u.pendingID != "" {
		idTag = u.tag()
		b.WriteString(idTag + " " + u.pendingID + "\r\n")
		u.pendingID = ""
	}
	tag := u.tag()
	b.WriteString(tag + " LOGIN " + literalHeader(c.user, true) + "\r\n" + c.user + " " +
		literalHeader(c.password, true) + "\r\n" + c.password + "\r\n")
	if err := u.send(b.String()); err != nil {
		return false, nil, "", err
	}
	var untagged []string
	for {
		l, err := u.readLine()
		if err != nil {
			return false, nil, "", err
		}
		switch {
		case strings.HasPrefix(l, "* "):
			untagged = append(untagged, l)
			if len(untagged) > 1000 {
				return false, nil, "", fmt.Errorf("%w: too many untagged lines", errProtocol)
			}
		case idTag != "" && strings.HasPrefix(l, idTag+" "):
			idTag = ""
		default:
			return u.finishTagged(tag, l, untagged)
		}
	}
}

// imapAuthenticate runs AUTHENTICATE PLAIN with a continuation.
func (u *upstreamConn) imapAuthenticate(resp string) (bool, []string, string, error) {
	tag := u.tag()
	if err := u.send(tag + " AUTHENTICATE PLAIN\r\n"); err != nil {
		return false, nil, "", err
	}
	l, err := u.readLine()
	if err != nil {
		return false, nil, "", err
	}
	if !strings.HasPrefix(l, "+") {
		return u.finishTagged(tag, l, nil)
	}
	if err := u.send(resp + "\r\n"); err != nil {
		return false, nil, "", err
	}
	var untagged []string
	for {
		l, err := u.readLine()
		if err != nil {
			return false, nil, "", err
		}
		if strings.HasPrefix(l, "* ") {
			untagged = append(untagged, l)
			continue
		}
		return u.finishTagged(tag, l, untagged)
	}
}

// oauthMessage returns the client message of an OAuth mechanism for the
// upstream, and the mechanism's name on the wire.
func oauthMessage(c creds) (mech string, msg []byte) {
	if c.oauthMech == sasl.MethodXOAuth2 {
		return "XOAUTH2", []byte("user=" + c.user + "\x01auth=Bearer " + c.token + "\x01\x01")
	}
	gs2 := "n,,"
	if c.user != "" {
		gs2 = "n,a=" + strings.NewReplacer("=", "=3D", ",", "=2C").Replace(c.user) + ","
	}
	return "OAUTHBEARER", []byte(gs2 + "\x01auth=Bearer " + c.token + "\x01\x01")
}

// oauthErrorReply is what a client answers an OAuth error challenge with.
func oauthErrorReply(mech string) string {
	if mech == "XOAUTH2" {
		return "" // an empty response
	}
	return sasl.Encode([]byte{1})
}

// maxInitialResponse: a longer initial response goes on a continuation
// line, which servers allow to be longer than a command.
const maxInitialResponse = 2048

// imapOAuth passes the client's bearer token through with AUTHENTICATE
// (with SASL-IR when offered and the response is short). The client's
// mechanism is used; when the server offers only the other one, that one.
// An error challenge is answered as a client would, then the NO is the
// refusal.
func (u *upstreamConn) imapOAuth(c creds) (bool, []string, string, error) {
	other := map[string]string{sasl.MethodOAuthBearer: sasl.MethodXOAuth2, sasl.MethodXOAuth2: sasl.MethodOAuthBearer}[c.oauthMech]
	if !u.caps["AUTH="+strings.ToUpper(c.oauthMech)] && u.caps["AUTH="+strings.ToUpper(other)] {
		c.oauthMech = other
	}
	mech, msg := oauthMessage(c)
	resp := sasl.Encode(msg)
	tag := u.tag()
	cmd := tag + " AUTHENTICATE " + mech
	sent := false
	if u.caps["SASL-IR"] && len(resp) <= maxInitialResponse {
		cmd += " " + resp
		sent = true
	}
	if err := u.send(cmd + "\r\n"); err != nil {
		return false, nil, "", err
	}
	var untagged []string
	challenged := false
	for {
		l, err := u.readLine()
		if err != nil {
			return false, nil, "", err
		}
		switch {
		case strings.HasPrefix(l, "+"):
			reply := resp
			if sent {
				// A challenge after the message is the error challenge.
				if challenged {
					return false, nil, "", fmt.Errorf("%w: a second OAuth error challenge", errProtocol)
				}
				challenged = true
				reply = oauthErrorReply(mech)
			}
			sent = true
			if err := u.send(reply + "\r\n"); err != nil {
				return false, nil, "", err
			}
		case strings.HasPrefix(l, "* "):
			untagged = append(untagged, l)
			if len(untagged) > 1000 {
				return false, nil, "", fmt.Errorf("%w: too many untagged lines", errProtocol)
			}
		default:
			return u.finishTagged(tag, l, untagged)
		}
	}
}

// POP3.

func (u *upstreamConn) preparePOP3() error {
	g, err := u.readLine()
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	if !strings.HasPrefix(g, "+OK") {
		return fmt.Errorf("%w: greeting %q", errProtocol, truncate(g))
	}
	cfg := u.srv.cfg.Upstream
	if cfg.TLS == TLSStartTLS {
		if ok, text, err := u.pop3("STLS"); err != nil || !ok {
			return fmt.Errorf("%w: STLS: %v %s", errProtocol, err, text)
		}
		if u.br.Buffered() > 0 {
			return fmt.Errorf("%w: bytes after STLS +OK", errProtocol)
		}
		if err := u.startTLS(); err != nil {
			return err
		}
		u.br = bufio.NewReaderSize(u.conn, 4096)
	}
	if cfg.ClientAddress == ClientAddrAuto && strings.Contains(strings.ToUpper(g), "[XCLIENT]") {
		ss := u.ss
		cmd := fmt.Sprintf("XCLIENT ADDR=%s PORT=%d SESSION=%s", ss.client.Addr().Unmap(), ss.client.Port(), ss.id)
		if ok, text, err := u.pop3(cmd); err != nil || !ok {
			return fmt.Errorf("%w: XCLIENT: %v %s", errProtocol, err, text)
		}
	}
	return nil
}

// pop3 sends one command and reads its status line.
func (u *upstreamConn) pop3(cmd string) (bool, string, error) {
	if err := u.send(cmd + "\r\n"); err != nil {
		return false, "", err
	}
	l, err := u.readLine()
	if err != nil {
		return false, "", err
	}
	switch {
	case strings.HasPrefix(l, "+OK"):
		return true, l, nil
	case strings.HasPrefix(l, "-ERR"):
		return false, strings.TrimSpace(l[4:]), nil
	}
	return false, "", fmt.Errorf("%w: %q", errProtocol, truncate(l))
}

func (u *upstreamConn) loginPOP3(c creds) (bool, string, error) {
	if c.oauthMech != "" {
		ok, text, err := u.pop3OAuth(c)
		if ok {
			u.okLine = text
		}
		return ok, text, err
	}
	if strings.ContainsAny(c.user+c.password, "\r\n\x00") || c.plainMech {
		// AUTH PLAIN carries any byte and the authzid.
		ok, text, err := u.pop3("AUTH PLAIN " + sasl.EncodePlain(c.authzid, c.user, c.password))
		if ok {
			u.okLine = text
		}
		return ok, text, err
	}
	ok, text, err := u.pop3("USER " + c.user)
	if err != nil || !ok {
		return ok, text, err
	}
	ok, text, err = u.pop3("PASS " + c.password)
	if ok {
		u.okLine = text
	}
	return ok, text, err
}

// pop3OAuth passes the client's bearer token through with AUTH (RFC
// 5034): the message as the initial response when it is short, else on
// the continuation line; an error challenge is answered as a client
// would, then the -ERR is the refusal.
func (u *upstreamConn) pop3OAuth(c creds) (bool, string, error) {
	mech, msg := oauthMessage(c)
	resp := sasl.Encode(msg)
	cmd := "AUTH " + mech
	sent := false
	if len(cmd)+1+len(resp) <= 255 { // RFC 5034 4: the initial response's line
		cmd += " " + resp
		sent = true
	}
	if err := u.send(cmd + "\r\n"); err != nil {
		return false, "", err
	}
	for rounds := 0; ; rounds++ {
		l, err := u.readLine()
		if err != nil {
			return false, "", err
		}
		switch {
		case strings.HasPrefix(l, "+OK"):
			return true, l, nil
		case strings.HasPrefix(l, "-ERR"):
			return false, strings.TrimSpace(l[4:]), nil
		case strings.HasPrefix(l, "+") && rounds < 2:
			reply := resp
			if sent {
				reply = oauthErrorReply(mech)
			}
			sent = true
			if err := u.send(reply + "\r\n"); err != nil {
				return false, "", err
			}
		default:
			return false, "", fmt.Errorf("%w: %q", errProtocol, truncate(l))
		}
	}
}

func truncate(s string) string {
	if len(s) > 200 {
		return s[:200] + "..."
	}
	return s
}

// timeZero clears a deadline.
var timeZero time.Time
