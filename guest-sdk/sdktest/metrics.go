package sdktest

import (
	"math"
	"slices"
	"unicode/utf8"

	"github.com/postern/postern/abi"
)

// Metric is a gauge or histogram the plugin declared (ABI 1.1
// metric_declare), as Host.Metrics holds it by name.
type Metric struct {
	Kind   abi.MetricKind
	Help   string
	Bounds []float64
	// Value is a gauge's value.
	Value float64
	// Observations are a histogram's observations, in order.
	Observations []float64

	id int32
}

func (h *calls) metricByID(id int32) *Metric {
	for _, m := range h.Metrics {
		if m.id == id {
			return m
		}
	}
	return nil
}

// MetricDeclare implements metric_declare with the host's rules.
func (h *calls) MetricDeclare(kind int32, name, help []byte, bounds []float64) int32 {
	if h.Phase != abi.PhaseInit {
		return int32(abi.ErrNotAvailable)
	}
	if len(name) == 0 || len(name) > abi.MaxMetricNameBytes || !utf8.Valid(help) || len(help) > abi.MaxMetricHelpBytes {
		return int32(abi.ErrInvalid)
	}
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			return int32(abi.ErrInvalid)
		}
	}
	for _, c := range help {
		if c < ' ' || c == 0x7f {
			return int32(abi.ErrInvalid)
		}
	}
	switch abi.MetricKind(kind) {
	case abi.MetricGauge:
		if len(bounds) != 0 {
			return int32(abi.ErrInvalid)
		}
	case abi.MetricHistogram:
		if len(bounds) == 0 {
			return int32(abi.ErrInvalid)
		}
		if len(bounds) > abi.MaxMetricBuckets {
			return int32(abi.ErrTooLarge)
		}
		for i, b := range bounds {
			if math.IsNaN(b) || math.IsInf(b, 0) || (i > 0 && b <= bounds[i-1]) {
				return int32(abi.ErrInvalid)
			}
		}
	default:
		return int32(abi.ErrInvalid)
	}
	if m, ok := h.Metrics[string(name)]; ok {
		if m.Kind == abi.MetricKind(kind) && m.Help == string(help) && slices.Equal(m.Bounds, bounds) {
			return m.id
		}
		return int32(abi.ErrExists)
	}
	if len(h.Metrics) >= abi.MaxMetrics {
		return int32(abi.ErrTooLarge)
	}
	for other, m := range h.Metrics {
		for _, suf := range []string{"_bucket", "_sum", "_count"} {
			if (m.Kind == abi.MetricHistogram && string(name) == other+suf) ||
				(abi.MetricKind(kind) == abi.MetricHistogram && other == string(name)+suf) {
				return int32(abi.ErrExists)
			}
		}
	}
	m := &Metric{Kind: abi.MetricKind(kind), Help: string(help), Bounds: slices.Clone(bounds), id: int32(len(h.Metrics))}
	h.Metrics[string(name)] = m
	return m.id
}

func (h *calls) metricUpdate(id int32, v float64, kind abi.MetricKind) *Metric {
	m := h.metricByID(id)
	if m == nil || m.Kind != kind || math.IsNaN(v) || math.IsInf(v, 0) {
		return nil
	}
	return m
}

// MetricGaugeSet implements metric_gauge_set.
func (h *calls) MetricGaugeSet(id int32, v float64) int32 {
	m := h.metricUpdate(id, v, abi.MetricGauge)
	if m == nil {
		return int32(abi.ErrInvalid)
	}
	m.Value = v
	return 0
}

// MetricGaugeAdd implements metric_gauge_add.
func (h *calls) MetricGaugeAdd(id int32, v float64) int32 {
	m := h.metricUpdate(id, v, abi.MetricGauge)
	if m == nil {
		return int32(abi.ErrInvalid)
	}
	m.Value += v
	return 0
}

// MetricObserve implements metric_observe.
func (h *calls) MetricObserve(id int32, v float64) int32 {
	m := h.metricUpdate(id, v, abi.MetricHistogram)
	if m == nil {
		return int32(abi.ErrInvalid)
	}
	m.Observations = append(m.Observations, v)
	return 0
}
