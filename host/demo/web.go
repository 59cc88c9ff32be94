package demo

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"time"
)

// webBackend is the demo's web mailbox server: /home/<user>/ lists the
// user's inbox, / lists the users. Like a real mailbox server, it checks
// basic-auth credentials when a client sends them; the proxy only routes.
type webBackend struct {
	ln  net.Listener
	srv *http.Server
	end chan struct{} // closed when Serve has returned
}

func startWeb(log *slog.Logger) (*webBackend, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: http: %w", err)
	}
	b := &webBackend{ln: ln, end: make(chan struct{}),
		srv: &http.Server{Handler: http.HandlerFunc(serveWeb), ReadHeaderTimeout: 10 * time.Second,
			ErrorLog: slog.NewLogLogger(log.Handler(), slog.LevelWarn)}}
	go func() {
		defer close(b.end)
		if err := b.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("demo HTTP server stopped", "error", err.Error())
		}
	}()
	return b, nil
}

func (b *webBackend) close() error {
	err := b.srv.Close()
	<-b.end
	return err
}

// serveWeb answers the demo's pages in plain text, so curl shows them as
// they are.
func serveWeb(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	if r.URL.Path == "/" {
		fmt.Fprintln(w, "Postern demo web backend. Mailboxes:")
		for _, u := range Users {
			fmt.Fprintf(w, "  /home/%s/\n", strings.TrimSuffix(u.Login, "@"+Domain))
		}
		return
	}
	name, ok := strings.CutPrefix(r.URL.Path, "/home/")
	name = strings.TrimSuffix(name, "/")
	if !ok || name == "" || strings.Contains(name, "/") {
		http.Error(w, "demo: no such page; try /home/demo/", http.StatusNotFound)
		return
	}
	u, ok := FindUser(name)
	if !ok {
		http.Error(w, "demo: no such mailbox: "+name, http.StatusNotFound)
		return
	}
	if login, pass, ok := r.BasicAuth(); ok {
		if au, known := FindUser(login); !known || au.Login != u.Login || pass != u.Password {
			w.Header().Set("WWW-Authenticate", `Basic realm="postern demo"`)
			http.Error(w, "demo: wrong login or password for "+u.Login, http.StatusUnauthorized)
			return
		}
	}
	fmt.Fprintf(w, "Inbox of %s, served by the demo web backend\n", u.Login)
	for i, m := range u.Inbox {
		subject, from := "", ""
		if msg, err := mail.ReadMessage(strings.NewReader(m)); err == nil {
			subject, from = msg.Header.Get("Subject"), msg.Header.Get("From")
		}
		fmt.Fprintf(w, "  %d. %-24s from %s\n", i+1, subject, from)
	}
	// What the proxy told the backend about the client.
	fmt.Fprintf(w, "Proxied by Postern for %s over %s (Host %s)\n",
		r.Header.Get("X-Forwarded-For"), r.Header.Get("X-Forwarded-Proto"), r.Host)
}
