package h2

import (
	"context"
	"errors"
	"net"
	"net/http"

	"golang.org/x/net/http2"
)

// Driven connections: a caller that reads the socket itself (an event
// loop, which owns many connections and must not block) feeds the bytes
// to Feed, instead of a goroutine per connection reading them. The
// frames are parsed by the same Framer and handled by the same code as
// ServeConn's, each once it has all come; what differs:
//   - the connection's writes go to nc, whose Write must not wait for
//     the socket (it queues), so that the feeding goroutine never waits
//     on a slow client; the stream goroutines' writes wait for room
//     (the room function) before they take the write lock instead, so
//     that the queue stays bounded;
//   - streams are offered to Server.LoopFast first, on the feeding
//     goroutine;
//   - the preface timeout and the reads' end are the caller's: Feed
//     reports when the preface is done (Ready), and Close ends the
//     connection when the client closed it or Feed failed. nc's
//     SetReadDeadline and CloseWrite (a GOAWAY's closeSoon) are asked of
//     the caller through nc.

// Driven is a connection served from the bytes its caller feeds.
type Driven struct {
	c     *conn
	in    feedReader
	phase int // 0: the client's preface; 1: its first frame (SETTINGS); 2: frames
	err   error
}

// feedReader is the Framer's input on a driven connection: the bytes of
// the complete frames being parsed.
type feedReader struct{ b []byte }

func (r *feedReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, errShortFeed
	}
	n := copy(p, r.b)
	r.b = r.b[n:]
	return n, nil
}

// errShortFeed is a frame read past the bytes fed: frameSpan and the
// Framer disagree about where a frame ends (not expected).
var errShortFeed = errors.New("h2: frame read past the bytes fed")

// ErrPreface is Feed's error for a connection that did not start with
// the client's connection preface.
var ErrPreface = errors.New("h2: the client's connection preface is missing")

// ServeDriven starts serving the connection nc (past its TLS handshake,
// ALPN h2) from the bytes the caller will Feed: our SETTINGS are written
// at once. nc's Write must not wait for the socket; room, when not nil,
// is called by stream goroutines before each write and waits while nc
// holds too much. ctx is the connection's context. Nil when the server
// is shut (nc is closed).
func (s *Server) ServeDriven(ctx context.Context, nc net.Conn, room func() error) *Driven {
	d := &Driven{}
	c := newConn(s, ctx, nc, &d.in)
	c.room, c.loop = room, s.LoopFast != nil
	d.c = c
	if !s.track(c, true) {
		nc.Close()
		return nil
	}
	c.start()
	return d
}

// Ready reports whether the client's preface (its magic and first
// SETTINGS) has come.
func (d *Driven) Ready() bool { return d.phase == 2 }

// Feed handles the complete frames at the start of p and returns how
// many bytes it used; the caller keeps the rest and feeds it again with
// what follows. An error ends the connection (a GOAWAY was sent when
// the protocol asks for one): the caller calls Close.
func (d *Driven) Feed(p []byte) (int, error) {
	if d.err != nil {
		return 0, d.err
	}
	c := d.c
	n := 0
	if d.phase == 0 {
		const preface = http2.ClientPreface
		k := min(len(p), len(preface))
		if string(p[:k]) != preface[:k] {
			return 0, d.fail(ErrPreface)
		}
		if k < len(preface) {
			return 0, nil
		}
		n, d.phase = k, 1
	}
	for {
		k := frameSpan(p[n:])
		if k == 0 {
			return n, nil
		}
		d.in.b = p[n : n+k]
		f, err := c.readFrame()
		n += k
		if d.phase == 1 {
			// The first frame must be SETTINGS (RFC 9113 3.4).
			if err != nil {
				c.readError(err)
				return n, d.fail(err)
			}
			if sf, ok := f.(*http2.SettingsFrame); !ok || sf.IsAck() {
				c.goAway(http2.ErrCodeProtocol, false)
				return n, d.fail(http2.ConnectionError(http2.ErrCodeProtocol))
			}
			d.phase = 2
		}
		if err != nil {
			if !c.readError(err) {
				return n, d.fail(err)
			}
			continue
		}
		if err := c.process(f); err != nil {
			var ce http2.ConnectionError
			if errors.As(err, &ce) {
				c.goAway(http2.ErrCode(ce), false)
			}
			return n, d.fail(err)
		}
	}
}

// MaxBuffer is the most the caller needs to hold of what it has not fed
// yet: what Feed did not use (less than a frame) and room for the next
// read.
func (d *Driven) MaxBuffer() int { return 2 * (maxFrameSize + 9) }

// waitRoom waits, on a driven connection, while its transport holds too
// much (the room function). The send timeout of that wait is the
// caller's, which sees the socket take nothing.
func (c *conn) waitRoom() error {
	if c.room == nil {
		return nil
	}
	return c.room()
}

// loopFast offers the stream to Server.LoopFast; a panic there is a
// handler's: logged (but http.ErrAbortHandler), the stream reset and
// ended.
func (st *stream) loopFast() (taken bool) {
	defer func() {
		if v := recover(); v != nil {
			if v != http.ErrAbortHandler {
				st.c.s.logf("http2: panic serving %s: %v", st.c.remote, v)
			}
			st.resetByUs(http2.ErrCodeInternal)
			st.done()
			taken = true
		}
	}()
	return st.c.s.LoopFast(&Stream{st})
}
