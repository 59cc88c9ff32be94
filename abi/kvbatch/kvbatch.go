// Package kvbatch is the wire format of the kv_batch host function (ABI
// 1.1, ABI.md "kv_batch"): several key-value operations in one call, which
// the host sends to memcached as one pipelined round trip.
//
// The host decodes requests with [Parse] and encodes results with
// [AppendResult]; a Go guest encodes with [AppendOp] and decodes with
// [NextResult]. A guest in another language needs only ABI.md. The package
// imports only the standard library and the abi package, and builds for
// wasip1.
//
// # Request
//
// Operations follow each other without padding; integers are little-endian:
//
//	op        u8   OpGet .. OpDelete
//	key_len   u8   1..250
//	key       key_len bytes
//	then, for OpIncr and OpDecr:  delta u64
//	      for OpSet and OpAdd:    ttl_seconds i32, value_len u32, value
//
// # Response
//
// First one i64 result per operation, in order (8 bytes each, so a buffer
// of 8 bytes per operation always holds every result), then the values of
// the gets that found their key, back to back in operation order. A
// result is the value's length for a get, the new count for incr and
// decr, 0 for set, add and delete, or a negative abi.Err.
package kvbatch

import (
	"encoding/binary"

	"github.com/postern/postern/abi"
)

// Operation codes.
const (
	OpGet    uint8 = 1
	OpSet    uint8 = 2
	OpAdd    uint8 = 3
	OpIncr   uint8 = 4
	OpDecr   uint8 = 5
	OpDelete uint8 = 6
)

// MaxOps is the most operations one kv_batch call may carry.
const MaxOps = 16

// Op is one decoded operation. Key and Value alias the request.
type Op struct {
	Code  uint8
	Key   []byte
	TTL   int32 // seconds, OpSet and OpAdd
	Value []byte
	Delta uint64 // OpIncr and OpDecr
}

// AppendOp appends op's encoding to dst. It does not validate: the host
// does, and refuses the whole batch when an operation is malformed.
func AppendOp(dst []byte, op Op) []byte {
	dst = append(dst, op.Code, byte(len(op.Key)))
	dst = append(dst, op.Key...)
	switch op.Code {
	case OpIncr, OpDecr:
		dst = binary.LittleEndian.AppendUint64(dst, op.Delta)
	case OpSet, OpAdd:
		dst = binary.LittleEndian.AppendUint32(dst, uint32(op.TTL))
		dst = binary.LittleEndian.AppendUint32(dst, uint32(len(op.Value)))
		dst = append(dst, op.Value...)
	}
	return dst
}

// Parse decodes a request into ops (reusing its backing array) and returns
// abi.ErrInvalid for an empty or malformed request, an unknown operation,
// a key of 0 or over abi.MaxKeyBytes bytes, a negative TTL or more than
// MaxOps operations, and abi.ErrTooLarge for a value over
// abi.MaxKVValueBytes. Key bytes are not checked here.
func Parse(req []byte, ops []Op) ([]Op, abi.Err) {
	ops = ops[:0]
	if len(req) == 0 {
		return ops, abi.ErrInvalid
	}
	for len(req) > 0 {
		if len(ops) == MaxOps || len(req) < 2 {
			return ops, abi.ErrInvalid
		}
		op := Op{Code: req[0]}
		k := int(req[1])
		req = req[2:]
		if k == 0 || k > abi.MaxKeyBytes || len(req) < k {
			return ops, abi.ErrInvalid
		}
		op.Key, req = req[:k], req[k:]
		switch op.Code {
		case OpGet, OpDelete:
		case OpIncr, OpDecr:
			if len(req) < 8 {
				return ops, abi.ErrInvalid
			}
			op.Delta, req = binary.LittleEndian.Uint64(req), req[8:]
		case OpSet, OpAdd:
			if len(req) < 8 {
				return ops, abi.ErrInvalid
			}
			op.TTL = int32(binary.LittleEndian.Uint32(req))
			n := binary.LittleEndian.Uint32(req[4:])
			req = req[8:]
			if op.TTL < 0 {
				return ops, abi.ErrInvalid
			}
			if n > abi.MaxKVValueBytes {
				return ops, abi.ErrTooLarge
			}
			if uint64(len(req)) < uint64(n) {
				return ops, abi.ErrInvalid
			}
			op.Value, req = req[:n], req[n:]
		default:
			return ops, abi.ErrInvalid
		}
		ops = append(ops, op)
	}
	return ops, 0
}

// AppendResults appends the response's result table: one i64 per
// operation. The values of the gets that found their key follow it.
func AppendResults(dst []byte, results []int64) []byte {
	for _, r := range results {
		dst = binary.LittleEndian.AppendUint64(dst, uint64(r))
	}
	return dst
}

// Response reads a response, one operation at a time, in order.
type Response struct {
	buf  []byte // what the guest's buffer received
	ops  int
	next int // next operation
	off  int // offset of the next get value
}

// NewResponse reads buf, the response to a batch of ops operations (only
// the part that fitted the guest's buffer).
func NewResponse(buf []byte, ops int) Response {
	return Response{buf: buf, ops: ops, off: 8 * ops}
}

// Next returns the next operation's result, and for a get that found its
// key (code OpGet and a result >= 0) its value. ok is false when that part
// of the response did not fit the buffer: the operation ran, but a get
// must be re-read (kv_get) and any other result is lost.
func (r *Response) Next(code uint8) (result int64, value []byte, ok bool) {
	i := r.next
	r.next++
	if i >= r.ops || len(r.buf) < 8*(i+1) {
		return 0, nil, false
	}
	result = int64(binary.LittleEndian.Uint64(r.buf[8*i:]))
	if code != OpGet || result < 0 {
		return result, nil, true
	}
	end := r.off + int(result)
	if result > int64(len(r.buf)) || end > len(r.buf) {
		r.off = len(r.buf) + 1 // every later value is cut too
		return result, nil, false
	}
	value, r.off = r.buf[r.off:end], end
	return result, value, true
}
