// Package listeners keeps a process's listening sockets across
// configuration reloads, as Caddy does: a front end built from the new
// configuration takes a view of the same socket for every address that
// did not change, so no connection is refused during a reload, and the
// old front end's view is closed without closing the socket.
//
// One goroutine per socket accepts connections and hands each to one of
// the socket's open views. A socket is closed when its last view is
// closed.
package listeners

import (
	"context"
	"errors"
	"fmt"
	"net"
	"sync"
)

// Set is the process's sockets, by address. The zero value is not ready:
// use New.
type Set struct {
	mu      sync.Mutex
	sockets map[string]*socket
}

// New returns an empty Set.
func New() *Set { return &Set{sockets: map[string]*socket{}} }

type socket struct {
	set   *Set
	addr  string
	ln    net.Listener
	conns chan net.Conn
	views int
	done  chan struct{} // closed by acceptLoop when Accept fails
	stop  chan struct{} // closed when the last view is closed
	err   error         // the accept error that ended the socket
}

// Listen returns a view of the socket on addr ("host:port"), opening the
// socket when no view of it is open. Each view must be closed.
func (s *Set) Listen(addr string) (net.Listener, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	sk := s.sockets[addr]
	if sk == nil {
		// No TCP keepalive on accepted connections, as nginx's default
		// (so_keepalive off): it costs four setsockopt calls per
		// connection, and the front ends' own timeouts (pre-login, relay
		// idle, HTTP idle) find dead peers.
		lc := net.ListenConfig{KeepAlive: -1}
		ln, err := lc.Listen(context.Background(), "tcp", addr)
		if err != nil {
			return nil, err
		}
		sk = &socket{set: s, addr: addr, ln: ln, conns: make(chan net.Conn), done: make(chan struct{}), stop: make(chan struct{})}
		s.sockets[addr] = sk
		go sk.acceptLoop()
	}
	sk.views++
	return &view{sk: sk, closed: make(chan struct{})}, nil
}

// Adopt makes ln, already bound, the socket of its address: a later
// Listen of that address returns a view of it instead of binding. A caller
// that picked a free port keeps it bound this way until the configuration
// naming it is served, so that nothing else can take it in between. The
// socket closes as Listen's do, with its last view; closing ln itself
// ends it too (one never viewed).
func (s *Set) Adopt(ln net.Listener) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	addr := ln.Addr().String()
	if s.sockets[addr] != nil {
		return fmt.Errorf("listeners: a socket is open on %s already", addr)
	}
	sk := &socket{set: s, addr: addr, ln: ln, conns: make(chan net.Conn), done: make(chan struct{}), stop: make(chan struct{})}
	s.sockets[addr] = sk
	go sk.acceptLoop()
	return nil
}

// Has reports whether a socket is open on addr.
func (s *Set) Has(addr string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.sockets[addr] != nil
}

func (sk *socket) acceptLoop() {
	for {
		c, err := sk.ln.Accept()
		if err != nil {
			sk.err = err
			close(sk.done)
			return
		}
		select {
		case sk.conns <- c:
		case <-sk.stop:
			c.Close()
			return
		}
	}
}

// release drops one view; the last one closes the socket.
func (sk *socket) release() {
	sk.set.mu.Lock()
	defer sk.set.mu.Unlock()
	sk.views--
	if sk.views == 0 {
		delete(sk.set.sockets, sk.addr)
		close(sk.stop)
		sk.ln.Close() // ends acceptLoop
	}
}

type view struct {
	sk        *socket
	closed    chan struct{}
	closeOnce sync.Once
}

func (v *view) Accept() (net.Conn, error) {
	select {
	case c := <-v.sk.conns:
		return c, nil
	case <-v.closed:
		return nil, net.ErrClosed
	case <-v.sk.done:
		if errors.Is(v.sk.err, net.ErrClosed) {
			return nil, net.ErrClosed
		}
		return nil, v.sk.err
	}
}

// Close closes this view; the socket stays open while other views exist.
func (v *view) Close() error {
	v.closeOnce.Do(func() {
		close(v.closed)
		v.sk.release()
	})
	return nil
}

func (v *view) Addr() net.Addr { return v.sk.ln.Addr() }
