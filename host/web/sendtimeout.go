package web

import (
	"errors"
	"net"
	"sync/atomic"
	"time"
)

// The send timeout (Config.SendTimeout, nginx's send_timeout) of the
// connections goroutines serve: a client that takes none of a response's
// bytes for that long is closed. A deadline set around every write would
// cost two timer changes a request; instead each write stamps when it
// began (sendWriter), and a sweep every quarter of the timeout closes the
// connections whose write has been stuck since before the timeout. The
// event loops check their own sockets (evloop_linux.go), the h2 server
// its own connections and streams (internal/h2).

// monoBase is the origin of monoNow.
var monoBase = time.Now()

// monoNow is the monotonic clock in nanoseconds since monoBase.
func monoNow() int64 { return int64(time.Since(monoBase)) }

// sendWriter is the client connection as its response writer's
// destination: it stamps the time each write began, and clears it when
// the write returns.
type sendWriter struct{ sc *h1ServerConn }

func (w sendWriter) Write(p []byte) (int, error) {
	sc := w.sc
	sc.writing.Store(monoNow())
	n, err := sc.conn.Write(p)
	sc.writing.Store(0)
	return n, err
}

// sendSweeper runs a server's sweeps while it has connections.
type sendSweeper struct {
	armed atomic.Bool
}

// armSendSweep starts the sweeps (a connection was added), unless they run.
func (hs *h1Server) armSendSweep() {
	if hs.sendTimeout <= 0 || hs.sweep.armed.Swap(true) {
		return
	}
	time.AfterFunc(sendSweepEvery(hs.sendTimeout), hs.sendSweep)
}

// sendSweepEvery is the sweeps' period for timeout d.
func sendSweepEvery(d time.Duration) time.Duration { return max(d/4, time.Millisecond) }

// sendSweep closes the connections whose write began more than the send
// timeout ago, and comes back while connections remain.
func (hs *h1Server) sendSweep() {
	limit := int64(hs.sendTimeout)
	now := monoNow()
	var stuck []*h1ServerConn
	hs.mu.Lock()
	for sc := range hs.conns {
		if t := sc.writing.Load(); t != 0 && now-t > limit {
			stuck = append(stuck, sc)
		}
	}
	more := len(hs.conns) > 0
	if !more {
		hs.sweep.armed.Store(false)
	}
	hs.mu.Unlock()
	for _, sc := range stuck {
		hs.errLog.Printf("web: %v took no response bytes for %v (send_timeout): closing the connection", sc.remote, hs.sendTimeout)
		hs.sendLS.countSendTimeout()
		sc.conn.Close() // the write fails, and the request with it
	}
	if more {
		time.AfterFunc(sendSweepEvery(hs.sendTimeout), hs.sendSweep)
	}
}

// countReadTimeout counts a body cut by the upstream read timeout: err,
// a backend body's read error, is the socket's deadline (the caller has
// ruled out the client's leaving, whose abort is a deadline too).
func (ls *listenerStats) countReadTimeout(err error) {
	var ne net.Error
	if ls != nil && errors.As(err, &ne) && ne.Timeout() {
		ls.readTimeouts.Add(1)
	}
}

// countSendTimeout counts a connection closed, or an h2 stream reset, by
// the send timeout.
func (ls *listenerStats) countSendTimeout() {
	if ls != nil {
		ls.sendTimeouts.Add(1)
	}
}
