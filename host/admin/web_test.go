package admin

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/postern/postern/host/web"
)

// TestServer_statusWeb: the status page and /metrics show the web front
// end's counters after a real request through it.
func TestServer_statusWeb(t *testing.T) {
	be := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "hello") }))
	defer be.Close()
	ws, err := web.New(web.Options{Config: web.Config{
		Listeners: []web.Listener{{Name: "www", Address: "127.0.0.1:0"}},
		Pools:     []web.Pool{{Name: "p", Backends: []web.Backend{{Address: be.Listener.Addr().String()}}}},
		Pool:      "p",
	}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := ws.Start(); err != nil {
		t.Fatal(err)
	}
	defer ws.Shutdown(context.Background())
	resp, err := http.Get("http://" + ws.Addr("www").String() + "/")
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()

	s, base := start(t, Options{})
	s.Attach(Sources{Web: ws})
	page := do(t, "GET", base+"/", "", nil)
	for _, want := range []string{"web requests", "web responses 2xx", "web www: bytes sent (response bodies)",
		"web pool p backend " + be.Listener.Addr().String() + ": up"} {
		if !strings.Contains(page.body, want) {
			t.Errorf("status page has no %q", want)
		}
	}
	m := do(t, "GET", base+"/metrics", "", nil)
	if !strings.Contains(m.body, `postern_web_requests_total{backend="`+be.Listener.Addr().String()+`",class="2xx",listener="www",pool="p"} 1`) {
		t.Errorf("/metrics has no web request series:\n%s", m.body)
	}
}
