package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"reflect"

	"github.com/postern/postern/host/config"
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
}

// buildFrontends starts the front ends of cfg on sockets from set, with
// certs (nil: open them from cfg.TLS). On error nothing it started is
// left running and the sockets the previous configuration holds stay open.
func buildFrontends(cfg *config.Config, certs *tlsstore.Store, s *stack, set *listeners.Set, stats *mail.Stats, log *slog.Logger) (fe *frontends, err error) {
	fe = &frontends{cfg: cfg, certs: certs}
	ownCerts := false
	if fe.certs == nil {
		if fe.certs, err = cfg.OpenTLS(log); err != nil {
			return nil, err
		}
		ownCerts = fe.certs != nil
	}
	defer func() {
		if err != nil {
			for _, v := range fe.views {
				v.Close()
			}
			if ownCerts {
				fe.certs.Close()
			}
		}
	}()
	listen := func(addr string) (net.Listener, error) {
		v, err := set.Listen(addr)
		if err != nil {
			return nil, fmt.Errorf("%s: listen on %s: %w", cfg.File, addr, err)
		}
		fe.views = append(fe.views, v)
		return v, nil
	}
	if cfg.Mail.Enabled() {
		mc := cfg.Mail.Config
		if fe.certs != nil {
			mc.TLS = fe.certs.TLSConfig()
		}
		if mc.Upstream.TLSConfig, err = cfg.Mail.UpstreamTLS(); err != nil {
			return nil, err
		}
		mc.Plugins, mc.Logger, mc.Stats = s.host, log, stats
		srv, err := mail.New(mc)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.File, err)
		}
		for _, l := range mc.Listeners {
			v, err := listen(l.Address)
			if err != nil {
				return nil, err
			}
			srv.Serve(v, l.Name)
		}
		fe.mail = srv
	}
	if cfg.Web.Enabled() {
		srv, err := web.New(web.Options{Config: cfg.Web.Config, Certs: fe.certs, Plugins: s.host, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.File, err)
		}
		for _, l := range cfg.Web.Listeners {
			v, err := listen(l.Address)
			if err != nil {
				srv.Shutdown(context.Background())
				return nil, err
			}
			if err := srv.Serve(v, l.Name); err != nil {
				srv.Shutdown(context.Background())
				return nil, err
			}
		}
		fe.web = srv
	}
	return fe, nil
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
