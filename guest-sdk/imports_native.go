//go:build !wasip1

package postern

import "github.com/postern/postern/guest-sdk/internal/native"

// Natively every host function goes to the fake host sdktest installs.

func hostFeature(name []byte) int32           { return native.Current().Feature(name) }
func hostLog(level int32, msg []byte)         { native.Current().Log(level, msg) }
func hostConfigGet(buf []byte) int32          { return native.Current().ConfigGet(buf) }
func hostFieldGet(f int32, buf []byte) int32  { return native.Current().FieldGet(f, buf) }
func hostFieldSet(f int32, val []byte) int32  { return native.Current().FieldSet(f, val) }
func hostKVDelete(key []byte) int32           { return native.Current().KVDelete(key) }
func hostClockNow() int64                     { return native.Current().ClockNow() }
func hostCounterAdd(name []byte, delta int64) { native.Current().CounterAdd(name, delta) }
func hostHTTPResponseGet(part int32, buf []byte) int32 {
	return native.Current().HTTPResponseGet(part, buf)
}
func hostFieldGetKey(f int32, key, buf []byte) int32 {
	return native.Current().FieldGetKey(f, key, buf)
}
func hostFieldSetKey(f int32, key, val []byte) int32 {
	return native.Current().FieldSetKey(f, key, val)
}
func hostFieldDeleteKey(f int32, key []byte) int32 { return native.Current().FieldDeleteKey(f, key) }
func hostKVGet(key, buf []byte) int32              { return native.Current().KVGet(key, buf) }
func hostKVSet(key, val []byte, ttl int32) int32   { return native.Current().KVSet(key, val, ttl) }
func hostKVAdd(key, val []byte, ttl int32) int32   { return native.Current().KVAdd(key, val, ttl) }
func hostKVIncr(key []byte, delta int64) int64     { return native.Current().KVIncr(key, delta) }
func hostKVBatch(ops, buf []byte) int32            { return native.Current().KVBatch(ops, buf) }
func hostHTTPCall(method, url, headers, body []byte, timeoutMS int32) int32 {
	return native.Current().HTTPCall(method, url, headers, body, timeoutMS)
}
