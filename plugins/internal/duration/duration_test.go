package duration

import (
	"encoding/json"
	"testing"
	"time"
)

func TestParse(t *testing.T) {
	tests := []struct {
		in   string
		want time.Duration
		err  string
	}{
		{`"1h"`, time.Hour, ""},
		{`"1.5ms"`, 1500 * time.Microsecond, ""},
		{`"0"`, 0, ""},
		{`"-1s"`, -time.Second, ""},
		{`"\u0035s"`, 5 * time.Second, ""},
		{`2`, 2 * time.Second, ""},
		{`2.5`, 2500 * time.Millisecond, ""},
		{`-0`, 0, ""},
		{`-1`, -time.Second, ""},
		{`-0.0000000001`, 0, ""},
		{`1e-400`, 0, ""},
		{`1e9`, 1e9 * time.Second, ""},
		{`1000000000.0000001`, 0, `1000000000.0000001 is not a duration; write it like "1h" or a number of seconds`},
		{`1e400`, 0, `1e400 is not a duration; write it like "1h" or a number of seconds`},
		{`"soon"`, 0, `"soon" is not a duration; write it like "1h" or "30m"`},
		{`""`, 0, `"" is not a duration; write it like "1h" or "30m"`},
		{`null`, 0, `null is not a duration; write it like "1h" or a number of seconds`},
		{`true`, 0, `true is not a duration; write it like "1h" or a number of seconds`},
		{`{"a":[1]}`, 0, `{"a":[1]} is not a duration; write it like "1h" or a number of seconds`},
		{`"1\ud800s"`, 0, "\"1\ufffds\" is not a duration; write it like \"1h\" or \"30m\""},
	}
	for _, tc := range tests {
		d, err := Parse(json.RawMessage(tc.in), "1h", "30m")
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("Parse(%s) = %v, %v; want error %q", tc.in, d, err, tc.err)
		case tc.err == "" && (err != nil || d != tc.want):
			t.Errorf("Parse(%s) = %v, %v; want %v", tc.in, d, err, tc.want)
		}
	}
}

func TestParseReuse(t *testing.T) {
	tests := []struct {
		in    string // "": the key is absent
		style Style
		want  time.Duration
		err   string
	}{
		{``, WantRange, DefaultReuse, ""},
		{``, IsOutside, DefaultReuse, ""},
		{`"5s"`, WantRange, 5 * time.Second, ""},
		{`0`, IsOutside, 0, ""},
		{`-0.0000000001`, WantRange, 0, ""},
		{`3600`, WantRange, MaxReuse, ""},
		{`"59m60s"`, IsOutside, time.Hour, ""},
		{`"2h"`, WantRange, 0, `reuse "2h": want 0 (no reuse) to 1h`},
		{`"2h"`, IsOutside, 0, `reuse: "2h" is outside 0..1h; 0 turns decision reuse off`},
		{`3600.001`, WantRange, 0, `reuse 3600.001: want 0 (no reuse) to 1h`},
		{`-1e300`, IsOutside, 0, `reuse: -1e300 is outside 0..1h; 0 turns decision reuse off`},
		{`"-1ns"`, WantRange, 0, `reuse "-1ns": want 0 (no reuse) to 1h`},
		{`null`, WantRange, 0, `reuse: null is not a duration; write it like "5s" or a number of seconds`},
		{`"soon"`, IsOutside, 0, `reuse: "soon" is not a duration; write it like "5s" or "500ms"`},
	}
	for _, tc := range tests {
		var raw json.RawMessage
		if tc.in != "" {
			raw = json.RawMessage(tc.in)
		}
		d, err := ParseReuse(raw, "5s", "500ms", tc.style)
		switch {
		case tc.err != "" && (err == nil || err.Error() != tc.err):
			t.Errorf("ParseReuse(%s, %d) = %v, %v; want error %q", tc.in, tc.style, d, err, tc.err)
		case tc.err == "" && (err != nil || d != tc.want):
			t.Errorf("ParseReuse(%s, %d) = %v, %v; want %v", tc.in, tc.style, d, err, tc.want)
		}
	}
}

func TestCheckReuse(t *testing.T) {
	for _, d := range []time.Duration{0, time.Nanosecond, MaxReuse} {
		if err := CheckReuse(d, []byte("x"), IsOutside); err != nil {
			t.Errorf("CheckReuse(%v): %v", d, err)
		}
	}
	for _, d := range []time.Duration{-time.Nanosecond, MaxReuse + time.Nanosecond} {
		if err := CheckReuse(d, []byte("x"), IsOutside); err == nil {
			t.Errorf("CheckReuse(%v) = nil, want a refusal", d)
		}
	}
}
