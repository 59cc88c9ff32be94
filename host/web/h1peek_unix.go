//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package web

import (
	"net"
	"syscall"
)

// connAlive reports whether an idle connection can still carry a
// request: the backend has not closed it and sent nothing unasked. One
// non-blocking recv with MSG_PEEK, which takes nothing from the socket.
func connAlive(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return true
	}
	raw, err := sc.SyscallConn()
	if err != nil {
		return true
	}
	alive := true
	var b [1]byte
	err = raw.Read(func(fd uintptr) bool {
		n, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch {
		case rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK || rerr == syscall.EINTR:
			// Nothing to read: open and quiet.
		case rerr != nil, n == 0: // an error, or the backend closed it
			alive = false
		default: // bytes nobody asked for: the connection is out of step
			alive = false
		}
		return true // never wait for readiness
	})
	return alive && err == nil
}
