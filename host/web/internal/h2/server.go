// Package h2 is Postern's HTTP/2 server (RFC 9113) for connections that
// negotiated h2: one goroutine per connection reads frames (ServeConn),
// or an event loop feeds them (ServeDriven, driven.go); one goroutine per
// stream serves it, and a response's HEADERS and first DATA leave in one
// write. Streams go to an http.Handler, or to Server.Fast, which serves
// them from their fields without building an http.Request, or on a
// driven connection to Server.LoopFast, which serves them on the feeding
// goroutine without waiting.
//
// It exists because net/http's HTTP/2 server writes a small response as
// two flushes and moves every frame through channels between goroutines:
// about three times the CPU per request of HTTP/1.1 on the same proxy
// (see RATIONALE.md, "Web: an h2 server of our own"). What it keeps of net/http's
// server: stream states, flow control both ways, SETTINGS, PING and
// GOAWAY, MAX_CONCURRENT_STREAMS, request validation (RFC 9113 8.2 and
// 8.3), 100-continue, trailers both ways, the limits that stop the known
// floods (rapid reset, CONTINUATION, PING and SETTINGS, empty frames),
// idle timeouts and a graceful Shutdown. It has no server push, no
// priorities (PRIORITY frames are read and ignored, as RFC 9113 allows)
// and no extended CONNECT.
package h2

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"sync"
	"time"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// Server serves HTTP/2 connections. Set its fields before the first
// ServeConn; they are not changed after.
type Server struct {
	// Handler serves the streams Fast does not take.
	Handler http.Handler
	// Fast, when set, is offered every stream first; it returns false,
	// having written nothing, to leave the stream to Handler.
	Fast func(*Stream) bool
	// LoopFast, when set, is offered every stream of a driven
	// connection (ServeDriven) first, on the goroutine that feeds it: it
	// must not wait for anything. It returns false, having written
	// nothing, to leave the stream to Fast and Handler on a goroutine of
	// its own; true when it took the stream, which it then ends with
	// Stream.Finish.
	LoopFast func(*Stream) bool
	// ConnValue, when set, makes a value for each connection that
	// Stream.ConnValue gives Fast (what it would otherwise work out
	// again on every stream: the peer's parsed address...).
	ConnValue func(net.Conn) any
	// MaxConcurrentStreams is the SETTINGS_MAX_CONCURRENT_STREAMS
	// announced and enforced (a stream counts until its handler
	// returns, reset or not); 0 means 250.
	MaxConcurrentStreams uint32
	// MaxHeaderBytes bounds a request's header list (announced as
	// SETTINGS_MAX_HEADER_LIST_SIZE; a longer one is answered 431);
	// 0 means http.DefaultMaxHeaderBytes.
	MaxHeaderBytes int
	// IdleTimeout closes a connection (GOAWAY, NO_ERROR) that has had no
	// stream open for this long (checked once per IdleTimeout, so the
	// close comes one to two IdleTimeouts after the last stream); 0:
	// never.
	IdleTimeout time.Duration
	// PrefaceTimeout bounds the wait for the client's connection
	// preface; 0: none.
	PrefaceTimeout time.Duration
	// SendTimeout closes a connection whose socket has taken none of a
	// write for this long, and resets (RST_STREAM CANCEL) a stream that
	// has waited this long for the client's flow-control window, as
	// nginx's send_timeout; checked every quarter of it (sendtimeout.go).
	// 0: never.
	SendTimeout time.Duration
	// OnSendTimeout, when set, is called for every connection closed and
	// every stream reset by SendTimeout (a counter's increment: it must
	// not block).
	OnSendTimeout func()
	// ErrorLog receives handler panics and protocol errors worth an
	// operator's eye; nil: the log package's standard logger.
	ErrorLog *log.Logger

	mu       sync.Mutex
	conns    map[*conn]struct{}
	shutting bool
	idle     chan struct{} // closed when the last connection ends after Shutdown
	sweeping bool          // a send timeout sweep is due (mu)
}

// Flow control and flood limits. The receive windows are net/http's.
const (
	initialRecvWindow = 1 << 20 // per stream, announced in SETTINGS
	connRecvWindow    = 1 << 20 // the connection's, opened by a WINDOW_UPDATE
	defaultMaxStreams = 250
	maxFrameSize      = 16 << 10 // what we read; the default, not announced
	// holdBytes of a response body are held until the handler returns,
	// so that a small response goes out as one HEADERS and one DATA
	// frame with END_STREAM, in one write.
	holdBytes = 4 << 10
	// maxRefused is how many streams a connection may have refused
	// (REFUSED_STREAM, over MAX_CONCURRENT_STREAMS) before it is closed
	// with ENHANCE_YOUR_CALM: a client that keeps opening streams past
	// the limit is the rapid-reset attack or broken.
	maxRefused = 100
	// maxEmptyFrames is how many DATA frames without payload or
	// END_STREAM, and CONTINUATION or HEADERS frames that add nothing,
	// a connection may send in a row of such frames (CVE-2019-9518).
	maxEmptyFrames = 1000
	// maxControlFrames is how many PING and SETTINGS frames a
	// connection may send for each stream it opens, plus a fixed
	// allowance: each is answered, and a client that sends them in a
	// loop makes us write without end (CVE-2019-9512, -9515).
	maxControlFrames = 1000
)

func (s *Server) maxStreams() uint32 {
	if s.MaxConcurrentStreams == 0 {
		return defaultMaxStreams
	}
	return s.MaxConcurrentStreams
}

func (s *Server) maxHeaderBytes() uint32 {
	if s.MaxHeaderBytes <= 0 {
		return http.DefaultMaxHeaderBytes
	}
	return uint32(s.MaxHeaderBytes)
}

func (s *Server) logf(format string, args ...any) {
	if s.ErrorLog != nil {
		s.ErrorLog.Printf(format, args...)
	} else {
		log.Printf(format, args...)
	}
}

// ServeConn serves one connection until it ends: c is past its TLS
// handshake (ALPN h2) or a plain connection with prior knowledge, and
// ctx is the connection's context, which every request's context comes
// from. c is closed when ServeConn returns.
func (s *Server) ServeConn(ctx context.Context, c net.Conn) {
	sc := newConn(s, ctx, c, nil)
	if !s.track(sc, true) {
		c.Close()
		return
	}
	defer s.track(sc, false)
	sc.serve()
}

// track adds (or removes) a connection; false when the server is shut.
func (s *Server) track(c *conn, add bool) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if add {
		if s.shutting {
			return false
		}
		if s.conns == nil {
			s.conns = map[*conn]struct{}{}
		}
		s.conns[c] = struct{}{}
		s.armSweepLocked()
		return true
	}
	delete(s.conns, c)
	if s.shutting && len(s.conns) == 0 && s.idle != nil {
		close(s.idle)
		s.idle = nil
	}
	return true
}

// Shutdown sends GOAWAY to every connection, lets the streams in flight
// finish, and closes each connection when its last stream ends. It
// returns when all are closed, or with ctx's error (then it closes the
// rest at once, as Close does).
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutting = true
	idle := make(chan struct{})
	if len(s.conns) == 0 {
		close(idle)
	} else {
		s.idle = idle
	}
	conns := s.connsLocked()
	s.mu.Unlock()
	for _, c := range conns {
		c.goAway(http2.ErrCodeNo, true)
	}
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		s.Close()
		return ctx.Err()
	}
}

// connsLocked lists the connections (s.mu held).
func (s *Server) connsLocked() []*conn {
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}

// Close closes every connection at once; streams in flight see their
// contexts canceled.
func (s *Server) Close() error {
	s.mu.Lock()
	s.shutting = true
	conns := s.connsLocked()
	s.mu.Unlock()
	for _, c := range conns {
		c.nc.Close()
	}
	return nil
}

// conn is one client connection.
type conn struct {
	s      *Server
	nc     net.Conn
	ctx    context.Context // the connection's, canceled when it ends
	cancel context.CancelFunc
	remote string
	tls    *tls.ConnectionState
	fr     *http2.Framer // reads here; writes under wmu
	hb     blockReader   // the header block being read (headers.go)
	value  any           // Server.ConnValue's

	// The write side: every frame is written under wmu; the HPACK
	// encoder's state is the wire's order, so a header block is encoded
	// and written in one hold of wmu.
	wmu  sync.Mutex
	ww   watchedWriter // the socket, stamped for the send timeout
	bw   pooledWriter
	enc  *hpack.Encoder
	hbuf headerBuf
	fh   [9]byte // a frame header being written (on the heap with conn, not per frame)
	werr error   // the first write error: nothing more is written

	// State, under mu; cond (on mu) wakes writers waiting for window.
	mu            sync.Mutex
	cond          sync.Cond
	streams       map[uint32]*stream
	maxID         uint32 // the highest stream id the client opened
	active        int    // streams whose goroutine runs
	sendWindow    int64  // the connection's window for our DATA
	peerWindow    int64  // SETTINGS_INITIAL_WINDOW_SIZE: new streams' send window
	peerMaxFrame  int
	recvWindow    int64 // what the client may still send on the connection
	recvUnacked   int64 // bytes consumed and not yet given back
	goAwaySent    bool
	peerGoAway    bool
	closed        bool
	refused       int
	emptyFrames   int
	controlFrames int
	opened        int
	idleTimer     *time.Timer
	idleSeen      int // opened when the idle timer was last armed
	windowWaiters int // streams waiting for window (stream.windowSince)
	// The last streams we sent RST_STREAM on: frames the client sent
	// on them before it read the reset are ignored (RFC 9113 5.1), not
	// answered with a reset each or, HEADERS (trailers), taken for a
	// reopened stream, which is a connection error.
	resetIDs  [32]uint32
	resetNext int
	// A stream's goroutine waits for the connection's next stream
	// (spare), one at a time, until the connection ends: a goroutine
	// made for every stream grows its stack anew each time (the fast
	// path's depth, TLS writes included, is past a new goroutine's
	// stack): stack growth was about 1 µs per request in a profile
	// (an A/B of the whole proxy could not tell it from the machine's
	// noise).
	spare      chan *stream
	idleWorker bool // a worker waits on spare

	// A driven connection (driven.go): room, when set, is called by
	// the stream goroutines' writes before they take wmu, and waits
	// while the connection's transport holds too many bytes the socket
	// has not taken (its writes do not wait); loop: streams may be
	// offered to Server.LoopFast.
	room func() error
	loop bool
}

// readBufferSize is the connection's read buffer, which an idle
// connection keeps (reads past it go straight to the connection).
const readBufferSize = 4 << 10

// pooledWriter is the connection's write buffer, taken from a pool by
// the first write after a flush and given back by the flush (as
// net/http's h2 server does): an idle connection holds none. With
// 16 KiB buffers held for good, 2,000 idle connections took 138 MB of
// RSS against net/http's 109.
type pooledWriter struct {
	w  io.Writer
	bw *bufio.Writer
}

var writers = sync.Pool{New: func() any { return bufio.NewWriterSize(nil, 16<<10) }}

func (p *pooledWriter) Write(b []byte) (int, error) {
	if p.bw == nil {
		p.bw = writers.Get().(*bufio.Writer)
		p.bw.Reset(p.w)
	}
	return p.bw.Write(b)
}

// Flush writes what is buffered and gives the buffer back.
func (p *pooledWriter) Flush() error {
	if p.bw == nil {
		return nil
	}
	err := p.bw.Flush()
	if err == nil {
		p.release()
	}
	return err
}

// drop forgets what is buffered (the connection failed).
func (p *pooledWriter) drop() {
	if p.bw != nil {
		p.release()
	}
}

func (p *pooledWriter) release() {
	p.bw.Reset(nil)
	writers.Put(p.bw)
	p.bw = nil
}

// headerBuf is the HPACK encoder's output, reused.
type headerBuf struct{ b []byte }

func (h *headerBuf) Write(p []byte) (int, error) {
	h.b = append(h.b, p...)
	return len(p), nil
}

// newConn makes a connection's state; frames are read from r, or from
// nc (buffered) when r is nil.
func newConn(s *Server, ctx context.Context, nc net.Conn, r io.Reader) *conn {
	c := &conn{s: s, nc: nc, remote: nc.RemoteAddr().String()}
	ctx = context.WithValue(ctx, http.LocalAddrContextKey, nc.LocalAddr())
	c.ctx, c.cancel = context.WithCancel(ctx)
	if tc, ok := nc.(interface{ ConnectionState() tls.ConnectionState }); ok {
		st := tc.ConnectionState()
		c.tls = &st
	}
	c.cond.L = &c.mu
	if s.ConnValue != nil {
		c.value = s.ConnValue(nc)
	}
	c.ww.w = nc
	c.bw.w = &c.ww
	if r == nil {
		r = bufio.NewReaderSize(nc, readBufferSize)
	}
	c.fr = http2.NewFramer(&c.bw, r)
	c.fr.SetMaxReadFrameSize(maxFrameSize)
	c.hb.dec = hpack.NewDecoder(4096, nil)
	c.hb.dec.SetMaxStringLength(int(s.maxHeaderBytes()))
	c.hb.dec.SetEmitFunc(c.hb.emit)
	c.enc = hpack.NewEncoder(&c.hbuf)
	c.streams = map[uint32]*stream{}
	c.spare = make(chan *stream)
	c.sendWindow = 65535
	c.peerWindow = 65535
	c.peerMaxFrame = 16 << 10
	c.recvWindow = connRecvWindow
	return c
}

// serve reads the preface, then frames, until the connection ends.
func (c *conn) serve() {
	defer c.close()
	if t := c.s.PrefaceTimeout; t > 0 {
		c.nc.SetReadDeadline(time.Now().Add(t))
	}
	var preface [len(http2.ClientPreface)]byte
	if _, err := io.ReadFull(c.nc, preface[:]); err != nil || string(preface[:]) != http2.ClientPreface {
		return
	}
	c.start()
	// The first frame must be SETTINGS (RFC 9113 3.4), within the
	// preface's time.
	f, err := c.fr.ReadFrame()
	if err != nil {
		c.readError(err)
		return
	}
	if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
		c.goAway(http2.ErrCodeProtocol, false)
		return
	}
	if c.s.PrefaceTimeout > 0 {
		c.nc.SetReadDeadline(time.Time{})
	}
	for {
		if err := c.process(f); err != nil {
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				c.goAway(http2.ErrCode(ce), false)
			}
			return
		}
		if f, err = c.readFrame(); err != nil {
			if !c.readError(err) {
				return
			}
			f = nil
		}
	}
}

// start sends our SETTINGS and the connection's window, and starts the
// idle timer: the server's side of the preface.
func (c *conn) start() {
	c.wmu.Lock()
	c.fr.WriteSettings(
		http2.Setting{ID: http2.SettingMaxConcurrentStreams, Val: c.s.maxStreams()},
		http2.Setting{ID: http2.SettingInitialWindowSize, Val: initialRecvWindow},
		http2.Setting{ID: http2.SettingMaxHeaderListSize, Val: c.s.maxHeaderBytes()},
	)
	c.fr.WriteWindowUpdate(0, connRecvWindow-65535)
	c.flushLocked()
	c.wmu.Unlock()
	c.mu.Lock()
	c.armIdle()
	c.mu.Unlock()
}

// readError handles ReadFrame's error: true when reading goes on (a
// stream error, answered with RST_STREAM).
func (c *conn) readError(err error) bool {
	var se http2.StreamError
	var ce http2.ConnectionError
	switch {
	case errors.As(err, &se):
		// A header block that decoded but is malformed: its stream id is
		// used up.
		c.mu.Lock()
		if se.StreamID > c.maxID && se.StreamID%2 == 1 {
			c.maxID = se.StreamID
		}
		st := c.streams[se.StreamID]
		c.mu.Unlock()
		if st != nil {
			st.resetByUs(se.Code)
		} else {
			c.writeRST(se.StreamID, se.Code)
		}
		return true
	case errors.As(err, &ce):
		c.goAway(http2.ErrCode(ce), false)
	case errors.Is(err, http2.ErrFrameTooLarge):
		c.goAway(http2.ErrCodeFrameSize, false)
	}
	return false
}

// process handles one frame; an error ends the connection (a
// ConnectionError is sent as GOAWAY first). A nil frame is nothing.
func (c *conn) process(f http2.Frame) error {
	switch f := f.(type) {
	case nil:
		return nil
	case *http2.MetaHeadersFrame:
		return c.onHeaders(f)
	case *http2.DataFrame:
		return c.onData(f)
	case *http2.WindowUpdateFrame:
		return c.onWindowUpdate(f)
	case *http2.RSTStreamFrame:
		return c.onReset(f)
	case *http2.SettingsFrame:
		return c.onSettings(f)
	case *http2.PingFrame:
		if f.IsAck() {
			return nil
		}
		if err := c.countControl(); err != nil {
			return err
		}
		c.wmu.Lock()
		c.fr.WritePing(true, f.Data)
		err := c.flushLocked()
		c.wmu.Unlock()
		return err
	case *http2.PriorityFrame:
		if f.StreamDep == f.StreamID {
			c.writeRST(f.StreamID, http2.ErrCodeProtocol) // RFC 9113 5.3.1
		}
		return nil
	case *http2.GoAwayFrame:
		c.mu.Lock()
		c.peerGoAway = true
		done := c.active == 0
		c.mu.Unlock()
		if done {
			return io.EOF
		}
		return nil
	case *http2.PushPromiseFrame:
		return http2.ConnectionError(http2.ErrCodeProtocol) // RFC 9113 8.4
	}
	return nil // unknown frame types are ignored (RFC 9113 5.5)
}

// countControl counts a PING or SETTINGS the client sent.
func (c *conn) countControl() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.controlFrames++
	if c.controlFrames > maxControlFrames+10*c.opened {
		return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
	}
	return nil
}

// countEmpty counts a frame that carried nothing; reset by one that did.
func (c *conn) countEmpty(empty bool) error {
	if !empty {
		c.emptyFrames = 0
		return nil
	}
	if c.emptyFrames++; c.emptyFrames > maxEmptyFrames {
		return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
	}
	return nil
}

func (c *conn) onSettings(f *http2.SettingsFrame) error {
	if f.IsAck() {
		return nil
	}
	if f.NumSettings() > 100 || f.HasDuplicates() {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if err := c.countControl(); err != nil {
		return err
	}
	err := f.ForeachSetting(func(s http2.Setting) error {
		if err := s.Valid(); err != nil {
			return err
		}
		switch s.ID {
		case http2.SettingInitialWindowSize:
			c.mu.Lock()
			defer c.mu.Unlock()
			delta := int64(s.Val) - c.peerWindow
			c.peerWindow = int64(s.Val)
			for _, st := range c.streams {
				st.sendWindow += delta
				if st.sendWindow > 1<<31-1 {
					return http2.ConnectionError(http2.ErrCodeFlowControl) // RFC 9113 6.9.2
				}
			}
			c.cond.Broadcast()
		case http2.SettingMaxFrameSize:
			c.mu.Lock()
			c.peerMaxFrame = int(s.Val)
			c.mu.Unlock()
		case http2.SettingHeaderTableSize:
			c.wmu.Lock()
			c.enc.SetMaxDynamicTableSize(min(s.Val, 4096))
			c.wmu.Unlock()
		}
		return nil
	})
	if err != nil {
		return err
	}
	c.wmu.Lock()
	c.fr.WriteSettingsAck()
	err = c.flushLocked()
	c.wmu.Unlock()
	return err
}

func (c *conn) onWindowUpdate(f *http2.WindowUpdateFrame) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	inc := int64(f.Increment)
	if f.StreamID == 0 {
		c.sendWindow += inc
		if c.sendWindow > 1<<31-1 {
			return http2.ConnectionError(http2.ErrCodeFlowControl)
		}
		c.cond.Broadcast()
		return nil
	}
	st := c.streams[f.StreamID]
	if st == nil {
		if f.StreamID > c.maxID {
			return http2.ConnectionError(http2.ErrCodeProtocol) // an idle stream (RFC 9113 5.1)
		}
		return nil // closed: ignored
	}
	st.sendWindow += inc
	if st.sendWindow > 1<<31-1 {
		c.mu.Unlock()
		st.resetByUs(http2.ErrCodeFlowControl)
		c.mu.Lock()
		return nil
	}
	c.cond.Broadcast()
	return nil
}

func (c *conn) onReset(f *http2.RSTStreamFrame) error {
	c.mu.Lock()
	st := c.streams[f.StreamID]
	idle := st == nil && f.StreamID > c.maxID
	c.mu.Unlock()
	if idle {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	if st != nil {
		st.cancelBy(errStreamReset(f.ErrCode))
	}
	return nil
}

// errStreamReset is the error a reset stream's body reads and writes
// return.
type errStreamReset http2.ErrCode

func (e errStreamReset) Error() string {
	return "h2: stream reset by the client: " + http2.ErrCode(e).String()
}

func (c *conn) onData(f *http2.DataFrame) error {
	n := int64(f.Length) // padding included: it counts against the windows
	c.mu.Lock()
	if n > c.recvWindow {
		c.mu.Unlock()
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	c.recvWindow -= n
	if err := c.countEmpty(n == 0 && !f.StreamEnded()); err != nil {
		c.mu.Unlock()
		return err
	}
	st := c.streams[f.StreamID]
	if st == nil || st.remoteDone || st.resetSent {
		idle := st == nil && f.StreamID > c.maxID
		ignore := st != nil && st.resetSent || st == nil && c.wasReset(f.StreamID)
		c.mu.Unlock()
		if idle {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.giveBack(nil, n)
		if !ignore {
			if st != nil {
				st.resetByUs(http2.ErrCodeStreamClosed)
			} else {
				c.writeRST(f.StreamID, http2.ErrCodeStreamClosed)
			}
		}
		return nil
	}
	if n > st.recvWindow {
		c.mu.Unlock()
		c.giveBack(nil, n)
		st.resetByUs(http2.ErrCodeFlowControl)
		return nil
	}
	st.recvWindow -= n
	data := f.Data()
	pad := n - int64(len(data))
	st.received += int64(len(data))
	bad := st.declared >= 0 && (st.received > st.declared || f.StreamEnded() && st.received != st.declared)
	if f.StreamEnded() {
		st.remoteDone = true
	}
	c.mu.Unlock()
	if pad > 0 {
		c.giveBack(st, pad)
	}
	if bad {
		// RFC 9113 8.1.1: a body unlike its content-length is malformed.
		c.giveBack(st, int64(len(data)))
		st.resetByUs(http2.ErrCodeProtocol)
		return nil
	}
	if len(data) > 0 && !st.body.write(data) {
		c.giveBack(st, int64(len(data))) // the handler closed the body: dropped
	}
	if f.StreamEnded() {
		st.body.end(nil, nil)
	}
	return nil
}

// giveBack returns n consumed bytes to the client's windows (the
// stream's when st is not nil and still receiving), with a WINDOW_UPDATE
// once enough has gathered.
func (c *conn) giveBack(st *stream, n int64) {
	if n <= 0 {
		return
	}
	var connInc, stInc int64
	c.mu.Lock()
	c.recvUnacked += n
	if c.recvUnacked >= connRecvWindow/8 || c.recvWindow < connRecvWindow/2 {
		connInc, c.recvUnacked = c.recvUnacked, 0
		c.recvWindow += connInc
	}
	if st != nil && !st.remoteDone && !st.resetSent && !st.resetGot {
		st.recvUnacked += n
		if st.recvUnacked >= initialRecvWindow/8 || st.recvWindow < initialRecvWindow/2 {
			stInc, st.recvUnacked = st.recvUnacked, 0
			st.recvWindow += stInc
		}
	}
	c.mu.Unlock()
	if connInc == 0 && stInc == 0 {
		return
	}
	c.wmu.Lock()
	if connInc > 0 {
		c.fr.WriteWindowUpdate(0, uint32(connInc))
	}
	if stInc > 0 {
		c.fr.WriteWindowUpdate(st.id, uint32(stInc))
	}
	c.flushLocked()
	c.wmu.Unlock()
}

// flushLocked flushes the write buffer (wmu held), keeping the first
// error.
func (c *conn) flushLocked() error {
	if c.werr != nil {
		c.bw.drop()
		return c.werr
	}
	if err := c.bw.Flush(); err != nil {
		c.failLocked(err)
		return err
	}
	return nil
}

// writeFrameLocked writes a frame, header and payload, into the write
// buffer (wmu held). HEADERS, CONTINUATION and DATA do not go through the
// Framer: it copies each frame into a buffer of its own before writing
// it, and that buffer keeps the largest frame's size for the life of the
// connection (16 KiB on every idle connection that once sent a full DATA
// frame); here the payload goes straight into the pooled write buffer
// (or, a full frame into an empty buffer, straight to the socket). The
// caller keeps within the peer's frame size.
func (c *conn) writeFrameLocked(t http2.FrameType, flags http2.Flags, id uint32, p []byte) error {
	n := len(p)
	c.fh = [9]byte{byte(n >> 16), byte(n >> 8), byte(n), byte(t), byte(flags),
		byte(id >> 24 & 0x7f), byte(id >> 16), byte(id >> 8), byte(id)}
	if _, err := c.bw.Write(c.fh[:]); err != nil {
		return err
	}
	if n == 0 {
		return nil
	}
	_, err := c.bw.Write(p)
	return err
}

// writeDataLocked writes a DATA frame (wmu held).
func (c *conn) writeDataLocked(id uint32, end bool, p []byte) error {
	var flags http2.Flags
	if end {
		flags = http2.FlagDataEndStream
	}
	return c.writeFrameLocked(http2.FrameData, flags, id, p)
}

// failLocked records the first write error and closes the socket, which
// ends the reader too (wmu held).
func (c *conn) failLocked(err error) {
	if c.werr == nil {
		c.werr = err
		c.nc.Close()
	}
}

// wasReset reports whether we sent RST_STREAM on stream id lately (mu
// held).
func (c *conn) wasReset(id uint32) bool {
	for _, r := range c.resetIDs {
		if r == id {
			return true
		}
	}
	return false
}

// writeRST sends RST_STREAM for a stream that has no stream value.
func (c *conn) writeRST(id uint32, code http2.ErrCode) {
	c.mu.Lock()
	c.resetIDs[c.resetNext%len(c.resetIDs)] = id
	c.resetNext++
	c.mu.Unlock()
	c.wmu.Lock()
	c.fr.WriteRSTStream(id, code)
	c.flushLocked()
	c.wmu.Unlock()
}

// goAway sends GOAWAY with the last stream id opened. A graceful one
// (Shutdown) lets the streams in flight finish and closes the
// connection after the last; otherwise the connection closes once the
// frame is out.
func (c *conn) goAway(code http2.ErrCode, graceful bool) {
	c.mu.Lock()
	if c.goAwaySent && graceful {
		c.mu.Unlock()
		return
	}
	c.goAwaySent = true
	last := c.maxID
	done := c.active == 0
	c.mu.Unlock()
	c.wmu.Lock()
	c.fr.WriteGoAway(last, code, nil)
	c.flushLocked()
	c.wmu.Unlock()
	if !graceful || done {
		c.closeSoon()
	}
}

// startStream runs st on the connection's idle worker, or on a new one
// (called by the reader: the connection cannot close meanwhile).
func (c *conn) startStream(st *stream) {
	if c.loop && !st.reset && st.status == 0 && st.loopFast() {
		return
	}
	c.mu.Lock()
	idle := c.idleWorker
	c.idleWorker = false
	c.mu.Unlock()
	if idle {
		select {
		case c.spare <- st:
			return
		case <-c.ctx.Done(): // the worker may have left (ServeConn's ctx ended)
		}
	}
	go c.worker(st)
}

// worker runs st, then waits for the connection's next stream while no
// other worker waits, until the connection ends.
func (c *conn) worker(st *stream) {
	done := c.ctx.Done()
	for {
		st.run()
		c.mu.Lock()
		if c.idleWorker || c.closed {
			c.mu.Unlock()
			return
		}
		c.idleWorker = true
		c.mu.Unlock()
		select {
		case st = <-c.spare:
		case <-done:
			return
		}
	}
}

// closeSoon ends the connection after a GOAWAY: the write side is shut
// and the reader gets a short while to drain what the client had sent,
// so that the client reads the GOAWAY rather than a reset.
func (c *conn) closeSoon() {
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		cw.CloseWrite()
	}
	c.nc.SetReadDeadline(time.Now().Add(time.Second))
}

// close ends the connection: every stream's context is canceled and
// every writer waiting for window wakes.
func (c *conn) close() {
	c.mu.Lock()
	c.closed = true
	if c.idleTimer != nil {
		c.idleTimer.Stop()
	}
	streams := make([]*stream, 0, len(c.streams))
	for _, st := range c.streams {
		streams = append(streams, st)
	}
	c.cond.Broadcast()
	c.mu.Unlock()
	for _, st := range streams {
		st.cancelBy(errConnClosed)
	}
	c.cancel()
	c.nc.Close()
}

var errConnClosed = errors.New("h2: connection closed")

// armIdle starts the idle timer (mu held). It is not stopped and
// restarted around every stream (two timer operations per request):
// when it fires, a connection that had a stream open since, or has one
// now, gets another IdleTimeout. So an idle connection closes between
// one and two IdleTimeouts after its last stream ended.
func (c *conn) armIdle() {
	t := c.s.IdleTimeout
	if t <= 0 || c.closed || c.idleTimer != nil {
		return
	}
	c.idleSeen = c.opened
	c.idleTimer = time.AfterFunc(t, c.idleFired)
}

func (c *conn) idleFired() {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	idle := c.active == 0 && c.opened == c.idleSeen
	if !idle {
		c.idleSeen = c.opened
		c.idleTimer.Reset(c.s.IdleTimeout)
	}
	c.mu.Unlock()
	if idle {
		c.goAway(http2.ErrCodeNo, false)
	}
}
