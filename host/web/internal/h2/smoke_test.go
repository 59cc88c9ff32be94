package h2

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
)

func startSmoke(t *testing.T, h http.Handler) (string, *Server) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Handler: h}
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go s.ServeConn(context.Background(), c)
		}
	}()
	t.Cleanup(func() { ln.Close(); s.Close() })
	return ln.Addr().String(), s
}

func smokeClient() *http.Client {
	tr := &http.Transport{Protocols: new(http.Protocols)}
	tr.Protocols.SetUnencryptedHTTP2(true)
	return &http.Client{Transport: tr}
}

func TestSmoke(t *testing.T) {
	addr, _ := startSmoke(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			h := sha256.New()
			n, err := io.Copy(h, r.Body)
			fmt.Fprintf(w, "%d %x %v", n, h.Sum(nil), err)
			return
		}
		if r.URL.Path == "/big" {
			w.Write(bytes.Repeat([]byte("x"), 8<<20))
			return
		}
		fmt.Fprintf(w, "%s %s %s", r.Proto, r.Host, r.URL.Path)
	}))
	c := smokeClient()
	resp, err := c.Get("http://" + addr + "/hello")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "HTTP/2.0 "+addr+" /hello" || resp.ContentLength != int64(len(b)) {
		t.Fatalf("%q %d %v", b, resp.ContentLength, resp.Header)
	}
	data := bytes.Repeat([]byte("abcdefgh"), 4<<20)
	resp, err = c.Post("http://"+addr+"/up", "application/octet-stream", bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	b, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if want := fmt.Sprintf("%d %x <nil>", len(data), sha256.Sum256(data)); string(b) != want {
		t.Fatalf("%q want %q", b, want)
	}
	resp, err = c.Get("http://" + addr + "/big")
	if err != nil {
		t.Fatal(err)
	}
	n, err := io.Copy(io.Discard, resp.Body)
	if n != 8<<20 || err != nil {
		t.Fatal(n, err)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := range 20 {
				p := fmt.Sprintf("/p%d-%d", i, j)
				resp, err := c.Get("http://" + addr + p)
				if err != nil {
					t.Error(err)
					return
				}
				b, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				if !strings.HasSuffix(string(b), p) {
					t.Errorf("%q for %s", b, p)
				}
			}
		}()
	}
	wg.Wait()
}
