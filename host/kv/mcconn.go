package kv

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// This file is the memcached text protocol on one server: a LIFO pool of
// idle connections and a pipelined exchange. A batch of operations is
// written with one write and its replies read in order, so n operations on
// one server cost one round trip, not n (gomemcache, used before, has no
// pipelining and allocated several objects per operation; the login path
// runs four to six store operations, so this is on every login's bill).

// mcServer is one memcached server.
type mcServer struct {
	label   string // as configured: error texts and placement use it
	network string // "tcp" or "unix"
	addr    string // resolved address to dial
	timeout time.Duration
	maxIdle int

	mu   sync.Mutex
	idle []*mcConn

	// downUntil is the Unix nanos until which the server is skipped
	// after a failure (see downFor).
	downUntil atomic.Int64
}

// mcConn is one connection with its buffers, reused across batches.
type mcConn struct {
	nc   net.Conn
	w    []byte
	r    []byte
	rpos int
	rend int
}

// newMCServer resolves addr (host:port, or a path with a slash for a Unix
// socket) once.
func newMCServer(addr string, timeout time.Duration, maxIdle int) (*mcServer, error) {
	s := &mcServer{label: addr, timeout: timeout, maxIdle: maxIdle}
	if bytes.ContainsRune([]byte(addr), '/') {
		ua, err := net.ResolveUnixAddr("unix", addr)
		if err != nil {
			return nil, err
		}
		s.network, s.addr = "unix", ua.String()
		return s, nil
	}
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	s.network, s.addr = "tcp", ta.String()
	return s, nil
}

func (s *mcServer) get() (*mcConn, error) {
	s.mu.Lock()
	if n := len(s.idle); n > 0 {
		c := s.idle[n-1]
		s.idle[n-1] = nil
		s.idle = s.idle[:n-1]
		s.mu.Unlock()
		return c, nil
	}
	s.mu.Unlock()
	nc, err := net.DialTimeout(s.network, s.addr, s.timeout)
	if err != nil {
		return nil, err
	}
	return &mcConn{nc: nc, w: make([]byte, 0, 512), r: make([]byte, 4096)}, nil
}

// put returns a healthy connection to the pool, or closes it when the
// pool is full.
func (s *mcServer) put(c *mcConn) {
	if cap(c.w) > 64<<10 {
		c.w = make([]byte, 0, 512) // do not keep a large value's buffer
	}
	if len(c.r) > 64<<10 {
		c.r = make([]byte, 4096)
	}
	s.mu.Lock()
	if len(s.idle) < s.maxIdle {
		s.idle = append(s.idle, c)
		s.mu.Unlock()
		return
	}
	s.mu.Unlock()
	c.nc.Close()
}

// closeIdle closes the idle connections.
func (s *mcServer) closeIdle() error {
	s.mu.Lock()
	idle := s.idle
	s.idle = nil
	s.mu.Unlock()
	var errs []error
	for _, c := range idle {
		errs = append(errs, c.nc.Close())
	}
	return errors.Join(errs...)
}

// errProtocol is a reply the client does not understand: the connection is
// closed, as it may be out of step with the server.
var errProtocol = errors.New("unexpected reply")

// do runs ops on this server in one round trip and sets their outputs.
// Only outages are returned (the caller marks every op it covers as
// unavailable); per-operation results such as a miss are in op.Err.
func (s *mcServer) do(ops []*Op, now time.Time) error {
	c, err := s.get()
	if err != nil {
		return err
	}
	c.w = c.w[:0]
	for _, op := range ops {
		c.w = appendRequest(c.w, op, now)
	}
	if err := c.nc.SetDeadline(time.Now().Add(s.timeout)); err != nil {
		c.nc.Close()
		return err
	}
	if _, err := c.nc.Write(c.w); err != nil {
		c.nc.Close()
		return err
	}
	for _, op := range ops {
		if err := c.readReply(op); err != nil {
			c.nc.Close()
			return err
		}
	}
	s.put(c)
	return nil
}

// appendRequest appends op's command. Keys were validated by the caller.
func appendRequest(w []byte, op *Op, now time.Time) []byte {
	switch op.Kind {
	case OpGet:
		w = append(w, "get "...)
		w = append(w, op.wireKey()...)
	case OpSet, OpAdd:
		w = append(w, op.Kind.String()...)
		w = append(w, ' ')
		w = append(w, op.wireKey()...)
		w = append(w, " 0 "...)
		w = strconv.AppendInt(w, int64(expiration(now, op.TTL)), 10)
		w = append(w, ' ')
		w = strconv.AppendInt(w, int64(len(op.Value)), 10)
		w = append(w, "\r\n"...)
		w = append(w, op.Value...)
	case OpIncr, OpDecr:
		w = append(w, op.Kind.String()...)
		w = append(w, ' ')
		w = append(w, op.wireKey()...)
		w = append(w, ' ')
		w = strconv.AppendUint(w, op.Delta, 10)
	case OpDelete:
		w = append(w, "delete "...)
		w = append(w, op.wireKey()...)
	}
	return append(w, "\r\n"...)
}

// wireKey is the key as sent: the store's key form, or Key as given.
func (op *Op) wireKey() string {
	if op.wire != "" {
		return op.wire
	}
	return op.Key
}

// line returns the next reply line without its CRLF; the slice is valid
// until the next read.
func (c *mcConn) line() ([]byte, error) {
	for {
		if i := bytes.IndexByte(c.r[c.rpos:c.rend], '\n'); i >= 0 {
			l := c.r[c.rpos : c.rpos+i]
			c.rpos += i + 1
			if len(l) == 0 || l[len(l)-1] != '\r' {
				return nil, errProtocol
			}
			return l[:len(l)-1], nil
		}
		if err := c.fill(); err != nil {
			return nil, err
		}
	}
}

// fill reads more bytes, compacting or growing the buffer first.
func (c *mcConn) fill() error {
	if c.rpos > 0 {
		c.rend = copy(c.r, c.r[c.rpos:c.rend])
		c.rpos = 0
	}
	if c.rend == len(c.r) {
		if len(c.r) >= MaxValueSize+1024 {
			return errProtocol // a line longer than any reply
		}
		nr := make([]byte, 2*len(c.r))
		copy(nr, c.r[:c.rend])
		c.r = nr
	}
	n, err := c.nc.Read(c.r[c.rend:])
	c.rend += n
	if n > 0 {
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// take returns the next n bytes, reading as needed; the copy is the
// caller's.
func (c *mcConn) take(n int) ([]byte, error) {
	out := make([]byte, n)
	k := copy(out, c.r[c.rpos:c.rend])
	c.rpos += k
	for k < n {
		m, err := c.nc.Read(out[k:])
		k += m
		if k < n && err != nil {
			return nil, err
		}
	}
	return out, nil
}

// skipCRLF consumes the CRLF after a value.
func (c *mcConn) skipCRLF() error {
	for c.rend-c.rpos < 2 {
		if err := c.fill(); err != nil {
			return err
		}
	}
	if c.r[c.rpos] != '\r' || c.r[c.rpos+1] != '\n' {
		return errProtocol
	}
	c.rpos += 2
	return nil
}

var (
	replyEnd      = []byte("END")
	replyStored   = []byte("STORED")
	replyNot      = []byte("NOT_STORED")
	replyNotFound = []byte("NOT_FOUND")
	replyDeleted  = []byte("DELETED")
	replyValue    = []byte("VALUE ")
	replyServer   = []byte("SERVER_ERROR ")
	replyClient   = []byte("CLIENT_ERROR ")
)

// readReply reads op's reply and sets its outputs. It returns an error
// only when the connection can no longer be used.
func (c *mcConn) readReply(op *Op) error {
	l, err := c.line()
	if err != nil {
		return err
	}
	switch {
	case bytes.HasPrefix(l, replyServer):
		// memcached answers a set it cannot store with SERVER_ERROR and
		// stays in step (it read the data).
		if bytes.Contains(l, []byte("too large")) {
			op.Err = fmt.Errorf("%w: memcached refused it (%s); store less, or raise memcached's -I item size", ErrTooLarge, l)
			return nil
		}
		op.Err = fmt.Errorf("%w: memcached: %s", ErrUnavailable, l)
		return nil
	case bytes.HasPrefix(l, replyClient):
		if (op.Kind == OpIncr || op.Kind == OpDecr) && bytes.Contains(l, []byte("non-numeric")) {
			op.Err = fmt.Errorf("%w: %s needs a value that is an unsigned 64-bit decimal number; set it with one first", ErrNotNumeric, op.Kind)
			return nil
		}
		return fmt.Errorf("%w: %s", errProtocol, l)
	}
	switch op.Kind {
	case OpGet:
		if bytes.Equal(l, replyEnd) {
			op.Err = ErrNotFound
			return nil
		}
		if !bytes.HasPrefix(l, replyValue) {
			return errProtocol
		}
		// VALUE <key> <flags> <bytes> [<cas>]
		key, rest, _ := bytes.Cut(l[len(replyValue):], []byte{' '})
		_, rest, _ = bytes.Cut(rest, []byte{' '}) // flags
		size, _, _ := bytes.Cut(rest, []byte{' '})
		if string(key) != op.wireKey() || len(size) == 0 || len(size) > 8 {
			return errProtocol
		}
		n := 0
		for _, c := range size {
			if c < '0' || c > '9' {
				return errProtocol
			}
			n = n*10 + int(c-'0')
		}
		if n > MaxValueSize+1024 {
			return errProtocol
		}
		v, err := c.take(n)
		if err != nil {
			return err
		}
		if err := c.skipCRLF(); err != nil {
			return err
		}
		if end, err := c.line(); err != nil {
			return err
		} else if !bytes.Equal(end, replyEnd) {
			return errProtocol
		}
		op.Value, op.Err = v, nil
	case OpSet, OpAdd:
		switch {
		case bytes.Equal(l, replyStored):
			op.Err = nil
		case bytes.Equal(l, replyNot):
			op.Err = ErrExists
		default:
			return errProtocol
		}
	case OpIncr, OpDecr:
		if bytes.Equal(l, replyNotFound) {
			op.Err = ErrNotFound
			return nil
		}
		n, err := strconv.ParseUint(string(bytes.TrimRight(l, " ")), 10, 64)
		if err != nil {
			return errProtocol
		}
		op.N, op.Err = n, nil
	case OpDelete:
		switch {
		case bytes.Equal(l, replyDeleted):
			op.Err = nil
		case bytes.Equal(l, replyNotFound):
			op.Err = ErrNotFound
		default:
			return errProtocol
		}
	default:
		return errProtocol
	}
	return nil
}
