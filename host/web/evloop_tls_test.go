//go:build linux

package web

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"io"
	"net"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/host/tlsstore"
)

// The event loops' TLS connections (evloop_tls_linux.go): each test puts
// its TLS listener on the loops and checks the EventLoop counter.

// startLoopTLS starts a server of cfg whose listener "web" is TLS and on
// the loops; the client configuration speaks HTTP/1.1 only.
func startLoopTLS(t *testing.T, cfg Config) (*Server, *logBuf, *tls.Config) {
	t.Helper()
	pair, root := vhostCert(t, t.TempDir(), "web", "a.test")
	certs, err := tlsstore.New(tlsstore.Options{Certs: []tlsstore.Pair{pair}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { certs.Close() })
	cfg.Listeners[0].TLS = true
	cfg.NoEventLoop = false
	prev := noEventLoops
	noEventLoops = false
	defer func() { noEventLoops = prev }()
	s, logs := start(t, Options{Config: cfg, Certs: certs})
	pool := x509.NewCertPool()
	pool.AddCert(root)
	return s, logs, &tls.Config{RootCAs: pool, ServerName: "a.test", NextProtos: []string{"http/1.1"}}
}

// corkedConn holds what is written on it until flush: TLS records written
// one by one reach the server in one segment, as a client's pipelined
// records can.
type corkedConn struct {
	net.Conn
	mu  sync.Mutex
	buf bytes.Buffer
}

func (c *corkedConn) Write(p []byte) (int, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.buf.Write(p)
}

func (c *corkedConn) flush() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, err := c.Conn.Write(c.buf.Bytes())
	c.buf.Reset()
	return err
}

// dialCorked is a TLS client on a corkedConn, its handshake done.
func dialCorked(t *testing.T, s *Server, tc *tls.Config) (*fastClient, *corkedConn) {
	t.Helper()
	raw, err := net.Dial("tcp", s.Addr("web").String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { raw.Close() })
	raw.SetDeadline(time.Now().Add(20 * time.Second))
	cc := &corkedConn{Conn: raw}
	tlc := tls.Client(cc, tc)
	hs := make(chan error, 1)
	go func() { hs <- tlc.Handshake() }()
	// The handshake's flights: flush as they are written.
	for done := false; !done; {
		select {
		case err := <-hs:
			if err != nil {
				t.Fatal(err)
			}
			done = true
		case <-time.After(5 * time.Millisecond):
		}
		cc.flush()
	}
	return &fastClient{Conn: tlc, br: bufio.NewReader(tlc)}, cc
}

// TestEventLoopTLS_serves: sequential GETs and a HEAD over TLS are served
// on the loop, over one kept backend connection.
func TestEventLoopTLS_serves(t *testing.T) {
	rec, addr, accepted, _ := loopBackend(t)
	s, logs, tc := startLoopTLS(t, simple("", addr))
	c := dialRaw(t, s, "web", tc)
	for _, p := range []string{"/one", "/two?x=1", "/three"} {
		c.exchange(t, getReq(p), "GET", "hello GET "+p)
	}
	c.exchange(t, "HEAD /head HTTP/1.1\r\nHost: a.test\r\n\r\n", "HEAD", "")
	c.exchange(t, getReq("/after-head"), "GET", "hello GET /after-head")
	settled(t, logs, 5)
	wantCounts(t, s, 5, 5)
	if n := accepted.Load(); n != 1 || len(rec.all()) != 5 {
		t.Errorf("the backend got %d requests on %d connections, want 5 on 1", len(rec.all()), accepted.Load())
	}
}

// TestEventLoopTLS_recordsTogether: requests whose TLS records reach the
// server together (pipelined, and one head split over two records) are
// all answered in order: the loop reads what tls.Conn holds without an
// event telling it.
func TestEventLoopTLS_recordsTogether(t *testing.T) {
	_, addr, _, _ := loopBackend(t)
	s, logs, tc := startLoopTLS(t, simple("", addr))
	c, cc := dialCorked(t, s, tc)
	// Three records in one segment.
	for _, p := range []string{"/r1", "/r2", "/r3"} {
		io.WriteString(c, getReq(p))
	}
	cc.flush()
	for _, p := range []string{"/r1", "/r2", "/r3"} {
		if r, err := c.read(t, "GET"); err != nil || r.status != 200 || r.body != "hello GET "+p {
			t.Fatalf("%s: %d %q (%v)", p, r.status, r.body, err)
		}
	}
	// One head in two records, in one segment.
	req := getReq("/split")
	io.WriteString(c, req[:10])
	io.WriteString(c, req[10:])
	cc.flush()
	if r, err := c.read(t, "GET"); err != nil || r.status != 200 || r.body != "hello GET /split" {
		t.Fatalf("split head: %d %q (%v)", r.status, r.body, err)
	}
	// A request sent right after the handshake's last flight, in its
	// segment: tls.Conn read it with the handshake.
	c2, cc2 := dialCorked(t, s, tc)
	io.WriteString(c2, getReq("/first"))
	cc2.flush()
	if r, err := c2.read(t, "GET"); err != nil || r.status != 200 || r.body != "hello GET /first" {
		t.Fatalf("first request: %d %q (%v)", r.status, r.body, err)
	}
	settled(t, logs, 5)
	wantCounts(t, s, 5, 5)
}

// TestEventLoopTLS_handoff: a POST and a head over the loop's buffer go to
// a goroutine with what tls.Conn held; the connection comes back.
func TestEventLoopTLS_handoff(t *testing.T) {
	rec, addr, _, _ := loopBackend(t)
	s, logs, tc := startLoopTLS(t, simple("", addr))
	c, cc := dialCorked(t, s, tc)
	big := "GET /big-head HTTP/1.1\r\nHost: a.test\r\nX-Pad: " + strings.Repeat("p", 6000) + "\r\n\r\n"
	io.WriteString(c, getReq("/a")+"POST /b HTTP/1.1\r\nHost: a.test\r\nContent-Length: 7\r\n\r\npayload")
	io.WriteString(c, big)
	io.WriteString(c, getReq("/c"))
	cc.flush()
	for _, want := range []string{"hello GET /a", "hello POST /b body=payload", "hello GET /big-head", "hello GET /c"} {
		r, err := c.read(t, "GET")
		if err != nil || r.status != 200 || r.body != want {
			t.Fatalf("%d %q (%v), want 200 %q", r.status, r.body, err, want)
		}
	}
	io.WriteString(c, getReq("/d"))
	cc.flush()
	if r, err := c.read(t, "GET"); err != nil || r.status != 200 || r.body != "hello GET /d" {
		t.Fatalf("/d: %d %q (%v)", r.status, r.body, err)
	}
	settled(t, logs, 5)
	var got []string
	for _, r := range rec.all() {
		got = append(got, r.Method+" "+r.URI+" "+r.Body)
	}
	if want := []string{"GET /a ", "POST /b payload", "GET /big-head ", "GET /c ", "GET /d "}; !reflect.DeepEqual(got, want) {
		t.Errorf("backend got %q, want %q", got, want)
	}
	if n := loopCount(t, s, "web"); n < 2 {
		t.Errorf("EventLoop %d, want at least /a and /d on the loop", n)
	}
}

// TestEventLoopTLS_bigResponse: an 8 MiB response to a client that reads
// it late arrives whole (the loop queues the records it cannot write).
func TestEventLoopTLS_bigResponse(t *testing.T) {
	_, addr, _, bigStarted := loopBackend(t)
	s, logs, tc := startLoopTLS(t, simple("", addr))
	a := dialRaw(t, s, "web", tc)
	io.WriteString(a, getReq("/big8"))
	<-bigStarted
	b := dialRaw(t, s, "web", tc)
	for i := 0; i < 10; i++ {
		b.exchange(t, getReq("/other"), "GET", "hello GET /other")
	}
	r, err := a.read(t, "GET")
	if err != nil || r.status != 200 || r.body != string(loopBody8M) {
		t.Fatalf("big response: %d, %d bytes (%v)", r.status, len(r.body), err)
	}
	settled(t, logs, 11)
	wantCounts(t, s, 11, 11)
}

// TestEventLoopTLS_closeNotify: the server ends its side with
// close_notify after a Connection: close response, and after the
// client's close_notify. TLS 1.2, whose alerts are records of their own
// type, so the test sees them (and TLS 1.2 on the loops).
func TestEventLoopTLS_closeNotify(t *testing.T) {
	_, addr, _, _ := loopBackend(t)
	s, logs, tc := startLoopTLS(t, simple("", addr))
	tc.MaxVersion = tls.VersionTLS12
	for _, clientCloses := range []bool{false, true} {
		raw, err := net.Dial("tcp", s.Addr("web").String())
		if err != nil {
			t.Fatal(err)
		}
		defer raw.Close()
		raw.SetDeadline(time.Now().Add(10 * time.Second))
		rc := &recordingConn{Conn: raw}
		tlc := tls.Client(rc, tc)
		c := &fastClient{Conn: tlc, br: bufio.NewReader(tlc)}
		req := getReq("/x")
		if !clientCloses {
			req = "GET /x HTTP/1.1\r\nHost: a.test\r\nConnection: close\r\n\r\n"
		}
		c.exchange(t, req, "GET", "hello GET /x")
		if clientCloses {
			tlc.CloseWrite()
		}
		if _, err := c.br.ReadByte(); err != io.EOF {
			t.Errorf("client closes %v: %v, want io.EOF", clientCloses, err)
		}
		if typ := rc.lastRecordType(); typ != 21 {
			t.Errorf("client closes %v: the server's last record is of type %d, want 21 (its close_notify alert)", clientCloses, typ)
		}
	}
	settled(t, logs, 2)
	wantCounts(t, s, 2, 2)
}

// recordingConn keeps what it reads.
type recordingConn struct {
	net.Conn
	got bytes.Buffer
}

func (c *recordingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.got.Write(p[:n])
	return n, err
}

// lastRecordType is the content type of the last whole TLS record read,
// or -1.
func (c *recordingConn) lastRecordType() int {
	b, typ := c.got.Bytes(), -1
	for len(b) >= 5 {
		n := 5 + (int(b[3])<<8 | int(b[4]))
		if n > len(b) {
			break
		}
		typ, b = int(b[0]), b[n:]
	}
	return typ
}

// chunkConn returns data in pieces: cuts[i] is the size of the i-th read
// (0 taken as 1), the rest in one piece; then io.EOF.
type chunkConn struct {
	net.Conn
	data []byte
	cuts []byte
}

func (c *chunkConn) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, io.EOF
	}
	n := len(c.data)
	if len(c.cuts) > 0 {
		n = max(int(c.cuts[0]), 1)
		c.cuts = c.cuts[1:]
	}
	n = copy(p, c.data[:min(n, len(c.data))])
	c.data = c.data[n:]
	return n, nil
}

// FuzzTLSTransport: whatever the stream (records or garbage) and however
// the socket and the reader cut it, the transport hands over every byte in
// order and no read goes past the end of the record it started in.
func FuzzTLSTransport(f *testing.F) {
	f.Add([]byte{22, 3, 1, 0, 3, 1, 2, 3, 23, 3, 3, 0, 0, 23, 3, 3, 0, 2, 9, 9}, []byte{7, 1, 30}, []byte{5, 100})
	f.Add([]byte("GET / HTTP/1.1\r\nHost: x\r\n\r\n"), []byte{}, []byte{1, 2, 3})
	f.Add([]byte{23, 3, 3, 0xff, 0xff, 1}, []byte{2, 2, 2}, []byte{0})
	f.Fuzz(func(t *testing.T, stream, cuts, sizes []byte) {
		// The records' ends, as the stream's headers say (the last may
		// run past the stream).
		var ends []int
		for at := 0; at < len(stream); {
			if len(stream)-at < tlsRecordHeaderLen {
				ends = append(ends, at+tlsRecordHeaderLen)
				break
			}
			at += tlsRecordHeaderLen + (int(stream[at+3])<<8 | int(stream[at+4]))
			ends = append(ends, at)
		}
		tr := &tlsTransport{Conn: &chunkConn{data: append([]byte(nil), stream...), cuts: cuts}}
		var got []byte
		rec := 0
		for i := 0; ; i++ {
			size := 1 + 600
			if i < len(sizes) {
				size = 1 + int(sizes[i])
			}
			p := make([]byte, size)
			n, err := tr.Read(p)
			if n > 0 {
				for rec < len(ends) && ends[rec] <= len(got) {
					rec++
				}
				if rec < len(ends) && len(got)+n > ends[rec] {
					t.Fatalf("a read from %d to %d crosses the record end at %d", len(got), len(got)+n, ends[rec])
				}
				got = append(got, p[:n]...)
			}
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			if i > 4*len(stream)+len(cuts)+8 {
				t.Fatal("no progress")
			}
		}
		if !bytes.Equal(got, stream) {
			t.Fatalf("handed over %x, want %x", got, stream)
		}
	})
}

// TestEventLoopTLS_webSocket: an upgrade goes from the loop to a goroutine
// and the hijacked TLS connection relays frames whose records arrive
// together, both ways.
func TestEventLoopTLS_webSocket(t *testing.T) {
	be := newBackend(t, "ws", wsEcho())
	s, logs, tc := startLoopTLS(t, simple("", be.addr))
	c, cc := dialCorked(t, s, tc)
	key := "dGhlIHNhbXBsZSBub25jZQ=="
	io.WriteString(c, "GET /ws HTTP/1.1\r\nHost: x.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: "+key+"\r\nSec-WebSocket-Version: 13\r\n\r\n")
	cc.flush()
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 101 || resp.Header.Get("Sec-WebSocket-Accept") != wsAccept(key) {
		t.Fatalf("upgrade answer %s", resp.Status)
	}
	msgs := []string{"one", "two, in its own record", "three"}
	for _, m := range msgs {
		c.Write(wsFrame(m)) // a record each, one segment for all
	}
	cc.flush()
	for _, m := range msgs {
		echo := make([]byte, 2+len(m))
		if _, err := io.ReadFull(c.br, echo); err != nil {
			t.Fatal(err)
		}
		if string(echo[2:]) != m {
			t.Fatalf("echo %q, want %q", echo[2:], m)
		}
	}
	c.Close()
	settled(t, logs, 1)
	if n := listenerStatsOf(t, s, "web").Handoffs; n != 1 {
		t.Errorf("%d hand-overs, want 1 (the upgrade)", n)
	}
}
