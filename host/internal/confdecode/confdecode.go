// Package confdecode is the strict YAML decoder every section of
// Postern's configuration file is read with. host/config reads the file
// and hands each section's node to the component that owns it (admin,
// mail, web, ...); the component decodes it with a Decoder into its own
// settings type.
//
// Decoding walks the yaml.v3 node tree by hand, so that every error names
// the file, the line and the key path, and unknown keys are errors:
//
//	postern.yaml:12: plugins.chain[1].limits.call_timout: unknown key (did you mean call_timeout?)
//
// A Decoder collects errors instead of stopping at the first (up to
// MaxErrors), and bounds the nodes a file may expand to through aliases
// (MaxNodes). Every method that decodes a value records an error and
// leaves the destination alone when the value is wrong; explicit nulls
// (`key:` alone) are errors except where a method says otherwise.
package confdecode

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"net/netip"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// MaxNodes bounds the YAML nodes one file may expand to, counting every
// alias use, so that a file of nested aliases ("billion laughs") is an
// error rather than an out-of-memory kill.
const MaxNodes = 100000

// MaxErrors is the most errors one parse reports; after that the operator
// is better served fixing the first ones.
const MaxErrors = 20

// MaxConnLimit bounds the connection limits (ConnLimit): more than a
// process can have open is a typo.
const MaxConnLimit = 10_000_000

// Decoder decodes one configuration file. Create it with New; it is not
// safe for concurrent use.
type Decoder struct {
	file  string // for errors; "" when parsing bytes without a file
	dir   string // relative paths are resolved against it ("": left relative)
	errs  []error
	nodes int
}

// New returns a Decoder for the file named file ("" when the bytes come
// from no file: errors then start with "line N:") whose relative paths
// are resolved against dir ("" leaves them relative).
func New(file, dir string) *Decoder {
	return &Decoder{file: file, dir: dir}
}

// Field is one known key of a mapping and what decodes its value. Build
// it with Key.
type Field struct {
	key    string
	decode func(n *yaml.Node, path string)
}

// Key returns the Field for key: decode is called with the key's value
// and its key path ("web.listeners[0].address").
func Key(key string, decode func(n *yaml.Node, path string)) Field {
	return Field{key: key, decode: decode}
}

// Errorf records an error at n's line (n may be nil). path is the key
// path ("plugins.chain[1].limits.call_timeout"); empty for the document.
func (d *Decoder) Errorf(n *yaml.Node, path, format string, args ...any) {
	if len(d.errs) == MaxErrors {
		d.errs = append(d.errs, errors.New("too many errors; fix the ones above first"))
	}
	if len(d.errs) > MaxErrors {
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, fmt.Errorf("%s%w", d.where(line, path), fmt.Errorf(format, args...)))
}

// ErrorAt records an error at a line, for checks made after the node is
// gone (a line kept from an earlier key).
func (d *Decoder) ErrorAt(line int, path, format string, args ...any) {
	d.Errorf(&yaml.Node{Line: line}, path, format, args...)
}

// where formats the error prefix: "file:12: key.path: ".
func (d *Decoder) where(line int, path string) string {
	var b strings.Builder
	if d.file != "" {
		b.WriteString(d.file)
		if line > 0 {
			b.WriteString(":" + strconv.Itoa(line))
		}
	} else if line > 0 {
		b.WriteString("line " + strconv.Itoa(line))
	} else {
		b.WriteString("config")
	}
	b.WriteString(": ")
	if path != "" {
		b.WriteString(path + ": ")
	}
	return b.String()
}

// Err returns the recorded errors joined, or nil.
func (d *Decoder) Err() error { return errors.Join(d.errs...) }

// Errors returns how many errors are recorded so far, so that a section
// can tell whether its own keys decoded cleanly before a check that
// spans them.
func (d *Decoder) Errors() int { return len(d.errs) }

// File returns the file name given to New ("" for bytes).
func (d *Decoder) File() string { return d.file }

// Path resolves a path from the file against the directory given to New,
// as every file path in the configuration is.
func (d *Decoder) Path(p string) string {
	if d.dir == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(d.dir, p)
}

var yamlLineRE = regexp.MustCompile(`^yaml: line (\d+): (.*)$`)

// Syntax records a yaml.v3 parse error with the file name in front.
func (d *Decoder) Syntax(err error) {
	msg := err.Error()
	if m := yamlLineRE.FindStringSubmatch(msg); m != nil {
		line, _ := strconv.Atoi(m[1])
		d.ErrorAt(line, "", "YAML syntax: %s", m[2])
		return
	}
	d.Errorf(nil, "", "YAML syntax: %s", strings.TrimPrefix(msg, "yaml: "))
}

// Resolve follows aliases and counts the node against MaxNodes. It
// returns nil once the budget is spent (the error is recorded once).
func (d *Decoder) Resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.nodes++
	if d.nodes == MaxNodes+1 {
		d.Errorf(n, "", "more than %d YAML nodes after expanding aliases: simplify the file", MaxNodes)
	}
	if d.nodes > MaxNodes {
		return nil
	}
	return n
}

// Deref follows aliases without counting against MaxNodes.
func Deref(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	return n
}

// Line returns the line of n, or of the node it is an alias of.
func Line(n *yaml.Node) int {
	if n = Deref(n); n == nil {
		return 0
	}
	return n.Line
}

// IsNull reports whether n (aliases followed) is an explicit null, for
// the keys where `key:` alone means "nothing" rather than an error.
func (d *Decoder) IsNull(n *yaml.Node) bool {
	r := d.Resolve(n)
	return r != nil && r.Kind == yaml.ScalarNode && r.ShortTag() == "!!null"
}

// null reports whether n is an explicit null (`key:` or `key: ~`), which
// is an error for every key but a plugin's config.
func (d *Decoder) null(n *yaml.Node, path string) bool {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		d.Errorf(n, path, "no value: give one or remove the key for the default")
		return true
	}
	return false
}

// Mapping decodes a mapping whose keys must be among fields. An unknown
// key is an error that suggests the nearest known one.
func (d *Decoder) Mapping(n *yaml.Node, path string, fields ...Field) {
	if n = d.Resolve(n); n == nil || d.null(n, path) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, path, "want a mapping of keys (%s), got %s", fieldKeys(fields), KindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.Resolve(n.Content[i]), n.Content[i+1]
		if k == nil {
			return
		}
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			d.Errorf(k, path, "a key must be a string, not %s: keys here are %s", KindName(k), fieldKeys(fields))
			continue
		}
		kp := Join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.Errorf(k, kp, "duplicate key (first at line %d): remove one", first)
			continue
		}
		seen[k.Value] = k.Line
		var f *Field
		for j := range fields {
			if fields[j].key == k.Value {
				f = &fields[j]
				break
			}
		}
		if f == nil {
			d.Errorf(k, kp, "unknown key%s", suggest(k.Value, fields))
			continue
		}
		f.decode(v, kp)
	}
}

// Sequence calls each for every element of a sequence; what names the
// elements in the error for a value that is not a list.
func (d *Decoder) Sequence(n *yaml.Node, path, what string, each func(n *yaml.Node, path string)) {
	if n = d.Resolve(n); n == nil || d.null(n, path) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.Errorf(n, path, "want a list of %s, got %s", what, KindName(n))
		return
	}
	for i, e := range n.Content {
		each(e, fmt.Sprintf("%s[%d]", path, i))
	}
}

// Scalar resolves n and checks it is a scalar with one of the tags
// ("!!str", "!!int", ...); want describes the value for the error. It
// returns nil after recording an error.
func (d *Decoder) Scalar(n *yaml.Node, path, want string, tags ...string) *yaml.Node {
	if n = d.Resolve(n); n == nil || d.null(n, path) {
		return nil
	}
	if n.Kind == yaml.ScalarNode {
		for _, t := range tags {
			if n.ShortTag() == t {
				return n
			}
		}
	}
	hint := ""
	if n.Kind == yaml.ScalarNode && tags[0] == "!!str" {
		hint = ": quote it"
	}
	d.Errorf(n, path, "want %s, got %s%s", want, KindName(n), hint)
	return nil
}

// Str decodes a string and reports whether it did.
func (d *Decoder) Str(n *yaml.Node, path string, dst *string) bool {
	if n = d.Scalar(n, path, "a string", "!!str"); n == nil {
		return false
	}
	*dst = n.Value
	return true
}

// Bool decodes true or false.
func (d *Decoder) Bool(n *yaml.Node, path string, dst *bool) {
	if n = d.Scalar(n, path, "true or false", "!!bool"); n == nil {
		return
	}
	if err := n.Decode(dst); err != nil {
		d.Errorf(n, path, "want true or false, got %q", n.Value)
	}
}

// Int decodes an integer in [lo, hi] and passes it to dst.
func (d *Decoder) Int(n *yaml.Node, path string, lo, hi int64, dst func(int64)) {
	if n = d.Scalar(n, path, "an integer", "!!int"); n == nil {
		return
	}
	var v int64
	if err := n.Decode(&v); err != nil || v < lo || v > hi {
		d.Errorf(n, path, "%s: want an integer from %d to %d", n.Value, lo, hi)
		return
	}
	dst(v)
}

// Duration decodes a positive Go duration ("500ms", "1m30s").
func (d *Decoder) Duration(n *yaml.Node, path string, dst *time.Duration) {
	if n = d.Resolve(n); n == nil || d.null(n, path) {
		return
	}
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		d.Errorf(n, path, "%s: a duration needs a unit: write e.g. %sms or %ss", n.Value, n.Value, n.Value)
		return
	}
	if n = d.Scalar(n, path, "a duration such as 500ms or 10m", "!!str"); n == nil {
		return
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		d.Errorf(n, path, "%q is not a duration: write e.g. 500ms, 15s or 10m", n.Value)
		return
	}
	if v <= 0 {
		d.Errorf(n, path, "%s: must be positive; remove the key for the default", n.Value)
		return
	}
	*dst = v
}

// Size decodes a byte count in [1, hi]: an integer, or a string with a
// binary unit ("64KiB", "32MiB", "1GiB"), and passes it to dst.
func (d *Decoder) Size(n *yaml.Node, path string, hi int64, dst func(int64)) {
	if n = d.Scalar(n, path, "a size such as 65536 or 64KiB", "!!int", "!!str"); n == nil {
		return
	}
	v, err := ParseSize(n.Value)
	if err != nil {
		d.Errorf(n, path, "%w", err)
		return
	}
	if v < 1 || v > hi {
		d.Errorf(n, path, "%s: want 1 to %d bytes", n.Value, hi)
		return
	}
	dst(v)
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}}

// ParseSize parses "65536", "64KiB", "32MiB", "1GiB" or "512B". Decimal
// units (KB, MB) are refused rather than guessed at.
func ParseSize(s string) (int64, error) {
	num, mult := strings.TrimSpace(s), int64(1)
	for _, u := range sizeUnits {
		if strings.HasSuffix(num, u.suffix) {
			num, mult = strings.TrimSpace(strings.TrimSuffix(num, u.suffix)), u.mult
			break
		}
	}
	v, err := strconv.ParseInt(num, 10, 64)
	if err != nil || v < 0 || v > math.MaxInt64/mult {
		hint := ""
		if t := strings.TrimRight(s, "BKMGkmgb"); t != s && t != "" {
			if _, err := strconv.ParseInt(t, 10, 64); err == nil {
				hint = fmt.Sprintf(" (did you mean %s%ciB?)", t, upper(s[len(t)]))
			}
		}
		return 0, fmt.Errorf("%q is not a size: write bytes as an integer or with a unit: 64KiB, 32MiB, 1GiB%s", s, hint)
	}
	return v * mult, nil
}

func upper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// OneOf decodes a string that must be one of values.
func (d *Decoder) OneOf(n *yaml.Node, path string, dst *string, values ...string) {
	var s string
	if !d.Str(n, path, &s) {
		return
	}
	for _, v := range values {
		if s == v {
			*dst = s
			return
		}
	}
	d.Errorf(n, path, "%q: want one of %v", s, values)
}

// StringMap decodes a mapping of strings to strings (values may be
// empty); what describes it for the error ("principal: login").
func (d *Decoder) StringMap(n *yaml.Node, path, what string) map[string]string {
	if n = d.Resolve(n); n == nil || d.null(n, path) {
		return nil
	}
	if n.Kind != yaml.MappingNode {
		d.Errorf(n, path, "want a mapping of %s, got %s", what, KindName(n))
		return nil
	}
	m := map[string]string{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		var k, v string
		if !d.Str(n.Content[i], path, &k) {
			continue
		}
		kp := Join(path, k)
		if _, dup := m[k]; dup {
			d.Errorf(n.Content[i], kp, "duplicate key: remove one")
			continue
		}
		if d.Str(n.Content[i+1], kp, &v) {
			m[k] = v
		}
	}
	return m
}

// Prefixes decodes a list of CIDR prefixes (10.0.0.0/8, 2001:db8::/32).
// A bare address is refused rather than read as a /32, so that a
// forgotten mask cannot silently trust less (or more) than meant.
func (d *Decoder) Prefixes(n *yaml.Node, path string) []netip.Prefix {
	var out []netip.Prefix
	d.Sequence(n, path, "CIDR prefixes", func(n *yaml.Node, p string) {
		var s string
		if !d.Str(n, p, &s) {
			return
		}
		pf, err := netip.ParsePrefix(s)
		if err != nil {
			d.Errorf(n, p, "%q: want a CIDR prefix such as 10.0.0.0/8 (a single address is 10.0.0.1/32)", s)
			return
		}
		out = append(out, pf)
	})
	return out
}

// ConnLimit decodes a connection limit into a front end's field, where 0
// means the default: 0 in the file (no limit) becomes -1.
func (d *Decoder) ConnLimit(n *yaml.Node, path string, dst *int) {
	d.Int(n, path, 0, MaxConnLimit, func(v int64) {
		*dst = int(v)
		if v == 0 {
			*dst = -1
		}
	})
}

// Exempt decodes a front end's per_client_exempt: never nil, since nil
// means the default (loopback) to the front ends and [] means nobody.
func (d *Decoder) Exempt(n *yaml.Node, path string) []netip.Prefix {
	if ps := d.Prefixes(n, path); ps != nil {
		return ps
	}
	return []netip.Prefix{}
}

// JSON converts any YAML value to JSON into b, keeping mapping order.
// Mapping keys must be strings; nulls are allowed. It is how a plugin's
// free-form config reaches the plugin.
func (d *Decoder) JSON(n *yaml.Node, path string, b *bytes.Buffer) {
	if n = d.Resolve(n); n == nil {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := d.Resolve(n.Content[i])
			if k == nil {
				return
			}
			if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
				d.Errorf(k, path, "plugin config keys must be strings, not %s: quote it", KindName(k))
				continue
			}
			kp := Join(path, k.Value)
			if first, dup := seen[k.Value]; dup {
				d.Errorf(k, kp, "duplicate key (first at line %d): remove one", first)
				continue
			}
			seen[k.Value] = k.Line
			if len(seen) > 1 {
				b.WriteByte(',')
			}
			writeJSONString(b, k.Value)
			b.WriteByte(':')
			d.JSON(n.Content[i+1], kp, b)
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, e := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			d.JSON(e, fmt.Sprintf("%s[%d]", path, i), b)
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		d.scalarJSON(n, path, b)
	default:
		d.Errorf(n, path, "unsupported YAML node")
	}
}

func (d *Decoder) scalarJSON(n *yaml.Node, path string, b *bytes.Buffer) {
	switch n.ShortTag() {
	case "!!null":
		b.WriteString("null")
	case "!!bool":
		var v bool
		if err := n.Decode(&v); err != nil {
			d.Errorf(n, path, "%q is not a boolean", n.Value)
		}
		b.WriteString(strconv.FormatBool(v))
	case "!!int":
		var v any
		if err := n.Decode(&v); err != nil {
			d.Errorf(n, path, "%s: integer out of range; quote it to pass a string", n.Value)
			b.WriteByte('0')
			return
		}
		fmt.Fprint(b, v)
	case "!!float":
		var v float64
		if err := n.Decode(&v); err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			d.Errorf(n, path, "%s: JSON has no such number; quote it to pass a string", n.Value)
			b.WriteByte('0')
			return
		}
		out, _ := json.Marshal(v)
		b.Write(out)
	case "!!str", "!!timestamp", "!!binary":
		writeJSONString(b, n.Value) // timestamps and base64 stay text
	default:
		d.Errorf(n, path, "value tagged %s: JSON has no such type; use a plain value", n.ShortTag())
		b.WriteString("null")
	}
}

func writeJSONString(b *bytes.Buffer, s string) {
	out, _ := json.Marshal(s)
	b.Write(out)
}

// Join appends key to a key path.
func Join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func fieldKeys(fields []Field) string {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	return strings.Join(keys, ", ")
}

// KindName describes a node for errors: "a list", "a mapping", "the
// integer 5".
func KindName(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	case yaml.ScalarNode:
		switch n.ShortTag() {
		case "!!str":
			return fmt.Sprintf("the string %q", n.Value)
		case "!!int":
			return "the integer " + n.Value
		case "!!float":
			return "the number " + n.Value
		case "!!bool":
			return "the boolean " + n.Value
		case "!!null":
			return "null"
		}
		return fmt.Sprintf("%s %q", n.ShortTag(), n.Value)
	}
	return "an unsupported node"
}

// suggest returns " (did you mean x?)" for the known key nearest to key
// by edit distance, when it is near enough to be a typo.
func suggest(key string, fields []Field) string {
	best, bestD := "", 3
	for _, f := range fields {
		if dist := EditDistance(key, f.key); dist < bestD && dist <= max(1, len(f.key)/3) {
			best, bestD = f.key, dist
		}
	}
	if best == "" {
		return "; known keys: " + fieldKeys(fields)
	}
	return " (did you mean " + best + "?)"
}

// EditDistance is the Levenshtein distance between a and b, in bytes: how
// "did you mean" suggestions (keys here, call fields in host/plugincall)
// find the nearest known name.
func EditDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 64 // a key that long is no typo of ours
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
