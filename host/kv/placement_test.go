package kv

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strconv"
	"testing"
	"time"

	"github.com/postern/postern/host/internal/testenv"
	"github.com/postern/postern/host/kv/placement"
)

// slowMachine is the timeout of these tests' stores: the default 100 ms is
// too short on a machine shared by many test runs.
const slowMachine = 2 * time.Second

// TestMemcached_distribution writes keys through a store on two real
// memcached servers with each distribution and key form, then reads each
// server on its own: every key is on the server package placement names,
// under the wire key of the form, and nowhere else.
func TestMemcached_distribution(t *testing.T) {
	servers := []string{testenv.Memcached(t), testenv.Memcached(t)}
	var direct []*Memcached // one store per server, raw keys
	for _, s := range servers {
		d, err := NewMemcached([]string{s}, MemcachedOptions{Timeout: slowMachine})
		if err != nil {
			t.Fatal(err)
		}
		defer d.Close()
		direct = append(direct, d)
	}
	ctx := context.Background()
	for _, dist := range placement.Names {
		for _, form := range []string{"raw", "sha256"} {
			t.Run(dist+"/"+form, func(t *testing.T) {
				m, err := NewMemcached(servers, MemcachedOptions{Timeout: slowMachine, Distribution: dist, KeyForm: form})
				if err != nil {
					t.Fatal(err)
				}
				defer m.Close()
				p, _ := placement.New(dist, servers)
				f, _ := placement.ParseKeyForm(form)
				var on [2]int
				for i := range 60 {
					k := fmt.Sprintf("route:proto=imap;user=%s-%s-%d@example.com", dist, form, i)
					if err := m.Set(ctx, k, []byte("10.0.0.1:143"), time.Minute); err != nil {
						t.Fatal(err)
					}
					want := p.Server(k, nil)
					on[want]++
					for s, d := range direct {
						v, err := d.Get(ctx, f.Wire(k))
						if (err == nil) != (s == want) || (err == nil && string(v) != "10.0.0.1:143") {
							t.Fatalf("key %q (wire %q): on server %d: %q, %v; want it on server %d only", k, f.Wire(k), s, v, err, want)
						}
						if form == "sha256" {
							if _, err := d.Get(ctx, k); !errors.Is(err, ErrNotFound) {
								t.Fatalf("the raw key %q is on server %d: %v", k, s, err)
							}
						}
					}
					if v, err := m.Get(ctx, k); err != nil || string(v) != "10.0.0.1:143" {
						t.Fatalf("Get(%q) = %q, %v", k, v, err)
					}
					if n, err := m.Incr(ctx, k+":n", 1); !errors.Is(err, ErrNotFound) {
						t.Fatalf("Incr of a missing key = %d, %v", n, err)
					}
				}
				if on[0] == 0 || on[1] == 0 {
					t.Fatalf("keys per server %v: the distribution used one server only", on)
				}
				// The purge finds the keys in this form on both servers.
				k := "route:proto=pop3;user=purge-" + dist + "-" + form
				for _, d := range direct {
					if err := d.Set(ctx, f.Wire(k), []byte("x"), time.Minute); err != nil {
						t.Fatal(err)
					}
				}
				if n, err := m.DeleteEverywhere(ctx, k); n != 2 || err != nil {
					t.Fatalf("DeleteEverywhere = %d, %v; want 2 servers", n, err)
				}
			})
		}
	}
}

// TestMemcached_failover: with zimbra-nginx and ketama, the keys of a
// server that failed go to the next server while it is marked down; with
// crc32 they are unavailable.
func TestMemcached_failover(t *testing.T) {
	up := testenv.Memcached(t)
	down := net.JoinHostPort("127.0.0.1", strconv.Itoa(testenv.FreePort(t)))
	servers := []string{down, up}
	ctx := context.Background()
	for _, dist := range placement.Names {
		t.Run(dist, func(t *testing.T) {
			m, err := NewMemcached(servers, MemcachedOptions{Timeout: slowMachine, Distribution: dist})
			if err != nil {
				t.Fatal(err)
			}
			defer m.Close()
			p, _ := placement.New(dist, servers)
			var k string
			for i := 0; ; i++ {
				if k = fmt.Sprintf("failover:%s:%d", dist, i); p.Server(k, nil) == 0 {
					break
				}
			}
			if err := m.Set(ctx, k, []byte("v"), time.Minute); !errors.Is(err, ErrUnavailable) {
				t.Fatalf("first Set on the down server: %v, want ErrUnavailable", err)
			}
			err = m.Set(ctx, k, []byte("v"), time.Minute)
			if dist == placement.NameCRC32 {
				if !errors.Is(err, ErrUnavailable) {
					t.Fatalf("crc32: Set while its server is marked down: %v, want ErrUnavailable", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Set while its server is marked down: %v, want it stored on the next server", err)
			}
			direct, err := NewMemcached([]string{up}, MemcachedOptions{Timeout: slowMachine})
			if err != nil {
				t.Fatal(err)
			}
			defer direct.Close()
			if v, err := direct.Get(ctx, k); err != nil || string(v) != "v" {
				t.Fatalf("the key is not on the next server: %q, %v", v, err)
			}
		})
	}
}
