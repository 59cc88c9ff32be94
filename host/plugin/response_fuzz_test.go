package plugin

import (
	"net/http"
	"strings"
	"testing"

	"github.com/postern/postern/abi"
)

// FuzzSetRespHeader writes arbitrary keys and values to response_header,
// as a guest can in the response hook: no panic; a refused write leaves
// the headers as they were; an accepted one reads back as written (a
// Set-Cookie list item by item) and puts no CR or LF in any header.
func FuzzSetRespHeader(f *testing.F) {
	for _, seed := range [][2]string{{"Location", "https://x/"}, {"Set-Cookie", "a=1\x00b=2; Path=/"}, {"set-cookie", "a=1\x00"},
		{"X-A", "a\x00b"}, {"X A", "1"}, {"Set-Cookie", "\x00"}, {"X-B", "a\r\nb"}} {
		f.Add(seed[0], seed[1], false)
	}
	f.Add("Server", "", true)
	f.Fuzz(func(t *testing.T, key, val string, del bool) {
		fl := Fields{HTTP: &HTTPFields{Status: 302, RespHeader: http.Header{"Server": {"x"}, "Set-Cookie": {"s=1; Expires=Wed, 21 Oct 2026 07:28:00 GMT"}}}}
		before := fl.HTTP.RespHeader.Clone()
		e := fl.setKey(abi.FieldResponseHeader, key, val, del)
		h := fl.HTTP.RespHeader
		if e != 0 {
			if len(h) != len(before) || strings.Join(h["Server"], "|") != strings.Join(before["Server"], "|") ||
				strings.Join(h["Set-Cookie"], "|") != strings.Join(before["Set-Cookie"], "|") {
				t.Fatalf("refused write (%d) changed the headers: %q", e, h)
			}
			return
		}
		for k, vs := range h {
			for _, v := range append([]string{k}, vs...) {
				if strings.ContainsAny(v, "\r\n") {
					t.Fatalf("header %q=%q holds CR/LF", k, vs)
				}
			}
		}
		got, ge := fl.getKey(abi.FieldResponseHeader, key)
		switch {
		case del && ge != abi.ErrNotFound:
			t.Fatalf("deleted %q reads back %q, %d", key, got, ge)
		case !del && (ge != 0 || got != val):
			t.Fatalf("wrote %q=%q, reads back %q, %d", key, val, got, ge)
		}
	})
}
