package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"reflect"
	"runtime"
	"slices"
	"strconv"
	"syscall"
	"time"

	"github.com/postern/postern/host/config"
	"github.com/postern/postern/host/internal/filewatch"
	"github.com/postern/postern/host/internal/listeners"
	"github.com/postern/postern/host/tlsstore"
)

// cmdRun runs the proxy until SIGINT or SIGTERM: the admin API, the
// plugin chain (plugin files watched), and the mail and web front ends.
// SIGHUP, a change of the configuration file, or the admin API's
// POST /reload applies the configuration again, build-then-swap: a bad
// configuration is refused and logged while the running one keeps
// serving; listeners whose address did not change keep their sockets;
// sessions in flight finish on the configuration they started on.
// Logs go to out (stdout), JSON unless log.format says text.
func cmdRun(ctx context.Context, path string, sigs <-chan os.Signal, out io.Writer) int {
	return runOn(ctx, path, sigs, out, listeners.New())
}

// runOn is cmdRun with the front ends' sockets taken from set (the demo
// adopts its free ports there).
func runOn(ctx context.Context, path string, sigs <-chan os.Signal, out io.Writer, set *listeners.Set) int {
	cfg, err := readConfig(path)
	if err != nil {
		fmt.Fprintln(out, err)
		return exitFail
	}
	log := cfg.Logger(out)
	setMaxProcs(cfg.MaxProcs, log)
	// The admin API starts first, so /healthz answers (and /readyz says
	// why not yet) while the plugins compile.
	adm, err := startAdmin(cfg, log)
	if err != nil {
		log.Error("postern cannot start", "config", path, "error", err.Error())
		return exitFail
	}
	s, err := load(ctx, cfg, log, true, adm.observer())
	if err != nil {
		log.Error("postern cannot start", "config", path, "error", err.Error())
		adm.close(ctx)
		return exitFail
	}
	r := &runner{path: path, log: log, s: s, adm: adm, set: set, mail: newMailShared()}
	r.fe, err = buildFrontends(cfg, nil, s, r.set, r.mail, log)
	if err != nil {
		log.Error("postern cannot start", "config", path, "error", err.Error())
		s.close(ctx)
		adm.close(ctx)
		return exitFail
	}
	adm.attach(s, r.fe)
	log.Info("postern running", "config", path, "plugins", s.names(), "version", buildVersion(),
		"listeners", r.fe.listeners(), "gomaxprocs", runtime.GOMAXPROCS(0))
	changes := watchConfig(path, log)
	defer changes.close()
	for {
		var sig os.Signal
		select {
		case req := <-adm.reloads():
			req.done <- r.reload(req.ctx, "admin api")
			continue
		case <-changes.events():
			start := time.Now()
			adm.reloaded(start, "file change", r.reload(ctx, "file change"))
			continue
		case sg, ok := <-sigs:
			if !ok {
				return exitOK
			}
			sig = sg
		}
		if sig == syscall.SIGHUP {
			start := time.Now()
			adm.reloaded(start, "sighup", r.reload(ctx, "sighup"))
			continue
		}
		log.Info("postern stopping", "signal", sig.String())
		adm.drain() // /readyz answers 503 from now on
		if d := r.s.cfg.Shutdown.Announce; d > 0 {
			log.Info("still serving while load balancers notice /readyz", "for", d.String())
			time.Sleep(d)
		}
		cctx, cancel := context.WithTimeout(ctx, r.s.cfg.Shutdown.Grace)
		err := errors.Join(r.fe.close(cctx), s.close(cctx), adm.close(cctx))
		cancel()
		if err != nil {
			log.Error("postern stopped with an error", "error", err.Error())
			return exitFail
		}
		log.Info("postern stopped")
		return exitOK
	}
}

// runner is the running proxy: what a reload replaces.
type runner struct {
	path string
	log  *slog.Logger
	s    *stack
	adm  *adminServer
	set  *listeners.Set
	fe   *frontends
	mail mailShared // counters and Kerberos replay cache of every configuration's mail front end
}

// reload applies the configuration file again: plugins first (their Load
// is itself build-then-swap), then, when the tls, mail or web sections
// changed, new front ends on the shared sockets; the old ones drain. The
// error, also logged, says why the previous configuration keeps serving
// (all of it when the file is bad; the front ends when only they fail).
func (r *runner) reload(ctx context.Context, why string) error {
	log, s := r.log, r.s
	cfg, err := config.Load(r.path)
	if err != nil {
		log.Error("configuration reload failed; the previous configuration keeps serving", "config", r.path, "trigger", why, "error", err.Error())
		return err
	}
	if keys := restartOnly(s.cfg, cfg); len(keys) > 0 {
		log.Warn("these keys changed but apply only at a restart; restart postern to apply them", "keys", keys)
	}
	if err := s.host.Load(ctx, cfg.Plugins); err != nil {
		log.Error("plugin reload failed; the previous plugins keep serving", "config", r.path, "trigger", why, "error", err.Error())
		return err
	}
	s.cfg.Plugins = cfg.Plugins
	s.cfg.Shutdown = cfg.Shutdown
	if cfg.MaxProcs != s.cfg.MaxProcs {
		setMaxProcs(cfg.MaxProcs, log)
		s.cfg.MaxProcs = cfg.MaxProcs
	}
	r.adm.setLive(s, r.fe) // GET /upstreams: the new chain (attach below records new front ends)
	old := r.fe
	if frontendsChanged(old.cfg, cfg) {
		var certs *tlsstore.Store
		if sameTLS(old.cfg, cfg) {
			certs = old.certs // unchanged files: the store watches them already
		}
		fe, err := buildFrontends(cfg, certs, s, r.set, r.mail, log)
		if err != nil {
			log.Error("front end reload failed; the previous listeners keep serving", "config", r.path, "trigger", why, "error", err.Error())
			return err
		}
		r.fe = fe
		old.drain(log, certs == nil)
		r.adm.attach(s, fe)
		log.Info("front ends reloaded; sessions in flight finish on the previous configuration", "listeners", fe.listeners())
	} else if old.certs != nil {
		if err := old.certs.Reload(); err != nil {
			log.Error("certificate reload failed; the previous certificates keep serving", "error", err.Error())
			return err
		}
	}
	// The session cap is the process's: it applies to the next connection
	// whether or not the front ends were rebuilt.
	r.mail.limits.SetMaxSessions(cfg.Limits.MaxSessions)
	log.Info("configuration reloaded", "config", r.path, "trigger", why, "plugins", s.names())
	return nil
}

// setMaxProcs applies max_procs: n CPUs run Go code at once, or with 0
// Go's own choice (the CPUs the process may use, or $GOMAXPROCS).
func setMaxProcs(n int, log *slog.Logger) {
	if n > 0 {
		runtime.GOMAXPROCS(n)
	} else if v, err := strconv.Atoi(os.Getenv("GOMAXPROCS")); err == nil && v > 0 {
		runtime.GOMAXPROCS(v) // SetDefaultGOMAXPROCS would ignore the variable
	} else {
		runtime.SetDefaultGOMAXPROCS()
	}
	log.Debug("max_procs applied", "max_procs", n, "gomaxprocs", runtime.GOMAXPROCS(0))
}

// frontendsChanged reports whether the tls, mail or web sections differ.
func frontendsChanged(a, b *config.Config) bool {
	return !reflect.DeepEqual(a.TLS, b.TLS) || !reflect.DeepEqual(a.Mail, b.Mail) || !reflect.DeepEqual(a.Web, b.Web)
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

// configWatch reports changes of the configuration file.
type configWatch struct{ w *filewatch.Watcher }

// watchConfig watches the configuration file; a failure to watch is
// logged and leaves SIGHUP and the admin API as the ways to reload.
func watchConfig(path string, log *slog.Logger) configWatch {
	w, err := filewatch.New(filewatch.Options{Logger: log})
	if err == nil {
		err = w.Add(path)
	}
	if err != nil {
		log.Warn("the configuration file is not watched; reload with SIGHUP", "config", path, "error", err.Error())
		if w != nil {
			w.Close()
		}
		return configWatch{}
	}
	return configWatch{w: w}
}

func (c configWatch) events() <-chan string {
	if c.w == nil {
		return nil // never ready
	}
	return c.w.Events()
}

func (c configWatch) close() {
	if c.w != nil {
		c.w.Close()
	}
}
