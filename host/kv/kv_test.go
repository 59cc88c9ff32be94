package kv

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/postern/postern/host/internal/testenv"
)

func TestMain(m *testing.M) { testenv.Main(m) }

func TestValidKey(t *testing.T) {
	tests := []struct {
		name string
		key  string
		ok   bool
	}{
		{"simple", "route:proto=imap;user=alice@example.com", true},
		{"throttle", "throttle:proto=i,ip=192.0.2.7", true},
		{"utf8", "user=jöhn", true},
		{"max", strings.Repeat("a", 250), true},
		{"empty", "", false},
		{"too long", strings.Repeat("a", 251), false},
		{"space", "a b", false},
		{"control", "a\x01", false},
		{"del", "\x7f", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := ValidKey(tc.key)
			if (err == nil) != tc.ok {
				t.Fatalf("ValidKey(%q) = %v, want ok=%v", tc.key, err, tc.ok)
			}
			if err != nil && !errors.Is(err, ErrInvalidKey) {
				t.Fatalf("ValidKey error %v does not wrap ErrInvalidKey", err)
			}
		})
	}
}

// FuzzValidKey checks ValidKey against memcached's rule, written out plainly.
func FuzzValidKey(f *testing.F) {
	for _, s := range []string{"", "a", "a b", "\x00", "\x7f", "é", strings.Repeat("x", 251)} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, key string) {
		want := len(key) >= 1 && len(key) <= 250
		for _, c := range []byte(key) {
			if c <= 32 || c == 127 {
				want = false
			}
		}
		if got := ValidKey(key) == nil; got != want {
			t.Fatalf("ValidKey(%q) ok = %v, want %v", key, got, want)
		}
	})
}

func TestParseCounter(t *testing.T) {
	tests := []struct {
		in   string
		want uint64
		ok   bool
	}{
		{"0", 0, true},
		{"42", 42, true},
		{"42  ", 42, true}, // memcached pads a shrunk number with spaces
		{"18446744073709551615", 1<<64 - 1, true},
		{"18446744073709551616", 0, false},
		{"", 0, false},
		{"  ", 0, false},
		{" 1", 0, false},
		{"+1", 0, false},
		{"-1", 0, false},
		{"1a", 0, false},
		{"1 2", 0, false},
	}
	for _, tc := range tests {
		t.Run(strconv.Quote(tc.in), func(t *testing.T) {
			got, ok := parseCounter([]byte(tc.in))
			if ok != tc.ok || got != tc.want {
				t.Fatalf("parseCounter(%q) = %d, %v; want %d, %v", tc.in, got, ok, tc.want, tc.ok)
			}
		})
	}
}

// FuzzParseCounter checks that a parsed counter formats back to its digits.
func FuzzParseCounter(f *testing.F) {
	for _, s := range []string{"0", "42 ", "18446744073709551615", "-1", "0x10", ""} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		n, ok := parseCounter(in)
		if !ok {
			return
		}
		digits := strings.TrimRight(string(in), " ")
		if strings.TrimLeft(strconv.FormatUint(n, 10), "0") != strings.TrimLeft(digits, "0") {
			t.Fatalf("parseCounter(%q) = %d", in, n)
		}
	})
}
