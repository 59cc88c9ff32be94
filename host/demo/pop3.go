package demo

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// POP3 limits. RFC 2449 allows 255 octets per command line; the idle
// limit is RFC 1939's minimum autologout timer.
const (
	pop3MaxLine = 512
	pop3Idle    = 10 * time.Minute
)

// pop3Server serves the demo mailboxes over POP3 (RFC 1939): USER and
// PASS (how Postern logs in upstream), then what `curl pop3://` and mail
// clients send. Mailboxes are read-only: DELE is refused, so every
// session sees the same messages.
type pop3Server struct {
	ln  net.Listener
	log *slog.Logger

	mu     sync.Mutex
	conns  map[net.Conn]struct{}
	closed bool
	wg     sync.WaitGroup // the accept loop and every session
}

func startPOP3(log *slog.Logger) (*pop3Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: pop3: %w", err)
	}
	s := &pop3Server{ln: ln, log: log, conns: map[net.Conn]struct{}{}}
	s.wg.Add(1)
	go s.accept()
	return s, nil
}

func (s *pop3Server) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			if !errors.Is(err, net.ErrClosed) {
				s.log.Error("demo POP3 server stopped accepting", "error", err.Error())
			}
			return
		}
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			c.Close()
			return
		}
		s.conns[c] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			serveConnPOP3(c, s.log)
			s.mu.Lock()
			delete(s.conns, c)
			s.mu.Unlock()
		}()
	}
}

// close stops accepting, ends every session and waits for them.
func (s *pop3Server) close() error {
	s.mu.Lock()
	s.closed = true
	for c := range s.conns {
		c.Close()
	}
	s.mu.Unlock()
	err := s.ln.Close()
	s.wg.Wait()
	return err
}

// serveConnPOP3 runs one POP3 session on c and closes it.
func serveConnPOP3(c net.Conn, log *slog.Logger) {
	defer c.Close()
	defer func() {
		if r := recover(); r != nil { // one broken session must not stop the demo
			log.Error("demo POP3 session panicked", "panic", fmt.Sprint(r))
		}
	}()
	ps := &pop3Session{r: bufio.NewReaderSize(c, pop3MaxLine), w: bufio.NewWriter(c)}
	defer ps.w.Flush()
	ps.reply(true, "demo POP3 server ready")
	for {
		if ps.w.Flush() != nil {
			return
		}
		c.SetDeadline(time.Now().Add(pop3Idle))
		line, err := readLinePOP3(ps.r)
		if errors.Is(err, errLineTooLong) {
			ps.reply(false, "line too long")
			return
		}
		if err != nil || !ps.command(line) {
			return
		}
	}
}

var errLineTooLong = errors.New("line too long")

// readLinePOP3 reads one line without its CRLF (or LF).
func readLinePOP3(r *bufio.Reader) (string, error) {
	line, err := r.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		return "", errLineTooLong
	}
	if err != nil {
		return "", err
	}
	return strings.TrimRight(string(line), "\r\n"), nil
}

// pop3Session is the state of one POP3 session.
type pop3Session struct {
	r    *bufio.Reader
	w    *bufio.Writer
	name string // from USER
	user *User  // set once logged in: the TRANSACTION state
}

// command runs one command line; false ends the session.
func (ps *pop3Session) command(line string) bool {
	verb, arg, _ := strings.Cut(line, " ")
	verb = strings.ToUpper(verb)
	switch verb {
	case "QUIT":
		ps.reply(true, "bye")
		return false
	case "CAPA":
		ps.reply(true, "capabilities follow")
		ps.multiline("USER\r\nUIDL\r\nTOP\r\nIMPLEMENTATION postern-demo\r\n")
		return true
	case "NOOP":
		ps.reply(ps.user != nil, "")
		return true
	}
	if ps.user == nil {
		return ps.authorization(verb, arg)
	}
	ps.transaction(verb, arg)
	return true
}

// authorization handles USER and PASS (RFC 1939 section 7).
func (ps *pop3Session) authorization(verb, arg string) bool {
	switch verb {
	case "USER":
		if arg == "" {
			ps.reply(false, "USER needs a name")
			return true
		}
		ps.name = arg
		ps.reply(true, "send PASS")
	case "PASS":
		u, ok := FindUser(ps.name)
		if ps.name == "" || !ok || arg != u.Password {
			ps.name = ""
			ps.reply(false, "[AUTH] invalid login or password")
			return true
		}
		ps.user = &u
		ps.reply(true, fmt.Sprintf("%s has %d messages", u.Login, len(u.Inbox)))
	default:
		ps.reply(false, "log in first (USER, PASS)")
	}
	return true
}

// transaction handles the commands of a logged-in session.
func (ps *pop3Session) transaction(verb, arg string) {
	inbox := ps.user.Inbox
	switch verb {
	case "STAT":
		size := 0
		for _, m := range inbox {
			size += len(m)
		}
		ps.reply(true, fmt.Sprintf("%d %d", len(inbox), size))
	case "LIST", "UIDL":
		info := func(i int) string {
			if verb == "UIDL" {
				return fmt.Sprintf("%d demo-%d", i+1, i+1)
			}
			return fmt.Sprintf("%d %d", i+1, len(inbox[i]))
		}
		if arg != "" {
			if i, ok := ps.msgNumber(arg); ok {
				ps.reply(true, info(i))
			}
			return
		}
		ps.reply(true, fmt.Sprintf("%d messages", len(inbox)))
		var b strings.Builder
		for i := range inbox {
			b.WriteString(info(i) + "\r\n")
		}
		ps.multiline(b.String())
	case "RETR", "TOP":
		num, lines, _ := strings.Cut(arg, " ")
		i, ok := ps.msgNumber(num)
		if !ok {
			return
		}
		m := inbox[i]
		if verb == "TOP" {
			n, err := strconv.Atoi(lines)
			if err != nil || n < 0 {
				ps.reply(false, "TOP needs a message number and a line count")
				return
			}
			m = top(m, n)
		}
		ps.reply(true, fmt.Sprintf("%d octets", len(m)))
		ps.multiline(m)
	case "DELE":
		ps.reply(false, "this demo mailbox is read-only")
	case "RSET":
		ps.reply(true, "")
	default:
		ps.reply(false, "unknown command")
	}
}

// msgNumber parses a message number, answering -ERR when it is not one.
func (ps *pop3Session) msgNumber(s string) (int, bool) {
	n, err := strconv.Atoi(s)
	if err != nil || n < 1 || n > len(ps.user.Inbox) {
		ps.reply(false, "no such message")
		return 0, false
	}
	return n - 1, true
}

// top returns the header and the first n lines of the body of m.
func top(m string, n int) string {
	head, body, _ := strings.Cut(m, "\r\n\r\n")
	lines := strings.SplitAfter(body, "\r\n")
	if n < len(lines) {
		lines = lines[:n]
	}
	return head + "\r\n\r\n" + strings.Join(lines, "")
}

func (ps *pop3Session) reply(ok bool, text string) {
	status := "-ERR"
	if ok {
		status = "+OK"
	}
	if text != "" {
		status += " " + text
	}
	io.WriteString(ps.w, status+"\r\n")
}

// multiline writes text (CRLF-terminated lines) dot-stuffed, then ".".
func (ps *pop3Session) multiline(text string) {
	for line := range strings.SplitAfterSeq(text, "\r\n") {
		if strings.HasPrefix(line, ".") {
			io.WriteString(ps.w, ".")
		}
		io.WriteString(ps.w, line)
	}
	if text != "" && !strings.HasSuffix(text, "\r\n") {
		io.WriteString(ps.w, "\r\n")
	}
	io.WriteString(ps.w, ".\r\n")
}
