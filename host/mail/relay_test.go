package mail

import (
	"bytes"
	"crypto/rand"
	"io"
	"net"
	"testing"
	"time"
)

// tcpPair returns both ends of a loopback TCP connection.
func tcpPair(t *testing.T) (a, b net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	done := make(chan net.Conn, 1)
	go func() {
		c, _ := ln.Accept()
		done <- c
	}()
	a, err = net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	b = <-done
	t.Cleanup(func() { a.Close(); b.Close() })
	return a, b
}

// TestRelay_smallBulkIdle relays commands both ways, then a bulk transfer
// (which moves the direction to splice), and checks that idle relays hold
// no buffer and that a half-close reaches the other side.
func TestRelay_smallBulkIdle(t *testing.T) {
	const sessions = 20
	type ends struct{ client, up net.Conn }
	var all []ends
	results := make(chan error, sessions)
	for range sessions {
		client, proxyClient := tcpPair(t)
		proxyUp, up := tcpPair(t)
		all = append(all, ends{client, up})
		go func() {
			_, _, err := relay(proxyClient, proxyUp, time.Minute)
			results <- err
		}()
	}
	for _, e := range all {
		e.client.Write([]byte("a SELECT INBOX\r\n"))
		got := make([]byte, 16)
		if _, err := io.ReadFull(e.up, got); err != nil || string(got) != "a SELECT INBOX\r\n" {
			t.Fatalf("upstream got %q, %v", got, err)
		}
		e.up.Write([]byte("a OK done\r\n"))
		got = make([]byte, 11)
		if _, err := io.ReadFull(e.client, got); err != nil || string(got) != "a OK done\r\n" {
			t.Fatalf("client got %q, %v", got, err)
		}
	}
	deadline := time.Now().Add(2 * time.Second)
	for heldBuffers.Load() != 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := heldBuffers.Load(); n != 0 {
		t.Errorf("%d idle relays hold %d buffers; want none", sessions, n)
	}

	// Bulk: 3 MiB from the mailbox server to the client.
	body := make([]byte, 3<<20)
	rand.Read(body)
	e := all[0]
	go func() {
		e.up.Write(body)
		e.up.(*net.TCPConn).CloseWrite()
	}()
	got, err := io.ReadAll(e.client)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("bulk: got %d bytes (%v), want %d identical", len(got), err, len(body))
	}
	// The client's half-close ends the relay.
	e.client.(*net.TCPConn).CloseWrite()
	if _, err := io.ReadAll(e.up); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-results:
		if err != nil {
			t.Errorf("relay: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("relay did not end after both half-closes")
	}
}
