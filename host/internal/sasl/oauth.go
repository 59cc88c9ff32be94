package sasl

import (
	"bytes"
	"encoding/json"
	"strings"
)

// The OAuth 2.0 mechanisms: OAUTHBEARER (RFC 7628) and Google's XOAUTH2.
// Both carry a bearer token and the user the client claims in one client
// message; neither has a challenge before it. On failure the server sends
// an error challenge (a JSON object, see OAuthErrorChallenge), the client
// answers it (OAUTHBEARER: a single %x01; XOAUTH2: an empty response) and
// the server then fails the exchange. That last round is the front end's,
// after the hooks judged the token: the mechanisms here only decode.

// Method names of the OAuth mechanisms, as Identity.Method and the
// auth_method field carry them.
const (
	MethodOAuthBearer = "oauthbearer"
	MethodXOAuth2     = "xoauth2"
)

// DefaultMaxToken is the default bound on a bearer token's length: access
// tokens that are JWTs with many claims run to several KiB.
const DefaultMaxToken = 16 << 10

// IsOAuth reports whether a method is one of the OAuth mechanisms.
func IsOAuth(method string) bool { return method == MethodOAuthBearer || method == MethodXOAuth2 }

// NewOAuthServer returns the exchange of an OAuth mechanism ("OAUTHBEARER"
// or "XOAUTH2", any case); tokens longer than maxToken bytes are
// malformed (0: DefaultMaxToken).
func NewOAuthServer(mech string, maxToken int) (Server, error) {
	if maxToken <= 0 {
		maxToken = DefaultMaxToken
	}
	switch strings.ToUpper(mech) {
	case "OAUTHBEARER":
		return &oauth{method: MethodOAuthBearer, max: maxToken}, nil
	case "XOAUTH2":
		return &oauth{method: MethodXOAuth2, max: maxToken}, nil
	}
	return nil, ErrUnknown
}

type oauth struct {
	method string
	max    int
	done   bool
	id     Identity
}

func (o *oauth) Identity() Identity { return o.id }

func (o *oauth) Next(resp []byte) ([]byte, bool, error) {
	if o.done {
		return nil, false, ErrMalformed
	}
	if resp == nil {
		return []byte{}, false, nil // no initial response: an empty challenge
	}
	var id Identity
	var err error
	if o.method == MethodOAuthBearer {
		id, err = DecodeOAuthBearer(resp, o.max)
	} else {
		id, err = DecodeXOAuth2(resp, o.max)
	}
	if err != nil {
		return nil, false, err
	}
	o.id, o.done = id, true
	return nil, true, nil
}

// DecodeOAuthBearer parses an OAUTHBEARER client response (RFC 7628 3.1):
//
//	gs2-header %x01 *(key "=" value %x01) %x01
//
// with gs2-header "n,a=<authzid>," ("y" is accepted as "n"; "p" is
// refused: there is no channel binding). The authzid is unescaped
// ("=2C" is ",", "=3D" is "="). The "auth" pair is required and must be
// "Bearer <token>"; "host", "port" and unknown pairs are ignored.
func DecodeOAuthBearer(resp []byte, maxToken int) (Identity, error) {
	if maxToken <= 0 {
		maxToken = DefaultMaxToken
	}
	// gs2-header: cbflag "," [authzid] ",". It ends at the first %x01,
	// which no authzid holds: clients that do not escape "," in the
	// authzid (curl, go-sasl) are understood too.
	if len(resp) < 3 || (resp[0] != 'n' && resp[0] != 'y') || resp[1] != ',' {
		return Identity{}, ErrMalformed
	}
	end := bytes.IndexByte(resp, 1)
	if end < 3 || resp[end-1] != ',' {
		return Identity{}, ErrMalformed
	}
	var user string
	if a := resp[2 : end-1]; len(a) > 0 {
		if !bytes.HasPrefix(a, []byte("a=")) || len(a) == 2 {
			return Identity{}, ErrMalformed
		}
		u, ok := unescapeSaslname(a[2:])
		if !ok {
			return Identity{}, ErrMalformed
		}
		user = u
	}
	rest := resp[end:]
	// kvsep *kvpair kvsep: each pair ends with %x01, the message with a
	// second %x01.
	if len(rest) < 2 || rest[0] != 1 || !bytes.HasSuffix(rest, []byte{1, 1}) {
		return Identity{}, ErrMalformed
	}
	pairs := rest[1 : len(rest)-1] // "k=v\x01k=v\x01"
	token, found := "", false
	for len(pairs) > 0 {
		j := bytes.IndexByte(pairs, 1)
		if j < 0 {
			return Identity{}, ErrMalformed
		}
		kv := pairs[:j]
		pairs = pairs[j+1:]
		k, v, ok := bytes.Cut(kv, []byte("="))
		if !ok || !isKey(k) || !isValue(v) {
			return Identity{}, ErrMalformed
		}
		if string(k) == "auth" {
			if found {
				return Identity{}, ErrMalformed
			}
			t, err := bearer(v, maxToken)
			if err != nil {
				return Identity{}, err
			}
			token, found = t, true
		}
	}
	if !found {
		return Identity{}, ErrMalformed
	}
	return Identity{User: user, Token: token, Method: MethodOAuthBearer}, nil
}

// DecodeXOAuth2 parses an XOAUTH2 client response:
//
//	"user=" user %x01 "auth=Bearer " token %x01 %x01
func DecodeXOAuth2(resp []byte, maxToken int) (Identity, error) {
	if maxToken <= 0 {
		maxToken = DefaultMaxToken
	}
	if !bytes.HasPrefix(resp, []byte("user=")) || !bytes.HasSuffix(resp, []byte{1, 1}) {
		return Identity{}, ErrMalformed
	}
	body := resp[len("user=") : len(resp)-2]
	u, a, ok := bytes.Cut(body, []byte{1})
	if !ok || len(u) == 0 || len(u) > maxField || !bytes.HasPrefix(a, []byte("auth=")) {
		return Identity{}, ErrMalformed
	}
	for _, c := range u {
		if c < 0x20 || c == 0x7f {
			return Identity{}, ErrMalformed
		}
	}
	token, err := bearer(a[len("auth="):], maxToken)
	if err != nil {
		return Identity{}, err
	}
	return Identity{User: string(u), Token: token, Method: MethodXOAuth2}, nil
}

// bearer returns the token of an "auth" value "Bearer <b64token>" (RFC
// 6750 2.1; the scheme in any case).
func bearer(v []byte, maxToken int) (string, error) {
	scheme, tok, ok := bytes.Cut(v, []byte(" "))
	if !ok || !strings.EqualFold(string(scheme), "bearer") {
		return "", ErrMalformed
	}
	if len(tok) == 0 || len(tok) > maxToken || !isB64Token(tok) {
		return "", ErrMalformed
	}
	return string(tok), nil
}

// isB64Token: 1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"="
func isB64Token(t []byte) bool {
	i := 0
	for i < len(t) && t[i] != '=' {
		c := t[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' ||
			c == '-' || c == '.' || c == '_' || c == '~' || c == '+' || c == '/') {
			return false
		}
		i++
	}
	if i == 0 {
		return false
	}
	for ; i < len(t); i++ {
		if t[i] != '=' {
			return false
		}
	}
	return true
}

// isKey: 1*(ALPHA)
func isKey(k []byte) bool {
	if len(k) == 0 {
		return false
	}
	for _, c := range k {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return false
		}
	}
	return true
}

// isValue: *(VCHAR / SP / HTAB / CR / LF)
func isValue(v []byte) bool {
	for _, c := range v {
		if !(c >= 0x21 && c <= 0x7e || c == ' ' || c == '\t' || c == '\r' || c == '\n') {
			return false
		}
	}
	return true
}

// unescapeSaslname decodes a GS2 saslname: "=2C" is ",", "=3D" is "=".
// Clients that do not escape (curl, go-sasl) send "," and "=" as they
// are, so any other "=" and a bare "," are taken literally. NUL and
// control characters are refused.
func unescapeSaslname(b []byte) (string, bool) {
	if len(b) > maxField {
		return "", false
	}
	var out []byte
	for i := 0; i < len(b); i++ {
		c := b[i]
		switch {
		case c == '=' && i+2 < len(b) && (string(b[i+1:i+3]) == "2C" || string(b[i+1:i+3]) == "2c"):
			out = append(out, ',')
			i += 2
		case c == '=' && i+2 < len(b) && (string(b[i+1:i+3]) == "3D" || string(b[i+1:i+3]) == "3d"):
			out = append(out, '=')
			i += 2
		case c < 0x20 || c == 0x7f:
			return "", false
		default:
			out = append(out, c)
		}
	}
	return string(out), true
}

// OAuthError is the error challenge of a failed OAuth exchange.
type OAuthError struct {
	// Scope is the scope a token needs ("" leaves it out).
	Scope string
	// OpenIDConfiguration is the URL of the identity provider's discovery
	// document (OAUTHBEARER only; "" leaves it out).
	OpenIDConfiguration string
}

// Challenge returns the JSON error challenge for method (RFC 7628 3.2.2
// for OAUTHBEARER, status "invalid_token"; Google's form for XOAUTH2,
// status "401"), both with schemes "bearer".
func (e OAuthError) Challenge(method string) []byte {
	type body struct {
		Status  string `json:"status"`
		Schemes string `json:"schemes"`
		Scope   string `json:"scope,omitempty"`
		OpenID  string `json:"openid-configuration,omitempty"`
	}
	b := body{Status: "invalid_token", Schemes: "bearer", Scope: e.Scope, OpenID: e.OpenIDConfiguration}
	if method == MethodXOAuth2 {
		b.Status, b.OpenID = "401", ""
	}
	out, _ := json.Marshal(b)
	return out
}
