package abi

import (
	"flag"
	"os"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite ABI.md's access table from abi.Access")

func TestPackVersion(t *testing.T) {
	for _, tc := range []struct{ major, minor uint16 }{{1, 0}, {1, 9}, {2, 0}, {65535, 65535}} {
		v := PackVersion(tc.major, tc.minor)
		if ma, mi := UnpackVersion(v); ma != tc.major || mi != tc.minor {
			t.Errorf("%d.%d -> %#x -> %d.%d", tc.major, tc.minor, v, ma, mi)
		}
	}
	if PackVersion(1, 0) != 0x00010000 {
		t.Errorf("PackVersion(1,0) = %#x; ABI.md's examples say 0x00010000", PackVersion(1, 0))
	}
}

// TestAccess checks the access table's contract: the rules ABI.md states
// in prose, so a change to the table that breaks them fails here.
func TestAccess(t *testing.T) {
	phases := []Phase{PhaseLogin, PhaseThrottle, PhaseRoute, PhaseRewrite, PhaseResponse, PhaseRouteDecided, PhaseLoginFailed}
	for f := Field(1); f <= FieldMax; f++ {
		if !f.Defined() {
			// An unassigned number below FieldMax: unknown to every phase.
			if !strings.HasPrefix(f.String(), "field(") || Access(PhaseInit, f) != None || Access(PhaseResponse, f) != None {
				t.Errorf("unassigned field %d has a name or access", f)
			}
			continue
		}
		if Access(PhaseInit, f) != None && f != FieldMessage && f != FieldPasswordVerified && !f.IsFilter() && f != FieldReuseMS {
			t.Errorf("init may touch %v", f)
		}
		for _, p := range phases {
			m := Access(p, f)
			if (p == PhaseRouteDecided || p == PhaseLoginFailed) && m == Write {
				t.Errorf("event %d may write %v", p, f)
			}
			if (f == FieldPassword || f == FieldOAuthToken) && m != None && p != PhaseLogin && p != PhaseRoute {
				t.Errorf("%v readable in phase %d", f, p)
			}
			if (f == FieldPassword || f == FieldOAuthToken || f == FieldOAuthUser) && m == Write {
				t.Errorf("%v writable in phase %d", f, p)
			}
			if f == FieldUpstreamPass && m != None && p != PhaseRoute {
				t.Errorf("upstream password readable in phase %d", p)
			}
		}
	}
	if Access(PhaseRoute, FieldUpstreams) != Write || Access(PhaseLogin, FieldLogin) != Write || Access(PhaseRewrite, FieldHTTPPath) != Write {
		t.Error("a hook cannot write its own result field")
	}
	for f := FieldOnlyLogin; f <= FieldOnlyMethods; f++ {
		if !f.IsFilter() || Access(PhaseInit, f) != Write {
			t.Errorf("request filter %v not writable in init", f)
		}
		for _, p := range phases {
			if Access(p, f) != None {
				t.Errorf("request filter %v accessible in phase %d; init only", f, p)
			}
		}
	}
	if Access(PhaseLogin, 0) != None || Access(PhaseLogin, FieldMax+1) != None {
		t.Error("unknown fields have access")
	}
}

func TestNames(t *testing.T) {
	for _, h := range Hooks {
		if h.Export() == "" || h.String() == "" {
			t.Errorf("hook %d unnamed", h)
		}
	}
	for _, e := range Events {
		if e.Export() == "" || e.String() == "" {
			t.Errorf("event %d unnamed", e)
		}
	}
	for v := VerdictContinue; v <= VerdictRetry; v++ {
		if strings.HasPrefix(v.String(), "verdict(") {
			t.Errorf("verdict %d unnamed", v)
		}
	}
	for e := ErrTimeout; e <= ErrUnknownField; e++ {
		if strings.HasPrefix(e.Error(), "postern: error ") {
			t.Errorf("error %d unnamed", e)
		}
	}
}

// TestABIMDAccessTable checks that ABI.md's "Access per phase" table has
// one row per field and that each row says what Access says.
func TestABIMDAccessTable(t *testing.T) {
	b, err := os.ReadFile("ABI.md")
	if err != nil {
		t.Fatal(err)
	}
	mode := map[Mode]string{None: "-", Read: "R", Write: "RW"}
	phases := []Phase{PhaseInit, PhaseLogin, PhaseThrottle, PhaseRoute, PhaseRewrite, PhaseResponse, PhaseRouteDecided, PhaseLoginFailed}
	if *update {
		b = rewriteAccessTable(t, b, phases, mode)
		if err := os.WriteFile("ABI.md", b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	rows := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if c := strings.Split(l, " | "); len(c) == len(phases)+2 && strings.HasPrefix(c[1], "`") {
			rows[strings.TrimPrefix(c[0], "| ")] = l
		}
	}
	for f := Field(1); f <= FieldMax; f++ {
		if !f.Defined() {
			continue
		}
		want := "| " + itoa(int64(f)) + " | `" + f.String() + "`"
		if f.Keyed() {
			want += " (keyed)"
		}
		for _, p := range phases {
			want += " | " + mode[Access(p, f)]
		}
		want += " |"
		if got := rows[itoa(int64(f))]; got != want {
			t.Errorf("ABI.md access row of %v:\n got %q\nwant %q", f, got, want)
		}
	}
}

// TestResponseAccess: the response hook's fields exist only in the
// response hook, and the response hook cannot touch the request's
// secrets nor the request it already sent.
func TestResponseAccess(t *testing.T) {
	for _, p := range []Phase{PhaseInit, PhaseLogin, PhaseThrottle, PhaseRoute, PhaseRewrite, PhaseRouteDecided, PhaseLoginFailed} {
		if Access(p, FieldResponseStatus) != None || Access(p, FieldResponseHeader) != None {
			t.Errorf("response fields accessible in phase %d", p)
		}
	}
	for f, want := range map[Field]Mode{
		FieldResponseStatus: Read, FieldResponseHeader: Write, FieldPassword: None, FieldUpstreamPass: None,
		FieldHTTPHeader: Read, FieldHTTPPath: Read, FieldRedirectURL: None, FieldUpstream: Read, FieldUpstreams: Read,
		FieldMessage: Write, FieldLogin: Read,
	} {
		if got := Access(PhaseResponse, f); got != want {
			t.Errorf("Access(response, %v) = %d; want %d", f, got, want)
		}
	}
	if !FieldResponseHeader.Keyed() || FieldResponseStatus.Keyed() {
		t.Error("response_header must be keyed, response_status plain")
	}
	if HookResponse.Export() != ExportHookResponse || HookResponse.String() != "response" {
		t.Error("response hook names")
	}
}

// rewriteAccessTable replaces the table after "Generated from `abi.Access`:"
// with one built from Access (go test ./abi -run ABIMD -update).
func rewriteAccessTable(t *testing.T, doc []byte, phases []Phase, mode map[Mode]string) []byte {
	lines := strings.Split(string(doc), "\n")
	start := -1
	for i, l := range lines {
		if strings.HasSuffix(l, "Generated from `abi.Access`:") {
			start = i + 2
		}
	}
	if start < 0 || start >= len(lines) || !strings.HasPrefix(lines[start], "| # |") {
		t.Fatal("ABI.md: no access table after \"Generated from `abi.Access`:\"")
	}
	end := start
	for end < len(lines) && strings.HasPrefix(lines[end], "|") {
		end++
	}
	names := map[Phase]string{PhaseInit: "init", PhaseRouteDecided: "route_decided", PhaseLoginFailed: "login_failed"}
	head, rule := "| # | field", "|--:|-------"
	for _, p := range phases {
		n, ok := names[p]
		if !ok {
			n = Hook(p).String()
		}
		head += " | " + n
		rule += "|:-:"
	}
	table := []string{head + " |", rule + "|"}
	for f := Field(1); f <= FieldMax; f++ {
		if !f.Defined() {
			continue
		}
		row := "| " + itoa(int64(f)) + " | `" + f.String() + "`"
		if f.Keyed() {
			row += " (keyed)"
		}
		for _, p := range phases {
			row += " | " + mode[Access(p, f)]
		}
		table = append(table, row+" |")
	}
	out := append(append(append([]string{}, lines[:start]...), table...), lines[end:]...)
	return []byte(strings.Join(out, "\n"))
}
