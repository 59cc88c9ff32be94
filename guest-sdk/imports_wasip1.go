//go:build wasip1

package postern

import "unsafe"

// The host functions, exactly as abi.go declares them. Pointer parameters
// lower to i32 offsets into the guest's memory.

//go:wasmimport postern feature
func wasmFeature(name unsafe.Pointer, nameLen int32) int32

//go:wasmimport postern log
func wasmLog(level int32, msg unsafe.Pointer, msgLen int32)

//go:wasmimport postern config_get
func wasmConfigGet(buf unsafe.Pointer, limit int32) int32

//go:wasmimport postern field_get
func wasmFieldGet(field int32, buf unsafe.Pointer, limit int32) int32

//go:wasmimport postern field_set
func wasmFieldSet(field int32, val unsafe.Pointer, valLen int32) int32

//go:wasmimport postern field_get_key
func wasmFieldGetKey(field int32, key unsafe.Pointer, keyLen int32, buf unsafe.Pointer, limit int32) int32

//go:wasmimport postern field_set_key
func wasmFieldSetKey(field int32, key unsafe.Pointer, keyLen int32, val unsafe.Pointer, valLen int32) int32

//go:wasmimport postern field_delete_key
func wasmFieldDeleteKey(field int32, key unsafe.Pointer, keyLen int32) int32

//go:wasmimport postern kv_get
func wasmKVGet(key unsafe.Pointer, keyLen int32, buf unsafe.Pointer, limit int32) int32

//go:wasmimport postern kv_set
func wasmKVSet(key unsafe.Pointer, keyLen int32, val unsafe.Pointer, valLen int32, ttlSeconds int32) int32

//go:wasmimport postern kv_add
func wasmKVAdd(key unsafe.Pointer, keyLen int32, val unsafe.Pointer, valLen int32, ttlSeconds int32) int32

//go:wasmimport postern kv_incr
func wasmKVIncr(key unsafe.Pointer, keyLen int32, delta int64) int64

//go:wasmimport postern kv_delete
func wasmKVDelete(key unsafe.Pointer, keyLen int32) int32

//go:wasmimport postern kv_batch
func wasmKVBatch(ops unsafe.Pointer, opsLen int32, buf unsafe.Pointer, limit int32) int32

//go:wasmimport postern http_call
func wasmHTTPCall(method unsafe.Pointer, methodLen int32, url unsafe.Pointer, urlLen int32,
	headers unsafe.Pointer, headersLen int32, body unsafe.Pointer, bodyLen int32, timeoutMS int32) int32

//go:wasmimport postern http_response_get
func wasmHTTPResponseGet(part int32, buf unsafe.Pointer, limit int32) int32

//go:wasmimport postern clock_now
func wasmClockNow() int64

//go:wasmimport postern counter_add
func wasmCounterAdd(name unsafe.Pointer, nameLen int32, delta int64)

// p returns the address of b's first byte (nil for an empty slice, which
// the host accepts with a zero length).
func p(b []byte) unsafe.Pointer { return unsafe.Pointer(unsafe.SliceData(b)) }

// n returns b's length as the ABI's i32.
func n(b []byte) int32 { return int32(len(b)) }

func hostFeature(name []byte) int32           { return wasmFeature(p(name), n(name)) }
func hostLog(level int32, msg []byte)         { wasmLog(level, p(msg), n(msg)) }
func hostConfigGet(buf []byte) int32          { return wasmConfigGet(p(buf), n(buf)) }
func hostFieldGet(f int32, buf []byte) int32  { return wasmFieldGet(f, p(buf), n(buf)) }
func hostFieldSet(f int32, val []byte) int32  { return wasmFieldSet(f, p(val), n(val)) }
func hostKVDelete(key []byte) int32           { return wasmKVDelete(p(key), n(key)) }
func hostKVBatch(ops, buf []byte) int32       { return wasmKVBatch(p(ops), n(ops), p(buf), n(buf)) }
func hostClockNow() int64                     { return wasmClockNow() }
func hostCounterAdd(name []byte, delta int64) { wasmCounterAdd(p(name), n(name), delta) }
func hostHTTPResponseGet(part int32, buf []byte) int32 {
	return wasmHTTPResponseGet(part, p(buf), n(buf))
}
func hostFieldGetKey(f int32, key, buf []byte) int32 {
	return wasmFieldGetKey(f, p(key), n(key), p(buf), n(buf))
}
func hostFieldSetKey(f int32, key, val []byte) int32 {
	return wasmFieldSetKey(f, p(key), n(key), p(val), n(val))
}
func hostFieldDeleteKey(f int32, key []byte) int32 { return wasmFieldDeleteKey(f, p(key), n(key)) }
func hostKVGet(key, buf []byte) int32              { return wasmKVGet(p(key), n(key), p(buf), n(buf)) }
func hostKVSet(key, val []byte, ttl int32) int32 {
	return wasmKVSet(p(key), n(key), p(val), n(val), ttl)
}
func hostKVAdd(key, val []byte, ttl int32) int32 {
	return wasmKVAdd(p(key), n(key), p(val), n(val), ttl)
}
func hostKVIncr(key []byte, delta int64) int64 { return wasmKVIncr(p(key), n(key), delta) }
func hostHTTPCall(method, url, headers, body []byte, timeoutMS int32) int32 {
	return wasmHTTPCall(p(method), n(method), p(url), n(url), p(headers), n(headers), p(body), n(body), timeoutMS)
}
