// Package docs holds the operator documentation. Its only Go code is this
// test, which keeps configuration.md in step with the configuration the
// program reads.
package docs

import (
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/abi"
)

// exampleKeys returns the key paths of a YAML document, list items
// written as [] ("mail.listeners[].name"). Below a plugin's config, keys
// belong to the plugin and are documented in its README, so they are
// left out.
func exampleKeys(t *testing.T, data []byte) []string {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	var keys []string
	var walk func(n *yaml.Node, path string)
	walk = func(n *yaml.Node, path string) {
		if path == "plugins.chain[].config" {
			return
		}
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				walk(c, path)
			}
		case yaml.SequenceNode:
			for _, c := range n.Content {
				walk(c, path+"[]")
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				p := n.Content[i].Value
				if path != "" {
					p = path + "." + p
				}
				if !slices.Contains(keys, p) {
					keys = append(keys, p)
				}
				walk(n.Content[i+1], p)
			}
		}
	}
	walk(&doc, "")
	return keys
}

// decoderFieldRE finds the keys the configuration's section decoders
// accept: confdecode.Key("name", ...).
var decoderFieldRE = regexp.MustCompile(`confdecode\.Key\("([a-z0-9_]+)"`)

// decoderKeys returns every key name a section decoder accepts (each
// component decodes its own section, so every Go file under host/ is
// read), plus the hook names on_failure takes (built from abi.Hooks).
func decoderKeys(t *testing.T) []string {
	t.Helper()
	var files []string
	err := filepath.WalkDir(filepath.Join("..", "host"), func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() && e.Name() == "testdata" {
			return filepath.SkipDir
		}
		if !e.IsDir() && strings.HasSuffix(p, ".go") && !strings.HasSuffix(p, "_test.go") {
			files = append(files, p)
		}
		return nil
	})
	if err != nil || len(files) == 0 {
		t.Fatalf("no host sources found (%v)", err)
	}
	var names []string
	for _, f := range files {
		src, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range decoderFieldRE.FindAllStringSubmatch(string(src), -1) {
			if !slices.Contains(names, m[1]) {
				names = append(names, m[1])
			}
		}
	}
	if len(names) < 50 {
		t.Fatalf("found only %d configuration keys in host/; the pattern %s no longer matches the section decoders", len(names), decoderFieldRE)
	}
	for _, h := range abi.Hooks {
		names = append(names, h.String())
	}
	return names
}

// docKeyRE finds the key paths the reference documents: the first cell of
// a table row, in backquotes.
var docKeyRE = regexp.MustCompile("(?m)^\\| `([a-z0-9_.\\[\\]]+)` \\|")

func readDoc(t *testing.T) (string, []string) {
	t.Helper()
	b, err := os.ReadFile("configuration.md")
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for _, m := range docKeyRE.FindAllStringSubmatch(string(b), -1) {
		keys = append(keys, m[1])
	}
	if len(keys) < 50 {
		t.Fatalf("configuration.md documents only %d keys in tables; the pattern %s no longer matches its rows", len(keys), docKeyRE)
	}
	return string(b), keys
}

// TestConfiguration_exampleKeysDocumented: every key of
// postern.example.yaml has a row in configuration.md.
func TestConfiguration_exampleKeysDocumented(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "postern.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	_, documented := readDoc(t)
	keys := exampleKeys(t, data)
	if len(keys) < 30 {
		t.Fatalf("found only %d keys in postern.example.yaml: %v", len(keys), keys)
	}
	for _, k := range keys {
		if !slices.Contains(documented, k) {
			t.Errorf("postern.example.yaml has %s, but docs/configuration.md has no row for it: add one", k)
		}
	}
}

// TestConfiguration_decoderKeysDocumented: every key a decoder accepts
// is the last part of some documented key path, so keys that the example
// leaves out (web, commented keys) are documented too.
func TestConfiguration_decoderKeysDocumented(t *testing.T) {
	_, documented := readDoc(t)
	leaves := map[string]bool{}
	for _, k := range documented {
		parts := strings.Split(strings.ReplaceAll(k, "[]", ""), ".")
		leaves[parts[len(parts)-1]] = true
	}
	for _, name := range decoderKeys(t) {
		if !leaves[name] {
			t.Errorf("the configuration decoder (host/) reads the key %q, but no row of docs/configuration.md documents a key ending in it: add one", name)
		}
	}
}

// TestConfiguration_noStaleKeys: every documented key path ends in a key
// the decoder still accepts.
func TestConfiguration_noStaleKeys(t *testing.T) {
	_, documented := readDoc(t)
	known := decoderKeys(t)
	for _, k := range documented {
		parts := strings.Split(strings.ReplaceAll(k, "[]", ""), ".")
		for _, p := range parts {
			if !slices.Contains(known, p) {
				t.Errorf("docs/configuration.md documents %s, but no section decoder (host/) reads a key %q: remove or rename the row", k, p)
			}
		}
	}
}

// TestExampleKeys checks the key walker itself on a small document.
func TestExampleKeys(t *testing.T) {
	got := exampleKeys(t, []byte(`
a: 1
b:
  c: [1, 2]
  d:
    - {e: 1}
    - {f: 2, e: 3}
plugins:
  chain:
    - name: x
      config: {servers: [u]}
`))
	want := []string{"a", "b", "b.c", "b.d", "b.d[].e", "b.d[].f", "plugins", "plugins.chain", "plugins.chain[].name", "plugins.chain[].config"}
	if !slices.Equal(got, want) {
		t.Errorf("got  %v\nwant %v", got, want)
	}
}
