package sasl

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	gosasl "github.com/emersion/go-sasl"
)

func TestDecodeOAuthBearer(t *testing.T) {
	tok := "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJib2IifQ.c2ln"
	tests := []struct {
		name, resp string
		user, tok  string
		err        error
	}{
		{"RFC 7628 4.1", "n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01",
			"user@example.com", "vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==", nil},
		{"curl's form", "n,a=bob@example.com,\x01host=127.0.0.1\x01port=1143\x01auth=Bearer " + tok + "\x01\x01", "bob@example.com", tok, nil},
		{"no authzid", "n,,\x01auth=Bearer " + tok + "\x01\x01", "", tok, nil},
		{"y flag", "y,a=bob,\x01auth=Bearer " + tok + "\x01\x01", "bob", tok, nil},
		{"escaped authzid", "n,a=a=2Cb=3Dc,\x01auth=Bearer x\x01\x01", "a,b=c", "x", nil},
		{"scheme in any case", "n,a=bob,\x01auth=bEaReR x\x01\x01", "bob", "x", nil},
		{"unknown pairs ignored", "n,a=bob,\x01foo=bar baz\x01auth=Bearer x\x01\x01", "bob", "x", nil},
		{"channel binding", "p=tls-unique,a=bob,\x01auth=Bearer x\x01\x01", "", "", ErrMalformed},
		{"no auth", "n,a=bob,\x01host=h\x01\x01", "", "", ErrMalformed},
		{"two auths", "n,a=bob,\x01auth=Bearer x\x01auth=Bearer y\x01\x01", "", "", ErrMalformed},
		{"basic scheme", "n,a=bob,\x01auth=Basic eA==\x01\x01", "", "", ErrMalformed},
		{"token with a space", "n,a=bob,\x01auth=Bearer a b\x01\x01", "", "", ErrMalformed},
		{"token padding inside", "n,a=bob,\x01auth=Bearer a=b\x01\x01", "", "", ErrMalformed},
		{"empty token", "n,a=bob,\x01auth=Bearer \x01\x01", "", "", ErrMalformed},
		{"no final kvsep", "n,a=bob,\x01auth=Bearer x\x01", "", "", ErrMalformed},
		{"unescaped = and , (curl, go-sasl)", "n,a=b=2Xc,d,\x01auth=Bearer x\x01\x01", "b=2Xc,d", "x", nil},
		{"truncated escape taken literally", "n,a=b=2,\x01auth=Bearer x\x01\x01", "b=2", "x", nil},
		{"no comma before kvsep", "n,a=bob\x01auth=Bearer x\x01\x01", "", "", ErrMalformed},
		{"control character in authzid", "n,a=b\rob,\x01auth=Bearer x\x01\x01", "", "", ErrMalformed},
		{"empty a=", "n,a=,\x01auth=Bearer x\x01\x01", "", "", ErrMalformed},
		{"the error reply", "\x01", "", "", ErrMalformed},
		{"empty", "", "", "", ErrMalformed},
		{"NUL in a value", "n,a=bob,\x01auth=Bearer x\x00\x01\x01", "", "", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := DecodeOAuthBearer([]byte(tc.resp), 0)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err == nil && (id.User != tc.user || id.Token != tc.tok || id.Method != MethodOAuthBearer || id.Password != "") {
				t.Fatalf("%+v", id)
			}
		})
	}
}

func TestDecodeXOAuth2(t *testing.T) {
	tests := []struct {
		name, resp string
		user, tok  string
		err        error
	}{
		{"Google's example", "user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01",
			"someuser@example.com", "ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg", nil},
		{"no user", "user=\x01auth=Bearer x\x01\x01", "", "", ErrMalformed},
		{"no auth", "user=bob\x01\x01", "", "", ErrMalformed},
		{"missing final kvsep", "user=bob\x01auth=Bearer x\x01", "", "", ErrMalformed},
		{"order swapped", "auth=Bearer x\x01user=bob\x01\x01", "", "", ErrMalformed},
		{"control in user", "user=b\rob\x01auth=Bearer x\x01\x01", "", "", ErrMalformed},
		{"extra pair", "user=bob\x01auth=Bearer x\x01host=h\x01\x01", "", "", ErrMalformed},
		{"empty response", "", "", "", ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := DecodeXOAuth2([]byte(tc.resp), 0)
			if !errors.Is(err, tc.err) {
				t.Fatalf("err %v, want %v", err, tc.err)
			}
			if err == nil && (id.User != tc.user || id.Token != tc.tok || id.Method != MethodXOAuth2) {
				t.Fatalf("%+v", id)
			}
		})
	}
}

func TestOAuthTokenLimit(t *testing.T) {
	long := strings.Repeat("a", 100)
	if _, err := DecodeXOAuth2([]byte("user=bob\x01auth=Bearer "+long+"\x01\x01"), 100); err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeXOAuth2([]byte("user=bob\x01auth=Bearer "+long+"a\x01\x01"), 100); !errors.Is(err, ErrMalformed) {
		t.Fatal("a token over the limit was accepted")
	}
	if _, err := DecodeOAuthBearer([]byte("n,,\x01auth=Bearer "+long+"a\x01\x01"), 100); !errors.Is(err, ErrMalformed) {
		t.Fatal("a token over the limit was accepted")
	}
}

func TestOAuthServer(t *testing.T) {
	for _, mech := range []string{"OAUTHBEARER", "xoauth2"} {
		s, err := NewOAuthServer(mech, 0)
		if err != nil {
			t.Fatal(err)
		}
		if ch, done, err := s.Next(nil); done || err != nil || len(ch) != 0 {
			t.Fatalf("%s without initial response: %q %v %v", mech, ch, done, err)
		}
		msg := "user=bob\x01auth=Bearer t\x01\x01"
		if mech == "OAUTHBEARER" {
			msg = "n,a=bob,\x01auth=Bearer t\x01\x01"
		}
		if _, done, err := s.Next([]byte(msg)); !done || err != nil {
			t.Fatalf("%s: %v %v", mech, done, err)
		}
		if id := s.Identity(); id.User != "bob" || id.Token != "t" || !IsOAuth(id.Method) {
			t.Fatalf("%+v", id)
		}
		if _, _, err := s.Next([]byte(msg)); err == nil {
			t.Fatal("a second message was accepted")
		}
	}
	if _, err := NewOAuthServer("PLAIN", 0); !errors.Is(err, ErrUnknown) {
		t.Fatal(err)
	}
}

func TestOAuthErrorChallenge(t *testing.T) {
	e := OAuthError{Scope: "mail", OpenIDConfiguration: "https://idp.example.com/.well-known/openid-configuration"}
	var m map[string]string
	if err := json.Unmarshal(e.Challenge(MethodOAuthBearer), &m); err != nil {
		t.Fatal(err)
	}
	if m["status"] != "invalid_token" || m["schemes"] != "bearer" || m["scope"] != "mail" || m["openid-configuration"] == "" {
		t.Fatal(m)
	}
	if got := string(e.Challenge(MethodXOAuth2)); got != `{"status":"401","schemes":"bearer","scope":"mail"}` {
		t.Fatal(got)
	}
	if got := string(OAuthError{}.Challenge(MethodOAuthBearer)); got != `{"status":"invalid_token","schemes":"bearer"}` {
		t.Fatal(got)
	}
}

// checkOAuthIdentity holds what any accepted OAuth message must give.
func checkOAuthIdentity(t *testing.T, id Identity, maxToken int) {
	if id.Token == "" || len(id.Token) > maxToken || !isB64Token([]byte(id.Token)) {
		t.Fatalf("token %q", id.Token)
	}
	if strings.ContainsAny(id.User, "\x00\r\n") || len(id.User) > maxField {
		t.Fatalf("user %q", id.User)
	}
}

func FuzzDecodeOAuthBearer(f *testing.F) {
	f.Add([]byte("n,a=user@example.com,\x01host=server.example.com\x01port=143\x01auth=Bearer vF9dft4qmTc2Nvb3RlckBhbHRhdmlzdGEuY29tCg==\x01\x01"))
	f.Add([]byte("n,,\x01auth=Bearer x\x01\x01"))
	f.Add([]byte("n,a=a=2Cb=3Dc,\x01auth=Bearer x\x01\x01"))
	f.Add([]byte("\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := DecodeOAuthBearer(b, 64)
		if err == nil {
			checkOAuthIdentity(t, id, 64)
		}
	})
}

func FuzzDecodeXOAuth2(f *testing.F) {
	f.Add([]byte("user=someuser@example.com\x01auth=Bearer ya29.vF9dft4qmTc2Nvb3RlckBhdHRhdmlzdGEuY29tCg\x01\x01"))
	f.Add([]byte("user=\x01auth=Bearer x\x01\x01"))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := DecodeXOAuth2(b, 64)
		if err == nil {
			checkOAuthIdentity(t, id, 64)
			if id.User == "" {
				t.Fatal("empty user accepted")
			}
		}
	})
}

// TestDecodeOAuthBearer_goSASL decodes what another implementation's
// client (emersion/go-sasl, which go-imap uses) sends.
func TestDecodeOAuthBearer_goSASL(t *testing.T) {
	for _, o := range []gosasl.OAuthBearerOptions{
		{Username: "bob@example.com", Token: "eyJ.x.y", Host: "mail.example.com", Port: 993},
		{Username: "a,b=c", Token: "t0k3n~-._+/=="},
		{Token: "no-user"},
	} {
		_, ir, err := gosasl.NewOAuthBearerClient(&o).Start()
		if err != nil {
			t.Fatal(err)
		}
		id, err := DecodeOAuthBearer(ir, 0)
		if err != nil || id.User != o.Username || id.Token != o.Token {
			t.Errorf("%q: %+v %v", ir, id, err)
		}
	}
}
