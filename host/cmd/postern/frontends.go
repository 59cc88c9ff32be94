package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/postern/postern/host/mail"
	"github.com/postern/postern/host/tlsstore"
	"github.com/postern/postern/host/web"
)

// frontends are the listeners of a running proxy.
type frontends struct {
	certs *tlsstore.Store
	mail  *mail.Server
	web   *web.Server
}

// startFrontends opens the certificate store and starts every configured
// front end. On error nothing is left running.
func startFrontends(s *stack, log *slog.Logger) (*frontends, error) {
	fe := &frontends{}
	certs, err := s.cfg.OpenTLS(log)
	if err != nil {
		return nil, err
	}
	fe.certs = certs
	if s.cfg.Mail.Enabled() {
		mc := s.cfg.Mail.Config
		if certs != nil {
			mc.TLS = certs.TLSConfig()
		}
		if mc.Upstream.TLSConfig, err = s.cfg.Mail.UpstreamTLS(); err != nil {
			fe.close(context.Background())
			return nil, err
		}
		mc.Plugins = s.host
		mc.Logger = log
		srv, err := mail.New(mc)
		if err == nil {
			err = srv.Start()
		}
		if err != nil {
			fe.close(context.Background())
			return nil, fmt.Errorf("%s: %w", s.cfg.File, err)
		}
		fe.mail = srv
	}
	if s.cfg.Web.Enabled() {
		srv, err := web.New(web.Options{Config: s.cfg.Web.Config, Certs: certs, Plugins: s.host, Logger: log})
		if err == nil {
			err = srv.Start()
		}
		if err != nil {
			fe.close(context.Background())
			return nil, fmt.Errorf("%s: %w", s.cfg.File, err)
		}
		fe.web = srv
	}
	return fe, nil
}

// listeners names what is being served, for the startup log line.
func (fe *frontends) listeners(s *stack) []string {
	var out []string
	for _, l := range s.cfg.Mail.Listeners {
		addr := l.Address
		if fe.mail != nil {
			if a := fe.mail.Addr(l.Name); a != nil {
				addr = a.String()
			}
		}
		out = append(out, fmt.Sprintf("%s %s %s (tls %s)", l.Name, l.Protocol, addr, l.TLS))
	}
	for _, l := range s.cfg.Web.Listeners {
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
