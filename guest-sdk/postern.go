// Package postern is the Go SDK for Postern plugins: sandboxed WebAssembly
// modules that decide who a client is, whether it may log in now, which
// upstream serves it and how an HTTP request is rewritten.
//
// A plugin is a main package built with the standard toolchain:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared -o plugin.wasm .
//
// It registers its handlers from a func init (with -buildmode=c-shared the
// host runs package initialisers but never main.main): hooks through the
// Handle function of hook/login, hook/throttle, hook/route or hook/rewrite,
// events through event/routedecided or event/loginfailed, and setup
// through [OnInit]. A plugin serves exactly the hooks whose subpackage it
// imports, because only those subpackages export the hook's function.
//
// Handlers read and write the hook's state through [Get], [Set] and the
// typed accessors ([Login], [SetUpstreams], ...), call out through [KVGet],
// [HTTPDo] and friends, and answer with a [Verdict]. Which fields a hook may
// read or write is abi.Access; a mistake comes back as abi.ErrNotAvailable
// or abi.ErrReadOnly, both natively under sdktest and in the real host.
//
// Built for any other GOOS the package talks to the fake host of package
// sdktest instead, so plugin logic is unit tested with plain go test.
//
// # Key-value store
//
// [KVGet], [KVSet], [KVAdd], [KVIncr] and [KVDelete] reach a store shared
// by every instance of the plugin (and, with abi.FeatureKVShared, by every
// node through memcached). Keys are 1 to abi.MaxKeyBytes bytes without
// spaces or control characters, values at most abi.MaxKVValueBytes. When
// the store cannot be reached they return abi.ErrUnavailable: treat it as
// a miss and go on, do not fail the login for it.
//
// # Errors
//
// Every error the SDK returns for a host failure is an abi.Err, so callers
// test it with errors.Is(err, abi.ErrNotFound) or compare it directly.
//
// # Handlers run to completion
//
// A handler runs synchronously inside one export call, and host calls are
// its only I/O. It should not wait for goroutines or channels (with
// nothing else to run, the Go runtime aborts with a deadlock) nor sleep
// (a sleep holds the host's call and counts against its deadline): ask for
// a delay with [SetDelay] or [Retry] instead.
//
// # Panics
//
// A handler's panic is not recovered. In the guest it ends the call with a
// trap; the host counts it, discards the instance and applies the plugin's
// failure policy. Natively the panic reaches the test.
package postern

import (
	"strconv"
	"time"
	"unicode/utf8"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/internal/registry"
)

// Verdict is what a hook handler returns; it is abi.Verdict, so the
// constants of package abi work too.
type Verdict = abi.Verdict

// The verdicts that carry no data. See [Refuse], [TempFail] and [Retry] for
// the others.
const (
	// Continue: no opinion, or a partial change; the next plugin of the
	// hook runs, then the built-in default.
	Continue Verdict = abi.VerdictContinue
	// Done: this plugin decided; no later plugin of the hook runs and the
	// fields as they are now are the hook's result.
	Done Verdict = abi.VerdictDone
)

// Refuse sets the message the client sees (IMAP NO, POP3 -ERR, HTTP 403,
// or 429 from the throttle hook) and returns the refuse verdict:
//
//	return postern.Refuse("too many logins, try later")
//
// A message longer than abi.MaxFieldBytes is cut to fit.
func Refuse(msg string) Verdict {
	_ = SetMessage(fitField(msg))
	return abi.VerdictRefuse
}

// TempFail reports a temporary failure (a dependency is down): the client
// sees a temporary error (IMAP NO [UNAVAILABLE], POP3 -ERR [SYS/TEMP],
// HTTP 503) with msg when it is not empty.
func TempFail(msg string) Verdict {
	if msg != "" {
		_ = SetMessage(fitField(msg))
	}
	return abi.VerdictTempFail
}

// Retry asks the host to call this plugin's hook again after the delay
// (nginx auth_http's WAIT). The host retries at most abi.MaxRetries times
// per hook call, then treats the verdict as TempFail.
func Retry(after time.Duration) Verdict {
	_ = SetDelay(after)
	return abi.VerdictRetry
}

var initFuncs []func(config []byte) error

// OnInit registers fn to run once per plugin instance, before any hook,
// with the plugin's configuration (JSON bytes, empty when the operator gave
// none). Call it from a func init. Functions run in registration order; the
// first error refuses the load: its text becomes the message the operator
// sees, and the previously loaded version of the plugin keeps serving.
func OnInit(fn func(config []byte) error) { initFuncs = append(initFuncs, fn) }

func init() { registry.Init = runInit }

func runInit() int32 {
	if len(initFuncs) == 0 {
		return abi.InitOK
	}
	cfg := Config()
	for _, fn := range initFuncs {
		if err := fn(cfg); err != nil {
			_ = SetMessage(fitField(err.Error()))
			return abi.InitRefuse
		}
	}
	return abi.InitOK
}

// fitField cuts s to abi.MaxFieldBytes on a UTF-8 boundary.
func fitField(s string) string {
	if len(s) <= abi.MaxFieldBytes {
		return s
	}
	i := abi.MaxFieldBytes
	for i > 0 && !utf8.RuneStart(s[i]) {
		i--
	}
	return s[:i]
}

// millis converts d to whole milliseconds, rounding up so a short positive
// delay does not become zero, and clamps it to the ABI's i32.
func millis(d time.Duration) int64 {
	ms := int64((d + time.Millisecond - 1) / time.Millisecond)
	if ms > 1<<31-1 {
		ms = 1<<31 - 1
	}
	return ms
}

func itoa(v int64) string { return strconv.FormatInt(v, 10) }
