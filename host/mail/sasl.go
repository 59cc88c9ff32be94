package mail

import (
	"errors"
	"io"
	"net"
	"os"

	"github.com/postern/postern/host/internal/imapwire"
	"github.com/postern/postern/host/internal/sasl"
)

// saslEnd is how a SASL exchange ended.
type saslEnd int

const (
	saslDone      saslEnd = iota // the identity is established
	saslFailed                   // malformed or refused credentials; msg says why
	saslAborted                  // the client answered "*"
	saslBadBase64                // a response that is not base64
	saslGone                     // the session is over (outcome set)
)

// saslExchange runs mech from the initial response resp (nil: none) until
// it is done, sending challenges as "+ <base64>" and reading responses
// with r, the same for IMAP and POP3. fatal ends the session on a read
// error in the protocol's words.
func (ss *session) saslExchange(mech sasl.Server, resp []byte, r *imapwire.Reader, fatal func(error)) (saslEnd, string) {
	for {
		ch, done, err := mech.Next(resp)
		if err != nil {
			return saslFailed, ss.saslFailed(err)
		}
		if done {
			return saslDone, ""
		}
		if err := ss.write("+ " + sasl.Encode(ch) + "\r\n"); err != nil {
			ss.outcome = "client_gone"
			return saslGone, ""
		}
		ss.idle()
		line, err := r.ReadLine()
		if err != nil {
			fatal(err)
			return saslGone, ""
		}
		if string(line) == "*" {
			return saslAborted, ""
		}
		if resp, err = sasl.Decode(line); err != nil {
			return saslBadBase64, ""
		}
	}
}

// readFailed sets the outcome of a session whose read failed and returns
// the text to send before closing, or "" when the client is gone.
func (ss *session) readFailed(err error) string {
	msg := ""
	switch {
	case errors.Is(err, imapwire.ErrLineTooLong):
		msg, ss.outcome = "Line too long, disconnecting.", "protocol_error"
	case errors.Is(err, imapwire.ErrLiteralTooLarge):
		msg, ss.outcome = "Literal too large, disconnecting.", "protocol_error"
	case errors.Is(err, os.ErrDeadlineExceeded):
		msg, ss.outcome = "Idle too long, disconnecting.", "timeout"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		ss.outcome = "client_gone"
	default:
		ss.outcome = "client_gone"
		ss.err = err
	}
	if ss.ctx.Err() != nil {
		ss.outcome = "shutdown"
	}
	return msg
}
