package h2

import (
	"context"
	"io"
	"runtime/pprof"
	"sync/atomic"
	"time"

	"golang.org/x/net/http2"
)

// The send timeout (Server.SendTimeout). A deadline set around every
// write would cost two timer changes a flush; instead each write to the
// socket stamps when it began (watchedWriter), each wait for window
// when it began (stream.windowSince), and a sweep every quarter of the
// timeout acts on those that began too long ago.

// monoBase is the origin of monoNow.
var monoBase = time.Now()

// monoNow is the monotonic clock in nanoseconds since monoBase.
func monoNow() int64 { return int64(time.Since(monoBase)) }

// watchedWriter is the connection's socket as the write buffer's
// destination: writing is when the write in progress began, 0 when none
// is.
type watchedWriter struct {
	w       io.Writer
	writing atomic.Int64
}

func (w *watchedWriter) Write(p []byte) (int, error) {
	w.writing.Store(monoNow())
	n, err := w.w.Write(p)
	w.writing.Store(0)
	return n, err
}

// armSweepLocked schedules the next sweep, unless one is due (s.mu
// held).
func (s *Server) armSweepLocked() {
	if s.SendTimeout <= 0 || s.sweeping {
		return
	}
	s.sweeping = true
	time.AfterFunc(max(s.SendTimeout/4, time.Millisecond), s.sweep)
}

// sweep closes the connections whose socket write is stuck and resets
// the streams stuck waiting for window, then schedules the next sweep
// while connections remain.
func (s *Server) sweep() {
	// Not the labels of whatever goroutine ran the timer.
	pprof.SetGoroutineLabels(context.Background())
	limit := int64(s.SendTimeout)
	now := monoNow()
	s.mu.Lock()
	s.sweeping = false
	conns := s.connsLocked()
	if len(conns) > 0 {
		s.armSweepLocked()
	}
	s.mu.Unlock()
	for _, c := range conns {
		if t := c.ww.writing.Load(); t != 0 && now-t > limit {
			s.logf("h2: %v took none of a write for %v (send timeout): closing the connection", c.remote, s.SendTimeout)
			if s.OnSendTimeout != nil {
				s.OnSendTimeout()
			}
			c.nc.Close() // the write fails, the reader ends, and the connection closes
			continue
		}
		var stuck []*stream
		c.mu.Lock()
		if c.windowWaiters > 0 {
			for _, st := range c.streams {
				if st.windowSince != 0 && now-st.windowSince > limit {
					stuck = append(stuck, st)
				}
			}
		}
		c.mu.Unlock()
		for _, st := range stuck {
			if s.OnSendTimeout != nil {
				s.OnSendTimeout()
			}
			// Its own goroutine: the RST_STREAM waits for the write lock,
			// which a slow socket may hold for a while.
			go st.resetByUs(http2.ErrCodeCancel)
		}
	}
}
