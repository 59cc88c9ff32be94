package postern

import (
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/abi/kvbatch"
)

// KVGet returns the value stored under key, or abi.ErrNotFound.
func KVGet(key string) ([]byte, error) {
	return readBytes(func(buf []byte) int32 { return hostKVGet(bs(key), buf) })
}

// KVSet stores val under key unconditionally. A ttl of 0 keeps it until
// evicted; otherwise it expires after ttl, rounded up to whole seconds.
func KVSet(key string, val []byte, ttl time.Duration) error {
	s, err := ttlSeconds(ttl)
	if err != nil {
		return err
	}
	return status(hostKVSet(bs(key), val, s))
}

// KVAdd stores val under key only if the key is absent; abi.ErrExists
// when it is present.
func KVAdd(key string, val []byte, ttl time.Duration) error {
	s, err := ttlSeconds(ttl)
	if err != nil {
		return err
	}
	return status(hostKVAdd(bs(key), val, s))
}

// KVIncr adds delta to the decimal counter under key and returns the new
// value. It returns abi.ErrNotFound when the key is absent: KVAdd "0" (or
// the first value) and, if that returns abi.ErrExists because another
// instance won the race, KVIncr again.
func KVIncr(key string, delta uint64) (uint64, error) {
	if delta > 1<<63-1 {
		return 0, abi.ErrInvalid
	}
	r := hostKVIncr(bs(key), int64(delta))
	if r < 0 {
		return 0, errOf(int32(r))
	}
	return uint64(r), nil
}

// KVDelete removes key; abi.ErrNotFound when it was absent.
func KVDelete(key string) error { return status(hostKVDelete(bs(key))) }

// KVOpKind is the operation of one [KVOp].
type KVOpKind uint8

// The operations of a [KVBatch]; each does what the function of the same
// name does (KVOpDecr: memcached's decr, which stops at 0).
const (
	KVOpGet    = KVOpKind(kvbatch.OpGet)
	KVOpSet    = KVOpKind(kvbatch.OpSet)
	KVOpAdd    = KVOpKind(kvbatch.OpAdd)
	KVOpIncr   = KVOpKind(kvbatch.OpIncr)
	KVOpDecr   = KVOpKind(kvbatch.OpDecr)
	KVOpDelete = KVOpKind(kvbatch.OpDelete)
)

// KVOp is one operation of a [KVBatch]: Op, Key and the inputs its kind
// needs (Value and TTL for set and add, Delta for incr and decr), then the
// outputs KVBatch fills: Value for a get, N for incr and decr, Err for all
// (the errors of the matching single function).
type KVOp struct {
	Op    KVOpKind
	Key   string
	Value []byte
	TTL   time.Duration
	Delta uint64

	N   uint64
	Err error
}

// MaxKVBatch is the most operations one [KVBatch] may carry.
const MaxKVBatch = kvbatch.MaxOps

// KVBatch runs up to MaxKVBatch operations in one host call; with
// memcached they cost one round trip instead of one each (ABI 1.1,
// "kv_batch"). Operations run in order and independently: each gets its
// own result. KVBatch returns an error, and runs nothing, only for a batch
// that is empty, too long, or holds a negative TTL or an oversized value.
func KVBatch(ops []KVOp) error {
	if len(ops) == 0 || len(ops) > MaxKVBatch {
		return abi.ErrInvalid
	}
	var req []byte
	size := 0
	for i := range ops {
		op := &ops[i]
		if len(op.Key) == 0 || len(op.Key) > abi.MaxKeyBytes {
			return abi.ErrInvalid
		}
		o := kvbatch.Op{Code: uint8(op.Op), Key: bs(op.Key), Delta: op.Delta}
		switch op.Op {
		case KVOpSet, KVOpAdd:
			s, err := ttlSeconds(op.TTL)
			if err != nil {
				return err
			}
			o.TTL, o.Value = s, op.Value
		case KVOpIncr, KVOpDecr:
			if op.Delta > 1<<63-1 {
				return abi.ErrInvalid
			}
		}
		req = kvbatch.AppendOp(req, o)
		size += 8
	}
	buf := make([]byte, size+4096)
	n := hostKVBatch(req, buf)
	if n < 0 {
		return errOf(n)
	}
	resp := kvbatch.NewResponse(buf[:min(int(n), len(buf))], len(ops))
	for i := range ops {
		op := &ops[i]
		r, v, ok := resp.Next(uint8(op.Op))
		switch {
		case !ok:
			// Only a get's value can be cut (the buffer always holds
			// every result): read it again.
			op.Value, op.Err = KVGet(op.Key)
			continue
		case r < 0:
			op.Err = errOf(int32(r))
			continue
		}
		op.Err = nil
		switch op.Op {
		case KVOpGet:
			op.Value = append([]byte(nil), v...)
		case KVOpIncr, KVOpDecr:
			op.N = uint64(r)
		}
	}
	return nil
}

func ttlSeconds(ttl time.Duration) (int32, error) {
	if ttl < 0 {
		return 0, abi.ErrInvalid
	}
	s := ttl / time.Second
	if ttl%time.Second != 0 {
		s++ // round up, without adding to ttl (near the largest Duration it would wrap)
	}
	if s > 1<<31-1 {
		s = 1<<31 - 1
	}
	return int32(s), nil
}
