package mail

import (
	"bufio"
	"crypto/tls"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/host/connlimit"
	"github.com/postern/postern/host/internal/proxyproto"
	"github.com/postern/postern/host/internal/testenv"
)

// fakeBackend is a mailbox server that accepts any login: IMAP answers
// every tagged command OK (literals included), POP3 every command +OK.
func fakeBackend(t *testing.T, proto string) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				if proto == POP3 {
					io.WriteString(c, "+OK ready\r\n")
				} else {
					io.WriteString(c, "* OK [CAPABILITY IMAP4rev1 LITERAL+ ID] ready\r\n")
				}
				for {
					cmd, err := readCommand(c, br)
					if err != nil {
						return
					}
					if proto == POP3 {
						io.WriteString(c, "+OK\r\n")
						continue
					}
					tag, _, _ := strings.Cut(cmd, " ")
					io.WriteString(c, tag+" OK done\r\n")
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// readCommand reads one command line with its IMAP literals.
func readCommand(c net.Conn, br *bufio.Reader) (string, error) {
	var cmd strings.Builder
	for {
		l, err := br.ReadString('\n')
		if err != nil {
			return "", err
		}
		l = strings.TrimRight(l, "\r\n")
		cmd.WriteString(l)
		i := strings.LastIndexByte(l, '{')
		if i < 0 || !strings.HasSuffix(l, "}") {
			return cmd.String(), nil
		}
		n, plus := l[i+1:len(l)-1], false
		if strings.HasSuffix(n, "+") {
			n, plus = n[:len(n)-1], true
		}
		size, err := strconv.Atoi(n)
		if err != nil {
			return cmd.String(), nil
		}
		if !plus {
			io.WriteString(c, "+ go\r\n")
		}
		if _, err := io.CopyN(io.Discard, br, int64(size)); err != nil {
			return "", err
		}
	}
}

type limitsProxy struct {
	srv  *Server
	reg  *connlimit.Registry
	logs *logBuffer
	tls  *tls.Config // trusts the proxy
}

// startLimited runs a mail front end in front of fake backends: imap and
// pop3 plaintext listeners, imaps implicit TLS, and imap-pp reading a
// PROXY header.
func startLimited(t *testing.T, lim Limits, reg *connlimit.Registry) *limitsProxy {
	t.Helper()
	certPEM, keyPEM, err := testenv.SelfSigned("localhost")
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	imapUp, pop3Up := fakeBackend(t, IMAP), fakeBackend(t, POP3)
	logs := &logBuffer{}
	srv, err := New(Config{
		Listeners: []Listener{
			{Name: "imap", Address: "127.0.0.1:0", Protocol: IMAP, TLS: TLSNone, AllowPlaintextLogin: true, Route: []string{imapUp}},
			{Name: "pop3", Address: "127.0.0.1:0", Protocol: POP3, TLS: TLSNone, AllowPlaintextLogin: true, Route: []string{pop3Up}},
			{Name: "imaps", Address: "127.0.0.1:0", Protocol: IMAP, TLS: TLSImplicit, Route: []string{imapUp}},
			{Name: "imap-pp", Address: "127.0.0.1:0", Protocol: IMAP, TLS: TLSNone, AllowPlaintextLogin: true, Route: []string{imapUp},
				ProxyProtocol: true, TrustedProxies: []netip.Prefix{netip.MustParsePrefix("127.0.0.0/8")}},
		},
		Limits:  lim,
		Limiter: reg,
		TLS:     &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12},
		Logger:  slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	})
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := contextWithTimeout(5 * time.Second)
		defer cancel()
		srv.Shutdown(ctx)
		if t.Failed() {
			t.Logf("proxy log:\n%s", logs)
		}
	})
	return &limitsProxy{srv: srv, reg: srv.limiter, logs: logs, tls: &tls.Config{RootCAs: newPool(certPEM), ServerName: "localhost"}}
}

// greeted dials a listener and reads its greeting.
func (p *limitsProxy) greeted(t *testing.T, listener string) *conn {
	t.Helper()
	c := dial(t, p.srv.Addr(listener).String())
	if strings.HasPrefix(listener, "pop3") {
		c.expect("+OK ")
	} else {
		c.expect("* OK ")
	}
	return c
}

// refused dials a listener and expects line, then the close.
func (p *limitsProxy) refused(t *testing.T, listener, line string) {
	t.Helper()
	c := dial(t, p.srv.Addr(listener).String())
	if got := c.line(); got != line {
		t.Fatalf("%s: got %q, want %q", listener, got, line)
	}
	c.eof()
}

func (p *limitsProxy) wantRefused(t *testing.T, listener string, why connlimit.Reason, n int64) {
	t.Helper()
	if got := p.reg.Listener(listener).Refused(why); got != n {
		t.Fatalf("%s: refused %s = %d, want %d", listener, why, got, n)
	}
}

// waitOpen waits until a listener counts conns connections, early of
// them before login.
func (p *limitsProxy) waitOpen(t *testing.T, listener string, conns, early int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		c, e := p.reg.Listener(listener).Open()
		if c == conns && e == early {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s: %d connections, %d before login; want %d, %d", listener, c, e, conns, early)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

const (
	imapBusy      = "* BYE [UNAVAILABLE] Too many connections, try again later."
	imapPerClient = "* BYE [UNAVAILABLE] Too many connections from your address, try again later."
	pop3Busy      = "-ERR [SYS/TEMP] Too many connections, try again later."
	pop3PerClient = "-ERR [SYS/TEMP] Too many connections from your address, try again later."
)

func TestLimits_perListener(t *testing.T) {
	p := startLimited(t, Limits{MaxConnections: 2}, nil)
	for _, tc := range []struct{ listener, line string }{{"imap", imapBusy}, {"pop3", pop3Busy}} {
		t.Run(tc.listener, func(t *testing.T) {
			a := p.greeted(t, tc.listener)
			p.greeted(t, tc.listener)
			p.refused(t, tc.listener, tc.line)
			p.wantRefused(t, tc.listener, connlimit.PerListener, 1)
			// One closes: the next one is served.
			a.c.Close()
			p.waitOpen(t, tc.listener, 1, 1)
			p.greeted(t, tc.listener)
		})
	}
	if !strings.Contains(p.logs.String(), "reason=per_listener") {
		t.Error("no refusal in the log")
	}
}

func TestLimits_perClient(t *testing.T) {
	// Loopback is exempt by default; an empty list exempts nobody.
	p := startLimited(t, Limits{MaxConnectionsPerClient: 2, PerClientExempt: []netip.Prefix{}}, nil)
	for _, tc := range []struct{ listener, line string }{{"imap", imapPerClient}, {"pop3", pop3PerClient}} {
		t.Run(tc.listener, func(t *testing.T) {
			p.greeted(t, tc.listener)
			p.greeted(t, tc.listener)
			p.refused(t, tc.listener, tc.line)
			p.wantRefused(t, tc.listener, connlimit.PerClient, 1)
		})
	}
	t.Run("imaps", func(t *testing.T) {
		// The refusal is sent over TLS on an implicit-TLS listener.
		for range 2 {
			c := dial(t, p.srv.Addr("imaps").String())
			c.startTLS(p.tls)
			c.expect("* OK ")
		}
		c := dial(t, p.srv.Addr("imaps").String())
		c.startTLS(p.tls)
		if got := c.line(); got != imapPerClient {
			t.Fatalf("got %q", got)
		}
		c.eof()
	})
	t.Run("loopback exempt by default", func(t *testing.T) {
		p := startLimited(t, Limits{MaxConnectionsPerClient: 1}, nil)
		for range 3 {
			p.greeted(t, "imap")
		}
	})
}

// Behind a balancer the client is the PROXY header's source: the limit
// applies to it, not to the balancer's address.
func TestLimits_perClientProxyProtocol(t *testing.T) {
	p := startLimited(t, Limits{MaxConnectionsPerClient: 2}, nil)
	addr := p.srv.Addr("imap-pp").String()
	from := func(client string) *conn {
		c := dial(t, addr)
		c.send(string(proxyproto.AppendV2(nil, netip.MustParseAddrPort(client), netip.MustParseAddrPort("192.0.2.1:143"))))
		return c
	}
	for range 2 {
		from("198.51.100.7:40000").expect("* OK ")
	}
	c := from("198.51.100.7:40002")
	if got := c.line(); got != imapPerClient {
		t.Fatalf("got %q", got)
	}
	c.eof()
	from("198.51.100.8:40000").expect("* OK ") // another client, same balancer
	p.wantRefused(t, "imap-pp", connlimit.PerClient, 1)
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(p.logs.String(), "outcome=refused") {
		if time.Now().After(deadline) {
			t.Fatal("no session line with outcome=refused")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// A session that logs in leaves the pre-login count and frees its place
// for the next client; it still counts against max_connections.
func TestLimits_preLogin(t *testing.T) {
	p := startLimited(t, Limits{MaxPreLogin: 2, MaxConnections: 3}, nil)
	t.Run("imap", func(t *testing.T) {
		a := p.greeted(t, "imap")
		p.greeted(t, "imap")
		p.refused(t, "imap", imapBusy)
		p.wantRefused(t, "imap", connlimit.Early, 1)
		a.send("a1 LOGIN bob secret\r\n")
		a.expect("a1 OK")
		p.waitOpen(t, "imap", 2, 1)
		p.greeted(t, "imap") // the pre-login place a1 left
		p.waitOpen(t, "imap", 3, 2)
		p.refused(t, "imap", imapBusy) // pre-login full again
		a.send("a2 LOGOUT\r\n")        // relayed to the backend
		a.expect("a2 OK")
		a.c.Close()
		p.waitOpen(t, "imap", 2, 2)
	})
	t.Run("pop3", func(t *testing.T) {
		a := p.greeted(t, "pop3")
		p.greeted(t, "pop3")
		p.refused(t, "pop3", pop3Busy)
		a.send("USER bob\r\n")
		a.expect("+OK")
		a.send("PASS secret\r\n")
		a.expect("+OK")
		p.waitOpen(t, "pop3", 2, 1)
		p.greeted(t, "pop3")
		p.refused(t, "pop3", pop3Busy) // 2 before login, 1 logged in
		p.wantRefused(t, "pop3", connlimit.Early, 2)
	})
}

// The session cap is the process's: every listener, and across Servers
// sharing the Registry (postern run shares it with the web front end and
// across reloads).
func TestLimits_global(t *testing.T) {
	reg := connlimit.New()
	reg.SetMaxSessions(2)
	p := startLimited(t, Limits{}, reg)
	a := p.greeted(t, "imap")
	p.greeted(t, "pop3")
	p.refused(t, "imap", imapBusy)
	p.refused(t, "pop3", pop3Busy)
	p.wantRefused(t, "imap", connlimit.Global, 1)
	p.wantRefused(t, "pop3", connlimit.Global, 1)
	// A second configuration's Server on the same Registry (a reload).
	q := startLimited(t, Limits{}, reg)
	q.refused(t, "imap", imapBusy)
	a.c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for reg.Sessions() != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sessions", reg.Sessions())
		}
		time.Sleep(5 * time.Millisecond)
	}
	q.greeted(t, "imap")
	p.wantRefused(t, "imap", connlimit.Global, 2)
	// A raised cap applies to the next connection.
	reg.SetMaxSessions(3)
	p.greeted(t, "pop3")
}

// A reload builds a new Server with new limits on the same Registry: the
// new limits apply to new connections, and sessions still on the previous
// Server count against them.
func TestLimits_reload(t *testing.T) {
	reg := connlimit.New()
	old := startLimited(t, Limits{MaxConnections: 1}, reg)
	old.greeted(t, "imap")
	old.refused(t, "imap", imapBusy)
	cur := startLimited(t, Limits{MaxConnections: 2}, reg)
	cur.greeted(t, "imap") // the old session and this one: 2
	cur.refused(t, "imap", imapBusy)
	cur.wantRefused(t, "imap", connlimit.PerListener, 2) // one count per listener name, across both
}
