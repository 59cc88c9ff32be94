package listeners

import (
	"errors"
	"net"
	"testing"
	"time"
)

func TestSet_handover(t *testing.T) {
	probe, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := probe.Addr().String()
	probe.Close()
	s := New()
	old, err := s.Listen(addr)
	if err != nil {
		t.Fatal(err)
	}
	cur, err := s.Listen(addr) // the new configuration's view: same socket
	if err != nil {
		t.Fatalf("second view: %v", err)
	}
	old.Close()
	if !s.Has(addr) {
		t.Fatal("closing one view closed the socket")
	}
	// Connections keep arriving on the new view.
	for i := 0; i < 3; i++ {
		c, err := net.DialTimeout("tcp", addr, time.Second)
		if err != nil {
			t.Fatal(err)
		}
		got, err := cur.Accept()
		if err != nil {
			t.Fatal(err)
		}
		got.Close()
		c.Close()
	}
	if _, err := old.Accept(); !errors.Is(err, net.ErrClosed) {
		t.Errorf("closed view Accept: %v", err)
	}
	cur.Close()
	if s.Has(addr) {
		t.Fatal("socket open after its last view closed")
	}
	if _, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		t.Error("still accepting after the last view closed")
	}
}

func TestSet_acceptUnblocksOnClose(t *testing.T) {
	s := New()
	v, err := s.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := v.Accept()
		done <- err
	}()
	time.Sleep(20 * time.Millisecond)
	v.Close()
	select {
	case err := <-done:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("%v", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("Accept did not return after Close")
	}
}

// TestSet_adopt: a bound socket handed to the set serves Listen of its
// address without a second bind, and closes with its last view.
func TestSet_adopt(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	s := New()
	if err := s.Adopt(ln); err != nil {
		t.Fatal(err)
	}
	if err := s.Adopt(ln); err == nil {
		t.Error("adopting a second socket on the same address: no error")
	}
	c, err := net.DialTimeout("tcp", addr, time.Second) // before any view: it waits
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	v, err := s.Listen(addr) // a bind would fail: ln holds the port
	if err != nil {
		t.Fatal(err)
	}
	got, err := v.Accept()
	if err != nil {
		t.Fatal(err)
	}
	got.Close()
	v.Close()
	if s.Has(addr) {
		t.Fatal("socket open after its last view closed")
	}
	if _, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		t.Error("still accepting after the last view closed")
	}
}
