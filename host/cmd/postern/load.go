package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"time"

	"github.com/postern/postern/host/config"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/mail"
	"github.com/postern/postern/host/plugin"
)

// stack is a configuration with its store and plugin host, plugins loaded.
type stack struct {
	cfg   *config.Config
	store kv.Store
	host  *plugin.Host
}

// load builds the store and the plugin host for cfg and loads its
// plugins. watch overrides plugins.watch: only `run` watches files.
func load(ctx context.Context, cfg *config.Config, log *slog.Logger, watch bool, observe ...func(plugin, hook string, d time.Duration, err error)) (*stack, error) {
	store, err := cfg.OpenStore()
	if err != nil {
		return nil, err
	}
	opts := cfg.HostOptions(log, store)
	opts.Watch = opts.Watch && watch
	if len(observe) > 0 {
		opts.Observe = observe[0]
	}
	host, err := plugin.New(ctx, opts)
	if err != nil {
		store.Close()
		return nil, err
	}
	s := &stack{cfg: cfg, store: store, host: host}
	if err := host.Load(ctx, cfg.Plugins); err != nil {
		s.close(ctx)
		return nil, fmt.Errorf("%s: %w", cfg.File, err)
	}
	if err := checkPasswordVerifier(cfg, host); err != nil {
		s.close(ctx)
		return nil, fmt.Errorf("%s: %w", cfg.File, err)
	}
	return s, nil
}

// checkPasswordVerifier refuses a configuration whose mail front end logs
// in upstream as a master user for password logins, or for OAuth logins,
// while no loaded plugin can verify a password or token: the front end
// would refuse every such login (it never lets an unchecked password or
// token through a master login).
func checkPasswordVerifier(cfg *config.Config, host *plugin.Host) error {
	if !cfg.Mail.Enabled() || len(host.PasswordVerifiers()) > 0 {
		return nil
	}
	u := cfg.Mail.Config.Upstream
	if mode := u.Login; mode != "" && mode != mail.LoginAsUser {
		return fmt.Errorf("mail.upstream.login %s: no plugin verifies passwords, so every password login would be refused "+
			"(the mailbox server does not check the password of a master login); "+
			"add a plugin that checks them, such as route-lookup with send_password: true against a lookup service that checks passwords, "+
			"or set mail.upstream.login: user", mode)
	}
	if mode := u.OAuthLogin; len(cfg.Mail.Config.OAuth.Mechanisms) > 0 && mode != "" && mode != mail.LoginPassthrough {
		return fmt.Errorf("mail.upstream.oauth_login %s: no plugin verifies tokens, so every OAuth login would be refused "+
			"(the mailbox server does not see the token of a master login); "+
			"add the oauth plugin (it vouches for the tokens it accepts), or set mail.upstream.oauth_login: passthrough", mode)
	}
	return nil
}

// close closes the host, then the store it was using.
func (s *stack) close(ctx context.Context) error {
	return errors.Join(s.host.Close(ctx), s.store.Close())
}

// names returns the loaded plugins' names in chain order.
func (s *stack) names() []string {
	var out []string
	for _, p := range s.host.Plugins() {
		out = append(out, p.Name())
	}
	return out
}

// cliLogger is the logger of the one-shot commands: text to stderr at the
// configured level, or nothing when quiet.
func cliLogger(cfg *config.Config, w io.Writer, quiet bool) *slog.Logger {
	if quiet {
		return slog.New(slog.DiscardHandler)
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: cfg.Log.Level}))
}

// loadFile reads the configuration at path and loads it; errors are
// printed to stderr, and nil means the caller exits with exitFail.
func loadFile(ctx context.Context, path string, stderr io.Writer, quiet bool) *stack {
	cfg, err := readConfig(path)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil
	}
	s, err := load(ctx, cfg, cliLogger(cfg, stderr, quiet), false)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return nil
	}
	return s
}

// readConfig is config.Load with a hint when the file is missing.
func readConfig(path string) (*config.Config, error) {
	cfg, err := config.Load(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w; pass the configuration file with -c (postern.example.yaml documents every key)", err)
	}
	return cfg, err
}
