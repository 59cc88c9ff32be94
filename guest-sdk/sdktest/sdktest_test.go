package sdktest_test

import (
	"errors"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/hook/login"
	"github.com/postern/postern/guest-sdk/sdktest"
)

// onInit and onLogin are what the plugin of this test binary does in init
// and in its login hook; each test sets them.
var (
	onInit  func() error
	onLogin func() postern.Verdict
)

func init() {
	postern.OnInit(func([]byte) error {
		if onInit == nil {
			return nil
		}
		return onInit()
	})
	login.Handle(func() postern.Verdict {
		if onLogin == nil {
			return postern.Continue
		}
		return onLogin()
	})
}

func reset(t *testing.T) {
	t.Cleanup(func() { onInit, onLogin = nil, nil })
}

// TestInitReuse: reuse_ms (ABI 1.2) is written in init only, validated as
// the real host validates it (decimal, 0..abi.MaxReuseMS, else ErrInvalid
// with nothing changed), reads back as the number, and InitReuse reports
// what the last Init declared.
func TestInitReuse(t *testing.T) {
	reset(t)
	h := sdktest.New(t)
	var before string
	var errs []error
	var after string
	onInit = func() error {
		before, _ = postern.Get(abi.FieldReuseMS)
		errs = nil
		errs = append(errs, postern.ReuseDecisions(5*time.Second))
		for _, bad := range []string{"3600001", "-1", "+5", "-0", " 5", "5 ", "5s", "", "0x10", "1_000", "99999999999999999999"} {
			if err := postern.Set(abi.FieldReuseMS, bad); !errors.Is(err, abi.ErrInvalid) {
				t.Errorf("Set(reuse_ms, %q) = %v; want ErrInvalid", bad, err)
			}
		}
		errs = append(errs, postern.ReuseDecisions(-time.Second)) // "-1000": ErrInvalid
		after, _ = postern.Get(abi.FieldReuseMS)
		return nil
	}
	if err := h.Init(nil); err != nil {
		t.Fatal(err)
	}
	if before != "0" {
		t.Errorf("reuse_ms before any write reads %q; want \"0\"", before)
	}
	if errs[0] != nil || !errors.Is(errs[1], abi.ErrInvalid) {
		t.Errorf("ReuseDecisions(5s), (-1s) = %v, %v; want nil, ErrInvalid", errs[0], errs[1])
	}
	if after != "5000" || h.InitReuse() != 5*time.Second {
		t.Errorf("after the invalid writes: reads %q, InitReuse %v; want 5000, 5s (nothing changed)", after, h.InitReuse())
	}

	for _, tc := range []struct {
		set  func() error
		want time.Duration
		read string
	}{
		{func() error { return postern.Set(abi.FieldReuseMS, "3600000") }, time.Hour, "3600000"},
		{func() error { return postern.Set(abi.FieldReuseMS, "0042") }, 42 * time.Millisecond, "42"},
		{func() error { return postern.ReuseDecisions(1500*time.Millisecond + 999*time.Microsecond) }, 1500 * time.Millisecond, "1500"},
		{func() error { return postern.ReuseDecisions(0) }, 0, "0"},
		{func() error { return nil }, 0, "0"}, // a new Init starts with none
	} {
		var err error
		var read string
		onInit = func() error {
			err = tc.set()
			read, _ = postern.Get(abi.FieldReuseMS)
			return nil
		}
		if e := h.Init(nil); e != nil {
			t.Fatal(e)
		}
		if err != nil || read != tc.read || h.InitReuse() != tc.want {
			t.Errorf("declared: %v, reads %q, InitReuse %v; want nil, %q, %v", err, read, h.InitReuse(), tc.read, tc.want)
		}
	}
}

// TestInitReuse_outsideInit: outside init reuse_ms is ErrNotAvailable, for
// reading and writing, and a hook's write changes nothing.
func TestInitReuse_outsideInit(t *testing.T) {
	reset(t)
	h := sdktest.New(t)
	h.Fields[abi.FieldProtocol] = "http"
	onInit = func() error { return postern.ReuseDecisions(2 * time.Second) }
	var getErr, setErr error
	onLogin = func() postern.Verdict {
		_, getErr = postern.Get(abi.FieldReuseMS)
		setErr = postern.ReuseDecisions(time.Second)
		return postern.Continue
	}
	h.CallHook(abi.HookLogin)
	if !errors.Is(getErr, abi.ErrNotAvailable) || !errors.Is(setErr, abi.ErrNotAvailable) {
		t.Errorf("in the login hook: get %v, set %v; want ErrNotAvailable", getErr, setErr)
	}
	if h.InitReuse() != 2*time.Second {
		t.Errorf("InitReuse = %v; want the 2s init declared", h.InitReuse())
	}
	if _, ok := h.Fields[abi.FieldReuseMS]; ok {
		t.Errorf("reuse_ms landed in the session's fields")
	}
}

// TestFeatures: the fake is a 1.2 host; a test can take a feature away.
func TestFeatures(t *testing.T) {
	reset(t)
	h := sdktest.New(t)
	for _, f := range []string{abi.FeatureABI10, abi.FeatureABI11, abi.FeatureABI12, abi.FeatureResponseHook, abi.FeatureMetrics} {
		if !postern.HasFeature(f) {
			t.Errorf("feature %s = 0; want 1", f)
		}
	}
	if postern.HasFeature("abi-1.3") {
		t.Error("feature abi-1.3 = 1")
	}
	delete(h.Features, abi.FeatureABI12)
	if postern.HasFeature(abi.FeatureABI12) {
		t.Error("feature abi-1.2 still 1 after deleting it")
	}
}
