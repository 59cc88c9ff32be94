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
		_, _, rerr := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read means open and quiet. Anything else is an
		// error, the backend's close (0 bytes), or bytes nobody asked
		// for (the connection is out of step): not to be used.
		alive = rerr == syscall.EAGAIN || rerr == syscall.EWOULDBLOCK || rerr == syscall.EINTR
		return true // never wait for readiness
	})
	return alive && err == nil
}
