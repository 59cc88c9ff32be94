//go:build !wasip1

package postern

import "github.com/postern/postern/guest-sdk/internal/native"

func hostMetricDeclare(kind int32, name, help []byte, bounds []float64) int32 {
	return native.Current().MetricDeclare(kind, name, help, bounds)
}
func hostMetricGaugeSet(id int32, v float64) int32 { return native.Current().MetricGaugeSet(id, v) }
func hostMetricGaugeAdd(id int32, v float64) int32 { return native.Current().MetricGaugeAdd(id, v) }
func hostMetricObserve(id int32, v float64) int32  { return native.Current().MetricObserve(id, v) }
