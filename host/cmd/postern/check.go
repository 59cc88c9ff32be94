package main

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// cmdCheck parses the configuration, loads every plugin (compile, ABI
// checks, a trial instance running init), reads the web pools' TLS files
// and listens briefly on every listener's address (probeListeners: an
// address in use is a warning), then exits.
//
//	ok: 2 plugins loaded (throttle, route-lookup)
func cmdCheck(ctx context.Context, path string, verbose bool, stdout, stderr io.Writer) int {
	s := loadFile(ctx, path, stderr, !verbose)
	if s == nil {
		return exitFail
	}
	defer s.close(ctx)
	warnings, errs := probeListeners(s.cfg)
	if s.cfg.Web.Enabled() {
		if err := s.cfg.Web.CheckTLSFiles(); err != nil { // what web.New would refuse
			errs = append(errs, err)
		}
	}
	for _, w := range warnings {
		fmt.Fprintf(stderr, "%s: warning: %s\n", s.cfg.File, w)
	}
	for _, err := range errs {
		fmt.Fprintf(stderr, "%s: %v\n", s.cfg.File, err)
	}
	if len(errs) > 0 {
		return exitFail
	}
	names := s.names()
	noun := "plugins"
	if len(names) == 1 {
		noun = "plugin"
	}
	list := ""
	if len(names) > 0 {
		list = " (" + strings.Join(names, ", ") + ")"
	}
	fmt.Fprintf(stdout, "ok: %d %s loaded%s\n", len(names), noun, list)
	return exitOK
}
