package docs

import (
	"os"
	"regexp"
	"strings"
	"testing"
)

// TestGoVersion_matchesGoMod: the guides name the Go version go.mod asks
// for ("Go 1.26 or later"), not an older one a reader would install in vain.
func TestGoVersion_matchesGoMod(t *testing.T) {
	mod, err := os.ReadFile("../go.mod")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(mod)
	if m == nil {
		t.Fatal("go.mod has no go directive")
	}
	want := "Go " + string(m[1]) + " or later"
	for _, f := range []string{"plugins.md", "../guest-sdk/README.md"} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, v := range regexp.MustCompile(`Go 1\.\d+ or later`).FindAllString(string(b), -1) {
			if v != want {
				t.Errorf("%s says %q; go.mod needs %q", f, v, want)
			}
		}
		if !strings.Contains(string(b), want) {
			t.Errorf("%s does not say %q", f, want)
		}
	}
}
