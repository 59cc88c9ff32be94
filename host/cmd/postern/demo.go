package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/postern/postern/host/demo"
	"github.com/postern/postern/host/internal/listeners"
)

// runDemo parses the flags of `postern demo` and runs it until SIGINT or
// SIGTERM.
func runDemo(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet("postern demo", flag.ContinueOnError)
	flags.SetOutput(stderr)
	var a demoArgs
	flags.IntVar(&a.addrBase, "addr-base", 0, "listen on 127.0.0.1 ports `N`+143 (IMAP), N+110 (POP3), N+443 (HTTPS), N+90 (admin); 0 picks free ports")
	flags.StringVar(&a.plugins, "plugins", "build/plugins", "`directory` of the bundled plugins' .wasm files (make bundle)")
	flags.DurationVar(&a.duration, "for", 0, "stop after this `duration` (0: at Ctrl-C)")
	if err := flags.Parse(args); err != nil {
		return exitUsage
	}
	if flags.NArg() > 0 {
		fmt.Fprintf(stderr, "postern demo: unexpected argument %q; flags come as -name value\n", flags.Arg(0))
		return exitUsage
	}
	if a.addrBase < 0 || a.addrBase > 65535-443 {
		fmt.Fprintf(stderr, "postern demo: -addr-base %d: want 0 (free ports) or 1..%d\n", a.addrBase, 65535-443)
		return exitUsage
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	return cmdDemo(ctx, a, sigs, stdout, stderr)
}

// demoArgs are the flags of `postern demo`.
type demoArgs struct {
	addrBase int           // listeners on 127.0.0.1:base+143/+110/+443/+90; 0: free ports
	plugins  string        // directory of the bundled .wasm files
	duration time.Duration // stop after this long; 0: at SIGINT or SIGTERM
	cacheDir string        // compiled-plugin cache; "" keeps the default (tests set it)
}

// cmdDemo runs the proxy with the bundled plugins in front of the demo
// backends (host/demo), all in this process, prints commands to try it
// and serves until a signal or the -for duration. The proxy part is what
// `postern run` does with the configuration the demo writes: the same
// admin API, plugin loading and front ends.
func cmdDemo(ctx context.Context, a demoArgs, sigs <-chan os.Signal, stdout, stderr io.Writer) int {
	pluginDir, err := filepath.Abs(a.plugins)
	if err == nil {
		err = checkDemoPlugins(pluginDir)
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	dir, err := os.MkdirTemp("", "postern-demo-")
	if err != nil {
		fmt.Fprintln(stderr, "postern demo:", err)
		return exitFail
	}
	defer os.RemoveAll(dir)
	cert, key, err := demo.WriteCert(dir)
	if err != nil {
		fmt.Fprintln(stderr, "postern demo:", err)
		return exitFail
	}
	addrs, held, err := demoAddrs(a.addrBase)
	if err != nil {
		fmt.Fprintln(stderr, "postern demo:", err)
		return exitFail
	}
	// Free ports stay bound until the proxy serves them: the front ends'
	// through the listener set it runs on, the admin API's (which it binds
	// first thing) until just before it starts.
	set := listeners.New()
	defer func() {
		for _, ln := range held {
			ln.Close()
		}
	}()
	for _, ln := range held[:min(3, len(held))] {
		if err := set.Adopt(ln); err != nil {
			fmt.Fprintln(stderr, "postern demo:", err)
			return exitFail
		}
	}

	// The scenery: mailbox servers and a lookup service.
	backends, err := demo.Start(slog.New(slog.NewTextHandler(stderr, nil)).With("component", "demo"))
	if err != nil {
		fmt.Fprintln(stderr, "postern demo:", err)
		return exitFail
	}
	defer backends.Close()
	path := filepath.Join(dir, "postern.yaml")
	yaml := backends.Config(demo.Proxy{PluginDir: pluginDir, CertFile: cert, KeyFile: key,
		IMAP: addrs.imap, POP3: addrs.pop3, HTTPS: addrs.https, Admin: addrs.admin, CacheDir: a.cacheDir})
	if err := os.WriteFile(path, []byte(yaml), 0o600); err != nil {
		fmt.Fprintln(stderr, "postern demo:", err)
		return exitFail
	}

	// The proxy: `postern run -c <that file>`, logging to stderr. It is
	// ready when the admin API's /readyz says so.
	fmt.Fprintln(stdout, "postern demo: starting; the first start compiles the plugins (a few seconds)...")
	runSigs := make(chan os.Signal, 1)
	exited := make(chan int, 1)
	if len(held) == 4 {
		held[3].Close() // the admin API's
	}
	go func() { exited <- runOn(ctx, path, runSigs, stderr, set) }()
	ready, stopPolling := make(chan struct{}), make(chan struct{})
	defer close(stopPolling)
	go waitReady(addrs.admin, ready, stopPolling)

	forward := func(sig os.Signal) {
		select {
		case runSigs <- sig:
		default: // one is pending already
		}
	}
	var timeout <-chan time.Time
	for {
		select {
		case <-ready:
			ready = nil
			printDemo(stdout, addrs, cert, path)
			if a.duration > 0 {
				timeout = time.After(a.duration)
			}
		case sig := <-sigs:
			forward(sig) // as with postern run: SIGHUP reloads, SIGINT and SIGTERM stop
		case <-timeout:
			timeout = nil
			forward(syscall.SIGTERM)
		case code := <-exited:
			if code != exitOK && ready != nil {
				fmt.Fprintln(stderr, "postern demo: the proxy did not start; the log above says why")
			}
			if err := backends.Close(); err != nil {
				fmt.Fprintln(stderr, err)
				code = exitFail
			}
			return code
		}
	}
}

// demoListeners are the proxy's addresses in the demo.
type demoListeners struct{ imap, pop3, https, admin string }

// demoAddrs returns 127.0.0.1 with base+143, +110, +443 and +90, or free
// ports when base is 0: then held are their sockets, bound (IMAP, POP3,
// HTTPS, admin), for the caller to hand over or close.
func demoAddrs(base int) (addrs demoListeners, held []net.Listener, err error) {
	var ports [4]int
	for i, offset := range []int{143, 110, 443, 90} {
		if base != 0 {
			ports[i] = base + offset
			continue
		}
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			for _, h := range held {
				h.Close()
			}
			return demoListeners{}, nil, err
		}
		held = append(held, ln)
		ports[i] = ln.Addr().(*net.TCPAddr).Port
	}
	addr := func(p int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)) }
	return demoListeners{addr(ports[0]), addr(ports[1]), addr(ports[2]), addr(ports[3])}, held, nil
}

// waitReady polls the admin API's /readyz until it answers 200, then
// closes ready; it gives up when stop is closed.
func waitReady(admin string, ready, stop chan struct{}) {
	client := &http.Client{Timeout: time.Second}
	defer client.CloseIdleConnections()
	for {
		if resp, err := client.Get("http://" + admin + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				close(ready)
				return
			}
		}
		select {
		case <-stop:
			return
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// checkDemoPlugins reports the bundled plugins missing from dir.
func checkDemoPlugins(dir string) error {
	var missing []string
	for _, name := range demo.Plugins {
		if _, err := os.Stat(filepath.Join(dir, name+".wasm")); errors.Is(err, fs.ErrNotExist) {
			missing = append(missing, name+".wasm")
		} else if err != nil {
			return fmt.Errorf("postern demo: %w", err)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("postern demo: %s missing from %s; run `make bundle` (or pass -plugins DIR)", missing, dir)
	}
	return nil
}

// printDemo prints what runs where, and the commands to try.
func printDemo(w io.Writer, l demoListeners, cert, cfgPath string) {
	fmt.Fprintf(w, `
Postern demo is running (Ctrl-C stops it). Everything is in this process, on 127.0.0.1:
  IMAP %s (STARTTLS)   POP3 %s (STLS)   HTTPS %s
  plugins: %s
  users:   demo (password demo), alice (password alice)
  config:  %s
  cert:    %s

Try these in another terminal:
`, l.imap, l.pop3, l.https, strings.Join(demo.Plugins, ", "), cfgPath, cert)
	for _, c := range demo.Commands(l.imap, l.pop3, l.https, cert) {
		fmt.Fprintf(w, "\n  # %s\n  %s\n", c.What, c.Line)
	}
	fmt.Fprintf(w, "\n  # the admin API: plugin calls, logins, routes\n  curl http://%s/metrics\n", l.admin)
	fmt.Fprintf(w, "\nStatus page: http://%s/\n\n", l.admin)
}
