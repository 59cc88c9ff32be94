// Package conformance checks a Postern plugin host, a guest SDK, or a
// single plugin against the plugin ABI (abi/ABI.md), from the outside.
//
// A host implementation adapts itself to [Target] and runs
//
//	func TestConformance(t *testing.T) { conformance.Run(t, myTarget) }
//
// [Run] loads WebAssembly fixtures (hand-written WAT, and a guest built
// with the C SDK in guest-sdk/c) into the target and checks what the host
// does at every host function, with valid and invalid arguments, at every
// hook and event, at load (version checks, init refusal, bad modules) and
// on failure (traps, deadlines, memory limits, invalid verdicts). Every
// case names the ABI.md section it checks, so a failure points at the
// sentence the host disagrees with.
//
// [RunGuest] runs the command-protocol cases (see guests.go and
// testdata/guests/README.md) against a guest built with any SDK: the Go
// guest (testdata/guests/go) and the C guest (testdata/guests/c) answer the
// same commands, so a second SDK shows that it behaves like the first.
//
// [CheckPlugin] is for plugin authors: it loads one plugin and checks the
// properties every plugin must have whatever its policy (it loads, every
// hook it exports returns a valid verdict in every protocol, events do not
// fail).
//
// The package holds no knowledge of Postern's host: Postern runs the suite
// through an adapter in postern_test.go. It must not import host/...,
// so that another host can use it without Postern's runtime.
package conformance

import (
	"fmt"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
)

// Target is a plugin host under test.
type Target interface {
	// Load compiles, checks and initialises spec.Wasm as one plugin, as
	// the host would at startup, and returns it or the host's load error.
	// The plugin must be closed when t ends. Every plugin a Target loads
	// uses the same key-value store, Store.
	Load(t *testing.T, spec Spec) (Plugin, error)
	// Store is the key-value store behind the kv_* host functions, for
	// the suite to prepare and inspect.
	Store() Store
}

// Spec is one plugin to load.
type Spec struct {
	// Name identifies the plugin; [a-z0-9][a-z0-9_-]*.
	Name string
	// Wasm is the module's bytes.
	Wasm []byte
	// Config is handed to the guest unchanged by config_get (JSON).
	Config []byte
	// HTTPAllow lists the destinations http_call may reach, as
	// "host:port"; empty means http_call is disabled (ErrDenied).
	HTTPAllow []string
	// Limits bound the plugin; zero values take the host's defaults.
	Limits Limits
}

// Limits are the operator-set limits the suite needs to control (ABI.md
// "Limits"). Zero means the host's default.
type Limits struct {
	MemoryPages  uint32        // linear memory cap in 64 KiB pages
	CallTimeout  time.Duration // the guest's running time per export call
	Instances    int           // instances alive at once; 1 pins guest state
	LogPerSecond int           // plugin log lines per second
}

// Plugin is a loaded plugin. Its calls are made one at a time.
type Plugin interface {
	// Run runs hook on a chain holding only this plugin, serving Retry
	// verdicts as the host does (at most abi.MaxRetries, then TempFail),
	// and returns the final verdict. err is non-nil when the call failed
	// (a trap, the deadline, an invalid verdict, no instance): the host
	// must then have discarded the call's field writes. A plugin that
	// does not export hook returns VerdictContinue, nil.
	// Run reads the session from f and writes the plugin's changes back
	// to f.
	Run(hook abi.Hook, f *Fields) (abi.Verdict, error)
	// Fire delivers an event; err is non-nil when the event call failed.
	Fire(event abi.Event, f *Fields) error
	// Logs returns the lines the guest logged (log, stdout, stderr) so
	// far, oldest first, without host messages.
	Logs() []LogLine
	// Counters returns the guest's counter_add counters by name.
	Counters() map[string]int64
}

// MetricsPlugin is a Plugin whose host exports the metrics plugins
// declare (ABI 1.1 metric_declare). The metric cases read values through
// it; for a Plugin without it they check only what the guest sees.
type MetricsPlugin interface {
	// Metrics returns the metrics the serving version declared, by name.
	Metrics() map[string]Metric
}

// ReusePlugin is a Plugin whose host reports the decision reuse the
// serving version declared in init (ABI 1.2 reuse_ms, ABI.md "Decision
// reuse"). The reuse cases check the declaration through it; for a Plugin
// without it they check only what the guest sees.
type ReusePlugin interface {
	// Reuse returns the declared reuse; 0 when none was declared.
	Reuse() time.Duration
}

// Metric is a declared gauge or histogram and its value now.
type Metric struct {
	Kind   abi.MetricKind
	Help   string
	Bounds []float64
	Value  float64 // a gauge's value
	// A histogram's observation count, sum, and cumulative count per
	// bound.
	Count   uint64
	Sum     float64
	Buckets []uint64
}

// LogLine is one line a guest logged.
type LogLine struct {
	Level   abi.Level
	Message string
}

// Store is the key-value store the target's plugins share.
type Store interface {
	// Get returns the value, or abi.ErrNotFound.
	Get(key string) ([]byte, error)
	// Set stores unconditionally; ttl 0 means no expiry.
	Set(key string, value []byte, ttl time.Duration) error
	// Delete removes a key; a missing key is not an error.
	Delete(key string) error
	// Shared reports whether several nodes share the store (feature
	// "kv-shared").
	Shared() bool
}

// Fields is the state of one login or request in the ABI's own encoding:
// plain fields by number as the bytes a guest reads (numbers in decimal,
// lists NUL-separated, booleans "0"/"1"), keyed fields as maps. The
// session is HTTP when Values[abi.FieldProtocol] is "http"; cookies
// (abi.FieldHTTPCookie) come from the Cookie header. After a call the
// target writes back every field a plugin may change.
type Fields struct {
	Values map[abi.Field]string
	Header map[string][]string // abi.FieldHTTPHeader, canonical names
	IMAPID map[string]string   // abi.FieldIMAPID
	// RespHeader is the upstream's response headers the response hook
	// reads and edits (abi.FieldResponseHeader, ABI 1.1), canonical
	// names; the status is Values[abi.FieldResponseStatus].
	RespHeader map[string][]string
}

// Get returns a plain field's value.
func (f *Fields) Get(id abi.Field) string { return f.Values[id] }

// Clone returns a deep copy of f.
func (f *Fields) Clone() *Fields {
	c := &Fields{Values: map[abi.Field]string{}}
	for k, v := range f.Values {
		c.Values[k] = v
	}
	if f.Header != nil {
		c.Header = map[string][]string{}
		for k, v := range f.Header {
			c.Header[k] = append([]string(nil), v...)
		}
	}
	if f.IMAPID != nil {
		c.IMAPID = map[string]string{}
		for k, v := range f.IMAPID {
			c.IMAPID[k] = v
		}
	}
	if f.RespHeader != nil {
		c.RespHeader = map[string][]string{}
		for k, v := range f.RespHeader {
			c.RespHeader[k] = append([]string(nil), v...)
		}
	}
	return c
}

// MailFields returns the fields of a first IMAP (or POP3) login over TLS
// from 192.0.2.7, with password "secret" and an IMAP ID naming the client.
func MailFields(protocol, login string) *Fields {
	f := &Fields{Values: map[abi.Field]string{
		abi.FieldProtocol:     protocol,
		abi.FieldListener:     protocol,
		abi.FieldSessionID:    "conformance-1",
		abi.FieldClientIP:     "192.0.2.7",
		abi.FieldClientPort:   "51234",
		abi.FieldLocalIP:      "198.51.100.1",
		abi.FieldLocalPort:    "143",
		abi.FieldTLSVersion:   "TLS1.3",
		abi.FieldTLSCipher:    "TLS_AES_128_GCM_SHA256",
		abi.FieldSNI:          "imap.example.com",
		abi.FieldAuthMethod:   "plain",
		abi.FieldLogin:        login,
		abi.FieldPassword:     "secret",
		abi.FieldLoginAttempt: "1",
	}}
	if protocol == "imap" {
		f.IMAPID = map[string]string{"name": "Thunderbird", "version": "128.0"}
	}
	return f
}

// HTTPFields returns the fields of an HTTP request for
// https://mail.example.com/home/bob/inbox?fmt=json with a Zimbra auth
// cookie, two Accept-Language headers and a User-Agent.
func HTTPFields(login string) *Fields {
	f := MailFields("http", login)
	f.Values[abi.FieldListener] = "https"
	f.Values[abi.FieldLocalPort] = "443"
	f.Values[abi.FieldSNI] = "mail.example.com"
	f.Values[abi.FieldAuthMethod] = "cookie"
	f.Values[abi.FieldHTTPMethod] = "GET"
	f.Values[abi.FieldHTTPHost] = "mail.example.com"
	f.Values[abi.FieldHTTPPath] = "/home/bob/inbox"
	f.Values[abi.FieldHTTPQuery] = "fmt=json"
	f.Header = map[string][]string{
		"Cookie":          {"ZM_AUTH_TOKEN=tok123; other=1"},
		"User-Agent":      {"curl/8.0"},
		"Accept-Language": {"de", "fr"},
	}
	return f
}

// AddrPort joins the IP and port fields ip and port of f; it is for
// adapters whose hosts keep addresses as netip.AddrPort.
func (f *Fields) AddrPort(ip, port abi.Field) netip.AddrPort {
	a, err := netip.ParseAddr(f.Values[ip])
	if err != nil {
		return netip.AddrPort{}
	}
	var p uint16
	fmt.Sscan(f.Values[port], &p)
	return netip.AddrPortFrom(a, p)
}

// section formats a case name with its ABI.md anchor for failure messages.
func section(s string) string {
	if strings.HasPrefix(s, "ABI.md#") {
		return "abi/" + s
	}
	return s
}
