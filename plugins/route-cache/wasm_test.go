package main

import (
	"context"
	"strings"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugintest"
)

// TestWasm loads the built plugin into the real host with an in-process
// store: a miss, route_decided storing the route, a hit, login_failed
// deleting it. The chain with route-lookup, a real memcached and the
// lookup server is tested in host/internal/authhttp (which packages
// outside host/ cannot import).
func TestWasm(t *testing.T) {
	st := kv.NewMemory(kv.MemoryOptions{})
	defer st.Close()
	p := plugintest.Load(t, plugintest.Build(t, "plugins/route-cache"), plugintest.Config(`{"ttl":"1h"}`), plugintest.Store(st))
	info := p.Info()
	if strings.Join(info.Hooks, ",") != "route" || strings.Join(info.Events, ",") != "login_failed,route_decided" {
		t.Errorf("serves hooks %v events %v", info.Hooks, info.Events)
	}
	f := plugintest.MailFields("imap", "bob@example.com")
	if r := p.Run(abi.HookRoute, f); r.Verdict != abi.VerdictContinue {
		t.Fatalf("empty cache: %+v, want continue", r)
	}
	f.Upstreams, f.Upstream = []string{"10.0.0.5:143"}, "10.0.0.5:143"
	p.Fire(abi.EventRouteDecided, f)
	if v, err := st.Get(context.Background(), "route:proto=imap;user=bob@example.com"); err != nil || string(v) != "10.0.0.5:143" {
		t.Fatalf("stored %q, %v", v, err)
	}
	f = plugintest.MailFields("imap", "bob@example.com")
	if r := p.Run(abi.HookRoute, f); r.Verdict != abi.VerdictDone || !f.RouteCached || strings.Join(f.Upstreams, ",") != "10.0.0.5:143" {
		t.Fatalf("cached: %+v upstreams %v cached %v", r, f.Upstreams, f.RouteCached)
	}
	p.Fire(abi.EventLoginFailed, f)
	if r := p.Run(abi.HookRoute, plugintest.MailFields("imap", "bob@example.com")); r.Verdict != abi.VerdictContinue {
		t.Fatalf("after login_failed: %+v, want a miss", r)
	}
}

func TestWasm_BadConfig(t *testing.T) {
	_, err := plugintest.TryLoad(t, plugintest.Build(t, "plugins/route-cache"), plugintest.Config(`{"ttl":"forever"}`))
	if err == nil || !strings.Contains(err.Error(), `route-cache: config: ttl: "forever" is not a duration`) {
		t.Fatalf("load error %v, want the config refusal", err)
	}
}
