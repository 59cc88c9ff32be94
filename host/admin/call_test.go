package admin

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
)

// callHost loads all_hooks (each hook sets message to its name and
// decides; route sets upstreams) and trap (traps in login, failing
// closed) into a real plugin host.
func callHost(t *testing.T) *plugin.Host {
	t.Helper()
	ctx := context.Background()
	h, err := plugin.New(ctx, plugin.Options{Store: kv.NewMemory(kv.MemoryOptions{}), Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Close(ctx) })
	if err := h.Load(ctx, []plugin.Spec{
		{Name: "trap", Path: fixture("trap.wasm")},
		{Name: "all", Path: fixture("all_hooks.wasm")},
	}); err != nil {
		t.Fatal(err)
	}
	return h
}

func TestServer_Call(t *testing.T) {
	const token = "call-test-token"
	logs := newLogBuffer()
	s, base := start(t, Options{Token: token, Logger: slog.New(slog.NewTextHandler(logs, nil))})
	auth := map[string]string{"Authorization": "Bearer " + token, "Content-Type": "application/json"}
	if r := do(t, "POST", base+"/call", `{"hook":"route"}`, auth); r.code != 503 {
		t.Errorf("before Attach: %d %q", r.code, r.body)
	}
	h := callHost(t)
	s.Attach(Sources{Plugins: h})
	tests := []struct {
		name  string
		body  string
		hdr   map[string]string
		code  int
		lines []string // 200: the answer's lines
		want  string   // otherwise: in the body
	}{
		{name: "route", body: `{"hook":"route","fields":["login=bob@example.com","password=hunter2","client_ip=192.0.2.1"]}`, hdr: auth, code: 200,
			lines: []string{"route: done by all", "protocol=imap", "session_id=postern-call", "client_ip=192.0.2.1",
				"login=bob@example.com", "password=<set>", "login_attempt=1", "upstreams=127.0.0.1:1143,127.0.0.1:2143", "message=route"}},
		{name: "a failing plugin", body: `{"hook":"login","fields":["login=bob"]}`, hdr: auth, code: 200,
			lines: []string{"login: tempfail by trap: plugin trap: hook login: trap: wasm error: unreachable*"}},
		{name: "http fields", body: `{"hook":"rewrite","fields":["http_path=/home/bob","header:Cookie=ZM_AUTH_TOKEN=secret"],"timeout_ms":2000}`, hdr: auth, code: 200,
			lines: []string{"rewrite: done by all", "protocol=http", "session_id=postern-call", "login_attempt=1", "http_path=/home/bob", "message=rewrite", "header:Cookie=<set>"}},
		{name: "no token", body: `{"hook":"route"}`, hdr: map[string]string{"Content-Type": "application/json"}, code: 401, want: "bearer token"},
		{name: "unknown hook", body: `{"hook":"logout"}`, hdr: auth, code: 400, want: `hook "logout"`},
		{name: "unknown field", body: `{"hook":"route","fields":["logn=bob"]}`, hdr: auth, code: 400, want: "did you mean login?"},
		{name: "unknown key", body: `{"hook":"route","password":"hunter2"}`, hdr: auth, code: 400, want: `unknown field "password"`},
		{name: "not JSON", body: `hook=route`, hdr: auth, code: 400, want: "syntax error at byte 1"},
		{name: "two objects", body: `{"hook":"route"}{"hook":"login"}`, hdr: auth, code: 400, want: "one object"},
		{name: "timeout too long", body: `{"hook":"route","timeout_ms":3600000}`, hdr: auth, code: 400, want: "timeout_ms 3600000"},
		{name: "too big", body: `{"hook":"route","fields":["message=` + strings.Repeat("x", 70<<10) + `"]}`, hdr: auth, code: 413, want: "64 KiB"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := do(t, "POST", base+"/call", tc.body, tc.hdr)
			if r.code != tc.code {
				t.Fatalf("status %d, want %d: %s", r.code, tc.code, r.body)
			}
			if strings.Contains(r.body, "hunter2") {
				t.Errorf("the answer shows the password: %s", r.body)
			}
			if tc.code != 200 {
				if !strings.Contains(r.body, tc.want) {
					t.Errorf("body %q, want %q in it", r.body, tc.want)
				}
				return
			}
			var resp CallResponse
			if err := json.Unmarshal([]byte(r.body), &resp); err != nil {
				t.Fatal(err)
			}
			if len(resp.Lines) < len(tc.lines) {
				t.Fatalf("lines %q, want %q", resp.Lines, tc.lines)
			}
			for i, want := range tc.lines {
				if got := resp.Lines[i]; got != want && !(strings.HasSuffix(want, "*") && strings.HasPrefix(got, strings.TrimSuffix(want, "*"))) {
					t.Errorf("line %d = %q, want %q\nall: %q", i, got, want, resp.Lines)
				}
			}
			if tc.name == "a failing plugin" && (resp.Error == "" || resp.Verdict != "tempfail" || resp.Plugin != "trap") {
				t.Errorf("answer %+v", resp)
			}
		})
	}
	if l := logs.String(); strings.Contains(l, "hunter2") || strings.Contains(l, "bob@example.com") || !strings.Contains(l, "admin: live call") {
		t.Errorf("log shows a field, or no call line:\n%s", l)
	}
	// No event was fired: all_hooks logs route_decided when it is.
	if n := h.Plugin("all").Stats().Calls.Load(); n != 2 {
		t.Errorf("all was called %d times, want 2 (route, rewrite: no event)", n)
	}
}

func TestServer_Upstreams(t *testing.T) {
	s, base := start(t, Options{})
	if r := do(t, "GET", base+"/upstreams", "", nil); r.code != 503 {
		t.Errorf("before Attach: %d %q", r.code, r.body)
	}
	var fail bool
	s.Attach(Sources{Upstreams: func() (Upstreams, error) {
		if fail {
			return Upstreams{}, errors.New("plugins.chain[1] (lookup): config.servers is not a list of URLs")
		}
		return Upstreams{Backends: []string{"10.0.0.5:143"}, Memcached: []string{"10.0.0.20:11211"}}, nil
	}})
	r := do(t, "GET", base+"/upstreams", "", nil)
	want := `{"lookup_urls":[],"backends":["10.0.0.5:143"],"soap_urls":[],"memcached":["10.0.0.20:11211"]}`
	if r.code != 200 || strings.Join(strings.Fields(r.body), "") != want {
		t.Errorf("%d %s\nwant %s", r.code, r.body, want)
	}
	fail = true
	if r := do(t, "GET", base+"/upstreams", "", nil); r.code != 500 || !strings.Contains(r.body, "config.servers") {
		t.Errorf("failing: %d %q", r.code, r.body)
	}
}

// FuzzParseCallRequest: any body gives a request or an error, never a
// panic, and an error never quotes a password given in the fields.
func FuzzParseCallRequest(f *testing.F) {
	f.Add([]byte(`{"hook":"route","fields":["login=bob","password=hunter2"]}`))
	f.Add([]byte(`{"hook":"login","fields":["client_ip=hunter2","password=hunter2"],"timeout_ms":5}`))
	f.Add([]byte(`{"hook":"rewrite","fields":["header:Cookie=a","imap_id:name=x","=","header:="]}`))
	f.Add([]byte(`{"hook":"route","fields":["password"]}`))
	f.Add([]byte(`{"hook":1}`))
	f.Add([]byte(`[]`))
	f.Add([]byte(`{"hook":"route","timeout_ms":-1}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		hook, fields, timeout, err := ParseCallRequest(body)
		if err != nil {
			for _, v := range secretsOnly(body) {
				if strings.Contains(err.Error(), v) {
					t.Errorf("error quotes the password %q: %v", v, err)
				}
			}
			return
		}
		if hook.Export() == "" || fields == nil || timeout <= 0 || timeout > MaxCallTimeout {
			t.Errorf("accepted %q as hook %d, fields %v, timeout %v", body, hook, fields, timeout)
		}
	})
}

// secretsOnly returns the password values of a call request body that
// appear nowhere else in it (so an error quoting another field or the
// hook is not taken for a leak).
func secretsOnly(body []byte) []string {
	var req CallRequest
	if json.Unmarshal(body, &req) != nil {
		return nil
	}
	var secrets, others []string
	others = append(others, req.Hook)
	for _, f := range req.Fields {
		name, v, _ := strings.Cut(f, "=")
		if name == "password" || name == "upstream_password" {
			secrets = append(secrets, v)
		} else {
			others = append(others, f)
		}
	}
	var out []string
	for _, v := range secrets {
		if len(v) < 4 {
			continue
		}
		elsewhere := false
		for _, o := range others {
			elsewhere = elsewhere || strings.Contains(o, v)
		}
		if !elsewhere {
			out = append(out, v)
		}
	}
	return out
}
