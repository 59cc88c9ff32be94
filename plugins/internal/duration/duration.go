// Package duration reads the durations of the bundled plugins'
// configurations and their decision reuse (the "reuse" key, ABI 1.2,
// ABI.md "Decision reuse"), for login-normaliser, route-cache,
// route-lookup and throttle. Their C ports carry the same rules
// (duration.h in this folder, included by plugins/*/c/plugin.c); change
// them together.
//
// A duration is Go duration text ("1h", "500ms") or a JSON number of
// seconds (Parse). throttle reads its durations its own way (whole
// seconds only, null meaning the default) and uses only CheckReuse and
// DeclareReuse from here.
package duration

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
)

// DefaultReuse is the decision reuse a plugin declares when "reuse" is
// not given; MaxReuse is the longest the ABI allows (abi.MaxReuseMS).
const (
	DefaultReuse = 5 * time.Second
	MaxReuse     = abi.MaxReuseMS * time.Millisecond
)

// Parse reads b (a JSON value as written) as Go duration text or a
// number of seconds up to 1e9. A number is converted as
// time.Duration(f * 1e9), so it may come out negative; callers check the
// range. The errors suggest text and text2 (e.g. "1h" and "30m"):
//
//	"soon" is not a duration; write it like "1h" or "30m"
//	true is not a duration; write it like "1h" or a number of seconds
func Parse(b json.RawMessage, text, text2 string) (time.Duration, error) {
	if len(b) > 0 && b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%q is not a duration; write it like %q or %q", s, text, text2)
		}
		return v, nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || f > 1e9 {
		return 0, fmt.Errorf("%s is not a duration; write it like %q or a number of seconds", b, text)
	}
	return time.Duration(f * float64(time.Second)), nil
}

// Style is the wording of the refusal of a reuse outside 0..MaxReuse.
// The plugins word it as their other range errors; the C ports word it
// alike.
type Style int

const (
	// WantRange: `reuse "2h": want 0 (no reuse) to 1h` (route-cache,
	// route-lookup, as their other keys' refusals).
	WantRange Style = iota
	// IsOutside: `reuse: "2h" is outside 0..1h; 0 turns decision reuse
	// off` (login-normaliser, throttle).
	IsOutside
)

// CheckReuse returns nil when d is a decision reuse the ABI allows (0 to
// MaxReuse), else the refusal in style s, quoting raw (the value as
// written).
func CheckReuse(d time.Duration, raw []byte, s Style) error {
	if d >= 0 && d <= MaxReuse {
		return nil
	}
	if s == IsOutside {
		return fmt.Errorf("reuse: %s is outside 0..1h; 0 turns decision reuse off", raw)
	}
	return fmt.Errorf("reuse %s: want 0 (no reuse) to 1h", raw)
}

// ParseReuse reads a "reuse" value: DefaultReuse when b is nil (the key
// is absent), else Parse (the errors prefixed "reuse: ") and CheckReuse
// in style s. A JSON null is given, and refused as not a duration.
func ParseReuse(b json.RawMessage, text, text2 string, s Style) (time.Duration, error) {
	if b == nil {
		return DefaultReuse, nil
	}
	d, err := Parse(b, text, text2)
	if err != nil {
		return 0, fmt.Errorf("reuse: %v", err)
	}
	if err := CheckReuse(d, b, s); err != nil {
		return 0, err
	}
	return d, nil
}

// DeclareReuse declares the configured decision reuse d in init
// (postern.ReuseDecisions). A host before ABI 1.2 answers
// abi.ErrUnknownField and reuses nothing, which is always correct; any
// other error refuses the configuration, in plugin's name:
//
//	route-cache: config: reuse: the host refused a reuse of 5000ms: ...
func DeclareReuse(plugin string, d time.Duration) error {
	if err := postern.ReuseDecisions(d); err != nil && !errors.Is(err, abi.ErrUnknownField) {
		return fmt.Errorf("%s: config: reuse: the host refused a reuse of %dms: %w", plugin, d.Milliseconds(), err)
	}
	return nil
}
