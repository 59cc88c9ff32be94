package main

import (
	"bufio"
	"bytes"
	"crypto/tls"
	"io"
	"net"
	"path/filepath"
	"slices"
	"strconv"

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
	peer, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	bw := bufio.NewWriterSize(c, 16<<10)
	fr := http2.NewFramer(bw, bufio.NewReaderSize(c, 16<<10))
	fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	var hbuf bytes.Buffer
	enc := hpack.NewEncoder(&hbuf)
	ur := bufio.NewReaderSize(u, 4096)
	fr.WriteSettings(http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: 100})
	bw.Flush()
	var out, resp []byte
	for {
		f, err := fr.ReadFrame()
		if err != nil {
			return
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if !f.IsAck() {
				fr.WriteSettingsAck()
				bw.Flush()
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				fr.WritePing(true, f.Data)
				bw.Flush()
			}
		case *http2.GoAwayFrame:
			return
		case *http2.MetaHeadersFrame:
			// The request, as HTTP/1.1, with the forwarding headers nginx
			// adds.
			out = append(out[:0], f.PseudoValue("method")...)
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
			out = append(out, peer...)
			out = append(out, "\r\nX-Real-IP: "...)
			out = append(out, peer...)
			out = append(out, "\r\nX-Forwarded-Proto: https\r\n\r\n"...)
			if _, err := u.Write(out); err != nil {
				return
			}
			// The response: its head's fields into HPACK, its body by
			// Content-Length.
			hbuf.Reset()
			n := -1
			first := true
			for {
				line, err := ur.ReadSlice('\n')
				if err != nil {
					return
				}
				if len(line) <= 2 {
					break
				}
				line = bytes.TrimRight(line, "\r\n")
				if first {
					first = false
					_, rest, _ := bytes.Cut(line, []byte(" "))
					code, _, _ := bytes.Cut(rest, []byte(" "))
					enc.WriteField(hpack.HeaderField{Name: ":status", Value: string(code)})
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
				enc.WriteField(hpack.HeaderField{Name: name, Value: value})
			}
			if n < 0 {
				return
			}
			resp = slices.Grow(resp[:0], n)[:n]
			if _, err := io.ReadFull(ur, resp); err != nil {
				return
			}
			fr.WriteHeaders(http2.HeadersFrameParam{StreamID: f.StreamID, BlockFragment: hbuf.Bytes(), EndHeaders: true, EndStream: n == 0})
			if n > 0 {
				fr.WriteData(f.StreamID, true, resp)
			}
			if err := bw.Flush(); err != nil {
				return
			}
		}
	}
}
