// Command postern is the Postern mail and web reverse proxy, whose
// policies are WebAssembly plugins. Run `postern help` for the commands.
//
// This file holds the flags and the wiring only; each command's logic is
// in its own file.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
	"time"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

const usage = `postern: a mail and web reverse proxy whose policies are WebAssembly plugins

Usage: postern <command> [flags]

Commands:
  check    -c FILE              parse the configuration and load every plugin, then exit
  plugins  -c FILE [-json]      load the plugins and describe each one
  run      -c FILE              load the plugins and serve until SIGINT or SIGTERM;
                                SIGHUP re-reads the configuration
  call     -c FILE -hook H | -event E  -field name=value ...
                                run one hook chain (or fire one event) on fields
                                given on the command line, and print the result;
                                -node URL runs it on a running postern's live plugins
  purge-route -c FILE [-ip A] [-vhost H] LOGIN...  delete the logins' cached routes on every memcached
  getAllReverseProxyURLs (garpu)     -c FILE  the route-lookup URLs, as zmprov prints them
  getAllReverseProxyBackends (garpb) -c FILE  the mail routes and web pool backends
  getAllMtaAuthURLs (gamau)          -c FILE  the web backends' SOAP URLs
  getAllMemcachedServers (gamcs)     -c FILE  store.memcached
                                -node URL instead of -c asks a running postern (admin API)
  zmprov [-c FILE] COMMAND      the same four, zmprov style (postern zmprov garpb)
  demo     [-addr-base N] [-for D]  the proxy with the bundled plugins and demo mail and
                                web servers, all in this process; prints commands to try
  version                       print the version and the plugin ABI version
  help                          print this text

-c defaults to postern.yaml; postern.example.yaml documents every key.
check and plugins print log lines only with -v; call prints the plugins'
log lines to stderr; run logs as the configuration's log section says.
"run" serves the IMAP and POP3 listeners of the mail section and the
HTTP listeners of the web section; SIGHUP reloads plugins and
certificates, while listener changes need a restart.

Exit status: 0 on success, 1 on an error, 2 on a usage error.
Run "postern <command> -h" for a command's flags.
`

// exit codes
const (
	exitOK    = 0
	exitFail  = 1
	exitUsage = 2
)

// run is main without the process: it parses args, runs one command and
// returns the exit status.
func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return exitUsage
	}
	cmd, args := args[0], args[1:]
	fs := flag.NewFlagSet("postern "+cmd, flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg := func() *string { return fs.String("c", "postern.yaml", "configuration `file`") }
	parse := func() bool {
		if err := fs.Parse(args); err != nil {
			return false
		}
		if fs.NArg() > 0 {
			fmt.Fprintf(stderr, "postern %s: unexpected argument %q; flags come as -name value\n", cmd, fs.Arg(0))
			return false
		}
		return true
	}
	ctx := context.Background()

	switch cmd {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return exitOK

	case "version":
		if !parse() {
			return exitUsage
		}
		return cmdVersion(stdout)

	case "check":
		path := cfg()
		verbose := fs.Bool("v", false, "print the host's and plugins' log lines to stderr")
		if !parse() {
			return exitUsage
		}
		return cmdCheck(ctx, *path, *verbose, stdout, stderr)

	case "plugins":
		path := cfg()
		asJSON := fs.Bool("json", false, "print JSON instead of a table")
		verbose := fs.Bool("v", false, "print the host's and plugins' log lines to stderr")
		if !parse() {
			return exitUsage
		}
		return cmdPlugins(ctx, *path, *asJSON, *verbose, stdout, stderr)

	case "run":
		path := cfg()
		if !parse() {
			return exitUsage
		}
		sigs := make(chan os.Signal, 1)
		signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
		defer signal.Stop(sigs)
		return cmdRun(ctx, *path, sigs, stdout)

	case "demo":
		return runDemo(ctx, args, stdout, stderr)

	case "purge-route":
		return cmdPurgeRoute(ctx, args, stdout, stderr)

	case "getAllReverseProxyURLs", "garpu":
		return cmdZmprov(cmd, args, stdout, stderr)

	case "getAllReverseProxyBackends", "garpb":
		return cmdZmprov(cmd, args, stdout, stderr)

	case "getAllMtaAuthURLs", "gamau":
		return cmdZmprov(cmd, args, stdout, stderr)

	case "getAllMemcachedServers", "gamcs":
		return cmdZmprov(cmd, args, stdout, stderr)

	case "zmprov":
		return cmdZmprov(cmd, args, stdout, stderr)

	case "call":
		var c callArgs
		path := cfg()
		fs.StringVar(&c.node, "node", "", "run the chain on the live plugins of the postern whose admin API is at this `URL` (http://127.0.0.1:9090; token from "+nodeTokenEnv+") instead of loading -c")
		fs.StringVar(&c.hook, "hook", "", "run this hook's chain: login, throttle, route, rewrite or response")
		fs.StringVar(&c.event, "event", "", "fire this event instead: route_decided or login_failed")
		fs.Var(&c.fields, "field", "set a field: name=value, header:Name=value or imap_id:key=value (repeat; -field help lists them)")
		fs.DurationVar(&c.timeout, "timeout", 30*time.Second, "give up after this long")
		if !parse() {
			return exitUsage
		}
		c.config = *path
		if c.node != "" && flagSet(fs, "c") {
			fmt.Fprintln(stderr, "postern call: give -c FILE or -node URL, not both")
			return exitUsage
		}
		return cmdCall(ctx, c, stdout, stderr)
	}
	fmt.Fprintf(stderr, "postern: unknown command %q; run `postern help` for the list\n", cmd)
	return exitUsage
}

// flagSet reports whether the flag name was given on the command line.
func flagSet(fs *flag.FlagSet, name string) bool {
	set := false
	fs.Visit(func(f *flag.Flag) { set = set || f.Name == name })
	return set
}
