package main

import (
	"bufio"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/postern/postern/host/admin"
	"github.com/postern/postern/host/config"
)

// The zmprov commands Zimbra operators use to see what their proxy talks
// to, answered from Postern's configuration in Zimbra's output format, so
// that scripts written against `zmprov garpb` keep working.
//
// The answers come from the configuration file, or with -node URL from a
// running node's admin API (GET /upstreams), which answers from the
// configuration it runs now: the file as it was at the last reload that
// succeeded for the plugin chain, mail and web, and as it was at the start
// for the store (a restart-only key). Both modes compute the lists the
// same way (upstreamsOf) and print them with the same functions, so their
// output is the same byte for byte.

// zmprovCommand is one zmprov command Postern answers: which list of
// admin.Upstreams it prints and how.
type zmprovCommand struct {
	long, short string
	help        string
	list        func(u *admin.Upstreams) []string
	// write prints list; source names where it came from (the file, or
	// the node's URL) in a note on stderr.
	write func(list []string, w, stderr io.Writer, source string)
}

// zmprovCommands are the commands, in the order `postern zmprov` lists
// them.
var zmprovCommands = []zmprovCommand{
	{"getAllReverseProxyURLs", "garpu", "the route-lookup service URLs, as host:port/path (plugins' config.servers)",
		func(u *admin.Upstreams) []string { return u.LookupURLs }, writeSpaced},
	{"getAllReverseProxyBackends", "garpb", "the backends: mail listeners' route and web pools' backends",
		func(u *admin.Upstreams) []string { return u.Backends }, writeReverseProxyBackends},
	{"getAllMtaAuthURLs", "gamau", "SOAP URLs of the web pools' backends (http://host:port/service/soap/, https:// for tls pools)",
		func(u *admin.Upstreams) []string { return u.SOAPURLs }, writeSpaced},
	{"getAllMemcachedServers", "gamcs", "store.memcached",
		func(u *admin.Upstreams) []string { return u.Memcached }, writeSpaced},
}

// lookupZmprov finds a command by its long or short name, ignoring case
// as zmprov does.
func lookupZmprov(name string) (zmprovCommand, bool) {
	for _, c := range zmprovCommands {
		if strings.EqualFold(name, c.long) || strings.EqualFold(name, c.short) {
			return c, true
		}
	}
	return zmprovCommand{}, false
}

// cmdZmprov runs `postern zmprov [-c FILE | -node URL] CMD` (name
// "zmprov") or `postern CMD [-c FILE | -node URL]` (name is the command's
// long or short name).
func cmdZmprov(name string, args []string, stdout, stderr io.Writer) int {
	path, nodeURL := "postern.yaml", ""
	pathSet := false // -c given before the command (postern zmprov -c FILE CMD)
	if name == "zmprov" {
		// zmprov's own options come before the command; -c is ours, -l
		// (zmprov's "use LDAP") is accepted so muscle memory works.
		fs := flag.NewFlagSet("postern zmprov", flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() { zmprovUsage(stderr) }
		fs.StringVar(&path, "c", path, "configuration `file`")
		fs.StringVar(&nodeURL, "node", "", nodeFlagHelp)
		fs.Bool("l", false, "accepted and ignored (zmprov's LDAP mode; Postern reads its configuration)")
		if err := fs.Parse(args); err != nil {
			return exitUsage
		}
		pathSet = flagSet(fs, "c")
		if fs.NArg() == 0 {
			fmt.Fprintln(stderr, "postern zmprov: name a command, e.g. `postern zmprov garpb`")
			zmprovUsage(stderr)
			return exitUsage
		}
		name, args = fs.Arg(0), fs.Args()[1:]
	}
	c, ok := lookupZmprov(name)
	if !ok {
		fmt.Fprintf(stderr, "postern zmprov: unknown command %q; Postern answers only these:\n", name)
		zmprovUsage(stderr)
		return exitUsage
	}
	fs := flag.NewFlagSet("postern "+c.long, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage: postern %s (%s) [-c FILE | -node URL]\n\nPrints %s in zmprov's format.\n\n", c.long, c.short, c.help)
		fs.PrintDefaults()
	}
	fs.StringVar(&path, "c", path, "configuration `file`")
	fs.StringVar(&nodeURL, "node", nodeURL, nodeFlagHelp)
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "postern %s: unexpected argument %q; the flags are -c FILE and -node URL\n", c.long, fs.Arg(0))
		return exitUsage
	}
	if nodeURL != "" && (flagSet(fs, "c") || pathSet) {
		fmt.Fprintf(stderr, "postern %s: give -c FILE or -node URL, not both\n", c.long)
		return exitUsage
	}
	var u admin.Upstreams
	var source string
	if nodeURL != "" {
		n, err := newNode(nodeURL, 30*time.Second)
		if err != nil {
			fmt.Fprintf(stderr, "postern %s: %v\n", c.long, err)
			return exitUsage
		}
		if err := n.do(context.Background(), "GET", "/upstreams", nil, &u); err != nil {
			fmt.Fprintf(stderr, "postern %s: %v\n", c.long, err)
			return exitFail
		}
		source = n.String()
	} else {
		cfg, err := readConfig(path)
		if err != nil {
			fmt.Fprintln(stderr, err)
			return exitFail
		}
		if u, err = upstreamsOf(cfg); err != nil {
			fmt.Fprintf(stderr, "postern %s: %s: %v\n", c.long, cfg.File, err)
			return exitFail
		}
		source = cfg.File
	}
	bw := bufio.NewWriter(stdout)
	c.write(c.list(&u), bw, stderr, source)
	if err := bw.Flush(); err != nil {
		fmt.Fprintf(stderr, "postern %s: writing the answer: %v\n", c.long, err)
		return exitFail
	}
	return exitOK
}

func zmprovUsage(w io.Writer) {
	fmt.Fprint(w, "\nUsage: postern zmprov [-c FILE] COMMAND   (or: postern COMMAND -c FILE)\n\n")
	for _, c := range zmprovCommands {
		fmt.Fprintf(w, "  %-36s %s\n", c.long+"("+c.short+")", c.help)
	}
	fmt.Fprintln(w, "\nAnswers come from the configuration file, or with -node URL from a running postern's admin API\n(what it runs now), in Zimbra's output format.")
}

// nodeFlagHelp is the -node flag's help.
const nodeFlagHelp = "ask the running postern whose admin API is at this `URL` (http://127.0.0.1:9090; token from " + nodeTokenEnv + ") instead of reading -c"

// upstreamsOf computes what cfg points at: every list the zmprov commands
// print. A running node answers GET /upstreams with it too.
func upstreamsOf(cfg *config.Config) (admin.Upstreams, error) {
	urls, err := lookupURLs(cfg)
	if err != nil {
		return admin.Upstreams{}, err
	}
	return admin.Upstreams{LookupURLs: urls, Backends: backends(cfg), SOAPURLs: soapURLs(cfg),
		Memcached: slices.Clone(cfg.Store.Memcached)}, nil
}

// writeSpaced prints garpu, gamau and gamcs: each entry followed by a
// space, then a newline (an empty line for none, as Zimbra prints).
func writeSpaced(list []string, w, _ io.Writer, _ string) {
	for _, s := range list {
		fmt.Fprint(w, s, " ")
	}
	fmt.Fprintln(w)
}

// lookupURLs returns garpu's entries: every lookup URL as host:port/path
// (Zimbra drops the scheme because its nginx templates add it). The URLs
// are the `servers` of every plugin in the chain whose config has that
// key (route-lookup), in chain order, each once. A URL without a port
// gets its scheme's default port, since Zimbra's lines always have one.
func lookupURLs(cfg *config.Config) ([]string, error) {
	var out []string
	for i, p := range cfg.Plugins {
		if len(p.Config) == 0 {
			continue
		}
		var c map[string]json.RawMessage
		if json.Unmarshal(p.Config, &c) != nil {
			continue // a list or a scalar: no servers key
		}
		raw, ok := c["servers"]
		if !ok {
			continue
		}
		var servers []string
		if err := json.Unmarshal(raw, &servers); err != nil {
			return nil, fmt.Errorf("plugins.chain[%d] (%s): config.servers is not a list of URLs; `postern check` says what the plugin expects", i, p.Name)
		}
		for j, s := range servers {
			u, err := url.Parse(s)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
				return nil, fmt.Errorf("plugins.chain[%d] (%s): config.servers[%d] %q: want an http:// or https:// URL", i, p.Name, j, s)
			}
			host := u.Host
			if u.Port() == "" {
				port := "80"
				if u.Scheme == "https" {
					port = "443"
				}
				host = net.JoinHostPort(u.Hostname(), port)
			}
			e := host + u.EscapedPath()
			if u.RawQuery != "" {
				e += "?" + u.RawQuery
			}
			if !slices.Contains(out, e) {
				out = append(out, e)
			}
		}
	}
	return out, nil
}

// backends returns garpb's entries: every mail listener's route entries
// and then every web pool's backends, in configuration order, each once.
func backends(cfg *config.Config) []string {
	var out []string
	add := func(a string) {
		if !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	for _, l := range cfg.Mail.Listeners {
		for _, r := range l.Route {
			add(r)
		}
	}
	for _, p := range cfg.Web.Pools {
		for _, b := range p.Backends {
			add(b.Address)
		}
	}
	return out
}

// writeReverseProxyBackends prints garpb: "    server host:port;" per
// backend.
//
// Zimbra prints a made-up "    server localhost:8080;" when there is no
// backend, because its zmmtaconfig could not handle empty output. Postern
// prints nothing rather than a server that does not exist, and says so on
// stderr.
func writeReverseProxyBackends(list []string, w, stderr io.Writer, source string) {
	if len(list) == 0 {
		fmt.Fprintf(stderr, "postern getAllReverseProxyBackends: %s: no backend configured (no mail listener route, no web pool); "+
			"routes come from the route plugins only\n", source)
	}
	for _, a := range list {
		fmt.Fprintf(w, "    server %s;\n", a)
	}
}

// soapURLs returns gamau's entries: the SOAP URL of every web pool
// backend. Zimbra lists the mailbox servers' SOAP URLs for saslauthd; in
// Postern the mailbox servers' web ports are the pools' backends, so each
// URL is http://<backend>/service/soap/, https:// for a pool with tls.
func soapURLs(cfg *config.Config) []string {
	var out []string
	for _, p := range cfg.Web.Pools {
		scheme := "http://"
		if p.TLS.Enabled {
			scheme = "https://"
		}
		for _, b := range p.Backends {
			u := scheme + b.Address + "/service/soap/"
			if !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	return out
}
