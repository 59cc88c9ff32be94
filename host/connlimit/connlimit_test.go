package connlimit

import (
	"net/netip"
	"sync"
	"testing"
)

var (
	a = netip.MustParseAddr("192.0.2.1")
	b = netip.MustParseAddr("192.0.2.2")
)

func TestListener_Admit(t *testing.T) {
	tests := []struct {
		name   string
		lim    Limits
		global int
		admit  []netip.Addr // admitted in order; the next one of `next` is refused with want
		next   netip.Addr
		want   Reason
	}{
		{name: "per client", lim: Limits{MaxPerClient: 2}, admit: []netip.Addr{a, a, b}, next: a, want: PerClient},
		{name: "per client, mapped address", lim: Limits{MaxPerClient: 1}, admit: []netip.Addr{a}, next: netip.AddrFrom16(a.As16()), want: PerClient},
		{name: "exempt", lim: Limits{MaxPerClient: 1, Exempt: []netip.Prefix{netip.MustParsePrefix("192.0.2.0/24")}}, admit: []netip.Addr{a, a, a}, next: a, want: OK},
		{name: "pre-login", lim: Limits{MaxEarly: 2}, admit: []netip.Addr{a, b}, next: b, want: Early},
		{name: "per listener", lim: Limits{MaxConns: 3}, admit: []netip.Addr{a, b, {}}, next: b, want: PerListener},
		{name: "global", lim: Limits{}, global: 2, admit: []netip.Addr{a, b}, next: b, want: Global},
		{name: "most specific first", lim: Limits{MaxPerClient: 1, MaxEarly: 1, MaxConns: 1}, global: 1, admit: []netip.Addr{a}, next: a, want: PerClient},
		{name: "unknown client", lim: Limits{MaxPerClient: 1}, admit: []netip.Addr{{}, {}}, next: netip.Addr{}, want: OK},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := New()
			r.SetMaxSessions(tc.global)
			l := r.Listener("imap")
			var held []*Ticket
			for i, c := range tc.admit {
				tk, why := l.Admit(c, &tc.lim)
				if why != OK {
					t.Fatalf("connection %d (%v) refused: %v", i, c, why)
				}
				held = append(held, tk)
			}
			tk, why := l.Admit(tc.next, &tc.lim)
			if why != tc.want {
				t.Fatalf("next connection: %v, want %v", why, tc.want)
			}
			if tc.want != OK {
				if tk != nil {
					t.Fatal("a refusal returned a ticket")
				}
				if got := l.Refused(tc.want); got != 1 {
					t.Fatalf("Refused(%v) = %d, want 1", tc.want, got)
				}
				// One connection less: the same one is admitted.
				held[len(held)-1].Release()
				held = held[:len(held)-1]
				if c := tc.admit[len(tc.admit)-1]; c == tc.next || tc.want != PerClient {
					if _, why := l.Admit(tc.next, &tc.lim); why != OK {
						t.Fatalf("after a release: %v", why)
					}
				}
			}
		})
	}
}

func TestTicket_lifecycle(t *testing.T) {
	r := New()
	l := r.Listener("imap")
	lim := &Limits{MaxPerClient: 1, MaxEarly: 1}
	tk, why := l.Admit(netip.Addr{}, lim) // behind a PROXY header
	if why != OK {
		t.Fatal(why)
	}
	if c, e := l.Open(); c != 1 || e != 1 || r.Sessions() != 1 {
		t.Fatalf("open %d, early %d, sessions %d", c, e, r.Sessions())
	}
	if _, why := l.Admit(b, lim); why != Early {
		t.Fatalf("second early connection: %v, want pre_login", why)
	}
	if why := tk.SetClient(a); why != OK {
		t.Fatal(why)
	}
	tk.Establish()
	tk.Establish()
	if c, e := l.Open(); c != 1 || e != 0 {
		t.Fatalf("after Establish: open %d, early %d", c, e)
	}
	// The pre-login slot is free again; the per-client one is not.
	t2, why := l.Admit(netip.Addr{}, lim)
	if why != OK {
		t.Fatal(why)
	}
	if why := t2.SetClient(a); why != PerClient {
		t.Fatalf("SetClient: %v, want per_client", why)
	}
	t2.Release()
	tk.Release()
	tk.Release()
	if c, e := l.Open(); c != 0 || e != 0 || r.Sessions() != 0 || len(l.clients) != 0 {
		t.Fatalf("after Release: open %d, early %d, sessions %d, clients %v", c, e, r.Sessions(), l.clients)
	}
}

func TestRegistry_concurrent(t *testing.T) {
	r := New()
	r.SetMaxSessions(50)
	lim := &Limits{MaxPerClient: 30}
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l := r.Listener([]string{"imap", "pop3"}[g%2])
			for range 2000 {
				if tk, why := l.Admit(a, lim); why == OK {
					if r.Sessions() > 50 {
						t.Error("over the global cap")
					}
					tk.Establish()
					tk.Release()
				}
			}
		}()
	}
	wg.Wait()
	if r.Sessions() != 0 {
		t.Fatalf("sessions %d after every release", r.Sessions())
	}
}

func TestReason_Label(t *testing.T) {
	want := map[Reason]string{PerClient: "per_client", Early: "pre_login", PerListener: "per_listener", Global: "global"}
	for r, s := range want {
		if r.String() != s {
			t.Errorf("%d: %q, want %q", r, r.String(), s)
		}
	}
	if Early.Label("pre_request") != "pre_request" {
		t.Error("Label")
	}
}
