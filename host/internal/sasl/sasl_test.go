package sasl

import (
	"errors"
	"testing"
)

func TestPlain(t *testing.T) {
	tests := []struct {
		name string
		resp string
		want Identity
		err  error
	}{
		{"no authzid", "\x00bob\x00secret", Identity{User: "bob", Password: "secret", Method: "plain"}, nil},
		{"authzid", "bob\x00master\x00pw", Identity{AuthzID: "bob", User: "master", Password: "pw", Method: "plain"}, nil},
		{"empty password", "\x00bob\x00", Identity{User: "bob", Method: "plain"}, nil},
		{"two fields", "bob\x00secret", Identity{}, ErrMalformed},
		{"four fields", "\x00a\x00b\x00c", Identity{}, ErrMalformed},
		{"empty user", "\x00\x00pw", Identity{}, ErrMalformed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			id, err := DecodePlain([]byte(tc.resp))
			if !errors.Is(err, tc.err) || id != tc.want {
				t.Fatalf("%+v %v, want %+v %v", id, err, tc.want, tc.err)
			}
		})
	}
	s, _ := NewServer("plain")
	if ch, done, err := s.Next(nil); done || err != nil || len(ch) != 0 {
		t.Fatal("PLAIN without initial response must send an empty challenge")
	}
}

func TestLogin(t *testing.T) {
	s, _ := NewServer("LOGIN")
	ch, done, _ := s.Next(nil)
	if string(ch) != "Username:" || done {
		t.Fatal(string(ch))
	}
	ch, _, _ = s.Next([]byte("bob"))
	if string(ch) != "Password:" {
		t.Fatal(string(ch))
	}
	if _, done, err := s.Next([]byte("pw")); !done || err != nil {
		t.Fatal(done, err)
	}
	if id := s.Identity(); id.User != "bob" || id.Password != "pw" || id.Method != "login" {
		t.Fatalf("%+v", id)
	}
	// Initial response = the username.
	s, _ = NewServer("login")
	if ch, _, _ := s.Next([]byte("bob")); string(ch) != "Password:" {
		t.Fatal(string(ch))
	}
	if _, err := NewServer("CRAM-MD5"); !errors.Is(err, ErrUnknown) {
		t.Fatal(err)
	}
}

func TestDecode(t *testing.T) {
	if b, err := Decode([]byte("=")); err != nil || len(b) != 0 {
		t.Fatal("= is the empty response")
	}
	if _, err := Decode([]byte("!!")); err == nil {
		t.Fatal("bad base64 accepted")
	}
	if b, _ := Decode([]byte(EncodePlain("", "bob", "pw"))); string(b) != "\x00bob\x00pw" {
		t.Fatal(string(b))
	}
}

func FuzzDecodePlain(f *testing.F) {
	f.Add([]byte("\x00bob\x00pw"))
	f.Add([]byte("a\x00b\x00c\x00"))
	f.Fuzz(func(t *testing.T, b []byte) {
		id, err := DecodePlain(b)
		if err == nil && (id.User == "" || len(id.Password) > maxField) {
			t.Fatalf("%+v", id)
		}
	})
}

func FuzzDecode(f *testing.F) {
	f.Add([]byte("AGJvYgBwdw=="))
	f.Add([]byte("="))
	f.Fuzz(func(t *testing.T, b []byte) { Decode(b) })
}
