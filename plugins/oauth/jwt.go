package main

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math/big"
	"strings"
)

// Why a token was refused; the reason goes to the log and the counters,
// never the token.
const (
	reasonMalformed  = "malformed"     // not a JWS compact JWT, bad JSON
	reasonAlg        = "algorithm"     // alg not allowed ("none", HS256, ...)
	reasonUnknownKey = "unknown_key"   // no key with the token's kid
	reasonSignature  = "signature"     // the signature does not verify
	reasonIssuer     = "issuer"        // iss is not the configured issuer
	reasonAudience   = "audience"      // aud lacks every configured audience
	reasonExpired    = "expired"       // exp passed (beyond the skew)
	reasonNotYet     = "not_yet_valid" // nbf in the future (beyond the skew)
	reasonNoLogin    = "no_login"      // the login claim is missing or empty
	reasonScope      = "scope"         // the required scope is missing
	reasonInactive   = "inactive"      // introspection: active false
	reasonMismatch   = "user_mismatch" // the claimed user is not the token's
)

// tokenError is a refused token.
type tokenError struct{ reason string }

func (e *tokenError) Error() string { return "token refused: " + e.reason }

func refused(reason string) error { return &tokenError{reason} }

// maxJWT bounds what is parsed (the host bounds tokens at 16 KiB by
// default, 64 KiB at most).
const maxJWT = 64 << 10

// jwt is a parsed, not yet verified, JWS compact serialization.
type jwt struct {
	alg, kid     string
	signingInput []byte // header "." payload, as sent
	sig          []byte
	claims       map[string]json.RawMessage
}

// parseJWT splits and decodes a compact JWS (RFC 7515 7.1) whose payload
// is a JSON object of claims (RFC 7519).
func parseJWT(tok string) (*jwt, error) {
	if len(tok) > maxJWT || strings.Count(tok, ".") != 2 {
		return nil, refused(reasonMalformed)
	}
	i := strings.IndexByte(tok, '.')
	j := strings.LastIndexByte(tok, '.')
	hb, err1 := b64url(tok[:i])
	pb, err2 := b64url(tok[i+1 : j])
	sig, err3 := b64url(tok[j+1:])
	if err1 != nil || err2 != nil || err3 != nil {
		return nil, refused(reasonMalformed)
	}
	var hdr struct {
		Alg  string          `json:"alg"`
		Kid  string          `json:"kid"`
		Crit json.RawMessage `json:"crit"`
	}
	if err := json.Unmarshal(hb, &hdr); err != nil || hdr.Alg == "" {
		return nil, refused(reasonMalformed)
	}
	if hdr.Crit != nil {
		// No extension is understood (RFC 7515 4.1.11).
		return nil, refused(reasonMalformed)
	}
	t := &jwt{alg: hdr.Alg, kid: hdr.Kid, signingInput: []byte(tok[:j]), sig: sig}
	d := json.NewDecoder(bytes.NewReader(pb))
	d.UseNumber()
	if err := d.Decode(&t.claims); err != nil || t.claims == nil || d.More() {
		return nil, refused(reasonMalformed)
	}
	return t, nil
}

// b64url decodes unpadded base64url (RFC 7515 2).
func b64url(s string) ([]byte, error) {
	if strings.ContainsAny(s, "=+/") {
		return nil, errors.New("not base64url")
	}
	return base64.RawURLEncoding.DecodeString(s)
}

// jwk is a public key from a JWKS.
type jwk struct {
	kid string
	alg string // "" when the set does not say
	key crypto.PublicKey
}

// parseJWKS reads a JSON Web Key Set (RFC 7517 5), keeping the RSA and
// P-256 EC signing keys; keys of other types or for encryption ("use":
// "enc") are skipped, malformed ones are an error.
func parseJWKS(b []byte) ([]jwk, error) {
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Use string `json:"use"`
			Alg string `json:"alg"`
			N   string `json:"n"`
			E   string `json:"e"`
			Crv string `json:"crv"`
			X   string `json:"x"`
			Y   string `json:"y"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(b, &set); err != nil {
		return nil, errors.New("JWKS: " + err.Error())
	}
	if set.Keys == nil {
		return nil, errors.New(`JWKS: no "keys"`)
	}
	var out []jwk
	for _, k := range set.Keys {
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		switch k.Kty {
		case "RSA":
			n, err1 := b64url(k.N)
			e, err2 := b64url(k.E)
			if err1 != nil || err2 != nil || len(n) < 256 || len(e) == 0 || len(e) > 4 {
				// Under 2048 bits is refused, as RFC 7518 3.3 requires.
				return nil, errors.New("JWKS: bad RSA key " + quote(k.Kid))
			}
			ev := 0
			for _, c := range e {
				ev = ev<<8 | int(c)
			}
			if ev < 3 || ev%2 == 0 {
				return nil, errors.New("JWKS: bad RSA exponent in key " + quote(k.Kid))
			}
			out = append(out, jwk{kid: k.Kid, alg: k.Alg, key: &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: ev}})
		case "EC":
			if k.Crv != "P-256" {
				continue
			}
			x, err1 := b64url(k.X)
			y, err2 := b64url(k.Y)
			if err1 != nil || err2 != nil || len(x) != 32 || len(y) != 32 {
				return nil, errors.New("JWKS: bad EC key " + quote(k.Kid))
			}
			// The point must be on the curve: decode it as an uncompressed
			// point, which checks that.
			pt := append([]byte{4}, append(x, y...)...)
			pub, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), pt)
			if err != nil {
				return nil, errors.New("JWKS: EC key " + quote(k.Kid) + " is not on P-256")
			}
			out = append(out, jwk{kid: k.Kid, alg: k.Alg, key: pub})
		}
	}
	return out, nil
}

func quote(s string) string {
	b, _ := json.Marshal(s)
	return string(b)
}

// findKey returns the key a token names: by kid, or without a kid the only
// key that fits the algorithm. ok is false when there is none.
func findKey(keys []jwk, alg, kid string) (jwk, bool) {
	var found []jwk
	for _, k := range keys {
		if kid != "" && k.kid != kid {
			continue
		}
		if !keyFits(k, alg) {
			continue
		}
		found = append(found, k)
	}
	if len(found) != 1 {
		return jwk{}, false
	}
	return found[0], true
}

func keyFits(k jwk, alg string) bool {
	if k.alg != "" && k.alg != alg {
		return false
	}
	switch k.key.(type) {
	case *rsa.PublicKey:
		return alg == "RS256"
	case *ecdsa.PublicKey:
		return alg == "ES256"
	}
	return false
}

// verifySig checks the token's signature with k.
func verifySig(t *jwt, k jwk) bool {
	h := sha256.Sum256(t.signingInput)
	switch pub := k.key.(type) {
	case *rsa.PublicKey:
		return t.alg == "RS256" && rsa.VerifyPKCS1v15(pub, crypto.SHA256, h[:], t.sig) == nil
	case *ecdsa.PublicKey:
		// JWS ES256: R || S, 32 bytes each (RFC 7518 3.4), not ASN.1.
		if t.alg != "ES256" || len(t.sig) != 64 {
			return false
		}
		r := new(big.Int).SetBytes(t.sig[:32])
		s := new(big.Int).SetBytes(t.sig[32:])
		return ecdsa.Verify(pub, h[:], r, s)
	}
	return false
}

// claimString returns a string claim ("" when absent or not a string).
func claimString(c map[string]json.RawMessage, name string) string {
	var s string
	if raw, ok := c[name]; ok && json.Unmarshal(raw, &s) == nil {
		return s
	}
	return ""
}

// claimTime returns a NumericDate claim in seconds; ok is false when
// absent. A claim that is present but not a number is malformed.
func claimTime(c map[string]json.RawMessage, name string) (sec float64, ok bool, err error) {
	raw, has := c[name]
	if !has {
		return 0, false, nil
	}
	var n json.Number
	if json.Unmarshal(raw, &n) != nil {
		return 0, false, refused(reasonMalformed)
	}
	f, e := n.Float64()
	if e != nil {
		return 0, false, refused(reasonMalformed)
	}
	return f, true, nil
}

// claimStrings returns a claim that is a string or an array of strings
// (aud, RFC 7519 4.1.3; scp).
func claimStrings(c map[string]json.RawMessage, name string) []string {
	raw, ok := c[name]
	if !ok {
		return nil
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return []string{s}
	}
	var l []string
	if json.Unmarshal(raw, &l) == nil {
		return l
	}
	return nil
}

// hasScope reports whether the claims grant scope: "scope" is a
// space-separated string (RFC 8693 4.2, RFC 7662), "scp" a string or list
// (Azure AD, Okta).
func hasScope(c map[string]json.RawMessage, scope string) bool {
	for _, s := range strings.Fields(claimString(c, "scope")) {
		if s == scope {
			return true
		}
	}
	for _, item := range claimStrings(c, "scp") {
		for _, s := range strings.Fields(item) {
			if s == scope {
				return true
			}
		}
	}
	return false
}
