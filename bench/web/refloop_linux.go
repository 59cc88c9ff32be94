//go:build linux

package main

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strconv"
	"syscall"
)

// runLoopProxy is the event-loop counterpart of runRefProxy: the same
// proxying (one kept backend connection per client connection, the
// forwarding headers, the response written back in one write), but as
// nginx does it: one loop per CPU, each on its own thread with its own
// epoll and its own SO_REUSEPORT listening socket, non-blocking sockets,
// no goroutine per connection. It answers whether Go's goroutine per
// connection or the work itself separates a Go proxy from nginx ("go
// event-loop proxy" in the table). Like runRefProxy it is a measurement,
// not a proxy: no timeouts, no partial writes, no pipelining.
func runLoopProxy(addr string, upstreams []string) error {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return err
	}
	var ups []syscall.SockaddrInet4
	for _, u := range upstreams {
		a, err := netip.ParseAddrPort(u)
		if err != nil {
			return err
		}
		ups = append(ups, syscall.SockaddrInet4{Port: int(a.Port()), Addr: a.Addr().As4()})
	}
	port := int(ap.Port())
	n := runtime.GOMAXPROCS(0)
	lfds := make([]int, n)
	for i := range lfds {
		fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC, 0)
		if err != nil {
			return err
		}
		syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, syscall.SO_REUSEADDR, 1)
		syscall.SetsockoptInt(fd, syscall.SOL_SOCKET, 0xf /* SO_REUSEPORT */, 1)
		if err := syscall.Bind(fd, &syscall.SockaddrInet4{Port: port, Addr: ap.Addr().As4()}); err != nil {
			return err
		}
		if err := syscall.Listen(fd, 4096); err != nil {
			return err
		}
		if port == 0 {
			sa, err := syscall.Getsockname(fd)
			if err != nil {
				return err
			}
			port = sa.(*syscall.SockaddrInet4).Port
		}
		lfds[i] = fd
	}
	fmt.Println(net.JoinHostPort(ap.Addr().String(), strconv.Itoa(port)))
	errc := make(chan error, n)
	for i, lfd := range lfds {
		go func() { errc <- eventLoop(lfd, ups, i) }()
	}
	return <-errc
}

// loopConn is a client connection and its backend connection.
type loopConn struct {
	cfd, bfd int
	alt      []int // REF_RR=1: a socket per backend, used in turn
	peer     string
	in, out  []byte // the client's unparsed bytes; the request written on
	resp     []byte // the backend's unparsed bytes
	n        int
}

func eventLoop(lfd int, ups []syscall.SockaddrInet4, next int) error {
	runtime.LockOSThread()
	ep, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return err
	}
	add := func(fd int) error {
		return syscall.EpollCtl(ep, syscall.EPOLL_CTL_ADD, fd, &syscall.EpollEvent{Events: syscall.EPOLLIN, Fd: int32(fd)})
	}
	if err := add(lfd); err != nil {
		return err
	}
	byFD := map[int]*loopConn{}
	closeConn := func(c *loopConn) {
		delete(byFD, c.cfd)
		delete(byFD, c.bfd)
		syscall.Close(c.cfd) // closing removes them from the epoll set
		syscall.Close(c.bfd)
	}
	events := make([]syscall.EpollEvent, 256)
	buf := make([]byte, 16<<10)
	for {
		n, err := syscall.EpollWait(ep, events, -1)
		if err != nil {
			if errors.Is(err, syscall.EINTR) {
				continue
			}
			return err
		}
		for _, ev := range events[:n] {
			fd := int(ev.Fd)
			if fd == lfd {
				for {
					cfd, sa, err := syscall.Accept4(lfd, syscall.SOCK_NONBLOCK|syscall.SOCK_CLOEXEC)
					if err != nil {
						break // EAGAIN: all taken
					}
					syscall.SetsockoptInt(cfd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
					bfd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
					if err == nil {
						up := ups[next%len(ups)]
						next++
						if err = syscall.Connect(bfd, &up); err == nil { // loopback: at once
							err = syscall.SetNonblock(bfd, true)
						}
					}
					if err != nil {
						syscall.Close(cfd)
						syscall.Close(bfd)
						continue
					}
					syscall.SetsockoptInt(bfd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
					in4 := sa.(*syscall.SockaddrInet4).Addr
					c := &loopConn{cfd: cfd, bfd: bfd, peer: netip.AddrFrom4(in4).String()}
					byFD[cfd], byFD[bfd] = c, c
					add(cfd)
					add(bfd)
					if os.Getenv("REF_RR") == "1" {
						c.alt = append(c.alt, bfd)
						for i := 1; i < len(ups); i++ {
							fd2, _ := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
							up := ups[(next+i)%len(ups)]
							syscall.Connect(fd2, &up)
							syscall.SetNonblock(fd2, true)
							syscall.SetsockoptInt(fd2, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1)
							byFD[fd2] = c
							add(fd2)
							c.alt = append(c.alt, fd2)
						}
					}
				}
				continue
			}
			c := byFD[fd]
			if c == nil {
				continue
			}
			m, err := syscall.Read(fd, buf)
			if err == syscall.EAGAIN {
				continue
			}
			if m <= 0 {
				closeConn(c)
				continue
			}
			if fd == c.cfd {
				c.in = append(c.in, buf[:m]...)
				end := bytes.Index(c.in, []byte("\r\n\r\n"))
				if end < 0 {
					continue
				}
				c.out = append(c.out[:0], c.in[:end+2]...)
				c.out = append(c.out, "X-Forwarded-For: "...)
				c.out = append(c.out, c.peer...)
				c.out = append(c.out, "\r\nX-Real-IP: "...)
				c.out = append(c.out, c.peer...)
				c.out = append(c.out, "\r\nX-Forwarded-Proto: http\r\n\r\n"...)
				c.in = c.in[:copy(c.in, c.in[end+4:])]
				if len(c.alt) > 0 {
					c.n++
					c.bfd = c.alt[c.n%len(c.alt)]
				}
				if w, err := syscall.Write(c.bfd, c.out); err != nil || w != len(c.out) {
					closeConn(c)
				}
				continue
			}
			c.resp = append(c.resp, buf[:m]...)
			end := bytes.Index(c.resp, []byte("\r\n\r\n"))
			if end < 0 {
				continue
			}
			length := -1
			for rest := c.resp[:end]; len(rest) > 0; {
				var line []byte
				line, rest, _ = bytes.Cut(rest, []byte("\r\n"))
				if k, v, ok := bytes.Cut(line, []byte(":")); ok && bytes.EqualFold(k, []byte("Content-Length")) {
					length, _ = strconv.Atoi(string(bytes.TrimSpace(v)))
				}
			}
			if length < 0 {
				closeConn(c)
				continue
			}
			total := end + 4 + length
			if len(c.resp) < total {
				continue
			}
			if w, err := syscall.Write(c.cfd, c.resp[:total]); err != nil || w != total {
				closeConn(c)
				continue
			}
			c.resp = c.resp[:copy(c.resp, c.resp[total:])]
		}
	}
}
