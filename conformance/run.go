package conformance

import (
	"embed"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path"
	"runtime/debug"
	"sort"
	"strings"
	"testing"
	"time"
)

// fixtures holds the WAT fixtures (testdata/*.wasm, built from the .wat
// beside them), copies of abi/testdata's (testdata/abi), and the guest
// built with the C SDK (testdata/guests/c/guest.wasm).
//
//go:embed testdata/*.wasm testdata/abi/*.wasm testdata/guests/c/guest.wasm
var fixtures embed.FS

// Fixture returns the bytes of an embedded fixture by its path under
// testdata ("bounds.wasm", "abi/kv.wasm", "guests/c/guest.wasm").
func Fixture(name string) ([]byte, error) {
	return fixtures.ReadFile(path.Join("testdata", name))
}

// CGuest returns the command-protocol guest built with the C SDK
// (testdata/guests/c), for RunGuest.
func CGuest() []byte {
	b, err := Fixture("guests/c/guest.wasm")
	if err != nil {
		panic("conformance: the C guest is not embedded: " + err.Error())
	}
	return b
}

// Option changes how Run and RunGuest treat cases.
type Option func(*options)

type options struct {
	deviations map[string]string
}

// KnownDeviation marks the case with the given name (as go test prints it
// after the top-level test's name, e.g.
// "abi/bounds/n_kv_get_buffer_crosses_the_end_on_a_miss"; "*/" as the first
// element matches every guest: "*/log/unknown_level_is_error") as a known
// difference between the target and ABI.md. The case still
// runs: if it fails it is skipped with reason, and if it passes it fails,
// so that a fixed deviation is removed from the list rather than hiding a
// later regression.
func KnownDeviation(name, reason string) Option {
	return func(o *options) {
		if o.deviations == nil {
			o.deviations = map[string]string{}
		}
		o.deviations[name] = reason
	}
}

// Run runs every ABI conformance case against target: the WAT fixtures'
// cases (subtests "abi/...") and the command-protocol cases through the
// guest built with the C SDK (subtests "guest-c/...").
func Run(t *testing.T, target Target, opts ...Option) {
	o := collect(opts)
	t.Run("abi", func(t *testing.T) {
		env := newEnv(t, target, "abi", o)
		for _, tc := range abiCases {
			env.run(t, tc.name, tc.section, tc.check)
		}
	})
	t.Run("guest-c", func(t *testing.T) { runGuest(t, target, "c", CGuest(), o) })
}

// RunGuest runs the command-protocol cases against wasm, a guest built
// with some SDK that implements testdata/guests/README.md. name labels the
// subtests and the keys the cases use in the store.
func RunGuest(t *testing.T, target Target, name string, wasm []byte, opts ...Option) {
	t.Run("guest-"+name, func(t *testing.T) { runGuest(t, target, name, wasm, collect(opts)) })
}

func collect(opts []Option) *options {
	o := &options{}
	for _, opt := range opts {
		opt(o)
	}
	return o
}

// C is what a case sees: the target, a check recorder and helpers. Its
// Errorf and Fatalf record failures so that the runner can apply
// KnownDeviation; Fatalf stops the case.
type C struct {
	T      *testing.T
	Target Target
	env    *env
	errs   []string
}

type stop struct{}

// Errorf records a failure and continues.
func (c *C) Errorf(format string, args ...any) { c.errs = append(c.errs, fmt.Sprintf(format, args...)) }

// Fatalf records a failure and ends the case.
func (c *C) Fatalf(format string, args ...any) {
	c.Errorf(format, args...)
	panic(stop{})
}

// env is shared by the cases of one Run: an HTTP server for http_call and
// a unique prefix for store keys.
type env struct {
	target Target
	o      *options
	prefix string
	srv    *httptest.Server
	// deadAddr is a loopback address where nothing listens.
	deadAddr string
}

func newEnv(t *testing.T, target Target, prefix string, o *options) *env {
	e := &env{target: target, o: o, prefix: fmt.Sprintf("conf-%s-%d", prefix, time.Now().UnixNano())}
	mux := http.NewServeMux()
	mux.HandleFunc("/ok", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Reply", "yes")
		fmt.Fprintf(w, "hello x=%s", r.Header.Get("X-Conformance"))
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Location", "/ok")
		w.WriteHeader(http.StatusFound)
	})
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		w.Write([]byte(strings.Repeat("b", 70000))) // over the 64 KiB default response limit
	})
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		select { // longer than any timeout the cases give, bounded for shutdown
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
		w.Write([]byte("late"))
	})
	e.srv = httptest.NewServer(mux)
	t.Cleanup(e.srv.Close)
	dead := httptest.NewServer(http.NotFoundHandler())
	e.deadAddr = dead.Listener.Addr().String()
	dead.Close()
	return e
}

// hostPort returns the test server's "127.0.0.1:port".
func (e *env) hostPort() string {
	u, _ := url.Parse(e.srv.URL)
	return u.Host
}

// run runs one case as a subtest, applying known deviations.
func (e *env) run(t *testing.T, name, sec string, check func(c *C)) {
	t.Run(name, func(t *testing.T) {
		c := &C{T: t, Target: e.target, env: e}
		func() {
			defer func() {
				if r := recover(); r != nil {
					if _, ok := r.(stop); !ok {
						c.errs = append(c.errs, fmt.Sprintf("panic: %v\n%s", r, debug.Stack()))
					}
				}
			}()
			check(c)
		}()
		full := strings.SplitN(t.Name(), "/", 2)[1] // without the top-level test's name
		reason, known := e.o.deviations[full]
		if !known { // "*/rest" names the case in every guest
			_, rest, _ := strings.Cut(full, "/")
			reason, known = e.o.deviations["*/"+rest]
		}
		switch {
		case len(c.errs) > 0 && known:
			t.Skipf("known deviation from %s: %s\n%s", section(sec), reason, strings.Join(c.errs, "\n"))
		case len(c.errs) > 0:
			t.Errorf("%s:\n%s", section(sec), strings.Join(c.errs, "\n"))
		case known:
			t.Errorf("case passes but is listed as a known deviation (%s): remove it from the list", reason)
		}
	})
}

// load loads a plugin for a case; a load error fails the case.
func (c *C) load(spec Spec) Plugin {
	p, err := c.tryLoad(spec)
	if err != nil {
		c.Fatalf("load %s: %v", spec.Name, err)
	}
	return p
}

func (c *C) tryLoad(spec Spec) (Plugin, error) {
	if spec.Name == "" {
		spec.Name = "conformance"
	}
	return c.Target.Load(c.T, spec)
}

// fixture returns an embedded fixture or ends the case.
func (c *C) fixture(name string) []byte {
	b, err := Fixture(name)
	if err != nil {
		c.Fatalf("fixture %s: %v", name, err)
	}
	return b
}

// logText returns the guest's log lines, one per line, for messages.
func logText(p Plugin) string {
	var b strings.Builder
	for _, l := range p.Logs() {
		fmt.Fprintf(&b, "  [%d] %s\n", l.Level, l.Message)
	}
	return b.String()
}

// hasLog reports whether the guest logged a line equal to msg at level.
func hasLog(p Plugin, level int32, msg string) bool {
	for _, l := range p.Logs() {
		if int32(l.Level) == level && l.Message == msg {
			return true
		}
	}
	return false
}

// sortedItems sorts the comma-separated items of s.
func sortedItems(s string) string {
	items := strings.Split(s, ",")
	sort.Strings(items)
	return strings.Join(items, ",")
}
