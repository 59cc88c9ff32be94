package main

import (
	"bufio"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/url"
	"slices"
	"strings"

	"github.com/postern/postern/host/config"
)

// The zmprov commands Zimbra operators use to see what their proxy talks
// to, answered from Postern's configuration in Zimbra's output format, so
// that scripts written against `zmprov garpb` keep working.
//
// Every answer comes from the configuration file. The admin API has no
// endpoint that lists lookup servers or backends (GET /plugins gives the
// plugins' files, not their configuration), so there is no live view to
// prefer; the running node agrees with the file unless the file was edited
// after the node started (store, mail and web apply at a restart, the
// plugin chain at SIGHUP).

// zmprovCommand is one zmprov command Postern answers.
type zmprovCommand struct {
	long, short string
	help        string
	write       func(cfg *config.Config, w io.Writer, stderr io.Writer) error
}

// zmprovCommands are the commands, in the order `postern zmprov` lists
// them.
var zmprovCommands = []zmprovCommand{
	{"getAllReverseProxyURLs", "garpu", "the route-lookup service URLs, as host:port/path (plugins' config.servers)", writeReverseProxyURLs},
	{"getAllReverseProxyBackends", "garpb", "the backends: mail listeners' route and web pools' backends", writeReverseProxyBackends},
	{"getAllMtaAuthURLs", "gamau", "SOAP URLs of the web pools' backends (http://host:port/service/soap/)", writeMtaAuthURLs},
	{"getAllMemcachedServers", "gamcs", "store.memcached", writeMemcachedServers},
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

// cmdZmprov runs `postern zmprov [-c FILE] CMD [-c FILE]` (name "zmprov")
// or `postern CMD [-c FILE]` (name is the command's long or short name).
func cmdZmprov(name string, args []string, stdout, stderr io.Writer) int {
	path := "postern.yaml"
	if name == "zmprov" {
		// zmprov's own options come before the command; -c is ours, -l
		// (zmprov's "use LDAP") is accepted so muscle memory works.
		fs := flag.NewFlagSet("postern zmprov", flag.ContinueOnError)
		fs.SetOutput(stderr)
		fs.Usage = func() { zmprovUsage(stderr) }
		fs.StringVar(&path, "c", path, "configuration `file`")
		fs.Bool("l", false, "accepted and ignored (zmprov's LDAP mode; Postern reads its configuration)")
		if err := fs.Parse(args); err != nil {
			return exitUsage
		}
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
		fmt.Fprintf(stderr, "Usage: postern %s (%s) [-c FILE]\n\nPrints %s in zmprov's format.\n\n", c.long, c.short, c.help)
		fs.PrintDefaults()
	}
	fs.StringVar(&path, "c", path, "configuration `file`")
	if err := fs.Parse(args); err != nil {
		return exitUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(stderr, "postern %s: unexpected argument %q; the only flag is -c FILE\n", c.long, fs.Arg(0))
		return exitUsage
	}
	cfg, err := readConfig(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	bw := bufio.NewWriter(stdout)
	if err := c.write(cfg, bw, stderr); err != nil {
		fmt.Fprintf(stderr, "postern %s: %s: %v\n", c.long, cfg.File, err)
		return exitFail
	}
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
	fmt.Fprintln(w, "\nAnswers come from the configuration file, in Zimbra's output format.")
}

// writeReverseProxyURLs prints garpu: every lookup URL as host:port/path
// followed by a space, then a newline (Zimbra drops the scheme because
// its nginx templates add it). The URLs are the `servers` of every plugin
// in the chain whose config has that key (route-lookup), in chain order,
// each once. A URL without a port gets its scheme's default port, since
// Zimbra's lines always have one.
func writeReverseProxyURLs(cfg *config.Config, w, _ io.Writer) error {
	urls, err := lookupURLs(cfg)
	if err != nil {
		return err
	}
	for _, u := range urls {
		fmt.Fprint(w, u, " ")
	}
	fmt.Fprintln(w)
	return nil
}

// lookupURLs returns garpu's entries.
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

// writeReverseProxyBackends prints garpb: "    server host:port;" per
// backend, for every mail listener's route entries and then every web
// pool's backends, in configuration order, each once.
//
// Zimbra prints a made-up "    server localhost:8080;" when there is no
// backend, because its zmmtaconfig could not handle empty output. Postern
// prints nothing rather than a server that does not exist, and says so on
// stderr.
func writeReverseProxyBackends(cfg *config.Config, w, stderr io.Writer) error {
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
	if len(out) == 0 {
		fmt.Fprintf(stderr, "postern getAllReverseProxyBackends: %s: no backend configured (no mail listener route, no web pool); "+
			"routes come from the route plugins only\n", cfg.File)
	}
	for _, a := range out {
		fmt.Fprintf(w, "    server %s;\n", a)
	}
	return nil
}

// writeMtaAuthURLs prints gamau: the SOAP URL of every web pool backend,
// each followed by a space, then a newline. Zimbra lists the mailbox
// servers' SOAP URLs for saslauthd; in Postern the mailbox servers' web
// ports are the pools' backends, which Postern reaches over plain HTTP,
// so each URL is http://<backend>/service/soap/.
func writeMtaAuthURLs(cfg *config.Config, w, _ io.Writer) error {
	var out []string
	for _, p := range cfg.Web.Pools {
		for _, b := range p.Backends {
			u := "http://" + b.Address + "/service/soap/"
			if !slices.Contains(out, u) {
				out = append(out, u)
			}
		}
	}
	for _, u := range out {
		fmt.Fprint(w, u, " ")
	}
	fmt.Fprintln(w)
	return nil
}

// writeMemcachedServers prints gamcs: store.memcached, each entry
// followed by a space, then a newline; an empty line when the store is in
// process, as Zimbra prints with no memcached server.
func writeMemcachedServers(cfg *config.Config, w, _ io.Writer) error {
	for _, s := range cfg.Store.Memcached {
		fmt.Fprint(w, s, " ")
	}
	fmt.Fprintln(w)
	return nil
}
