//go:build wasip1

package postern

import "unsafe"

//go:wasmimport postern metric_declare
func wasmMetricDeclare(kind int32, name unsafe.Pointer, nameLen int32, help unsafe.Pointer, helpLen int32,
	bounds unsafe.Pointer, boundsCount int32) int32

//go:wasmimport postern metric_gauge_set
func wasmMetricGaugeSet(id int32, v float64) int32

//go:wasmimport postern metric_gauge_add
func wasmMetricGaugeAdd(id int32, v float64) int32

//go:wasmimport postern metric_observe
func wasmMetricObserve(id int32, v float64) int32

// WebAssembly is little-endian, so a []float64 is the ABI's array of
// little-endian f64 bounds as it is.
func hostMetricDeclare(kind int32, name, help []byte, bounds []float64) int32 {
	return wasmMetricDeclare(kind, p(name), n(name), p(help), n(help),
		unsafe.Pointer(unsafe.SliceData(bounds)), int32(len(bounds)))
}
func hostMetricGaugeSet(id int32, v float64) int32 { return wasmMetricGaugeSet(id, v) }
func hostMetricGaugeAdd(id int32, v float64) int32 { return wasmMetricGaugeAdd(id, v) }
func hostMetricObserve(id int32, v float64) int32  { return wasmMetricObserve(id, v) }
