package main

import (
	"context"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/admin"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugincall"
)

// fieldFlags collects -field values. They are parsed after flag.Parse,
// not in Set: the flag package quotes a rejected value in its error, and
// the value may be a password.
type fieldFlags []string

func (f *fieldFlags) String() string { return fmt.Sprintf("%d fields", len(*f)) }

func (f *fieldFlags) Set(v string) error {
	*f = append(*f, v)
	return nil
}

// callArgs are the flags of `postern call`.
type callArgs struct {
	config  string
	node    string
	hook    string
	event   string
	fields  fieldFlags
	timeout time.Duration
}

// cmdCall runs one hook chain, or fires one event, on fields given with
// -field, for plugin authors and operators. It prints the outcome on the
// first line,
//
//	route: done by all
//	route: continue (no plugin decided; a front end applies its default)
//	route: tempfail by p: <error>
//	login_failed: delivered
//
// then every non-empty field after the call as name=value, one a line.
// Passwords and credential headers print as <set>. Plugin log lines go to
// stderr. The exit status is 1 when a plugin failed.
//
// With -node URL the chain runs on the live plugins of the postern whose
// admin API is at URL (POST /call), and prints the same lines; events
// are not fired there, and the plugins' log lines go to that node's log.
func cmdCall(ctx context.Context, a callArgs, stdout, stderr io.Writer) int {
	if len(a.fields) == 1 && a.fields[0] == "help" {
		fmt.Fprintln(stdout, "fields: "+plugincall.FieldNames())
		return exitOK
	}
	if (a.hook == "") == (a.event == "") {
		fmt.Fprintln(stderr, "postern call: give one of -hook (login, throttle, route, rewrite, response) or -event (route_decided, login_failed)")
		return exitUsage
	}
	if a.node != "" && a.event != "" {
		fmt.Fprintln(stderr, "postern call: -node runs hook chains only: a running node fires events for real sessions only")
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
		e, err := plugincall.ParseEvent(a.event)
		if err != nil {
			fmt.Fprintf(stderr, "postern call: -event: %v\n", err)
			return exitUsage
		}
		event = e
	}
	f, err := plugincall.ParseFields(a.fields)
	if err != nil {
		fmt.Fprintf(stderr, "postern call: %v\n", strings.ReplaceAll(err.Error(), "\n", "\npostern call: "))
		return exitUsage
	}
	if a.node != "" {
		return callNode(ctx, a, hook, stdout, stderr)
	}

	s := loadFile(ctx, a.config, stderr, false)
	if s == nil {
		return exitFail
	}
	defer s.close(ctx)
	ctx, cancel := context.WithTimeout(ctx, a.timeout)
	defer cancel()

	if a.hook != "" {
		o := plugincall.Run(ctx, s.host, hook, f)
		for _, l := range o.Lines {
			fmt.Fprintln(stdout, l)
		}
		if o.Err != "" {
			return exitFail
		}
		return exitOK
	}
	status := exitOK
	if err := s.host.Fire(ctx, event, f); err != nil {
		fmt.Fprintf(stdout, "%s: failed: %s\n", event, strings.ReplaceAll(err.Error(), "\n", "; "))
		status = exitFail
	} else {
		fmt.Fprintf(stdout, "%s: delivered\n", event)
	}
	for _, l := range plugincall.FieldLines(f) {
		fmt.Fprintln(stdout, l)
	}
	return status
}

// callNode runs the chain on a running node's live plugins.
func callNode(ctx context.Context, a callArgs, hook abi.Hook, stdout, stderr io.Writer) int {
	n, err := newNode(a.node, a.timeout+5*time.Second)
	if err != nil {
		fmt.Fprintf(stderr, "postern call: %v\n", err)
		return exitUsage
	}
	if a.timeout > admin.MaxCallTimeout {
		fmt.Fprintf(stderr, "postern call: -timeout %v: a node runs a chain for at most %v\n", a.timeout, admin.MaxCallTimeout)
		return exitUsage
	}
	req := admin.CallRequest{Hook: hook.String(), Fields: a.fields, TimeoutMS: max(a.timeout.Milliseconds(), 1)}
	var resp admin.CallResponse
	if err := n.do(ctx, "POST", "/call", req, &resp); err != nil {
		fmt.Fprintf(stderr, "postern call: %v\n", err)
		return exitFail
	}
	for _, l := range resp.Lines {
		fmt.Fprintln(stdout, l)
	}
	if resp.Error != "" {
		return exitFail
	}
	return exitOK
}
