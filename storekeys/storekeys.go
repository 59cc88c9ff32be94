// Package storekeys builds every key the bundled plugins write to the
// key-value store (memcached), byte for byte as Zimbra's proxy writes them
// for ordinary values, so that Postern and Zimbra nodes can share one
// memcached:
//
//	route:proto=<proto>;user=<account>   -> <ip>:<port>   (route-cache)
//	route:proto=<proto>;id=<zimbraId>    -> <ip>:<port>   (route-cache, web by token)
//	alias:user=<login>;ip=<proxy ip>     -> <account>     (route-cache, mail)
//	alias:user=<login>;vhost=<host>      -> <account>     (route-cache, web)
//	throttle:proto=<i|p|h>,ip=<ip>       -> a count       (throttle)
//	throttle:user=<login>                -> a count       (throttle)
//
// Both sides import it: the plugins (built for GOOS=wasip1) build their
// keys here, and the host imports it natively for `postern purge-route`
// and POST /purge-route, so a plugin and the purge can never disagree on a
// key. It imports only the standard library and holds no state.
//
// # Odd and long values
//
// memcached keys are 1 to 250 bytes without spaces or control characters.
// Zimbra concatenates the values as they are; for every value memcached
// accepts, Postern does the same. Otherwise each variable part is escaped
// as nginx's NGX_ESCAPE_MEMCACHED does, plus DEL: a space, '%', a control
// byte or DEL becomes %XX (upper-case hex). Escaping '%' keeps the mapping
// one-to-one: "a b" becomes "a%20b" and the login "a%20b" becomes
// "a%2520b", so two logins never share a key.
//
// If the key is still over 250 bytes, the longest variable part is
// replaced by "%sha256:" and the hex SHA-256 of its raw bytes, and so on
// until the key fits (it always does: a hashed part is 72 bytes). The
// leading '%' cannot start an escaped part (an escape is '%' followed by
// two hex digits, and 's' is not one), so a login that happens to read
// "sha256:<hex>" cannot collide with a hashed one.
//
// # Keys with two variable parts
//
// One part of each key is the login or account, kept as it is but for
// the escapes above. The other parts (protocol, proxy address, virtual
// host) also have ';' and ',' escaped (%3B, %2C), the characters that
// start the labels after the first (";user=", ";ip=", ";vhost=",
// ",ip="). A protocol name, an IP address or a host name never holds
// them, so Zimbra's keys are unchanged; but a crafted Host header cannot
// make "login a, host b;vhost=c" share a key with "login a;vhost=b, host
// c". With every part but one free of those characters, a key splits
// back into its parts in one way only, so distinct values always give
// distinct keys (the fuzz test checks it by splitting every key back).
package storekeys

import (
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// MaxKeyBytes is memcached's key limit.
const MaxKeyBytes = 250

// Protocols are the proto names Zimbra uses in route keys: the protocol,
// and with "ssl" appended when the client used TLS (Zimbra 8.5 and later).
// A purge deletes the keys of every one of them.
var Protocols = []string{"imap", "pop3", "http", "imapssl", "pop3ssl", "httpssl"}

// hashPrefix marks a part replaced by its SHA-256; see the package doc.
const hashPrefix = "%sha256:"

// A key's layout: labels[i] comes before part i; free is the index of the
// one part that may hold ';' and ',' (-1: none).
type layout struct {
	labels []string
	free   int
}

var (
	routeKey        = layout{[]string{"route:proto=", ";user="}, 1}
	routeIDKey      = layout{[]string{"route:proto=", ";id="}, 1}
	mailAliasKey    = layout{[]string{"alias:user=", ";ip="}, 0}
	webAliasKey     = layout{[]string{"alias:user=", ";vhost="}, 0}
	throttleIPKey   = layout{[]string{"throttle:proto=", ",ip="}, -1}
	throttleUserKey = layout{[]string{"throttle:user="}, 0}
)

// Route returns the route key of account for proto:
// "route:proto=<proto>;user=<account>".
func Route(proto, account string) string {
	return routeKey.build(proto, account)
}

// RouteID returns the route key of a web client known by its account id
// (zimbraId, from its auth token) for proto (http or httpssl):
// "route:proto=<proto>;id=<id>", as Zimbra's proxy writes it.
func RouteID(proto, id string) string {
	return routeIDKey.build(proto, id)
}

// MailAlias returns the alias key of a mail login seen on the proxy
// address ip: "alias:user=<login>;ip=<ip>". Its value is the account.
func MailAlias(login, ip string) string {
	return mailAliasKey.build(login, ip)
}

// WebAlias returns the alias key of a web login on virtual host vhost:
// "alias:user=<login>;vhost=<vhost>". Its value is the account.
func WebAlias(login, vhost string) string {
	return webAliasKey.build(login, vhost)
}

// ThrottleIP returns Zimbra's per-protocol login counter of a client
// address: "throttle:proto=<letter>,ip=<ip>", where the letter is the
// first byte of the protocol's name (i for imap, p for pop3, h for http).
// Protocols with one first letter share a counter, as on Zimbra (imap and
// imapssl both count under i).
func ThrottleIP(proto, ip string) string {
	if proto != "" {
		proto = proto[:1]
	}
	return throttleIPKey.build(proto, ip)
}

// ThrottleUser returns Zimbra's login counter of a user:
// "throttle:user=<login>".
func ThrottleUser(login string) string {
	return throttleUserKey.build(login)
}

// All returns every key a login may have in the route cache: its route
// key for each of [Protocols], and its alias keys for each proxy address
// in ips and each virtual host in vhosts. A purge (Zimbra's zmproxypurge)
// deletes them all after a mailbox moves. Keys are unique and in a stable
// order. Throttle counters are not route-cache keys and are not included.
func All(login string, ips, vhosts []string) []string {
	out := make([]string, 0, len(Protocols)+len(ips)+len(vhosts))
	seen := map[string]bool{}
	add := func(k string) {
		if !seen[k] {
			seen[k] = true
			out = append(out, k)
		}
	}
	for _, p := range Protocols {
		add(Route(p, login))
	}
	for _, ip := range ips {
		add(MailAlias(login, ip))
	}
	for _, v := range vhosts {
		add(WebAlias(login, v))
	}
	return out
}

// WebProtocols are the protos of the web route keys by account id
// (RouteID): Zimbra writes the scheme it proxies to.
var WebProtocols = []string{"http", "httpssl"}

// AllID returns the route keys of a web client known by its account id
// (zimbraId): RouteID for each of [WebProtocols]. A purge deletes them
// after the account's mailbox moves.
func AllID(id string) []string {
	out := make([]string, 0, len(WebProtocols))
	for _, p := range WebProtocols {
		out = append(out, RouteID(p, id))
	}
	return out
}

// Escape percent-encodes the bytes memcached does not accept in a key (a
// space, a control byte, DEL) and '%' itself. Every other byte, including
// UTF-8, is kept, so an ordinary login is unchanged. It is how the login
// or account part of every key is escaped.
func Escape(s string) string { return escape(s, false) }

func escape(s string, delims bool) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if needsEscape(s[i], delims) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	const hexDigits = "0123456789ABCDEF"
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if needsEscape(c, delims) {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

func needsEscape(c byte, delims bool) bool {
	return c <= ' ' || c == 0x7f || c == '%' || (delims && (c == ';' || c == ','))
}

// Hashed reports whether key has a part replaced by its SHA-256 (the
// value was too long for a memcached key).
func Hashed(key string) bool { return strings.Contains(key, hashPrefix) }

// build joins the labels and the escaped parts, hashing the longest part
// until the key fits in MaxKeyBytes.
func (l layout) build(raw ...string) string {
	var buf [2]string
	parts := buf[:0]
	for i, r := range raw {
		parts = append(parts, escape(r, i != l.free))
	}
	var hashed [2]bool
	n := 0
	for {
		n = 0
		for i := range parts {
			n += len(l.labels[i]) + len(parts[i])
		}
		if n <= MaxKeyBytes {
			break
		}
		longest := -1
		for i := range parts {
			if !hashed[i] && (longest < 0 || len(parts[i]) > len(parts[longest])) {
				longest = i
			}
		}
		if longest < 0 {
			break // cannot happen: the labels are short and a hash is 72 bytes
		}
		sum := sha256.Sum256([]byte(raw[longest]))
		parts[longest] = hashPrefix + hex.EncodeToString(sum[:])
		hashed[longest] = true
	}
	var b strings.Builder
	b.Grow(n)
	for i := range parts {
		b.WriteString(l.labels[i])
		b.WriteString(parts[i])
	}
	return b.String()
}
