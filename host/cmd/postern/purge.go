package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net/netip"
	"strings"
	"time"

	"github.com/postern/postern/host/admin"
	"github.com/postern/postern/host/kv"
)

// stringList is a repeatable string flag.
type stringList []string

func (l *stringList) String() string     { return strings.Join(*l, ",") }
func (l *stringList) Set(v string) error { *l = append(*l, v); return nil }

// cmdPurgeRoute is `postern purge-route`: Zimbra's zmproxypurge. It
// deletes every route-cache key of each login (the route for every
// protocol, with and without TLS, and the alias keys for the proxy
// addresses and virtual hosts given) on every memcached server of the
// configuration, and prints per key on how many servers it was deleted.
func cmdPurgeRoute(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("postern purge-route", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, "Usage: postern purge-route -c FILE [-ip ADDR]... [-vhost HOST]... [-id ZIMBRAID]... LOGIN...\n\n"+
			"Deletes the cached routes and aliases of each LOGIN, and the web routes of each\n"+
			"account id, on every memcached server in store.memcached (run it after a mailbox\n"+
			"moves). Flags come before the logins.\n\n")
		fs.PrintDefaults()
	}
	path := fs.String("c", "postern.yaml", "configuration `file`")
	var ips, vhosts, ids stringList
	fs.Var(&ips, "ip", "a proxy `address` mail clients connect to, for the alias keys (repeat)")
	fs.Var(&vhosts, "vhost", "a virtual `host` name web clients use, for the alias keys (repeat)")
	fs.Var(&ids, "id", "an account `id` (zimbraId) whose web routes by auth token to delete (repeat)")
	timeout := fs.Duration("timeout", 30*time.Second, "give up after this long")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	logins := fs.Args()
	if len(logins) == 0 && len(ids) == 0 {
		fmt.Fprintln(stderr, "postern purge-route: name at least one login (or -id) to purge")
		return exitUsage
	}
	for _, l := range logins {
		if strings.HasPrefix(l, "-") {
			fmt.Fprintf(stderr, "postern purge-route: %q after the logins: flags come before the logins\n", l)
			return exitUsage
		}
	}
	for _, ip := range ips {
		if _, err := netip.ParseAddr(ip); err != nil {
			fmt.Fprintf(stderr, "postern purge-route: -ip %q is not an IP address\n", ip)
			return exitUsage
		}
	}
	for _, v := range vhosts {
		if v == "" || strings.ContainsAny(v, " /\t\r\n") {
			fmt.Fprintf(stderr, "postern purge-route: -vhost %q is not a host name\n", v)
			return exitUsage
		}
	}
	for _, id := range ids {
		if id == "" {
			fmt.Fprintln(stderr, "postern purge-route: -id: an empty account id")
			return exitUsage
		}
	}

	cfg, err := readConfig(*path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	if len(cfg.Store.Memcached) == 0 {
		fmt.Fprintf(stdout, "%s: store.memcached is empty: routes are cached in each postern process only, "+
			"so there is nothing to purge here (they expire with the route-cache ttl, or restart postern)\n", cfg.File)
		return exitOK
	}
	st, err := kv.NewMemcached(cfg.Store.Memcached, cfg.Store.MemcachedOptions())
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", cfg.File, err)
		return exitFail
	}
	defer st.Close()
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	// The admin API's POST /purge-route runs the same purge.
	_, err = admin.PurgeRoutes(ctx, st, admin.PurgeRequest{Logins: logins, IPs: ips, VHosts: vhosts, IDs: ids}, func(r admin.PurgeResult) {
		fmt.Fprintf(stdout, "%s deleted on %d of %d servers\n", r.Key, r.Deleted, r.Servers)
		if r.Err() != nil {
			fmt.Fprintf(stderr, "postern purge-route: %s: %v\n", r.Key, r.Err())
		}
	})
	if err != nil {
		return exitFail
	}
	return exitOK
}
