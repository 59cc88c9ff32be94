package kv

import (
	"context"
	"fmt"
	"time"
)

// OpKind is the operation of one [Op] in a batch.
type OpKind uint8

// The operations a batch may hold; each does what the [Store] method of the
// same name does.
const (
	OpGet    OpKind = iota + 1 // Get: Value is set on success
	OpSet                      // Set: Value and TTL are the input
	OpAdd                      // Add: Value and TTL are the input
	OpIncr                     // Incr: Delta is the input, N the new value
	OpDecr                     // Decr: subtracts Delta, stopping at 0 (memcached's decr); N the new value
	OpDelete                   // Delete
)

// String returns the operation's memcached command name.
func (k OpKind) String() string {
	switch k {
	case OpGet:
		return "get"
	case OpSet:
		return "set"
	case OpAdd:
		return "add"
	case OpIncr:
		return "incr"
	case OpDecr:
		return "decr"
	case OpDelete:
		return "delete"
	}
	return "unknown"
}

// Op is one operation of a batch: the inputs the caller fills, and the
// outputs [Do] fills (Value for OpGet, N for OpIncr and OpDecr, Err for
// every kind, with the errors of the matching Store method).
type Op struct {
	Kind  OpKind
	Key   string
	Value []byte
	TTL   time.Duration
	Delta uint64

	N   uint64
	Err error

	wire string // the key as sent (the store's key form)
}

// Batcher is a [Store] that runs several operations in one round trip per
// server: [Memcached] writes them as one pipelined request.
type Batcher interface {
	// Do runs ops in order and sets each one's outputs. Operations on
	// different keys are independent: one failing does not stop the
	// others, except that a store outage fails every operation still
	// waiting on that server.
	Do(ctx context.Context, ops []Op)
}

// Do runs ops on s in order and sets each one's outputs: in one round trip
// per server when s is a [Batcher], one call at a time otherwise.
func Do(ctx context.Context, s Store, ops []Op) {
	if b, ok := s.(Batcher); ok {
		b.Do(ctx, ops)
		return
	}
	for i := range ops {
		runOne(ctx, s, &ops[i])
	}
}

// runOne runs op with the Store's own methods.
func runOne(ctx context.Context, s Store, op *Op) {
	switch op.Kind {
	case OpGet:
		op.Value, op.Err = s.Get(ctx, op.Key)
	case OpSet:
		op.Err = s.Set(ctx, op.Key, op.Value, op.TTL)
	case OpAdd:
		op.Err = s.Add(ctx, op.Key, op.Value, op.TTL)
	case OpIncr:
		op.N, op.Err = s.Incr(ctx, op.Key, op.Delta)
	case OpDecr:
		op.N, op.Err = s.Decr(ctx, op.Key, op.Delta)
	case OpDelete:
		op.Err = s.Delete(ctx, op.Key)
	default:
		op.Err = errBadOp
	}
}

var errBadOp = fmt.Errorf("%w: unknown batch operation", ErrInvalidKey)
