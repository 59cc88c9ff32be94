package web

import (
	"net/netip"
	"strings"
)

// realClient returns the client of a request whose direct peer is peer.
// When peer is one of the trusted forwarders, X-Forwarded-For (xff, its
// header lines in order) is walked from the right: trusted entries are
// skipped and the first untrusted one is the client, as nginx's realip
// module does with real_ip_recursive on. When every entry is trusted, the
// leftmost one is the client; when an entry is not an address, the walk
// stops at the last address it read (peer if none). Entries left of the
// client are whatever the client wrote and are never believed. When peer
// is not trusted, X-Forwarded-For is ignored and peer is the client.
func realClient(peer netip.AddrPort, xff []string, trusted []netip.Prefix) netip.AddrPort {
	if len(trusted) == 0 || len(xff) == 0 || !inPrefixes(peer.Addr(), trusted) {
		return peer
	}
	client := peer
	for i := len(xff) - 1; i >= 0; i-- {
		line := xff[i]
		for line != "" {
			entry := line
			if j := strings.LastIndexByte(line, ','); j >= 0 {
				entry, line = line[j+1:], line[:j]
			} else {
				line = ""
			}
			entry = strings.Trim(entry, " \t")
			if entry == "" {
				continue // "a,,b" or a trailing comma
			}
			a, ok := parseForwardedFor(entry)
			if !ok {
				return client
			}
			client = a
			if !inPrefixes(a.Addr(), trusted) {
				return client
			}
		}
	}
	return client
}

// parseForwardedFor parses one X-Forwarded-For entry: an IPv4 or IPv6
// address, optionally with a port (1.2.3.4:5, [2001:db8::1]:5).
func parseForwardedFor(s string) (netip.AddrPort, bool) {
	if a, err := netip.ParseAddr(s); err == nil {
		return netip.AddrPortFrom(a.Unmap().WithZone(""), 0), true
	}
	if ap, err := netip.ParseAddrPort(s); err == nil {
		return netip.AddrPortFrom(ap.Addr().Unmap().WithZone(""), ap.Port()), true
	}
	return netip.AddrPort{}, false
}
