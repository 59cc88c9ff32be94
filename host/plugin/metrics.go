package plugin

import (
	"context"
	"encoding/binary"
	"fmt"
	"log/slog"
	"math"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"unicode/utf8"

	"github.com/tetratelabs/wazero/api"

	"github.com/postern/postern/abi"
)

// Metric is one gauge or histogram a plugin declared in init with
// metric_declare (ABI 1.1, ABI.md "Plugin metrics"). Its value is updated
// lock-free by metric_gauge_set, metric_gauge_add and metric_observe, and
// read by the metrics exporter at scrape time.
//
// A reload whose init declares a metric identically (same kind, help and
// bounds) keeps the same Metric, so its value and counts carry over; a
// changed declaration starts a new Metric from zero.
type Metric struct {
	Kind   abi.MetricKind
	Name   string
	Help   string
	Bounds []float64 // histogram bucket upper bounds, increasing; nil for a gauge

	value  atomic.Uint64   // gauge: float64 bits
	counts []atomic.Uint64 // histogram: per bucket, not cumulative; the last is +Inf
	sum    atomic.Uint64   // histogram: float64 bits
}

// Value returns a gauge's current value.
func (m *Metric) Value() float64 { return math.Float64frombits(m.value.Load()) }

// Histogram returns a histogram's observation count, sum and cumulative
// count per bound (Prometheus' "le" buckets, +Inf excluded).
func (m *Metric) Histogram() (count uint64, sum float64, cumulative []uint64) {
	cumulative = make([]uint64, len(m.Bounds))
	for i := range m.counts {
		count += m.counts[i].Load()
		if i < len(cumulative) {
			cumulative[i] = count
		}
	}
	return count, math.Float64frombits(m.sum.Load()), cumulative
}

func (m *Metric) same(kind abi.MetricKind, help string, bounds []float64) bool {
	return m.Kind == kind && m.Help == help && slices.Equal(m.Bounds, bounds)
}

func addFloat(a *atomic.Uint64, d float64) {
	for {
		old := a.Load()
		if a.CompareAndSwap(old, math.Float64bits(math.Float64frombits(old)+d)) {
			return
		}
	}
}

func (m *Metric) observe(v float64) {
	i := sort.SearchFloat64s(m.Bounds, v) // first bound >= v: buckets are "le"
	m.counts[i].Add(1)
	addFloat(&m.sum, v)
}

// metricSet is a generation's declared metrics, indexed by id. Declaring
// copies the slice (rare: init only), so updates read it with one atomic
// load and no lock.
type metricSet struct {
	mu   sync.Mutex // serialises declarations (instances initialise concurrently)
	list atomic.Pointer[[]*Metric]
}

func (s *metricSet) load() []*Metric {
	if l := s.list.Load(); l != nil {
		return *l
	}
	return nil
}

// Metrics returns the metrics the serving version of the plugin declared,
// in declaration order.
func (p *Plugin) Metrics() []*Metric {
	if g := p.gen.Load(); g != nil {
		return g.metrics.load()
	}
	return nil
}

// previousMetric finds a metric of the plugin's serving version (or, for
// a plugin rebuilt by a configuration change, of the version it replaces)
// that an identical declaration may carry on.
func (p *Plugin) previousMetric(name string) *Metric {
	g := p.gen.Load()
	if prev := p.prev.Load(); g == nil && prev != nil {
		g = prev.gen.Load()
	}
	if g == nil {
		return nil
	}
	for _, m := range g.metrics.load() {
		if m.Name == name {
			return m
		}
	}
	return nil
}

func validMetricName(b []byte) bool {
	if len(b) == 0 || len(b) > abi.MaxMetricNameBytes {
		return false
	}
	for _, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

func validMetricHelp(b []byte) bool {
	if len(b) > abi.MaxMetricHelpBytes || !utf8.Valid(b) {
		return false
	}
	for _, c := range b {
		if c < ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// histogram series suffixes a name must not collide with.
var metricSuffixes = []string{"_bucket", "_sum", "_count"}

// collides reports whether name clashes with a series of an already
// declared histogram, or a histogram called name with an existing one.
func collides(list []*Metric, name string, kind abi.MetricKind) bool {
	for _, m := range list {
		for _, suf := range metricSuffixes {
			if m.Kind == abi.MetricHistogram && name == m.Name+suf {
				return true
			}
			if kind == abi.MetricHistogram && m.Name == name+suf {
				return true
			}
		}
	}
	return false
}

// declare registers a metric on the generation and returns its id.
func (g *generation) declare(kind abi.MetricKind, name, help string, bounds []float64) (int32, abi.Err, string) {
	s := &g.metrics
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.load()
	for i, m := range list {
		if m.Name == name {
			if m.same(kind, help, bounds) {
				return int32(i), 0, ""
			}
			return 0, abi.ErrExists, "declared twice with a different kind, help or bounds"
		}
	}
	if len(list) >= abi.MaxMetrics {
		return 0, abi.ErrTooLarge, fmt.Sprintf("more than %d metrics (abi.MaxMetrics)", abi.MaxMetrics)
	}
	if collides(list, name, kind) {
		return 0, abi.ErrExists, "collides with a histogram's _bucket, _sum or _count series"
	}
	m := g.p.previousMetric(name)
	if m == nil || !m.same(kind, help, bounds) {
		m = &Metric{Kind: kind, Name: name, Help: help, Bounds: bounds}
		if kind == abi.MetricHistogram {
			m.counts = make([]atomic.Uint64, len(bounds)+1)
		}
	}
	next := append(slices.Clip(list), m)
	s.list.Store(&next)
	return int32(len(list)), 0, ""
}

// hostMetricDeclare: metric_declare(kind, name, name_len, help, help_len,
// bounds, bounds_count) -> id or an error.
func hostMetricDeclare(ctx context.Context, _ api.Module, s []uint64) {
	in := instanceFrom(ctx)
	in.bounds("metric_declare", s[1], s[2], s[3], s[4])
	ptr, count := uint64(uint32(s[5])), uint64(uint32(s[6]))
	if size := uint64(in.mem.Size()); count > 0 && ptr+8*count > size {
		in.fault = fmt.Errorf("metric_declare: range [%d, %d) is outside the guest's %d-byte memory", ptr, ptr+8*count, size)
		panic(in.fault)
	}
	p := in.g.p
	// Logged once per reason (with the first metric refused for it): a
	// key per name would let a guest grow the host's memory with names.
	refuse := func(e abi.Err, name, why string) {
		p.logOnce("metric_declare:"+why, slog.LevelWarn, "metric_declare refused: "+why, "metric", name)
		s[0] = errResult(e)
	}
	if in.phase != abi.PhaseInit {
		refuse(abi.ErrNotAvailable, "", "called outside init (declare metrics in postern_init)")
		return
	}
	kind := abi.MetricKind(int32(s[0]))
	nameB := in.read(uint32(s[1]), uint32(s[2]), "metric name")
	name := string(nameB)
	if !validMetricName(nameB) {
		refuse(abi.ErrInvalid, strings.ToValidUTF8(name, "?"), fmt.Sprintf("name must be 1-%d of [a-z0-9_]", abi.MaxMetricNameBytes))
		return
	}
	help := in.read(uint32(s[3]), uint32(s[4]), "metric help")
	if !validMetricHelp(help) {
		refuse(abi.ErrInvalid, name, fmt.Sprintf("help must be at most %d bytes of UTF-8 without control characters", abi.MaxMetricHelpBytes))
		return
	}
	var bounds []float64
	switch kind {
	case abi.MetricGauge:
		if count != 0 {
			refuse(abi.ErrInvalid, name, "a gauge has no bucket bounds")
			return
		}
	case abi.MetricHistogram:
		if count == 0 {
			refuse(abi.ErrInvalid, name, "a histogram needs at least one bucket bound")
			return
		}
		if count > abi.MaxMetricBuckets {
			refuse(abi.ErrTooLarge, name, fmt.Sprintf("more than %d bucket bounds (abi.MaxMetricBuckets)", abi.MaxMetricBuckets))
			return
		}
		raw := in.read(uint32(ptr), uint32(8*count), "metric bounds")
		bounds = make([]float64, count)
		for i := range bounds {
			bounds[i] = math.Float64frombits(binary.LittleEndian.Uint64(raw[8*i:]))
			if math.IsNaN(bounds[i]) || math.IsInf(bounds[i], 0) || (i > 0 && bounds[i] <= bounds[i-1]) {
				refuse(abi.ErrInvalid, name, "bucket bounds must be finite and strictly increasing")
				return
			}
		}
	default:
		refuse(abi.ErrInvalid, name, "unknown kind (1 gauge, 2 histogram)")
		return
	}
	id, e, why := in.g.declare(kind, name, string(help), bounds)
	if e != 0 {
		refuse(e, name, why)
		return
	}
	s[0] = result(id)
}

type metricOp int

const (
	opGaugeSet metricOp = iota
	opGaugeAdd
	opObserve
)

// hostMetricUpdate: metric_gauge_set, metric_gauge_add, metric_observe
// (id, f64) -> 0 or ErrInvalid.
func hostMetricUpdate(ctx context.Context, s []uint64, op metricOp) {
	in := instanceFrom(ctx)
	id := int32(s[0])
	v := math.Float64frombits(s[1])
	list := in.g.metrics.load()
	if id < 0 || int(id) >= len(list) || math.IsNaN(v) || math.IsInf(v, 0) {
		s[0] = errResult(abi.ErrInvalid)
		return
	}
	m := list[id]
	switch {
	case op == opObserve && m.Kind == abi.MetricHistogram:
		m.observe(v)
	case op == opGaugeSet && m.Kind == abi.MetricGauge:
		m.value.Store(math.Float64bits(v))
	case op == opGaugeAdd && m.Kind == abi.MetricGauge:
		addFloat(&m.value, v)
	default:
		s[0] = errResult(abi.ErrInvalid) // a gauge observed, a histogram set
		return
	}
	s[0] = 0
}
