package main

import (
	"net/netip"
	"os"
	"strings"
	"testing"
)

// FuzzParseConfig: any configuration either fails with an error or gives
// a policy whose refusals carry a one-line message.
func FuzzParseConfig(f *testing.F) {
	seed, err := os.ReadFile("testdata/config.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(seed), "203.0.113.9")
	f.Add(`{"networks":["::/0"]}`, "::ffff:1.2.3.4")
	f.Fuzz(func(t *testing.T, cfg, ip string) {
		p, err := ParseConfig([]byte(cfg))
		if err != nil {
			return
		}
		addr, _ := netip.ParseAddr(ip)
		if msg, denied := p.Check(addr); denied && (msg == "" || strings.ContainsAny(msg, "\r\n")) {
			t.Fatalf("refusal message %q", msg)
		}
	})
}
