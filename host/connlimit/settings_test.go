package connlimit

import (
	"strings"
	"testing"

	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/host/internal/confdecode"
)

func TestSettings_Decode(t *testing.T) {
	for _, tc := range []struct {
		yaml string
		want int
		err  string
	}{
		{"{}", DefaultMaxSessions, ""},
		{"max_sessions: 0", 0, ""},
		{"max_sessions: 500", 500, ""},
		{"max_sessions: -1", 0, "limits.max_sessions: -1: want an integer from 0 to 10000000"},
		{"max_session: 1", 0, "limits.max_session: unknown key (did you mean max_sessions?)"},
	} {
		var doc yaml.Node
		if err := yaml.Unmarshal([]byte(tc.yaml), &doc); err != nil {
			t.Fatal(err)
		}
		s := DefaultSettings()
		d := confdecode.New("", "")
		s.Decode(d, doc.Content[0], "limits")
		if tc.err != "" {
			if err := d.Err(); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%s: err %v, want %q", tc.yaml, err, tc.err)
			}
			continue
		}
		if d.Err() != nil || s.MaxSessions != tc.want {
			t.Errorf("%s: %+v, %v; want %d", tc.yaml, s, d.Err(), tc.want)
		}
	}
}
