// Package abi names every import, export, field, verdict and error code of
// the Postern plugin ABI, version 1. It is the single source of truth shared
// by the host (host/plugin), the Go guest SDK (guest-sdk) and the conformance
// suites; ABI.md in this folder is the normative, language-neutral
// specification and every constant here links to its section there.
//
// The package imports only the standard library and holds no behaviour: a
// plugin written in C, Rust or WAT needs nothing from it but the numbers.
//
// # Summary
//
// A plugin is a WebAssembly module (wasm32). It exports linear memory as
// "memory", the marker function [ExportABIVersion], optionally
// [ExportInit], and any subset of the hook exports ([ExportHookLogin] ...)
// and event exports ([ExportEventRouteDecided] ...). It may import the host
// functions of module [ImportModule] and the WASI preview 1 functions the
// host provides (clock, random, stdout/stderr to the plugin log; no
// filesystem, network, arguments or environment).
//
// The host never calls into a guest allocator. A guest reads an input by
// passing a buffer it owns, "buf, limit -> len": the host copies
// min(len, limit) bytes and returns the full length, so a call with limit 0
// is a size probe. A guest hands an output by pointer and length; the host
// copies it before the import returns. A pointer range outside the guest's
// memory is a guest bug: the host aborts the call (a trap).
package abi

// Version is the ABI version a guest declares from [ExportABIVersion] and
// the version this package describes. A host refuses a guest whose major
// version it does not implement; minor versions only add things, which a
// guest discovers with [ImportFeature] rather than assuming. See ABI.md
// "Versioning".
const (
	VersionMajor = 1
	VersionMinor = 2
)

// PackVersion packs a major and minor version as [ExportABIVersion]
// returns it: major in the high 16 bits, minor in the low 16 bits.
func PackVersion(major, minor uint16) uint32 { return uint32(major)<<16 | uint32(minor) }

// UnpackVersion is the inverse of [PackVersion].
func UnpackVersion(v uint32) (major, minor uint16) { return uint16(v >> 16), uint16(v) }

// ImportModule is the module name of every Postern host function
// (ABI.md "Host functions").
const ImportModule = "postern"

// Guest exports (ABI.md "Guest exports"). Every hook and event export is
// optional: a plugin serves exactly the hooks it exports.
const (
	// ExportMemory is the guest's linear memory. Required.
	ExportMemory = "memory"
	// ExportABIVersion: (func (result i32)); returns PackVersion(major, minor).
	// Required: a module without it is not a Postern plugin.
	ExportABIVersion = "postern_abi_version"
	// ExportWASIInitialize: (func); the WASI reactor initialiser (Go's
	// -buildmode=c-shared, wasi-libc's crt1-reactor). Called once per
	// instance, before anything else, when present.
	ExportWASIInitialize = "_initialize"
	// ExportInit: (func (result i32)); called once per instance after
	// _initialize. Reads the plugin configuration with ImportConfigGet.
	// Returns InitOK, or InitRefuse after setting FieldMessage to say why;
	// a refusal makes the load (or reload) fail and the previous version
	// keep serving.
	ExportInit = "postern_init"

	// ExportHookLogin: (func (result i32)) returns a Verdict. Login
	// extraction: who is this? May rewrite FieldLogin and FieldAccount.
	ExportHookLogin = "postern_hook_login"
	// ExportHookThrottle: (func (result i32)) returns a Verdict. Allow
	// (Continue/Done), delay (FieldDelayMS then Continue/Done) or refuse.
	ExportHookThrottle = "postern_hook_throttle"
	// ExportHookRoute: (func (result i32)) returns a Verdict. Chooses
	// FieldUpstreams (and optionally the upstream credentials).
	ExportHookRoute = "postern_hook_route"
	// ExportHookRewrite: (func (result i32)) returns a Verdict. HTTP only:
	// rewrites the request or answers with a redirect.
	ExportHookRewrite = "postern_hook_rewrite"
	// ExportHookResponse (ABI 1.1): (func (result i32)) returns a Verdict.
	// HTTP only: runs when the upstream's response headers arrived, before
	// any byte reaches the client; reads FieldResponseStatus and edits
	// FieldResponseHeader.
	ExportHookResponse = "postern_hook_response"

	// ExportEventRouteDecided: (func); called on every plugin that exports
	// it after the route chain decided, with the decided fields readable.
	ExportEventRouteDecided = "postern_event_route_decided"
	// ExportEventLoginFailed: (func); called after the upstream refused the
	// credentials, with FieldMessage holding the upstream's text.
	ExportEventLoginFailed = "postern_event_login_failed"
)

// Init results returned by ExportInit.
const (
	InitOK     int32 = 0
	InitRefuse int32 = 1
)

// Hook identifies one of the hook points: four before a request is sent
// and, since ABI 1.1, the response hook. Values are stable ABI
// numbers (they appear in field access tables and in logs).
type Hook int32

// The hooks, in the order the host runs them for one login.
const (
	HookLogin    Hook = 1
	HookThrottle Hook = 2
	HookRoute    Hook = 3
	HookRewrite  Hook = 4
	// HookResponse (ABI 1.1) runs after the upstream answered, on the
	// response's status and headers (HTTP only).
	HookResponse Hook = 5
)

// Hooks lists every hook in run order.
var Hooks = []Hook{HookLogin, HookThrottle, HookRoute, HookRewrite, HookResponse}

// RequestHooks are the hooks that run before the request is sent
// upstream (or the mail login is made), in run order: Hooks without
// HookResponse.
var RequestHooks = []Hook{HookLogin, HookThrottle, HookRoute, HookRewrite}

// String returns the hook's short name as used in configuration ("login").
func (h Hook) String() string {
	switch h {
	case HookLogin:
		return "login"
	case HookThrottle:
		return "throttle"
	case HookRoute:
		return "route"
	case HookRewrite:
		return "rewrite"
	case HookResponse:
		return "response"
	}
	return "hook(" + itoa(int64(h)) + ")"
}

// Export returns the name of the guest export that serves the hook.
func (h Hook) Export() string {
	switch h {
	case HookLogin:
		return ExportHookLogin
	case HookThrottle:
		return ExportHookThrottle
	case HookRoute:
		return ExportHookRoute
	case HookRewrite:
		return ExportHookRewrite
	case HookResponse:
		return ExportHookResponse
	}
	return ""
}

// Event identifies an after-the-fact notification.
type Event int32

// The events.
const (
	EventRouteDecided Event = 1
	EventLoginFailed  Event = 2
)

// Events lists every event.
var Events = []Event{EventRouteDecided, EventLoginFailed}

// String returns the event's short name ("route_decided").
func (e Event) String() string {
	switch e {
	case EventRouteDecided:
		return "route_decided"
	case EventLoginFailed:
		return "login_failed"
	}
	return "event(" + itoa(int64(e)) + ")"
}

// Export returns the name of the guest export that receives the event.
func (e Event) Export() string {
	switch e {
	case EventRouteDecided:
		return ExportEventRouteDecided
	case EventLoginFailed:
		return ExportEventLoginFailed
	}
	return ""
}

// Verdict is what a hook export returns (ABI.md "Verdicts").
type Verdict int32

const (
	// VerdictContinue: this plugin has no opinion or made a partial change;
	// the next plugin in the chain runs, then the built-in default.
	VerdictContinue Verdict = 0
	// VerdictDone: this plugin decided. No later plugin of this hook runs;
	// the fields as they are now are the hook's result.
	VerdictDone Verdict = 1
	// VerdictRefuse: refuse the login or request. FieldMessage is the text
	// the client sees (IMAP NO, POP3 -ERR, HTTP 403 or 429 from throttle).
	VerdictRefuse Verdict = 2
	// VerdictTempFail: a temporary failure (a dependency is down). The
	// client sees a temporary error (IMAP NO [UNAVAILABLE], POP3
	// -ERR [SYS/TEMP], HTTP 503) with FieldMessage when set.
	VerdictTempFail Verdict = 3
	// VerdictRetry: call this plugin's hook again after FieldDelayMS (the
	// nginx auth_http "WAIT" status). The host retries at most
	// MaxRetries times per hook call, then treats it as VerdictTempFail.
	VerdictRetry Verdict = 4
)

// MaxRetries bounds VerdictRetry per plugin per hook call.
const MaxRetries = 5

// String returns the verdict's name ("continue").
func (v Verdict) String() string {
	switch v {
	case VerdictContinue:
		return "continue"
	case VerdictDone:
		return "done"
	case VerdictRefuse:
		return "refuse"
	case VerdictTempFail:
		return "tempfail"
	case VerdictRetry:
		return "retry"
	}
	return "verdict(" + itoa(int64(v)) + ")"
}

// Host function names, all in module ImportModule (ABI.md "Host
// functions"). The WAT signature of each is in its comment; i32 pointers
// and lengths are unsigned offsets into the guest's exported memory.
const (
	// (func $feature (param $name i32) (param $name_len i32) (result i32))
	// Returns 1 when the host implements the named feature (see Feature*),
	// 0 otherwise. Never fails.
	ImportFeature = "feature"
	// (func $log (param $level i32) (param $msg i32) (param $msg_len i32))
	// Writes one log line at a Level. Lines are rate-limited per plugin and
	// truncated to MaxLogBytes; dropped lines are counted and reported.
	ImportLog = "log"
	// (func $config_get (param $buf i32) (param $limit i32) (result i32))
	// Copies the plugin's configuration (JSON bytes) into buf; returns its
	// length. Empty when the operator gave none.
	ImportConfigGet = "config_get"
	// (func $field_get (param $field i32) (param $buf i32) (param $limit i32) (result i32))
	// Reads a Field; returns its length or a negative Err.
	ImportFieldGet = "field_get"
	// (func $field_set (param $field i32) (param $val i32) (param $val_len i32) (result i32))
	// Writes a Field; returns 0 or a negative Err.
	ImportFieldSet = "field_set"
	// (func $field_get_key (param $field i32) (param $key i32) (param $key_len i32) (param $buf i32) (param $limit i32) (result i32))
	// Reads one key of a keyed Field (an HTTP header, a cookie, an IMAP ID
	// parameter). Several values of one header are joined with ", ".
	ImportFieldGetKey = "field_get_key"
	// (func $field_set_key (param $field i32) (param $key i32) (param $key_len i32) (param $val i32) (param $val_len i32) (result i32))
	// Replaces every value of one key of a keyed Field.
	ImportFieldSetKey = "field_set_key"
	// (func $field_delete_key (param $field i32) (param $key i32) (param $key_len i32) (result i32))
	// Removes a key of a keyed Field; ErrNotFound when absent.
	ImportFieldDeleteKey = "field_delete_key"
	// (func $kv_get (param $key i32) (param $key_len i32) (param $buf i32) (param $limit i32) (result i32))
	// Returns the value's length, ErrNotFound, or ErrUnavailable.
	ImportKVGet = "kv_get"
	// (func $kv_set (param $key i32) (param $key_len i32) (param $val i32) (param $val_len i32) (param $ttl_seconds i32) (result i32))
	// Stores unconditionally. ttl_seconds 0 means no expiry.
	ImportKVSet = "kv_set"
	// (func $kv_add (param $key i32) (param $key_len i32) (param $val i32) (param $val_len i32) (param $ttl_seconds i32) (result i32))
	// Stores only if absent: 0, or ErrExists.
	ImportKVAdd = "kv_add"
	// (func $kv_incr (param $key i32) (param $key_len i32) (param $delta i64) (result i64))
	// Adds delta (>= 0) to a decimal counter; returns the new value, or a
	// negative Err (ErrNotFound when the key is absent: kv_add it).
	ImportKVIncr = "kv_incr"
	// (func $kv_delete (param $key i32) (param $key_len i32) (result i32))
	// Returns 0 or ErrNotFound.
	ImportKVDelete = "kv_delete"
	// (func $kv_batch (param $ops i32) (param $ops_len i32) (param $buf i32) (param $limit i32) (result i32))
	// ABI 1.1. Runs up to 16 kv operations (get, set, add, incr, decr,
	// delete) in one call and one store round trip; "buf, limit -> len"
	// over the encoded results. Encoding: package abi/kvbatch and ABI.md
	// "kv_batch".
	ImportKVBatch = "kv_batch"
	// (func $http_call (param $method i32) (param $method_len i32) (param $url i32) (param $url_len i32)
	//                  (param $headers i32) (param $headers_len i32) (param $body i32) (param $body_len i32)
	//                  (param $timeout_ms i32) (result i32))
	// Performs one outbound HTTP request synchronously; headers are
	// "Name: value\r\n" lines. Returns the HTTP status (100..599) or a
	// negative Err (ErrDenied for a destination outside the plugin's
	// allowlist, ErrTimeout, ErrUnavailable, ErrTooLarge). The response is
	// kept until the next http_call or the end of the export call.
	ImportHTTPCall = "http_call"
	// (func $http_response_get (param $part i32) (param $buf i32) (param $limit i32) (result i32))
	// Reads a part (HTTPPart*) of the last http_call's response.
	ImportHTTPResponseGet = "http_response_get"
	// (func $clock_now (result i64))
	// Wall-clock time in nanoseconds since the Unix epoch.
	ImportClockNow = "clock_now"
	// (func $counter_add (param $name i32) (param $name_len i32) (param $delta i64))
	// Adds delta to the plugin's named counter, exported by the host as a
	// metric labelled with the plugin's name. Names are [a-z0-9_]{1,64};
	// others are ignored and logged once.
	ImportCounterAdd = "counter_add"

	// Plugin-defined metrics (ABI 1.1, feature FeatureMetrics; ABI.md
	// "Plugin metrics"). A plugin declares gauges and histograms in init
	// and sets or observes them in any call; the host exports them
	// labelled with the plugin's name.

	// (func $metric_declare (param $kind i32) (param $name i32) (param $name_len i32)
	//                       (param $help i32) (param $help_len i32)
	//                       (param $bounds i32) (param $bounds_count i32) (result i32))
	// Declares a metric of a MetricKind; bounds points at bounds_count
	// little-endian f64 bucket upper bounds (histograms; 0 for a gauge).
	// Init only. Returns the metric's id (>= 0) or a negative Err:
	// ErrNotAvailable outside init, ErrInvalid for a bad kind, name, help
	// or bounds, ErrExists for the same name declared differently,
	// ErrTooLarge past MaxMetrics or MaxMetricBuckets.
	ImportMetricDeclare = "metric_declare"
	// (func $metric_gauge_set (param $id i32) (param $value f64) (result i32))
	// Sets a gauge; 0, or ErrInvalid (not a gauge id, or NaN).
	ImportMetricGaugeSet = "metric_gauge_set"
	// (func $metric_gauge_add (param $id i32) (param $delta f64) (result i32))
	// Adds delta (may be negative) to a gauge; 0, or ErrInvalid.
	ImportMetricGaugeAdd = "metric_gauge_add"
	// (func $metric_observe (param $id i32) (param $value f64) (result i32))
	// Records one observation in a histogram; 0, or ErrInvalid (not a
	// histogram id, or NaN).
	ImportMetricObserve = "metric_observe"
)

// MetricKind is the kind argument of ImportMetricDeclare.
type MetricKind int32

// Metric kinds.
const (
	// MetricGauge: a value that goes up and down (a cache's age, a queue's
	// length), set with ImportMetricGaugeSet or ImportMetricGaugeAdd.
	MetricGauge MetricKind = 1
	// MetricHistogram: observations counted in buckets (a lookup's
	// latency in seconds), recorded with ImportMetricObserve.
	MetricHistogram MetricKind = 2
)

// Limits of plugin-defined metrics (ABI.md "Plugin metrics").
const (
	MaxMetrics         = 16  // metrics one plugin may declare
	MaxMetricBuckets   = 32  // bucket bounds of one histogram
	MaxMetricNameBytes = 64  // names are [a-z0-9_]{1,64}, like counter_add's
	MaxMetricHelpBytes = 256 // help text: UTF-8, no control characters
)

// MaxReuseMS is the longest decision reuse a plugin may declare
// (FieldReuseMS, ABI 1.2): one hour, in milliseconds.
const MaxReuseMS = 3_600_000

// Features a guest may query with ImportFeature. Every v1.0 host function
// and field is implied by the major version; features name what minor
// versions add, plus optional host capabilities.
const (
	// FeatureABI10 is always present in a v1 host.
	FeatureABI10 = "abi-1.0"
	// FeatureABI11: the host implements ABI 1.1 (FieldPasswordVerified,
	// FieldUpstreamAuth, the request filters FieldOnlyLogin..FieldOnlyMethods,
	// FieldOAuthToken and FieldOAuthUser).
	FeatureABI11 = "abi-1.1"
	// FeatureKVShared: the key-value store is shared by several nodes
	// (memcached) rather than in-process.
	FeatureKVShared = "kv-shared"
	// FeatureHTTPCall: outbound HTTP is configured for this plugin (it has
	// a non-empty allowlist).
	FeatureHTTPCall = "http-call"
	// FeatureResponseHook (ABI 1.1): the host calls ExportHookResponse on
	// HTTP responses (fields FieldResponseStatus, FieldResponseHeader).
	FeatureResponseHook = "response-hook"
	// FeatureMetrics (ABI 1.1): the host provides ImportMetricDeclare,
	// ImportMetricGaugeSet, ImportMetricGaugeAdd and ImportMetricObserve.
	// A guest that imports them does not load on an older host (an import
	// cannot be missing), so the feature tells a guest that probes before
	// relying on them, and tools, what the host has.
	FeatureMetrics = "metrics"
	// FeatureABI12: the host implements ABI 1.2 (FieldReuseMS: decision
	// reuse, ABI.md "Decision reuse").
	FeatureABI12 = "abi-1.2"
)

// Level is a log level for ImportLog.
type Level int32

// Log levels.
const (
	LevelDebug Level = 0
	LevelInfo  Level = 1
	LevelWarn  Level = 2
	LevelError Level = 3
)

// HTTP response parts for ImportHTTPResponseGet.
const (
	// HTTPPartHeaders: the response headers as "Name: value\r\n" lines.
	HTTPPartHeaders int32 = 0
	// HTTPPartBody: the response body (up to the plugin's response limit).
	HTTPPartBody int32 = 1
)

// Err is a negative result of a host function (ABI.md "Errors").
type Err int32

// Error codes. Host functions return them as negative i32 (or i64).
const (
	// ErrUnknownField: the field number is not known to this host (a newer
	// field: query the feature that introduced it).
	ErrUnknownField Err = -1
	// ErrNotAvailable: the field exists but not in this hook or protocol
	// (the password outside login and route; HTTP fields in IMAP), or
	// keyed access on a plain field, or no http_call response yet.
	ErrNotAvailable Err = -2
	// ErrReadOnly: the field cannot be written in this hook.
	ErrReadOnly Err = -3
	// ErrInvalid: a bad argument (not a number, not host:port, a bad key,
	// an unknown level or part, a negative delta).
	ErrInvalid Err = -4
	// ErrNotFound: no such key (kv, header, cookie).
	ErrNotFound Err = -5
	// ErrUnavailable: the key-value store or HTTP destination cannot be
	// reached. Treat as a miss and go on; do not fail the login for it.
	ErrUnavailable Err = -6
	// ErrTooLarge: the value is over the host's limit for it.
	ErrTooLarge Err = -7
	// ErrDenied: the HTTP destination is not in the plugin's allowlist.
	ErrDenied Err = -8
	// ErrExists: kv_add found the key already present.
	ErrExists Err = -9
	// ErrTimeout: the HTTP call or store operation ran out of time.
	ErrTimeout Err = -10
)

// Error implements error so SDKs and hosts can return an Err directly.
func (e Err) Error() string {
	switch e {
	case ErrUnknownField:
		return "postern: unknown field"
	case ErrNotAvailable:
		return "postern: not available in this hook"
	case ErrReadOnly:
		return "postern: field is read-only in this hook"
	case ErrInvalid:
		return "postern: invalid argument"
	case ErrNotFound:
		return "postern: not found"
	case ErrUnavailable:
		return "postern: unavailable"
	case ErrTooLarge:
		return "postern: too large"
	case ErrDenied:
		return "postern: destination not allowed"
	case ErrExists:
		return "postern: already exists"
	case ErrTimeout:
		return "postern: timeout"
	}
	return "postern: error " + itoa(int64(e))
}

// Limits the host enforces on every plugin (ABI.md "Limits").
const (
	MaxFieldBytes   = 64 << 10 // one field value
	MaxKeyBytes     = 250      // memcached's key limit
	MaxKVValueBytes = 1 << 20  // memcached's default item size
	MaxLogBytes     = 4 << 10  // one log line; longer lines are truncated
	MaxHTTPBody     = 1 << 20  // request body; responses use the plugin's limit
	MaxDelayMS      = 300000   // FieldDelayMS: five minutes
	MaxKeyNameBytes = 256      // the key of a keyed field (a header name)
)

// Field names one value of the hook's state (ABI.md "Fields"). All values
// are bytes: text is UTF-8, numbers are decimal ASCII, lists are items
// separated by a NUL byte (no trailing NUL).
type Field int32

// The fields. Access per hook is given by Access.
const (
	FieldProtocol      Field = 1  // "imap", "pop3", "http"
	FieldListener      Field = 2  // the listener's name from config
	FieldSessionID     Field = 3  // the session or request id the logs carry
	FieldClientIP      Field = 4  // "192.0.2.7" or "2001:db8::1"
	FieldClientPort    Field = 5  // decimal
	FieldLocalIP       Field = 6  // the proxy's address the client connected to
	FieldLocalPort     Field = 7  // decimal
	FieldTLSVersion    Field = 8  // "", "TLS1.2", "TLS1.3"
	FieldTLSCipher     Field = 9  // IANA name, "" without TLS
	FieldSNI           Field = 10 // TLS server name, "" without
	FieldAuthMethod    Field = 11 // "plain", "login", "gssapi", "oauthbearer", "xoauth2", "cookie", "basic", "none"
	FieldLogin         Field = 12 // the login as the client gave it (rewritable in login)
	FieldPassword      Field = 13 // only in login and route hooks
	FieldLoginAttempt  Field = 14 // decimal, 1 for the first attempt of the session
	FieldAccount       Field = 15 // the canonical account (lookup's Auth-User); defaults to login
	FieldAuthID        Field = 16 // authenticated identity for GSSAPI (the principal)
	FieldHTTPMethod    Field = 17
	FieldHTTPHost      Field = 18 // Host header / :authority
	FieldHTTPPath      Field = 19 // escaped path, starts with "/"
	FieldHTTPQuery     Field = 20 // raw query without "?"
	FieldHTTPHeader    Field = 21 // keyed by canonical or any-case name
	FieldHTTPCookie    Field = 22 // keyed by cookie name; read-only
	FieldHTTPHeaders   Field = 23 // list of header names
	FieldUpstreams     Field = 24 // list of "host:port", tried in order
	FieldUpstreamLogin Field = 25 // login to use upstream (Auth-User override)
	FieldUpstreamPass  Field = 26 // password to use upstream (Auth-Pass override)
	FieldMessage       Field = 27 // refusal or error text for the client / event text
	FieldDelayMS       Field = 28 // decimal; the host waits this long before acting
	FieldRedirectCode  Field = 29 // decimal 301/302/303/307/308; with Location, answers instead of proxying
	FieldRedirectURL   Field = 30 // the Location of the redirect
	FieldCacheAlias    Field = 31 // "1" when login and account differ and aliases should be cached
	FieldClientSuffix  Field = 32 // a client suffix stripped from the login ("tb", "wm", "ni")
	FieldIMAPID        Field = 33 // keyed: the client's IMAP ID parameters; read-only
	FieldUpstream      Field = 34 // in events: the "host:port" actually used
	FieldRouteCached   Field = 35 // "1" when the route came from a cache plugin (set by it)

	// FieldPasswordVerified (ABI 1.1) is "1" once a plugin in this session
	// checked the password with an authority that accepted it (a lookup
	// service, a directory). The host logs in upstream with credentials
	// other than the client's own password only when it is set. Written in
	// init, it declares that the plugin can vouch for passwords.
	FieldPasswordVerified Field = 36
	// FieldUpstreamAuth (ABI 1.1, read-only) says how the host will log in
	// upstream for this session: "password" (the client's own password:
	// the mailbox server checks it), "master" (a master user on the
	// client's behalf: a plugin must verify the password) or "" (HTTP).
	FieldUpstreamAuth Field = 37

	// Request filters (ABI 1.1), writable in init only: a plugin declares
	// which logins and requests it wants, and the host enters none of its
	// hooks or events for the others (ABI.md "Request filters"). Empty
	// means no restriction; every non-empty filter must match.

	// FieldOnlyLogin: boolean; "1": only sessions whose account (the login
	// unless a plugin set it) is not empty at the call.
	FieldOnlyLogin Field = 38
	// FieldOnlyProtocols: list of "imap", "pop3", "http".
	FieldOnlyProtocols Field = 39
	// FieldOnlyHosts: list of HTTP hosts ("mail.example.com", or
	// "*.example.com" for any subdomain), matched without the port and
	// in any case; HTTP only.
	FieldOnlyHosts Field = 40
	// FieldOnlyPaths: list of prefixes of the escaped http_path, each
	// starting with "/"; HTTP only.
	FieldOnlyPaths Field = 41
	// FieldOnlyMethods: list of HTTP methods, exact ("GET"); HTTP only.
	FieldOnlyMethods Field = 42

	// FieldOAuthToken (ABI 1.1) is the OAuth 2.0 bearer token of an
	// OAUTHBEARER or XOAUTH2 login; a secret like password: readable in
	// the login and route hooks only, never logged.
	FieldOAuthToken Field = 43
	// FieldOAuthUser (ABI 1.1, read-only) is the user an OAuth login
	// claims: the OAUTHBEARER authzid ("a=") or the XOAUTH2 "user=";
	// empty for other logins.
	FieldOAuthUser Field = 44

	// FieldPool (ABI 1.1, HTTP only; ErrNotAvailable in mail sessions)
	// names the pool of the web configuration the request goes to. The
	// route hook reads the pool the configuration's routes chose ("" when
	// none matched: then the user pool or the default pool applies) and
	// may write another pool's name; upstreams, when set, still win. An
	// unknown name is the host's 502. In rewrite and route_decided it is
	// the pool the request went to ("" when a plugin's upstreams were used).
	FieldPool Field = 45

	// FieldResponseStatus (ABI 1.1, read-only, response hook only): the
	// upstream's HTTP status code, decimal ("302").
	FieldResponseStatus Field = 46
	// FieldResponseHeader (ABI 1.1, keyed, response hook only): the
	// upstream's response headers, by any-case name; set_key replaces
	// every value of the header, delete_key removes it. Set-Cookie's
	// values are a list (NUL-separated) both ways, never joined with ", ".
	FieldResponseHeader Field = 47

	// FieldReuseMS (ABI 1.2, decimal, init only) declares for how many
	// milliseconds the host may reuse this plugin's outcome of the login,
	// throttle and route hooks for a later HTTP request with the same
	// credentials from the same client (ABI.md "Decision reuse"); 0, the
	// default, never. At most MaxReuseMS.
	FieldReuseMS Field = 48

	// FieldMax is the highest field number this version defines. Numbers
	// up to it may be unassigned (Defined is false): hosts treat those as
	// unknown fields.
	FieldMax = FieldReuseMS
)

// IsFilter reports whether f is a request filter field (written in init).
func (f Field) IsFilter() bool { return f >= FieldOnlyLogin && f <= FieldOnlyMethods }

var fieldNames = [...]string{
	FieldProtocol: "protocol", FieldListener: "listener", FieldSessionID: "session_id",
	FieldClientIP: "client_ip", FieldClientPort: "client_port", FieldLocalIP: "local_ip",
	FieldLocalPort: "local_port", FieldTLSVersion: "tls_version", FieldTLSCipher: "tls_cipher",
	FieldSNI: "sni", FieldAuthMethod: "auth_method", FieldLogin: "login", FieldPassword: "password",
	FieldLoginAttempt: "login_attempt", FieldAccount: "account", FieldAuthID: "auth_id",
	FieldHTTPMethod: "http_method", FieldHTTPHost: "http_host", FieldHTTPPath: "http_path",
	FieldHTTPQuery: "http_query", FieldHTTPHeader: "http_header", FieldHTTPCookie: "http_cookie",
	FieldHTTPHeaders: "http_headers", FieldUpstreams: "upstreams", FieldUpstreamLogin: "upstream_login",
	FieldUpstreamPass: "upstream_password", FieldMessage: "message", FieldDelayMS: "delay_ms",
	FieldRedirectCode: "redirect_code", FieldRedirectURL: "redirect_url", FieldCacheAlias: "cache_alias",
	FieldClientSuffix: "client_suffix", FieldIMAPID: "imap_id", FieldUpstream: "upstream",
	FieldRouteCached: "route_cached", FieldPasswordVerified: "password_verified",
	FieldUpstreamAuth: "upstream_auth", FieldOnlyLogin: "only_login", FieldOnlyProtocols: "only_protocols",
	FieldOnlyHosts: "only_hosts", FieldOnlyPaths: "only_paths", FieldOnlyMethods: "only_methods",
	FieldOAuthToken: "oauth_token", FieldOAuthUser: "oauth_user", FieldPool: "pool",
	FieldResponseStatus: "response_status", FieldResponseHeader: "response_header",
	FieldReuseMS: "reuse_ms",
}

// Defined reports whether f is a field number this version assigns.
func (f Field) Defined() bool { return f > 0 && int(f) < len(fieldNames) && fieldNames[f] != "" }

// String returns the field's name as written in ABI.md ("client_ip").
func (f Field) String() string {
	if f.Defined() {
		return fieldNames[f]
	}
	return "field(" + itoa(int64(f)) + ")"
}

// Values of FieldUpstreamAuth.
const (
	UpstreamAuthPassword = "password"
	UpstreamAuthMaster   = "master"
)

// Keyed reports whether the field is read with field_get_key.
func (f Field) Keyed() bool {
	return f == FieldHTTPHeader || f == FieldHTTPCookie || f == FieldIMAPID || f == FieldResponseHeader
}

// Mode is what a hook or event may do with a field.
type Mode uint8

// Access modes.
const (
	None  Mode = 0
	Read  Mode = 1
	Write Mode = 2 // implies Read
)

// Phase is a hook, an event, or init, for the access table.
type Phase int32

// Phases for Access. PhaseInit is the init export; events follow hooks.
const (
	PhaseInit         Phase = 0
	PhaseLogin        Phase = Phase(HookLogin)
	PhaseThrottle     Phase = Phase(HookThrottle)
	PhaseRoute        Phase = Phase(HookRoute)
	PhaseRewrite      Phase = Phase(HookRewrite)
	PhaseResponse     Phase = Phase(HookResponse)
	PhaseRouteDecided Phase = 10 + Phase(EventRouteDecided)
	PhaseLoginFailed  Phase = 10 + Phase(EventLoginFailed)
)

// Access returns what a phase may do with a field; this table is the one
// ABI.md "Fields" prints. Fields that do not apply to the session's
// protocol (HTTP fields in an IMAP session) read as ErrNotAvailable
// regardless of the table.
func Access(p Phase, f Field) Mode {
	if f < 1 || f > FieldMax || !f.Defined() {
		return None
	}
	if p == PhaseInit {
		if f == FieldMessage || f == FieldPasswordVerified || f.IsFilter() || f == FieldReuseMS {
			return Write
		}
		return None
	}
	if f.IsFilter() || f == FieldReuseMS {
		return None
	}
	switch f {
	case FieldPool:
		switch p {
		case PhaseRoute:
			return Write
		case PhaseRewrite, PhaseRouteDecided:
			return Read
		}
		return None
	case FieldResponseStatus:
		if p == PhaseResponse {
			return Read
		}
		return None
	case FieldResponseHeader:
		if p == PhaseResponse {
			return Write
		}
		return None
	case FieldPasswordVerified:
		if p == PhaseLogin || p == PhaseRoute {
			return Write
		}
		return Read
	case FieldMessage, FieldDelayMS:
		if p == PhaseRouteDecided || p == PhaseLoginFailed {
			return Read
		}
		return Write
	case FieldLogin, FieldAccount, FieldClientSuffix:
		if p == PhaseLogin {
			return Write
		}
		if f == FieldAccount && p == PhaseRoute {
			return Write
		}
		return Read
	case FieldPassword, FieldOAuthToken:
		if p == PhaseLogin || p == PhaseRoute {
			return Read
		}
		return None
	case FieldUpstreams, FieldUpstreamLogin, FieldUpstreamPass, FieldCacheAlias, FieldRouteCached:
		switch p {
		case PhaseRoute:
			return Write
		case PhaseRouteDecided, PhaseLoginFailed, PhaseRewrite, PhaseResponse:
			if f == FieldUpstreamPass {
				return None
			}
			return Read
		}
		return None
	case FieldUpstream:
		if p == PhaseRouteDecided || p == PhaseLoginFailed || p == PhaseResponse {
			return Read
		}
		return None
	case FieldHTTPHost, FieldHTTPPath, FieldHTTPQuery, FieldHTTPHeader, FieldRedirectCode, FieldRedirectURL:
		if p == PhaseRewrite {
			return Write
		}
		if f == FieldRedirectCode || f == FieldRedirectURL {
			return None
		}
		return Read
	}
	return Read
}

func itoa(v int64) string {
	if v == 0 {
		return "0"
	}
	neg := v < 0
	if neg {
		v = -v
	}
	var b [20]byte
	i := len(b)
	for v > 0 {
		i--
		b[i] = byte('0' + v%10)
		v /= 10
	}
	if neg {
		i--
		b[i] = '-'
	}
	return string(b[i:])
}
