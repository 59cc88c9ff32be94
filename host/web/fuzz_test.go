package web

import (
	"bufio"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// FuzzRedirectHandler: any Host and path give a 400 or an https redirect
// on one line, never a panic or a header injection.
func FuzzRedirectHandler(f *testing.F) {
	f.Add("mail.test", "/a?b=c", 8443)
	f.Add("[2001:db8::1]:80", "/", 443)
	f.Fuzz(func(t *testing.T, host, path string, port int) {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Host = host
		req.URL.Path = path
		w := httptest.NewRecorder()
		(&redirectHandler{port: port & 0xffff}).ServeHTTP(w, req)
		loc := w.Header().Get("Location")
		switch w.Code {
		case http.StatusBadRequest:
		case http.StatusMovedPermanently:
			if !strings.HasPrefix(loc, "https://") {
				t.Fatalf("Location %q", loc)
			}
		default:
			t.Fatalf("status %d", w.Code)
		}
	})
}

// FuzzH1Server: any bytes from a client get well-formed responses (or a
// closed connection), never a panic in the server, and the handler's
// answer keeps its framing whatever it writes.
func FuzzH1Server(f *testing.F) {
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\n\r\nGET /b HTTP/1.1\r\nHost: b\r\nConnection: close\r\n\r\n"))
	f.Add([]byte("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n"))
	f.Add([]byte("POST /x HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\nhi"))
	f.Add([]byte("HEAD /stream HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"))
	f.Add([]byte("GET /big HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n"))
	f.Add([]byte("GET / HTTP/1.1\r\nHost: a\r\nX: \x00\r\n\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		var panics atomic.Int32
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, io.LimitReader(r.Body, 1<<16))
			switch r.URL.Path {
			case "/stream":
				w.Write([]byte("first"))
				w.(http.Flusher).Flush()
				w.Write([]byte(strings.Repeat("z", 5000)))
			case "/big":
				w.Write([]byte(strings.Repeat("y", 5000)))
			default:
				w.Header().Set("X-Path", r.URL.Path)
				w.Write([]byte("ok"))
			}
		})
		hs := newH1Server(&http.Server{Handler: h, MaxHeaderBytes: 4096, ReadHeaderTimeout: time.Second, IdleTimeout: time.Second,
			ErrorLog: log.New(panicCounter{&panics}, "", 0)})
		client, server := net.Pipe()
		sc := &h1ServerConn{hs: hs, conn: server}
		hs.conns[sc] = struct{}{}
		done := make(chan struct{})
		go func() { sc.serve(); close(done) }()
		go func() { client.Write(in); client.Write([]byte("\r\n\r\n")) }()
		client.SetReadDeadline(time.Now().Add(2 * time.Second))
		br := bufio.NewReader(client)
		for {
			resp, err := http.ReadResponse(br, nil)
			if err != nil {
				break // EOF, a close, or the deadline: the server wants no more
			}
			if _, err := io.Copy(io.Discard, resp.Body); err != nil && resp.Request == nil {
				break
			}
		}
		client.Close()
		<-done
		if panics.Load() > 0 {
			t.Fatalf("the server panicked on %q", in)
		}
	})
}

// panicCounter counts logged panics.
type panicCounter struct{ n *atomic.Int32 }

func (p panicCounter) Write(b []byte) (int, error) {
	if strings.Contains(string(b), "panic") {
		p.n.Add(1)
	}
	return len(b), nil
}
