package gssapi

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/jcmturner/gofork/encoding/asn1"
	"github.com/jcmturner/gokrb5/v8/asn1tools"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/asnAppTag"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/errorcode"
	"github.com/jcmturner/gokrb5/v8/iana/etypeID"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/iana/msgtype"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/postern/postern/host/internal/sasl"
)

// Reason says why an authentication failed, for logs and metrics.
type Reason string

// Reasons.
const (
	ReasonMalformed     Reason = "malformed_token"      // not a GSS-API Kerberos token, or a broken AP-REQ
	ReasonWrongService  Reason = "wrong_service"        // a ticket for another service or host
	ReasonNoKey         Reason = "no_key"               // no key in the keytab for the ticket (principal, kvno, enctype)
	ReasonBadTicket     Reason = "bad_ticket"           // the ticket or authenticator does not decrypt or match
	ReasonExpired       Reason = "ticket_expired"       // the ticket's end time has passed (plus the skew)
	ReasonNotYetValid   Reason = "ticket_not_yet_valid" // the ticket's start time is ahead (plus the skew)
	ReasonClockSkew     Reason = "clock_skew"           // the authenticator's time is too far from ours
	ReasonReplay        Reason = "replay"               // this AP-REQ was seen before
	ReasonBadAddress    Reason = "bad_address"          // the ticket is bound to other client addresses
	ReasonEnctype       Reason = "unsupported_enctype"  // DES or RC4: RFC 1964 tokens are not implemented
	ReasonUnmapped      Reason = "principal_not_mapped" // no login for this principal
	ReasonSecurityLayer Reason = "security_layer"       // the client's layer choice is wrong or its token does not verify
	ReasonAuthzID       Reason = "authzid_refused"      // the client asked to act as someone else
	ReasonUnavailable   Reason = "keytab_unavailable"   // the keytab cannot be read any more
	ReasonClientError   Reason = "client_error"         // the client sent a KRB-ERROR token
)

// Error is an authentication failure. Its text names the reason and the
// principal when known, never ticket or key bytes.
type Error struct {
	Reason    Reason
	Principal string // the client principal, once the ticket was read
	Detail    string
}

func (e *Error) Error() string {
	s := "gssapi: " + string(e.Reason)
	if e.Principal != "" {
		s += " (" + e.Principal + ")"
	}
	if e.Detail != "" {
		s += ": " + e.Detail
	}
	return s
}

// Security layers (RFC 4752 3.3).
const (
	layerNone = 1
)

// maxAuthzID bounds the client's authorization identity.
const maxAuthzID = 1024

type state int

const (
	stateStart state = iota // waiting for the initial context token
	stateAPRep              // AP-REP sent; waiting for the client's empty response
	stateOffer              // security-layer offer sent; waiting for the choice
	stateDone
	stateFailed
)

// Server is one RFC 4752 exchange. It implements sasl.Server and is used by
// one goroutine.
type Server struct {
	a       *Acceptor
	service string
	client  netip.Addr

	st        state
	key       types.EncryptionKey // the context key: the initiator's subkey or the session key
	seqSend   uint64              // our initial sequence number
	principal string
	login     string
	id        sasl.Identity
}

var _ sasl.Server = (*Server)(nil)

// NewServer starts an exchange for service ("imap" or "pop") with a client
// at client (checked against addresses in the ticket, if it lists any).
func (a *Acceptor) NewServer(service string, client netip.Addr) *Server {
	return &Server{a: a, service: service, client: client}
}

// Identity returns the established identity: User is the authenticated
// principal ("bob@REALM", the SASL authentication identity), AuthzID what
// the client asked to act as ("", the login or the principal), Method
// "gssapi". [Acceptor.MapPrincipal] or [Server.Login] give the login.
func (s *Server) Identity() sasl.Identity { return s.id }

// Login returns the login the principal maps to, once the AP-REQ was
// accepted.
func (s *Server) Login() string { return s.login }

// Principal returns the authenticated client principal ("bob@REALM"), once
// the AP-REQ was accepted.
func (s *Server) Principal() string { return s.principal }

// Next takes the client's decoded response and returns the next challenge,
// or done. A failed exchange returns an *Error and refuses further steps.
func (s *Server) Next(resp []byte) ([]byte, bool, error) {
	switch s.st {
	case stateStart:
		if resp == nil {
			return []byte{}, false, nil // no initial response: ask for the token
		}
		ch, err := s.accept(resp)
		if err != nil {
			s.st = stateFailed
			return nil, false, err
		}
		return ch, false, nil
	case stateAPRep:
		if len(resp) != 0 {
			s.st = stateFailed
			return nil, false, s.fail(ReasonMalformed, "expected an empty response after the AP-REP")
		}
		return s.offer()
	case stateOffer:
		if err := s.choice(resp); err != nil {
			s.st = stateFailed
			return nil, false, err
		}
		s.st = stateDone
		return nil, true, nil
	}
	return nil, false, s.fail(ReasonMalformed, "exchange already finished")
}

func (s *Server) fail(r Reason, format string, args ...any) *Error {
	return &Error{Reason: r, Principal: s.principal, Detail: fmt.Sprintf(format, args...)}
}

// accept verifies the initial context token and returns the AP-REP token
// (mutual authentication) or, without mutual, the security-layer offer.
func (s *Server) accept(tok []byte) (ch []byte, err error) {
	// gokrb5's decoders and ciphers can panic on hostile input (a
	// ciphertext shorter than a block); that is a malformed token, not a
	// reason to end the session.
	defer func() {
		if r := recover(); r != nil {
			ch, err = nil, s.fail(ReasonMalformed, "the AP-REQ broke the Kerberos decoder")
		}
	}()
	tokID, body, err := ParseContextToken(tok)
	if err != nil {
		return nil, s.fail(ReasonMalformed, "%v", err)
	}
	switch tokID {
	case TokAPReq:
	case TokError:
		return nil, s.fail(ReasonClientError, "the client sent a KRB-ERROR instead of an AP-REQ")
	default:
		return nil, s.fail(ReasonMalformed, "token ID %x is not an AP-REQ", tokID[:])
	}
	var req messages.APReq
	if err := req.Unmarshal(body); err != nil {
		return nil, s.fail(ReasonMalformed, "AP-REQ does not parse")
	}
	kt := s.a.keytab()
	if kt == nil {
		return nil, s.fail(ReasonUnavailable, "keytab %s cannot be read", s.a.cfg.Keytab)
	}
	tkt := &req.Ticket
	sname := tkt.SName.NameString
	spn := tkt.SName.PrincipalNameString() + "@" + tkt.Realm
	if len(sname) != 2 || sname[0] != s.service || (s.a.cfg.ServiceHost != "" && !strings.EqualFold(sname[1], s.a.cfg.ServiceHost)) {
		want := s.service + "/" + s.a.cfg.ServiceHost
		if s.a.cfg.ServiceHost == "" {
			want = s.service + "/<any host>"
		}
		return nil, s.fail(ReasonWrongService, "ticket is for %s, this service is %s", spn, want)
	}
	if types.IsFlagSet(&req.APOptions, flags.APOptionUseSessionKey) {
		return nil, s.fail(ReasonMalformed, "user-to-user tickets are not supported")
	}
	if _, _, err := kt.GetEncryptionKey(tkt.SName, tkt.Realm, tkt.EncPart.KVNO, tkt.EncPart.EType); err != nil {
		return nil, s.fail(ReasonNoKey, "no key for %s (kvno %d, enctype %d) in keytab %s; re-export it with ktadd",
			spn, tkt.EncPart.KVNO, tkt.EncPart.EType, s.a.cfg.Keytab)
	}
	if err := tkt.DecryptEncPart(kt, nil); err != nil {
		return nil, s.fail(ReasonBadTicket, "ticket for %s does not decrypt with the keytab's key (stale keytab?)", spn)
	}
	skew := s.a.cfg.MaxClockSkew
	enc := &tkt.DecryptedEncPart
	s.principal = enc.CName.PrincipalNameString() + "@" + enc.CRealm
	if ok, err := tkt.Valid(skew); !ok || err != nil {
		var ke messages.KRBError
		if errors.As(err, &ke) && ke.ErrorCode == errorcode.KRB_AP_ERR_TKT_EXPIRED {
			return nil, s.fail(ReasonExpired, "ticket ended at %s (max clock skew %s)", enc.EndTime.Format(time.RFC3339), skew)
		}
		return nil, s.fail(ReasonNotYetValid, "ticket starts at %s or is marked invalid (max clock skew %s)", enc.StartTime.Format(time.RFC3339), skew)
	}
	if len(enc.CAddr) > 0 && !(s.client.IsValid() && types.HostAddressesContains(enc.CAddr, types.HostAddressFromNetIP(s.client.Unmap().AsSlice()))) {
		return nil, s.fail(ReasonBadAddress, "ticket is bound to addresses that do not include %s", s.client)
	}
	if err := req.DecryptAuthenticator(enc.Key); err != nil {
		return nil, s.fail(ReasonBadTicket, "authenticator does not decrypt with the ticket's session key")
	}
	auth := &req.Authenticator
	if !auth.CName.Equal(enc.CName) || auth.CRealm != enc.CRealm {
		return nil, s.fail(ReasonBadTicket, "authenticator's client differs from the ticket's")
	}
	ct := auth.CTime.Add(time.Duration(auth.Cusec) * time.Microsecond)
	if d := time.Since(ct); d > skew || -d > skew {
		return nil, s.fail(ReasonClockSkew, "client clock is %s off ours (max %s); fix the client's time", d.Round(time.Second), skew)
	}
	gssFlags, err := checksumFlags(auth.Cksum)
	if err != nil {
		return nil, s.fail(ReasonMalformed, "%v", err)
	}
	_ = gssFlags // delegation, confidentiality and the rest are not used: no layer, no forwarding
	if replay, full := s.a.seen(req.EncryptedAuthenticator.Cipher); replay {
		return nil, s.fail(ReasonReplay, "this AP-REQ was presented before")
	} else if full {
		return nil, s.fail(ReasonReplay, "replay cache full (%d entries); try again later", maxReplayEntries)
	}
	s.key = enc.Key
	if auth.SubKey.KeyType != 0 && len(auth.SubKey.KeyValue) > 0 {
		s.key = auth.SubKey
	}
	switch s.key.KeyType {
	case etypeID.AES128_CTS_HMAC_SHA1_96, etypeID.AES256_CTS_HMAC_SHA1_96,
		etypeID.AES128_CTS_HMAC_SHA256_128, etypeID.AES256_CTS_HMAC_SHA384_192:
	default:
		return nil, s.fail(ReasonEnctype, "enctype %d needs RFC 1964 tokens; allow only AES enctypes for this service", s.key.KeyType)
	}
	login, err := s.a.MapPrincipal(s.principal)
	if err != nil {
		return nil, s.fail(ReasonUnmapped, "%v", err)
	}
	s.login = login

	if !types.IsFlagSet(&req.APOptions, flags.APOptionMutualRequired) {
		// Without mutual authentication our sequence numbers start at the
		// initiator's (RFC 4121 4.2.6 as MIT implements it).
		s.seqSend = uint64(uint32(auth.SeqNumber))
		ch, _, err := s.offer()
		return ch, err
	}
	var seq [4]byte
	rand.Read(seq[:])
	s.seqSend = uint64(binary.BigEndian.Uint32(seq[:]) & 0x3fffffff)
	rep, err := marshalAPRep(auth, enc.Key, int64(s.seqSend))
	if err != nil {
		return nil, s.fail(ReasonBadTicket, "building the AP-REP: %v", err)
	}
	s.st = stateAPRep
	return MarshalContextToken(TokAPRep, rep), nil
}

// checksumFlags reads the GSS-API checksum of the authenticator (RFC 4121
// 4.1.1): type 0x8003, bindings length 16, then the context flags. Channel
// bindings are not checked: the proxy has none to compare.
func checksumFlags(c types.Checksum) (uint32, error) {
	if c.CksumType != chksumtype.GSSAPI {
		return 0, fmt.Errorf("authenticator checksum type %d is not GSS-API's 0x8003", c.CksumType)
	}
	b := c.Checksum
	if len(b) < 24 || binary.LittleEndian.Uint32(b[0:4]) != 16 {
		return 0, errors.New("authenticator's GSS-API checksum is malformed")
	}
	return binary.LittleEndian.Uint32(b[20:24]), nil
}

// marshalAPRep builds the KRB_AP_REP (RFC 4120 5.5.2) echoing the
// authenticator's time, with our initial sequence number and no subkey.
func marshalAPRep(auth *types.Authenticator, sessionKey types.EncryptionKey, seq int64) ([]byte, error) {
	part := messages.EncAPRepPart{CTime: auth.CTime.UTC().Truncate(time.Second), Cusec: auth.Cusec, SequenceNumber: seq}
	b, err := asn1.Marshal(part)
	if err != nil {
		return nil, err
	}
	b = asn1tools.AddASNAppTag(b, asnAppTag.EncAPRepPart)
	ed, err := crypto.GetEncryptedData(b, sessionKey, keyusage.AP_REP_ENCPART, 0)
	if err != nil {
		return nil, err
	}
	rep := messages.APRep{PVNO: 5, MsgType: msgtype.KRB_AP_REP, EncPart: ed}
	b, err = asn1.Marshal(rep)
	if err != nil {
		return nil, err
	}
	return asn1tools.AddASNAppTag(b, asnAppTag.APREP), nil
}

// offer sends the security-layer offer: "no layer" only, maximum message
// size 0 (RFC 4752 3.1).
func (s *Server) offer() ([]byte, bool, error) {
	tok, err := Wrap(s.key, true, false, s.seqSend, []byte{layerNone, 0, 0, 0})
	if err != nil {
		s.st = stateFailed
		return nil, false, s.fail(ReasonSecurityLayer, "wrapping the offer: %v", err)
	}
	s.st = stateOffer
	return tok, false, nil
}

// choice checks the client's wrapped answer: "no layer", and an
// authorization identity that is empty, the login, or the principal.
func (s *Server) choice(resp []byte) error {
	wt, err := Unwrap(s.key, false, false, resp)
	if err != nil {
		return s.fail(ReasonSecurityLayer, "client's answer: %v", err)
	}
	p := wt.Payload
	if len(p) < 4 {
		return s.fail(ReasonSecurityLayer, "client's answer is %d bytes, under 4", len(p))
	}
	if p[0] != layerNone {
		return s.fail(ReasonSecurityLayer, "client chose layers %#x; only no layer (1) is offered", p[0])
	}
	authz := p[4:]
	if len(authz) > maxAuthzID || !utf8.Valid(authz) || strings.ContainsRune(string(authz), 0) {
		return s.fail(ReasonAuthzID, "authorization identity is not short UTF-8")
	}
	z := string(authz)
	if z != "" && z != s.login && z != s.principal {
		return s.fail(ReasonAuthzID, "client asked to act as %q, but authenticated as %s (login %s)", z, s.principal, s.login)
	}
	s.id = sasl.Identity{User: s.principal, AuthzID: z, Method: "gssapi"}
	return nil
}
