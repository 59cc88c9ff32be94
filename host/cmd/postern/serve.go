package main

import (
	"context"
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
// serving and the error is logged. There are no listeners yet.
func cmdRun(ctx context.Context, path string, sigs <-chan os.Signal, stderr io.Writer) int {
	cfg, err := readConfig(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return exitFail
	}
	log := cfg.Logger(stderr)
	s, err := load(ctx, cfg, log, true)
	if err != nil {
		log.Error("postern cannot start", "config", path, "error", err.Error())
		return exitFail
	}
	log.Info("postern running", "config", path, "plugins", s.names(), "version", buildVersion(),
		"listeners", "none: front ends are not implemented yet, so no connection is served")
	for sig := range sigs {
		if sig == syscall.SIGHUP {
			s.reload(ctx, path, log)
			continue
		}
		log.Info("postern stopping", "signal", sig.String())
		cctx, cancel := context.WithTimeout(ctx, closeTimeout)
		err := s.close(cctx)
		cancel()
		if err != nil {
			log.Error("postern stopped with an error", "error", err.Error())
			return exitFail
		}
		log.Info("postern stopped")
		return exitOK
	}
	return exitOK
}

// reload applies the configuration file again. Only the plugin chain is
// reloaded; other changed keys are reported as needing a restart.
func (s *stack) reload(ctx context.Context, path string, log *slog.Logger) {
	cfg, err := config.Load(path)
	if err != nil {
		log.Error("configuration reload failed; the previous configuration keeps serving", "config", path, "error", err.Error())
		return
	}
	if keys := restartOnly(s.cfg, cfg); len(keys) > 0 {
		log.Warn("these keys changed but apply only at a restart; restart postern to apply them", "keys", keys)
	}
	if err := s.host.Load(ctx, cfg.Plugins); err != nil {
		log.Error("plugin reload failed; the previous plugins keep serving", "config", path, "error", err.Error())
		return
	}
	s.cfg.Plugins = cfg.Plugins
	log.Info("configuration reloaded", "config", path, "plugins", s.names())
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
	return keys
}
