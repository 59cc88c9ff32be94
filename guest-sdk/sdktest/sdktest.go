// Package sdktest is a fake Postern host for unit testing plugins written
// with the Go guest SDK natively, with plain go test and no WebAssembly.
//
// A test creates a Host, fills in the session, calls a hook the plugin
// registered and inspects what the plugin did:
//
//	func TestRoute(t *testing.T) {
//		h := sdktest.New(t)
//		h.Fields[abi.FieldLogin] = "bob@example.com"
//		if v := h.CallHook(abi.HookRoute); v != abi.VerdictDone {
//			t.Fatalf("verdict = %v, want done", v)
//		}
//		if got := h.Fields[abi.FieldUpstreams]; got != "10.0.0.2:143" {
//			t.Errorf("upstreams = %q", got)
//		}
//	}
//
// The fake enforces abi.Access and the protocol rules exactly as the real
// host does, so reading the password in the throttle hook or writing the
// login in the route hook fails here with the same abi.Err as in
// production. It also validates written values (numbers, "host:port"
// upstreams, redirect codes, paths, key-value keys, sizes) the way the ABI
// describes. What it cannot show is wasm-only behaviour: traps, memory and
// time limits, and whether the plugin exports the hooks it should; load
// the built .wasm with the host/plugintest package for that.
//
// The SDK talks to one installed Host at a time, so tests that use sdktest
// must not call t.Parallel. Plugin packages keep their package state
// between tests: New gives a fresh host, not a fresh plugin instance.
package sdktest

import (
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/internal/native"
	"github.com/postern/postern/guest-sdk/internal/registry"
)

// Host is the fake host. Its exported fields are the session and the
// host's services; set them before calling a hook and read them after.
type Host struct {
	// Fields holds every plain field of the session, as the ABI encodes it
	// (numbers in decimal, lists NUL-separated). A field that is absent
	// reads as "". The plugin's writes land here. New sets FieldProtocol
	// to "imap".
	Fields map[abi.Field]string
	// Headers are the HTTP request headers (abi.FieldHTTPHeader), looked
	// up without regard to case; several values are joined with ", ".
	// abi.FieldHTTPHeaders lists their names unless Fields sets it.
	Headers map[string][]string
	// Cookies are the HTTP request cookies (abi.FieldHTTPCookie).
	Cookies map[string]string
	// IMAPID holds the client's IMAP ID parameters (abi.FieldIMAPID).
	IMAPID map[string]string
	// RespHeaders are the upstream's response headers the response hook
	// reads and edits (abi.FieldResponseHeader, ABI 1.1); the status is
	// Fields[abi.FieldResponseStatus].
	RespHeaders map[string][]string

	// Phase is the hook, event or init the plugin is in. CallHook,
	// FireEvent and Init set it for the call; outside them it is what a
	// test calling plugin functions directly gets (New sets PhaseLogin).
	Phase abi.Phase

	// Config is the plugin configuration config_get returns.
	Config []byte
	// Features are the features the host reports. New sets those of an
	// ABI 1.2 host (abi-1.0, abi-1.1, abi-1.2, response-hook, metrics);
	// http-call is also reported while HTTP is set, unless set here.
	// Delete abi-1.2 to see what a plugin does on a 1.1 host's features
	// (the fields stay: a 1.1 host would return abi.ErrUnknownField for
	// abi.FieldReuseMS).
	Features map[string]bool

	// KV is the key-value store. Expired items read as absent.
	KV map[string]Item
	// KVDown makes every key-value call return abi.ErrUnavailable.
	KVDown bool
	// Now is the host clock (clock_now and key-value expiry). New sets a
	// fixed instant; Advance moves it.
	Now time.Time

	// HTTP answers http_call. Nil means the plugin has no allowlist: every
	// call returns abi.ErrDenied. Return an abi.Err as the error to
	// simulate ErrTimeout, ErrUnavailable or ErrDenied.
	HTTP func(req *postern.HTTPRequest) (*postern.HTTPResponse, error)
	// HTTPRequests records every request passed to HTTP.
	HTTPRequests []*postern.HTTPRequest
	// HTTPMaxBody is the plugin's response limit (New: 64 KiB, the
	// Postern host's default); a larger response body is abi.ErrTooLarge.
	HTTPMaxBody int

	// Logs records every line the plugin logged.
	Logs []LogLine
	// Counters holds the plugin's counters by name.
	Counters map[string]int64
	// Metrics holds the gauges and histograms the plugin declared, by
	// name (ABI 1.1 metric_declare), with their values.
	Metrics map[string]*Metric

	t          testing.TB
	initDone   bool
	initFields map[abi.Field]string
	resp       *httpResponse
}

// Item is one key-value entry. A zero Expires never expires.
type Item struct {
	Value   []byte
	Expires time.Time
}

// LogLine is one line the plugin logged.
type LogLine struct {
	Level abi.Level
	Msg   string
}

// calls implements the host functions on a Host's state; it is a separate
// type so they stay out of Host's documented API.
type calls Host

type httpResponse struct {
	headers, body []byte
}

// New installs a fresh fake host for the test and removes it when the
// test ends. It fails the test if another Host is installed (sdktest tests
// cannot run in parallel).
func New(t testing.TB) *Host {
	t.Helper()
	h := &Host{
		Fields:      map[abi.Field]string{abi.FieldProtocol: "imap"},
		Headers:     map[string][]string{},
		Cookies:     map[string]string{},
		IMAPID:      map[string]string{},
		RespHeaders: map[string][]string{},
		Metrics:     map[string]*Metric{},
		Phase:       abi.PhaseLogin,
		Features:    map[string]bool{abi.FeatureABI10: true, abi.FeatureABI11: true, abi.FeatureABI12: true, abi.FeatureResponseHook: true, abi.FeatureMetrics: true},
		KV:          map[string]Item{},
		Now:         time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC),
		HTTPMaxBody: 64 << 10,
		Counters:    map[string]int64{},
		t:           t,
	}
	if prev := native.Install((*calls)(h)); prev != nil {
		native.Install(prev)
		t.Fatal("sdktest: another Host is installed; tests using sdktest must not run in parallel")
	}
	t.Cleanup(func() { native.Install(nil) })
	return h
}

// Advance moves the host clock forward by d.
func (h *Host) Advance(d time.Duration) { h.Now = h.Now.Add(d) }

// Init runs the plugin's init functions with config, as the host does once
// per instance, and returns the refusal message as an error. Hooks and
// events run Init with h.Config first if the test did not.
func (h *Host) Init(config []byte) error {
	h.t.Helper()
	h.Config = config
	h.initDone = true
	h.initFields = map[abi.Field]string{}
	prev := h.Phase
	h.Phase = abi.PhaseInit
	h.resp = nil
	defer func() { h.Phase = prev }()
	switch r := registry.Init(); r {
	case abi.InitOK:
		return nil
	case abi.InitRefuse:
		msg := h.initFields[abi.FieldMessage]
		if msg == "" {
			msg = "init refused without a message"
		}
		return errors.New(msg)
	default:
		return errors.New("init returned " + strconv.Itoa(int(r)) + ", want InitOK or InitRefuse")
	}
}

// InitMessage is the message the last Init set.
func (h *Host) InitMessage() string { return h.initFields[abi.FieldMessage] }

// InitVerifiesPasswords reports whether the last Init declared that the
// plugin can verify passwords (set password_verified in init, ABI 1.1).
func (h *Host) InitVerifiesPasswords() bool { return h.initFields[abi.FieldPasswordVerified] == "1" }

// InitFilter returns the value the last Init wrote to a request filter
// field (abi.FieldOnlyLogin .. abi.FieldOnlyMethods, ABI 1.1): "1" for
// OnlyWithLogin, lists NUL-separated; "" when it wrote none.
func (h *Host) InitFilter(f abi.Field) string { return h.initFields[f] }

// InitReuse returns the decision reuse the last Init declared
// (abi.FieldReuseMS, ABI 1.2, postern.ReuseDecisions): 0 when it declared
// none. The fake validates the value as the real host does (decimal
// milliseconds, 0..abi.MaxReuseMS, else abi.ErrInvalid with nothing
// changed) but reuses nothing: every CallHook enters the plugin.
func (h *Host) InitReuse() time.Duration {
	ms, _ := strconv.ParseInt(h.initFields[abi.FieldReuseMS], 10, 64)
	return time.Duration(ms) * time.Millisecond
}

// CallHook runs the plugin's handler of hook and returns its verdict. The
// test fails if the plugin registered no handler for hook (the real host
// would not call it), or for the rewrite hook outside an HTTP session.
func (h *Host) CallHook(hook abi.Hook) abi.Verdict {
	h.t.Helper()
	if !registry.HasHook(hook) {
		h.t.Fatalf("sdktest: the plugin has no %s hook; import guest-sdk/hook/%s and call Handle from func init", hook, hook)
	}
	if (hook == abi.HookRewrite || hook == abi.HookResponse) && h.Fields[abi.FieldProtocol] != "http" {
		h.t.Fatalf("sdktest: the %s hook runs only for HTTP; set Fields[abi.FieldProtocol] = \"http\"", hook)
	}
	h.ensureInit()
	prev := h.Phase
	h.Phase = abi.Phase(hook)
	h.resp = nil
	defer func() { h.Phase = prev; h.resp = nil }()
	return abi.Verdict(registry.RunHook(hook))
}

// FireEvent runs the plugin's handler of event. The test fails if the
// plugin registered none.
func (h *Host) FireEvent(event abi.Event) {
	h.t.Helper()
	if !registry.HasEvent(event) {
		h.t.Fatalf("sdktest: the plugin has no %s event handler; import its guest-sdk/event package and call Handle from func init", event)
	}
	h.ensureInit()
	prev := h.Phase
	h.Phase = 10 + abi.Phase(event)
	h.resp = nil
	defer func() { h.Phase = prev; h.resp = nil }()
	registry.RunEvent(event)
}

func (h *Host) ensureInit() {
	h.t.Helper()
	if !h.initDone {
		if err := h.Init(h.Config); err != nil {
			h.t.Fatalf("sdktest: plugin init refused: %v", err)
		}
	}
}
