package demo

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/host/internal/authhttp"
)

// lookupService is the demo's route lookup service, speaking nginx's
// auth_http as Zimbra's lookup servlet does. Like that servlet it answers
// per protocol: an IMAP login is sent to the IMAP server, a POP3 login to
// the POP3 server, a web request to the web server. authhttp.Server (the
// lookup service of Postern's tests) answers per user only, so the demo
// runs one per protocol behind a switch on the Auth-Protocol header.
type lookupService struct {
	ln      net.Listener
	srv     *http.Server
	end     chan struct{}
	byProto map[string]*authhttp.Server // "imap", "pop3", "http"
}

func startLookup(imapAddr, pop3Addr, httpAddr string) (*lookupService, error) {
	l := &lookupService{byProto: map[string]*authhttp.Server{}, end: make(chan struct{})}
	for proto, addr := range map[string]string{"imap": imapAddr, "pop3": pop3Addr, "http": httpAddr} {
		host, portText, _ := net.SplitHostPort(addr)
		port, _ := strconv.Atoi(portText)
		routes := map[string]authhttp.Route{}
		for _, u := range Users {
			routes[u.Login] = authhttp.Route{Server: host, Port: port}
		}
		srv, err := authhttp.NewServer(routes)
		if err != nil {
			l.close()
			return nil, fmt.Errorf("demo: lookup: %w", err)
		}
		l.byProto[proto] = srv
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		l.close()
		return nil, fmt.Errorf("demo: lookup: %w", err)
	}
	l.ln = ln
	l.srv = &http.Server{Handler: http.HandlerFunc(l.serve), ReadHeaderTimeout: 10 * time.Second}
	go func() {
		defer close(l.end)
		_ = l.srv.Serve(ln) // ends with ErrServerClosed
	}()
	return l, nil
}

// serve passes the request to the lookup service of its protocol
// ("imapssl", a client that used TLS, is "imap").
func (l *lookupService) serve(w http.ResponseWriter, r *http.Request) {
	proto := strings.TrimSuffix(r.Header.Get("Auth-Protocol"), "ssl")
	srv, ok := l.byProto[proto]
	if !ok {
		w.Header().Set("Auth-Status", "Invalid request: unknown Auth-Protocol")
		return
	}
	target, _ := url.Parse("http://" + srv.Addr())
	httputil.NewSingleHostReverseProxy(target).ServeHTTP(w, r)
}

func (l *lookupService) url() string { return "http://" + l.ln.Addr().String() + authhttp.Path }

// count is the number of lookups answered, over every protocol.
func (l *lookupService) count() int {
	n := 0
	for _, srv := range l.byProto {
		n += srv.Lookups()
	}
	return n
}

func (l *lookupService) close() error {
	var errs []error
	if l.srv != nil {
		errs = append(errs, l.srv.Close())
		<-l.end
	}
	for _, srv := range l.byProto {
		errs = append(errs, srv.Close())
	}
	return errors.Join(errs...)
}
