package main

import (
	"net/netip"
	"testing"

	postern "github.com/postern/postern/guest-sdk"
)

// FuzzParseReply feeds arbitrary header blocks to the auth_http reply
// parser: it must not panic, and an OK reply must carry a valid
// "ip:port" route.
func FuzzParseReply(f *testing.F) {
	f.Add(200, "Auth-Status: OK\r\nAuth-Server: 10.0.0.5\r\nAuth-Port: 143\r\n")
	f.Add(200, "Auth-Status: OK\r\nAuth-Server: 2001:db8::1\r\nAuth-Port: 7143\r\nAuth-User: bob@example.com\r\nAuth-Cache-Alias: TRUE\r\n")
	f.Add(200, "Auth-Status: WAIT\r\nAuth-Wait: 3\r\n")
	f.Add(200, "Auth-Status: Invalid login\r\nAuth-Wait: 1\r\n")
	f.Add(500, "auth-status: OK\r\nauth-server: host\r\nauth-port: 99999\r\n")
	f.Add(200, "Auth-Status:\r\n\r\n:::\n")
	f.Fuzz(func(t *testing.T, status int, raw string) {
		r, err := parseReply(status, postern.ParseHTTPHeader(raw), status%2 == 0)
		if err != nil {
			return
		}
		switch r.kind {
		case replyOK:
			ap, err := netip.ParseAddrPort(r.upstream)
			if err != nil || ap.Port() == 0 {
				t.Fatalf("OK reply with upstream %q", r.upstream)
			}
		case replyRefuse:
			if r.message == "" || r.message == "OK" || r.message == "WAIT" {
				t.Fatalf("refusal with message %q", r.message)
			}
		}
		if r.wait < 0 || r.wait > maxWait {
			t.Fatalf("wait %v out of range", r.wait)
		}
	})
}
