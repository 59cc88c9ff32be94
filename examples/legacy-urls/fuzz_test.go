package main

import (
	"os"
	"strings"
	"testing"
)

// FuzzParseConfig: any configuration either fails with an error or gives
// rules whose rewritten paths start with "/" and whose redirects are
// absolute URLs without spaces or line breaks, for any request.
func FuzzParseConfig(f *testing.F) {
	seed, err := os.ReadFile("testdata/config.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(seed), "webmail.old.example", "/zimbra/mail/x", "a=b")
	f.Add(`{"paths":[{"from":"/a/","to":"/b"}]}`, "h", "/a/", "")
	f.Fuzz(func(t *testing.T, cfg, host, path, query string) {
		r, err := ParseConfig([]byte(cfg))
		if err != nil || !strings.HasPrefix(path, "/") || strings.ContainsAny(path+query, " \r\n\t?#") {
			return
		}
		a := r.Apply(host, path, query)
		if a.Path != "" && !strings.HasPrefix(a.Path, "/") {
			t.Fatalf("rewritten path %q", a.Path)
		}
		if a.RedirectURL != "" && (!strings.HasPrefix(a.RedirectURL, "http") || strings.ContainsAny(a.RedirectURL, " \r\n\t")) {
			t.Fatalf("redirect %q", a.RedirectURL)
		}
	})
}
