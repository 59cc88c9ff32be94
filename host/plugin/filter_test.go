package plugin

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
)

// TestHost_requestFilters: a plugin whose init declared request filters
// (ABI 1.1) is not entered (its call counter does not move) for a login
// or request outside them, at any hook or event, and is for those inside.
func TestHost_requestFilters(t *testing.T) {
	httpReq := func(login, method, host, path string) *Fields {
		f := mailFields()
		f.Protocol, f.Login, f.AuthMethod = "http", login, "basic"
		if login == "" {
			f.AuthMethod = "none"
		}
		f.HTTP = &HTTPFields{Method: method, Host: host, Path: path, Header: http.Header{}}
		return f
	}
	imapLogin := func() *Fields { return mailFields() }
	withAccount := func() *Fields {
		f := httpReq("", "GET", "mail.example.com", "/service/soap")
		f.Account = "bob"
		return f
	}
	tests := []struct {
		name   string
		config string
		filter string // Info().Filter
		enter  []*Fields
		skip   []*Fields
	}{
		{name: "no filter: every request", config: `{}`, filter: "",
			enter: []*Fields{httpReq("", "GET", "x", "/"), imapLogin()}},
		{name: "only with a login", config: `{"login":true}`, filter: "login",
			enter: []*Fields{httpReq("bob", "GET", "x", "/"), imapLogin(), withAccount()},
			skip:  []*Fields{httpReq("", "GET", "x", "/"), httpReq("", "POST", "mail.example.com", "/service/soap")}},
		{name: "protocols", config: `{"protocols":["http"]}`, filter: "protocols=http",
			enter: []*Fields{httpReq("", "GET", "x", "/")},
			skip:  []*Fields{imapLogin()}},
		{name: "paths", config: `{"paths":["/service/","/home/"]}`, filter: "paths=/service/,/home/",
			enter: []*Fields{httpReq("", "GET", "x", "/service/soap"), httpReq("", "GET", "x", "/home/bob/inbox")},
			skip:  []*Fields{httpReq("", "GET", "x", "/"), httpReq("", "GET", "x", "/servic"), httpReq("", "GET", "x", "/zimbra/service/"), imapLogin()}},
		{name: "hosts", config: `{"hosts":["mail.example.com","*.example.org"]}`, filter: "hosts=mail.example.com,*.example.org",
			enter: []*Fields{httpReq("", "GET", "mail.example.com", "/"), httpReq("", "GET", "MAIL.Example.com:8443", "/"),
				httpReq("", "GET", "a.b.example.org", "/")},
			skip: []*Fields{httpReq("", "GET", "example.org", "/"), httpReq("", "GET", "other.example.com", "/"),
				httpReq("", "GET", "mail.example.com.evil", "/"), imapLogin()}},
		{name: "methods", config: `{"methods":["POST","PUT"]}`, filter: "methods=POST,PUT",
			enter: []*Fields{httpReq("", "POST", "x", "/")},
			skip:  []*Fields{httpReq("", "GET", "x", "/"), httpReq("", "post", "x", "/"), imapLogin()}},
		{name: "every filter must match", config: `{"login":true,"paths":["/service/"],"methods":["GET"]}`,
			filter: "login paths=/service/ methods=GET",
			enter:  []*Fields{httpReq("bob", "GET", "x", "/service/soap")},
			skip: []*Fields{httpReq("", "GET", "x", "/service/soap"), httpReq("bob", "POST", "x", "/service/soap"),
				httpReq("bob", "GET", "x", "/home/")}},
	}
	path := goGuest(t, "filter")
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHost(t, Options{})
			if err := h.Load(context.Background(), []Spec{{Name: "f", Path: path, Config: []byte(tc.config)}}); err != nil {
				t.Fatal(err)
			}
			p := h.Plugin("f")
			if got := p.Info().Filter; got != tc.filter {
				t.Errorf("Info().Filter = %q, want %q", got, tc.filter)
			}
			calls := func() int64 { return p.Stats().Calls.Load() }
			for i, f := range tc.skip {
				before := calls()
				for _, hook := range abi.Hooks {
					if r := h.Run(context.Background(), hook, f); r.Verdict != abi.VerdictContinue || r.Plugin != "" {
						t.Errorf("skip[%d] %s: %+v", i, hook, r)
					}
				}
				if err := h.Fire(context.Background(), abi.EventRouteDecided, f); err != nil {
					t.Error(err)
				}
				if h.HearsFor(abi.EventRouteDecided, f) {
					t.Errorf("skip[%d]: HearsFor is true", i)
				}
				if h.Wants(f, abi.Hooks, []abi.Event{abi.EventRouteDecided}) {
					t.Errorf("skip[%d]: Wants is true", i)
				}
				if n := calls() - before; n != 0 {
					t.Errorf("skip[%d] (%s %v): the guest was entered %d times, want 0", i, f.Protocol, f.HTTP, n)
				}
			}
			for i, f := range tc.enter {
				before := calls()
				for _, hook := range abi.Hooks {
					h.Run(context.Background(), hook, f)
				}
				_ = h.Fire(context.Background(), abi.EventRouteDecided, f)
				if !h.HearsFor(abi.EventRouteDecided, f) {
					t.Errorf("enter[%d]: HearsFor is false", i)
				}
				if !h.Wants(f, abi.Hooks, nil) || !h.Wants(f, nil, []abi.Event{abi.EventRouteDecided}) {
					t.Errorf("enter[%d]: Wants is false", i)
				}
				const want = 5 // four hooks (Run does not know rewrite is HTTP's) and the event
				if n := calls() - before; n != want {
					t.Errorf("enter[%d] (%s %v): the guest was entered %d times, want %d", i, f.Protocol, f.HTTP, n, want)
				}
			}
		})
	}
}

// TestHost_requestFilters_badValues: an invalid filter value is ErrInvalid
// in init (here the guest refuses its configuration with the error).
func TestHost_requestFilters_badValues(t *testing.T) {
	path := goGuest(t, "filter")
	for _, config := range []string{`{"protocols":["smtp"]}`, `{"paths":["service"]}`, `{"hosts":["a/b"]}`,
		`{"methods":["GE T"]}`, `{"paths":["/a",""]}`, `{"hosts":["*"]}`} {
		h, _ := newTestHost(t, Options{})
		err := h.Load(context.Background(), []Spec{{Name: "f", Path: path, Config: []byte(config)}})
		if err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("%s: load error %v, want the init's refusal with ErrInvalid", config, err)
		}
	}
}

// TestHost_requestFilters_noAlloc: skipping a filtered plugin allocates
// nothing and enters no guest.
func TestHost_requestFilters_noAlloc(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	if err := h.Load(context.Background(), []Spec{{Name: "f", Path: goGuest(t, "filter"),
		Config: []byte(`{"login":true,"hosts":["*.example.com"],"paths":["/service/"]}`)}}); err != nil {
		t.Fatal(err)
	}
	f := mailFields()
	f.Protocol, f.Login = "http", ""
	f.HTTP = &HTTPFields{Method: "GET", Host: "mail.example.com:443", Path: "/service/soap"}
	ctx := context.Background()
	allocs := testing.AllocsPerRun(1000, func() {
		for _, hook := range abi.Hooks {
			h.Run(ctx, hook, f)
		}
		_ = h.HearsFor(abi.EventRouteDecided, f)
		_ = h.Wants(f, abi.Hooks, []abi.Event{abi.EventRouteDecided})
	})
	if allocs != 0 {
		t.Errorf("%v allocations per filtered request, want 0", allocs)
	}
	if n := h.Plugin("f").Stats().Calls.Load(); n != 0 {
		t.Errorf("%d calls", n)
	}
}

// TestHost_reuse: Reuse is the shortest reuse declared by the plugins a
// web request could enter at login, throttle, route or route_decided; one
// of them without a reuse (or one that is not for HTTP at all being the
// only one) turns it off, and every load moves the epoch.
func TestHost_reuse(t *testing.T) {
	path := goGuest(t, "filter")
	tests := []struct {
		name    string
		configs []string
		want    time.Duration
		without []string // WithoutReuse
	}{
		{"none declared", []string{`{}`}, 0, []string{"p0"}},
		{"one", []string{`{"reuse_ms":5000}`}, 5 * time.Second, nil},
		{"the shortest", []string{`{"reuse_ms":5000}`, `{"reuse_ms":1500,"login":true}`}, 1500 * time.Millisecond, nil},
		{"one without", []string{`{"reuse_ms":5000}`, `{"login":true}`}, 0, []string{"p1"}},
		{"a mail-only plugin does not count", []string{`{"reuse_ms":5000}`, `{"protocols":["imap","pop3"]}`}, 5 * time.Second, nil},
		{"only mail plugins: nothing to reuse", []string{`{"reuse_ms":5000,"protocols":["imap"]}`}, 0, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, _ := newTestHost(t, Options{})
			_, e0 := h.Reuse()
			var specs []Spec
			for i, c := range tc.configs {
				specs = append(specs, Spec{Name: fmt.Sprintf("p%d", i), Path: path, Config: []byte(c)})
			}
			if err := h.Load(context.Background(), specs); err != nil {
				t.Fatal(err)
			}
			d, e1 := h.Reuse()
			if d != tc.want {
				t.Errorf("Reuse() = %v, want %v", d, tc.want)
			}
			if got := h.WithoutReuse(); !slices.Equal(got, tc.without) {
				t.Errorf("WithoutReuse() = %q, want %q", got, tc.without)
			}
			if e1 == e0 {
				t.Errorf("epoch %d did not move on Load", e1)
			}
			if got := h.Plugin("p0").Info().Reuse; tc.configs[0] != `{}` && got == 0 {
				t.Errorf("Info().Reuse = 0 for %s", tc.configs[0])
			}
		})
	}
	t.Run("a plugin left only rewrite by its spec still hears route_decided", func(t *testing.T) {
		h, _ := newTestHost(t, Options{})
		if err := h.Load(context.Background(), []Spec{
			{Name: "a", Path: path, Config: []byte(`{"reuse_ms":2000}`)},
			{Name: "b", Path: path, Config: []byte(`{}`), Hooks: []abi.Hook{abi.HookRewrite}},
		}); err != nil {
			t.Fatal(err)
		}
		if d, _ := h.Reuse(); d != 0 {
			t.Errorf("Reuse() = %v, want 0: b serves only rewrite, but hears route_decided, which a reuse skips, and declared no reuse", d)
		}
	})
}

func TestHost_reuse_badValues(t *testing.T) {
	path := goGuest(t, "filter")
	for _, config := range []string{`{"reuse_ms":-1}`, `{"reuse_ms":3600001}`} {
		h, _ := newTestHost(t, Options{})
		err := h.Load(context.Background(), []Spec{{Name: "f", Path: path, Config: []byte(config)}})
		if err == nil || !strings.Contains(err.Error(), "invalid") {
			t.Errorf("%s: load error %v, want the init's refusal with ErrInvalid", config, err)
		}
	}
}
