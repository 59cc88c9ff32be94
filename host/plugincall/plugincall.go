// Package plugincall runs one hook chain for an operator, on fields given
// as name=value text, and formats the outcome as text: `postern call`
// does it on a copy of the configuration's plugins, the admin API's
// POST /call on the live plugins of a running node (`postern call
// -node`), and both print the same lines because both use this package.
//
// It never logs in, never connects upstream and fires no event: it only
// runs the chain. The plugins themselves run as for a real session (their
// kv writes, http_call lookups and counters happen).
package plugincall

import (
	"context"
	"fmt"
	"strings"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugin"
)

// Outcome is one chain's result as `postern call` prints it.
type Outcome struct {
	// Lines are the result line, then every non-empty field after the
	// call as name=value (FieldLines).
	Lines []string
	// Verdict is the chain's verdict ("continue", "done", ...), Plugin
	// the plugin that decided or failed ("" when none did).
	Verdict, Plugin string
	// Err is the failure that closed the hook, "" when none.
	Err string
}

// Run runs hook's chain on h with fields f (changed in place) and
// returns the outcome. The result line is
//
//	route: done by all
//	route: continue (no plugin decided; a front end applies its default)
//	route: tempfail by p: <error>
func Run(ctx context.Context, h *plugin.Host, hook abi.Hook, f *plugin.Fields) Outcome {
	r := h.Run(ctx, hook, f)
	o := Outcome{Verdict: r.Verdict.String(), Plugin: r.Plugin, Lines: []string{ResultLine(hook, r)}}
	if r.Err != nil {
		o.Err = oneLine(r.Err.Error())
	}
	o.Lines = append(o.Lines, FieldLines(f)...)
	return o
}

// ResultLine is the first line of Run's outcome.
func ResultLine(h abi.Hook, r plugin.Result) string {
	switch {
	case r.Err != nil:
		return fmt.Sprintf("%s: %s by %s: %s", h, r.Verdict, r.Plugin, oneLine(r.Err.Error()))
	case r.Plugin == "":
		return fmt.Sprintf("%s: %s (no plugin decided; a front end applies its default)", h, r.Verdict)
	}
	return fmt.Sprintf("%s: %s by %s", h, r.Verdict, r.Plugin)
}

// ParseEvent parses an event name (route_decided, login_failed).
func ParseEvent(s string) (abi.Event, error) {
	for _, e := range abi.Events {
		if e.String() == s {
			return e, nil
		}
	}
	return 0, fmt.Errorf("event %q: want route_decided or login_failed", s)
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }
