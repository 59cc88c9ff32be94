// Package registry holds the handlers a plugin registered: init functions,
// hooks and events. It is internal so that only the SDK's own packages (the
// root package, the hook and event subpackages and sdktest) can reach it;
// a plugin registers through hook/<name>.Handle and postern.OnInit.
//
// WebAssembly guests are single-threaded, and natively sdktest runs one
// fake host at a time, so the registry needs no locking.
package registry

import "github.com/postern/postern/abi"

var (
	hooks  = map[abi.Hook]func() abi.Verdict{}
	events = map[abi.Event]func(){}

	// Init runs the plugin's init functions and returns abi.InitOK or
	// abi.InitRefuse. The root package sets it from its own init so that
	// the wasip1 export and sdktest share one implementation.
	Init func() int32
)

// SetHook registers fn as the handler of h, replacing any earlier one.
func SetHook(h abi.Hook, fn func() abi.Verdict) { hooks[h] = fn }

// SetEvent registers fn as the handler of e, replacing any earlier one.
func SetEvent(e abi.Event, fn func()) { events[e] = fn }

// HasHook reports whether a handler is registered for h.
func HasHook(h abi.Hook) bool { return hooks[h] != nil }

// HasEvent reports whether a handler is registered for e.
func HasEvent(e abi.Event) bool { return events[e] != nil }

// RunHook calls the handler of h and returns its verdict as the export
// returns it. A hook whose subpackage is linked in but whose Handle was
// never called answers Continue. A panic in the handler is not recovered:
// in the guest it traps, and the host counts it and applies its failure
// policy.
func RunHook(h abi.Hook) int32 {
	fn := hooks[h]
	if fn == nil {
		return int32(abi.VerdictContinue)
	}
	return int32(fn())
}

// RunEvent calls the handler of e, if any. Panics are not recovered.
func RunEvent(e abi.Event) {
	if fn := events[e]; fn != nil {
		fn()
	}
}
