// Package sasl implements the server side of the SASL mechanisms a mail
// proxy accepts before login: PLAIN (RFC 4616) and LOGIN
// (draft-murchison-sasl-login), and the OAuth 2.0 mechanisms OAUTHBEARER
// (RFC 7628) and XOAUTH2 (oauth.go). Mechanisms are steps over raw (decoded)
// client responses; base64 framing belongs to the protocol (IMAP, POP3).
// GSSAPI plugs in through the same Server interface.
package sasl

import (
	"bytes"
	"encoding/base64"
	"errors"
	"strings"
)

// Identity is what a successful exchange established.
type Identity struct {
	AuthzID  string // the identity to act as ("" = the same as User)
	User     string // the authentication identity (login)
	Password string // empty for mechanisms without one (GSSAPI, OAuth)
	Token    string // the bearer token of an OAuth login; a secret like Password
	Method   string // "plain", "login", "gssapi", "oauthbearer", "xoauth2"
}

// Server is one server-side exchange. Next receives the client's decoded
// response (nil for "no initial response") and returns the next challenge,
// or done with the identity.
type Server interface {
	Next(response []byte) (challenge []byte, done bool, err error)
	Identity() Identity
}

// Errors.
var (
	// ErrMalformed: the client's response does not follow the mechanism.
	ErrMalformed = errors.New("sasl: malformed response")
	// ErrUnknown: the mechanism is not offered.
	ErrUnknown = errors.New("sasl: unknown mechanism")
)

// maxField bounds each decoded field (logins and passwords are short).
const maxField = 1024

// NewServer returns the exchange for a mechanism name (any case).
func NewServer(mech string) (Server, error) {
	switch strings.ToUpper(mech) {
	case "PLAIN":
		return &plain{}, nil
	case "LOGIN":
		return &login{}, nil
	}
	return nil, ErrUnknown
}

type plain struct{ id Identity }

func (p *plain) Identity() Identity { return p.id }

func (p *plain) Next(resp []byte) ([]byte, bool, error) {
	if resp == nil {
		return []byte{}, false, nil // empty challenge: send the credentials
	}
	parts := bytes.Split(resp, []byte{0})
	if len(parts) != 3 || len(parts[1]) == 0 {
		return nil, false, ErrMalformed
	}
	for _, f := range parts {
		if len(f) > maxField {
			return nil, false, ErrMalformed
		}
	}
	p.id = Identity{AuthzID: string(parts[0]), User: string(parts[1]), Password: string(parts[2]), Method: "plain"}
	return nil, true, nil
}

// DecodePlain parses an already decoded PLAIN response.
func DecodePlain(resp []byte) (Identity, error) {
	var p plain
	if _, _, err := p.Next(resp); err != nil {
		return Identity{}, err
	}
	return p.id, nil
}

// EncodePlain returns the base64 PLAIN response for a client.
func EncodePlain(authzid, user, password string) string {
	return base64.StdEncoding.EncodeToString([]byte(authzid + "\x00" + user + "\x00" + password))
}

type login struct {
	step int
	id   Identity
}

func (l *login) Identity() Identity { return l.id }

// The LOGIN prompts, as every server sends them.
var (
	PromptUsername = []byte("Username:")
	PromptPassword = []byte("Password:")
)

func (l *login) Next(resp []byte) ([]byte, bool, error) {
	if len(resp) > maxField || bytes.IndexByte(resp, 0) >= 0 {
		return nil, false, ErrMalformed
	}
	switch l.step {
	case 0:
		l.step = 1
		if resp == nil {
			return PromptUsername, false, nil
		}
		fallthrough // an initial response is the username
	case 1:
		if len(resp) == 0 {
			return nil, false, ErrMalformed
		}
		l.id.User = string(resp)
		l.step = 2
		return PromptPassword, false, nil
	case 2:
		l.id.Password = string(resp)
		l.id.Method = "login"
		l.step = 3
		return nil, true, nil
	}
	return nil, false, ErrMalformed
}

// Decode decodes a base64 client response line; "=" is the empty response
// (RFC 4959).
func Decode(line []byte) ([]byte, error) {
	if string(line) == "=" {
		return []byte{}, nil
	}
	out := make([]byte, base64.StdEncoding.DecodedLen(len(line)))
	n, err := base64.StdEncoding.Decode(out, line)
	if err != nil {
		return nil, ErrMalformed
	}
	return out[:n], nil
}

// Encode base64-encodes a challenge for the wire.
func Encode(b []byte) string { return base64.StdEncoding.EncodeToString(b) }
