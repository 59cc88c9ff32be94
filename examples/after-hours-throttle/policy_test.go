package main

import (
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/sdktest"
)

const testConfig = `{
  "day":   {"limit": 20, "window": "1m"},
  "night": {"limit": 3, "window": "10m", "message": "logins are limited outside office hours"},
  "night_from": "19:30", "night_to": "07:00",
  "utc_offset": "+02:00"
}`

// at returns a time in the test config's zone (UTC+2).
func at(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04 -07:00", s+" +02:00")
	if err != nil {
		panic(err)
	}
	return t
}

func TestPolicy_At(t *testing.T) {
	p, err := ParseConfig([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct{ when, want string }{
		{"2026-03-04 12:00", "day"},   // Wednesday noon
		{"2026-03-04 07:00", "day"},   // night ends at 07:00
		{"2026-03-04 06:59", "night"}, // ... not before
		{"2026-03-04 19:29", "day"},
		{"2026-03-04 19:30", "night"},
		{"2026-03-04 23:59", "night"},
		{"2026-03-07 12:00", "night"}, // Saturday
		{"2026-03-08 12:00", "night"}, // Sunday
	}
	for _, tc := range tests {
		t.Run(tc.when, func(t *testing.T) {
			if got, _ := p.At(at(tc.when)); got != tc.want {
				t.Errorf("At(%s) = %s; want %s", tc.when, got, tc.want)
			}
		})
	}
	// The offset matters: 18:00 UTC is 20:00 at +02:00.
	if got, _ := p.At(time.Date(2026, 3, 4, 18, 0, 0, 0, time.UTC)); got != "night" {
		t.Errorf("18:00 UTC = %s; want night at +02:00", got)
	}
}

func TestPolicy_daytimeNight(t *testing.T) {
	p, err := ParseConfig([]byte(`{"night_from":"12:00","night_to":"13:00","weekends_are_night":false}`))
	if err != nil {
		t.Fatal(err)
	}
	for when, want := range map[string]string{"2026-03-07 12:30": "night", "2026-03-07 13:00": "day", "2026-03-07 02:00": "day"} {
		if got, _ := p.At(at(when).Add(2 * time.Hour)); got != want { // the config is UTC
			t.Errorf("At(%s +02:00) = %s; want %s", when, got, want)
		}
	}
}

func TestKey(t *testing.T) {
	tm := time.Unix(600, 0)
	if got := Key("night", 10*time.Minute, tm, "bob@example.com"); got != "after-hours:night:1:bob@example.com" {
		t.Errorf("Key = %q", got)
	}
	if got := Key("day", time.Minute, tm, "a b"); !strings.HasPrefix(got, "after-hours:day:10:sha256:") {
		t.Errorf("a login with a space: Key = %q; want it hashed", got)
	}
}

func TestParseConfig_errors(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"negative limit", `{"day":{"limit":-1}}`, "config.day.limit"},
		{"bad window", `{"night":{"window":"forever"}}`, "config.night.window"},
		{"window too long", `{"night":{"window":"48h"}}`, "config.night.window"},
		{"bad clock", `{"night_from":"7pm"}`, "config.night_from"},
		{"bad offset", `{"utc_offset":"CET"}`, "config.utc_offset"},
		{"two-line message", `{"day":{"message":"a\nb"}}`, "one line"},
		{"unknown key", `{"evening":{}}`, "unknown field"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want it to contain %q", err, tc.want)
			}
		})
	}
}

// TestHook_native moves sdktest's clock, which is the plugin's clock.
func TestHook_native(t *testing.T) {
	h := sdktest.New(t)
	h.Config = []byte(testConfig)
	h.Fields[abi.FieldLogin] = "bob@example.com"
	h.Now = at("2026-03-04 22:00") // Wednesday night: 3 per 10 minutes
	for i := 1; i <= 3; i++ {
		if v := h.CallHook(abi.HookThrottle); v != abi.VerdictContinue {
			t.Fatalf("night login %d: verdict %v; want continue", i, v)
		}
	}
	if v := h.CallHook(abi.HookThrottle); v != abi.VerdictRefuse || h.Fields[abi.FieldMessage] != "logins are limited outside office hours" {
		t.Fatalf("4th night login: verdict %v message %q; want refuse", v, h.Fields[abi.FieldMessage])
	}
	h.Now = at("2026-03-05 09:00") // Thursday morning: 20 per minute, a new counter
	for i := 1; i <= 20; i++ {
		if v := h.CallHook(abi.HookThrottle); v != abi.VerdictContinue {
			t.Fatalf("day login %d: verdict %v", i, v)
		}
	}
	if v := h.CallHook(abi.HookThrottle); v != abi.VerdictRefuse || h.Fields[abi.FieldMessage] != "too many logins, try again later" {
		t.Errorf("21st day login: verdict %v message %q", v, h.Fields[abi.FieldMessage])
	}
	if h.Counters["refused_night"] != 1 || h.Counters["refused_day"] != 1 {
		t.Errorf("counters %v", h.Counters)
	}
	h.KVDown = true
	if v := h.CallHook(abi.HookThrottle); v != abi.VerdictContinue {
		t.Errorf("store down: verdict %v; want continue (fail open)", v)
	}
}
