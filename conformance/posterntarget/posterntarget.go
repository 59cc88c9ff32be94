// Package posterntarget adapts Postern's plugin runtime (host/plugin) to
// conformance.Target, so that the conformance suite, and conformance.CheckPlugin
// in plugin tests, run against the real host:
//
//	conformance.Run(t, posterntarget.New(t), posterntarget.Deviations()...)
//
// It is for tests only.
package posterntarget

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/conformance"
	"github.com/postern/postern/host/kv"
	"github.com/postern/postern/host/plugin"
)

// Target adapts Postern's plugin runtime (host/plugin) to
// conformance.Target: one plugin.Host per loaded plugin, all sharing one
// in-process store and one compilation cache directory, every hook failing
// closed so that a failed call is reported as an error.
type Target struct {
	store    kv.Store
	cacheDir string
}

// New returns a Target with a fresh in-process store, closed when t ends.
func New(t *testing.T) *Target {
	st := kv.NewMemory(kv.MemoryOptions{})
	t.Cleanup(func() { st.Close() })
	return &Target{store: st, cacheDir: t.TempDir()}
}

// Store implements conformance.Target.
func (p *Target) Store() conformance.Store { return storeAdapter{p.store} }

// Load implements conformance.Target: it writes spec.Wasm to a temporary
// file and loads it into a new plugin.Host.
func (p *Target) Load(t *testing.T, spec conformance.Spec) (conformance.Plugin, error) {
	dir := t.TempDir()
	path := filepath.Join(dir, spec.Name+".wasm")
	if err := os.WriteFile(path, spec.Wasm, 0o644); err != nil {
		return nil, err
	}
	logs := &guestLogs{}
	h, err := plugin.New(context.Background(), plugin.Options{
		Store:    p.store,
		Logger:   slog.New(logs),
		CacheDir: p.cacheDir,
	})
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { h.Close(context.Background()) })
	closed := map[abi.Hook]plugin.FailurePolicy{}
	for _, hk := range abi.Hooks {
		closed[hk] = plugin.FailClosed
	}
	err = h.Load(context.Background(), []plugin.Spec{{
		Name: spec.Name, Path: path, Config: spec.Config, HTTPAllow: spec.HTTPAllow, OnFailure: closed,
		Limits: plugin.Limits{
			MemoryPages: spec.Limits.MemoryPages, CallTimeout: spec.Limits.CallTimeout,
			Instances: spec.Limits.Instances, LogPerSecond: spec.Limits.LogPerSecond,
		},
	}})
	if err != nil {
		return nil, err
	}
	return &posternPlugin{h: h, p: h.Plugin(spec.Name), logs: logs}, nil
}

type posternPlugin struct {
	h    *plugin.Host
	p    *plugin.Plugin
	logs *guestLogs
}

func (pp *posternPlugin) Run(hook abi.Hook, f *conformance.Fields) (abi.Verdict, error) {
	pf := toPostern(f)
	failures := pp.p.Stats().Failures.Load()
	r := pp.h.Run(context.Background(), hook, pf)
	fromPostern(pf, f)
	if r.Err != nil && pp.p.Stats().Failures.Load() == failures {
		// Not a failed call: Retry exhausted, which the ABI defines as TempFail.
		return r.Verdict, nil
	}
	return r.Verdict, r.Err
}

func (pp *posternPlugin) Fire(e abi.Event, f *conformance.Fields) error {
	return pp.h.Fire(context.Background(), e, toPostern(f))
}

func (pp *posternPlugin) Logs() []conformance.LogLine { return pp.logs.lines() }

func (pp *posternPlugin) Counters() map[string]int64 { return pp.p.Counters() }

// toPostern converts the suite's neutral fields to plugin.Fields.
func toPostern(f *conformance.Fields) *plugin.Fields {
	v := f.Values
	atoi := func(id abi.Field) int { n, _ := strconv.Atoi(v[id]); return n }
	pf := &plugin.Fields{
		Protocol: v[abi.FieldProtocol], Listener: v[abi.FieldListener], SessionID: v[abi.FieldSessionID],
		Client:     f.AddrPort(abi.FieldClientIP, abi.FieldClientPort),
		Local:      f.AddrPort(abi.FieldLocalIP, abi.FieldLocalPort),
		TLSVersion: v[abi.FieldTLSVersion], TLSCipher: v[abi.FieldTLSCipher], SNI: v[abi.FieldSNI],
		AuthMethod: v[abi.FieldAuthMethod], Login: v[abi.FieldLogin], Password: v[abi.FieldPassword],
		LoginAttempt: atoi(abi.FieldLoginAttempt), Account: v[abi.FieldAccount], AuthID: v[abi.FieldAuthID],
		ClientSuffix: v[abi.FieldClientSuffix], IMAPID: f.IMAPID,
		OAuthToken: v[abi.FieldOAuthToken], OAuthUser: v[abi.FieldOAuthUser],
		UpstreamLogin: v[abi.FieldUpstreamLogin], UpstreamPassword: v[abi.FieldUpstreamPass],
		CacheAlias: v[abi.FieldCacheAlias] == "1", RouteCached: v[abi.FieldRouteCached] == "1",
		Upstream: v[abi.FieldUpstream], Message: v[abi.FieldMessage],
		PasswordVerified: v[abi.FieldPasswordVerified] == "1", UpstreamAuth: v[abi.FieldUpstreamAuth],
		Delay: time.Duration(atoi(abi.FieldDelayMS)) * time.Millisecond,
	}
	if u := v[abi.FieldUpstreams]; u != "" {
		pf.Upstreams = strings.Split(u, "\x00")
	}
	if v[abi.FieldProtocol] == "http" {
		pf.HTTP = &plugin.HTTPFields{
			Method: v[abi.FieldHTTPMethod], Host: v[abi.FieldHTTPHost], Path: v[abi.FieldHTTPPath],
			Query: v[abi.FieldHTTPQuery], Header: http.Header{},
			RedirectCode: atoi(abi.FieldRedirectCode), RedirectURL: v[abi.FieldRedirectURL],
			Pool: v[abi.FieldPool],
		}
		for k, vs := range f.Header {
			pf.HTTP.Header[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
		}
		if f.RespHeader != nil || v[abi.FieldResponseStatus] != "" {
			pf.HTTP.Status = atoi(abi.FieldResponseStatus)
			pf.HTTP.RespHeader = http.Header{}
			for k, vs := range f.RespHeader {
				pf.HTTP.RespHeader[http.CanonicalHeaderKey(k)] = append([]string(nil), vs...)
			}
		}
	}
	return pf
}

// fromPostern writes back every field a plugin can change.
func fromPostern(pf *plugin.Fields, f *conformance.Fields) {
	v := f.Values
	set := func(id abi.Field, s string) {
		if s == "" && v[id] == "" {
			return
		}
		v[id] = s
	}
	b := func(x bool) string {
		if x {
			return "1"
		}
		return "0"
	}
	set(abi.FieldLogin, pf.Login)
	set(abi.FieldAccount, pf.Account)
	set(abi.FieldClientSuffix, pf.ClientSuffix)
	set(abi.FieldUpstreams, strings.Join(pf.Upstreams, "\x00"))
	set(abi.FieldUpstreamLogin, pf.UpstreamLogin)
	set(abi.FieldUpstreamPass, pf.UpstreamPassword)
	if pf.CacheAlias || v[abi.FieldCacheAlias] != "" {
		v[abi.FieldCacheAlias] = b(pf.CacheAlias)
	}
	if pf.RouteCached || v[abi.FieldRouteCached] != "" {
		v[abi.FieldRouteCached] = b(pf.RouteCached)
	}
	if pf.PasswordVerified || v[abi.FieldPasswordVerified] != "" {
		v[abi.FieldPasswordVerified] = b(pf.PasswordVerified)
	}
	set(abi.FieldMessage, pf.Message)
	if pf.Delay != 0 || v[abi.FieldDelayMS] != "" {
		v[abi.FieldDelayMS] = strconv.FormatInt(pf.Delay.Milliseconds(), 10)
	}
	if h := pf.HTTP; h != nil {
		set(abi.FieldHTTPHost, h.Host)
		set(abi.FieldHTTPPath, h.Path)
		set(abi.FieldHTTPQuery, h.Query)
		if h.RedirectCode != 0 {
			v[abi.FieldRedirectCode] = strconv.Itoa(h.RedirectCode)
		}
		set(abi.FieldRedirectURL, h.RedirectURL)
		set(abi.FieldPool, h.Pool)
		f.Header = map[string][]string(h.Header.Clone())
		if h.RespHeader != nil {
			f.RespHeader = map[string][]string(h.RespHeader.Clone())
		}
	}
}

// Metrics implements conformance.MetricsPlugin.
func (pp *posternPlugin) Metrics() map[string]conformance.Metric {
	out := map[string]conformance.Metric{}
	for _, m := range pp.p.Metrics() {
		cm := conformance.Metric{Kind: m.Kind, Help: m.Help, Bounds: m.Bounds, Value: m.Value()}
		if m.Kind == abi.MetricHistogram {
			cm.Count, cm.Sum, cm.Buckets = m.Histogram()
		}
		out[m.Name] = cm
	}
	return out
}

// Reuse implements conformance.ReusePlugin.
func (pp *posternPlugin) Reuse() time.Duration { return pp.p.Info().Reuse }

type storeAdapter struct{ st kv.Store }

func (s storeAdapter) Get(key string) ([]byte, error) {
	v, err := s.st.Get(context.Background(), key)
	if errors.Is(err, kv.ErrNotFound) {
		return nil, abi.ErrNotFound
	}
	return v, err
}

func (s storeAdapter) Set(key string, value []byte, ttl time.Duration) error {
	return s.st.Set(context.Background(), key, value, ttl)
}

func (s storeAdapter) Delete(key string) error {
	err := s.st.Delete(context.Background(), key)
	if errors.Is(err, kv.ErrNotFound) {
		return nil
	}
	return err
}

func (s storeAdapter) Shared() bool { return s.st.Shared() }

// guestLogs is a slog.Handler keeping the guest's own lines (the host
// tags them source=guest).
type guestLogs struct {
	mu  sync.Mutex
	got []conformance.LogLine
}

func (g *guestLogs) Enabled(context.Context, slog.Level) bool { return true }
func (g *guestLogs) WithAttrs([]slog.Attr) slog.Handler       { return g }
func (g *guestLogs) WithGroup(string) slog.Handler            { return g }

func (g *guestLogs) Handle(_ context.Context, r slog.Record) error {
	guest := false
	r.Attrs(func(a slog.Attr) bool {
		guest = guest || (a.Key == "source" && a.Value.String() == "guest")
		return true
	})
	if !guest {
		return nil
	}
	lv := abi.LevelInfo
	switch {
	case r.Level >= slog.LevelError:
		lv = abi.LevelError
	case r.Level >= slog.LevelWarn:
		lv = abi.LevelWarn
	case r.Level < slog.LevelInfo:
		lv = abi.LevelDebug
	}
	g.mu.Lock()
	g.got = append(g.got, conformance.LogLine{Level: lv, Message: r.Message})
	g.mu.Unlock()
	return nil
}

func (g *guestLogs) lines() []conformance.LogLine {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]conformance.LogLine(nil), g.got...)
}

// Deviations returns the places where host/plugin differs from ABI.md,
// as conformance.KnownDeviation options: a listed case that starts
// passing fails the suite, so fix the host and then delete its line.
func Deviations() []conformance.Option {
	// A deviation is listed here with conformance.KnownDeviation until the
	// host is fixed.
	return nil
}
