package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// runRefH2 is the benchmark's floor for an h2 front end of our own
// written as a goroutine per connection ("go h2 reference proxy"): TLS
// with ALPN h2, then x/net/http2's framer; each request's HEADERS becomes
// an HTTP/1.1 request on the connection's one kept backend connection,
// and the response goes back as HEADERS and DATA in one write. It serves
// one stream at a time per connection (the benchmark's h2load -m1), does
// no flow control (h2load opens its windows to 2^30), and answers
// nothing else: it is not an h2 server anyone should run, only a measure
// of what one of our own could cost, beside net/http's.
func runRefH2(addr string, upstreams []string, tlsDir string) error {
	cert, err := tls.LoadX509KeyPair(filepath.Join(tlsDir, "cert.pem"), filepath.Join(tlsDir, "key.pem"))
	if err != nil {
		return err
	}
	cfg := &tls.Config{Certificates: []tls.Certificate{cert}, NextProtos: []string{"h2"}}
	return acceptRoundRobin(addr, upstreams, func(c net.Conn, up string) { refH2Serve(tls.Server(c, cfg), up) })
}

// refH2PerStream (REF_H2_STREAMS=goroutine) serves each stream on a
// goroutine of its own, as a server that cannot answer in line must
// ("go h2 reference proxy, goroutine per stream"): the cost of that
// design choice, beside the in-line one.
var refH2PerStream = os.Getenv("REF_H2_STREAMS") == "goroutine"

// refH2Conn is one client connection: the framer's writes, the HPACK
// encoder and the backend connection are mu's (one stream at a time).
type refH2Conn struct {
	mu        sync.Mutex
	bw        *bufio.Writer
	fr        *http2.Framer
	hbuf      bytes.Buffer
	enc       *hpack.Encoder
	u         net.Conn
	ur        *bufio.Reader
	peer      string
	out, resp []byte
}

func refH2Serve(c *tls.Conn, upstream string) {
	defer c.Close()
	if err := c.Handshake(); err != nil {
		return
	}
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(c, preface); err != nil || string(preface) != http2.ClientPreface {
		return
	}
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer u.Close()
	rc := &refH2Conn{u: u, ur: bufio.NewReaderSize(u, 4096), bw: bufio.NewWriterSize(c, 16<<10)}
	rc.peer, _, _ = net.SplitHostPort(c.RemoteAddr().String())
	rc.enc = hpack.NewEncoder(&rc.hbuf)
	fr := http2.NewFramer(rc.bw, bufio.NewReaderSize(c, 16<<10))
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	rc.fr = fr
	rc.mu.Lock()
	fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100})
	rc.bw.Flush()
	rc.mu.Unlock()
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				rc.mu.Lock()
				fr.WriteSettingsAck()
				rc.bw.Flush()
				rc.mu.Unlock()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				rc.mu.Lock()
				fr.WritePing(true, f.Data)
				rc.bw.Flush()
				rc.mu.Unlock()
			}
		case *http2.GoAwayFrame:
			return
		case *http2.MetaHeadersFrame:
			// The request, as HTTP/1.1, with the forwarding headers nginx
			// adds; built here, before the next ReadFrame.
			out := []byte(f.PseudoValue("method"))
			out = append(out, ' ')
			out = append(out, f.PseudoValue("path")...)
			out = append(out, " HTTP/1.1\r\nHost: "...)
			out = append(out, f.PseudoValue("authority")...)
			out = append(out, "\r\n"...)
			for _, hf := range f.RegularFields() {
				out = append(out, hf.Name...)
				out = append(out, ": "...)
				out = append(out, hf.Value...)
				out = append(out, "\r\n"...)
			}
			out = append(out, "X-Forwarded-For: "...)
			out = append(out, rc.peer...)
			out = append(out, "\r\nX-Real-IP: "...)
			out = append(out, rc.peer...)
			out = append(out, "\r\nX-Forwarded-Proto: https\r\n\r\n"...)
			if refH2PerStream {
				go rc.stream(f.StreamID, out)
			} else if !rc.stream(f.StreamID, out) {
				return
			}
		}
	}
}

// stream sends one request to the backend and its response to the client
// as HEADERS and DATA in one write; false when a connection failed.
func (rc *refH2Conn) stream(id uint32, req []byte) bool {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if _, err := rc.u.Write(req); err != nil {
		return false
	}
	// The response: its head's fields into HPACK, its body by
	// Content-Length.
	rc.hbuf.Reset()
	n := -1
	first := true
	for {
		line, err := rc.ur.ReadSlice('\n')
		if err != nil {
			return false
		}
		if len(line) <= 2 {
			break
		}
		line = bytes.TrimRight(line, "\r\n")
		if first {
			first = false
			_, rest, _ := bytes.Cut(line, []byte(" "))
			code, _, _ := bytes.Cut(rest, []byte(" "))
			rc.enc.WriteField(hpack.HeaderField{Name: ":status", Value: string(code)})
			continue
		}
		k, v, ok := bytes.Cut(line, []byte(":"))
		if !ok {
			continue
		}
		name, value := string(bytes.ToLower(k)), string(bytes.TrimSpace(v))
		switch name {
		case "connection", "keep-alive", "transfer-encoding", "upgrade", "proxy-connection":
			continue
		case "content-length":
			n, _ = strconv.Atoi(value)
		}
		rc.enc.WriteField(hpack.HeaderField{Name: name, Value: value})
	}
	if n < 0 {
		return false
	}
	rc.resp = slices.Grow(rc.resp[:0], n)[:n]
	if _, err := io.ReadFull(rc.ur, rc.resp); err != nil {
		return false
	}
	rc.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: id, BlockFragment: rc.hbuf.Bytes(), EndHeaders: true, EndStream: n == 0})
	if n > 0 {
		rc.fr.WriteData(id, true, rc.resp)
	}
	return rc.bw.Flush() == nil
}
