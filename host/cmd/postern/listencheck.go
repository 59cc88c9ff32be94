package main

import (
	"errors"
	"fmt"
	"net"
	"syscall"

	"github.com/postern/postern/host/config"
)

// probeListeners is the listening part of `postern check`: it listens on
// every address the configuration serves (the mail and web listeners, and
// the admin API when the file chose its address), all at once, then
// closes them all.
//
// An address that cannot be bound for any reason but "in use" (not an
// address of this machine, a privileged port without the right to bind
// it) is an error: `postern run` would fail the same way. An address in
// use is a warning, not an error, because `postern check` is also what an
// operator runs on a live node before a reload, and there the running
// postern holds every address (a reload keeps those sockets). nginx -t
// makes the same choice: it binds, and ignores EADDRINUSE only. Two
// listeners of this file that cannot both bind (":143" and
// "127.0.0.1:143") are an error.
func probeListeners(cfg *config.Config) (warnings []string, errs []error) {
	var probes []probe
	if cfg.Mail.Enabled() {
		for _, l := range cfg.Mail.Listeners {
			probes = append(probes, probe{"mail", l.Name, l.Address})
		}
	}
	if cfg.Web.Enabled() {
		for _, l := range cfg.Web.Listeners {
			probes = append(probes, probe{"web", l.Name, l.Address})
		}
	}
	if !cfg.Admin.Disabled && cfg.Admin.Explicit() {
		// The default address may be taken: run then goes on without the
		// API, so only an address the file chose is checked.
		probes = append(probes, probe{"admin", "api", cfg.Admin.Addr()})
	}
	var open []held
	defer func() {
		for _, h := range open {
			h.ln.Close()
		}
	}()
	for _, p := range probes {
		ln, err := net.Listen("tcp", p.addr)
		if err == nil {
			open = append(open, held{p, ln})
			continue
		}
		what := fmt.Sprintf("%s listener %s", p.kind, p.name)
		if p.kind == "admin" {
			what = "admin.address"
		}
		if !errors.Is(err, syscall.EADDRINUSE) {
			errs = append(errs, fmt.Errorf("%s: cannot listen on %s: %w", what, p.addr, err))
			continue
		}
		if i := samePort(open, p.addr); i >= 0 {
			o := open[i]
			errs = append(errs, fmt.Errorf("%s: address %s cannot be bound together with %s listener %s (%s); give them different ports",
				what, p.addr, o.kind, o.name, o.addr))
			continue
		}
		warnings = append(warnings, fmt.Sprintf("%s: address %s is in use: fine if this node's running postern holds it (a reload keeps its sockets); otherwise `postern run` fails: stop what listens there (ss -ltnp shows it) or choose another address",
			what, p.addr))
	}
	return warnings, errs
}

type probe struct{ kind, name, addr string }

// held is a probe that could listen, and its socket.
type held struct {
	probe
	ln net.Listener
}

// samePort returns the index of the first of open whose address has the
// port of addr, or -1.
func samePort(open []held, addr string) int {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return -1
	}
	for i, o := range open {
		if _, p, err := net.SplitHostPort(o.addr); err == nil && p == port {
			return i
		}
	}
	return -1
}
