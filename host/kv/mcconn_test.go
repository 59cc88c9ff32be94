package kv

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"
)

// TestMemcached_DoPipelines proves a batch is one round trip: the fake
// server answers nothing until it has read every request, so a client that
// waited for each reply before sending the next request would time out.
func TestMemcached_DoPipelines(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	got := make(chan []string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		r := bufio.NewReader(c)
		var lines []string
		for len(lines) < 3 {
			l, err := r.ReadString('\n')
			if err != nil {
				return
			}
			lines = append(lines, strings.TrimSpace(l))
		}
		got <- lines
		c.Write([]byte("41\r\nVALUE k2 0 3\r\nabc\r\nEND\r\nNOT_FOUND\r\n"))
	}()
	m, err := NewMemcached([]string{ln.Addr().String()}, MemcachedOptions{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ops := []Op{{Kind: OpIncr, Key: "k1", Delta: 1}, {Kind: OpGet, Key: "k2"}, {Kind: OpDelete, Key: "k3"}}
	m.Do(context.Background(), ops)
	if lines := <-got; strings.Join(lines, "|") != "incr k1 1|get k2|delete k3" {
		t.Errorf("server read %q", lines)
	}
	if ops[0].Err != nil || ops[0].N != 41 {
		t.Errorf("incr = %d, %v; want 41", ops[0].N, ops[0].Err)
	}
	if ops[1].Err != nil || string(ops[1].Value) != "abc" {
		t.Errorf("get = %q, %v; want abc", ops[1].Value, ops[1].Err)
	}
	if !errors.Is(ops[2].Err, ErrNotFound) {
		t.Errorf("delete err = %v, want ErrNotFound", ops[2].Err)
	}
}

// TestMemcached_DoOutage: a server that closes mid-batch fails every
// operation of the batch with ErrUnavailable and marks the server down.
func TestMemcached_DoOutage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		bufio.NewReader(c).ReadString('\n')
		c.Write([]byte("7\r\n")) // the first reply, then the server dies
		c.Close()
	}()
	m, err := NewMemcached([]string{ln.Addr().String()}, MemcachedOptions{Timeout: 2 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer m.Close()
	ops := []Op{{Kind: OpIncr, Key: "a", Delta: 1}, {Kind: OpIncr, Key: "b", Delta: 1}}
	m.Do(context.Background(), ops)
	for i, op := range ops {
		if !errors.Is(op.Err, ErrUnavailable) {
			t.Errorf("op %d err = %v, want ErrUnavailable", i, op.Err)
		}
	}
	if _, err := m.Get(context.Background(), "a"); !errors.Is(err, errSkipped) {
		t.Errorf("Get right after the outage = %v, want the skip error", err)
	}
}

// FuzzReadReply feeds arbitrary server replies to each operation's reader:
// it must return an error or a result, never panic or loop.
func FuzzReadReply(f *testing.F) {
	for _, s := range []string{
		"VALUE k 0 3\r\nabc\r\nEND\r\n", "END\r\n", "STORED\r\n", "NOT_STORED\r\n", "12\r\n", "NOT_FOUND\r\n",
		"DELETED\r\n", "SERVER_ERROR object too large for cache\r\n",
		"CLIENT_ERROR cannot increment or decrement non-numeric value\r\n", "ERROR\r\n",
		"VALUE k 0 99999999999\r\n", "VALUE k 0 -1\r\n", "VALUE x 0 1\r\nab\r\nEND\r\n", "12 \r\n",
	} {
		for k := OpGet; k <= OpDelete; k++ {
			f.Add(uint8(k), []byte(s))
		}
	}
	f.Fuzz(func(t *testing.T, kind uint8, reply []byte) {
		a, b := net.Pipe()
		defer a.Close()
		go func() {
			b.Write(reply)
			b.Close()
		}()
		a.SetDeadline(time.Now().Add(time.Second))
		c := &mcConn{nc: a, r: make([]byte, 16)}
		op := &Op{Kind: OpKind(kind), Key: "k"}
		if err := c.readReply(op); err == nil {
			if op.Kind == OpGet && op.Err == nil && !bytes.Contains(reply, op.Value) {
				t.Fatalf("get value %q not in the reply %q", op.Value, reply)
			}
		}
	})
}
