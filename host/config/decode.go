package config

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"
)

// maxNodes bounds the YAML nodes one file may expand to, counting every
// alias use, so that a file of nested aliases ("billion laughs") is an
// error rather than an out-of-memory kill.
const maxNodes = 100000

// maxErrors is the most errors one parse reports; after that the operator
// is better served fixing the first ones.
const maxErrors = 20

// decoder walks a yaml.v3 node tree by hand, so that every error can name
// the file, the line and the key path, and unknown keys are errors.
type decoder struct {
	file  string // for errors; "" when parsing bytes without a file
	errs  []error
	nodes int
}

// field is one known key of a mapping and what decodes its value.
type field struct {
	key    string
	decode func(n *yaml.Node, path string)
}

// errorf records an error at n's line. path is the key path
// ("plugins.chain[1].limits.call_timeout"); empty for the document.
func (d *decoder) errorf(n *yaml.Node, path, format string, args ...any) {
	if len(d.errs) == maxErrors {
		d.errs = append(d.errs, errors.New("too many errors; fix the ones above first"))
	}
	if len(d.errs) > maxErrors {
		return
	}
	line := 0
	if n != nil {
		line = n.Line
	}
	d.errs = append(d.errs, fmt.Errorf("%s%w", d.where(line, path), fmt.Errorf(format, args...)))
}

// where formats the error prefix: "file:12: key.path: ".
func (d *decoder) where(line int, path string) string {
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

// err returns the recorded errors joined, or nil.
func (d *decoder) err() error { return errors.Join(d.errs...) }

// resolve follows aliases and counts the node against maxNodes. It returns
// nil once the budget is spent (the error is recorded once).
func (d *decoder) resolve(n *yaml.Node) *yaml.Node {
	for n != nil && n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	d.nodes++
	if d.nodes == maxNodes+1 {
		d.errorf(n, "", "more than %d YAML nodes after expanding aliases: simplify the file", maxNodes)
	}
	if d.nodes > maxNodes {
		return nil
	}
	return n
}

// null reports whether n is an explicit null (`key:` or `key: ~`), which
// is an error for every key but a plugin's config.
func (d *decoder) null(n *yaml.Node, path string) bool {
	if n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" {
		d.errorf(n, path, "no value: give one or remove the key for the default")
		return true
	}
	return false
}

// mapping decodes a mapping whose keys must be among fields.
func (d *decoder) mapping(n *yaml.Node, path string, fields ...field) {
	if n = d.resolve(n); n == nil || d.null(n, path) {
		return
	}
	if n.Kind != yaml.MappingNode {
		d.errorf(n, path, "want a mapping of keys (%s), got %s", fieldKeys(fields), kindName(n))
		return
	}
	seen := map[string]int{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := d.resolve(n.Content[i]), n.Content[i+1]
		if k == nil {
			return
		}
		if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
			d.errorf(k, path, "a key must be a string, not %s: keys here are %s", kindName(k), fieldKeys(fields))
			continue
		}
		kp := join(path, k.Value)
		if first, dup := seen[k.Value]; dup {
			d.errorf(k, kp, "duplicate key (first at line %d): remove one", first)
			continue
		}
		seen[k.Value] = k.Line
		var f *field
		for j := range fields {
			if fields[j].key == k.Value {
				f = &fields[j]
				break
			}
		}
		if f == nil {
			d.errorf(k, kp, "unknown key%s", suggest(k.Value, fields))
			continue
		}
		f.decode(v, kp)
	}
}

// sequence calls each for every element of a sequence.
func (d *decoder) sequence(n *yaml.Node, path, what string, each func(n *yaml.Node, path string)) {
	if n = d.resolve(n); n == nil || d.null(n, path) {
		return
	}
	if n.Kind != yaml.SequenceNode {
		d.errorf(n, path, "want a list of %s, got %s", what, kindName(n))
		return
	}
	for i, e := range n.Content {
		each(e, fmt.Sprintf("%s[%d]", path, i))
	}
}

// scalar resolves n and checks it is a scalar with one of the tags.
func (d *decoder) scalar(n *yaml.Node, path, want string, tags ...string) *yaml.Node {
	if n = d.resolve(n); n == nil || d.null(n, path) {
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
	d.errorf(n, path, "want %s, got %s%s", want, kindName(n), hint)
	return nil
}

func (d *decoder) str(n *yaml.Node, path string, dst *string) bool {
	if n = d.scalar(n, path, "a string", "!!str"); n == nil {
		return false
	}
	*dst = n.Value
	return true
}

func (d *decoder) boolean(n *yaml.Node, path string, dst *bool) {
	if n = d.scalar(n, path, "true or false", "!!bool"); n == nil {
		return
	}
	if err := n.Decode(dst); err != nil {
		d.errorf(n, path, "want true or false, got %q", n.Value)
	}
}

// integer decodes an integer in [lo, hi].
func (d *decoder) integer(n *yaml.Node, path string, lo, hi int64, dst func(int64)) {
	if n = d.scalar(n, path, "an integer", "!!int"); n == nil {
		return
	}
	var v int64
	if err := n.Decode(&v); err != nil || v < lo || v > hi {
		d.errorf(n, path, "%s: want an integer from %d to %d", n.Value, lo, hi)
		return
	}
	dst(v)
}

// duration decodes a positive Go duration ("500ms", "1m30s").
func (d *decoder) duration(n *yaml.Node, path string, dst *time.Duration) {
	if n = d.resolve(n); n == nil || d.null(n, path) {
		return
	}
	if n.Kind == yaml.ScalarNode && (n.ShortTag() == "!!int" || n.ShortTag() == "!!float") {
		d.errorf(n, path, "%s: a duration needs a unit: write e.g. %sms or %ss", n.Value, n.Value, n.Value)
		return
	}
	if n = d.scalar(n, path, "a duration such as 500ms or 10m", "!!str"); n == nil {
		return
	}
	v, err := time.ParseDuration(n.Value)
	if err != nil {
		d.errorf(n, path, "%q is not a duration: write e.g. 500ms, 15s or 10m", n.Value)
		return
	}
	if v <= 0 {
		d.errorf(n, path, "%s: must be positive; remove the key for the default", n.Value)
		return
	}
	*dst = v
}

// size decodes a byte count in [1, hi]: an integer, or a string with a
// binary unit ("64KiB", "32MiB", "1GiB").
func (d *decoder) size(n *yaml.Node, path string, hi int64, dst func(int64)) {
	if n = d.scalar(n, path, "a size such as 65536 or 64KiB", "!!int", "!!str"); n == nil {
		return
	}
	v, err := parseSize(n.Value)
	if err != nil {
		d.errorf(n, path, "%w", err)
		return
	}
	if v < 1 || v > hi {
		d.errorf(n, path, "%s: want 1 to %d bytes", n.Value, hi)
		return
	}
	dst(v)
}

var sizeUnits = []struct {
	suffix string
	mult   int64
}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"B", 1}}

// parseSize parses "65536", "64KiB", "32MiB", "1GiB" or "512B". Decimal
// units (KB, MB) are refused rather than guessed at.
func parseSize(s string) (int64, error) {
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
				hint = fmt.Sprintf(" (did you mean %s%ciB?)", t, unicodeUpper(s[len(t)]))
			}
		}
		return 0, fmt.Errorf("%q is not a size: write bytes as an integer or with a unit: 64KiB, 32MiB, 1GiB%s", s, hint)
	}
	return v * mult, nil
}

func unicodeUpper(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 'a' + 'A'
	}
	return c
}

// toJSON converts any YAML value to JSON, keeping mapping order. Mapping
// keys must be strings.
func (d *decoder) toJSON(n *yaml.Node, path string, b *bytes.Buffer) {
	if n = d.resolve(n); n == nil {
		return
	}
	switch n.Kind {
	case yaml.MappingNode:
		b.WriteByte('{')
		seen := map[string]int{}
		for i := 0; i+1 < len(n.Content); i += 2 {
			k := d.resolve(n.Content[i])
			if k == nil {
				return
			}
			if k.Kind != yaml.ScalarNode || k.ShortTag() != "!!str" {
				d.errorf(k, path, "plugin config keys must be strings, not %s: quote it", kindName(k))
				continue
			}
			kp := join(path, k.Value)
			if first, dup := seen[k.Value]; dup {
				d.errorf(k, kp, "duplicate key (first at line %d): remove one", first)
				continue
			}
			seen[k.Value] = k.Line
			if len(seen) > 1 {
				b.WriteByte(',')
			}
			writeJSONString(b, k.Value)
			b.WriteByte(':')
			d.toJSON(n.Content[i+1], kp, b)
		}
		b.WriteByte('}')
	case yaml.SequenceNode:
		b.WriteByte('[')
		for i, e := range n.Content {
			if i > 0 {
				b.WriteByte(',')
			}
			d.toJSON(e, fmt.Sprintf("%s[%d]", path, i), b)
		}
		b.WriteByte(']')
	case yaml.ScalarNode:
		d.scalarJSON(n, path, b)
	default:
		d.errorf(n, path, "unsupported YAML node")
	}
}

func (d *decoder) scalarJSON(n *yaml.Node, path string, b *bytes.Buffer) {
	switch n.ShortTag() {
	case "!!null":
		b.WriteString("null")
	case "!!bool":
		var v bool
		if err := n.Decode(&v); err != nil {
			d.errorf(n, path, "%q is not a boolean", n.Value)
		}
		b.WriteString(strconv.FormatBool(v))
	case "!!int":
		var v any
		if err := n.Decode(&v); err != nil {
			d.errorf(n, path, "%s: integer out of range; quote it to pass a string", n.Value)
			b.WriteByte('0')
			return
		}
		fmt.Fprint(b, v)
	case "!!float":
		var v float64
		if err := n.Decode(&v); err != nil || math.IsInf(v, 0) || math.IsNaN(v) {
			d.errorf(n, path, "%s: JSON has no such number; quote it to pass a string", n.Value)
			b.WriteByte('0')
			return
		}
		out, _ := json.Marshal(v)
		b.Write(out)
	case "!!str", "!!timestamp", "!!binary":
		writeJSONString(b, n.Value) // timestamps and base64 stay text
	default:
		d.errorf(n, path, "value tagged %s: JSON has no such type; use a plain value", n.ShortTag())
		b.WriteString("null")
	}
}

func writeJSONString(b *bytes.Buffer, s string) {
	out, _ := json.Marshal(s)
	b.Write(out)
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func fieldKeys(fields []field) string {
	keys := make([]string, len(fields))
	for i, f := range fields {
		keys[i] = f.key
	}
	return strings.Join(keys, ", ")
}

// kindName describes a node for errors: "a list", "a mapping", "an int".
func kindName(n *yaml.Node) string {
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
func suggest(key string, fields []field) string {
	best, bestD := "", 3
	for _, f := range fields {
		if dist := editDistance(key, f.key); dist < bestD && dist <= max(1, len(f.key)/3) {
			best, bestD = f.key, dist
		}
	}
	if best == "" {
		return "; known keys: " + fieldKeys(fields)
	}
	return " (did you mean " + best + "?)"
}

// editDistance is the Levenshtein distance between a and b, in bytes.
func editDistance(a, b string) int {
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
