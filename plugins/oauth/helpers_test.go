package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"math/big"
	"sync"
	"testing"
	"time"
)

// testIDP is an identity provider for tests: an RSA and an EC key, and
// tokens signed with them.
type testIDP struct {
	rsa, rsa2 *rsa.PrivateKey
	ec        *ecdsa.PrivateKey
}

var (
	idpOnce sync.Once
	idp     *testIDP
)

func getIDP(t testing.TB) *testIDP {
	idpOnce.Do(func() {
		r1, err := rsa.GenerateKey(rand.Reader, 2048)
		if err != nil {
			t.Fatal(err)
		}
		r2, _ := rsa.GenerateKey(rand.Reader, 2048)
		e, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		idp = &testIDP{rsa: r1, rsa2: r2, ec: e}
	})
	return idp
}

const (
	testIssuer   = "https://idp.example.com/"
	testAudience = "imap.example.com"
)

func enc(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// jwks returns the key set with the RSA key "r1" and the EC key "e1"; with
// rotated, the second RSA key "r2" too.
func (p *testIDP) jwks(rotated bool) []byte {
	rsaKey := func(kid string, k *rsa.PrivateKey) map[string]string {
		return map[string]string{"kty": "RSA", "kid": kid, "use": "sig", "alg": "RS256",
			"n": enc(k.N.Bytes()), "e": enc(big.NewInt(int64(k.E)).Bytes())}
	}
	x, y := make([]byte, 32), make([]byte, 32)
	p.ec.X.FillBytes(x)
	p.ec.Y.FillBytes(y)
	keys := []any{rsaKey("r1", p.rsa), map[string]string{"kty": "EC", "kid": "e1", "crv": "P-256", "x": enc(x), "y": enc(y)},
		map[string]string{"kty": "oct", "kid": "s1", "k": "c2VjcmV0"}} // a symmetric key is skipped
	if rotated {
		keys = append(keys, rsaKey("r2", p.rsa2))
	}
	b, _ := json.Marshal(map[string]any{"keys": keys})
	return b
}

// claims returns valid claims for bob at now.
func claims(now time.Time) map[string]any {
	return map[string]any{"iss": testIssuer, "aud": testAudience, "sub": "1234", "email": "bob@example.com",
		"iat": now.Unix(), "nbf": now.Unix(), "exp": now.Add(time.Hour).Unix(), "scope": "openid mail"}
}

// sign makes a JWT. alg "RS256" signs with r1 (or r2 with kid "r2"),
// "ES256" with e1; any other alg gets a junk signature.
func (p *testIDP) sign(alg, kid string, c map[string]any) string {
	hdr := map[string]any{"alg": alg, "typ": "JWT"}
	if kid != "" {
		hdr["kid"] = kid
	}
	hb, _ := json.Marshal(hdr)
	cb, _ := json.Marshal(c)
	in := enc(hb) + "." + enc(cb)
	h := sha256.Sum256([]byte(in))
	var sig []byte
	switch alg {
	case "RS256":
		k := p.rsa
		if kid == "r2" {
			k = p.rsa2
		}
		sig, _ = rsa.SignPKCS1v15(rand.Reader, k, crypto.SHA256, h[:])
	case "ES256":
		r, s, _ := ecdsa.Sign(rand.Reader, p.ec, h[:])
		sig = make([]byte, 64)
		r.FillBytes(sig[:32])
		s.FillBytes(sig[32:])
	default:
		sig = []byte("junk")
	}
	return in + "." + enc(sig)
}
