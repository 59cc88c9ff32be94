package mail

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"time"
)

// relay copies bytes both ways until both directions end. A direction ends
// at EOF (the other side gets a half-close), on an error, or when neither
// direction moved a byte for idle. Between two TCP sockets the kernel's
// splice does the copying (io.CopyN to a *net.TCPConn from an
// *io.LimitedReader over one); with TLS on either side a pooled buffer does.
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

var bufPool = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// pump copies src to dst. When src ends cleanly, dst is half-closed so the
// peer sees EOF and may finish its side; on an error both are closed.
func pump(dst, src net.Conn, idle time.Duration, last *atomic.Int64) (n int64, err error) {
	_, splice := dst.(*net.TCPConn)
	if _, ok := src.(*net.TCPConn); !ok {
		splice = false
	}
	for {
		src.SetReadDeadline(time.Now().Add(idle))
		var m int64
		if splice {
			m, err = io.CopyN(dst, src, chunk)
		} else {
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
