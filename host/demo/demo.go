// Package demo holds the pretend mail system behind `postern demo`: the
// mailbox servers and the lookup service a real deployment would already
// have, small enough to start in the proxy's own process.
//
//   - an IMAP server: go-imap/v2's in-memory server (imapmemserver)
//   - a POP3 server serving the same mailboxes (USER/PASS, STAT, LIST,
//     UIDL, RETR, TOP, NOOP, RSET, QUIT)
//   - an HTTP server answering /home/<user>/ with the user's inbox
//   - a route lookup service speaking nginx's auth_http, as Zimbra's
//     lookup servlet does, routing each user to those servers
//
// Everything listens on 127.0.0.1 on free ports. The package is the demo's
// scenery, not part of the proxy: Postern itself never imports it.
package demo

import (
	"errors"
	"fmt"
	"log/slog"
	"strconv"
	"strings"
	"sync"
)

// Domain is the mail domain of the demo accounts. The demo configures the
// login-normaliser plugin to add it, so "demo" logs in as demo@example.com.
const Domain = "example.com"

// User is a demo account: its full login, password and INBOX.
type User struct {
	Login    string
	Password string
	// Inbox holds RFC 5322 messages with CRLF line endings.
	Inbox []string
}

// Users are the demo accounts. Every server above knows them, with the
// same messages.
var Users = []User{
	{Login: "demo@" + Domain, Password: "demo", Inbox: []string{
		message(1, "postmaster@example.com", "demo@example.com", "Welcome to Postern",
			"This message came from an IMAP or POP3 server behind Postern.\r\n"+
				"Your login went through the login-normaliser, throttle, route-cache\r\n"+
				"and route-lookup plugins before Postern connected you here.\r\n"),
		message(2, "alice@example.com", "demo@example.com", "Lunch on Friday?",
			"Shall we try the new place by the station?\r\n"),
	}},
	{Login: "alice@" + Domain, Password: "alice", Inbox: []string{
		message(3, "demo@example.com", "alice@example.com", "Re: Lunch on Friday?",
			"Friday works. Noon?\r\n"),
	}},
}

// message builds a small RFC 5322 message.
func message(id int, from, to, subject, body string) string {
	return "From: " + from + "\r\n" +
		"To: " + to + "\r\n" +
		"Subject: " + subject + "\r\n" +
		"Date: Mon, 02 Jun 2025 09:00:00 +0000\r\n" +
		"Message-ID: <demo-" + strconv.Itoa(id) + "@example.com>\r\n" +
		"MIME-Version: 1.0\r\n" +
		"Content-Type: text/plain; charset=utf-8\r\n" +
		"\r\n" + body
}

// FindUser returns the account whose login is login, or the login with
// Domain added when it has none.
func FindUser(login string) (User, bool) {
	if !strings.Contains(login, "@") {
		login += "@" + Domain
	}
	for _, u := range Users {
		if u.Login == login {
			return u, true
		}
	}
	return User{}, false
}

// Backends are the running demo servers.
type Backends struct {
	imap   *imapBackend
	pop3   *pop3Server
	web    *webBackend
	lookup *lookupService

	closeOnce sync.Once
	closeErr  error
}

// Start starts every demo server on 127.0.0.1, logging to log. On error
// nothing is left running. Close stops them.
func Start(log *slog.Logger) (*Backends, error) {
	b := &Backends{}
	var err error
	if b.imap, err = startIMAP(log.With("backend", "imap")); err != nil {
		return nil, err
	}
	if b.pop3, err = startPOP3(log.With("backend", "pop3")); err != nil {
		b.Close()
		return nil, err
	}
	if b.web, err = startWeb(log.With("backend", "http")); err != nil {
		b.Close()
		return nil, err
	}
	if b.lookup, err = startLookup(b.IMAPAddr(), b.POP3Addr(), b.HTTPAddr()); err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// IMAPAddr is the IMAP server's host:port.
func (b *Backends) IMAPAddr() string { return b.imap.ln.Addr().String() }

// POP3Addr is the POP3 server's host:port.
func (b *Backends) POP3Addr() string { return b.pop3.ln.Addr().String() }

// HTTPAddr is the HTTP server's host:port.
func (b *Backends) HTTPAddr() string { return b.web.ln.Addr().String() }

// LookupAddr is the lookup service's host:port, for a plugin's http_allow.
func (b *Backends) LookupAddr() string { return b.lookup.ln.Addr().String() }

// LookupURL is the lookup service's URL, for route-lookup's servers.
func (b *Backends) LookupURL() string { return b.lookup.url() }

// Lookups is the number of route lookups answered so far.
func (b *Backends) Lookups() int { return b.lookup.count() }

// Close stops every server and ends their connections. Calls after the
// first return its result.
func (b *Backends) Close() error {
	b.closeOnce.Do(func() { b.closeErr = b.close() })
	return b.closeErr
}

func (b *Backends) close() error {
	var errs []error
	if b.lookup != nil {
		errs = append(errs, b.lookup.close())
	}
	if b.web != nil {
		errs = append(errs, b.web.close())
	}
	if b.pop3 != nil {
		errs = append(errs, b.pop3.close())
	}
	if b.imap != nil {
		errs = append(errs, b.imap.close())
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("demo: stopping the backends: %w", err)
	}
	return nil
}
