package csdk_test

import (
	"bufio"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// checker compiles testdata/helpers_check.c natively (the helpers are
// plain C) and returns a function that sends it one request line.
func checker(t testing.TB) func(t testing.TB, kind string, data []byte) string {
	t.Helper()
	cc, err := exec.LookPath("cc")
	if err != nil {
		if cc, err = exec.LookPath("clang"); err != nil {
			t.Skip("no C compiler")
		}
	}
	bin := filepath.Join(t.TempDir(), "check")
	if out, err := exec.Command(cc, "-O1", "-Wall", "-Werror", "-o", bin, "testdata/helpers_check.c").CombinedOutput(); err != nil {
		t.Fatalf("building the C helpers: %v\n%s", err, out)
	}
	cmd := exec.Command(bin)
	in, _ := cmd.StdinPipe()
	outp, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { in.Close(); cmd.Wait() })
	r := bufio.NewReaderSize(outp, 1<<20)
	return func(t testing.TB, kind string, data []byte) string {
		fmt.Fprintf(in, "%s %s\n", kind, hex.EncodeToString(data))
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(line)
	}
}

// goUTF8 replaces each byte of s that is not valid UTF-8 with U+FFFD, as
// encoding/json does.
func goUTF8(s string) string {
	var b strings.Builder
	for _, r := range s {
		b.WriteRune(r) // a bad byte ranges as one utf8.RuneError
	}
	return b.String()
}

func TestSHA256_matchesGo(t *testing.T) {
	check := checker(t)
	for _, n := range []int{0, 1, 3, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 1000} {
		data := make([]byte, n)
		for i := range data {
			data[i] = byte(i*7 + n)
		}
		want := sha256.Sum256(data)
		if got := check(t, "sha", data); got != hex.EncodeToString(want[:]) {
			t.Errorf("sha256 of %d bytes: C %s, Go %x", n, got, want)
		}
	}
}

// goStrings lists the strings of a JSON document in document order (keys
// and values), as the C walker prints them, or ok=false when Go refuses it.
func goStrings(doc string) (out []string, ok bool) {
	if !json.Valid([]byte(doc)) {
		return nil, false
	}
	d := json.NewDecoder(strings.NewReader(doc))
	for {
		tok, err := d.Token()
		if err != nil {
			break
		}
		if s, ok := tok.(string); ok {
			out = append(out, s)
		}
	}
	return out, true
}

func FuzzJSON_matchesGo(f *testing.F) {
	for _, s := range []string{
		`{}`, `[]`, `{"a":1,"b":[true,false,null,"x"]}`, `{"ttl":"1h","ssl_protocols":true}`,
		`"\u00e9\ud83d\ude00\n\t\\\/"`, `{"a":}`, `[1,]`, `{"a" 1}`, `01`, `-0.5e+3`, `1.`, `"\x"`,
		`{"a":"b"} x`, "\"\x01\"", `{"k":"\ud800"}`, `  [ 1 , 2 ]  `, `tru`, `nul`, `[[[[[]]]]]`,
	} {
		f.Add(s)
	}
	check := checker(f)
	f.Fuzz(func(t *testing.T, doc string) {
		if strings.ContainsRune(doc, '\n') || len(doc) > 4000 || strings.Count(doc, "[")+strings.Count(doc, "{") > 30 {
			return // one request per line; within the node and depth limits
		}
		got := check(t, "json", []byte(doc))
		want, ok := goStrings(doc)
		if !ok {
			if got != "err" {
				t.Fatalf("%q: Go refuses it, C says %s", doc, got)
			}
			return
		}
		if got == "err" {
			t.Fatalf("%q: Go accepts it, C refuses it", doc)
		}
		fields := strings.Fields(strings.TrimPrefix(got, "ok"))
		if len(fields) != len(want) {
			t.Fatalf("%q: C strings %v, Go %q", doc, fields, want)
		}
		for i, w := range want {
			g := fields[i]
			if g == "-" {
				g = ""
			}
			b, _ := hex.DecodeString(g)
			// Invalid UTF-8 passes through C as it is; Go decodes it as U+FFFD.
			if goUTF8(string(b)) != w {
				t.Errorf("%q: string %d: C %q, Go %q", doc, i, b, w)
			}
		}
	})
}
