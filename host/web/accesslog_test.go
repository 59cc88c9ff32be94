package web

import (
	"log/slog"
	"net/http"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
)

// TestServer_accessLogLine checks the line the hot path builds: every key
// with its value, the verdicts of the chains that ran (only route and
// rewrite: no plugin serves login or throttle, so those chains are
// skipped), and no line at all when the access logger is off at Info.
func TestServer_accessLogLine(t *testing.T) {
	be := newBackend(t, "b", nil)
	rr := guest(t, "route-rewrite")
	h := pluginHost(t, kv.NewMemory(kv.MemoryOptions{}),
		plugin.Spec{Name: "route", Path: rr, Hooks: []abi.Hook{abi.HookRoute},
			Config: []byte(`{"routes":{"bob":"` + be.addr + `"}}`)},
		plugin.Spec{Name: "rewrite", Path: rr, Hooks: []abi.Hook{abi.HookRewrite}})
	for _, hook := range []abi.Hook{abi.HookLogin, abi.HookThrottle} {
		if h.Serves(hook) {
			t.Fatalf("Serves(%s) = true; the test needs a chain no plugin serves", hook)
		}
	}
	tests := []struct {
		name  string
		level slog.Level
		want  map[string]any // nil: no line
	}{
		{"info", slog.LevelInfo, map[string]any{
			"msg": "http request", "listener": "web", "client": "127.0.0.1", "user": "bob",
			"method": "GET", "path": "/old/x", "proto": "HTTP/1.1", "status": float64(200),
			"upstream": be.addr, "plugins": "route=done:route rewrite=done:rewrite",
		}},
		{"off at info", slog.LevelWarn, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			logs := &logBuf{}
			s, _ := start(t, Options{Config: simple("", be.addr), Plugins: h,
				AccessLog: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: tc.level}))})
			c := client(t, nil)
			req, _ := http.NewRequest(http.MethodGet, urlOf(s, "web", "/old/x?secret=1"), nil)
			req.SetBasicAuth("bob", "pw")
			resp, got := do(t, c, req)
			if resp.StatusCode != 200 || got.Path != "/new/x" || got.Header.Get("X-Rewritten") != "1" {
				t.Fatalf("status %d, backend saw %s %v", resp.StatusCode, got.Path, got.Header)
			}
			if got.Header.Get("X-Real-Ip") != "127.0.0.1" || got.Header.Get("X-Forwarded-For") != "127.0.0.1" ||
				got.Header.Get("X-Forwarded-Proto") != "http" || got.Header.Get("X-Forwarded-Host") != req.Host {
				t.Errorf("forwarding headers: %v", got.Header)
			}
			lines := logs.lines(t)
			if tc.want == nil {
				if len(lines) != 0 {
					t.Fatalf("access logger off at Info, got %v", lines)
				}
				return
			}
			if len(lines) != 1 {
				t.Fatalf("%d access lines, want 1: %s", len(lines), logs)
			}
			l := lines[0]
			for k, v := range tc.want {
				if l[k] != v {
					t.Errorf("%s = %v, want %v", k, l[k], v)
				}
			}
			for _, k := range []string{"request", "host", "bytes", "duration"} {
				if _, ok := l[k]; !ok {
					t.Errorf("no %s in %v", k, l)
				}
			}
			for _, k := range []string{"peer", "error"} {
				if _, ok := l[k]; ok {
					t.Errorf("unexpected %s in %v", k, l)
				}
			}
		})
	}
}
