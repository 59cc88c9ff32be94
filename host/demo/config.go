package demo

import (
	"fmt"
	"path/filepath"
	"strings"
)

// Plugins are the bundled plugins the demo loads, in chain order. Each is
// <plugin dir>/<name>.wasm, built by `make plugins`.
var Plugins = []string{"login-normaliser", "throttle", "route-cache", "route-lookup", "url-rewrite"}

// Proxy says where the demo's proxy listens and what it loads.
type Proxy struct {
	// PluginDir holds the bundled plugins' .wasm files (absolute).
	PluginDir string
	// CertFile and KeyFile are the TLS certificate of every listener.
	CertFile, KeyFile string
	// IMAP, POP3, HTTPS and Admin are listen addresses (host:port; port 0
	// picks a free one).
	IMAP, POP3, HTTPS, Admin string
	// CacheDir is the compiled-plugin cache; "" keeps the default.
	CacheDir string
}

// Config returns the Postern configuration (YAML) of a proxy in front of
// b: the same file an operator writes for `postern run`, with the demo's
// addresses filled in.
func (b *Backends) Config(p Proxy) string {
	wasm := func(name string) string { return quote(filepath.Join(p.PluginDir, name+".wasm")) }
	cache := ""
	if p.CacheDir != "" {
		cache = "cache_dir: " + quote(p.CacheDir) + "\n"
	}
	return fmt.Sprintf(`# Written by "postern demo"; its backends run only while the demo does.
%slog: {format: text, level: info}
plugins:
  chain:
    # "demo" becomes demo@example.com, the account the backends know.
    - name: login-normaliser
      path: %s
      config: {default_domain: %s}
    # Zimbra's login throttle: counters in the in-process store.
    - name: throttle
      path: %s
      config: {user: {limit: 30, window: 10m}, ip: {limit: 300, window: 10m}}
    # Routes found by route-lookup are kept here for an hour.
    - name: route-cache
      path: %s
    # Asks the demo lookup service (nginx auth_http) where each user lives.
    - name: route-lookup
      path: %s
      http_allow: [%s]
      config: {servers: [%s]}
    # https://.../~alice is served as /home/alice/.
    - name: url-rewrite
      path: %s
      config:
        rules:
          - {path: '^/~([a-z0-9._-]+)/?$', rewrite: {path: '/home/$1/'}}
tls:
  certs: [{cert: %s, key: %s}]
mail:
  listeners:
    - {name: imap, address: %s, protocol: imap, tls: starttls}
    - {name: pop3, address: %s, protocol: pop3, tls: starttls}
web:
  listeners:
    - {name: https, address: %s, tls: true}
  pools:
    - {name: mailbox, backends: [%s]}
  pool: mailbox
admin:
  address: %s
`, cache, wasm("login-normaliser"), Domain, wasm("throttle"), wasm("route-cache"),
		wasm("route-lookup"), quote(b.LookupAddr()), quote(b.LookupURL()), wasm("url-rewrite"),
		quote(p.CertFile), quote(p.KeyFile), quote(p.IMAP), quote(p.POP3), quote(p.HTTPS),
		quote(b.HTTPAddr()), quote(p.Admin))
}

// quote makes s a YAML double-quoted scalar.
func quote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(s) + `"`
}

// Command is one ready-to-paste shell command and what it shows.
type Command struct {
	What string
	Line string
}

// Commands returns the curl commands that try the proxy listening on the
// given addresses, trusting the certificate in cacert.
func Commands(imapAddr, pop3Addr, httpsAddr, cacert string) []Command {
	tls := "curl --cacert " + shellQuote(cacert)
	mail := tls + " --ssl-reqd"
	return []Command{
		{"IMAP (STARTTLS): read message 1 of demo's INBOX",
			mail + " -u demo:demo 'imap://" + imapAddr + "/INBOX;UID=1'"},
		{"IMAP: date, subject and addresses of every message in alice's INBOX",
			mail + " -u alice:alice 'imap://" + imapAddr + "/INBOX' -X 'FETCH 1:* ENVELOPE'"},
		{"POP3 (STLS): list demo's messages",
			mail + " -u demo:demo 'pop3://" + pop3Addr + "/'"},
		{"POP3: retrieve message 2",
			mail + " -u demo:demo 'pop3://" + pop3Addr + "/2'"},
		{"HTTPS: demo's web inbox, routed by the lookup service",
			tls + " -u demo:demo 'https://" + httpsAddr + "/home/demo/'"},
		{"HTTPS: /~alice, rewritten by url-rewrite to /home/alice/",
			tls + " 'https://" + httpsAddr + "/~alice'"},
	}
}

// shellQuote quotes s for a POSIX shell when it needs it.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789/._-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
