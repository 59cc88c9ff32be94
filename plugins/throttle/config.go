package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/plugins/internal/duration"
)

// Zimbra's defaults (zimbraReverseProxyIPLoginLimitTime,
// zimbraReverseProxyIpThrottleMsg, ...).
const (
	defaultWindow      = time.Hour
	defaultIPMessage   = "Login rejected from this IP"
	defaultUserMessage = "Login rejected for this user"
	maxWindow          = 30 * 24 * time.Hour // memcached's longest relative TTL
)

// rawConfig is the configuration as the operator writes it (JSON).
type rawConfig struct {
	IP        rawIP    `json:"ip"`
	User      rawUser  `json:"user"`
	Allowlist []string `json:"allowlist"`
	Delay     rawDur   `json:"delay"`
	Reuse     rawDur   `json:"reuse"`
}

type rawIP struct {
	Limit     int64            `json:"limit"`
	Window    rawDur           `json:"window"`
	SoftLimit int64            `json:"soft_limit"`
	Message   *string          `json:"message"`
	Protocols map[string]int64 `json:"protocols"`
}

type rawUser struct {
	Limit     int64   `json:"limit"`
	Window    rawDur  `json:"window"`
	SoftLimit int64   `json:"soft_limit"`
	Message   *string `json:"message"`
	Count     string  `json:"count"`
	Key       string  `json:"key"`
}

// rawDur keeps a duration's JSON text so that parsing errors can name the
// key: a number is seconds, a string is a Go duration ("90s", "1h").
type rawDur json.RawMessage

// UnmarshalJSON keeps the raw value; settings.parse interprets it.
func (d *rawDur) UnmarshalJSON(b []byte) error {
	*d = append((*d)[:0], b...)
	return nil
}

// parse returns def when the key was not given.
func (d rawDur) parse(key string, def time.Duration) (time.Duration, error) {
	b := bytes.TrimSpace(d)
	if len(b) == 0 || string(b) == "null" {
		return def, nil
	}
	if b[0] == '"' {
		var s string
		if err := json.Unmarshal(b, &s); err != nil {
			return 0, fmt.Errorf("%s: %w", key, err)
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return 0, fmt.Errorf("%s: %q is not a duration; write seconds (60) or a Go duration (\"1m\")", key, s)
		}
		return v, nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil || n > int64(maxWindow/time.Second) || n < -int64(maxWindow/time.Second) {
		return 0, fmt.Errorf("%s: %s is not a whole number of seconds; write seconds (60) or a Go duration (\"1m\")", key, b)
	}
	return time.Duration(n) * time.Second, nil
}

// counter is the setting of one of the two counters.
type counter struct {
	limit   uint64        // refuse above it; 0 = unlimited
	soft    uint64        // delay above it; 0 = never
	window  time.Duration // TTL of the key, set by whoever creates it
	message string
}

// active reports whether the counter needs counting at all.
func (c counter) active() bool { return c.limit > 0 || c.soft > 0 }

// settings is the checked configuration of one instance.
type settings struct {
	ip       counter
	perProto map[string]uint64 // protocol name -> IP limit overriding ip.limit
	user     counter
	// userEveryAttempt moves the user counter on every attempt of a
	// session, not only on its first ("count": "attempt").
	userEveryAttempt bool
	// userByAccount keys the user counter by the account field instead of
	// the login ("key": "account").
	userByAccount bool
	allow         []netip.Prefix
	delay         time.Duration
	// reuse is the decision reuse init declares (postern.ReuseDecisions):
	// for this long the host may reuse an allowed web request's outcome
	// for the same credentials from the same client without counting it.
	reuse time.Duration
}

// protocols are the protocol names a per-protocol IP limit may name.
var protocols = []string{"imap", "pop3", "http"}

// parseConfig decodes and checks the plugin configuration. Errors name the
// key at fault, prefixed with "throttle: config: ".
func parseConfig(b []byte) (*settings, error) {
	s, err := parse(b)
	if err != nil {
		return nil, fmt.Errorf("throttle: config: %w", err)
	}
	return s, nil
}

func parse(b []byte) (*settings, error) {
	var rc rawConfig
	if len(bytes.TrimSpace(b)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&rc); err != nil {
			return nil, jsonError(err)
		}
		if dec.More() {
			return nil, errors.New("trailing data after the JSON object")
		}
	}
	s := &settings{}
	var err error
	if s.ip, err = rc.IP.counter(); err != nil {
		return nil, err
	}
	if s.user, err = rc.User.counter(); err != nil {
		return nil, err
	}
	for name, n := range rc.IP.Protocols {
		if !isProtocol(name) {
			return nil, fmt.Errorf("ip.protocols: unknown protocol %q; use %s", name, strings.Join(protocols, ", "))
		}
		if n < 0 {
			return nil, fmt.Errorf("ip.protocols.%s: %d is negative; 0 means unlimited", name, n)
		}
		if s.perProto == nil {
			s.perProto = map[string]uint64{}
		}
		s.perProto[name] = uint64(n)
	}
	switch rc.User.Count {
	case "", "login":
	case "attempt":
		s.userEveryAttempt = true
	default:
		return nil, fmt.Errorf("user.count: %q: want \"login\" (first attempt of a session) or \"attempt\" (every attempt)", rc.User.Count)
	}
	switch rc.User.Key {
	case "", "login":
	case "account":
		s.userByAccount = true
	default:
		return nil, fmt.Errorf("user.key: %q: want \"login\" or \"account\"", rc.User.Key)
	}
	for i, a := range rc.Allowlist {
		p, err := parsePrefix(a)
		if err != nil {
			return nil, fmt.Errorf("allowlist[%d]: %q is not an IP address or CIDR (192.0.2.0/24, 2001:db8::/32)", i, a)
		}
		s.allow = append(s.allow, p)
	}
	if s.delay, err = rc.Delay.parse("delay", 0); err != nil {
		return nil, err
	}
	if s.delay < 0 || s.delay > abi.MaxDelayMS*time.Millisecond {
		return nil, fmt.Errorf("delay: %v is outside 0..%v", s.delay, abi.MaxDelayMS*time.Millisecond)
	}
	soft := s.ip.soft > 0 || s.user.soft > 0
	if soft && s.delay == 0 {
		return nil, errors.New("delay: a soft_limit is set but delay is 0; give the delay (\"2s\") to apply above the soft limit")
	}
	if !soft && s.delay > 0 {
		return nil, errors.New("delay: set without ip.soft_limit or user.soft_limit; give a soft limit or remove delay")
	}
	if s.reuse, err = parseReuse(rc.Reuse); err != nil {
		return nil, err
	}
	return s, nil
}

// parseReuse reads "reuse" like the other durations (whole seconds, or a
// Go duration; rawDur.parse, not duration.Parse), and on purpose unlike
// the other plugins' reuse: duration.DefaultReuse when absent or null
// (the same credentials from the same client count once per 5 s of page
// loads), 0 (no reuse) to duration.MaxReuse. The message quotes the value
// as written.
func parseReuse(raw rawDur) (time.Duration, error) {
	d, err := raw.parse("reuse", duration.DefaultReuse)
	if err != nil {
		return 0, err
	}
	if err := duration.CheckReuse(d, bytes.TrimSpace(raw), duration.IsOutside); err != nil {
		return 0, err
	}
	return d, nil
}

func (r rawIP) counter() (counter, error) {
	return makeCounter("ip", r.Limit, r.SoftLimit, r.Window, r.Message, defaultIPMessage)
}

func (r rawUser) counter() (counter, error) {
	return makeCounter("user", r.Limit, r.SoftLimit, r.Window, r.Message, defaultUserMessage)
}

func makeCounter(name string, limit, soft int64, window rawDur, msg *string, defMsg string) (counter, error) {
	c := counter{message: defMsg}
	if limit < 0 {
		return c, fmt.Errorf("%s.limit: %d is negative; 0 means unlimited", name, limit)
	}
	if soft < 0 {
		return c, fmt.Errorf("%s.soft_limit: %d is negative; 0 means no delay", name, soft)
	}
	if limit > 0 && soft >= limit {
		return c, fmt.Errorf("%s.soft_limit: %d is not below %s.limit %d; a soft limit delays logins before the limit refuses them", name, soft, name, limit)
	}
	c.limit, c.soft = uint64(limit), uint64(soft)
	var err error
	if c.window, err = window.parse(name+".window", defaultWindow); err != nil {
		return c, err
	}
	if c.window < time.Second || c.window > maxWindow {
		return c, fmt.Errorf("%s.window: %v is outside 1s..720h", name, c.window)
	}
	if c.window%time.Second != 0 {
		return c, fmt.Errorf("%s.window: %v is not whole seconds (memcached TTLs are seconds)", name, c.window)
	}
	if msg != nil {
		if *msg == "" || strings.ContainsAny(*msg, "\r\n") {
			return c, fmt.Errorf("%s.message: must be one non-empty line", name)
		}
		c.message = *msg
	}
	return c, nil
}

func isProtocol(name string) bool {
	for _, p := range protocols {
		if p == name {
			return true
		}
	}
	return false
}

// parsePrefix accepts a CIDR or a bare address (a one-address prefix).
func parsePrefix(s string) (netip.Prefix, error) {
	if strings.Contains(s, "/") {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			return p, err
		}
		if p.Addr().Zone() != "" {
			return p, errors.New("zone")
		}
		bits := p.Bits() - unmapBits(p.Addr())
		if bits < 0 {
			return p, errors.New("an IPv4-mapped prefix shorter than /96")
		}
		return netip.PrefixFrom(p.Addr().Unmap(), bits).Masked(), nil
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, err
	}
	if a.Zone() != "" {
		return netip.Prefix{}, errors.New("zone")
	}
	a = a.Unmap()
	return netip.PrefixFrom(a, a.BitLen()), nil
}

// unmapBits is the 96 bits an IPv4-mapped IPv6 prefix loses when written
// as IPv4 (the host hands the plugin IPv4-mapped clients as IPv4).
func unmapBits(a netip.Addr) int {
	if a.Is4In6() {
		return 96
	}
	return 0
}

// jsonError turns encoding/json's errors into ones that name the key.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Errorf("the configuration must be a JSON object, got JSON %s", te.Value)
		}
		return fmt.Errorf("%s: want %s, got JSON %s", te.Field, kind(te.Type.Kind().String()), te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("not valid JSON at byte %d: %v", se.Offset, err)
	}
	return err
}

func kind(k string) string {
	switch k {
	case "int64", "uint64", "int":
		return "a whole number"
	case "string", "ptr":
		return "a string"
	case "map", "struct":
		return "an object"
	case "slice":
		return "a list"
	}
	return k
}
