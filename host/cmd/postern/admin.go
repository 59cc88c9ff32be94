package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/host/admin"
	"github.com/postern/postern/host/config"
)

// adminServer is the admin API of `postern run`. A nil *adminServer (the
// API is off, or its default port was taken) is valid: every method is
// then a no-op.
type adminServer struct {
	srv  *admin.Server
	reqs chan reloadRequest
	// stop is closed when the process starts stopping: reload requests
	// then fail at once instead of waiting for a loop that has ended.
	stop     chan struct{}
	stopOnce sync.Once
	// live is the configuration the node runs now, for GET /upstreams
	// (setLive).
	live atomic.Pointer[config.Config]
}

// reloadRequest is a POST /reload handed to the run loop, which owns the
// stack; done receives the outcome.
type reloadRequest struct {
	ctx  context.Context
	done chan error
}

// errStopping answers a reload asked for while postern stops.
var errStopping = errors.New("postern: stopping; not reloading")

// startAdmin starts the admin API the configuration describes. An
// address the operator chose must be free; when the default one is taken
// (often by a Prometheus server on the same machine, whose default it
// is too) postern runs without the API and says so.
func startAdmin(cfg *config.Config, log *slog.Logger) (*adminServer, error) {
	if cfg.Admin.Disabled {
		return nil, nil
	}
	a := &adminServer{reqs: make(chan reloadRequest), stop: make(chan struct{})}
	srv, err := admin.New(admin.Options{
		Address: cfg.Admin.Addr(), Token: cfg.Admin.Token, Reload: a.requestReload,
		Version: buildVersion(), ConfigFile: cfg.File, Refresh: cfg.Admin.Refresh, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.File, err)
	}
	if err := srv.Start(); err != nil {
		if cfg.Admin.Explicit() {
			return nil, fmt.Errorf("%s: %w", cfg.File, err)
		}
		log.Warn("admin API not started: its default address is taken; set admin.address to another port, or admin.enabled: false",
			"address", cfg.Admin.Addr(), "error", err.Error())
		return nil, nil
	}
	a.srv = srv
	log.Info("admin API listening", "address", srv.Addr().String(), "token", cfg.Admin.Token != "")
	return a, nil
}

// requestReload runs in an admin request: it hands the reload to the run
// loop and waits for its outcome.
func (a *adminServer) requestReload(ctx context.Context) error {
	req := reloadRequest{ctx: ctx, done: make(chan error, 1)}
	select {
	case a.reqs <- req:
	case <-a.stop:
		return errStopping
	case <-ctx.Done():
		return fmt.Errorf("postern: reload not started: %w", ctx.Err())
	}
	return <-req.done // the loop always answers a request it took
}

// reloads returns the channel of POST /reload requests (nil, which never
// delivers, when the API is off).
func (a *adminServer) reloads() <-chan reloadRequest {
	if a == nil {
		return nil
	}
	return a.reqs
}

// attach hands the running proxy to the API: from now on /readyz is 200.
func (a *adminServer) attach(s *stack, fe *frontends) {
	if a == nil {
		return
	}
	a.setLive(s, fe)
	a.srv.Attach(admin.Sources{Plugins: s.host, Mail: fe.mail, Web: fe.web, Limits: fe.limits, Store: s.store, Listeners: func() []admin.Listener {
		return adminListeners(fe.cfg, fe)
	}, Upstreams: a.upstreams})
}

// setLive records the configuration the node runs now: the front ends'
// mail and web sections, the plugin chain last loaded, and the store it
// opened at the start (a store change needs a restart). The run loop calls
// it after every reload; GET /upstreams reads it.
func (a *adminServer) setLive(s *stack, fe *frontends) {
	if a == nil {
		return
	}
	live := *fe.cfg
	live.Plugins = slices.Clone(s.cfg.Plugins)
	live.Store = s.cfg.Store
	a.live.Store(&live)
}

// upstreams answers GET /upstreams from the live configuration, as the
// zmprov commands compute it from a file.
func (a *adminServer) upstreams() (admin.Upstreams, error) {
	cfg := a.live.Load()
	if cfg == nil {
		return admin.Upstreams{}, errors.New("the proxy is not running yet")
	}
	return upstreamsOf(cfg)
}

// adminListeners lists the configured listeners with the addresses they
// are bound to now.
func adminListeners(cfg *config.Config, fe *frontends) []admin.Listener {
	var out []admin.Listener
	for _, l := range cfg.Mail.Listeners {
		al := admin.Listener{Name: l.Name, Protocol: l.Protocol, Address: l.Address, TLS: l.TLS}
		if fe != nil && fe.mail != nil {
			if addr := fe.mail.Addr(l.Name); addr != nil {
				al.Bound = addr.String()
			}
		}
		out = append(out, al)
	}
	for _, l := range cfg.Web.Listeners {
		al := admin.Listener{Name: l.Name, Protocol: "http", Address: l.Address}
		if l.TLS {
			al.Protocol, al.TLS = "https", "implicit"
		}
		if fe != nil && fe.web != nil {
			if addr := fe.web.Addr(l.Name); addr != nil {
				al.Bound = addr.String()
			}
		}
		out = append(out, al)
	}
	return out
}

// observer returns the plugin-call latency observer of the metrics, or nil
// without an admin API.
func (a *adminServer) observer() func(plugin, hook string, d time.Duration, err error) {
	if a == nil {
		return nil
	}
	return a.srv.Collector().ObserveCall
}

// reloaded records a reload ("sighup", "file change") for the status page
// and metrics.
func (a *adminServer) reloaded(start time.Time, source string, err error) {
	if a == nil {
		return
	}
	a.srv.RecordReload(start, source, time.Since(start), err)
}

// drain turns /readyz to 503 and refuses further reloads; /metrics keeps
// answering until close.
func (a *adminServer) drain() {
	if a == nil {
		return
	}
	a.stopOnce.Do(func() { close(a.stop) })
	a.srv.Drain()
}

// close stops the API.
func (a *adminServer) close(ctx context.Context) error {
	if a == nil {
		return nil
	}
	a.drain()
	return a.srv.Shutdown(ctx)
}
