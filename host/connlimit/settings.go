package connlimit

import (
	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/host/internal/confdecode"
)

// Settings is the `limits` section of the configuration file: what the
// whole process allows. The front ends' own limits are in their sections
// (mail.limits, web).
type Settings struct {
	// MaxSessions caps the mail sessions and web connections of the
	// process together (default DefaultMaxSessions; 0: no cap). The
	// admin API is not counted. A reload applies it to new connections.
	MaxSessions int
}

// DefaultSettings returns the section's defaults.
func DefaultSettings() Settings { return Settings{MaxSessions: DefaultMaxSessions} }

// Decode decodes the section at n (key path path, "limits") into s.
func (s *Settings) Decode(d *confdecode.Decoder, n *yaml.Node, path string) {
	d.Mapping(n, path,
		confdecode.Key("max_sessions", func(n *yaml.Node, p string) {
			d.Int(n, p, 0, confdecode.MaxConnLimit, func(v int64) { s.MaxSessions = int(v) })
		}),
	)
}
