package main

import (
	"bufio"
	"bytes"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"sync/atomic"
)

// runRefProxy is the benchmark's floor for a Go proxy: the least a
// goroutine-per-connection HTTP/1.1 proxy can do for the benchmark's
// requests. One goroutine per client connection, one kept backend
// connection each (round robin when the client connects), the request head
// copied with the forwarding headers nginx adds, the response head and its
// Content-Length body written back in one write. No timeouts, no limits, no
// routing, no retries, no counters, no log: it is not a proxy anyone should
// run, only what separates Go's runtime from Postern's code in the numbers
// ("go reference proxy" in the table).
func runRefProxy(addr string, upstreams []string) error {
	return acceptRoundRobin(addr, upstreams, refServe)
}

// acceptRoundRobin listens on addr, prints its address, and serves each
// connection on its own goroutine with the next of upstreams.
func acceptRoundRobin(addr string, upstreams []string, serve func(c net.Conn, upstream string)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	var next atomic.Uint64
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		up := upstreams[next.Add(1)%uint64(len(upstreams))]
		go serve(c, up)
	}
}

func refServe(c net.Conn, upstream string) {
	defer c.Close()
	u, err := net.Dial("tcp", upstream)
	if err != nil {
		return
	}
	defer u.Close()
	peer, _, _ := net.SplitHostPort(c.RemoteAddr().String())
	cr, ur := bufio.NewReaderSize(c, 4096), bufio.NewReaderSize(u, 4096)
	var out, resp []byte
	for {
		// The request head, line by line, with the forwarding headers
		// added before its blank line.
		out = out[:0]
		for {
			line, err := cr.ReadSlice('\n')
			if err != nil {
				return
			}
			if len(line) <= 2 {
				out = append(out, "X-Forwarded-For: "...)
				out = append(out, peer...)
				out = append(out, "\r\nX-Real-IP: "...)
				out = append(out, peer...)
				out = append(out, "\r\nX-Forwarded-Proto: http\r\n\r\n"...)
				break
			}
			out = append(out, line...)
		}
		if _, err := u.Write(out); err != nil {
			return
		}
		resp = resp[:0]
		n := -1
		for {
			line, err := ur.ReadSlice('\n')
			if err != nil {
				return
			}
			resp = append(resp, line...)
			if len(line) <= 2 {
				break
			}
			if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
				n, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
			}
		}
		if n < 0 {
			return
		}
		h := len(resp)
		resp = slices.Grow(resp, n)[:h+n]
		if _, err := io.ReadFull(ur, resp[h:]); err != nil {
			return
		}
		if _, err := c.Write(resp); err != nil {
			return
		}
	}
}
