package postern

import (
	"fmt"
	"time"

	"github.com/postern/postern/abi"
)

// Config returns the plugin's configuration: the JSON bytes the operator
// wrote for it, empty when none. It is the same for the whole life of an
// instance (a reload makes new instances); [OnInit] functions receive it.
func Config() []byte {
	b, _ := readBytes(hostConfigGet)
	return b
}

// Log writes one line to the host's log at level. Lines are rate-limited
// per plugin and cut to abi.MaxLogBytes by the host.
func Log(level abi.Level, msg string) { hostLog(int32(level), bs(msg)) }

// Debugf logs a formatted line at abi.LevelDebug.
func Debugf(format string, args ...any) { Log(abi.LevelDebug, fmt.Sprintf(format, args...)) }

// Infof logs a formatted line at abi.LevelInfo.
func Infof(format string, args ...any) { Log(abi.LevelInfo, fmt.Sprintf(format, args...)) }

// Warnf logs a formatted line at abi.LevelWarn.
func Warnf(format string, args ...any) { Log(abi.LevelWarn, fmt.Sprintf(format, args...)) }

// Errorf logs a formatted line at abi.LevelError. It returns nothing: the
// host keeps serving, so say in the line what the operator should do.
func Errorf(format string, args ...any) { Log(abi.LevelError, fmt.Sprintf(format, args...)) }

// Now is the host's wall clock.
func Now() time.Time { return time.Unix(0, hostClockNow()) }

// CounterAdd adds delta to the plugin's named counter, which the host
// exports as a metric labelled with the plugin's name. Names are
// [a-z0-9_]{1,64}; the host ignores others and logs it once.
func CounterAdd(name string, delta int64) { hostCounterAdd(bs(name), delta) }

// HasFeature reports whether the host implements a feature (abi.Feature*),
// such as a shared key-value store or configured outbound HTTP.
func HasFeature(name string) bool { return hostFeature(bs(name)) == 1 }
