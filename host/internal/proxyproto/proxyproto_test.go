package proxyproto

import (
	"bufio"
	"bytes"
	"net/netip"
	"strings"
	"testing"
)

func TestRead(t *testing.T) {
	v4 := AppendV2(nil, netip.MustParseAddrPort("192.0.2.7:5555"), netip.MustParseAddrPort("198.51.100.1:143"))
	v6 := AppendV2(nil, netip.MustParseAddrPort("[2001:db8::7]:5555"), netip.MustParseAddrPort("[2001:db8::1]:993"))
	local := append(append([]byte{}, sigV2...), 0x20, 0x00, 0, 0)
	tests := []struct {
		name string
		in   []byte
		want Header
		err  string
	}{
		{"v1 tcp4", []byte("PROXY TCP4 192.0.2.7 198.51.100.1 5555 143\r\nrest"), Header{Source: netip.MustParseAddrPort("192.0.2.7:5555"), Dest: netip.MustParseAddrPort("198.51.100.1:143")}, ""},
		{"v1 tcp6", []byte("PROXY TCP6 2001:db8::7 2001:db8::1 5555 993\r\n"), Header{Source: netip.MustParseAddrPort("[2001:db8::7]:5555"), Dest: netip.MustParseAddrPort("[2001:db8::1]:993")}, ""},
		{"v1 unknown", []byte("PROXY UNKNOWN\r\n"), Header{Local: true}, ""},
		{"v1 family mismatch", []byte("PROXY TCP4 2001:db8::7 192.0.2.1 1 2\r\n"), Header{}, "malformed"},
		{"v1 no crlf", []byte("PROXY TCP4 " + strings.Repeat("1", 120)), Header{}, "107"},
		{"v2 ipv4", append(v4, "rest"...), Header{Source: netip.MustParseAddrPort("192.0.2.7:5555"), Dest: netip.MustParseAddrPort("198.51.100.1:143")}, ""},
		{"v2 ipv6", v6, Header{Source: netip.MustParseAddrPort("[2001:db8::7]:5555"), Dest: netip.MustParseAddrPort("[2001:db8::1]:993")}, ""},
		{"v2 local", local, Header{Local: true}, ""},
		{"not proxy", []byte("a1 LOGIN bob pw\r\n"), Header{}, "no PROXY header"},
		{"v2 truncated", v4[:20], Header{}, "EOF"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r := bufio.NewReader(bytes.NewReader(tc.in))
			h, err := Read(r)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				return
			}
			if err != nil || h != tc.want {
				t.Fatalf("%+v %v, want %+v", h, err, tc.want)
			}
			if rest, _ := r.Peek(4); len(rest) > 0 && string(rest) != "rest" {
				t.Errorf("the header consumed payload bytes: %q", rest)
			}
		})
	}
}

func FuzzRead(f *testing.F) {
	f.Add([]byte("PROXY TCP4 1.2.3.4 5.6.7.8 1 2\r\n"))
	f.Add(AppendV2(nil, netip.MustParseAddrPort("1.2.3.4:1"), netip.MustParseAddrPort("5.6.7.8:2")))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := Read(bufio.NewReader(bytes.NewReader(b)))
		if err == nil && !h.Local && !h.Source.IsValid() {
			t.Fatalf("accepted a header without a source: %+v", h)
		}
	})
}
