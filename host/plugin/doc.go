// Package plugin is Postern's WebAssembly plugin runtime: it loads plugin
// files with wazero, checks them against ABI v1 (abi/ABI.md), pools their
// instances, serves the host functions, and runs plugins as chains at the
// five hooks (login, throttle, route, rewrite and, ABI 1.1, response)
// and two events.
//
// A front end builds a [Fields] for a login or request, calls
// [Host.Run] once per hook in order, and acts on the [Result] and on the
// fields the plugins wrote; after the fact it calls [Host.Fire]. With no
// plugin deciding (VerdictContinue) the front end applies its built-in
// default. The package never touches the network on its own, except for
// http_call on a plugin's behalf to destinations the operator allowed.
//
// # Isolation
//
// Each plugin file compiles into its own wazero runtime (memory limits are
// per runtime) with a pool of at most limits.instances instances. An
// instance serves one call at a time; a trap, a deadline overrun or an
// invalid verdict discards it, undoes the field writes of that call, and
// applies the plugin's failure policy for the hook. WASI is provided for
// the clock, randomness and stdout/stderr (as plugin log lines); no
// directory is mounted and no environment or arguments are passed.
//
// # Reload
//
// [Plugin.Reload] (and the file watcher, with Options.Watch) builds the new
// version completely — compile, check exports and signatures, instantiate,
// run init — before swapping it in; calls in flight finish on the old
// instances, which close once drained. A bad file never replaces a good one.
//
// A file that loads but fails on its calls is caught after the swap: the
// new version is watched for its first Spec.RegressionWatch calls or time,
// the previous one kept compiled, and if the new one fails markedly more
// often it is swapped back out (Spec.OnRegression; swapwatch.go).
//
// This API is used by Postern's front ends and tests; it is not yet
// stable for other embedders.
package plugin
