package demo

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"sync"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// imapBackend is go-imap's in-memory IMAP server with the demo accounts.
// It speaks plain IMAP: Postern terminates TLS and connects here over
// loopback, as it would to a mailbox server on a private network.
type imapBackend struct {
	ln   net.Listener
	srv  *imapserver.Server
	done sync.WaitGroup
}

func startIMAP(log *slog.Logger) (*imapBackend, error) {
	mem := imapmemserver.New()
	for _, u := range Users {
		user := imapmemserver.NewUser(u.Login, u.Password)
		if err := user.Create("INBOX", nil); err != nil {
			return nil, fmt.Errorf("demo: imap: %w", err)
		}
		for _, m := range u.Inbox {
			if _, err := user.Append("INBOX", strings.NewReader(m), &imap.AppendOptions{}); err != nil {
				return nil, fmt.Errorf("demo: imap: %w", err)
			}
		}
		mem.AddUser(user)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo: imap: %w", err)
	}
	b := &imapBackend{ln: ln, srv: imapserver.New(&imapserver.Options{
		NewSession: func(*imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
			return mem.NewSession(), nil, nil
		},
		Caps:         imap.CapSet{imap.CapIMAP4rev1: {}},
		InsecureAuth: true, // plain IMAP on loopback, behind the proxy
		Logger:       slogPrintf{log},
	})}
	b.done.Add(1)
	go func() {
		defer b.done.Done()
		if err := b.srv.Serve(ln); err != nil && !errors.Is(err, net.ErrClosed) {
			log.Error("demo IMAP server stopped", "error", err.Error())
		}
	}()
	return b, nil
}

func (b *imapBackend) close() error {
	err := b.srv.Close()
	b.ln.Close() // in case Serve had not started yet; already closed otherwise
	b.done.Wait()
	return err
}

// slogPrintf lets go-imap's Printf logger write to slog.
type slogPrintf struct{ log *slog.Logger }

func (l slogPrintf) Printf(format string, args ...any) {
	l.log.Warn(fmt.Sprintf(format, args...))
}
