package mail

import (
	"bufio"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"time"

	"github.com/postern/postern/host/connlimit"
	"github.com/postern/postern/host/internal/proxyproto"
)

// refusalTime bounds answering one refused connection: PROXY header, TLS
// handshake, the line.
const refusalTime = 3 * time.Second

// errRefused marks a session a connection limit ended.
var errRefused = errors.New("refused by a connection limit")

// refusalLine is what a refused client reads before the close: a BYE (RFC
// 9051 7.1.5, UNAVAILABLE: RFC 5530) or POP3's SYS/TEMP (RFC 3206).
func refusalLine(proto string, why connlimit.Reason) string {
	text := "Too many connections, try again later."
	if why == connlimit.PerClient {
		text = "Too many connections from your address, try again later."
	}
	if proto == POP3 {
		return "-ERR [SYS/TEMP] " + text + "\r\n"
	}
	return "* BYE [UNAVAILABLE] " + text + "\r\n"
}

// refuse answers a connection a limit refused at accept, on a goroutine
// of its own within refusalTime, and closes it. When the process is
// already answering as many refusals as connlimit allows at once,
// it closes it without a word. It is not a session: it has no log line
// (logRefusal) and is not in Stats.Active.
func (s *Server) refuse(c net.Conn, l *Listener, counts *connlimit.Listener, why connlimit.Reason) {
	s.logRefusal(l, counts, why, addrPort(c.RemoteAddr()).String())
	if !s.limiter.TryRefusal() {
		c.Close()
		return
	}
	s.mu.Lock()
	if s.closing {
		s.mu.Unlock()
		s.limiter.DoneRefusal()
		c.Close()
		return
	}
	s.wg.Add(1)
	s.mu.Unlock()
	go func() {
		defer s.wg.Done()
		defer s.limiter.DoneRefusal()
		defer c.Close()
		c.SetDeadline(time.Now().Add(refusalTime))
		var conn net.Conn = c
		if l.ProxyProtocol {
			br := bufio.NewReaderSize(c, 256)
			if _, err := proxyproto.Read(br); err != nil || br.Buffered() > 0 {
				return
			}
		}
		if l.TLS == TLSImplicit {
			tc := tls.Server(c, s.cfg.TLS)
			if tc.Handshake() != nil {
				return
			}
			conn = tc
		}
		conn.Write([]byte(refusalLine(l.Protocol, why)))
	}()
}

// refuse ends a session that a limit refused once its client address was
// known (the PROXY header): the line, over TLS on an implicit-TLS
// listener, then errRefused for the session's log line.
func (ss *session) refuse(why connlimit.Reason) error {
	ss.srv.logRefusal(ss.l, ss.srv.limiter.Listener(ss.l.Name), why, ss.client.String())
	ss.conn.SetDeadline(time.Now().Add(refusalTime))
	if ss.l.TLS == TLSImplicit && ss.br.Buffered() == 0 {
		if err := ss.startTLS(); err != nil {
			return fmt.Errorf("%w (%s)", errRefused, why)
		}
	}
	ss.write(refusalLine(ss.l.Protocol, why))
	return fmt.Errorf("%w (%s)", errRefused, why)
}

// logRefusal logs a refusal, at most once every 10 s per listener; the
// metrics count every one (postern_connections_refused_total).
func (s *Server) logRefusal(l *Listener, counts *connlimit.Listener, why connlimit.Reason, client string) {
	if !counts.LogRefusal() {
		return
	}
	conns, early := counts.Open()
	s.log.Warn("mail: connection refused by a connection limit (logged at most every 10s per listener)",
		"listener", l.Name, "reason", why.String(), "client", client,
		"connections", conns, "pre_login", early, "sessions", s.limiter.Sessions(),
		"refused_total", counts.Refused(why))
}
