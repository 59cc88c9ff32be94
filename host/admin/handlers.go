package admin

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/postern/postern/host/plugin"
)

// maxFormBytes bounds a POST body: thousands of logins, not megabytes.
const maxFormBytes = 256 << 10

// maxPurgeLogins bounds one purge request.
const maxPurgeLogins = 1000

func (s *Server) healthz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Write([]byte("ok\n"))
}

func (s *Server) readyz(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	ok, why := s.ready()
	if !ok {
		w.WriteHeader(http.StatusServiceUnavailable)
		w.Write([]byte("not ready: " + strings.Join(why, "; ") + "\n"))
		return
	}
	w.Write([]byte("ready\n"))
}

// PluginJSON is one plugin in GET /plugins; the fields are those of
// `postern plugins -json` plus the runtime's stats.
type PluginJSON struct {
	Name         string           `json:"name"`
	Path         string           `json:"path"`
	Hooks        []string         `json:"hooks"`
	Events       []string         `json:"events"`
	ABIVersion   string           `json:"abi_version"`
	SHA256       string           `json:"sha256"`
	Instances    int              `json:"instances"`
	MaxInstances int              `json:"max_instances"`
	LoadedAt     time.Time        `json:"loaded_at"`
	LastReload   ReloadJSON       `json:"last_reload"`
	Counters     map[string]int64 `json:"counters"`
	Stats        StatsJSON        `json:"stats"`
	// OnRegression is rollback or keep; Watch is the watch of a version
	// swapped in lately (null when none runs); LastRollback the last
	// regression a watch found (null when none).
	OnRegression string        `json:"on_regression"`
	Watch        *WatchJSON    `json:"watch"`
	LastRollback *RollbackJSON `json:"last_rollback"`
}

// WatchJSON is a new plugin version under watch after a swap.
type WatchJSON struct {
	Since          time.Time `json:"since"`
	Until          time.Time `json:"until"`
	PreviousSHA256 string    `json:"previous_sha256"`
	Calls          int64     `json:"calls"`
	Failures       int64     `json:"failures"`
	MaxCalls       int64     `json:"max_calls"`
}

// RollbackJSON is a regression a watch found: the version that failed,
// the one it replaced, and whether that one serves again.
type RollbackJSON struct {
	At               time.Time `json:"at"`
	SHA256           string    `json:"sha256"`
	PreviousSHA256   string    `json:"previous_sha256"`
	Calls            int64     `json:"calls"`
	Failures         int64     `json:"failures"`
	PreviousCalls    int64     `json:"previous_calls"`
	PreviousFailures int64     `json:"previous_failures"`
	RolledBack       bool      `json:"rolled_back"`
	LastError        string    `json:"last_error"`
}

// ReloadJSON is a plugin's last load or reload.
type ReloadJSON struct {
	At     time.Time `json:"at"`
	SHA256 string    `json:"sha256"`
	TookMS int64     `json:"took_ms"`
	Error  string    `json:"error,omitempty"`
}

// StatsJSON is plugin.Stats as numbers.
type StatsJSON struct {
	Calls          int64 `json:"calls"`
	Failures       int64 `json:"failures"`
	Timeouts       int64 `json:"timeouts"`
	Traps          int64 `json:"traps"`
	BadVerdicts    int64 `json:"bad_verdicts"`
	Instantiations int64 `json:"instantiations"`
	Recycled       int64 `json:"recycled"`
	Shrunk         int64 `json:"shrunk"`
	Reloads        int64 `json:"reloads"`
	ReloadFailures int64 `json:"reload_failures"`
	LogDropped     int64 `json:"log_dropped"`
	HTTPErrors     int64 `json:"http_errors"`
	Rollbacks      int64 `json:"rollbacks"`
}

// pluginsJSON describes the plugins of h in chain order.
func pluginsJSON(h *plugin.Host) []PluginJSON {
	out := []PluginJSON{}
	if h == nil {
		return out
	}
	for _, p := range h.Plugins() {
		in := p.Info()
		st := p.Stats()
		r := ReloadJSON{At: in.LastReload.At, SHA256: in.LastReload.SHA256, TookMS: in.LastReload.Took.Milliseconds()}
		if in.LastReload.Err != nil {
			r.Error = in.LastReload.Err.Error()
		}
		out = append(out, PluginJSON{
			Name: in.Name, Path: in.Path, Hooks: nonNil(in.Hooks), Events: nonNil(in.Events),
			ABIVersion: in.ABIVersion, SHA256: in.SHA256, Instances: in.Instances, MaxInstances: in.MaxInst,
			LoadedAt: in.LoadedAt, LastReload: r, Counters: in.Counters,
			Stats: StatsJSON{
				Calls: st.Calls.Load(), Failures: st.Failures.Load(), Timeouts: st.Timeouts.Load(),
				Traps: st.Traps.Load(), BadVerdicts: st.BadVerdicts.Load(), Instantiations: st.Instantiations.Load(),
				Recycled: st.Recycled.Load(), Shrunk: st.Shrunk.Load(), Reloads: st.Reloads.Load(), ReloadFailures: st.ReloadFailures.Load(),
				LogDropped: st.LogDropped.Load(), HTTPErrors: st.HTTPErrors.Load(), Rollbacks: st.Rollbacks.Load(),
			},
			OnRegression: in.OnRegression,
		})
		pj := &out[len(out)-1]
		if w := in.Watch; w != nil {
			pj.Watch = &WatchJSON{Since: w.Since, Until: w.Until, PreviousSHA256: w.PrevSHA256,
				Calls: w.Calls, Failures: w.Failures, MaxCalls: w.MaxCalls}
		}
		if rb := in.LastRollback; rb != nil {
			pj.LastRollback = &RollbackJSON{At: rb.At, SHA256: rb.SHA256, PreviousSHA256: rb.PrevSHA256,
				Calls: rb.Calls, Failures: rb.Failures, PreviousCalls: rb.PrevCalls, PreviousFailures: rb.PrevFailures,
				RolledBack: rb.RolledBack, LastError: rb.LastError}
		}
	}
	return out
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

func (s *Server) plugins(w http.ResponseWriter, r *http.Request) {
	src := s.sources()
	if src.Plugins == nil {
		httpError(w, http.StatusServiceUnavailable, "admin: plugins not loaded yet; try again in a moment")
		return
	}
	s.samplePluginReloads()
	writeJSON(w, http.StatusOK, pluginsJSON(src.Plugins))
}

func (s *Server) reload(w http.ResponseWriter, r *http.Request) {
	if s.opts.Reload == nil {
		httpError(w, http.StatusNotImplemented, "admin: this server cannot reload; send SIGHUP to the postern process")
		return
	}
	start := time.Now()
	err := s.opts.Reload(r.Context())
	took := time.Since(start)
	s.RecordReload(start, "api", took, err)
	s.log.Info("admin: reload requested", "remote", r.RemoteAddr, "ok", err == nil, "took", took.Round(time.Millisecond).String())
	if err != nil {
		writeJSON(w, http.StatusInternalServerError, map[string]any{
			"ok": false, "error": err.Error(), "note": "the previous configuration keeps serving"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"ok": true, "took_ms": took.Milliseconds()})
}

func (s *Server) purgeRoute(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	if err := r.ParseForm(); err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			httpError(w, http.StatusRequestEntityTooLarge, "admin: purge-route: the form is over 256 KiB: purge fewer logins at a time")
			return
		}
		httpError(w, http.StatusBadRequest, "admin: purge-route: "+err.Error()+"; send a form: login=<login>&ip=<proxy ip>&vhost=<host>")
		return
	}
	req := PurgeRequest{Logins: r.Form["login"], IPs: r.Form["ip"], VHosts: r.Form["vhost"], IDs: r.Form["id"]}
	for k := range r.Form {
		if k != "login" && k != "ip" && k != "vhost" && k != "id" {
			httpError(w, http.StatusBadRequest, "admin: purge-route: unknown parameter "+quoteHost(k)+": use login, ip, vhost and id")
			return
		}
	}
	if len(req.Logins)+len(req.IDs) > maxPurgeLogins {
		httpError(w, http.StatusRequestEntityTooLarge, "admin: purge-route: more than 1000 logins: split the request")
		return
	}
	if err := req.Validate(); err != nil {
		httpError(w, http.StatusBadRequest, "admin: purge-route: "+err.Error())
		return
	}
	src := s.sources()
	st := src.Store
	if st == nil && src.Plugins != nil {
		st = src.Plugins.Store()
	}
	if st == nil {
		httpError(w, http.StatusServiceUnavailable, "admin: purge-route: the store is not open yet; try again in a moment")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), time.Minute)
	defer cancel()
	res, err := PurgeRoutes(ctx, st, req, nil)
	deleted := 0
	for _, x := range res {
		deleted += x.Deleted
	}
	s.log.Info("admin: route purge", "remote", r.RemoteAddr, "logins", req.Logins, "ids", req.IDs, "keys", len(res),
		"deleted", deleted, "ok", err == nil)
	code := http.StatusOK
	body := map[string]any{"ok": err == nil, "shared": st.Shared(), "keys": res}
	if err != nil {
		code = http.StatusServiceUnavailable
		body["error"] = err.Error()
	}
	writeJSON(w, code, body)
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

// httpError answers with a plain-text error.
func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(code)
	w.Write([]byte(msg + "\n"))
}
