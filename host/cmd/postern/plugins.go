package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/postern/postern/host/plugin"
)

// pluginJSON is one plugin in `postern plugins -json`.
type pluginJSON struct {
	Name         string           `json:"name"`
	Path         string           `json:"path"`
	Hooks        []string         `json:"hooks"`
	Events       []string         `json:"events"`
	ABIVersion   string           `json:"abi_version"`
	ReuseMS      int64            `json:"reuse_ms"` // the decision reuse its init declared (ABI 1.2); 0: none
	SHA256       string           `json:"sha256"`
	Instances    int              `json:"instances"`
	MaxInstances int              `json:"max_instances"`
	LoadedAt     time.Time        `json:"loaded_at"`
	LastReload   reloadJSON       `json:"last_reload"`
	Counters     map[string]int64 `json:"counters"`
}

type reloadJSON struct {
	At     time.Time `json:"at"`
	SHA256 string    `json:"sha256"`
	TookMS int64     `json:"took_ms"`
	Error  string    `json:"error,omitempty"`
}

// cmdPlugins loads the plugins and describes each, as a table:
//
//	NAME  HOOKS  EVENTS  ABI  REUSE  SHA256  INSTANCES  LAST RELOAD
//
// followed by what that makes of web decision reuse (ABI 1.2), or, with
// -json, as a JSON array of pluginJSON.
func cmdPlugins(ctx context.Context, path string, asJSON, verbose bool, stdout, stderr io.Writer) int {
	s := loadFile(ctx, path, stderr, !verbose)
	if s == nil {
		return exitFail
	}
	defer s.close(ctx)
	infos := make([]plugin.Info, 0, len(s.host.Plugins()))
	for _, p := range s.host.Plugins() {
		infos = append(infos, p.Info())
	}
	if asJSON {
		return printPluginsJSON(infos, stdout, stderr)
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tHOOKS\tEVENTS\tABI\tREUSE\tSHA256\tINSTANCES\tLAST RELOAD")
	for _, in := range infos {
		reuse := "-"
		if in.Reuse > 0 {
			reuse = in.Reuse.String()
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%d/%d\t%s\n", in.Name, list(in.Hooks), list(in.Events),
			in.ABIVersion, reuse, short(in.SHA256), in.Instances, in.MaxInst, reloadText(in.LastReload))
	}
	if err := tw.Flush(); err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	fmt.Fprintln(stdout, reuseText(s.host))
	return exitOK
}

// reuseText says what the plugins make of web decision reuse (ABI 1.2):
// on for how long, or off and because of which plugins.
func reuseText(h *plugin.Host) string {
	if d, _ := h.Reuse(); d > 0 {
		return "web decision reuse: " + d.String() + " (every plugin serving login, throttle, route or route_decided for HTTP declared one)"
	}
	if without := h.WithoutReuse(); len(without) > 0 {
		return "web decision reuse: off; these plugins declared none: " + strings.Join(without, ", ")
	}
	return "web decision reuse: off (no plugin serves login, throttle, route or route_decided for HTTP)"
}

func printPluginsJSON(infos []plugin.Info, stdout, stderr io.Writer) int {
	out := make([]pluginJSON, 0, len(infos))
	for _, in := range infos {
		r := reloadJSON{At: in.LastReload.At, SHA256: in.LastReload.SHA256, TookMS: in.LastReload.Took.Milliseconds()}
		if in.LastReload.Err != nil {
			r.Error = in.LastReload.Err.Error()
		}
		out = append(out, pluginJSON{
			Name: in.Name, Path: in.Path, Hooks: nonNil(in.Hooks), Events: nonNil(in.Events),
			ABIVersion: in.ABIVersion, ReuseMS: in.Reuse.Milliseconds(), SHA256: in.SHA256, Instances: in.Instances, MaxInstances: in.MaxInst,
			LoadedAt: in.LoadedAt, LastReload: r, Counters: in.Counters,
		})
	}
	enc := json.NewEncoder(stdout)
	enc.SetIndent("", "  ")
	if err := enc.Encode(out); err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	return exitOK
}

// reloadText is the LAST RELOAD column: "ok at 15:04:05 (3ms)" or
// "failed at 15:04:05: <error>".
func reloadText(r plugin.ReloadResult) string {
	if r.At.IsZero() {
		return "-"
	}
	at := r.At.Format(time.TimeOnly)
	if r.Err != nil {
		return fmt.Sprintf("failed at %s: %s", at, strings.ReplaceAll(r.Err.Error(), "\n", "; "))
	}
	return fmt.Sprintf("ok at %s (%s)", at, r.Took.Round(time.Millisecond))
}

func list(s []string) string {
	if len(s) == 0 {
		return "-"
	}
	return strings.Join(s, ",")
}

func short(sha string) string {
	if len(sha) > 12 {
		return sha[:12]
	}
	return sha
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
