package main

import (
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
)

// node is one Postern node: its own plugin.Host and its own memcached
// client, pointed at the shared memcached.
func node(t testing.TB, servers []string, config string) *plugintest.Plugin {
	t.Helper()
	st, err := kv.NewMemcached(servers, kv.MemcachedOptions{Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return plugintest.Load(t, plugintest.Build(t, "plugins/throttle"), plugintest.Config(config), plugintest.Store(st))
}

// uniqueIP gives each test run its own counters on the shared memcached
// (documentation prefix 2001:db8::/32, low bits from the clock).
func uniqueIP() netip.Addr {
	n := uint64(time.Now().UnixNano())
	var b [16]byte
	copy(b[:], netip.MustParseAddr("2001:db8::").AsSlice())
	for i := 0; i < 8; i++ {
		b[15-i] = byte(n >> (8 * i))
	}
	return netip.AddrFrom16(b)
}

func fields(ip netip.Addr, login string, attempt int) *plugin.Fields {
	f := plugintest.MailFields("imap", login)
	f.Client = netip.AddrPortFrom(ip, 50000)
	f.LoginAttempt = attempt
	return f
}

// TestWasm_twoNodes runs the built plugin in two hosts that share one real
// memcached: a limit of 3 holds across both nodes.
func TestWasm_twoNodes(t *testing.T) {
	servers := []string{startMemcached(t)}
	const config = `{"ip":{"limit":3,"window":60},"user":{"limit":100,"window":60}}`
	a, b := node(t, servers, config), node(t, servers, config)
	ip := uniqueIP()
	login := "bob-" + strings.ReplaceAll(ip.String(), ":", "") + "@example.com"
	var got []string
	for i, n := range []*plugintest.Plugin{a, b, a, b, a} {
		f := fields(ip, login, 1)
		r := n.Run(abi.HookThrottle, f)
		if r.Err != nil {
			t.Fatalf("attempt %d: %v", i, r.Err)
		}
		got = append(got, r.Verdict.String())
		if r.Verdict == abi.VerdictRefuse && f.Message != defaultIPMessage {
			t.Errorf("attempt %d: message %q", i, f.Message)
		}
	}
	if want := "continue continue continue refuse refuse"; strings.Join(got, " ") != want {
		t.Errorf("verdicts across two nodes = %v, want %s", got, want)
	}
	ca, cb := a.Host.Plugin("test").Counters(), b.Host.Plugin("test").Counters()
	if ca[ctrAllowed]+cb[ctrAllowed] != 3 || ca[ctrThrottledIP]+cb[ctrThrottledIP] != 2 {
		t.Errorf("counters a=%v b=%v", ca, cb)
	}
	// The keys are Zimbra's, readable by any node on the memcached.
	st, _ := kv.NewMemcached(servers, kv.MemcachedOptions{})
	defer st.Close()
	for key, want := range map[string]string{
		"throttle:proto=i,ip=" + ip.String(): "5",
		"throttle:user=" + login:             "3",
	} {
		v, err := st.Get(t.Context(), key)
		if err != nil || string(v) != want {
			t.Errorf("memcached %q = %q, %v; want %q", key, v, err, want)
		}
	}
}

// TestWasm_twoNodesRace has both nodes count one fresh key concurrently,
// so that incr misses and add races happen: exactly the limit is allowed.
func TestWasm_twoNodesRace(t *testing.T) {
	servers := []string{startMemcached(t)}
	const limit, workers, each = 10, 8, 5
	config := fmt.Sprintf(`{"ip":{"limit":%d,"window":60}}`, limit)
	nodes := []*plugintest.Plugin{node(t, servers, config), node(t, servers, config)}
	for round := 0; round < 3; round++ {
		ip := uniqueIP()
		var allowed, refused atomic.Int64
		var wg sync.WaitGroup
		start := make(chan struct{})
		for w := 0; w < workers; w++ {
			wg.Add(1)
			go func(n *plugintest.Plugin) {
				defer wg.Done()
				<-start
				for i := 0; i < each; i++ {
					r := n.Run(abi.HookThrottle, fields(ip, "race@example.com", 1))
					switch {
					case r.Err != nil:
						t.Error(r.Err)
					case r.Verdict == abi.VerdictContinue:
						allowed.Add(1)
					case r.Verdict == abi.VerdictRefuse:
						refused.Add(1)
					}
				}
			}(nodes[w%2])
		}
		close(start)
		wg.Wait()
		if allowed.Load() != limit || refused.Load() != workers*each-limit {
			t.Errorf("round %d: allowed %d refused %d, want %d and %d %v %v", round, allowed.Load(), refused.Load(), limit, workers*each-limit, nodes[0].Host.Plugin("test").Counters(), nodes[1].Host.Plugin("test").Counters())
		}
	}
}

// TestWasm_storeDown points the plugin at a closed port: every login is
// allowed, the failures are counted and logged once.
func TestWasm_storeDown(t *testing.T) {
	st, err := kv.NewMemcached([]string{closedPort(t)}, kv.MemcachedOptions{Timeout: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	p := plugintest.Load(t, plugintest.Build(t, "plugins/throttle"),
		plugintest.Config(`{"ip":{"limit":1},"user":{"limit":1}}`), plugintest.Store(st),
		plugintest.WithSpec(func(s *plugin.Spec) { s.Limits.Instances = 1 }))
	for i := 0; i < 5; i++ {
		if r := p.Run(abi.HookThrottle, fields(netip.MustParseAddr("192.0.2.7"), "bob@example.com", 1)); r.Verdict != abi.VerdictContinue || r.Err != nil {
			t.Fatalf("attempt %d: %+v, want continue (fail open)", i, r)
		}
	}
	c := p.Host.Plugin("test").Counters()
	if c[ctrStoreErrors] != 10 || c[ctrAllowed] != 5 {
		t.Errorf("counters %v, want store_errors 10, allowed 5", c)
	}
	if n := strings.Count(p.Logs.String(), "logins are allowed unthrottled"); n != 1 {
		t.Errorf("the plugin logged the outage %d times, want once:\n%s", n, p.Logs)
	}
}

// TestWasm_badConfig: the real host refuses the load with the key at fault.
func TestWasm_badConfig(t *testing.T) {
	_, err := plugintest.TryLoad(t, plugintest.Build(t, "plugins/throttle"), plugintest.Config(`{"user":{"limit":-1}}`))
	if err == nil || !strings.Contains(err.Error(), "throttle: config: user.limit: -1 is negative") {
		t.Errorf("load error = %v", err)
	}
}

// BenchmarkWasm_Hook measures one throttle hook call through plugin.Host:
// two counters on memory and on the real memcached.
func BenchmarkWasm_Hook(b *testing.B) {
	stores := []struct {
		name string
		st   func(b *testing.B) kv.Store
	}{
		{"memory", func(*testing.B) kv.Store { return kv.NewMemory(kv.MemoryOptions{}) }},
		{"memcached", func(b *testing.B) kv.Store {
			m, err := kv.NewMemcached([]string{startMemcached(b)}, kv.MemcachedOptions{})
			if err != nil {
				b.Fatal(err)
			}
			return m
		}},
	}
	for _, s := range stores {
		b.Run(s.name, func(b *testing.B) {
			st := s.st(b)
			defer st.Close()
			p := plugintest.Load(b, plugintest.Build(b, "plugins/throttle"), plugintest.Store(st),
				plugintest.Config(`{"ip":{"limit":1000000000},"user":{"limit":1000000000}}`))
			f := fields(uniqueIP(), "bench@example.com", 1)
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				if r := p.Run(abi.HookThrottle, f); r.Verdict != abi.VerdictContinue {
					b.Fatal(r)
				}
			}
		})
	}
}
