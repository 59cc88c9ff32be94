package postern

import (
	"fmt"
	"time"

	"github.com/postern/postern/abi"
)

// Plugin-defined metrics (ABI 1.1, feature abi.FeatureMetrics). A plugin
// declares its gauges and histograms from an [OnInit] function; the host
// exports them on /metrics as postern_plugin_metric_<name>, labelled with
// the plugin's name, with the help text given here. Declaring again with
// the same arguments (every instance runs init) returns the same metric.
// A reload that declares a metric identically keeps its value; a changed
// declaration starts it from zero.
//
// Names are [a-z0-9_]{1,64} (abi.MaxMetricNameBytes), help at most
// abi.MaxMetricHelpBytes bytes without control characters, at most
// abi.MaxMetrics metrics per plugin and abi.MaxMetricBuckets bucket
// bounds per histogram. Return the error from OnInit: the load fails with
// a message that names the metric and the rule it broke.

// Gauge is a declared gauge. The zero value does nothing.
type Gauge struct{ id int32 } // id+1; 0: not declared

// Histogram is a declared histogram. The zero value does nothing.
type Histogram struct{ id int32 } // id+1; 0: not declared

// NewGauge declares a gauge. Call it in init only (abi.ErrNotAvailable
// elsewhere).
func NewGauge(name, help string) (Gauge, error) {
	id, err := declare(abi.MetricGauge, name, help, nil)
	return Gauge{id}, err
}

// NewHistogram declares a histogram with the given bucket upper bounds
// (finite, strictly increasing; an implicit +Inf bucket follows). Call it
// in init only.
func NewHistogram(name, help string, bounds []float64) (Histogram, error) {
	id, err := declare(abi.MetricHistogram, name, help, bounds)
	return Histogram{id}, err
}

func declare(kind abi.MetricKind, name, help string, bounds []float64) (int32, error) {
	r := hostMetricDeclare(int32(kind), bs(name), bs(help), bounds)
	if r < 0 {
		why := ""
		switch abi.Err(r) {
		case abi.ErrNotAvailable:
			why = "metrics are declared in init only"
		case abi.ErrInvalid:
			why = fmt.Sprintf("name must be 1-%d of [a-z0-9_], help at most %d bytes without control characters, histogram bounds finite and increasing",
				abi.MaxMetricNameBytes, abi.MaxMetricHelpBytes)
		case abi.ErrTooLarge:
			why = fmt.Sprintf("at most %d metrics per plugin and %d bounds per histogram", abi.MaxMetrics, abi.MaxMetricBuckets)
		case abi.ErrExists:
			why = "already declared differently, or it collides with a histogram's _bucket/_sum/_count"
		case abi.ErrUnknownField, abi.ErrDenied:
		}
		return 0, fmt.Errorf("metric %q: %w (%s)", name, errOf(r), why)
	}
	return r + 1, nil
}

// Set sets the gauge's value.
func (g Gauge) Set(v float64) {
	if g.id > 0 {
		hostMetricGaugeSet(g.id-1, v)
	}
}

// Add adds delta (which may be negative) to the gauge.
func (g Gauge) Add(delta float64) {
	if g.id > 0 {
		hostMetricGaugeAdd(g.id-1, delta)
	}
}

// Observe records one observation.
func (h Histogram) Observe(v float64) {
	if h.id > 0 {
		hostMetricObserve(h.id-1, v)
	}
}

// ObserveDuration records d in seconds, the unit Prometheus expects.
func (h Histogram) ObserveDuration(d time.Duration) { h.Observe(d.Seconds()) }
