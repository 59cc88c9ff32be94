package config

import "github.com/postern/postern/host/admin/adminconfig"

// Admin is the `admin` section: the operator HTTP API (health, readiness,
// Prometheus metrics, plugins, reload, route purge, status page). Its
// zero value is the default; host/admin/adminconfig owns it.
type Admin = adminconfig.Settings
