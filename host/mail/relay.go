package mail

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// relay copies bytes both ways until both directions end. A direction ends
// at EOF (the other side gets a half-close), on an error, or when neither
// direction moved a byte for idle.
//
// Between two TCP sockets a direction starts with read(2) and write(2)
// through a pooled buffer taken only once the socket is readable, so an
// idle session holds no buffer, and a command-sized transfer costs two
// system calls. A read that fills the whole buffer marks a bulk transfer
// (a FETCH of a large message): the direction then moves to the kernel's
// splice, which copies without user space. With TLS on either side a
// pooled buffer does the copying.
func relay(client, up net.Conn, idle time.Duration) (in, out int64, err error) {
	var last atomic.Int64
	last.Store(time.Now().UnixNano())
	var wg sync.WaitGroup
	var errIn, errOut error
	wg.Add(1)
	go func() {
		defer wg.Done()
		out, errOut = pump(client, up, idle, &last)
	}()
	in, errIn = pump(up, client, idle, &last)
	wg.Wait()
	return in, out, errors.Join(errIn, errOut)
}

// chunk is how much one splice call may move before the idle clock is
// refreshed.
const chunk = 1 << 20

// bufSize is the relay buffer: larger than any IMAP or POP3 command or
// short reply, so only bulk transfers fill it.
const bufSize = 16 << 10

var bufPool = sync.Pool{New: func() any { b := make([]byte, bufSize); return &b }}

// heldBuffers counts the relay buffers copyReady holds right now (tests:
// an idle session holds none).
var heldBuffers atomic.Int64

// pump copies src to dst. When src ends cleanly, dst is half-closed so the
// peer sees EOF and may finish its side; on an error both are closed.
func pump(dst, src net.Conn, idle time.Duration, last *atomic.Int64) (n int64, err error) {
	tcpDst, _ := dst.(*net.TCPConn)
	tcpSrc, _ := src.(*net.TCPConn)
	var raw syscall.RawConn
	if tcpDst != nil && tcpSrc != nil {
		raw, _ = tcpSrc.SyscallConn()
	}
	bulk := false
	for {
		src.SetReadDeadline(time.Now().Add(idle))
		var m int64
		switch {
		case bulk:
			m, err = io.CopyN(dst, src, chunk)
		case raw != nil:
			var full bool
			m, full, err = copyReady(dst, raw)
			bulk = full
		default:
			bp := bufPool.Get().(*[]byte)
			var k int
			k, err = src.Read(*bp)
			if k > 0 {
				var werr error
				k, werr = dst.Write((*bp)[:k])
				if err == nil {
					err = werr
				}
			}
			bufPool.Put(bp)
			m = int64(k)
		}
		n += m
		if m > 0 {
			last.Store(time.Now().UnixNano())
		}
		switch {
		case err == nil:
			continue
		case errors.Is(err, io.EOF):
			closeWrite(dst)
			return n, nil
		case errors.Is(err, os.ErrDeadlineExceeded):
			if time.Since(time.Unix(0, last.Load())) < idle {
				continue // the other direction is busy: not idle
			}
			err = errIdle
		}
		// An error or idle: end both directions.
		src.Close()
		dst.Close()
		return n, err
	}
}

// copyReady waits until src is readable (honouring its read deadline),
// reads once into a pooled buffer taken only then, and writes what it read
// to dst. full reports that the read filled the buffer. io.EOF means src
// ended.
func copyReady(dst net.Conn, src syscall.RawConn) (n int64, full bool, err error) {
	var bp *[]byte
	var k int
	var rerr error
	err = src.Read(func(fd uintptr) bool {
		if bp == nil {
			bp = bufPool.Get().(*[]byte)
			heldBuffers.Add(1)
		}
		for {
			k, rerr = syscall.Read(int(fd), *bp)
			if rerr != syscall.EINTR {
				break
			}
		}
		if rerr == syscall.EAGAIN {
			bufPool.Put(bp) // hold no buffer while waiting
			heldBuffers.Add(-1)
			bp = nil
			return false
		}
		return true
	})
	if err == nil {
		err = rerr
	}
	if bp == nil {
		return 0, false, err
	}
	defer func() {
		bufPool.Put(bp)
		heldBuffers.Add(-1)
	}()
	if err != nil {
		return 0, false, os.NewSyscallError("read", err)
	}
	if k <= 0 {
		return 0, false, io.EOF
	}
	w, err := dst.Write((*bp)[:k])
	return int64(w), k == len(*bp), err
}

var errIdle = errors.New("relay idle timeout")

type closeWriter interface{ CloseWrite() error }

func closeWrite(c net.Conn) {
	if cw, ok := c.(closeWriter); ok {
		if cw.CloseWrite() == nil {
			return
		}
	}
	c.Close()
}
