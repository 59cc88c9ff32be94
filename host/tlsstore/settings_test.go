package tlsstore

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/host/internal/confdecode"
)

// decodeSettings decodes src as the tls section of a file in dir.
func decodeSettings(t testing.TB, src, dir string) (Settings, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	s := DefaultSettings()
	d := confdecode.New("", dir)
	if len(doc.Content) > 0 {
		s.Decode(d, doc.Content[0], "tls")
	}
	return s, d.Err()
}

func TestSettings_Decode(t *testing.T) {
	s, err := decodeSettings(t, "certs: [{cert: a.crt, key: a.key}, {cert: /b.crt, key: /b.key}]\ndefault: {cert: d.crt, key: d.key}\nwatch: false\n", "/etc/postern")
	if err != nil {
		t.Fatal(err)
	}
	want := []Pair{{"/etc/postern/a.crt", "/etc/postern/a.key"}, {"/b.crt", "/b.key"}}
	if len(s.Certs) != 2 || s.Certs[0] != want[0] || s.Certs[1] != want[1] ||
		s.Default != (Pair{"/etc/postern/d.crt", "/etc/postern/d.key"}) || s.Watch || !s.Configured() {
		t.Errorf("%+v", s)
	}
	if s, err := decodeSettings(t, "{}", ""); err != nil || !s.Watch || s.Configured() {
		t.Errorf("defaults: %+v, %v", s, err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"certs: [{cert: a.crt}]", "line 1: tls.certs[0]: give both cert and key"},
		{"default: {key: a.key}", "tls.default: give both cert and key"},
		{"certs: {cert: a.crt, key: a.key}", "tls.certs: want a list of {cert, key} pairs, got a mapping"},
		{"watch: often", "tls.watch: want true or false"},
		{"cert: a.crt", "tls.cert: unknown key (did you mean certs?)"},
	} {
		if _, err := decodeSettings(t, tc.yaml, ""); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.yaml, err, tc.want)
		}
	}
}

func TestSettings_Open(t *testing.T) {
	var none Settings
	if s, err := none.Open(quietLogger()); s != nil || err != nil {
		t.Errorf("no certificate: %v, %v", s, err)
	}
	c := genCert(t, t.TempDir(), "a", "a.example")
	set := Settings{Certs: []Pair{c.Pair}}
	s, err := set.Open(quietLogger())
	if err != nil || s == nil {
		t.Fatalf("%v, %v", s, err)
	}
	s.Close()
	bad := Settings{Certs: []Pair{{CertFile: c.CertFile, KeyFile: c.CertFile + ".missing"}}}
	if _, err := bad.Open(quietLogger()); err == nil || !strings.HasPrefix(err.Error(), "config: tls: ") {
		t.Errorf("missing key: %v", err)
	}
}

// FuzzSettings_Decode: no tls section panics the decoder; an accepted one
// never has half a pair.
func FuzzSettings_Decode(f *testing.F) {
	for _, s := range []string{"certs: [{cert: a, key: b}]", "default: {cert: a}", "watch: false", "[1]", "certs: [~]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		var doc yaml.Node
		if yaml.Unmarshal([]byte(src), &doc) != nil || len(doc.Content) == 0 {
			return
		}
		s := DefaultSettings()
		d := confdecode.New("", "/etc")
		s.Decode(d, doc.Content[0], "tls")
		if d.Err() != nil {
			return
		}
		for _, p := range append(s.Certs, s.Default) {
			if (p.CertFile == "") != (p.KeyFile == "") {
				t.Fatalf("accepted half a pair: %+v", s)
			}
		}
	})
}
