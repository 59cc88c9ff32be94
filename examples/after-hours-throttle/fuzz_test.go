package main

import (
	"os"
	"testing"
	"time"

	"github.com/postern/postern/host/kv"
)

// FuzzParseConfig: any configuration either fails with an error or gives
// a policy with a positive window at every moment, and the counter key of
// any account is a valid memcached key.
func FuzzParseConfig(f *testing.F) {
	seed, err := os.ReadFile("testdata/config.json")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(string(seed), int64(1767225600), "bob@example.com")
	f.Add(`{"night_from":"00:00","night_to":"00:00"}`, int64(0), "a b\x00")
	f.Fuzz(func(t *testing.T, cfg string, unix int64, account string) {
		p, err := ParseConfig([]byte(cfg))
		if err != nil {
			return
		}
		tm := time.Unix(unix%(1<<40), 0)
		period, lim := p.At(tm)
		if lim.Window < time.Second {
			t.Fatalf("window %v", lim.Window)
		}
		if err := kv.ValidKey(Key(period, lim.Window, tm, account)); err != nil {
			t.Fatalf("key for %q: %v", account, err)
		}
	})
}
