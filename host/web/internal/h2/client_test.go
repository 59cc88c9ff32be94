package h2_test

// Tests through real clients: Go's HTTP/2 client (net/http Transport with
// unencrypted HTTP/2 only, i.e. prior knowledge), curl and h2load; plus a
// few request/response semantics checked on raw frames.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// newClient returns a client speaking HTTP/2 with prior knowledge and a
// count of the TCP connections it dialed.
func newClient(t testing.TB) (*http.Client, *atomic.Int64) {
	var dials atomic.Int64
	var p http.Protocols
	p.SetUnencryptedHTTP2(true)
	tr := &http.Transport{
		Protocols: &p,
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			dials.Add(1)
			return (&net.Dialer{}).DialContext(ctx, network, addr)
		},
	}
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr, Timeout: 20 * time.Second}, &dials
}

func url(ts *testServer, path string) string { return "http://" + ts.Addr + path }

// get does a GET and returns the status and body, failing the test on error.
func get(t testing.TB, c *http.Client, u string) (*http.Response, string) {
	t.Helper()
	resp, err := c.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp, string(b)
}

// TestConcurrentRequests: RFC 9113 §5 (multiplexing): 50 goroutines x 20
// requests on one connection, each answer checked; and the server's
// goroutines return to their idle number with the connection still open
// (no per-stream leak).
func TestConcurrentRequests(t *testing.T) {
	t.Parallel()
	ts := startServer(t, handlerFunc(func(w responseWriter, r *request) {
		io.WriteString(w, r.URL.Path+"?"+r.URL.RawQuery)
	}), serverOpts{})
	c, dials := newClient(t)
	get(t, c, url(ts, "/warmup"))
	idle := ts.goroutines()

	var wg sync.WaitGroup
	errs := make(chan error, 50*20)
	for g := range 50 {
		wg.Go(func() {
			for r := range 20 {
				want := fmt.Sprintf("/g%d/r%d?x=%d", g, r, g*r)
				resp, err := c.Get(url(ts, want))
				if err != nil {
					errs <- err
					return
				}
				b, err := io.ReadAll(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != 200 || string(b) != want {
					errs <- fmt.Errorf("%s: status %d body %q err %v", want, resp.StatusCode, b, err)
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("client dialed %d connections, want 1", n)
	}
	if n := waitGoroutines(ts, idle+3, 2*time.Second); n > idle+3 {
		t.Errorf("server has %d goroutines after 1000 finished streams, %d when idle before", n, idle)
	}
}

// payload returns a deterministic pseudo-random reader of n bytes.
func payload(seed uint64, n int64) io.Reader {
	var s [32]byte
	s[0] = byte(seed)
	return io.LimitReader(rand.NewChaCha8(s), n)
}

func sum(r io.Reader) string {
	h := sha256.New()
	io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil))
}

// TestLargeBodies: RFC 9113 §5.2 and §6.9 (flow control both ways): a 32 MiB
// upload and a 32 MiB download arrive intact (sha256), and a client that
// reads an 8 MiB body slowly still gets all of it.
func TestLargeBodies(t *testing.T) {
	t.Parallel()
	const big = 32 << 20
	ts := startServer(t, handlerFunc(func(w responseWriter, r *request) {
		switch r.URL.Path {
		case "/upload":
			io.WriteString(w, sum(r.Body))
		case "/download":
			n, _ := strconv.ParseInt(r.URL.Query().Get("n"), 10, 64)
			io.Copy(w, payload(7, n))
		}
	}), serverOpts{})
	t.Run("upload", func(t *testing.T) {
		t.Parallel()
		c, _ := newClient(t)
		resp, err := c.Post(url(ts, "/upload"), "application/octet-stream", payload(3, big))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		got, _ := io.ReadAll(resp.Body)
		if want := sum(payload(3, big)); string(got) != want {
			t.Fatalf("server's sha256 %s, want %s", got, want)
		}
	})
	t.Run("download", func(t *testing.T) {
		t.Parallel()
		c, _ := newClient(t)
		resp, err := c.Get(url(ts, fmt.Sprintf("/download?n=%d", big)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if got, want := sum(resp.Body), sum(payload(7, big)); got != want {
			t.Fatalf("sha256 %s, want %s", got, want)
		}
	})
	t.Run("slow reader", func(t *testing.T) {
		t.Parallel()
		const n = 8 << 20
		c, _ := newClient(t)
		resp, err := c.Get(url(ts, fmt.Sprintf("/download?n=%d", n)))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		h := sha256.New()
		buf := make([]byte, 64<<10)
		total := 0
		for i := 0; ; i++ {
			k, err := io.ReadFull(resp.Body, buf)
			h.Write(buf[:k])
			total += k
			if err != nil {
				break
			}
			if i%8 == 7 {
				time.Sleep(20 * time.Millisecond) // the server's send window fills meanwhile
			}
		}
		if got, want := hex.EncodeToString(h.Sum(nil)), sum(payload(7, n)); total != n || got != want {
			t.Fatalf("got %d bytes sha256 %s, want %d bytes %s", total, got, n, want)
		}
	})
}

// trailerBody is a request body that fills in the request's trailer at EOF.
type trailerBody struct {
	r   io.Reader
	req *http.Request
}

func (b *trailerBody) Read(p []byte) (int, error) {
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.req.Trailer.Set("X-Req-Trailer", "from-client")
	}
	return n, err
}

// TestTrailers: RFC 9113 §8.1 (trailers are a HEADERS frame after the
// DATA): request trailers reach the handler after the body's EOF; response
// trailers declared with the Trailer header and set with
// http.TrailerPrefix reach the client.
func TestTrailers(t *testing.T) {
	t.Parallel()
	ts := startServer(t, handlerFunc(func(w responseWriter, r *request) {
		body, _ := io.ReadAll(r.Body)
		w.Header().Set("Trailer", "X-Declared")
		w.Header().Set("X-Got-Req-Trailer", "before-eof")
		w.WriteHeader(200)
		fmt.Fprintf(w, "%s|%s", body, r.Trailer.Get("X-Req-Trailer"))
		w.Header().Set("X-Declared", "d")
		w.Header().Set(http.TrailerPrefix+"X-Undeclared", "u")
	}), serverOpts{})
	c, _ := newClient(t)
	req, _ := http.NewRequest("POST", url(ts, "/t"), nil)
	req.Body = io.NopCloser(&trailerBody{strings.NewReader("body"), req})
	req.ContentLength = -1
	req.Trailer = http.Header{"X-Req-Trailer": nil}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if string(b) != "body|from-client" {
		t.Errorf("handler saw body|trailer %q, want %q", b, "body|from-client")
	}
	if got := resp.Trailer.Get("X-Declared"); got != "d" {
		t.Errorf("declared trailer %q, want d (trailers %v)", got, resp.Trailer)
	}
	if got := resp.Trailer.Get("X-Undeclared"); got != "u" {
		t.Errorf("TrailerPrefix trailer %q, want u (trailers %v)", got, resp.Trailer)
	}
}

// TestStreaming: RFC 9113 §8.1 (a response is a stream of DATA frames): a
// flushed chunk reaches the client while the handler still runs (it waits
// for the client to have read it), with http.Flusher and with
// http.ResponseController.
func TestStreaming(t *testing.T) {
	t.Parallel()
	for _, name := range []string{"Flusher", "ResponseController"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			clientGot := make(chan struct{})
			ts := startServer(t, handlerFunc(func(w responseWriter, r *request) {
				io.WriteString(w, "chunk1")
				if name == "Flusher" {
					w.(http.Flusher).Flush()
				} else if err := http.NewResponseController(w).Flush(); err != nil {
					t.Errorf("Flush: %v", err)
				}
				select {
				case <-clientGot:
				case <-time.After(frameTimeout):
					io.WriteString(w, "timeout")
					return
				}
				io.WriteString(w, "chunk2")
			}), serverOpts{})
			c, _ := newClient(t)
			resp, err := c.Get(url(ts, "/s"))
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			first := make([]byte, 6)
			if _, err := io.ReadFull(resp.Body, first); err != nil || string(first) != "chunk1" {
				t.Fatalf("first chunk %q, %v", first, err)
			}
			close(clientGot)
			rest, _ := io.ReadAll(resp.Body)
			if string(rest) != "chunk2" {
				t.Fatalf("rest %q, want chunk2 (the flushed chunk did not arrive before the handler gave up)", rest)
			}
		})
	}
}

// TestSmallResponses: RFC 9113 §8.1.1 and RFC 9110 §8.6, §9.3.2, §15.3.5,
// §15.4.5, §15.2 (content-length and Date on a small body; no content for
// HEAD, 204 and 304; interim 103 responses before the final one).
func TestSmallResponses(t *testing.T) {
	t.Parallel()
	ts := startServer(t, handlerFunc(func(w responseWriter, r *request) {
		switch r.URL.Path {
		case "/204":
			w.WriteHeader(204)
		case "/304":
			w.WriteHeader(304)
		case "/103":
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(103)
			w.WriteHeader(200)
			io.WriteString(w, "final")
			return
		}
		w.Write([]byte("hello"))
	}), serverOpts{})
	t.Run("content-length and date", func(t *testing.T) {
		t.Parallel()
		c, _ := newClient(t)
		resp, body := get(t, c, url(ts, "/hello"))
		if body != "hello" || resp.ContentLength != 5 || resp.Header.Get("Content-Length") != "5" {
			t.Errorf("body %q ContentLength %d header %q, want hello, 5", body, resp.ContentLength, resp.Header.Get("Content-Length"))
		}
		if _, err := http.ParseTime(resp.Header.Get("Date")); err != nil {
			t.Errorf("Date %q: %v", resp.Header.Get("Date"), err)
		}
	})
	for _, tc := range []struct {
		method, path string
		status       int
	}{
		{"HEAD", "/hello", 200},
		{"GET", "/204", 204},
		{"GET", "/304", 304},
	} {
		t.Run(tc.method+" "+tc.path, func(t *testing.T) {
			t.Parallel()
			rc := newRawConn(t, ts)
			rc.writeHeaders(1, true, rc.reqFields(tc.method, tc.path)...)
			resp := rc.readResponse(1)
			if resp.reset || resp.status != tc.status || len(resp.body) != 0 {
				t.Fatalf("status %d body %q reset %v, want %d with no content", resp.status, resp.body, resp.reset, tc.status)
			}
		})
	}
	t.Run("103 early hints", func(t *testing.T) {
		t.Parallel()
		c, _ := newClient(t)
		var got []string
		trace := &httptrace.ClientTrace{Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
			got = append(got, fmt.Sprintf("%d %s", code, h.Get("Link")))
			return nil
		}}
		req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(context.Background(), trace), "GET", url(ts, "/103"), nil)
		resp, err := c.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if want := "103 </style.css>; rel=preload"; len(got) != 1 || got[0] != want || resp.StatusCode != 200 || string(b) != "final" {
			t.Fatalf("1xx %q, final %d %q; want [%q], 200 final", got, resp.StatusCode, b, want)
		}
	})
}

// TestExpectContinue: RFC 9110 §10.1.1 over RFC 9113 §8.1 (a 100 is an
// interim HEADERS): the 100 is sent only once the handler reads the body;
// a handler that answers 417 without reading sends no 100.
func TestExpectContinue(t *testing.T) {
	t.Parallel()
	readNow := make(chan struct{})
	ts := startServer(t, handlerFunc(func(w responseWriter, r *request) {
		if r.URL.Path == "/refuse" {
			w.WriteHeader(417)
			return
		}
		select {
		case <-readNow:
		case <-time.After(frameTimeout):
		}
		b, _ := io.ReadAll(r.Body)
		w.Write(b)
	}), serverOpts{})
	t.Run("read", func(t *testing.T) {
		t.Parallel()
		rc := newRawConn(t, ts)
		rc.writeHeaders(1, false, rc.reqFields("POST", "/read", "expect", "100-continue", "content-length", "4")...)
		// No HEADERS (the 100) may come before the handler reads.
		quiet := time.Now().Add(200 * time.Millisecond)
		for {
			f, err := rc.nextFrame(time.Until(quiet))
			if isTimeout(err) {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, ok := f.(*http2.MetaHeadersFrame); ok {
				t.Fatalf("server sent %s before the handler read the body", summarize(f))
			}
		}
		close(readNow)
		f := rc.readUntil("100 Continue", func(f http2.Frame) bool { _, ok := f.(*http2.MetaHeadersFrame); return ok })
		if st := f.(*http2.MetaHeadersFrame).PseudoValue("status"); st != "100" {
			t.Fatalf("first response HEADERS has status %s, want 100", st)
		}
		rc.writeData(1, true, []byte("body"))
		expectOK(t, rc, 1, "body")
	})
	t.Run("refuse", func(t *testing.T) {
		t.Parallel()
		rc := newRawConn(t, ts)
		rc.writeHeaders(1, false, rc.reqFields("POST", "/refuse", "expect", "100-continue", "content-length", "4")...)
		resp := rc.readResponse(1)
		if len(resp.info) != 0 || resp.status != 417 {
			t.Fatalf("interim %v final %d, want no 100 and 417", resp.info, resp.status)
		}
	})
}

// TestClientCancel: RFC 9113 §6.4 and §8.7 (a client cancels a request with
// RST_STREAM CANCEL): the handler's request context is done within 1s.
func TestClientCancel(t *testing.T) {
	t.Parallel()
	started := make(chan struct{})
	done := make(chan struct{})
	ts := startServer(t, handlerFunc(func(w responseWriter, r *request) {
		close(started)
		select {
		case <-r.Context().Done():
			close(done)
		case <-time.After(5 * time.Second):
		}
	}), serverOpts{})
	c, _ := newClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() {
		req, _ := http.NewRequestWithContext(ctx, "GET", url(ts, "/c"), nil)
		resp, err := c.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		errc <- err
	}()
	select {
	case <-started:
	case <-time.After(frameTimeout):
		t.Fatal("handler did not start")
	}
	cancel()
	select {
	case <-done:
	case <-time.After(time.Second):
		t.Fatal("handler's context not done 1s after the client cancelled")
	}
	if err := <-errc; !errors.Is(err, context.Canceled) {
		t.Fatalf("client error %v, want context.Canceled", err)
	}
}

// TestHandlerPanic: RFC 9113 §8.1 and §5.4.2 (an unfinished response ends
// with RST_STREAM): a panicking handler resets its stream, the panic is
// logged, and the connection serves the next request; a panic with
// http.ErrAbortHandler resets the stream without a log line.
func TestHandlerPanic(t *testing.T) {
	t.Parallel()
	ts := startServer(t, handlerFunc(func(w responseWriter, r *request) {
		switch r.URL.Path {
		case "/panic":
			panic("boom-" + r.URL.Query().Get("n"))
		case "/panic-after-write":
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			panic("boom-late")
		case "/abort":
			w.Write([]byte("partial"))
			w.(http.Flusher).Flush()
			panic(http.ErrAbortHandler)
		}
		io.WriteString(w, "ok")
	}), serverOpts{})
	c, dials := newClient(t)

	failed := func(path string) {
		t.Helper()
		resp, err := c.Get(url(ts, path))
		if err == nil {
			_, err = io.ReadAll(resp.Body)
			resp.Body.Close()
		}
		if err == nil {
			t.Fatalf("%s: request succeeded, want a stream error", path)
		}
		if _, body := get(t, c, url(ts, "/ok")); body != "ok" {
			t.Fatalf("after %s: next request got %q", path, body)
		}
	}
	failed("/panic?n=1")
	failed("/panic-after-write")
	// The logger is written after the stream is reset: poll.
	deadline := time.Now().Add(frameTimeout)
	for !(strings.Contains(ts.Logs(), "boom-1") && strings.Contains(ts.Logs(), "boom-late")) {
		if time.Now().After(deadline) {
			t.Fatalf("panics not logged; log: %q", ts.Logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
	logged := ts.Logs()
	failed("/abort")
	failed("/panic?n=2") // a later panic, so the abort had its chance to be logged first
	for !strings.Contains(ts.Logs(), "boom-2") {
		if time.Now().After(deadline) {
			t.Fatalf("panic not logged; log: %q", ts.Logs())
		}
		time.Sleep(10 * time.Millisecond)
	}
	if extra := strings.TrimPrefix(ts.Logs(), logged); strings.Contains(extra, http.ErrAbortHandler.Error()) {
		t.Fatalf("ErrAbortHandler was logged: %q", extra)
	}
	if n := dials.Load(); n != 1 {
		t.Fatalf("client dialed %d times; panics must not close the connection", n)
	}
}

// TestRequestFields: RFC 9113 §8.3.1 (pseudo-header fields map onto the
// request: :method, :path with query, :authority as Host), §8.2.3 (several
// cookie fields are joined with "; "), §8.1.1 (content-length).
func TestRequestFields(t *testing.T) {
	t.Parallel()
	type seen struct {
		method, path, rawQuery, host, proto, cookie string
		major, minor, cookies                       int
		contentLength                               int64
		body                                        string
	}
	got := make(chan seen, 1)
	ts := startServer(t, handlerFunc(func(w responseWriter, r *request) {
		b, _ := io.ReadAll(r.Body)
		got <- seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Host, r.Proto, r.Header.Get("Cookie"),
			r.ProtoMajor, r.ProtoMinor, len(r.Header["Cookie"]), r.ContentLength, string(b)}
	}), serverOpts{})
	for _, tc := range []struct {
		name   string
		fields []string
		data   string // sent as one DATA frame with END_STREAM; "" means HEADERS ends the stream
		want   seen
	}{
		{"post with length",
			[]string{":method", "POST", ":scheme", "http", ":authority", "example.com:8080", ":path", "/a/b?x=1&y=2", "cookie", "a=1", "cookie", "b=2", "content-length", "5"},
			"hello",
			seen{"POST", "/a/b", "x=1&y=2", "example.com:8080", "HTTP/2.0", "a=1; b=2", 2, 0, 1, 5, "hello"}},
		{"post without length",
			[]string{":method", "PUT", ":scheme", "http", ":authority", "h.test", ":path", "/p"},
			"abc",
			seen{"PUT", "/p", "", "h.test", "HTTP/2.0", "", 2, 0, 0, -1, "abc"}},
		{"get",
			[]string{":method", "GET", ":scheme", "http", ":authority", "h.test", ":path", "/g?q", "cookie", "c=3"},
			"",
			seen{"GET", "/g", "q", "h.test", "HTTP/2.0", "c=3", 2, 0, 1, 0, ""}},
	} {
		rc := newRawConn(t, ts)
		rc.writeHeaders(1, tc.data == "", tc.fields...)
		if tc.data != "" {
			rc.writeData(1, true, []byte(tc.data))
		}
		rc.readResponse(1)
		select {
		case s := <-got:
			if s != tc.want {
				t.Errorf("%s: handler saw\n%+v\nwant\n%+v", tc.name, s, tc.want)
			}
		case <-time.After(frameTimeout):
			t.Fatalf("%s: handler did not run", tc.name)
		}
	}
}

// TestShutdownRaw: RFC 9113 §6.8 (graceful shutdown with GOAWAY): Shutdown
// sends GOAWAY NO_ERROR naming the in-flight stream, which completes; a
// stream opened after the GOAWAY is not served; Shutdown returns only after
// the handler ends, and the connection is closed.
func TestShutdownRaw(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	ts := startServer(t, h, serverOpts{})
	rc := newRawConn(t, ts)
	rc.get(1, "/block")
	h.waitStarted(t, "/block")
	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(context.Background()) }()
	ga := rc.expectGoAway(http2.ErrCodeNo)
	if ga.LastStreamID < 1 {
		t.Fatalf("GOAWAY last stream %d, want >= 1 (the stream in flight)", ga.LastStreamID)
	}
	if ga.LastStreamID > 1 {
		// Two-phase shutdown (§6.8): a first GOAWAY announcing a high last
		// stream id, then the real one.
		ga = rc.expectGoAway(http2.ErrCodeNo)
		if ga.LastStreamID != 1 {
			t.Fatalf("second GOAWAY last stream %d, want 1", ga.LastStreamID)
		}
	}
	// A new stream past the last stream id is ignored or refused, never
	// served (§6.8). net/http sends one GOAWAY naming stream 1.
	rc.get(3, "/late")
	time.Sleep(100 * time.Millisecond)
	select {
	case err := <-shut:
		t.Fatalf("Shutdown returned (%v) with a handler still running", err)
	default:
	}
	h.release("/block")
	resp := rc.readResponse(1)
	if resp.status != 200 || string(resp.body) != "done /block" {
		t.Fatalf("in-flight stream: status %d body %q reset %v", resp.status, resp.body, resp.reset)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
	case <-time.After(frameTimeout):
		t.Fatal("Shutdown did not return after the last handler ended")
	}
	rc.expectClosed()
	if n := h.calls.Load(); n != 1 {
		t.Fatalf("handler ran %d times, want 1 (the stream after GOAWAY must not run)", n)
	}
}

// TestShutdownClient: the same through Go's client: the in-flight response
// completes; a later request fails (the client may retry on a new
// connection, which the closed listener refuses).
func TestShutdownClient(t *testing.T) {
	t.Parallel()
	h := newTestHandler(t)
	ts := startServer(t, h, serverOpts{})
	c, _ := newClient(t)
	type result struct {
		body string
		err  error
	}
	first := make(chan result, 1)
	go func() {
		resp, err := c.Get(url(ts, "/block"))
		if err != nil {
			first <- result{err: err}
			return
		}
		b, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		first <- result{string(b), err}
	}()
	h.waitStarted(t, "/block")
	shut := make(chan error, 1)
	go func() { shut <- ts.Shutdown(context.Background()) }()
	time.Sleep(50 * time.Millisecond) // let the GOAWAY reach the client
	if resp, err := c.Get(url(ts, "/late")); err == nil {
		resp.Body.Close()
		t.Fatalf("request after Shutdown succeeded with status %d", resp.StatusCode)
	}
	h.release("/block")
	if r := <-first; r.err != nil || r.body != "done /block" {
		t.Fatalf("in-flight request: %q, %v", r.body, r.err)
	}
	select {
	case err := <-shut:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(frameTimeout):
		t.Fatal("Shutdown did not return")
	}
}

// TestCurl: interoperability with curl --http2-prior-knowledge: a GET and a
// 1 MiB POST, checked.
func TestCurl(t *testing.T) {
	t.Parallel()
	curl, err := exec.LookPath("curl")
	if err != nil {
		t.Skip("curl not installed")
	}
	ts := startServer(t, handlerFunc(func(w responseWriter, r *request) {
		if r.Method == "POST" {
			fmt.Fprintf(w, "%s %s", r.Proto, sum(r.Body))
			return
		}
		fmt.Fprintf(w, "%s %s", r.Proto, r.URL.Path)
	}), serverOpts{})
	file := filepath.Join(t.TempDir(), "body")
	data, _ := io.ReadAll(payload(11, 1<<20))
	if err := os.WriteFile(file, data, 0o600); err != nil {
		t.Fatal(err)
	}
	run := func(args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, curl, append([]string{"-sS", "--http2-prior-knowledge", "-w", " v%{http_version}"}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("curl %q: %v\n%s", args, err, out)
		}
		return string(out)
	}
	if got, want := run(url(ts, "/hello")), "HTTP/2.0 /hello v2"; got != want {
		t.Errorf("GET: %q, want %q", got, want)
	}
	if got, want := run("--data-binary", "@"+file, url(ts, "/upload")), "HTTP/2.0 "+sum(bytes.NewReader(data))+" v2"; got != want {
		t.Errorf("POST: %q, want %q", got, want)
	}
}

// TestH2load: interoperability and multiplexing under h2load (prior
// knowledge for http:// URLs): 2000 requests over 4 connections with 10
// streams each all succeed.
func TestH2load(t *testing.T) {
	t.Parallel()
	h2load, err := exec.LookPath("h2load")
	if err != nil {
		t.Skip("h2load not installed")
	}
	ts := startServer(t, handlerFunc(func(w responseWriter, r *request) { io.WriteString(w, "hello") }), serverOpts{})
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, h2load, "-n", "2000", "-c", "4", "-m", "10", url(ts, "/")).CombinedOutput()
	if err != nil {
		t.Fatalf("h2load: %v\n%s", err, out)
	}
	m := regexp.MustCompile(`requests: (\d+) total, \d+ started, \d+ done, (\d+) succeeded`).FindSubmatch(out)
	if m == nil || string(m[2]) != "2000" {
		t.Fatalf("h2load: want 2000 succeeded\n%s", out)
	}
	if sc := bufio.NewScanner(bytes.NewReader(out)); sc != nil {
		for sc.Scan() {
			if strings.HasPrefix(sc.Text(), "status codes:") && !strings.Contains(sc.Text(), "2000 2xx") {
				t.Fatalf("h2load: %s", sc.Text())
			}
		}
	}
}
