package admin

import (
	_ "embed"
	"fmt"
	"html/template"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/host/web"
)

//go:embed status.html
var statusHTML string

var statusTmpl = template.Must(template.New("status").Funcs(template.FuncMap{
	"short": func(s string) string {
		if len(s) > 12 {
			return s[:12]
		}
		return s
	},
	"join": func(s []string) string {
		if len(s) == 0 {
			return "-"
		}
		return strings.Join(s, ", ")
	},
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return t.Format("2006-01-02 15:04:05") + " (" + since(t) + " ago)"
	},
	"ms": func(d time.Duration) string {
		if d < time.Millisecond {
			return d.Round(time.Microsecond).String()
		}
		return d.Round(time.Millisecond).String()
	},
}).Parse(statusHTML))

// since formats the time since t coarsely: "4s", "3m", "2h", "5d".
func since(t time.Time) string {
	d := time.Since(t)
	switch {
	case d < time.Minute:
		return strconv.Itoa(int(d/time.Second)) + "s"
	case d < time.Hour:
		return strconv.Itoa(int(d/time.Minute)) + "m"
	case d < 48*time.Hour:
		return strconv.Itoa(int(d/time.Hour)) + "h"
	}
	return strconv.Itoa(int(d/(24*time.Hour))) + "d"
}

// counter is one row of the counters table.
type counter struct {
	Name  string
	Value int64
}

type statusData struct {
	Version    string
	ConfigFile string
	Started    time.Time
	Uptime     string
	Ready      bool
	NotReady   []string
	Refresh    int
	Listeners  []Listener
	Plugins    []PluginJSON
	Reloads    []ReloadEvent
	Counters   []counter
	Metrics    string
}

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	s.samplePluginReloads()
	src := s.sources()
	d := statusData{
		Version: s.opts.Version, ConfigFile: s.opts.ConfigFile, Started: s.started,
		Uptime: time.Since(s.started).Round(time.Second).String(), Reloads: s.reloads.latest(),
		Plugins: pluginsJSON(src.Plugins),
	}
	d.Ready, d.NotReady = s.ready()
	if src.Listeners != nil {
		d.Listeners = src.Listeners()
	}
	d.Refresh = int(s.opts.Refresh / time.Second)
	if q := r.URL.Query().Get("refresh"); q != "" {
		n, err := strconv.Atoi(q)
		if err != nil || n < 0 || n > 3600 {
			httpError(w, http.StatusBadRequest, "admin: refresh: want seconds from 0 (off) to 3600")
			return
		}
		d.Refresh = n
	}
	if m := src.Mail; m != nil {
		st := m.Stats()
		d.Counters = append(d.Counters,
			counter{"mail connections", st.Connections.Load()},
			counter{"mail sessions open", st.Active.Load()},
			counter{"mail logins ok", st.Logins.Load()},
			counter{"mail logins refused (credentials)", st.AuthFailed.Load()},
			counter{"mail logins throttled", st.Throttled.Load()},
			counter{"mail logins unavailable (no route)", st.Unavailable.Load()},
			counter{"mail upstream errors", st.UpstreamErr.Load()},
			counter{"mail bytes client to upstream", st.BytesIn.Load()},
			counter{"mail bytes upstream to client", st.BytesOut.Load()},
		)
	}
	if w := src.Web; w != nil {
		d.Counters = append(d.Counters, webCounters(w.Stats())...)
	}
	if h := src.Plugins; h != nil {
		d.Counters = append(d.Counters, counter{"store errors", h.StoreErrors()})
	}
	ok, fail := s.collector.ConfigReloads()
	d.Counters = append(d.Counters, counter{"configuration reloads ok", ok}, counter{"configuration reloads failed", fail})
	for i := range d.Plugins {
		p := &d.Plugins[i]
		names := make([]string, 0, len(p.Counters))
		for k := range p.Counters {
			names = append(names, k)
		}
		slices.Sort(names)
		for _, k := range names {
			d.Counters = append(d.Counters, counter{fmt.Sprintf("plugin %s: %s", p.Name, k), p.Counters[k]})
		}
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Header().Set("Content-Security-Policy", "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'")
	w.Header().Set("X-Frame-Options", "DENY")
	if err := statusTmpl.Execute(w, d); err != nil {
		s.log.Error("admin: status page", "error", err.Error())
	}
}

// webCounters are the status page's rows for the web front end: requests
// by status class, per listener totals, and per backend errors and state
// (the full series are in /metrics).
func webCounters(st web.Stats) []counter {
	var out []counter
	byClass := map[string]int64{}
	var total int64
	for _, r := range st.Requests {
		byClass[r.Class] += r.N
		total += r.N
	}
	out = append(out, counter{"web requests", total})
	for _, c := range []string{"1xx", "2xx", "3xx", "4xx", "5xx", "other"} {
		if n := byClass[c]; n != 0 {
			out = append(out, counter{"web responses " + c, n})
		}
	}
	for _, l := range st.Listeners {
		out = append(out,
			counter{"web " + l.Name + ": bytes received (request bodies)", l.BytesIn},
			counter{"web " + l.Name + ": bytes sent (response bodies)", l.BytesOut},
			counter{"web " + l.Name + ": WebSocket upgrades", l.Upgrades},
			counter{"web " + l.Name + ": requests on the fast path", l.FastPath},
			counter{"web " + l.Name + ": requests with a reused decision", l.Reused},
			counter{"web " + l.Name + ": requests on an event loop", l.EventLoop},
			counter{"web " + l.Name + ": event loop hand-overs to a goroutine", l.Handoffs},
			counter{"web " + l.Name + ": connections closed by send_timeout", l.SendTimeouts},
			counter{"web " + l.Name + ": responses cut by upstream_read_timeout", l.ReadTimeouts})
	}
	for _, p := range st.Pools {
		if p.Retries != 0 {
			out = append(out, counter{"web pool " + p.Name + ": retries", p.Retries})
		}
	}
	for _, b := range st.Backends {
		name := "web pool " + b.Pool + " backend " + b.Backend
		if b.Pool == "" {
			name = "web route upstream " + b.Backend
		}
		if b.Pool != "" {
			up := int64(0)
			if b.Up {
				up = 1
			}
			out = append(out, counter{name + ": up", up})
		}
		if b.Errors != 0 {
			out = append(out, counter{name + ": errors", b.Errors})
		}
	}
	return out
}
