// Package kv is the key-value store behind the kv_get, kv_set, kv_add,
// kv_incr and kv_delete host functions that plugins call.
//
// Two implementations share one contract, [Store]: [Memory], kept in the
// proxy's own process, and [Memcached], shared by every proxy that points at
// the same memcached servers (route caches and login throttles need this).
// Both follow memcached's semantics, so a plugin behaves the same on either:
// keys are at most 250 bytes without spaces or control characters, values at
// most 1 MiB, Add fails on an existing key, Incr works on decimal values and
// wraps at 2^64.
//
// The package must not interpret keys or values, log them (they may hold
// logins), or retry on its own: the caller decides, for instance the throttle
// fails open when the store is unavailable.
package kv

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// MaxKeySize is the longest key, in bytes, that memcached accepts.
const MaxKeySize = 250

// MaxValueSize is the largest value, in bytes, a Store accepts.
//
// memcached's default item size limit is also 1 MiB but counts the key and
// item header too, so a value just under this size may still be refused by a
// memcached server with [ErrTooLarge].
const MaxValueSize = 1 << 20

// Errors returned by a Store. Test for them with errors.Is: they are often
// wrapped with details.
var (
	// ErrNotFound means the key does not exist or has expired.
	ErrNotFound = errors.New("kv: key not found")
	// ErrExists means Add found the key already present.
	ErrExists = errors.New("kv: key already exists")
	// ErrUnavailable means the store could not be reached or answered
	// with a server error; the operation may or may not have happened.
	ErrUnavailable = errors.New("kv: store unavailable")
	// ErrInvalidKey means the key is empty, longer than MaxKeySize or
	// contains a space or control character.
	ErrInvalidKey = errors.New("kv: invalid key")
	// ErrTooLarge means the value is larger than the store accepts.
	ErrTooLarge = errors.New("kv: value too large")
	// ErrNotNumeric means Incr found a value that is not a decimal
	// unsigned 64-bit number.
	ErrNotNumeric = errors.New("kv: value is not a decimal number")
)

// Store is a key-value store with memcached's semantics.
//
// Store is safe for concurrent use. A ttl of 0 means no expiry; a negative
// ttl stores an item that has already expired. Values passed in and returned
// are not retained or shared: callers may modify them.
//
// # Errors
//
// Every method may return [ErrUnavailable] (always for a closed Store),
// [ErrInvalidKey], or the context's error when ctx is done before the call.
type Store interface {
	// Get returns the value of key, or ErrNotFound.
	Get(ctx context.Context, key string) ([]byte, error)
	// Set stores value under key, replacing any existing value.
	// It returns ErrTooLarge for a value over MaxValueSize.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Add stores value under key only if key does not exist, else it
	// returns ErrExists. It returns ErrTooLarge for a value over
	// MaxValueSize.
	Add(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Incr adds delta to the decimal number stored under key and returns
	// the new value, wrapping at 2^64. It returns ErrNotFound for a
	// missing key and ErrNotNumeric for a value that is not a number. The
	// item's TTL is unchanged.
	Incr(ctx context.Context, key string, delta uint64) (uint64, error)
	// Decr subtracts delta from the decimal number stored under key,
	// stopping at 0 (memcached's decr), and returns the new value. Its
	// errors are Incr's.
	Decr(ctx context.Context, key string, delta uint64) (uint64, error)
	// Delete removes key, or returns ErrNotFound.
	Delete(ctx context.Context, key string) error
	// Shared reports whether other processes see the same data, as with
	// memcached, so that counters and caches are global.
	Shared() bool
	// Close releases the store's resources. Later calls return
	// ErrUnavailable.
	Close() error
}

// ValidKey returns nil if memcached accepts key, else an error wrapping
// [ErrInvalidKey] that says why: a key must be 1 to 250 bytes with no space,
// control character or DEL.
func ValidKey(key string) error {
	if key == "" {
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	}
	if len(key) > MaxKeySize {
		return fmt.Errorf("%w: %d bytes, the limit is %d; hash long keys (for example sha256 of the login)",
			ErrInvalidKey, len(key), MaxKeySize)
	}
	for i := 0; i < len(key); i++ {
		if c := key[i]; c <= ' ' || c == 0x7f {
			return fmt.Errorf("%w: byte %#02x at offset %d; escape spaces and control characters", ErrInvalidKey, c, i)
		}
	}
	return nil
}

// checkValue returns ErrTooLarge, wrapped, if value is over MaxValueSize.
func checkValue(value []byte) error {
	if len(value) > MaxValueSize {
		return fmt.Errorf("%w: %d bytes, the limit is %d", ErrTooLarge, len(value), MaxValueSize)
	}
	return nil
}

// parseCounter parses a value for Incr the way memcached does: a decimal
// unsigned 64-bit number, possibly followed by the spaces memcached pads
// with when a number shrinks in place.
func parseCounter(value []byte) (uint64, bool) {
	end := len(value)
	for end > 0 && value[end-1] == ' ' {
		end--
	}
	if end == 0 {
		return 0, false
	}
	for _, c := range value[:end] {
		if c < '0' || c > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseUint(string(value[:end]), 10, 64)
	if err != nil {
		return 0, false
	}
	return n, true
}

// unavailable wraps a transport failure so that both ErrUnavailable and the
// cause match errors.Is.
func unavailable(op, where string, cause error, hint string) error {
	return fmt.Errorf("kv: %s on %s: %w: %w; %s", op, where, ErrUnavailable, cause, hint)
}
