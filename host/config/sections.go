package config

import (
	"log/slog"

	"github.com/postern/postern/host/admin/adminconfig"
	"github.com/postern/postern/host/connlimit"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/mail"
	"github.com/postern/postern/host/tlsstore"
	"github.com/postern/postern/host/web"
)

// The sections that components own: each is the component's settings
// type, decoded by the component (see RATIONALE.md, "Each component owns
// its configuration section").

// Admin is the `admin` section: the operator HTTP API (health, readiness,
// Prometheus metrics, plugins, reload, route purge, status page). Its
// zero value is the default; host/admin/adminconfig owns it.
type Admin = adminconfig.Settings

// Mail is the `mail` section, ready for mail.New once TLS and Plugins are
// filled in by the caller; host/mail owns it.
type Mail = mail.Settings

// Store is the `store` section: where the plugins' key-value store
// lives; host/kv owns it.
type Store = kv.Settings

// TLS is the `tls` section: the certificates every TLS listener serves,
// chosen by SNI; host/tlsstore owns it.
type TLS = tlsstore.Settings

// Web is the `web` section: the HTTP and HTTPS front end; host/web owns
// it.
type Web = web.Settings

// Limits is the `limits` section: what the whole process allows (the
// front ends' own limits are in their sections); host/connlimit owns it.
type Limits = connlimit.Settings

// OpenTLS returns the certificate store of the `tls` section, or nil when
// no certificate is configured.
func (c *Config) OpenTLS(log *slog.Logger) (*tlsstore.Store, error) { return c.TLS.Open(log) }
