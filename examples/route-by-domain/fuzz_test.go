package main

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseConfig: any configuration either fails with an error or gives
// a table whose routes are well-formed host:port lists.
func FuzzParseConfig(f *testing.F) {
	seed, err := os.ReadFile("testdata/config.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(seed), "bob@acme.example", "mail.acme.example")
	f.Add(`{"tenants":{"a":{"imap":["[::1]:1"]}},"unknown":"refuse"}`, "x@A", "")
	f.Fuzz(func(t *testing.T, cfg, account, host string) {
		tbl, err := ParseConfig([]byte(cfg))
		if err != nil {
			return
		}
		for _, proto := range []string{"imap", "pop3", "http"} {
			ups, _ := tbl.Route(proto, account, host)
			for _, u := range ups {
				if checkHostPort(u) != nil || strings.Contains(u, "\x00") {
					t.Fatalf("route %q is not host:port", u)
				}
			}
		}
	})
}
