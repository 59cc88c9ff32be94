// Package native is the seam between the SDK's host calls and a fake host
// when the SDK is compiled for the machine running the tests instead of
// GOOS=wasip1. The SDK's !wasip1 build forwards every host function to the
// installed Host; sdktest installs one.
//
// The methods mirror the ABI's host functions one to one, with Go slices
// standing for (pointer, length) pairs: a buf's length is the limit, the
// host copies min(len, limit) bytes into it and returns the full length.
// Input slices may alias the guest's strings: a Host must not modify or
// retain them.
package native

// Host is a fake Postern host. Results follow the ABI exactly: lengths,
// or negative abi.Err values.
type Host interface {
	Feature(name []byte) int32
	Log(level int32, msg []byte)
	ConfigGet(buf []byte) int32
	FieldGet(field int32, buf []byte) int32
	FieldSet(field int32, val []byte) int32
	FieldGetKey(field int32, key, buf []byte) int32
	FieldSetKey(field int32, key, val []byte) int32
	FieldDeleteKey(field int32, key []byte) int32
	KVGet(key, buf []byte) int32
	KVSet(key, val []byte, ttlSeconds int32) int32
	KVAdd(key, val []byte, ttlSeconds int32) int32
	KVIncr(key []byte, delta int64) int64
	KVDelete(key []byte) int32
	KVBatch(ops, buf []byte) int32
	HTTPCall(method, url, headers, body []byte, timeoutMS int32) int32
	HTTPResponseGet(part int32, buf []byte) int32
	ClockNow() int64
	CounterAdd(name []byte, delta int64)
	// ABI 1.1 plugin metrics; bounds stands for the (pointer, count) pair
	// of little-endian f64 values.
	MetricDeclare(kind int32, name, help []byte, bounds []float64) int32
	MetricGaugeSet(id int32, v float64) int32
	MetricGaugeAdd(id int32, v float64) int32
	MetricObserve(id int32, v float64) int32
}

var current Host

// Install makes h the host the SDK talks to and returns the previous one
// (nil when none was installed) so a caller can restore it.
func Install(h Host) (prev Host) {
	prev, current = current, h
	return prev
}

// Current returns the installed host. Without one it panics with a message
// that says how to get one: the SDK cannot work without a host.
func Current() Host {
	if current == nil {
		panic("postern: no host installed; in a native test call sdktest.New(t) first, " +
			"or build the plugin with GOOS=wasip1 GOARCH=wasm")
	}
	return current
}
