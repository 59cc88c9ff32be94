package web

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
)

// appBackend is a real backend whose /app/login redirects to itself with
// its own address, sets cookies for its own domain and path, and announces
// itself in X-Powered-By; /missing is a 404 and /broken a 502.
func appBackend(t *testing.T) *backend {
	var b *backend
	b = newBackend(t, "app", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Powered-By", "PHP/5.4")
		switch r.URL.Path {
		case "/app/login":
			h.Set("Location", "http://"+b.addr+"/app/home?x=1")
			h.Add("Set-Cookie", "sid=abc; Domain=backend.local; Path=/app/; HttpOnly")
			h.Add("Set-Cookie", "lang=de; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/app")
			w.WriteHeader(http.StatusFound)
			io.WriteString(w, "moved")
		case "/broken":
			w.WriteHeader(http.StatusBadGateway)
			io.WriteString(w, "backend says 502")
		default:
			w.WriteHeader(http.StatusNotFound)
			io.WriteString(w, "no such page")
		}
	}))
	return b
}

// TestServer_responseHook: url-rewrite's response rules (ABI 1.1 response
// hook) rewrite a real backend's redirect and cookies, hide and add
// headers, and leave the body alone.
func TestServer_responseHook(t *testing.T) {
	app := appBackend(t)
	ur := plugintest.Build(t, "plugins/url-rewrite")
	conf, _ := json.Marshal(map[string]any{"response": []any{
		map[string]any{"status": []int{404}, "set_headers": map[string]string{"X-Not-Found": "1"}, "last": false},
		map[string]any{
			"path":          "^/app/",
			"location":      []any{map[string]string{"from": "http://" + app.addr + "/app/", "to": "https://mail.example.com/"}},
			"hide_headers":  []string{"X-Powered-By"},
			"set_headers":   map[string]string{"Strict-Transport-Security": "max-age=31536000"},
			"cookie_domain": []any{map[string]string{"from": "backend.local", "to": "mail.example.com"}},
			"cookie_path":   []any{map[string]string{"from": "/app/", "to": "/"}, map[string]string{"from": "/app", "to": "/"}},
		},
	}})
	h := pluginHost(t, nil, plugin.Spec{Name: "url-rewrite", Path: ur, Config: conf})
	s, _ := start(t, Options{Config: simple("", app.addr), Plugins: h})
	c := client(t, nil)

	resp, body := get(t, c, urlOf(s, "web", "/app/login"))
	if resp.StatusCode != http.StatusFound || body.Backend != "moved" {
		t.Fatalf("status %d body %q; want the backend's 302", resp.StatusCode, body.Backend)
	}
	if got := resp.Header.Get("Location"); got != "https://mail.example.com/home?x=1" {
		t.Errorf("Location %q", got)
	}
	wantCookies := []string{"sid=abc; Domain=mail.example.com; Path=/; HttpOnly", "lang=de; Expires=Wed, 21 Oct 2026 07:28:00 GMT; Path=/"}
	if got := resp.Header.Values("Set-Cookie"); !slices.Equal(got, wantCookies) {
		t.Errorf("Set-Cookie %q; want %q", got, wantCookies)
	}
	if resp.Header.Get("X-Powered-By") != "" || resp.Header.Get("Strict-Transport-Security") != "max-age=31536000" || resp.Header.Get("X-Not-Found") != "" {
		t.Errorf("headers %v", resp.Header)
	}

	resp, body = get(t, c, urlOf(s, "web", "/missing"))
	if resp.StatusCode != http.StatusNotFound || body.Backend != "no such page" || resp.Header.Get("X-Not-Found") != "1" ||
		resp.Header.Get("X-Powered-By") == "" || resp.Header.Get("Strict-Transport-Security") != "" {
		t.Errorf("404: status %d body %q headers %v; want only X-Not-Found added", resp.StatusCode, body.Backend, resp.Header)
	}
	counters := h.Plugin("url-rewrite").Counters()
	if counters["response_0_hits"] != 1 || counters["response_1_hits"] != 1 {
		t.Errorf("counters %v", counters)
	}
}

// TestServer_responseHookNotEntered: with no plugin serving the response
// hook the host enters no guest for it: url-rewrite limited to the
// rewrite hook is called once per request; allowed both hooks, twice.
func TestServer_responseHookNotEntered(t *testing.T) {
	app := appBackend(t)
	ur := plugintest.Build(t, "plugins/url-rewrite")
	// A request rule that keeps the path: the request filter (/x/) matches
	// the request as the request hooks left it, in the response hook too.
	conf := []byte(`{"rules":[{"path":"^/x/","set_headers":{"X-Seen":"1"}}]}`)
	// One host, loaded twice: the second load compiles from its cache.
	h := pluginHost(t, nil)
	for _, tc := range []struct {
		hooks []abi.Hook
		calls int64
	}{{[]abi.Hook{abi.HookRewrite}, 1}, {nil, 2}} {
		if err := h.Load(context.Background(), []plugin.Spec{{Name: "url-rewrite", Path: ur, Config: conf, Hooks: tc.hooks}}); err != nil {
			t.Fatal(err)
		}
		if h.Serves(abi.HookResponse) != (tc.calls == 2) {
			t.Errorf("hooks %v: Serves(response) = %v", tc.hooks, h.Serves(abi.HookResponse))
		}
		s, _ := start(t, Options{Config: simple("", app.addr), Plugins: h})
		c := client(t, nil)
		for range 3 {
			if resp, _ := get(t, c, urlOf(s, "web", "/x/missing")); resp.StatusCode != http.StatusNotFound {
				t.Fatalf("status %d", resp.StatusCode)
			}
		}
		if n := h.Plugin("url-rewrite").Stats().Calls.Load(); n != 3*tc.calls {
			t.Errorf("hooks %v: %d guest calls for 3 requests; want %d", tc.hooks, n, 3*tc.calls)
		}
		// Outside the plugin's request filter (/x/) neither hook enters it.
		if resp, _ := get(t, c, urlOf(s, "web", "/y/missing")); resp.StatusCode != http.StatusNotFound {
			t.Fatalf("status %d", resp.StatusCode)
		}
		if n := h.Plugin("url-rewrite").Stats().Calls.Load(); n != 3*tc.calls {
			t.Errorf("hooks %v: a request outside the filter entered the plugin (%d calls)", tc.hooks, n)
		}
	}
}

// TestServer_responseHookFailure: a response hook that fails (the
// conformance fixture traps on a 5xx) leaves the response as the backend
// sent it under the default open policy, and answers 503 instead of it
// under a closed policy; a refused response answers 403.
func TestServer_responseHookFailure(t *testing.T) {
	app := appBackend(t)
	wasm := filepath.Join("..", "..", "conformance", "testdata", "response.wasm")
	for _, tc := range []struct {
		policy plugin.FailurePolicy
		status int
		body   string
	}{{plugin.FailOpen, http.StatusBadGateway, "backend says 502"}, {plugin.FailClosed, http.StatusServiceUnavailable, "Service Unavailable\n"}} {
		h := pluginHost(t, nil, plugin.Spec{Name: "resp", Path: wasm, Hooks: []abi.Hook{abi.HookResponse},
			OnFailure: map[abi.Hook]plugin.FailurePolicy{abi.HookResponse: tc.policy}})
		s, logs := start(t, Options{Config: simple("", app.addr), Plugins: h})
		c := client(t, nil)
		resp, body := get(t, c, urlOf(s, "web", "/broken"))
		if resp.StatusCode != tc.status || body.Backend != tc.body || resp.Header.Get("X-Added") != "" {
			t.Errorf("policy %v: status %d body %q headers %v; want %d %q without the failed call's header", tc.policy, resp.StatusCode, body.Backend, resp.Header, tc.status, tc.body)
		}
		if tc.policy == plugin.FailClosed && !strings.Contains(logs.String(), `"plugins":"response=tempfail:resp"`) {
			t.Errorf("access log without the response verdict:\n%s", logs)
		}
	}
}
