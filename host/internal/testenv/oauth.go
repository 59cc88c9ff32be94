package testenv

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"
)

// Introspection is an RFC 7662 token introspection endpoint for the test
// Dovecot's oauth2 passdb (Dovecot's introspection_mode = post): POST
// token=<t> with HTTP Basic client credentials answers
// {"active":true,"username":<user>} for a token issued with [Dovecot.IssueToken]
// and {"active":false} for any other. It runs in the test binary, started
// with the Dovecot that uses it.
type Introspection struct {
	URL string // http://client:secret@127.0.0.1:port/introspect, as Dovecot's config has it
	// Requests counts the introspection requests answered.
	Requests atomic.Int64

	mu     sync.Mutex
	tokens map[string]string
	srv    *http.Server
	ln     net.Listener
}

// Introspection client credentials Dovecot sends (HTTP Basic).
const (
	introspectionClient = "dovecot"
	introspectionSecret = "introspect-secret"
)

func startIntrospection() (*Introspection, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	in := &Introspection{tokens: map[string]string{}, ln: ln,
		URL: "http://" + introspectionClient + ":" + introspectionSecret + "@" + ln.Addr().String() + "/introspect"}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /introspect", in.serve)
	in.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go in.srv.Serve(ln)
	return in, nil
}

func (in *Introspection) serve(w http.ResponseWriter, r *http.Request) {
	in.Requests.Add(1)
	if u, p, ok := r.BasicAuth(); !ok || u != introspectionClient || p != introspectionSecret {
		http.Error(w, `{"error":"invalid_client"}`, http.StatusUnauthorized)
		return
	}
	in.mu.Lock()
	user, ok := in.tokens[r.PostFormValue("token")]
	in.mu.Unlock()
	w.Header().Set("Content-Type", "application/json")
	if !ok {
		w.Write([]byte(`{"active":false}`))
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"active": true, "username": user, "token_type": "Bearer"})
}

func (in *Introspection) stop() {
	if in != nil {
		in.srv.Close()
	}
}

// IssueToken returns a new opaque access token that the introspection
// endpoint reports active for user, until RevokeToken.
func (d *Dovecot) IssueToken(user string) string {
	var b [24]byte
	rand.Read(b[:])
	tok := base64.RawURLEncoding.EncodeToString(b[:])
	d.OAuth.mu.Lock()
	d.OAuth.tokens[tok] = user
	d.OAuth.mu.Unlock()
	return tok
}

// RevokeToken makes a token inactive.
func (d *Dovecot) RevokeToken(tok string) {
	d.OAuth.mu.Lock()
	delete(d.OAuth.tokens, tok)
	d.OAuth.mu.Unlock()
}
