package plugin

import (
	"net/http"
	"testing"

	"github.com/postern/postern/abi"
)

// TestRespHeader_framing: the headers that frame the response on the
// client's connection are readable and never writable (a wrong
// Content-Length would cut or hang the response).
func TestRespHeader_framing(t *testing.T) {
	fl := Fields{HTTP: &HTTPFields{Status: 200, RespHeader: http.Header{"Content-Length": {"5"}, "X-A": {"1"}}}}
	for _, tc := range []struct {
		key, val string
		del      bool
		want     abi.Err
	}{
		{"content-length", "9", false, abi.ErrReadOnly},
		{"Content-Length", "", true, abi.ErrReadOnly},
		{"Transfer-Encoding", "chunked", false, abi.ErrReadOnly},
		{"Connection", "close", false, abi.ErrReadOnly},
		{"upgrade", "", true, abi.ErrReadOnly},
		{"X-A", "2", false, 0},
		{"X-A", "", true, 0},
		{"X-A", "", true, abi.ErrNotFound},
	} {
		if e := fl.setKey(abi.FieldResponseHeader, tc.key, tc.val, tc.del); e != tc.want {
			t.Errorf("%s %q (delete %v) = %d; want %d", tc.key, tc.val, tc.del, e, tc.want)
		}
	}
	if v, e := fl.getKey(abi.FieldResponseHeader, "content-length"); v != "5" || e != 0 {
		t.Errorf("Content-Length reads %q, %d", v, e)
	}
}
