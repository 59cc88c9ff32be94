package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugin"
)

// callArgs are the flags of `postern call`.
type callArgs struct {
	config  string
	hook    string
	event   string
	fields  fieldFlags
	timeout time.Duration
}

// cmdCall runs one hook chain, or fires one event, on fields given with
// -field, for plugin authors. It prints the outcome on the first line,
//
//	route: done by all
//	route: continue (no plugin decided; a front end applies its default)
//	route: tempfail by p: <error>
//	login_failed: delivered
//
// then every non-empty field after the call as name=value, one a line.
// Passwords and credential headers print as <set>. Plugin log lines go to
// stderr. The exit status is 1 when a plugin failed.
func cmdCall(ctx context.Context, a callArgs, stdout, stderr io.Writer) int {
	if len(a.fields) == 1 && a.fields[0] == "help" {
		fmt.Fprintln(stdout, "fields: "+fieldNames())
		return exitOK
	}
	if (a.hook == "") == (a.event == "") {
		fmt.Fprintln(stderr, "postern call: give one of -hook (login, throttle, route, rewrite) or -event (route_decided, login_failed)")
		return exitUsage
	}
	var hook abi.Hook
	var event abi.Event
	if a.hook != "" {
		h, err := plugin.ParseHook(a.hook)
		if err != nil {
			fmt.Fprintf(stderr, "postern call: -hook: %v\n", err)
			return exitUsage
		}
		hook = h
	} else {
		e, err := parseEvent(a.event)
		if err != nil {
			fmt.Fprintf(stderr, "postern call: -event: %v\n", err)
			return exitUsage
		}
		event = e
	}
	f, err := buildFields(a.fields)
	if err != nil {
		fmt.Fprintf(stderr, "postern call: %v\n", strings.ReplaceAll(err.Error(), "\n", "\npostern call: "))
		return exitUsage
	}

	s := loadFile(ctx, a.config, stderr, false)
	if s == nil {
		return exitFail
	}
	defer s.close(ctx)
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()

	status := exitOK
	if a.hook != "" {
		r := s.host.Run(ctx, hook, f)
		fmt.Fprintln(stdout, resultLine(hook, r))
		if r.Err != nil {
			status = exitFail
		}
	} else if err := s.host.Fire(ctx, event, f); err != nil {
		fmt.Fprintf(stdout, "%s: failed: %s\n", event, strings.ReplaceAll(err.Error(), "\n", "; "))
		status = exitFail
	} else {
		fmt.Fprintf(stdout, "%s: delivered\n", event)
	}
	for _, l := range fieldLines(f) {
		fmt.Fprintln(stdout, l)
	}
	return status
}

// resultLine is the first line of `postern call -hook`'s output.
func resultLine(h abi.Hook, r plugin.Result) string {
	switch {
	case r.Err != nil:
		return fmt.Sprintf("%s: %s by %s: %s", h, r.Verdict, r.Plugin, strings.ReplaceAll(r.Err.Error(), "\n", "; "))
	case r.Plugin == "":
		return fmt.Sprintf("%s: %s (no plugin decided; a front end applies its default)", h, r.Verdict)
	}
	return fmt.Sprintf("%s: %s by %s", h, r.Verdict, r.Plugin)
}

func parseEvent(s string) (abi.Event, error) {
	for _, e := range abi.Events {
		if e.String() == s {
			return e, nil
		}
	}
	return 0, fmt.Errorf("event %q: want route_decided or login_failed", s)
}
