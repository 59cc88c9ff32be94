// Command lightimap is a deliberately minimal IMAP and POP3 server for
// benchmarks: it accepts any login and answers the few commands the load
// generator sends (CAPABILITY, ID, LOGIN, SELECT, FETCH 1 BODY[], NOOP,
// LOGOUT; POP3 CAPA, USER, PASS, STAT, RETR 1, QUIT) as cheaply as it can,
// so that a benchmark through a proxy measures the proxy, not the backend.
// With -http it also serves 1 KiB to every HTTP GET (a web backend for
// mixed loads). It is not a mail server: never expose it.
//
//	lightimap -imap 127.0.0.1:7143 -pop3 127.0.0.1:7110 -size 1048576 -http 127.0.0.1:7080
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"strings"
)

func main() {
	imapAddr := flag.String("imap", "127.0.0.1:7143", "IMAP listen address")
	pop3Addr := flag.String("pop3", "127.0.0.1:7110", "POP3 listen address (empty: none)")
	size := flag.Int("size", 1<<20, "size of message 1 in bytes")
	httpAddr := flag.String("http", "", "HTTP listen address (empty: none)")
	flag.Parse()
	msg := makeMessage(*size)
	if *httpAddr != "" {
		ln, err := net.Listen("tcp", *httpAddr)
		if err != nil {
			log.Fatal(err)
		}
		body := bytes.Repeat([]byte("x"), 1024)
		go func() {
			log.Fatal(http.Serve(ln, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "text/plain")
				w.Header().Set("Content-Length", "1024")
				w.Write(body)
			})))
		}()
	}
	if *pop3Addr != "" {
		ln, err := net.Listen("tcp", *pop3Addr)
		if err != nil {
			log.Fatal(err)
		}
		go serve(ln, func(c net.Conn) { pop3(c, msg) })
	}
	ln, err := net.Listen("tcp", *imapAddr)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("lightimap ready", ln.Addr())
	serve(ln, func(c net.Conn) { imap(c, msg) })
}

func makeMessage(n int) []byte {
	var b bytes.Buffer
	b.WriteString("Subject: bench\r\n\r\n")
	line := strings.Repeat("x", 76) + "\r\n"
	for b.Len()+len(line) <= n {
		b.WriteString(line)
	}
	for b.Len() < n {
		b.WriteByte('y')
	}
	return b.Bytes()
}

func serve(ln net.Listener, h func(net.Conn)) {
	for {
		c, err := ln.Accept()
		if err != nil {
			log.Fatal(err)
		}
		go func() {
			defer c.Close()
			h(c)
		}()
	}
}

const caps = "IMAP4rev1 LITERAL+ SASL-IR ID IDLE AUTH=PLAIN"

func imap(c net.Conn, msg []byte) {
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	fmt.Fprintf(w, "* OK [CAPABILITY %s] lightimap ready\r\n", caps)
	w.Flush()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		// Literals: {n} or {n+} at the end of a line: swallow the data.
		for strings.HasSuffix(line, "}") {
			i := strings.LastIndexByte(line, '{')
			if i < 0 {
				break
			}
			spec := line[i+1 : len(line)-1]
			plus := strings.HasSuffix(spec, "+")
			var n int
			fmt.Sscanf(strings.TrimSuffix(spec, "+"), "%d", &n)
			if !plus {
				w.WriteString("+ go\r\n")
				w.Flush()
			}
			buf := make([]byte, n)
			if _, err := io.ReadFull(r, buf); err != nil {
				return
			}
			rest, err := r.ReadString('\n')
			if err != nil {
				return
			}
			line = line[:i] + "x" + strings.TrimRight(rest, "\r\n")
		}
		tag, rest, _ := strings.Cut(line, " ")
		cmd, _, _ := strings.Cut(rest, " ")
		switch strings.ToUpper(cmd) {
		case "CAPABILITY":
			fmt.Fprintf(w, "* CAPABILITY %s\r\n%s OK done\r\n", caps, tag)
		case "ID":
			fmt.Fprintf(w, "* ID NIL\r\n%s OK done\r\n", tag)
		case "LOGIN", "AUTHENTICATE":
			fmt.Fprintf(w, "%s OK [CAPABILITY %s] Logged in\r\n", tag, caps)
		case "SELECT", "EXAMINE":
			fmt.Fprintf(w, "* 1 EXISTS\r\n* 0 RECENT\r\n* OK [UIDVALIDITY 1] x\r\n%s OK [READ-WRITE] done\r\n", tag)
		case "FETCH", "UID":
			fmt.Fprintf(w, "* 1 FETCH (BODY[] {%d}\r\n", len(msg))
			w.Write(msg)
			fmt.Fprintf(w, ")\r\n%s OK done\r\n", tag)
		case "LOGOUT":
			fmt.Fprintf(w, "* BYE bye\r\n%s OK done\r\n", tag)
			w.Flush()
			return
		default:
			fmt.Fprintf(w, "%s OK done\r\n", tag)
		}
		if r.Buffered() == 0 {
			w.Flush()
		}
	}
}

func pop3(c net.Conn, msg []byte) {
	r := bufio.NewReader(c)
	w := bufio.NewWriter(c)
	w.WriteString("+OK lightimap pop3 ready\r\n")
	w.Flush()
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		verb, _, _ := strings.Cut(strings.TrimRight(line, "\r\n"), " ")
		switch strings.ToUpper(verb) {
		case "CAPA":
			w.WriteString("+OK\r\nUSER\r\nUIDL\r\nTOP\r\n.\r\n")
		case "STAT":
			fmt.Fprintf(w, "+OK 1 %d\r\n", len(msg))
		case "RETR":
			fmt.Fprintf(w, "+OK %d octets\r\n", len(msg))
			w.Write(msg) // lines never start with "."
			w.WriteString(".\r\n")
		case "QUIT":
			w.WriteString("+OK bye\r\n")
			w.Flush()
			return
		default:
			w.WriteString("+OK\r\n")
		}
		if r.Buffered() == 0 {
			w.Flush()
		}
	}
}
