// Package keys builds the memcached keys of Zimbra's route cache, byte for
// byte as Zimbra's proxy writes them, so that Postern and Zimbra nodes can
// share one memcached:
//
//	route:proto=<proto>;user=<account>   -> <ip>:<port>
//	alias:user=<login>;ip=<proxy ip>     -> <account>   (mail)
//	alias:user=<login>;vhost=<host>      -> <account>   (web)
//
// The route-cache plugin builds its keys here, and the host imports the
// package natively for `postern purge-route` (and later the admin API), so
// the plugin and the purge can never disagree on a key. It imports only
// the standard library and holds no state.
//
// # Odd and long values
//
// memcached keys are 1 to 250 bytes without spaces or control characters.
// Zimbra concatenates the login as it is; for every login memcached
// accepts, Postern does the same. Otherwise each variable part (proto,
// login, ip, vhost) is escaped as nginx's NGX_ESCAPE_MEMCACHED does, plus
// DEL: a space, '%', a control byte or DEL becomes %XX (upper-case hex).
// Escaping '%' keeps the mapping one-to-one: "a b" becomes "a%20b" and the
// login "a%20b" becomes "a%2520b", so two logins never share a key.
//
// If the key is still over 250 bytes, the longest variable part is
// replaced by "%sha256:" and the hex SHA-256 of its raw bytes, and so on
// until the key fits (it always does: a hashed part is 72 bytes). The
// leading '%' cannot start an escaped part (an escape is '%' followed by
// two hex digits, and 's' is not one), so a login that happens to read
// "sha256:<hex>" cannot collide with a hashed one.
package keys

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

// Route returns the route key of account for proto:
// "route:proto=<proto>;user=<account>".
func Route(proto, account string) string {
	return build([]string{"route:proto=", ";user="}, []string{proto, account})
}

// MailAlias returns the alias key of a mail login seen on the proxy
// address ip: "alias:user=<login>;ip=<ip>". Its value is the account.
func MailAlias(login, ip string) string {
	return build([]string{"alias:user=", ";ip="}, []string{login, ip})
}

// WebAlias returns the alias key of a web login on virtual host vhost:
// "alias:user=<login>;vhost=<vhost>". Its value is the account.
func WebAlias(login, vhost string) string {
	return build([]string{"alias:user=", ";vhost="}, []string{login, vhost})
}

// All returns every key a login may have: its route key for each of
// [Protocols], and its alias keys for each proxy address in ips and each
// virtual host in vhosts. A purge (Zimbra's zmproxypurge) deletes them
// all after a mailbox moves. Keys are unique and in a stable order.
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

// Escape percent-encodes the bytes memcached does not accept in a key (a
// space, a control byte, DEL) and '%' itself. Every other byte, including
// UTF-8, is kept, so an ordinary login is unchanged.
func Escape(s string) string {
	n := 0
	for i := 0; i < len(s); i++ {
		if needsEscape(s[i]) {
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
		if needsEscape(c) {
			b = append(b, '%', hexDigits[c>>4], hexDigits[c&15])
		} else {
			b = append(b, c)
		}
	}
	return string(b)
}

func needsEscape(c byte) bool { return c <= ' ' || c == 0x7f || c == '%' }

// Hashed reports whether key has a part replaced by its SHA-256 (the
// login or host was too long for a memcached key).
func Hashed(key string) bool { return strings.Contains(key, hashPrefix) }

// build joins fixed labels and escaped parts, hashing the longest part
// until the key fits in MaxKeyBytes.
func build(labels, raw []string) string {
	parts := make([]string, len(raw))
	hashed := make([]bool, len(raw))
	for i, r := range raw {
		parts[i] = Escape(r)
	}
	for {
		n := 0
		for i := range parts {
			n += len(labels[i]) + len(parts[i])
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
	for i := range parts {
		b.WriteString(labels[i])
		b.WriteString(parts[i])
	}
	return b.String()
}
