package metrics

import (
	"bufio"
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/postern/postern/host/web"
)

// TestCollector_Web scrapes /metrics after real requests through a web
// front end whose pool has a live backend and a dead one.
func TestCollector_Web(t *testing.T) {
	body := strings.Repeat("x", 1024)
	ok := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/ws" {
			conn, brw, err := http.NewResponseController(w).Hijack()
			if err != nil {
				return
			}
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			conn.Close()
			return
		}
		io.Copy(io.Discard, r.Body)
		io.WriteString(w, body)
	}))
	defer ok.Close()
	deadLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := deadLn.Addr().String()
	deadLn.Close()
	okAddr := ok.Listener.Addr().String()

	srv, err := web.New(web.Options{Config: web.Config{
		Listeners:    []web.Listener{{Name: "web", Address: "127.0.0.1:0"}},
		Pools:        []web.Pool{{Name: "p", Backends: []web.Backend{{Address: okAddr}, {Address: dead}}, MaxFails: 1, FailTimeout: time.Minute}},
		Pool:         "p",
		MaxBodyBytes: 4096,
	}, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	defer srv.Shutdown(context.Background())
	base := "http://" + srv.Addr("web").String()
	c := &http.Client{Transport: &http.Transport{}}
	for i := range 10 {
		resp, err := c.Get(base + "/page")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %d: %s", i, resp.Status)
		}
	}
	resp, err := c.Post(base+"/upload", "text/plain", strings.NewReader(strings.Repeat("y", 100)))
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	resp, err = c.Post(base+"/big", "text/plain", strings.NewReader(strings.Repeat("y", 5000))) // 413, no backend
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("oversized body: %s", resp.Status)
	}
	conn, err := net.Dial("tcp", srv.Addr("web").String())
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(conn, "GET /ws HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n")
	line, _ := bufio.NewReader(conn).ReadString('\n')
	conn.Close()
	if !strings.HasPrefix(line, "HTTP/1.1 101") {
		t.Fatalf("upgrade answered %q", line)
	}

	col := New("test")
	col.Set(Sources{Web: srv})
	scrape := httptest.NewServer(promhttp.HandlerFor(Registry(col), promhttp.HandlerOpts{}))
	defer scrape.Close()
	var text string
	deadline := time.Now().Add(5 * time.Second)
	for {
		r, err := http.Get(scrape.URL)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		text = string(b)
		// The upgraded request is counted when its handler returns.
		if strings.Contains(text, `postern_web_request_duration_seconds_count{listener="web"} 13`) || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, want := range []string{
		`postern_web_requests_total{backend="` + okAddr + `",class="2xx",listener="web",pool="p"} 11`,
		`postern_web_requests_total{backend="` + okAddr + `",class="1xx",listener="web",pool="p"} 1`,
		`postern_web_requests_total{backend="",class="4xx",listener="web",pool=""} 1`,
		`postern_web_upstream_errors_total{backend="` + dead + `",pool="p"} 1`,
		`postern_web_upstream_errors_total{backend="` + okAddr + `",pool="p"} 0`,
		`postern_web_upstream_retries_total{pool="p"} 1`,
		`postern_web_backend_up{backend="` + dead + `",pool="p"} 0`,
		`postern_web_backend_up{backend="` + okAddr + `",pool="p"} 1`,
		`postern_web_received_bytes_total{listener="web"} 100`,
		`postern_web_sent_bytes_total{listener="web"} 11289`, // 11 KiB, and "Request Entity Too Large\n"
		`postern_web_upgrades_total{listener="web"} 1`,
		`postern_web_request_duration_seconds_count{listener="web"} 13`,
		`postern_web_upstream_duration_seconds_count{pool="p"} 12`,
		`postern_web_request_duration_seconds_bucket{listener="web",le="+Inf"} 13`,
	} {
		if !strings.Contains(text, want+"\n") {
			t.Errorf("no line %s", want)
		}
	}
	if t.Failed() {
		for _, l := range strings.Split(text, "\n") {
			if strings.HasPrefix(l, "postern_web_") && !strings.Contains(l, "_bucket") {
				t.Log(l)
			}
		}
	}
}
