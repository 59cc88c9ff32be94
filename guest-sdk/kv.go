package postern

import (
	"time"

	"github.com/postern/postern/abi"
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
