package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"
	"syscall"

	"github.com/postern/postern/host/config"
	"github.com/postern/postern/host/connlimit"
	"github.com/postern/postern/host/internal/listeners"
	"github.com/postern/postern/host/mail"
	"github.com/postern/postern/host/tlsstore"
	"github.com/postern/postern/host/web"
)

// frontends are the listeners of one configuration. A reload builds the
// next frontends on the same sockets (listeners.Set) for every address
// that did not change, then drains these: new connections go to the new
// configuration, sessions in flight finish on the old one.
type frontends struct {
	cfg   *config.Config
	certs *tlsstore.Store
	mail  *mail.Server
	web   *web.Server
	views []net.Listener // this configuration's views of the sockets
	// limits counts the connections of every configuration's front ends
	// (mailShared.limits).
	limits *connlimit.Registry
}

// mailShared is what the mail front ends of every configuration of one
// process share, so that a reload neither resets the counters nor empties
// the Kerberos replay cache (which would accept an authenticator replayed
// within the clock skew of the reload). The connection limits' counts are
// shared by the web front ends too: sessions still on a previous
// configuration count against the new limits, and limits.max_sessions
// caps mail and web together.
type mailShared struct {
	stats  *mail.Stats
	replay *mail.ReplayCache
	limits *connlimit.Registry
}

func newMailShared() mailShared {
	return mailShared{stats: new(mail.Stats), replay: mail.NewReplayCache(), limits: connlimit.New()}
}

// buildFrontends starts the front ends of cfg on sockets from set, with
// certs (nil: open them from cfg.TLS). It builds both servers, then takes
// a view of every listener's socket, and only then serves: a busy address
// fails the build before any connection is taken by a configuration that
// will not run. On error nothing it started is left running, the sockets
// only it opened are closed, and the sockets the previous configuration
// holds stay open.
func buildFrontends(cfg *config.Config, certs *tlsstore.Store, s *stack, set *listeners.Set, shared mailShared, log *slog.Logger) (*frontends, error) {
	fe := &frontends{cfg: cfg, certs: certs, limits: shared.limits}
	ownCerts := false
	if fe.certs == nil {
		c, err := cfg.OpenTLS(log)
		if err != nil {
			return nil, err
		}
		fe.certs, ownCerts = c, c != nil
	}
	var mailSrv *mail.Server
	var webSrv *web.Server
	built := false
	defer func() {
		if built {
			return
		}
		for _, v := range fe.views {
			v.Close()
		}
		if webSrv != nil {
			webSrv.Shutdown(context.Background())
		}
		if mailSrv != nil {
			mailSrv.Shutdown(context.Background())
		}
		if ownCerts {
			fe.certs.Close()
		}
	}()

	if cfg.Mail.Enabled() {
		mc := cfg.Mail.Config
		if fe.certs != nil {
			mc.TLS = fe.certs.TLSConfig()
		}
		var err error
		if mc.Upstream.TLSConfig, err = cfg.Mail.UpstreamTLS(); err != nil {
			return nil, err
		}
		mc.Plugins, mc.Logger, mc.Stats, mc.GSSAPIReplay, mc.Limiter = s.host, log, shared.stats, shared.replay, shared.limits
		if mailSrv, err = mail.New(mc); err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.File, err)
		}
	}
	if cfg.Web.Enabled() {
		var err error
		webSrv, err = web.New(web.Options{Config: cfg.Web.Config, Certs: fe.certs, Plugins: s.host, Logger: log, Limiter: shared.limits})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.File, err)
		}
	}

	// Every socket first, then serve.
	type bound struct {
		name string
		v    net.Listener
	}
	var mailViews, webViews []bound
	listen := func(kind, name, addr string) (net.Listener, error) {
		v, err := set.Listen(addr)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.File, listenError(kind, name, addr, err))
		}
		fe.views = append(fe.views, v)
		return v, nil
	}
	if mailSrv != nil {
		for _, l := range cfg.Mail.Listeners {
			v, err := listen("mail", l.Name, l.Address)
			if err != nil {
				return nil, err
			}
			mailViews = append(mailViews, bound{l.Name, v})
		}
	}
	if webSrv != nil {
		for _, l := range cfg.Web.Listeners {
			v, err := listen("web", l.Name, l.Address)
			if err != nil {
				return nil, err
			}
			webViews = append(webViews, bound{l.Name, v})
		}
	}
	shared.limits.SetMaxSessions(cfg.Limits.MaxSessions) // the build can no longer fail
	for _, b := range mailViews {
		mailSrv.Serve(b.v, b.name)
	}
	for _, b := range webViews {
		if err := webSrv.Serve(b.v, b.name); err != nil {
			return nil, err
		}
	}
	fe.mail, fe.web = mailSrv, webSrv
	built = true
	return fe, nil
}

// listenError says which listener could not listen on addr, and what to do
// when the address is taken: the message `postern run` logs and `postern
// check` prints.
func listenError(kind, name, addr string, err error) error {
	if errors.Is(err, syscall.EADDRINUSE) {
		return fmt.Errorf("%s listener %s: address %s is in use; stop what listens there (ss -ltnp shows it) or choose another address: %w", kind, name, addr, err)
	}
	return fmt.Errorf("%s listener %s: cannot listen on %s: %w", kind, name, addr, err)
}

// sameTLS reports whether two configurations name the same certificates.
func sameTLS(a, b *config.Config) bool { return reflect.DeepEqual(a.TLS, b.TLS) }

// listeners names what is being served, for the startup log line.
func (fe *frontends) listeners() []string {
	var out []string
	for _, l := range fe.cfg.Mail.Listeners {
		addr := l.Address
		if fe.mail != nil {
			if a := fe.mail.Addr(l.Name); a != nil {
				addr = a.String()
			}
		}
		out = append(out, fmt.Sprintf("%s %s %s (tls %s)", l.Name, l.Protocol, addr, l.TLS))
	}
	for _, l := range fe.cfg.Web.Listeners {
		addr := l.Address
		if fe.web != nil {
			if a := fe.web.Addr(l.Name); a != nil {
				addr = a.String()
			}
		}
		proto := "http"
		if l.TLS {
			proto = "https"
		}
		out = append(out, fmt.Sprintf("%s %s %s", l.Name, proto, addr))
	}
	return out
}

// drain stops accepting and lets every session in flight finish, without
// a deadline: the configuration that replaced this one serves new ones.
// closeCerts also closes the certificate store once the web requests are
// done (mail sessions hold their TLS state already).
func (fe *frontends) drain(log *slog.Logger, closeCerts bool) {
	if fe.mail != nil {
		fe.mail.Drain()
	}
	go func() {
		if fe.web != nil {
			if err := fe.web.Shutdown(context.Background()); err != nil {
				log.Warn("previous web front end drained with an error", "error", err.Error())
			}
		}
		if closeCerts && fe.certs != nil {
			fe.certs.Close()
		}
	}()
}

// close stops accepting, lets sessions finish until ctx ends, and closes
// the certificate store.
func (fe *frontends) close(ctx context.Context) error {
	var errs []error
	if fe.mail != nil {
		errs = append(errs, fe.mail.Shutdown(ctx))
	}
	if fe.web != nil {
		errs = append(errs, fe.web.Shutdown(ctx))
	}
	if fe.certs != nil {
		errs = append(errs, fe.certs.Close())
	}
	return errors.Join(errs...)
}
