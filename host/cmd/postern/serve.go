package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"syscall"
	"time"

	"github.com/postern/postern/host/config"
)

// closeTimeout bounds the shutdown: closing the plugin host and the store.
const closeTimeout = 30 * time.Second

// cmdRun loads the plugins with file watching on and runs until SIGINT or
// SIGTERM, when it closes the host. SIGHUP re-reads the configuration and
// loads the new plugin chain; if either fails, the running chain keeps
// serving and the error is logged, and the certificates are read again.
// The listeners of the mail front end start with the process, after the
// admin API (admin.go), whose POST /reload does what SIGHUP does.
func cmdRun(ctx context.Context, path string, sigs <-chan os.Signal, stderr io.Writer) int {
	cfg, err := readConfig(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	log := cfg.Logger(stderr)
	// The admin API starts first, so /healthz answers (and /readyz says
	// why not yet) while the plugins compile.
	adm, err := startAdmin(cfg, log)
	if err != nil {
		log.Error("postern cannot start", "config", path, "error", err.Error())
		return exitFail
	}
	s, err := load(ctx, cfg, log, true)
	if err != nil {
		log.Error("postern cannot start", "config", path, "error", err.Error())
		adm.close(ctx)
		return exitFail
	}
	fe, err := startFrontends(s, log)
	if err != nil {
		log.Error("postern cannot start", "config", path, "error", err.Error())
		s.close(ctx)
		adm.close(ctx)
		return exitFail
	}
	adm.attach(s, fe)
	log.Info("postern running", "config", path, "plugins", s.names(), "version", buildVersion(),
		"listeners", fe.listeners(s))
	// reload is what SIGHUP and the admin API's POST /reload do.
	reload := func(ctx context.Context) error {
		err := s.reload(ctx, path, log)
		if fe.certs != nil {
			if cerr := fe.certs.Reload(); cerr != nil {
				log.Error("certificate reload failed; the previous certificates keep serving", "error", cerr.Error())
				err = errors.Join(err, cerr)
			}
		}
		return err
	}
	for {
		var sig os.Signal
		select {
		case r := <-adm.reloads():
			r.done <- reload(r.ctx)
			continue
		case sg, ok := <-sigs:
			if !ok {
				return exitOK
			}
			sig = sg
		}
		if sig == syscall.SIGHUP {
			start := time.Now()
			adm.reloaded(start, reload(ctx))
			continue
		}
		log.Info("postern stopping", "signal", sig.String())
		adm.drain()
		cctx, cancel := context.WithTimeout(ctx, closeTimeout)
		err := errors.Join(fe.close(cctx), s.close(cctx), adm.close(cctx))
		cancel()
		if err != nil {
			log.Error("postern stopped with an error", "error", err.Error())
			return exitFail
		}
		log.Info("postern stopped")
		return exitOK
	}
}

// reload applies the configuration file again. Only the plugin chain is
// reloaded; other changed keys are reported as needing a restart. The
// error, also logged, says why the previous configuration keeps serving.
func (s *stack) reload(ctx context.Context, path string, log *slog.Logger) error {
	cfg, err := config.Load(path)
	if err != nil {
		log.Error("configuration reload failed; the previous configuration keeps serving", "config", path, "error", err.Error())
		return err
	}
	if keys := restartOnly(s.cfg, cfg); len(keys) > 0 {
		log.Warn("these keys changed but apply only at a restart; restart postern to apply them", "keys", keys)
	}
	if err := s.host.Load(ctx, cfg.Plugins); err != nil {
		log.Error("plugin reload failed; the previous plugins keep serving", "config", path, "error", err.Error())
		return err
	}
	s.cfg.Plugins = cfg.Plugins
	log.Info("configuration reloaded", "config", path, "plugins", s.names())
	return nil
}

// restartOnly lists the keys that differ between the running and the new
// configuration and that a SIGHUP cannot apply.
func restartOnly(old, cur *config.Config) []string {
	var keys []string
	if old.CacheDir != cur.CacheDir {
		keys = append(keys, "cache_dir")
	}
	if old.Log != cur.Log {
		keys = append(keys, "log")
	}
	if !slices.Equal(old.Store.Memcached, cur.Store.Memcached) || old.Store.Timeout != cur.Store.Timeout {
		keys = append(keys, "store")
	}
	if old.Watch != cur.Watch {
		keys = append(keys, "plugins.watch")
	}
	if old.Debounce != cur.Debounce {
		keys = append(keys, "plugins.debounce")
	}
	if fmt.Sprint(old.Mail) != fmt.Sprint(cur.Mail) {
		keys = append(keys, "mail")
	}
	if fmt.Sprint(old.Web) != fmt.Sprint(cur.Web) {
		keys = append(keys, "web")
	}
	if old.Admin != cur.Admin {
		keys = append(keys, "admin")
	}
	if fmt.Sprint(old.TLS) != fmt.Sprint(cur.TLS) {
		keys = append(keys, "tls (the files themselves are reloaded)")
	}
	return keys
}
