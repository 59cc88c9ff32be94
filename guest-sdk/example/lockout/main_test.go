package main

import (
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/sdktest"
)

// TestLockout is the README's test, verbatim.
func TestLockout(t *testing.T) {
	h := sdktest.New(t) // installs the fake host until the test ends
	h.Fields[abi.FieldAccount] = "bob@example.com"
	h.KV["fail:bob@example.com"] = sdktest.Item{Value: []byte("5")}
	if v := h.CallHook(abi.HookThrottle); v != abi.VerdictRefuse {
		t.Fatalf("verdict = %v, want refuse", v)
	}
	if got := h.Fields[abi.FieldMessage]; got == "" {
		t.Error("refused without a message")
	}
}

func TestLockout_CountsFailures(t *testing.T) {
	h := sdktest.New(t)
	h.Fields[abi.FieldAccount] = "eve"
	for i := 0; i < 5; i++ {
		if v := h.CallHook(abi.HookThrottle); v != abi.VerdictContinue {
			t.Fatalf("attempt %d: verdict = %v, want continue", i+1, v)
		}
		h.FireEvent(abi.EventLoginFailed)
	}
	if v := h.CallHook(abi.HookThrottle); v != abi.VerdictRefuse {
		t.Fatalf("after 5 failures: verdict = %v, want refuse", v)
	}
	h.Advance(10 * time.Minute)
	if v := h.CallHook(abi.HookThrottle); v != abi.VerdictContinue {
		t.Fatalf("after the window: verdict = %v, want continue", v)
	}
	h.KVDown = true
	if v := h.CallHook(abi.HookThrottle); v != abi.VerdictContinue {
		t.Fatalf("store down: verdict = %v, want continue (fail open)", v)
	}
}
