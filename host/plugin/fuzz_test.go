package plugin

import (
	"net/http"
	"testing"

	"github.com/postern/postern/abi"
)

// FuzzSetField feeds arbitrary bytes to every writable field, as a guest
// can: no input may panic, and a refused write must leave the field as it
// was.
func FuzzSetField(f *testing.F) {
	for _, seed := range []string{"", "10.0.0.1:143", "10.0.0.1:143\x00[::1]:993", "a:b", ":143", "x:0", "300000", "1",
		"/home/bob", "308", "http://x/", "bad\r\nline", "\x00", "[::1]:70000"} {
		f.Add(int32(abi.FieldUpstreams), []byte(seed))
	}
	f.Fuzz(func(t *testing.T, id int32, v []byte) {
		fl := Fields{HTTP: &HTTPFields{Header: http.Header{}}}
		before := fl.snapshot()
		e := fl.setField(abi.Field(id), v)
		if e != 0 {
			after := fl.snapshot()
			if len(after.Upstreams) != len(before.Upstreams) || after.Message != before.Message || after.Delay != before.Delay ||
				after.HTTP.Path != before.HTTP.Path || after.HTTP.RedirectCode != before.HTTP.RedirectCode {
				t.Fatalf("refused write (%d) changed the fields", e)
			}
			return
		}
		// Accepted values read back as they were written (for text fields)
		// and re-encode without error.
		if _, e := fl.appendField(nil, abi.Field(id)); e != 0 && e != abi.ErrNotAvailable {
			t.Fatalf("accepted field %d reads back with %d", id, e)
		}
	})
}

// FuzzParseHeaderBlock checks the http_call header parser never panics
// and never yields a header with CR or LF in it.
func FuzzParseHeaderBlock(f *testing.F) {
	for _, seed := range []string{"", "X-A: 1\r\n", "X-A: 1\nX-B: 2\n", "bad", "X: a\r\n b\r\n", ": x\r\n", "X-A:\r\n\r\nbody"} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := parseHeaderBlock(b)
		if err != nil {
			return
		}
		for k, vs := range h {
			for _, v := range append([]string{k}, vs...) {
				for i := 0; i < len(v); i++ {
					if v[i] == '\r' || v[i] == '\n' {
						t.Fatalf("header %q=%q holds CR/LF", k, vs)
					}
				}
			}
		}
	})
}
