// Package gssapitest is the client side of RFC 4752 over gokrb5, for
// tests: it gets a real service ticket from a KDC, builds the AP-REQ,
// checks the AP-REP and answers the security-layer offer. Options let a
// test send what a broken or hostile client would (a skewed clock, no
// mutual authentication, another authorization identity, a sealed answer).
// It must not be imported by non-test code.
package gssapitest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/jcmturner/gokrb5/v8/client"
	"github.com/jcmturner/gokrb5/v8/crypto"
	"github.com/jcmturner/gokrb5/v8/iana/chksumtype"
	"github.com/jcmturner/gokrb5/v8/iana/flags"
	"github.com/jcmturner/gokrb5/v8/iana/keyusage"
	"github.com/jcmturner/gokrb5/v8/messages"
	"github.com/jcmturner/gokrb5/v8/types"

	"github.com/postern/postern/host/internal/gssapi"
)

// Options change what the client sends.
type Options struct {
	NoMutual  bool          // do not ask for mutual authentication (no AP-REP)
	ClockSkew time.Duration // added to the authenticator's time
	AuthzID   string        // the authorization identity to ask for
	Layer     byte          // the layer to choose (default 1, none)
	Seal      bool          // send the answer as a sealed (encrypted) wrap token
	NoSubkey  bool          // use the ticket's session key rather than a subkey
}

// Exchange is one client-side RFC 4752 exchange.
type Exchange struct {
	opts       Options
	tkt        messages.Ticket
	sessionKey types.EncryptionKey
	auth       types.Authenticator
	key        types.EncryptionKey
	step       int
	seqRecv    uint64
	// APReq is the initial token, kept so a test can replay it.
	APReq []byte
}

// New gets a service ticket for spn ("imap/localhost") with cl and builds
// the initial token.
func New(cl *client.Client, spn string, opts Options) (*Exchange, error) {
	tkt, key, err := cl.GetServiceTicket(spn)
	if err != nil {
		return nil, fmt.Errorf("gssapitest: service ticket for %s: %w", spn, err)
	}
	return NewWithTicket(cl, tkt, key, opts)
}

// NewWithTicket builds the initial token from a ticket the caller has.
func NewWithTicket(cl *client.Client, tkt messages.Ticket, sessionKey types.EncryptionKey, opts Options) (*Exchange, error) {
	if opts.Layer == 0 {
		opts.Layer = 1
	}
	x := &Exchange{opts: opts, tkt: tkt, sessionKey: sessionKey}
	auth, err := types.NewAuthenticator(cl.Credentials.Domain(), cl.Credentials.CName())
	if err != nil {
		return nil, err
	}
	if !opts.NoSubkey {
		et, err := crypto.GetEtype(sessionKey.KeyType)
		if err != nil {
			return nil, err
		}
		if err := auth.GenerateSeqNumberAndSubKey(sessionKey.KeyType, et.GetKeyByteSize()); err != nil {
			return nil, err
		}
	}
	auth.CTime = auth.CTime.Add(opts.ClockSkew)
	gssFlags := uint32(2 | 4 | 8 | 32) // mutual, replay, sequence, integrity
	if opts.NoMutual {
		gssFlags &^= 2
	}
	ck := make([]byte, 24)
	binary.LittleEndian.PutUint32(ck[0:4], 16)
	binary.LittleEndian.PutUint32(ck[20:24], gssFlags)
	auth.Cksum = types.Checksum{CksumType: chksumtype.GSSAPI, Checksum: ck}
	req, err := messages.NewAPReq(tkt, sessionKey, auth)
	if err != nil {
		return nil, err
	}
	if !opts.NoMutual {
		types.SetFlag(&req.APOptions, flags.APOptionMutualRequired)
	}
	b, err := req.Marshal()
	if err != nil {
		return nil, err
	}
	x.auth = auth
	x.key = sessionKey
	if !opts.NoSubkey {
		x.key = auth.SubKey
	}
	x.APReq = gssapi.MarshalContextToken(gssapi.TokAPReq, b)
	if opts.NoMutual {
		x.seqRecv = uint64(uint32(auth.SeqNumber))
		x.step = 1
	}
	return x, nil
}

// Step answers the server's challenge: the AP-REP (empty answer) or the
// security-layer offer (the wrapped choice). done is set after the choice.
func (x *Exchange) Step(challenge []byte) (resp []byte, done bool, err error) {
	switch x.step {
	case 0:
		if err := x.checkAPRep(challenge); err != nil {
			return nil, false, err
		}
		x.step = 1
		return []byte{}, false, nil
	case 1:
		wt, err := gssapi.Unwrap(x.key, true, false, challenge)
		if err != nil {
			return nil, false, fmt.Errorf("gssapitest: server's offer: %w", err)
		}
		if wt.SeqNum != x.seqRecv {
			return nil, false, fmt.Errorf("gssapitest: offer's sequence number %d, want %d", wt.SeqNum, x.seqRecv)
		}
		if len(wt.Payload) != 4 || wt.Payload[0]&1 == 0 {
			return nil, false, fmt.Errorf("gssapitest: offer %x does not offer no layer", wt.Payload)
		}
		p := append([]byte{x.opts.Layer, 0, 0, 0}, x.opts.AuthzID...)
		wrap := gssapi.Wrap
		if x.opts.Seal {
			wrap = gssapi.SealWrap
		}
		tok, err := wrap(x.key, false, false, uint64(uint32(x.auth.SeqNumber)), p)
		x.step = 2
		return tok, true, err
	}
	return nil, false, errors.New("gssapitest: exchange finished")
}

func (x *Exchange) checkAPRep(tok []byte) error {
	id, body, err := gssapi.ParseContextToken(tok)
	if err != nil {
		return fmt.Errorf("gssapitest: AP-REP: %w", err)
	}
	if id != gssapi.TokAPRep {
		return fmt.Errorf("gssapitest: token ID %x, want an AP-REP", id)
	}
	var rep messages.APRep
	if err := rep.Unmarshal(body); err != nil {
		return fmt.Errorf("gssapitest: AP-REP: %w", err)
	}
	plain, err := crypto.DecryptEncPart(rep.EncPart, x.sessionKey, keyusage.AP_REP_ENCPART)
	if err != nil {
		return fmt.Errorf("gssapitest: AP-REP does not decrypt: %w", err)
	}
	var part messages.EncAPRepPart
	if err := part.Unmarshal(plain); err != nil {
		return fmt.Errorf("gssapitest: AP-REP part: %w", err)
	}
	if !part.CTime.Equal(x.auth.CTime.Truncate(time.Second)) || part.Cusec != x.auth.Cusec {
		return fmt.Errorf("gssapitest: AP-REP time %v.%06d, want %v.%06d", part.CTime, part.Cusec, x.auth.CTime, x.auth.Cusec)
	}
	if len(part.Subkey.KeyValue) > 0 && !bytes.Equal(part.Subkey.KeyValue, x.key.KeyValue) {
		return errors.New("gssapitest: the server sent an acceptor subkey, which this client does not use")
	}
	x.seqRecv = uint64(part.SequenceNumber)
	return nil
}
