// Package tlsstore holds the server certificates of every Postern front end
// (HTTPS, IMAPS, POP3S, STARTTLS) and picks one per connection by the
// client's SNI name.
//
// Certificates come from PEM files, one certificate file and one key file per
// pair. The names a certificate serves are the DNS names in its subject
// alternative names (SANs); the subject common name is not used, as in every
// current client. A lookup tries the exact name, then the wildcard that
// covers it (a.example.com matches *.example.com, a.b.example.com does not),
// then the default certificate. When the options name no default, the first
// pair is the default (nginx's "first server is the default" rule).
//
// With Watch, the files are watched and a changed pair is loaded again. A pair
// whose new files do not load (half written, a key that does not match the
// certificate) keeps serving its previous certificate, and the failure is
// logged. Connections already open are never touched: a handshake copies the
// certificate it uses, so a reload changes only new handshakes.
//
// The package must not open network connections or decide protocol policy
// beyond the TLS defaults in [Store.TLSConfig].
package tlsstore

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/postern/postern/host/internal/filewatch"
)

// Pair names the PEM files of one certificate: the certificate chain (leaf
// first) and its private key. Both may be the same file.
type Pair struct {
	CertFile string
	KeyFile  string
}

func (p Pair) zero() bool { return p.CertFile == "" && p.KeyFile == "" }

// Options configures [New].
type Options struct {
	// Certs are the per-hostname certificates. Earlier pairs win when two
	// claim the same name.
	Certs []Pair
	// Default is served when the client sent no SNI name or a name no
	// certificate covers. Zero means the first pair of Certs.
	Default Pair
	// Watch reloads a pair when its files change.
	Watch bool
	// Debounce is the quiet period before a changed file is read; 0 means
	// the file watcher's default (250 ms).
	Debounce time.Duration
	// Logger receives reload results; nil means slog.Default().
	Logger *slog.Logger
}

// Store chooses a certificate per TLS handshake. Its methods are safe for
// concurrent use.
type Store struct {
	log        *slog.Logger
	pairs      []Pair // Certs, then Default when given
	hasDefault bool   // the last pair is Options.Default

	mu    sync.Mutex         // serialises loads
	certs []*tls.Certificate // by index of pairs; the last one loaded well
	table atomic.Pointer[table]

	watcher *filewatch.Watcher
	done    chan struct{}
	close   sync.Once
}

// table is an immutable snapshot used by GetCertificate without locks.
type table struct {
	exact    map[string]*tls.Certificate
	wildcard map[string]*tls.Certificate // by the parent domain: "example.com" for *.example.com
	def      *tls.Certificate
}

// New loads every pair and, with Watch, starts watching their files. Every
// pair must load: a store that starts with a broken certificate would fail
// handshakes silently.
func New(opts Options) (*Store, error) {
	log := opts.Logger
	if log == nil {
		log = slog.Default()
	}
	s := &Store{log: log.With("component", "tlsstore"), done: make(chan struct{})}
	s.pairs = append(s.pairs, opts.Certs...)
	if !opts.Default.zero() {
		s.pairs = append(s.pairs, opts.Default)
		s.hasDefault = true
	}
	if len(s.pairs) == 0 {
		return nil, errors.New("tlsstore: no certificates; configure at least one cert_file and key_file")
	}
	s.certs = make([]*tls.Certificate, len(s.pairs))
	var errs []error
	for i, p := range s.pairs {
		c, err := load(p)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		s.certs[i] = c
	}
	if err := errors.Join(errs...); err != nil {
		return nil, err
	}
	s.rebuild()
	if opts.Watch {
		w, err := filewatch.New(filewatch.Options{Debounce: opts.Debounce, Logger: log})
		if err != nil {
			return nil, fmt.Errorf("tlsstore: watch: %w", err)
		}
		for _, p := range s.pairs {
			for _, f := range []string{p.CertFile, p.KeyFile} {
				if err := w.Add(f); err != nil {
					_ = w.Close()
					return nil, fmt.Errorf("tlsstore: watch: %w", err)
				}
			}
		}
		s.watcher = w
		go s.watch()
	}
	return s, nil
}

// load reads one pair and parses its leaf.
func load(p Pair) (*tls.Certificate, error) {
	if p.CertFile == "" || p.KeyFile == "" {
		return nil, fmt.Errorf("tlsstore: pair %q/%q: both cert_file and key_file are required", p.CertFile, p.KeyFile)
	}
	c, err := tls.LoadX509KeyPair(p.CertFile, p.KeyFile)
	if err != nil {
		return nil, fmt.Errorf("tlsstore: load %s with key %s: %w; check that both are PEM and the key matches the certificate", p.CertFile, p.KeyFile, err)
	}
	if c.Leaf == nil {
		leaf, err := x509.ParseCertificate(c.Certificate[0])
		if err != nil {
			return nil, fmt.Errorf("tlsstore: parse %s: %w", p.CertFile, err)
		}
		c.Leaf = leaf
	}
	return &c, nil
}

// rebuild makes a new lookup table from s.certs. Caller holds s.mu or is New.
func (s *Store) rebuild() {
	t := &table{exact: map[string]*tls.Certificate{}, wildcard: map[string]*tls.Certificate{}}
	for _, c := range s.certs {
		if c == nil {
			continue
		}
		if t.def == nil {
			t.def = c // the first pair, unless an explicit default follows
		}
		for _, name := range c.Leaf.DNSNames {
			name = normalize(name)
			if rest, ok := strings.CutPrefix(name, "*."); ok {
				if _, dup := t.wildcard[rest]; !dup {
					t.wildcard[rest] = c
				}
				continue
			}
			if _, dup := t.exact[name]; !dup {
				t.exact[name] = c
			}
		}
	}
	if s.hasDefault {
		t.def = s.certs[len(s.certs)-1]
	}
	s.table.Store(t)
}

func normalize(name string) string {
	return strings.ToLower(strings.TrimSuffix(name, "."))
}

// GetCertificate returns the certificate for the handshake's SNI name: the
// exact name, then the covering wildcard, then the default. It is meant for
// [tls.Config.GetCertificate] and never returns an error.
func (s *Store) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return s.Lookup(hello.ServerName), nil
}

// Lookup returns the certificate that serves name ("" for no SNI).
func (s *Store) Lookup(name string) *tls.Certificate {
	t := s.table.Load()
	if name == "" {
		return t.def
	}
	name = normalize(name)
	if c, ok := t.exact[name]; ok {
		return c
	}
	if i := strings.IndexByte(name, '.'); i > 0 {
		if c, ok := t.wildcard[name[i+1:]]; ok {
			return c
		}
	}
	return t.def
}

// TLSConfig returns a server configuration using the store: TLS 1.2 or
// newer, and for TLS 1.2 only ECDHE key exchange with AEAD ciphers (TLS 1.3
// suites are all strong and not configurable in Go). nextProtos is the ALPN
// list: "h2", "http/1.1" for the web front end, nothing for IMAP and POP3.
// Each call returns a new Config the caller may change.
func (s *Store) TLSConfig(nextProtos ...string) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		GetCertificate: s.GetCertificate,
		CipherSuites: []uint16{
			tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
			tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
			tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
		},
		NextProtos: append([]string(nil), nextProtos...),
	}
}

// Reload loads every pair again now, as on SIGHUP. A pair that fails keeps
// its previous certificate; the failures are returned joined.
func (s *Store) Reload() error {
	return s.reload(func(Pair) bool { return true })
}

// reloadPath loads the pairs that use path.
func (s *Store) reloadPath(path string) error {
	return s.reload(func(p Pair) bool { return samePath(p.CertFile, path) || samePath(p.KeyFile, path) })
}

func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	return err1 == nil && err2 == nil && aa == bb
}

func (s *Store) reload(match func(Pair) bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	changed := false
	for i, p := range s.pairs {
		if !match(p) {
			continue
		}
		c, err := load(p)
		if err != nil {
			s.log.Error("certificate reload failed; the previous certificate keeps serving",
				"cert_file", p.CertFile, "key_file", p.KeyFile, "err", err)
			errs = append(errs, err)
			continue
		}
		s.certs[i] = c
		changed = true
		s.log.Info("certificate loaded", "cert_file", p.CertFile, "names", c.Leaf.DNSNames,
			"not_after", c.Leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if changed {
		s.rebuild()
	}
	return errors.Join(errs...)
}

func (s *Store) watch() {
	for {
		select {
		case <-s.done:
			return
		case path, ok := <-s.watcher.Events():
			if !ok {
				return
			}
			_ = s.reloadPath(path) // logged in reload
		}
	}
}

// Close stops watching the files. Certificates stay usable; handshakes
// after Close still succeed with the last loaded certificates.
func (s *Store) Close() error {
	var err error
	s.close.Do(func() {
		close(s.done)
		if s.watcher != nil {
			err = s.watcher.Close()
		}
	})
	return err
}
