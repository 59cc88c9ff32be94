package postern

import (
	"strings"
	"testing"
	"time"

	"github.com/postern/postern/abi"
)

// fakeRead serves value through the ABI's "buf, limit -> len" contract and
// counts its calls; grow makes the value longer after the first call, as
// a value that changes between the probe and the read.
type fakeRead struct {
	value string
	grow  int
	calls int
}

func (f *fakeRead) read(buf []byte) int32 {
	f.calls++
	v := f.value
	if f.calls == 1 {
		f.value += strings.Repeat("y", f.grow)
	}
	copy(buf, v)
	return int32(len(v))
}

func TestAppendRead(t *testing.T) {
	tests := []struct {
		name      string
		dst       []byte
		value     string
		grow      int
		wantCalls int
	}{
		{name: "fits", dst: make([]byte, 0, 16), value: "bob", wantCalls: 1},
		{name: "empty value", dst: make([]byte, 0, 16), value: "", wantCalls: 1},
		{name: "exact fit", dst: make([]byte, 0, 3), value: "bob", wantCalls: 1},
		{name: "nil dst probes then reads", dst: nil, value: "bob", wantCalls: 2},
		{name: "larger than buffer", dst: make([]byte, 0, 4), value: strings.Repeat("x", 5000), wantCalls: 2},
		{name: "appends after prefix", dst: append(make([]byte, 0, 8), "pre:"...), value: "a longer value", wantCalls: 2},
		{name: "grows between probe and read", dst: nil, value: "abc", grow: 10, wantCalls: 3},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := &fakeRead{value: tc.value, grow: tc.grow}
			prefix := string(tc.dst)
			got, err := appendRead(tc.dst, f.read)
			if err != nil {
				t.Fatalf("appendRead: %v", err)
			}
			if !strings.HasPrefix(string(got), prefix) || !strings.HasPrefix(string(got)[len(prefix):], tc.value) {
				t.Errorf("got %q, want %q followed by %q", got, prefix, tc.value)
			}
			if tc.grow == 0 && string(got) != prefix+tc.value {
				t.Errorf("got %q, want %q", got, prefix+tc.value)
			}
			if f.calls != tc.wantCalls {
				t.Errorf("host calls = %d, want %d", f.calls, tc.wantCalls)
			}
		})
	}
}

func TestAppendRead_Error(t *testing.T) {
	dst := []byte("keep")
	got, err := appendRead(dst, func([]byte) int32 { return int32(abi.ErrNotAvailable) })
	if err != abi.ErrNotAvailable {
		t.Fatalf("err = %v, want ErrNotAvailable", err)
	}
	if string(got) != "keep" {
		t.Errorf("dst changed on error: %q", got)
	}
}

func TestReadString_KeepsScratch(t *testing.T) {
	before := cap(scratch)
	f := &fakeRead{value: strings.Repeat("z", before+100)}
	if _, err := readString(f.read); err != nil {
		t.Fatal(err)
	}
	if cap(scratch) < before+100 {
		t.Errorf("scratch not kept after growing: cap %d", cap(scratch))
	}
	big := &fakeRead{value: strings.Repeat("z", keepScratch+1)}
	if _, err := readString(big.read); err != nil {
		t.Fatal(err)
	}
	if cap(scratch) > keepScratch {
		t.Errorf("scratch kept a %d-byte buffer, over %d", cap(scratch), keepScratch)
	}
}

func TestMillis(t *testing.T) {
	tests := []struct {
		in   string
		want int64
	}{
		{"0s", 0}, {"1ns", 1}, {"1ms", 1}, {"1.5ms", 2}, {"2s", 2000}, {"1000h", 1<<31 - 1},
	}
	for _, tc := range tests {
		d, _ := parseDuration(tc.in)
		if got := millis(d); got != tc.want {
			t.Errorf("millis(%s) = %d, want %d", tc.in, got, tc.want)
		}
	}
}

func parseDuration(s string) (time.Duration, error) { return time.ParseDuration(s) }

// The bench guest relies on the read path and error results not
// allocating once buffers have grown.
func TestReadPath_NoAllocs(t *testing.T) {
	value := []byte("bob@example.com")
	read := func(buf []byte) int32 { copy(buf, value); return int32(len(value)) }
	dst := make([]byte, 0, 64)
	var sink error
	allocs := testing.AllocsPerRun(100, func() {
		dst, _ = appendRead(dst[:0], read)
		sink = status(int32(abi.ErrNotFound))
	})
	if allocs != 0 {
		t.Errorf("%v allocations per read, want 0", allocs)
	}
	if sink != abi.ErrNotFound || errOf(-99) != abi.Err(-99) {
		t.Errorf("errOf wrong: %v", sink)
	}
}
