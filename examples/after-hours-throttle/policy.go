package main

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Limit is one period's limit: at most Limit logins per account per
// Window; 0 is unlimited.
type Limit struct {
	Limit   int
	Window  time.Duration
	Message string
}

// Policy is a parsed configuration.
type Policy struct {
	day, night      Limit
	from, to        int // minutes after midnight: night is [from, to), wrapping midnight
	weekendsAtNight bool
	zone            *time.Location
}

type limitConfig struct {
	Limit   int    `json:"limit"`
	Window  string `json:"window"`
	Message string `json:"message"`
}

type config struct {
	Day      limitConfig `json:"day"`
	Night    limitConfig `json:"night"`
	From     string      `json:"night_from"`
	To       string      `json:"night_to"`
	UTC      string      `json:"utc_offset"`
	Weekends *bool       `json:"weekends_are_night"`
}

// ParseConfig parses and checks the plugin's configuration.
func ParseConfig(b []byte) (*Policy, error) {
	c := config{From: "20:00", To: "07:00", UTC: "+00:00"}
	if len(b) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("after-hours-throttle: config: %v", err)
		}
	}
	p := &Policy{weekendsAtNight: c.Weekends == nil || *c.Weekends}
	var err error
	if p.day, err = parseLimit("day", c.Day); err != nil {
		return nil, err
	}
	if p.night, err = parseLimit("night", c.Night); err != nil {
		return nil, err
	}
	if p.from, err = clock("night_from", c.From); err != nil {
		return nil, err
	}
	if p.to, err = clock("night_to", c.To); err != nil {
		return nil, err
	}
	// A fixed offset: the wasm guest has no time zone database, and an
	// operator's "night" rarely needs daylight-saving precision.
	off, err := offset(c.UTC)
	if err != nil {
		return nil, err
	}
	p.zone = time.FixedZone(c.UTC, off)
	return p, nil
}

func parseLimit(name string, c limitConfig) (Limit, error) {
	l := Limit{Limit: c.Limit, Window: time.Minute, Message: c.Message}
	if c.Limit < 0 {
		return l, fmt.Errorf("after-hours-throttle: config.%s.limit %d: must be 0 (unlimited) or more", name, c.Limit)
	}
	if c.Window != "" {
		d, err := time.ParseDuration(c.Window)
		if err != nil || d < time.Second || d > 24*time.Hour {
			return l, fmt.Errorf("after-hours-throttle: config.%s.window %q: want a duration from 1s to 24h", name, c.Window)
		}
		l.Window = d.Truncate(time.Second)
	}
	if l.Message == "" {
		l.Message = "too many logins, try again later"
	}
	if strings.ContainsAny(l.Message, "\r\n") {
		return l, fmt.Errorf("after-hours-throttle: config.%s.message must be one line", name)
	}
	return l, nil
}

func clock(name, s string) (int, error) {
	t, err := time.Parse("15:04", s)
	if err != nil {
		return 0, fmt.Errorf("after-hours-throttle: config.%s %q: want HH:MM", name, s)
	}
	return t.Hour()*60 + t.Minute(), nil
}

func offset(s string) (int, error) {
	t, err := time.Parse("-07:00", s)
	if err != nil {
		return 0, fmt.Errorf("after-hours-throttle: config.utc_offset %q: want ±HH:MM", s)
	}
	_, off := t.Zone()
	return off, nil
}

// At returns the period ("day" or "night") at t and its limit.
func (p *Policy) At(t time.Time) (string, Limit) {
	t = t.In(p.zone)
	if p.weekendsAtNight && (t.Weekday() == time.Saturday || t.Weekday() == time.Sunday) {
		return "night", p.night
	}
	m := t.Hour()*60 + t.Minute()
	night := m >= p.from || m < p.to
	if p.from < p.to { // a night that does not wrap midnight
		night = m >= p.from && m < p.to
	}
	if night {
		return "night", p.night
	}
	return "day", p.day
}

// Key is the counter of account in the window holding t. The window's
// start is part of the key so that a new period or window starts a new
// count; accounts with bytes memcached refuses are hashed.
func Key(period string, window time.Duration, t time.Time, account string) string {
	start := t.Unix() / int64(window/time.Second)
	id := account
	if id == "" || len(id) > 180 || strings.IndexFunc(id, func(r rune) bool { return r <= ' ' || r == 0x7f }) >= 0 {
		sum := sha256.Sum256([]byte(account))
		id = "sha256:" + hex.EncodeToString(sum[:])
	}
	return "after-hours:" + period + ":" + strconv.FormatInt(start, 10) + ":" + id
}
