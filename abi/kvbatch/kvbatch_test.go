package kvbatch

import (
	"bytes"
	"testing"

	"github.com/postern/postern/abi"
)

func TestRoundTrip(t *testing.T) {
	in := []Op{
		{Code: OpGet, Key: []byte("route:user=a")},
		{Code: OpIncr, Key: []byte("throttle:ip=1"), Delta: 1},
		{Code: OpDecr, Key: []byte("n"), Delta: 1 << 40},
		{Code: OpAdd, Key: []byte("k"), TTL: 60, Value: []byte("1")},
		{Code: OpSet, Key: []byte("v"), Value: nil},
		{Code: OpDelete, Key: []byte("d")},
	}
	var req []byte
	for _, op := range in {
		req = AppendOp(req, op)
	}
	got, e := Parse(req, nil)
	if e != 0 || len(got) != len(in) {
		t.Fatalf("Parse = %d ops, %v", len(got), e)
	}
	for i := range in {
		a, b := in[i], got[i]
		if a.Code != b.Code || !bytes.Equal(a.Key, b.Key) || a.TTL != b.TTL || !bytes.Equal(a.Value, b.Value) || a.Delta != b.Delta {
			t.Errorf("op %d: %+v, want %+v", i, b, a)
		}
	}
}

func TestParseRefuses(t *testing.T) {
	long := bytes.Repeat([]byte("k"), abi.MaxKeyBytes+1)
	many := []byte{}
	for range MaxOps + 1 {
		many = AppendOp(many, Op{Code: OpGet, Key: []byte("k")})
	}
	for _, tc := range []struct {
		name string
		req  []byte
		want abi.Err
	}{
		{"empty", nil, abi.ErrInvalid},
		{"unknown op", []byte{9, 1, 'k'}, abi.ErrInvalid},
		{"empty key", []byte{OpGet, 0}, abi.ErrInvalid},
		{"key cut", []byte{OpGet, 5, 'k'}, abi.ErrInvalid},
		{"key too long", append([]byte{OpGet, 251}, long...), abi.ErrInvalid},
		{"delta cut", []byte{OpIncr, 1, 'k', 1, 0}, abi.ErrInvalid},
		{"negative ttl", AppendOp(nil, Op{Code: OpSet, Key: []byte("k"), TTL: -1}), abi.ErrInvalid},
		{"value cut", []byte{OpSet, 1, 'k', 0, 0, 0, 0, 9, 0, 0, 0, 'v'}, abi.ErrInvalid},
		{"value too large", []byte{OpSet, 1, 'k', 0, 0, 0, 0, 0, 0, 0x20, 0}, abi.ErrTooLarge},
		{"too many", many, abi.ErrInvalid},
		{"trailing byte", append(AppendOp(nil, Op{Code: OpGet, Key: []byte("k")}), 1), abi.ErrInvalid},
	} {
		if _, e := Parse(tc.req, nil); e != tc.want {
			t.Errorf("%s: Parse = %v, want %v", tc.name, e, tc.want)
		}
	}
}

func TestResponse(t *testing.T) {
	resp := AppendResults(nil, []int64{3, int64(abi.ErrNotFound), 7, 2})
	resp = append(resp, "abcxy"...)
	codes := []uint8{OpGet, OpGet, OpIncr, OpGet}
	r := NewResponse(resp, 4)
	want := []struct {
		r  int64
		v  string
		ok bool
	}{{3, "abc", true}, {int64(abi.ErrNotFound), "", true}, {7, "", true}, {2, "xy", true}}
	for i, w := range want {
		res, v, ok := r.Next(codes[i])
		if res != w.r || string(v) != w.v || ok != w.ok {
			t.Errorf("op %d = %d %q %v, want %d %q %v", i, res, v, ok, w.r, w.v, w.ok)
		}
	}
	// Cut after the first value: the later value is lost, results are not.
	r = NewResponse(resp[:32+4], 4)
	r.Next(OpGet)
	r.Next(OpGet)
	if res, _, ok := r.Next(OpIncr); !ok || res != 7 {
		t.Errorf("incr after a cut = %d %v, want 7 true", res, ok)
	}
	if _, _, ok := r.Next(OpGet); ok {
		t.Errorf("a cut value reads as whole")
	}
}

func FuzzParse(f *testing.F) {
	f.Add(AppendOp(AppendOp(nil, Op{Code: OpGet, Key: []byte("a")}), Op{Code: OpSet, Key: []byte("b"), Value: []byte("v"), TTL: 5}))
	f.Add([]byte{OpIncr, 1, 'k', 1, 0, 0, 0, 0, 0, 0, 0})
	f.Fuzz(func(t *testing.T, req []byte) {
		ops, e := Parse(req, nil)
		if e != 0 {
			return
		}
		var again []byte
		for _, op := range ops {
			again = AppendOp(again, op)
		}
		if !bytes.Equal(again, req) {
			t.Fatalf("re-encoding %x gives %x", req, again)
		}
	})
}

func FuzzResponse(f *testing.F) {
	f.Add(append(AppendResults(nil, []int64{3, -5}), "abc"...), uint8(2))
	f.Fuzz(func(t *testing.T, resp []byte, n uint8) {
		r := NewResponse(resp, int(n%17))
		for i := 0; i < int(n%17)+1; i++ {
			r.Next(uint8(i%6 + 1))
		}
	})
}
