// Package mail is Postern's IMAP and POP3 front end: it accepts clients,
// speaks the protocol until the login (CAPABILITY, ID, STARTTLS, LOGIN,
// AUTHENTICATE; POP3 CAPA, STLS, USER/PASS, AUTH), runs the login,
// throttle and route hook chains, logs in to the chosen mailbox server and
// then relays bytes both ways without looking at them, as nginx's mail
// proxy does.
//
// A session goes through these states: greeting, pre-login commands (with
// a TLS upgrade at most once), login (hooks, upstream), relay, closed. One
// log line per session records how it ended; it never holds a password.
package mail

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"runtime/debug"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/host/connlimit"
	"github.com/postern/postern/host/internal/proxyproto"
)

// Server serves the mail listeners of one configuration.
type Server struct {
	cfg Config
	log *slog.Logger

	mu        sync.Mutex
	listeners map[string]net.Listener
	sessions  map[*session]struct{}
	closing   bool
	wg        sync.WaitGroup

	stats   *Stats
	limiter *connlimit.Registry
	lim     connlimit.Limits // every listener's, from cfg.Limits
}

// Stats are the front end's counters.
type Stats struct {
	Connections atomic.Int64 // accepted
	Active      atomic.Int64 // sessions now
	Logins      atomic.Int64 // successful upstream logins
	AuthFailed  atomic.Int64 // refused credentials (plugin or upstream)
	Throttled   atomic.Int64
	Unavailable atomic.Int64 // no route, or every upstream down
	UpstreamErr atomic.Int64 // upstream connect or protocol failures
	BytesIn     atomic.Int64 // client to upstream, after login
	BytesOut    atomic.Int64 // upstream to client, after login

	// IMAP and POP3 count the same events by protocol.
	IMAP, POP3 ProtoStats
}

// ProtoStats are the counters of one protocol.
type ProtoStats struct {
	Connections atomic.Int64
	Logins      atomic.Int64
	AuthFailed  atomic.Int64
	Throttled   atomic.Int64
	Unavailable atomic.Int64
}

func (st *Stats) proto(p string) *ProtoStats {
	if p == POP3 {
		return &st.POP3
	}
	return &st.IMAP
}

// outcome is a login outcome counted in Stats.
type outcome int

const (
	outLogin outcome = iota
	outAuthFailed
	outThrottled
	outUnavailable
)

// count adds one to a login outcome, in total and for the session's
// protocol.
func (ss *session) count(o outcome) {
	st := ss.srv.stats
	ps := st.proto(ss.l.Protocol)
	switch o {
	case outLogin:
		st.Logins.Add(1)
		ps.Logins.Add(1)
	case outAuthFailed:
		st.AuthFailed.Add(1)
		ps.AuthFailed.Add(1)
	case outThrottled:
		st.Throttled.Add(1)
		ps.Throttled.Add(1)
	case outUnavailable:
		st.Unavailable.Add(1)
		ps.Unavailable.Add(1)
	}
}

// New checks cfg and returns a Server that serves nothing yet.
func New(cfg Config) (*Server, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	c := cfg.withDefaults()
	st := c.Stats
	if st == nil {
		st = new(Stats)
	}
	lr := c.Limiter
	if lr == nil {
		lr = connlimit.New()
	}
	return &Server{cfg: c, log: c.Logger, listeners: map[string]net.Listener{}, sessions: map[*session]struct{}{}, stats: st,
		limiter: lr, lim: c.Limits.connLimits()}, nil
}

// Stats returns the live counters.
func (s *Server) Stats() *Stats { return s.stats }

// Start opens every configured listener and serves it in the background.
// On error nothing is left open.
func (s *Server) Start() error {
	var opened []net.Listener
	for _, l := range s.cfg.Listeners {
		lc := net.ListenConfig{KeepAlive: -1} // as postern run's listeners (host/internal/listeners)
		ln, err := lc.Listen(context.Background(), "tcp", l.Address)
		if err != nil {
			for _, o := range opened {
				o.Close()
			}
			return fmt.Errorf("mail: listener %s: %w", l.Name, err)
		}
		opened = append(opened, ln)
	}
	for i, l := range s.cfg.Listeners {
		s.Serve(opened[i], l.Name)
	}
	return nil
}

// Addr returns the address a listener is bound to (for ":0" in tests).
func (s *Server) Addr(name string) net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ln := s.listeners[name]; ln != nil {
		return ln.Addr()
	}
	return nil
}

// Serve accepts connections on ln for the configured listener name, in a
// goroutine. The Server owns ln from now on.
func (s *Server) Serve(ln net.Listener, name string) {
	var lc *Listener
	for i := range s.cfg.Listeners {
		if s.cfg.Listeners[i].Name == name {
			lc = &s.cfg.Listeners[i]
		}
	}
	if lc == nil {
		ln.Close()
		s.log.Error("mail: Serve called for an unknown listener", "listener", name)
		return
	}
	s.mu.Lock()
	s.listeners[name] = ln
	s.mu.Unlock()
	s.wg.Add(1)
	go s.acceptLoop(ln, lc)
}

func (s *Server) acceptLoop(ln net.Listener, l *Listener) {
	defer s.wg.Done()
	counts := s.limiter.Listener(l.Name)
	var backoff time.Duration
	for {
		c, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// EMFILE and friends: back off rather than spin.
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			s.log.Warn("mail: accept failed", "listener", l.Name, "error", err.Error(), "retry_in", backoff.String())
			time.Sleep(backoff)
			continue
		}
		backoff = 0
		s.stats.Connections.Add(1)
		s.stats.proto(l.Protocol).Connections.Add(1)
		// Behind a balancer the peer is the balancer: the client's own
		// address is checked once the PROXY header is read (prepare).
		var client netip.Addr
		if !l.ProxyProtocol {
			client = addrPort(c.RemoteAddr()).Addr()
		}
		tk, why := counts.Admit(client, &s.lim)
		if why != connlimit.OK {
			s.refuse(c, l, counts, why)
			continue
		}
		sess := s.newSession(c, l)
		if sess == nil {
			tk.Release()
			c.Close()
			continue
		}
		sess.ticket = tk
		s.wg.Add(1)
		go s.run(sess)
	}
}

func (s *Server) newSession(c net.Conn, l *Listener) *session {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closing {
		return nil
	}
	var id [6]byte
	rand.Read(id[:])
	ctx, cancel := context.WithCancel(context.Background())
	sess := &session{
		srv: s, l: l, conn: c, id: hex.EncodeToString(id[:]), start: time.Now(),
		ctx: ctx, cancel: cancel,
	}
	sess.client = addrPort(c.RemoteAddr())
	sess.local = addrPort(c.LocalAddr())
	s.sessions[sess] = struct{}{}
	s.stats.Active.Add(1)
	return sess
}

func addrPort(a net.Addr) netip.AddrPort {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort()
	}
	ap, _ := netip.ParseAddrPort(a.String())
	return ap
}

// run serves one session and makes sure nothing escapes it: a panic is
// logged with the session id and ends only this session.
func (s *Server) run(sess *session) {
	handedOff := false
	defer func() {
		if !handedOff {
			s.finish(sess, recover())
		}
	}()
	if err := sess.prepare(); err != nil {
		sess.outcome = "bad_connection"
		if errors.Is(err, errRefused) {
			sess.outcome = "refused"
		}
		sess.err = err
		return
	}
	if sess.l.Protocol == IMAP {
		sess.serveIMAP()
	} else {
		sess.servePOP3()
	}
	if up := sess.loggedIn; up != nil {
		// Relay on a fresh goroutine and let this one, whose stack grew
		// during TLS and the login, end: a session may idle for hours.
		sess.loggedIn = nil
		sess.ticket.Establish() // no longer counts against max_prelogin
		handedOff = true
		go func() {
			defer func() { s.finish(sess, recover()) }()
			sess.relay(up)
		}()
	}
}

// finish ends a session: closes it, logs its line, and forgets it. r is a
// recovered panic, if any: logged, and only this session ends.
func (s *Server) finish(sess *session, r any) {
	defer s.wg.Done()
	if r != nil {
		s.log.Error("mail: session panicked; closed", "session", sess.id, "panic", fmt.Sprint(r), "stack", string(debug.Stack()))
		sess.outcome = "internal_error"
	}
	sess.close()
	sess.ticket.Release()
	sess.logEnd()
	s.mu.Lock()
	delete(s.sessions, sess)
	s.mu.Unlock()
	s.stats.Active.Add(-1)
}

// Drain stops accepting on every listener and returns at once; sessions
// in flight, before or after login, go on until they end. A configuration
// reload drains the old front end after the new one took over the
// sockets (host/internal/listeners), so no session is disturbed.
func (s *Server) Drain() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing = true
	for _, ln := range s.listeners {
		ln.Close()
	}
}

// Sessions returns how many sessions are open.
func (s *Server) Sessions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.sessions)
}

// Shutdown stops accepting, ends sessions still before login at once, and
// lets relayed sessions finish until ctx ends; then it closes them.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.closing = true
	for _, ln := range s.listeners {
		ln.Close()
	}
	for sess := range s.sessions {
		if !sess.relaying.Load() {
			sess.cancel()
			sess.conn.Close()
		}
	}
	s.mu.Unlock()
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
	}
	s.mu.Lock()
	n := len(s.sessions)
	for sess := range s.sessions {
		sess.cancel()
		sess.closeAll()
	}
	s.mu.Unlock()
	<-done
	return fmt.Errorf("mail: shutdown deadline: closed %d sessions still relaying", n)
}

// session is one client connection.
type session struct {
	srv    *Server
	l      *Listener
	conn   net.Conn // the client (TLS after an upgrade)
	br     *bufio.Reader
	id     string
	start  time.Time
	ctx    context.Context
	cancel context.CancelFunc

	client, local netip.AddrPort
	tlsState      *tls.ConnectionState

	attempts, authFailures, badCommands int
	imapID                              map[string]string

	ticket   *connlimit.Ticket // the session's place in the connection limits
	loggedIn *upstreamConn     // set by a successful login, relayed by run
	up       net.Conn          // the upstream, once logged in
	upstream string
	login    string
	relaying atomic.Bool
	in, out  int64
	outcome  string
	err      error
	closeMu  sync.Mutex
}

// prepare reads a PROXY header when configured and starts implicit TLS.
func (ss *session) prepare() error {
	l := ss.l
	ss.br = bufio.NewReaderSize(ss.conn, 4096)
	if l.ProxyProtocol {
		if !trusted(ss.client.Addr(), l.TrustedProxies) {
			return fmt.Errorf("PROXY header expected from trusted proxies only; %s is not one", ss.client.Addr())
		}
		ss.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
		h, err := proxyproto.Read(ss.br)
		if err != nil {
			return fmt.Errorf("PROXY header: %w", err)
		}
		if !h.Local {
			ss.client, ss.local = h.Source, h.Dest
		}
		if why := ss.ticket.SetClient(ss.client.Addr()); why != connlimit.OK {
			return ss.refuse(why)
		}
	}
	if l.TLS == TLSImplicit {
		if ss.br.Buffered() > 0 {
			return errors.New("bytes after the PROXY header before the TLS handshake")
		}
		return ss.startTLS()
	}
	return nil
}

func trusted(a netip.Addr, nets []netip.Prefix) bool {
	a = a.Unmap()
	for _, p := range nets {
		if p.Contains(a) {
			return true
		}
	}
	return false
}

// startTLS runs the server handshake on the client connection.
func (ss *session) startTLS() error {
	tc := tls.Server(ss.conn, ss.srv.cfg.TLS)
	ctx, cancel := context.WithTimeout(ss.ctx, ss.srv.cfg.Limits.TLSHandshake)
	defer cancel()
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("TLS handshake: %w", err)
	}
	st := tc.ConnectionState()
	ss.tlsState = &st
	ss.conn = tc
	ss.br = bufio.NewReaderSize(tc, 4096)
	return nil
}

func (ss *session) tlsActive() bool { return ss.tlsState != nil }

// loginAllowed reports whether a plaintext login may proceed now.
func (ss *session) loginAllowed() bool {
	return ss.tlsActive() || ss.l.AllowPlaintextLogin
}

// idle arms the pre-login read deadline.
func (ss *session) idle() {
	ss.conn.SetReadDeadline(time.Now().Add(ss.srv.cfg.Limits.PreLoginIdle))
}

func (ss *session) write(s string) error {
	ss.conn.SetWriteDeadline(time.Now().Add(30 * time.Second))
	_, err := ss.conn.Write([]byte(s))
	return err
}

func (ss *session) close() {
	if ss.outcome == "protocol_error" {
		ss.linger()
	}
	ss.cancel()
	ss.closeAll()
}

// Lingering close, after a BYE for bad input (a line or literal too
// long, too many bad commands).
const (
	lingerFor = 500 * time.Millisecond
	lingerMax = 1 << 20
)

// linger reads and discards what the client is still sending, for at most
// lingerFor and lingerMax bytes, before the session closes. Closing a
// socket with unread input sends a reset instead of a FIN, and a reset can
// make the client drop the BYE it has not read yet (nginx's lingering
// close does the same for HTTP).
func (ss *session) linger() {
	if ss.conn.SetReadDeadline(time.Now().Add(lingerFor)) != nil {
		return
	}
	_, _ = io.CopyN(io.Discard, ss.conn, lingerMax)
}

func (ss *session) closeAll() {
	ss.closeMu.Lock()
	defer ss.closeMu.Unlock()
	ss.conn.Close()
	if ss.up != nil {
		ss.up.Close()
	}
}

func (ss *session) tlsVersion() string {
	if ss.tlsState == nil {
		return ""
	}
	switch ss.tlsState.Version {
	case tls.VersionTLS12:
		return "TLS1.2"
	case tls.VersionTLS13:
		return "TLS1.3"
	}
	return tls.VersionName(ss.tlsState.Version)
}

// logEnd writes the session's one log line.
func (ss *session) logEnd() {
	if ss.outcome == "" {
		ss.outcome = "closed"
	}
	if !ss.srv.log.Enabled(context.Background(), slog.LevelInfo) {
		return // build no line nobody reads (a few dozen allocations a session)
	}
	attrs := []any{
		"session", ss.id, "listener", ss.l.Name, "protocol", ss.l.Protocol,
		"client", ss.client.String(), "tls", ss.tlsVersion(), "login", ss.login,
		"upstream", ss.upstream, "bytes_in", ss.in, "bytes_out", ss.out,
		"duration", time.Since(ss.start).Round(time.Millisecond).String(), "outcome", ss.outcome,
	}
	if ss.err != nil {
		attrs = append(attrs, "error", ss.err.Error())
	}
	ss.srv.log.Info("mail session", attrs...)
}
