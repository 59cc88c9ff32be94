package gssapi

import (
	"bytes"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/keytab"
	"github.com/jcmturner/gokrb5/v8/types"
)

var fuzzKey = types.EncryptionKey{KeyType: etypeID.AES256_CTS_HMAC_SHA1_96, KeyValue: bytes.Repeat([]byte{7}, 32)}

func TestContextToken_roundTrip(t *testing.T) {
	for _, n := range []int{0, 10, 0x7f - 13, 200, 300, 70000} {
		body := bytes.Repeat([]byte{0xab}, n)
		tok := MarshalContextToken(TokAPReq, body)
		id, got, err := ParseContextToken(tok)
		if n+13 > maxToken {
			if err == nil {
				t.Errorf("%d bytes: over the limit but parsed", n)
			}
			continue
		}
		if err != nil || id != TokAPReq || !bytes.Equal(got, body) {
			t.Errorf("%d bytes: %x %d %v", n, id, len(got), err)
		}
	}
}

func TestWrap_roundTrip(t *testing.T) {
	for _, tc := range []struct {
		name     string
		seal     bool
		acceptor bool
		rotate   int
	}{
		{"integrity", false, false, 0},
		{"integrity acceptor", false, true, 0},
		{"sealed", true, false, 0},
		{"sealed rotated", true, false, 28},
		{"integrity rotated", false, false, 5},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wrap := Wrap
			if tc.seal {
				wrap = SealWrap
			}
			tok, err := wrap(fuzzKey, tc.acceptor, false, 42, []byte("\x01\x00\x00\x00bob"))
			if err != nil {
				t.Fatal(err)
			}
			if tc.rotate > 0 { // rotate the body right, as Windows does (RRC)
				body := tok[16:]
				r := tc.rotate % len(body)
				rot := append(append([]byte{}, body[len(body)-r:]...), body[:len(body)-r]...)
				tok = append(tok[:16:16], rot...)
				tok[6], tok[7] = byte(tc.rotate>>8), byte(tc.rotate)
			}
			wt, err := Unwrap(fuzzKey, tc.acceptor, false, tok)
			if err != nil {
				t.Fatal(err)
			}
			if string(wt.Payload) != "\x01\x00\x00\x00bob" || wt.SeqNum != 42 {
				t.Fatalf("%+v", wt)
			}
			if _, err := Unwrap(fuzzKey, !tc.acceptor, false, tok); err == nil {
				t.Fatal("a reflected token unwrapped")
			}
			bad := append([]byte{}, tok...)
			bad[len(bad)-1] ^= 1
			if _, err := Unwrap(fuzzKey, tc.acceptor, false, bad); err == nil {
				t.Fatal("a tampered token unwrapped")
			}
		})
	}
}

func FuzzParseContextToken(f *testing.F) {
	f.Add(MarshalContextToken(TokAPReq, []byte{0x6e, 0x03, 0x30, 0x01, 0x00}))
	f.Add(MarshalContextToken(TokAPRep, bytes.Repeat([]byte{1}, 300)))
	f.Add([]byte{0x60, 0x84, 0xff, 0xff, 0xff, 0xff})
	f.Add([]byte{0x60, 0x00})
	f.Fuzz(func(t *testing.T, b []byte) {
		id, body, err := ParseContextToken(b)
		if err != nil {
			return
		}
		if again := MarshalContextToken(id, body); len(again) > len(b)+4 {
			t.Fatalf("re-marshalled %d bytes from %d", len(again), len(b))
		}
	})
}

func FuzzUnwrap(f *testing.F) {
	tok, _ := Wrap(fuzzKey, false, false, 1, []byte{1, 0, 0, 0})
	f.Add(tok)
	tok, _ = SealWrap(fuzzKey, false, false, 1, []byte{1, 0, 0, 0, 'b'})
	f.Add(tok)
	f.Add([]byte{0x05, 0x04, 0x02, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = Unwrap(fuzzKey, false, false, b)
	})
}

// FuzzServerNext feeds arbitrary first tokens to a server with a keytab
// made from a password: nothing may panic, and nothing but a failure comes
// back (no real ticket can be forged).
func FuzzServerNext(f *testing.F) {
	kt := keytab.New()
	if err := kt.AddEntry("imap/localhost", "TEST.REALM", "service-pw", time.Now(), 1, etypeID.AES256_CTS_HMAC_SHA1_96); err != nil {
		f.Fatal(err)
	}
	b, err := kt.Marshal()
	if err != nil {
		f.Fatal(err)
	}
	path := filepath.Join(f.TempDir(), "fuzz.keytab")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		f.Fatal(err)
	}
	a, err := NewAcceptor(Config{Keytab: path})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(MarshalContextToken(TokAPReq, []byte{0x6e, 0x03, 0x30, 0x01, 0x00}))
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, b []byte) {
		s := a.NewServer(ServiceIMAP, netip.MustParseAddr("127.0.0.1"))
		if _, done, err := s.Next(b); err == nil || done {
			t.Fatalf("a fuzzed token was accepted (done %v, err %v)", done, err)
		}
	})
}
