package confdecode

import (
	"bytes"
	"net/netip"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"
)

// node parses src into its root node.
func node(t testing.TB, src string) *yaml.Node {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Content[0]
}

// sample is a section with one key of each kind the Decoder decodes.
type sample struct {
	Name    string
	On      bool
	Count   int64
	Wait    time.Duration
	Bytes   int64
	Mode    string
	Nets    []netip.Prefix
	Limit   int
	Exempt  []netip.Prefix
	Map     map[string]string
	Items   []string
	Payload string
}

func (s *sample) decode(d *Decoder, n *yaml.Node, path string) {
	d.Mapping(n, path,
		Key("name", func(n *yaml.Node, p string) { d.Str(n, p, &s.Name) }),
		Key("on", func(n *yaml.Node, p string) { d.Bool(n, p, &s.On) }),
		Key("count", func(n *yaml.Node, p string) { d.Int(n, p, 1, 10, func(v int64) { s.Count = v }) }),
		Key("wait", func(n *yaml.Node, p string) { d.Duration(n, p, &s.Wait) }),
		Key("bytes", func(n *yaml.Node, p string) { d.Size(n, p, 1<<20, func(v int64) { s.Bytes = v }) }),
		Key("mode", func(n *yaml.Node, p string) { d.OneOf(n, p, &s.Mode, "fast", "slow") }),
		Key("nets", func(n *yaml.Node, p string) { s.Nets = d.Prefixes(n, p) }),
		Key("limit", func(n *yaml.Node, p string) { d.ConnLimit(n, p, &s.Limit) }),
		Key("exempt", func(n *yaml.Node, p string) { s.Exempt = d.Exempt(n, p) }),
		Key("map", func(n *yaml.Node, p string) { s.Map = d.StringMap(n, p, "a: b") }),
		Key("items", func(n *yaml.Node, p string) {
			d.Sequence(n, p, "names", func(n *yaml.Node, p string) {
				var v string
				if d.Str(n, p, &v) {
					s.Items = append(s.Items, v)
				}
			})
		}),
		Key("payload", func(n *yaml.Node, p string) {
			var b bytes.Buffer
			d.JSON(n, p, &b)
			s.Payload = b.String()
		}),
	)
}

func TestDecoder_good(t *testing.T) {
	d := New("", "")
	var s sample
	s.decode(d, node(t, `
name: x
on: true
count: 3
wait: 1m30s
bytes: 64KiB
mode: slow
nets: [10.0.0.0/8]
limit: 0
exempt: []
map: {a: b, c: ""}
items: [p, q]
payload: {k: [1, 2.5, null, true, "s"], z: {}}
`), "sec")
	if err := d.Err(); err != nil {
		t.Fatal(err)
	}
	if s.Name != "x" || !s.On || s.Count != 3 || s.Wait != 90*time.Second || s.Bytes != 64<<10 || s.Mode != "slow" ||
		len(s.Nets) != 1 || s.Limit != -1 || s.Exempt == nil || len(s.Exempt) != 0 ||
		s.Map["c"] != "" || len(s.Map) != 2 || strings.Join(s.Items, ",") != "p,q" ||
		s.Payload != `{"k":[1,2.5,null,true,"s"],"z":{}}` {
		t.Errorf("%+v", s)
	}
}

func TestDecoder_errors(t *testing.T) {
	tests := []struct{ name, yaml, want string }{
		{"unknown near", "nam: x", "line 1: sec.nam: unknown key (did you mean name?)"},
		{"unknown far", "zzzzzz: x", "sec.zzzzzz: unknown key; known keys: name, on, count,"},
		{"duplicate", "name: a\nname: b", "line 2: sec.name: duplicate key (first at line 1): remove one"},
		{"null", "name:", "sec.name: no value: give one or remove the key for the default"},
		{"not a mapping", "[1]", "sec: want a mapping of keys (name, on,"},
		{"key not a string", "1: x", "sec: a key must be a string, not the integer 1"},
		{"string wanted", "name: 5", "sec.name: want a string, got the integer 5: quote it"},
		{"bool", "on: maybe", `sec.on: want true or false, got the string "maybe"`},
		{"int range", "count: 11", "sec.count: 11: want an integer from 1 to 10"},
		{"duration unit", "wait: 5", "sec.wait: 5: a duration needs a unit: write e.g. 5ms or 5s"},
		{"duration text", "wait: soon", `sec.wait: "soon" is not a duration`},
		{"duration negative", "wait: -1s", "sec.wait: -1s: must be positive"},
		{"size unit", "bytes: 2MB", "(did you mean 2MiB?)"},
		{"size range", "bytes: 2GiB", "sec.bytes: 2GiB: want 1 to 1048576 bytes"},
		{"one of", "mode: warp", `sec.mode: "warp": want one of [fast slow]`},
		{"prefix", "nets: [10.0.0.1]", `sec.nets[0]: "10.0.0.1": want a CIDR prefix`},
		{"list", "items: p", `sec.items: want a list of names, got the string "p"`},
		{"limit", "limit: -1", "sec.limit: -1: want an integer from 0 to 10000000"},
		{"string map", "map: [a]", "sec.map: want a mapping of a: b, got a list"},
		{"json key", "payload: {1: x}", "sec.payload: plugin config keys must be strings, not the integer 1: quote it"},
		{"json inf", "payload: .inf", "sec.payload: .inf: JSON has no such number"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := New("", "")
			var s sample
			s.decode(d, node(t, tc.yaml), "sec")
			if err := d.Err(); err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("err %v, want %q", err, tc.want)
			}
			if d.Errors() != 1 {
				t.Errorf("%d errors, want 1: %v", d.Errors(), d.Err())
			}
		})
	}
}

func TestDecoder_where(t *testing.T) {
	d := New("/etc/postern.yaml", "/etc")
	d.Errorf(&yaml.Node{Line: 3}, "a.b", "bad %d", 1)
	d.Errorf(nil, "", "no line")
	d.ErrorAt(7, "c", "late")
	want := "/etc/postern.yaml:3: a.b: bad 1\n/etc/postern.yaml: no line\n/etc/postern.yaml:7: c: late"
	if got := d.Err().Error(); got != want {
		t.Errorf("got\n%s\nwant\n%s", got, want)
	}
	if d.File() != "/etc/postern.yaml" || d.Path("k.pem") != "/etc/k.pem" || d.Path("/k.pem") != "/k.pem" {
		t.Errorf("File %q, Path %q %q", d.File(), d.Path("k.pem"), d.Path("/k.pem"))
	}
	if p := New("", "").Path("k.pem"); p != "k.pem" {
		t.Errorf("Path without dir: %q", p)
	}
	if (&Decoder{}).Err() != nil {
		t.Error("no errors, yet Err is not nil")
	}
}

func TestDecoder_maxErrors(t *testing.T) {
	d := New("", "")
	for i := 0; i < 3*MaxErrors; i++ {
		d.Errorf(nil, "", "e%d", i)
	}
	if d.Errors() != MaxErrors+1 || !strings.HasSuffix(d.Err().Error(), "too many errors; fix the ones above first") {
		t.Errorf("%d errors: %v", d.Errors(), d.Err())
	}
}

func TestDecoder_aliasBudget(t *testing.T) {
	// Each level doubles the nodes: 2^20 > MaxNodes.
	var b strings.Builder
	b.WriteString("a0: &a0 [x, x]\n")
	for i := 1; i <= 20; i++ {
		b.WriteString("a" + strconv.Itoa(i) + ": &a" + strconv.Itoa(i) + " [*a" + strconv.Itoa(i-1) + ", *a" + strconv.Itoa(i-1) + "]\n")
	}
	b.WriteString("payload: *a20\n")
	d := New("", "")
	var buf bytes.Buffer
	d.JSON(node(t, b.String()), "", &buf)
	if err := d.Err(); err == nil || !strings.Contains(err.Error(), "YAML nodes after expanding aliases") {
		t.Fatalf("err %v", err)
	}
}

func TestDecoder_Syntax(t *testing.T) {
	d := New("f.yaml", "")
	var n yaml.Node
	d.Syntax(yaml.Unmarshal([]byte("a: [\n"), &n))
	if err := d.Err(); err == nil || !strings.HasPrefix(err.Error(), "f.yaml:") || !strings.Contains(err.Error(), "YAML syntax: ") {
		t.Errorf("err %v", err)
	}
}

func TestLineDeref(t *testing.T) {
	n := node(t, "a: &x 1\nb: *x\n")
	alias := n.Content[3]
	if Deref(alias) != n.Content[1] || Line(alias) != 1 || Line(nil) != 0 {
		t.Errorf("Deref/Line on an alias: %v %d", Deref(alias), Line(alias))
	}
	d := New("", "")
	if !d.IsNull(node(t, "a: ~").Content[1]) || d.IsNull(n.Content[1]) {
		t.Error("IsNull")
	}
}

func TestParseSize(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		err  bool
	}{
		{"0", 0, false}, {"65536", 65536, false}, {"64KiB", 64 << 10, false}, {"32 MiB", 32 << 20, false},
		{"1GiB", 1 << 30, false}, {"12B", 12, false}, {"32MB", 0, true}, {"-1", 0, true}, {"KiB", 0, true},
		{"99999999999GiB", 0, true}, {"1.5MiB", 0, true},
	}
	for _, tc := range tests {
		got, err := ParseSize(tc.in)
		if (err != nil) != tc.err || got != tc.want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d, error %v", tc.in, got, err, tc.want, tc.err)
		}
	}
}

func TestEditDistance(t *testing.T) {
	tests := []struct {
		a, b string
		want int
	}{{"", "", 0}, {"abc", "abc", 0}, {"adress", "address", 1}, {"kitten", "sitting", 3}, {strings.Repeat("a", 65), "a", 64}}
	for _, tc := range tests {
		if got := EditDistance(tc.a, tc.b); got != tc.want {
			t.Errorf("EditDistance(%q, %q) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
