package postern

import (
	"slices"
	"unsafe"

	"github.com/postern/postern/abi"
)

// scratch is the buffer every string read goes through first. A guest is
// single-threaded, so one buffer serves all reads; it grows to the largest
// value read and is kept up to keepScratch bytes.
var scratch = make([]byte, 0, 512)

const keepScratch = abi.MaxFieldBytes

// appendRead appends the value that read copies out of the host ("buf,
// limit -> len") to dst. It offers dst's spare capacity first; when the
// value is larger it grows dst to the size the host reported and asks
// again, until the value fits (a value can change between calls, so it
// loops rather than trusting one probe).
func appendRead(dst []byte, read func(buf []byte) int32) ([]byte, error) {
	for {
		free := dst[len(dst):cap(dst)]
		r := read(free)
		if r < 0 {
			return dst, errOf(r)
		}
		if int(r) <= len(free) {
			return dst[:len(dst)+int(r)], nil
		}
		dst = slices.Grow(dst, int(r))
	}
}

// readString reads a value through scratch and returns it as a string.
func readString(read func(buf []byte) int32) (string, error) {
	b, err := appendRead(scratch[:0], read)
	keep(b)
	if err != nil {
		return "", err
	}
	return string(b), nil
}

// readBytes reads a value through scratch and returns a copy of it.
func readBytes(read func(buf []byte) int32) ([]byte, error) {
	b, err := appendRead(scratch[:0], read)
	keep(b)
	if err != nil {
		return nil, err
	}
	return append([]byte{}, b...), nil
}

// keep retains a grown scratch buffer unless it is very large.
func keep(b []byte) {
	if cap(b) > cap(scratch) && cap(b) <= keepScratch {
		scratch = b[:0]
	}
}

// bs views s as bytes without copying. The host only reads inputs, so
// this is safe for the duration of a host call.
func bs(s string) []byte { return unsafe.Slice(unsafe.StringData(s), len(s)) }

// status turns a host function's i32 result into an error.
func status(r int32) error {
	if r < 0 {
		return errOf(r)
	}
	return nil
}

// boxed holds the ABI's error codes already converted to error, so that a
// common miss (abi.ErrNotFound from the key-value store) does not allocate.
var boxed = func() (b [16]error) {
	for i := range b {
		b[i] = abi.Err(-i)
	}
	return b
}()

// errOf returns the negative host result r as an error.
func errOf(r int32) error {
	if r < 0 && r > -int32(len(boxed)) {
		return boxed[-r]
	}
	return abi.Err(r)
}
