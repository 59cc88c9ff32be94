// Package metrics exports Postern's counters in the Prometheus format.
//
// The front ends and the plugin runtime keep their own counters as
// atomics (mail.Stats, web.Stats, plugin.Stats, counter_add). A [Collector] reads
// them when Prometheus scrapes, so nothing is counted twice and the hot
// path pays nothing for metrics. The only values this package owns are
// the ones nobody else keeps: configuration reloads and the per-plugin
// call latency histogram ([Collector.ObserveCall]).
//
// Register a Collector in a registry of its own (the admin server does),
// never in prometheus.DefaultRegisterer: two Postern servers in one
// process (tests) must not share series.
package metrics

import (
	"strconv"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/connlimit"
	"github.com/postern/postern/host/mail"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/web"
)

// Namespace prefixes every series of this package.
const Namespace = "postern"

// Sources are the live objects a Collector reads at scrape time. Any of
// them may be nil (not started yet, or not configured).
type Sources struct {
	// Plugins is the plugin runtime: per-plugin stats, counter_add
	// counters, reload state, store errors.
	Plugins *plugin.Host
	// Mail is the IMAP and POP3 front end.
	Mail *mail.Server
	// Web is the HTTP and HTTPS front end.
	Web *web.Server
	// Limits are the connection counts and refusals of every front end
	// (one Registry per process).
	Limits *connlimit.Registry
}

// Collector is a prometheus.Collector over Postern's live counters. The
// zero value is not usable; create one with New. It is safe for
// concurrent use.
type Collector struct {
	src     atomic.Pointer[Sources]
	version string

	reloadsOK   atomic.Int64
	reloadsFail atomic.Int64
	lastReload  atomic.Int64 // unix nanoseconds of the last config reload
	lastOK      atomic.Bool

	latency *prometheus.HistogramVec

	// Reused descriptors, built once.
	d descs
}

type descs struct {
	build, mailConns, mailActive, mailLogins, mailUpstreamErr, mailBytes               *prometheus.Desc
	calls, failures, timeouts, traps, badVerdicts, instantiations, recycled, shrunk    *prometheus.Desc
	reloads, reloadFailures, logDropped, httpErrors, instances, maxInstances, pluginOK *prometheus.Desc
	lastReloadTime, pluginInfo, pluginCounter, storeErrors                             *prometheus.Desc
	rollbacks                                                                          *prometheus.Desc
	configReloads, configLastReload, configLastOK                                      *prometheus.Desc
	webRequests, webDuration, webUpstream, webUpErrors, webRetries, webBackendUp       *prometheus.Desc
	webBytesIn, webBytesOut, webUpgrades, webFast, webReused, webLoop, webHandoffs     *prometheus.Desc
	webTimeouts                                                                        *prometheus.Desc
	connRefused, connOpen, sessionsOpen, sessionsMax                                   *prometheus.Desc
}

// LatencyBuckets are the upper bounds, in seconds, of the plugin call
// latency histogram: from 10 µs (a WAT guest) to 2.5 s (a lookup that
// waits on its HTTP service).
var LatencyBuckets = []float64{.00001, .000025, .00005, .0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// New returns a Collector that reports version in postern_build_info.
// Call Set once the sources exist.
func New(version string) *Collector {
	n := func(sub, name, help string, labels ...string) *prometheus.Desc {
		return prometheus.NewDesc(prometheus.BuildFQName(Namespace, sub, name), help, labels, nil)
	}
	c := &Collector{version: version}
	c.d = descs{
		build:           n("", "build_info", "Postern's version and plugin ABI version; always 1.", "version", "abi"),
		mailConns:       n("mail", "connections_total", "IMAP and POP3 connections accepted, by protocol (imap, pop3).", "protocol"),
		mailActive:      n("mail", "sessions_active", "IMAP and POP3 sessions open now."),
		mailLogins:      n("mail", "logins_total", "Mail login attempts by protocol (imap, pop3) and outcome: ok (logged in upstream), auth_failed (refused credentials), throttled, unavailable (no route or every upstream down).", "protocol", "outcome"),
		mailUpstreamErr: n("mail", "upstream_errors_total", "Failures to connect to or speak with a mailbox server."),
		mailBytes:       n("mail", "relayed_bytes_total", "Bytes relayed after login; direction in is client to upstream.", "direction"),

		calls:          n("plugin", "calls_total", "Hook and event export calls.", "plugin"),
		failures:       n("plugin", "failures_total", "Failed calls by hook (or event) and reason (trap, timeout, invalid_verdict, memory, exit, no_instance); each applied the hook's failure policy.", "plugin", "hook", "reason"),
		timeouts:       n("plugin", "timeouts_total", "Calls stopped at their deadline.", "plugin"),
		traps:          n("plugin", "traps_total", "Calls that trapped, exited or ran out of memory.", "plugin"),
		badVerdicts:    n("plugin", "bad_verdicts_total", "Calls that returned a value outside the ABI's verdicts.", "plugin"),
		instantiations: n("plugin", "instantiations_total", "Instances created.", "plugin"),
		recycled:       n("plugin", "recycled_total", "Instances retired by use count, age or memory high water.", "plugin"),
		shrunk:         n("plugin", "shrunk_total", "Idle instances closed after limits.idle_timeout (the pool shrinking after load).", "plugin"),
		reloads:        n("plugin", "reloads_total", "Versions of the plugin file swapped in, the first load included.", "plugin"),
		reloadFailures: n("plugin", "reload_failures_total", "Loads and reloads refused; the previous version kept serving.", "plugin"),
		rollbacks:      n("plugin", "rollbacks_total", "New versions swapped back out after a hot reload because their calls failed more often than the previous version's (on_regression: rollback).", "plugin"),
		logDropped:     n("plugin", "log_dropped_total", "Plugin log lines dropped by the rate limit.", "plugin"),
		httpErrors:     n("plugin", "http_errors_total", "Outbound http_call failures.", "plugin"),
		instances:      n("plugin", "instances", "Instances alive now.", "plugin"),
		maxInstances:   n("plugin", "instances_max", "The plugin's instance limit.", "plugin"),
		pluginOK:       n("plugin", "last_reload_success", "1 when the plugin's last load or reload succeeded, else 0.", "plugin"),
		lastReloadTime: n("plugin", "last_reload_timestamp_seconds", "When the plugin's last load or reload was attempted.", "plugin"),
		pluginInfo:     n("plugin", "info", "The plugin version serving; always 1.", "plugin", "sha256", "abi"),
		pluginCounter:  n("plugin", "counter_total", "A plugin's own counter (counter_add), such as lookups, cache_hits, cache_misses, throttled_ip.", "plugin", "name"),
		storeErrors:    n("store", "errors_total", "Key-value store operations that failed for plugins (memcached down or slow)."),

		webRequests:  n("web", "requests_total", "HTTP requests answered, by listener, pool, backend and status class (1xx..5xx, other). Pool and backend are empty for requests answered without a backend (refused, redirected, none available); an empty pool with a backend is a route plugin's upstream.", "listener", "pool", "backend", "class"),
		webDuration:  n("web", "request_duration_seconds", "Time from a request's headers to the end of its response, by listener.", "listener"),
		webUpstream:  n("web", "upstream_duration_seconds", "Time from sending a request to a backend to its response headers, by pool (empty: route plugins' upstreams).", "pool"),
		webUpErrors:  n("web", "upstream_errors_total", "Failed attempts to a backend: connect failures, timeouts, protocol errors.", "pool", "backend"),
		webRetries:   n("web", "upstream_retries_total", "Attempts on another backend after a failed one, by pool.", "pool"),
		webBackendUp: n("web", "backend_up", "1 when the balancer would pick the backend now (not marked down by failures or its health check), else 0.", "pool", "backend"),
		webBytesIn:   n("web", "received_bytes_total", "Request body bytes sent upstream, by listener.", "listener"),
		webBytesOut:  n("web", "sent_bytes_total", "Response body bytes sent to clients, by listener.", "listener"),
		connRefused:  n("connections", "refused_total", "Client connections refused by a connection limit, by listener and reason: per_client (mail.limits.max_connections_per_client, web.max_connections_per_client), pre_login (mail.limits.max_prelogin), pre_request (web.max_pre_request), per_listener (max_connections), global (limits.max_sessions).", "listener", "reason"),
		connOpen:     n("connections", "open", "Client connections open now, by listener and state: pre_login (mail, not logged in yet), pre_request (web, no request yet) or established.", "listener", "state"),
		sessionsOpen: n("sessions", "open", "Mail sessions and web connections open now in the process, the count limits.max_sessions caps."),
		sessionsMax:  n("sessions", "max", "limits.max_sessions (0: no cap)."),
		webUpgrades:  n("web", "upgrades_total", "Responses 101 Switching Protocols (WebSocket upgrades), by listener.", "listener"),
		webFast:      n("web", "fast_path_requests_total", "Requests served on the fast path (no plugin wanted them), by listener.", "listener"),
		webLoop:      n("web", "event_loop_requests_total", "Fast-path requests served on an event loop (web.event_loop), by listener.", "listener"),
		webHandoffs:  n("web", "event_loop_handoffs_total", "Times an event loop handed a connection to a goroutine for a request or response it does not take, by listener.", "listener"),
		webTimeouts:  n("web", "timeouts_total", "Client connections closed (h2: streams reset) because the client took none of a response for web.send_timeout (kind send), and responses cut because the backend sent none of the rest of the body for web.upstream_read_timeout or a route's read_timeout (kind upstream_read), by listener.", "listener", "kind"),
		webReused:    n("web", "decisions_reused_total", "Requests that took a kept login, throttle and route decision instead of entering those plugins (decision reuse), by listener.", "listener"),

		configReloads:    n("config", "reloads_total", "Configuration reloads (SIGHUP or POST /reload) by result.", "result"),
		configLastReload: n("config", "last_reload_timestamp_seconds", "When the configuration was last reloaded (0: never)."),
		configLastOK:     n("config", "last_reload_success", "1 when the last configuration reload succeeded (or none was tried), else 0."),
	}
	c.lastOK.Store(true)
	c.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Namespace: Namespace, Subsystem: "plugin", Name: "call_duration_seconds",
		Help:    "Time of one hook or event call into a plugin, host-function waits included, by hook and result (ok or error).",
		Buckets: LatencyBuckets,
	}, []string{"plugin", "hook", "result"})
	return c
}

// Set replaces the sources read at scrape time.
func (c *Collector) Set(s Sources) { c.src.Store(&s) }

// ConfigReloaded records one configuration reload and its outcome.
func (c *Collector) ConfigReloaded(at time.Time, err error) {
	if err != nil {
		c.reloadsFail.Add(1)
	} else {
		c.reloadsOK.Add(1)
	}
	c.lastReload.Store(at.UnixNano())
	c.lastOK.Store(err == nil)
}

// ConfigReloads returns how many configuration reloads succeeded and
// failed since the Collector was created.
func (c *Collector) ConfigReloads() (ok, failed int64) {
	return c.reloadsOK.Load(), c.reloadsFail.Load()
}

// ObserveCall records the duration of one plugin call. Its signature is
// the one a plugin-runtime observer would have, so it can be passed as one
// directly; hook is "login", "throttle", "route", "rewrite" or an event
// name.
func (c *Collector) ObserveCall(plugin, hook string, d time.Duration, err error) {
	res := "ok"
	if err != nil {
		res = "error"
	}
	c.latency.WithLabelValues(plugin, hook, res).Observe(d.Seconds())
}

// ObserveHook is ObserveCall for a hook.
func (c *Collector) ObserveHook(plugin string, h abi.Hook, d time.Duration, err error) {
	c.ObserveCall(plugin, h.String(), d, err)
}

// Describe implements prometheus.Collector. Every series Collect sends
// has one of these descriptors; plugin names and counter names are label
// values, known only at scrape time.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.all() {
		ch <- d
	}
	c.latency.Describe(ch)
}

func (c *Collector) all() []*prometheus.Desc {
	d := &c.d
	return []*prometheus.Desc{d.build, d.mailConns, d.mailActive, d.mailLogins, d.mailUpstreamErr, d.mailBytes,
		d.calls, d.failures, d.timeouts, d.traps, d.badVerdicts, d.instantiations, d.recycled, d.shrunk, d.reloads,
		d.reloadFailures, d.rollbacks, d.logDropped, d.httpErrors, d.instances, d.maxInstances, d.pluginOK, d.lastReloadTime,
		d.pluginInfo, d.pluginCounter, d.storeErrors, d.configReloads, d.configLastReload, d.configLastOK,
		d.webRequests, d.webDuration, d.webUpstream, d.webUpErrors, d.webRetries, d.webBackendUp,
		d.webBytesIn, d.webBytesOut, d.webUpgrades, d.webFast, d.webReused, d.webLoop, d.webHandoffs, d.webTimeouts,
		d.connRefused, d.connOpen, d.sessionsOpen, d.sessionsMax}
}

// Collect implements prometheus.Collector: it reads every counter now.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	d := &c.d
	counter := func(desc *prometheus.Desc, v int64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.CounterValue, float64(v), labels...)
	}
	gauge := func(desc *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(desc, prometheus.GaugeValue, v, labels...)
	}
	gauge(d.build, 1, c.version, strconv.Itoa(abi.VersionMajor)+"."+strconv.Itoa(abi.VersionMinor))

	counter(d.configReloads, c.reloadsOK.Load(), "ok")
	counter(d.configReloads, c.reloadsFail.Load(), "error")
	var last float64
	if ns := c.lastReload.Load(); ns != 0 {
		last = float64(ns) / 1e9
	}
	gauge(d.configLastReload, last)
	gauge(d.configLastOK, b2f(c.lastOK.Load()))

	src := c.src.Load()
	if src == nil {
		c.latency.Collect(ch)
		return
	}
	if m := src.Mail; m != nil {
		st := m.Stats()
		gauge(d.mailActive, float64(st.Active.Load()))
		for _, p := range []struct {
			name string
			st   *mail.ProtoStats
		}{{mail.IMAP, &st.IMAP}, {mail.POP3, &st.POP3}} {
			counter(d.mailConns, p.st.Connections.Load(), p.name)
			counter(d.mailLogins, p.st.Logins.Load(), p.name, "ok")
			counter(d.mailLogins, p.st.AuthFailed.Load(), p.name, "auth_failed")
			counter(d.mailLogins, p.st.Throttled.Load(), p.name, "throttled")
			counter(d.mailLogins, p.st.Unavailable.Load(), p.name, "unavailable")
		}
		counter(d.mailUpstreamErr, st.UpstreamErr.Load())
		counter(d.mailBytes, st.BytesIn.Load(), "in")
		counter(d.mailBytes, st.BytesOut.Load(), "out")
	}
	if w := src.Web; w != nil {
		c.collectWeb(ch, w.Stats(), counter, gauge)
	}
	if r := src.Limits; r != nil {
		gauge(d.sessionsOpen, float64(r.Sessions()))
		gauge(d.sessionsMax, float64(r.MaxSessions()))
		for _, l := range r.Listeners() {
			early := l.EarlyLabel()
			for _, why := range connlimit.Reasons {
				counter(d.connRefused, l.Refused(why), l.Name(), why.Label(early))
			}
			conns, e := l.Open()
			gauge(d.connOpen, float64(e), l.Name(), early)
			gauge(d.connOpen, float64(conns-e), l.Name(), "established")
		}
	}
	if h := src.Plugins; h != nil {
		counter(d.storeErrors, h.StoreErrors())
		for _, p := range h.Plugins() {
			c.collectPlugin(ch, p, counter, gauge)
		}
	}
	c.latency.Collect(ch)
}

func (c *Collector) collectPlugin(ch chan<- prometheus.Metric, p *plugin.Plugin,
	counter func(*prometheus.Desc, int64, ...string), gauge func(*prometheus.Desc, float64, ...string)) {
	d := &c.d
	name := p.Name()
	st := p.Stats()
	counter(d.calls, st.Calls.Load(), name)
	for _, f := range st.FailuresBy() {
		counter(d.failures, f.N, name, f.Hook, f.Reason)
	}
	counter(d.timeouts, st.Timeouts.Load(), name)
	counter(d.traps, st.Traps.Load(), name)
	counter(d.badVerdicts, st.BadVerdicts.Load(), name)
	counter(d.instantiations, st.Instantiations.Load(), name)
	counter(d.recycled, st.Recycled.Load(), name)
	counter(d.shrunk, st.Shrunk.Load(), name)
	counter(d.reloads, st.Reloads.Load(), name)
	counter(d.reloadFailures, st.ReloadFailures.Load(), name)
	counter(d.rollbacks, st.Rollbacks.Load(), name)
	counter(d.logDropped, st.LogDropped.Load(), name)
	counter(d.httpErrors, st.HTTPErrors.Load(), name)
	in := p.Info()
	gauge(d.instances, float64(in.Instances), name)
	gauge(d.maxInstances, float64(in.MaxInst), name)
	gauge(d.pluginInfo, 1, name, in.SHA256, in.ABIVersion)
	if !in.LastReload.At.IsZero() {
		gauge(d.lastReloadTime, float64(in.LastReload.At.UnixNano())/1e9, name)
		gauge(d.pluginOK, b2f(in.LastReload.Err == nil), name)
	}
	for k, v := range in.Counters {
		counter(d.pluginCounter, v, name, k)
	}
}

func (c *Collector) collectWeb(ch chan<- prometheus.Metric, st web.Stats,
	counter func(*prometheus.Desc, int64, ...string), gauge func(*prometheus.Desc, float64, ...string)) {
	d := &c.d
	hist := func(desc *prometheus.Desc, h web.Histogram, label string) {
		b := make(map[float64]uint64, len(h.Buckets))
		for i, le := range h.Buckets {
			b[le] = h.Counts[i]
		}
		ch <- prometheus.MustNewConstHistogram(desc, h.Count, h.Sum, b, label)
	}
	for _, r := range st.Requests {
		counter(d.webRequests, r.N, r.Listener, r.Pool, r.Backend, r.Class)
	}
	for _, l := range st.Listeners {
		hist(d.webDuration, l.Duration, l.Name)
		counter(d.webBytesIn, l.BytesIn, l.Name)
		counter(d.webBytesOut, l.BytesOut, l.Name)
		counter(d.webUpgrades, l.Upgrades, l.Name)
		counter(d.webFast, l.FastPath, l.Name)
		counter(d.webReused, l.Reused, l.Name)
		counter(d.webLoop, l.EventLoop, l.Name)
		counter(d.webHandoffs, l.Handoffs, l.Name)
		counter(d.webTimeouts, l.SendTimeouts, l.Name, "send")
		counter(d.webTimeouts, l.ReadTimeouts, l.Name, "upstream_read")
	}
	for _, p := range st.Pools {
		hist(d.webUpstream, p.Upstream, p.Name)
		counter(d.webRetries, p.Retries, p.Name)
	}
	for _, b := range st.Backends {
		counter(d.webUpErrors, b.Errors, b.Pool, b.Backend)
		if b.Pool != "" {
			gauge(d.webBackendUp, b2f(b.Up), b.Pool, b.Backend)
		}
	}
}

func b2f(b bool) float64 {
	if b {
		return 1
	}
	return 0
}

// Registry returns a new registry holding c, the metrics plugins declared
// (PluginMetricPrefix), and the Go runtime and process collectors: what
// /metrics serves.
func Registry(c *Collector) *prometheus.Registry {
	r := prometheus.NewRegistry()
	r.MustRegister(c, &pluginMetrics{c: c}, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return r
}

var _ prometheus.Collector = (*Collector)(nil)
