package main

import (
	"context"
	"fmt"
	"io"
	"strings"
)

// cmdCheck parses the configuration and loads every plugin (compile,
// ABI checks, a trial instance running init), then exits.
//
//	ok: 2 plugins loaded (throttle, route-lookup)
func cmdCheck(ctx context.Context, path string, verbose bool, stdout, stderr io.Writer) int {
	s := loadFile(ctx, path, stderr, !verbose)
	if s == nil {
		return exitFail
	}
	defer s.close(ctx)
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
