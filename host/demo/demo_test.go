package demo

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/postern/postern/host/config"
)

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

func startBackends(t *testing.T) *Backends {
	t.Helper()
	b, err := Start(quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := b.Close(); err != nil {
			t.Error(err)
		}
		if err := b.Close(); err != nil { // a second Close returns the first's result
			t.Error(err)
		}
	})
	return b
}

// pop3Exchange sends each command (with CRLF) and returns each reply,
// multi-line replies whole.
func pop3Exchange(t *testing.T, addr string, cmds ...string) (greeting string, replies []string) {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	read := func(multi bool) string {
		var b strings.Builder
		for {
			l, err := r.ReadString('\n')
			if err != nil {
				t.Fatalf("reading: %q %v", b.String()+l, err)
			}
			b.WriteString(l)
			if !multi || !strings.HasPrefix(b.String(), "+OK") || l == ".\r\n" {
				return b.String()
			}
		}
	}
	greeting = read(false)
	for _, cmd := range cmds {
		fmt.Fprintf(c, "%s\r\n", cmd)
		verb, arg, _ := strings.Cut(strings.ToUpper(cmd), " ")
		multi := verb == "CAPA" || verb == "RETR" || verb == "TOP" || ((verb == "LIST" || verb == "UIDL") && arg == "")
		replies = append(replies, read(multi))
	}
	return greeting, replies
}

func TestPOP3(t *testing.T) {
	b := startBackends(t)
	demo := Users[0]
	m1, m2 := demo.Inbox[0], demo.Inbox[1]
	head2 := strings.SplitAfter(m2, "\r\n\r\n")[0]
	login := []string{"USER demo@example.com", "PASS demo"}
	for _, tc := range []struct {
		name string
		cmds []string
		want []string // replies, after the login ones when login is true
	}{
		{"capa before login", []string{"CAPA"}, []string{"+OK capabilities follow\r\nUSER\r\nUIDL\r\nTOP\r\nIMPLEMENTATION postern-demo\r\n.\r\n"}},
		{"wrong password", []string{"USER demo@example.com", "PASS nope", "STAT"}, []string{"+OK send PASS\r\n", "-ERR [AUTH] invalid login or password\r\n", "-ERR log in first (USER, PASS)\r\n"}},
		{"unknown user", []string{"USER nobody", "PASS demo"}, []string{"+OK send PASS\r\n", "-ERR [AUTH] invalid login or password\r\n"}},
		{"pass without user", []string{"PASS demo"}, []string{"-ERR [AUTH] invalid login or password\r\n"}},
		{"empty user", []string{"USER"}, []string{"-ERR USER needs a name\r\n"}},
		{"noop before login", []string{"NOOP"}, []string{"-ERR\r\n"}},
		{"login without domain", []string{"USER demo", "PASS demo"}, []string{"+OK send PASS\r\n", "+OK demo@example.com has 2 messages\r\n"}},
		{"stat", append(login, "STAT"), []string{fmt.Sprintf("+OK 2 %d\r\n", len(m1)+len(m2))}},
		{"list", append(login, "LIST", "list 2", "LIST 3", "LIST x"), []string{
			fmt.Sprintf("+OK 2 messages\r\n1 %d\r\n2 %d\r\n.\r\n", len(m1), len(m2)),
			fmt.Sprintf("+OK 2 %d\r\n", len(m2)), "-ERR no such message\r\n", "-ERR no such message\r\n"}},
		{"uidl", append(login, "UIDL", "UIDL 1"), []string{"+OK 2 messages\r\n1 demo-1\r\n2 demo-2\r\n.\r\n", "+OK 1 demo-1\r\n"}},
		{"retr", append(login, "RETR 2", "RETR 0"), []string{fmt.Sprintf("+OK %d octets\r\n%s.\r\n", len(m2), m2), "-ERR no such message\r\n"}},
		{"top", append(login, "TOP 2 0", "TOP 2 x"), []string{
			fmt.Sprintf("+OK %d octets\r\n%s.\r\n", len(head2), head2),
			"-ERR TOP needs a message number and a line count\r\n"}},
		{"read-only", append(login, "DELE 1", "RSET", "NOOP", "FOO"), []string{"-ERR this demo mailbox is read-only\r\n", "+OK\r\n", "+OK\r\n", "-ERR unknown command\r\n"}},
		{"quit", []string{"QUIT"}, []string{"+OK bye\r\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			greeting, replies := pop3Exchange(t, b.POP3Addr(), tc.cmds...)
			if greeting != "+OK demo POP3 server ready\r\n" {
				t.Errorf("greeting %q", greeting)
			}
			if len(tc.cmds) > len(tc.want) {
				replies = replies[len(tc.cmds)-len(tc.want):] // the login's replies
			}
			for i := range tc.want {
				if replies[i] != tc.want[i] {
					t.Errorf("%s:\n got %q\nwant %q", tc.cmds[len(tc.cmds)-len(tc.want)+i], replies[i], tc.want[i])
				}
			}
		})
	}
}

func TestPOP3_dotStuffing(t *testing.T) {
	var b strings.Builder
	ps := &pop3Session{w: bufio.NewWriter(&b)}
	ps.multiline(".hidden\r\nplain\r\n..two\r\nno newline")
	ps.w.Flush()
	if want := "..hidden\r\nplain\r\n...two\r\nno newline\r\n.\r\n"; b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

func TestPOP3_longLine(t *testing.T) {
	b := startBackends(t)
	greeting, replies := pop3Exchange(t, b.POP3Addr(), strings.Repeat("A", 2*pop3MaxLine))
	if !strings.HasPrefix(greeting, "+OK") || replies[0] != "-ERR line too long\r\n" {
		t.Errorf("%q %q", greeting, replies)
	}
}

// FuzzPOP3Session feeds arbitrary bytes to a whole POP3 session: it must
// end (the input ends), never panic, and answer only status lines and
// dot-terminated multi-line replies.
func FuzzPOP3Session(f *testing.F) {
	for _, seed := range []string{
		"CAPA\r\nQUIT\r\n",
		"USER demo\r\nPASS demo\r\nSTAT\r\nLIST\r\nRETR 1\r\nTOP 2 1\r\nUIDL\r\nQUIT\r\n",
		"USER demo\r\nPASS demo\r\nRETR 99999999999999999999\r\nTOP 1 -1\r\nLIST 0\r\n",
		"user alice\npass alice\nretr 1\n",
		"\r\n \r\nPASS\r\nUSER \r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		server, client := net.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			serveConnPOP3(server, quiet())
		}()
		out := make(chan []byte, 1)
		go func() {
			b, _ := io.ReadAll(client)
			out <- b
		}()
		client.SetWriteDeadline(time.Now().Add(5 * time.Second))
		client.Write(in) // fails when the server quits early
		client.Close()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Fatal("session did not end")
		}
		got := string(<-out)
		if !strings.HasPrefix(got, "+OK demo POP3 server ready\r\n") {
			t.Fatalf("no greeting: %q", got)
		}
		inMulti := false
		for _, l := range strings.SplitAfter(got, "\r\n") {
			switch {
			case l == "":
			case inMulti:
				inMulti = l != ".\r\n"
			case strings.HasPrefix(l, "-ERR"):
			case strings.HasPrefix(l, "+OK"):
				// A multi-line reply follows these.
				inMulti = strings.HasSuffix(l, " octets\r\n") || strings.HasSuffix(l, " messages\r\n") && !strings.Contains(l, " has ") ||
					strings.HasPrefix(l, "+OK capabilities")
			default:
				t.Fatalf("line %q is not a status line, in %q", l, got)
			}
		}
	})
}

func TestIMAP(t *testing.T) {
	b := startBackends(t)
	c, err := imapclient.DialInsecure(b.IMAPAddr(), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("demo@example.com", "demo").Wait(); err != nil {
		t.Fatal(err)
	}
	sel, err := c.Select("INBOX", nil).Wait()
	if err != nil || sel.NumMessages != uint32(len(Users[0].Inbox)) {
		t.Fatalf("select: %v %+v", err, sel)
	}
	msgs, err := c.Fetch(imap.SeqSetNum(2), &imap.FetchOptions{Envelope: true, RFC822Size: true}).Collect()
	if err != nil || len(msgs) != 1 || msgs[0].Envelope.Subject != "Lunch on Friday?" || msgs[0].RFC822Size != int64(len(Users[0].Inbox[1])) {
		t.Fatalf("fetch: %v %+v", err, msgs)
	}
}

func TestWeb(t *testing.T) {
	for _, tc := range []struct {
		name, path, user, pass string
		status                 int
		want                   string
	}{
		{"index", "/", "", "", 200, "/home/alice/"},
		{"home", "/home/demo/", "", "", 200, "1. Welcome to Postern"},
		{"home with the full login", "/home/alice@example.com", "", "", 200, "Inbox of alice@example.com"},
		{"right password", "/home/demo/", "demo", "demo", 200, "Inbox of demo@example.com"},
		{"another user's password", "/home/demo/", "alice", "alice", 401, "wrong login or password"},
		{"wrong password", "/home/alice/", "alice", "demo", 401, "wrong login or password"},
		{"unknown user", "/home/bob/", "", "", 404, "no such mailbox: bob"},
		{"other page", "/mail", "", "", 404, "try /home/demo/"},
		{"deeper path", "/home/demo/inbox", "", "", 404, "try /home/demo/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req := httptest.NewRequest("GET", tc.path, nil)
			if tc.user != "" {
				req.SetBasicAuth(tc.user, tc.pass)
			}
			rec := httptest.NewRecorder()
			serveWeb(rec, req)
			if rec.Code != tc.status || !strings.Contains(rec.Body.String(), tc.want) {
				t.Errorf("%d %q, want %d and %q", rec.Code, rec.Body, tc.status, tc.want)
			}
		})
	}
}

func TestLookup(t *testing.T) {
	b := startBackends(t)
	for _, tc := range []struct {
		name, user, proto, method string
		status, server            string
	}{
		{"imap", "demo@example.com", "imap", "plain", "OK", b.IMAPAddr()},
		{"imap over tls", "alice@example.com", "imapssl", "plain", "OK", b.IMAPAddr()},
		{"pop3", "demo@example.com", "pop3ssl", "plain", "OK", b.POP3Addr()},
		{"web", "demo@example.com", "httpssl", "username", "OK", b.HTTPAddr()},
		{"unknown user", "bob@example.com", "imap", "plain", "Invalid login or password", ""},
		{"unknown protocol", "demo@example.com", "smtp", "plain", "Invalid request: unknown Auth-Protocol", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			req, _ := http.NewRequest("GET", b.LookupURL(), nil)
			for k, v := range map[string]string{"Auth-Method": tc.method, "Auth-User": tc.user, "Auth-Pass": "_password_",
				"Auth-Protocol": tc.proto, "Auth-Login-Attempt": "1", "Client-IP": "127.0.0.1"} {
				req.Header.Set(k, v)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			h := resp.Header
			if h.Get("Auth-Status") != tc.status {
				t.Fatalf("Auth-Status %q, want %q", h.Get("Auth-Status"), tc.status)
			}
			if got := net.JoinHostPort(h.Get("Auth-Server"), h.Get("Auth-Port")); tc.server != "" && got != tc.server {
				t.Errorf("route %s, want %s", got, tc.server)
			}
		})
	}
	if n := b.Lookups(); n != 5 { // the unknown protocol reached no table
		t.Errorf("Lookups() = %d, want 5", n)
	}
}

func TestWriteCert(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile, err := WriteCert(dir)
	if err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := os.ReadFile(certFile)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	leaf, _ := x509.ParseCertificate(pair.Certificate[0])
	for _, name := range []string{"127.0.0.1", "localhost"} {
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("%s: %v", name, err)
		}
	}
	if fi, _ := os.Stat(keyFile); fi.Mode().Perm() != 0o600 {
		t.Errorf("key file mode %v, want 0600", fi.Mode().Perm())
	}
}

// TestConfig checks that the generated configuration is one Postern
// accepts, with the plugin chain in order.
func TestConfig(t *testing.T) {
	b := startBackends(t)
	dir := t.TempDir()
	yaml := b.Config(Proxy{PluginDir: dir, CertFile: filepath.Join(dir, "c.pem"), KeyFile: filepath.Join(dir, "k.pem"),
		IMAP: "127.0.0.1:0", POP3: "127.0.0.1:0", HTTPS: "127.0.0.1:0", Admin: "127.0.0.1:0", CacheDir: dir})
	cfg, err := config.Parse([]byte(yaml), "")
	if err != nil {
		t.Fatalf("%v\n%s", err, yaml)
	}
	var names []string
	for _, p := range cfg.Plugins {
		names = append(names, p.Name)
		if want := filepath.Join(dir, p.Name+".wasm"); p.Path != want {
			t.Errorf("%s: path %s, want %s", p.Name, p.Path, want)
		}
	}
	if fmt.Sprint(names) != fmt.Sprint(Plugins) {
		t.Errorf("chain %v, want %v", names, Plugins)
	}
	if cfg.CacheDir != dir || len(cfg.Mail.Listeners) != 2 || len(cfg.Web.Listeners) != 1 || !cfg.Web.Listeners[0].TLS {
		t.Errorf("cache %q, mail %+v, web %+v", cfg.CacheDir, cfg.Mail.Listeners, cfg.Web.Listeners)
	}
}

func TestCommands_quoting(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"/tmp/postern-demo-1/cert.pem", "/tmp/postern-demo-1/cert.pem"},
		{"/tmp/my dir/cert.pem", "'/tmp/my dir/cert.pem'"},
		{"/tmp/it's/cert.pem", `'/tmp/it'\''s/cert.pem'`},
	} {
		if got := shellQuote(tc.in); got != tc.want {
			t.Errorf("shellQuote(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// TestBackends_Close: Close ends sessions still open and leaves no
// goroutine behind.
func TestBackends_Close(t *testing.T) {
	before := runtime.NumGoroutine()
	b, err := Start(quiet())
	if err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for _, addr := range []string{b.IMAPAddr(), b.POP3Addr(), b.HTTPAddr(), b.LookupAddr()} {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		conns = append(conns, c)
	}
	// Wait for the greetings: the sessions are running.
	for _, c := range conns[:2] {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns[:2] { // ended by Close
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil {
			t.Errorf("%s: still open after Close", c.RemoteAddr())
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			t.Fatalf("%d goroutines after Close, %d before:\n%s", runtime.NumGoroutine(), before, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
