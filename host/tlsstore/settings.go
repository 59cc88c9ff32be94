package tlsstore

import (
	"fmt"
	"log/slog"

	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/host/internal/confdecode"
)

// Settings is the `tls` section of the configuration file: the
// certificates every TLS listener serves, chosen by SNI. Decode reads
// it; Open turns it into a Store.
type Settings struct {
	// Certs are the per-hostname certificates; names come from each
	// certificate's SANs. Wildcards (*.example.com) are honoured.
	Certs []Pair
	// Default is served to clients without SNI or with an unknown name
	// (default: the first of Certs).
	Default Pair
	// Watch reloads certificates when their files change (default true;
	// the zero value is false, so start from DefaultSettings).
	Watch bool
}

// DefaultSettings returns the section's defaults: no certificate,
// watched.
func DefaultSettings() Settings { return Settings{Watch: true} }

// Configured reports whether the section names any certificate.
func (t *Settings) Configured() bool { return len(t.Certs) > 0 || t.Default.CertFile != "" }

// Decode decodes the section at n (key path path, "tls") into t; file
// paths are resolved by d.
func (t *Settings) Decode(d *confdecode.Decoder, n *yaml.Node, path string) {
	pair := func(n *yaml.Node, path string, p *Pair) {
		d.Mapping(n, path,
			confdecode.Key("cert", func(n *yaml.Node, pp string) {
				if d.Str(n, pp, &p.CertFile) {
					p.CertFile = d.Path(p.CertFile)
				}
			}),
			confdecode.Key("key", func(n *yaml.Node, pp string) {
				if d.Str(n, pp, &p.KeyFile) {
					p.KeyFile = d.Path(p.KeyFile)
				}
			}),
		)
		if (p.CertFile == "") != (p.KeyFile == "") {
			d.Errorf(n, path, "give both cert and key")
		}
	}
	d.Mapping(n, path,
		confdecode.Key("certs", func(n *yaml.Node, p string) {
			d.Sequence(n, p, "{cert, key} pairs", func(n *yaml.Node, p string) {
				var pr Pair
				pair(n, p, &pr)
				t.Certs = append(t.Certs, pr)
			})
		}),
		confdecode.Key("default", func(n *yaml.Node, p string) { pair(n, p, &t.Default) }),
		confdecode.Key("watch", func(n *yaml.Node, p string) { d.Bool(n, p, &t.Watch) }),
	)
}

// Open returns the certificate store the section describes, or nil when
// no certificate is configured.
func (t *Settings) Open(log *slog.Logger) (*Store, error) {
	if !t.Configured() {
		return nil, nil
	}
	s, err := New(Options{Certs: t.Certs, Default: t.Default, Watch: t.Watch, Logger: log})
	if err != nil {
		return nil, fmt.Errorf("config: tls: %w", err)
	}
	return s, nil
}
