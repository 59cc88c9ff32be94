package plugin

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
)

// variant returns the fixture's bytes with a custom section named tag
// appended: the same code under another sha256.
func variant(t *testing.T, name, tag string) []byte {
	t.Helper()
	b, err := os.ReadFile(fixture(name))
	if err != nil {
		t.Fatal(err)
	}
	payload := append(append([]byte{byte(len(tag))}, tag...), 1) // a name and one byte
	return append(append(b, 0, byte(len(payload))), payload...)
}

// swapTo writes b over path the way deploy tools do and reloads p as the
// file watcher would.
func swapTo(t *testing.T, p *Plugin, path string, b []byte) {
	t.Helper()
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, path); err != nil {
		t.Fatal(err)
	}
	if err := p.reload(context.Background(), true); err != nil {
		t.Fatal(err)
	}
}

// logins runs n login hook calls and returns how many failed.
func logins(h *Host, n int) (failed int) {
	for range n {
		if r := h.Run(context.Background(), abi.HookLogin, mailFields()); r.Err != nil {
			failed++
		}
	}
	return failed
}

func TestPlugin_safeSwap(t *testing.T) {
	good := variant(t, "login_continue", "good")
	good2 := variant(t, "login_continue", "good2")
	bad := variant(t, "login_trap_third", "bad")
	bad2 := variant(t, "login_trap_third", "bad2")
	loop := variant(t, "loop", "loop")
	badVerdict := variant(t, "bad_verdict", "verdict")
	tests := []struct {
		name        string
		policy      RegressionPolicy
		first, next []byte
		// calls made on the first version before the swap
		warm int
		// calls made after the swap, and how many of them fail
		calls, failed int
		// serving at the end: first or next
		wantFirst    bool
		wantRollback bool // Stats.Rollbacks == 1
		wantRecord   bool // LastRollback set
		wantLog      string
		// the regression's record: calls when it was found (failures 3)
		wantCalls int64
	}{
		{name: "a version that traps on its third call is rolled back", first: good, next: bad, warm: 10,
			calls: 100, failed: 3, wantFirst: true, wantRollback: true, wantRecord: true,
			wantLog: "rolled back to the previous version", wantCalls: 9},
		{name: "a first version that never ran: any regression counts", first: good, next: bad, warm: 0,
			calls: 100, failed: 3, wantFirst: true, wantRollback: true, wantRecord: true, wantCalls: 9},
		{name: "keep: the regression is logged, the new version serves", policy: RegressionKeep, first: good, next: bad, warm: 10,
			calls: 30, failed: 10, wantFirst: false, wantRecord: true, wantLog: "kept serving (on_regression: keep)", wantCalls: 9},
		{name: "a version that loops past its deadline is rolled back", first: good, next: loop, warm: 10,
			calls: 20, failed: 3, wantFirst: true, wantRollback: true, wantRecord: true, wantCalls: 3},
		{name: "a version with an invalid verdict is rolled back", first: good, next: badVerdict, warm: 10,
			calls: 20, failed: 3, wantFirst: true, wantRollback: true, wantRecord: true, wantCalls: 3},
		{name: "as often as the previous version: no regression", first: bad, next: bad2, warm: 30,
			calls: 60, failed: 20, wantFirst: false},
		{name: "a good version stays", first: good, next: good2, warm: 10, calls: 60, failed: 0, wantFirst: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, logs := newTestHost(t, Options{})
			path := filepath.Join(t.TempDir(), "p.wasm")
			if err := os.WriteFile(path, tc.first, 0o600); err != nil {
				t.Fatal(err)
			}
			spec := Spec{Name: "p", Path: path, OnRegression: tc.policy, Limits: Limits{Instances: 1, CallTimeout: 50 * time.Millisecond},
				RegressionWatch: RegressionWatch{Calls: 60, For: time.Minute}}
			if err := h.Load(context.Background(), []Spec{spec}); err != nil {
				t.Fatal(err)
			}
			p := h.Plugin("p")
			firstSHA := p.Info().SHA256
			logins(h, tc.warm)
			swapTo(t, p, path, tc.next)
			nextSHA := p.Info().SHA256
			if nextSHA == firstSHA {
				t.Fatal("the swap did not happen")
			}
			if w := p.Info().Watch; w == nil || w.PrevSHA256 != firstSHA {
				t.Fatalf("after the swap, watch = %+v", w)
			}
			if got := logins(h, tc.calls); got != tc.failed {
				t.Errorf("%d of %d logins failed after the swap, want %d", got, tc.calls, tc.failed)
			}
			in := p.Info()
			if want := map[bool]string{true: firstSHA, false: nextSHA}[tc.wantFirst]; in.SHA256 != want {
				t.Errorf("serving %s, want %s (first %s, next %s)", short(in.SHA256), short(want), short(firstSHA), short(nextSHA))
			}
			if got := p.Stats().Rollbacks.Load(); got != map[bool]int64{true: 1}[tc.wantRollback] {
				t.Errorf("rollbacks = %d", got)
			}
			if in.Watch != nil {
				t.Errorf("the watch still runs after %d calls (max 60): %+v", tc.calls, in.Watch)
			}
			rb := p.LastRollback()
			if (rb != nil) != tc.wantRecord {
				t.Fatalf("LastRollback = %+v, want set: %v", rb, tc.wantRecord)
			}
			if rb != nil {
				if rb.SHA256 != nextSHA || rb.PrevSHA256 != firstSHA || rb.Failures != 3 || rb.Calls != tc.wantCalls ||
					rb.RolledBack != tc.wantRollback || rb.LastError == "" {
					t.Errorf("LastRollback = %+v", rb)
				}
				if in.LastRollback != rb {
					t.Errorf("Info.LastRollback = %+v", in.LastRollback)
				}
			}
			if tc.wantLog != "" {
				var line string
				for _, l := range strings.Split(logs.String(), "\n") {
					if strings.Contains(l, tc.wantLog) {
						line = l
					}
				}
				for _, want := range []string{"level=ERROR", "plugin=p", "sha256=" + nextSHA, "previous_sha256=" + firstSHA, "failures=3", fmt.Sprintf("calls=%d", tc.wantCalls)} {
					if !strings.Contains(line, want) {
						t.Errorf("no %q in the log line %q\nlog:\n%s", want, line, logs)
					}
				}
			}
		})
	}
}

// TestPlugin_safeSwap_retry: the rolled-back bytes are not loaded again by
// a configuration reload (Reload, Load), only when the file changes; a
// fixed file is tried and stays.
func TestPlugin_safeSwap_retry(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	path := filepath.Join(t.TempDir(), "p.wasm")
	if err := os.WriteFile(path, variant(t, "login_continue", "good"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Name: "p", Path: path}
	if err := h.Load(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	p := h.Plugin("p")
	good := p.Info().SHA256
	swapTo(t, p, path, variant(t, "login_trap_third", "bad"))
	if n := logins(h, 20); n != 3 {
		t.Fatalf("%d logins failed before the rollback, want 3", n)
	}
	if p.Info().SHA256 != good {
		t.Fatal("not rolled back")
	}
	// A configuration reload with the same spec: the file is unchanged.
	if err := h.Load(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	if err := p.Reload(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p.Info().SHA256 != good || p.Info().Watch != nil {
		t.Fatalf("a reload of the unchanged file loaded the rolled-back version again: %+v", p.Info())
	}
	if n := logins(h, 20); n != 0 {
		t.Fatalf("%d logins failed after the rollback", n)
	}
	// The file is written again (the same bytes): tried again, rolled
	// back again.
	swapTo(t, p, path, variant(t, "login_trap_third", "bad"))
	if p.Info().SHA256 == good {
		t.Fatal("a change of the file was not tried")
	}
	logins(h, 20)
	if p.Info().SHA256 != good || p.Stats().Rollbacks.Load() != 2 {
		t.Fatalf("second bad swap: serving %s, rollbacks %d", short(p.Info().SHA256), p.Stats().Rollbacks.Load())
	}
	// A fixed file stays.
	swapTo(t, p, path, variant(t, "login_continue", "fixed"))
	fixed := p.Info().SHA256
	if n := logins(h, 250); n != 0 || p.Info().SHA256 != fixed || p.Info().Watch != nil {
		t.Fatalf("fixed version: %d failures, serving %s, watch %+v", n, short(p.Info().SHA256), p.Info().Watch)
	}
}

// TestPlugin_safeSwap_window: the watch ends after its time even without
// calls, and a swap during a watch keeps the last version that passed as
// the one to swap back to.
func TestPlugin_safeSwap_window(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	path := filepath.Join(t.TempDir(), "p.wasm")
	if err := os.WriteFile(path, variant(t, "login_continue", "v1"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Name: "p", Path: path, RegressionWatch: RegressionWatch{For: 300 * time.Millisecond}}
	if err := h.Load(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	p := h.Plugin("p")
	v1 := p.Info().SHA256
	swapTo(t, p, path, variant(t, "login_continue", "v2"))
	swapTo(t, p, path, variant(t, "login_trap_third", "v3"))
	if w := p.Info().Watch; w == nil || w.PrevSHA256 != v1 {
		t.Fatalf("watch after two swaps = %+v, want previous %s", w, short(v1))
	}
	logins(h, 9)
	if p.Info().SHA256 != v1 {
		t.Fatalf("serving %s, want v1 %s", short(p.Info().SHA256), short(v1))
	}
	swapTo(t, p, path, variant(t, "login_continue", "v4"))
	deadline := time.Now().Add(10 * time.Second)
	for p.Info().Watch != nil {
		if time.Now().After(deadline) {
			t.Fatal("the watch did not end after its 300ms")
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func short(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

// TestPlugin_safeSwap_concurrent: callers in parallel while a bad version
// is swapped in: exactly one rollback, the good version serves after it,
// and every call after the rollback succeeds (run with -race).
func TestPlugin_safeSwap_concurrent(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	path := filepath.Join(t.TempDir(), "p.wasm")
	if err := os.WriteFile(path, variant(t, "login_continue", "good"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.Load(context.Background(), []Spec{{Name: "p", Path: path, Limits: Limits{Instances: 4}}}); err != nil {
		t.Fatal(err)
	}
	p := h.Plugin("p")
	good := p.Info().SHA256
	stop := make(chan struct{})
	errs := make(chan int, 8)
	for range 8 {
		go func() {
			n := 0
			for {
				select {
				case <-stop:
					errs <- n
					return
				default:
				}
				logins(h, 1)
				n++
			}
		}()
	}
	time.Sleep(20 * time.Millisecond)
	swapTo(t, p, path, variant(t, "login_trap_third", "bad"))
	deadline := time.Now().Add(10 * time.Second)
	for p.Info().SHA256 != good {
		if time.Now().After(deadline) {
			t.Fatal("no rollback under load")
		}
		time.Sleep(time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond) // calls that pinned the bad version drain
	if n := logins(h, 50); n != 0 {
		t.Errorf("%d logins failed after the rollback", n)
	}
	close(stop)
	for range 8 {
		<-errs
	}
	if n := p.Stats().Rollbacks.Load(); n != 1 {
		t.Errorf("rollbacks = %d, want 1", n)
	}
}

// TestPlugin_safeSwap_specChange: a configuration change of a plugin whose
// file was rolled back does not serve that file: the Load fails and the
// previous version keeps serving; once the file is fixed the new spec
// loads.
func TestPlugin_safeSwap_specChange(t *testing.T) {
	h, _ := newTestHost(t, Options{})
	path := filepath.Join(t.TempDir(), "p.wasm")
	if err := os.WriteFile(path, variant(t, "login_continue", "good"), 0o600); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Name: "p", Path: path}
	if err := h.Load(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	p := h.Plugin("p")
	good := p.Info().SHA256
	swapTo(t, p, path, variant(t, "login_trap_third", "bad"))
	logins(h, 9)
	if p.Info().SHA256 != good {
		t.Fatal("not rolled back")
	}
	spec.Config = []byte(`{"changed":true}`)
	err := h.Load(context.Background(), []Spec{spec})
	if err == nil || !strings.Contains(err.Error(), "is the version rolled back after a regression") {
		t.Fatalf("Load with a new spec over the rolled-back file: %v", err)
	}
	if h.Plugin("p") != p || p.Info().SHA256 != good {
		t.Fatal("the previous version does not serve after the refused Load")
	}
	if n := logins(h, 10); n != 0 {
		t.Fatalf("%d logins failed", n)
	}
	if err := os.WriteFile(path, variant(t, "login_continue", "fixed"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := h.Load(context.Background(), []Spec{spec}); err != nil {
		t.Fatal(err)
	}
	if h.Plugin("p") == p || logins(h, 10) != 0 {
		t.Fatal("the fixed file with the new spec does not serve")
	}
}

func TestSwapWatch_regressed(t *testing.T) {
	tests := []struct {
		name                    string
		prevCalls, prevFailures int64
		calls, failures         int64
		want                    bool
	}{
		{"two failures are never enough", 100, 0, 2, 2, false},
		{"three against none", 100, 0, 9, 3, true},
		{"a previous version that never ran", 0, 0, 3, 3, true},
		{"the same rate", 300, 100, 9, 3, false},
		{"twice the rate is not more than twice", 100, 10, 100, 20, false},
		{"more than twice", 100, 10, 100, 21, true},
		{"a long life and a large watch do not overflow", 1 << 40, 1 << 20, 1 << 31, 1 << 30, true},
		{"a long clean life", 1 << 50, 0, 1 << 30, 3, true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			w := &swapWatch{prevCalls: tc.prevCalls, prevFailures: tc.prevFailures}
			if got := w.regressed(tc.calls, tc.failures); got != tc.want {
				t.Errorf("regressed(%d calls, %d failures) after %d/%d = %v", tc.calls, tc.failures, tc.prevFailures, tc.prevCalls, got)
			}
		})
	}
}
