package plugintest

import (
	"context"
	"strings"
	"testing"
	"time"
)

// ReuseCase is a row of a bundled plugin's "reuse" table (the decision
// reuse its init declares, ABI 1.2): the configuration (or the part of it
// the plugin's test completes), the reuse declared, or Want -1 when the
// configuration is refused, Err then being the message's start. It is an
// alias of an unnamed struct so that the plugins' tables may write their
// rows without field names (go vet's composites check).
type ReuseCase = struct {
	Config string
	Want   time.Duration
	Err    string
}

// CheckReuse runs every case through parse (the plugin's Go source,
// natively) with config(tc.Config) (nil: as it is); reuse is the decision
// reuse of what parse returns. It must be Want, or parse must refuse with
// a message starting with Err.
func CheckReuse[C any](t *testing.T, cases []ReuseCase, config func(string) string, parse func([]byte) (C, error),
	reuse func(C) time.Duration) {
	t.Helper()
	for _, tc := range cases {
		cfg := tc.Config
		if config != nil {
			cfg = config(cfg)
		}
		c, err := parse([]byte(cfg))
		switch {
		case tc.Want < 0 && (err == nil || !strings.HasPrefix(err.Error(), tc.Err)):
			t.Errorf("config %s: %v, want %q...", tc.Config, err, tc.Err)
		case tc.Want >= 0 && err != nil:
			t.Errorf("config %s: %v", tc.Config, err)
		case tc.Want >= 0 && reuse(c) != tc.Want:
			t.Errorf("config %s: reuse %v, want %v", tc.Config, reuse(c), tc.Want)
		}
	}
}

// CheckTwinReuse loads refPath and portPath (TryNewTwin, with opts) under
// every case's configuration (config(tc.Config); nil: as it is): both
// must declare the same decision reuse, Want to the millisecond
// (Info().Reuse, what the host keeps of init's reuse_ms), or both refuse
// with the same message, which contains Err.
func CheckTwinReuse(t *testing.T, refPath, portPath string, cases []ReuseCase, config func(string) string, opts ...Option) {
	t.Helper()
	for _, tc := range cases {
		cfg := tc.Config
		if config != nil {
			cfg = config(cfg)
		}
		tw, errRef, errPort := TryNewTwin(t, refPath, portPath, append(opts[:len(opts):len(opts)], Config(cfg))...)
		if tc.Want < 0 {
			if errRef == nil || errPort == nil || !strings.Contains(errRef.Error(), tc.Err) || errRef.Error() != errPort.Error() {
				t.Errorf("config %s: want both refused with %q...\nGo: %v\nC:  %v", tc.Config, tc.Err, errRef, errPort)
			}
			continue
		}
		if errRef != nil || errPort != nil {
			t.Errorf("config %s: Go %v, C %v", tc.Config, errRef, errPort)
			continue
		}
		if r, p := tw.Ref.Info().Reuse, tw.Port.Info().Reuse; r != tc.Want.Truncate(time.Millisecond) || p != r {
			t.Errorf("config %s: reuse declared: Go %v, C %v; want %v", tc.Config, r, p, tc.Want.Truncate(time.Millisecond))
		}
		tw.Ref.Host.Close(context.Background())
		tw.Port.Host.Close(context.Background())
	}
}
