package rust_test

import (
	"bytes"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/postern/postern/abi"
)

// genPath is the Rust SDK's copy of package abi's numbers and access table.
const genPath = "src/abi.rs"

// TestGenerated_abiFresh checks that src/abi.rs says what package abi says:
// field numbers, limits, phases and the access table. With POSTERN_UPDATE=1
// it rewrites the file instead (after an ABI addition).
func TestGenerated_abiFresh(t *testing.T) {
	want := genABI()
	got, err := os.ReadFile(genPath)
	if os.Getenv("POSTERN_UPDATE") == "1" {
		if err := os.WriteFile(genPath, want, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from package abi; regenerate it with\n\tPOSTERN_UPDATE=1 go test ./guest-sdk/rust -run TestGenerated", genPath)
	}
}

func genABI() []byte {
	var b bytes.Buffer
	p := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	p("// Code generated from abi/abi.go by guest-sdk/rust/gen_test.go; DO NOT EDIT.\n")
	p("// Regenerate: POSTERN_UPDATE=1 go test ./guest-sdk/rust -run TestGenerated\n\n")
	p("/// The ABI version this SDK implements, packed as `postern_abi_version` returns it.\n")
	p("pub const ABI_VERSION: i32 = 0x%04x_%04x;\n\n", abi.VersionMajor, abi.VersionMinor)
	p("/// ABI limits (ABI.md \"Limits\").\n")
	p("pub mod limits {\n")
	for _, l := range []struct {
		name string
		v    int
		doc  string
	}{
		{"MAX_FIELD_BYTES", abi.MaxFieldBytes, "One field value."},
		{"MAX_KEY_BYTES", abi.MaxKeyBytes, "A key-value key."},
		{"MAX_KV_VALUE_BYTES", abi.MaxKVValueBytes, "A key-value value."},
		{"MAX_LOG_BYTES", abi.MaxLogBytes, "One log line; longer lines are cut."},
		{"MAX_HTTP_BODY", abi.MaxHTTPBody, "An http_call request body."},
		{"MAX_DELAY_MS", abi.MaxDelayMS, "The largest delay_ms."},
		{"MAX_KEY_NAME_BYTES", abi.MaxKeyNameBytes, "The key of a keyed field (a header name)."},
		{"MAX_RETRIES", abi.MaxRetries, "Retry verdicts per plugin per hook call."},
		{"MAX_REUSE_MS", abi.MaxReuseMS, "The largest reuse_ms: one hour (ABI 1.2)."},
	} {
		p("    /// %s\n    pub const %s: usize = %d;\n", l.doc, l.name, l.v)
	}
	p("}\n\n")
	p("/// Field numbers (ABI.md \"Fields\").\n")
	p("pub mod field {\n")
	for f := abi.Field(1); f <= abi.FieldMax; f++ {
		kind := "plain"
		if f.Keyed() {
			kind = "keyed: use get_key, set_key, delete_key"
		}
		p("    /// `%s` (%d, %s).\n    pub const %s: i32 = %d;\n", f, f, kind, strings.ToUpper(f.String()), f)
	}
	p("    /// The highest field number this SDK knows.\n    pub const MAX: i32 = %d;\n", abi.FieldMax)
	p("}\n\n")
	p("/// Phases for the access table: init (0), the hooks, then the events (10 + event).\n")
	p("pub mod phase {\n")
	p("    /// postern_init.\n    pub const INIT: i32 = 0;\n")
	for _, h := range abi.Hooks {
		p("    /// The %s hook (`%s`).\n    pub const %s: i32 = %d;\n", h, h.Export(), strings.ToUpper(h.String()), h)
	}
	for _, e := range abi.Events {
		p("    /// The %s event (`%s`).\n    pub const %s: i32 = %d;\n", e, e.Export(), strings.ToUpper(e.String()), 10+int(e))
	}
	p("}\n\n")
	phases := []abi.Phase{abi.PhaseInit}
	for _, h := range abi.Hooks {
		phases = append(phases, abi.Phase(h))
	}
	for _, e := range abi.Events {
		phases = append(phases, abi.Phase(10+int(e)))
	}
	p("/// `ACCESS[i].1[f - 1]` is what phase `ACCESS[i].0` may do with field f:\n")
	p("/// 0 nothing, 1 read, 2 read and write (abi.Access).\n")
	p("#[allow(dead_code)]\npub(crate) const ACCESS: &[(i32, &[u8])] = &[\n")
	for _, ph := range phases {
		p("    (%d, &[", ph)
		for f := abi.Field(1); f <= abi.FieldMax; f++ {
			if f > 1 {
				p(", ")
			}
			p("%d", abi.Access(ph, f))
		}
		p("]),\n")
	}
	p("];\n\n")
	p("/// Whether field f (1-based) is keyed.\n#[allow(dead_code)]\npub(crate) const KEYED: &[i32] = &[")
	first := true
	for f := abi.Field(1); f <= abi.FieldMax; f++ {
		if f.Keyed() {
			if !first {
				p(", ")
			}
			first = false
			p("%d", f)
		}
	}
	p("];\n")
	return b.Bytes()
}
