package mail

import (
	"io"
	"net"
	"testing"
	"time"
)

// fuzzSession feeds b to one pre-login session of proto and checks that
// it ends, without a panic, once the client hangs up.
func fuzzSession(t *testing.T, proto string, b []byte) {
	srv, err := New(Config{
		Listeners: []Listener{{Name: "l", Address: "127.0.0.1:0", Protocol: proto, TLS: TLSNone,
			AllowPlaintextLogin: true, Route: []string{"127.0.0.1:1"}}},
		Limits: Limits{PreLoginIdle: 200 * time.Millisecond, MaxLine: 512, MaxLiteral: 256},
		OAuth:  OAuth{Mechanisms: []string{"oauthbearer", "xoauth2"}, MaxToken: 600},
		Logger: slogDiscard(),
	})
	if err != nil {
		t.Fatal(err)
	}
	client, server := net.Pipe()
	sess := srv.newSession(server, &srv.cfg.Listeners[0])
	srv.wg.Add(1)
	done := make(chan struct{})
	go func() {
		srv.run(sess)
		close(done)
	}()
	go io.Copy(io.Discard, client) // net.Pipe writes block until read
	client.SetWriteDeadline(time.Now().Add(time.Second))
	client.Write(b)
	client.Close()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatalf("session did not end after the client hung up")
	}
	srv.wg.Wait()
	if sess.outcome == "internal_error" {
		t.Fatalf("session panicked on %q", b)
	}
}

func FuzzIMAPSession(f *testing.F) {
	for _, s := range []string{
		"a CAPABILITY\r\nb NOOP\r\nc LOGOUT\r\n",
		"a LOGIN {3}\r\nbob {6+}\r\nsecret\r\n",
		"a AUTHENTICATE PLAIN\r\nAGJvYgBzZWNyZXQ=\r\n",
		"a AUTHENTICATE LOGIN\r\nYm9i\r\n*\r\n",
		"a ID (\"name\" \"x\")\r\nb STARTTLS\r\n",
		"a LOGIN {999999+}\r\n",
		"a AUTHENTICATE XOAUTH2 dXNlcj1ib2IBYXV0aD1CZWFyZXIgdAEB\r\n",
		"a AUTHENTICATE OAUTHBEARER\r\nbixhPWJvYiwBYXV0aD1CZWFyZXIgdAEB\r\nAQ==\r\n",
		"\r\n\r\n* * *\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { fuzzSession(t, IMAP, b) })
}

func FuzzPOP3Session(f *testing.F) {
	for _, s := range []string{
		"CAPA\r\nUSER bob\r\nPASS secret\r\nQUIT\r\n",
		"AUTH PLAIN AGJvYgBzZWNyZXQ=\r\n",
		"AUTH LOGIN\r\nYm9i\r\nc2VjcmV0\r\n",
		"AUTH\r\nSTLS\r\nPASS x\r\n",
		"AUTH XOAUTH2 dXNlcj1ib2IBYXV0aD1CZWFyZXIgdAEB\r\n\r\n",
		"AUTH OAUTHBEARER\r\nbixhPWJvYiwBYXV0aD1CZWFyZXIgdAEB\r\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) { fuzzSession(t, POP3, b) })
}
