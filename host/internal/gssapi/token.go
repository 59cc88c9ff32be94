package gssapi

import (
	"bytes"
	"crypto/hmac"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/types"
)

// Kerberos V5 mechanism OIDs, DER-encoded without tag and length: the
// standard one (1.2.840.113554.1.2.2, RFC 1964) and the one early Windows
// clients used (1.2.840.48018.1.2.2), which MIT accepts too.
var (
	oidKRB5   = []byte{0x2a, 0x86, 0x48, 0x86, 0xf7, 0x12, 0x01, 0x02, 0x02}
	oidKRB5MS = []byte{0x2a, 0x86, 0x48, 0x82, 0xf7, 0x12, 0x01, 0x02, 0x02}
)

// Token IDs inside a context token (RFC 1964 1.1, RFC 4121 4.1).
var (
	TokAPReq = [2]byte{0x01, 0x00}
	TokAPRep = [2]byte{0x02, 0x00}
	TokError = [2]byte{0x03, 0x00}
)

// maxToken bounds any token a client may send. An AP-REQ with a ticket
// carrying a large Windows PAC stays well below 64 KiB.
const maxToken = 64 << 10

var errFraming = errors.New("not a GSS-API Kerberos context token")

// ParseContextToken splits a GSS-API context token (RFC 2743 3.1: [APPLICATION
// 0] IMPLICIT SEQUENCE { thisMech OID, innerToken }) into its Kerberos token
// ID and body. Only the Kerberos V5 mechanism is accepted.
func ParseContextToken(b []byte) (tokID [2]byte, body []byte, err error) {
	if len(b) > maxToken {
		return tokID, nil, fmt.Errorf("%w: %d bytes, over %d", errFraming, len(b), maxToken)
	}
	if len(b) < 2 || b[0] != 0x60 {
		return tokID, nil, errFraming
	}
	n, rest, ok := derLength(b[1:])
	if !ok || n != len(rest) {
		return tokID, nil, fmt.Errorf("%w: bad outer length", errFraming)
	}
	if len(rest) < 2 || rest[0] != 0x06 {
		return tokID, nil, fmt.Errorf("%w: no mechanism OID", errFraming)
	}
	oidLen := int(rest[1])
	if oidLen >= 0x80 || len(rest) < 2+oidLen {
		return tokID, nil, fmt.Errorf("%w: bad mechanism OID", errFraming)
	}
	oid := rest[2 : 2+oidLen]
	if !bytes.Equal(oid, oidKRB5) && !bytes.Equal(oid, oidKRB5MS) {
		return tokID, nil, fmt.Errorf("%w: mechanism is not Kerberos V5", errFraming)
	}
	rest = rest[2+oidLen:]
	if len(rest) < 2 {
		return tokID, nil, fmt.Errorf("%w: no token ID", errFraming)
	}
	copy(tokID[:], rest)
	return tokID, rest[2:], nil
}

// derLength reads a DER definite length (at most 4 length octets).
func derLength(b []byte) (n int, rest []byte, ok bool) {
	if len(b) == 0 {
		return 0, nil, false
	}
	if b[0] < 0x80 {
		return int(b[0]), b[1:], true
	}
	k := int(b[0] & 0x7f)
	if k == 0 || k > 4 || len(b) < 1+k {
		return 0, nil, false
	}
	for _, c := range b[1 : 1+k] {
		n = n<<8 | int(c)
	}
	if n < 0x80 || n > maxToken {
		return 0, nil, false // not minimal, or absurd
	}
	return n, b[1+k:], true
}

// MarshalContextToken frames a Kerberos message as a GSS-API context token
// with the standard Kerberos V5 OID.
func MarshalContextToken(tokID [2]byte, body []byte) []byte {
	inner := make([]byte, 0, 2+len(oidKRB5)+2+len(body))
	inner = append(inner, 0x06, byte(len(oidKRB5)))
	inner = append(inner, oidKRB5...)
	inner = append(inner, tokID[:]...)
	inner = append(inner, body...)
	out := []byte{0x60}
	switch n := len(inner); {
	case n < 0x80:
		out = append(out, byte(n))
	case n < 0x100:
		out = append(out, 0x81, byte(n))
	case n < 0x10000:
		out = append(out, 0x82, byte(n>>8), byte(n))
	default:
		out = append(out, 0x83, byte(n>>16), byte(n>>8), byte(n))
	}
	return append(out, inner...)
}

// Wrap token flags (RFC 4121 4.2.2).
const (
	flagSentByAcceptor = 0x01
	flagSealed         = 0x02
	flagAcceptorSubkey = 0x04
)

const wrapHeaderLen = 16

// WrapToken is a decoded RFC 4121 Wrap token.
type WrapToken struct {
	Flags   byte
	SeqNum  uint64
	Payload []byte
}

// Wrap builds an RFC 4121 Wrap token with integrity protection and no
// confidentiality (conf_req_flag false), as RFC 4752's security-layer
// exchange uses. acceptor says who sends it, which sets the flag and the key
// usage.
func Wrap(key types.EncryptionKey, acceptor, acceptorSubkey bool, seq uint64, payload []byte) ([]byte, error) {
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, err
	}
	var flags byte
	usage := uint32(keyusage.GSSAPI_INITIATOR_SEAL)
	if acceptor {
		flags |= flagSentByAcceptor
		usage = keyusage.GSSAPI_ACCEPTOR_SEAL
	}
	if acceptorSubkey {
		flags |= flagAcceptorSubkey
	}
	hdr := wrapHeader(flags, 0, 0, seq)
	sum, err := et.GetChecksumHash(key.KeyValue, append(append([]byte{}, payload...), hdr...), usage)
	if err != nil {
		return nil, err
	}
	binary.BigEndian.PutUint16(hdr[4:6], uint16(len(sum)))
	out := append(hdr, payload...)
	return append(out, sum...), nil
}

// SealWrap builds a confidential Wrap token (conf_req_flag true). Postern
// never sends one; test clients use it to check that Unwrap reads them.
func SealWrap(key types.EncryptionKey, acceptor, acceptorSubkey bool, seq uint64, payload []byte) ([]byte, error) {
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, err
	}
	flags := byte(flagSealed)
	usage := uint32(keyusage.GSSAPI_INITIATOR_SEAL)
	if acceptor {
		flags |= flagSentByAcceptor
		usage = keyusage.GSSAPI_ACCEPTOR_SEAL
	}
	if acceptorSubkey {
		flags |= flagAcceptorSubkey
	}
	hdr := wrapHeader(flags, 0, 0, seq) // EC 0: no filler needed with AES-CTS
	_, ct, err := et.EncryptMessage(key.KeyValue, append(append([]byte{}, payload...), hdr...), usage)
	if err != nil {
		return nil, err
	}
	return append(hdr, ct...), nil
}

func wrapHeader(flags byte, ec, rrc uint16, seq uint64) []byte {
	h := make([]byte, wrapHeaderLen)
	h[0], h[1], h[2], h[3] = 0x05, 0x04, flags, 0xff
	binary.BigEndian.PutUint16(h[4:6], ec)
	binary.BigEndian.PutUint16(h[6:8], rrc)
	binary.BigEndian.PutUint64(h[8:16], seq)
	return h
}

// Unwrap checks and decodes an RFC 4121 Wrap token, sealed or not, with
// any right rotation count. fromAcceptor is who must have sent it.
func Unwrap(key types.EncryptionKey, fromAcceptor, acceptorSubkey bool, b []byte) (*WrapToken, error) {
	if len(b) > maxToken {
		return nil, fmt.Errorf("wrap token of %d bytes, over %d", len(b), maxToken)
	}
	if len(b) < wrapHeaderLen || b[0] != 0x05 || b[1] != 0x04 || b[3] != 0xff {
		return nil, errors.New("not an RFC 4121 wrap token (an RFC 1964 token from an old enctype, or garbage)")
	}
	flags := b[2]
	if (flags&flagSentByAcceptor != 0) != fromAcceptor {
		return nil, errors.New("wrap token has the wrong direction flag (reflected token?)")
	}
	if (flags&flagAcceptorSubkey != 0) != acceptorSubkey {
		return nil, errors.New("wrap token's acceptor-subkey flag does not match the context")
	}
	if flags&^(flagSentByAcceptor|flagSealed|flagAcceptorSubkey) != 0 {
		return nil, errors.New("wrap token has unknown flags")
	}
	et, err := crypto.GetEtype(key.KeyType)
	if err != nil {
		return nil, err
	}
	ec := int(binary.BigEndian.Uint16(b[4:6]))
	rrc := int(binary.BigEndian.Uint16(b[6:8]))
	seq := binary.BigEndian.Uint64(b[8:16])
	body := b[wrapHeaderLen:]
	if len(body) > 0 && rrc%len(body) != 0 {
		r := rrc % len(body) // undo the right rotation (RFC 4121 4.2.5)
		body = append(append([]byte{}, body[r:]...), body[:r]...)
	}
	usage := uint32(keyusage.GSSAPI_INITIATOR_SEAL)
	if fromAcceptor {
		usage = keyusage.GSSAPI_ACCEPTOR_SEAL
	}
	if flags&flagSealed == 0 {
		sumLen := et.GetHMACBitLength() / 8
		if ec != sumLen || len(body) < sumLen {
			return nil, errors.New("wrap token's checksum length is wrong")
		}
		payload, sum := body[:len(body)-sumLen], body[len(body)-sumLen:]
		want, err := et.GetChecksumHash(key.KeyValue, append(append([]byte{}, payload...), wrapHeader(flags, 0, 0, seq)...), usage)
		if err != nil {
			return nil, err
		}
		if !hmac.Equal(want, sum) {
			return nil, errors.New("wrap token's checksum does not verify")
		}
		return &WrapToken{Flags: flags, SeqNum: seq, Payload: append([]byte{}, payload...)}, nil
	}
	// gokrb5 panics on a ciphertext shorter than confounder plus checksum.
	if len(body) < et.GetConfounderByteSize()+et.GetHMACBitLength()/8+wrapHeaderLen {
		return nil, errors.New("sealed wrap token is too short")
	}
	plain, err := et.DecryptMessage(key.KeyValue, body, usage)
	if err != nil {
		return nil, errors.New("sealed wrap token does not decrypt or verify")
	}
	if len(plain) < ec+wrapHeaderLen {
		return nil, errors.New("sealed wrap token is too short")
	}
	inner := plain[len(plain)-wrapHeaderLen:]
	if !bytes.Equal(inner, wrapHeader(flags, uint16(ec), 0, seq)) {
		return nil, errors.New("sealed wrap token's inner header does not match")
	}
	return &WrapToken{Flags: flags, SeqNum: seq, Payload: append([]byte{}, plain[:len(plain)-wrapHeaderLen-ec]...)}, nil
}
