package confdecode

import (
	"bytes"
	"testing"

	"go.yaml.in/yaml/v3"
)

// FuzzDecoder decodes any YAML document as the sample section and as
// free-form JSON: nothing may panic, and an error-free run must have
// decoded to valid values.
func FuzzDecoder(f *testing.F) {
	for _, s := range []string{
		"name: x\non: true\ncount: 3\nwait: 1s\nbytes: 1KiB\nmode: fast\n",
		"nets: [10.0.0.0/8]\nlimit: 0\nexempt: []\nmap: {a: b}\nitems: [p]\n",
		"payload: {a: [1, 2.5, ~, true, !!binary aGk=, 2001-12-14]}\n",
		"a: &a [x, x]\nb: &b [*a, *a]\npayload: *b\n",
		"nam: x\nname: 1\nname: 2\n", "[1, 2]", "~", "bytes: 32MB\nwait: 5\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var doc yaml.Node
		if yaml.Unmarshal(data, &doc) != nil || len(doc.Content) == 0 {
			return
		}
		d := New("f.yaml", "/etc")
		var s sample
		s.decode(d, doc.Content[0], "")
		var b bytes.Buffer
		d.JSON(doc.Content[0], "", &b)
		if d.Err() != nil {
			return
		}
		if s.Count != 0 && (s.Count < 1 || s.Count > 10) || s.Wait < 0 || s.Bytes < 0 || s.Bytes > 1<<20 {
			t.Fatalf("accepted out-of-range values: %+v", s)
		}
		if s.Mode != "" && s.Mode != "fast" && s.Mode != "slow" {
			t.Fatalf("accepted mode %q", s.Mode)
		}
	})
}

// FuzzParseSize: ParseSize never panics and never returns a negative size.
func FuzzParseSize(f *testing.F) {
	for _, s := range []string{"0", "64KiB", "32 MiB", "32MB", "1.5GiB", "99999999999GiB", "kib", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if v, err := ParseSize(s); err == nil && v < 0 {
			t.Fatalf("ParseSize(%q) = %d", s, v)
		}
	})
}
