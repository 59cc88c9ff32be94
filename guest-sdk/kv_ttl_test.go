package postern

import (
	"math"
	"testing"
	"time"
)

// TestTTLSeconds: rounded up to whole seconds, capped at 2^31-1, and no
// wrap-around near the largest Duration (which made every kv_add fail).
func TestTTLSeconds(t *testing.T) {
	for _, tc := range []struct {
		ttl  time.Duration
		want int32
	}{
		{0, 0}, {time.Nanosecond, 1}, {time.Second, 1}, {time.Second + 1, 2}, {time.Hour, 3600},
		{math.MaxInt64, 1<<31 - 1}, {math.MaxInt64 - time.Second + 2, 1<<31 - 1},
	} {
		if got, err := ttlSeconds(tc.ttl); err != nil || got != tc.want {
			t.Errorf("ttlSeconds(%v) = %d, %v; want %d", tc.ttl, got, err, tc.want)
		}
	}
	if _, err := ttlSeconds(-time.Second); err == nil {
		t.Error("a negative TTL was accepted")
	}
}
