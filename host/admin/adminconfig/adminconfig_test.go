package adminconfig

import (
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/host/internal/confdecode"
)

// decode decodes src as the admin section, as host/config does.
func decode(t testing.TB, src string) (Settings, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	var s Settings
	d := confdecode.New("", "")
	if len(doc.Content) > 0 {
		s.Decode(d, doc.Content[0], "admin")
	}
	return s, d.Err()
}

func TestSettings_Decode(t *testing.T) {
	const token = "0123456789abcdef0123"
	tests := []struct {
		name, yaml string
		want       Settings
		wantErr    string
	}{
		{name: "empty", yaml: "{}", want: Settings{}},
		{name: "off on a public address", yaml: "{enabled: false, address: \"0.0.0.0:9090\"}", want: Settings{Disabled: true, Address: "0.0.0.0:9090"}},
		{name: "all", yaml: "{address: \"[::1]:9901\", token: " + token + ", refresh: 5s}",
			want: Settings{Address: "[::1]:9901", Token: token, Refresh: 5 * time.Second}},
		{name: "public with token", yaml: "{address: \"0.0.0.0:9090\", token: " + token + "}", want: Settings{Address: "0.0.0.0:9090", Token: token}},
		{name: "public without token", yaml: "address: \"host.example:9090\"\n", wantErr: "line 1: admin.address: host.example:9090 is not a loopback address"},
		{name: "short token", yaml: "{token: hunter2}", wantErr: "admin.token: too short (7 characters)"},
		{name: "bad address", yaml: "{address: \"9090\"}", wantErr: `admin.address: "9090": want host:port, such as 127.0.0.1:9090`},
		{name: "bad port", yaml: "{address: \"127.0.0.1:99999\"}", wantErr: "the port must be a number from 0 (any free port) to 65535"},
		{name: "refresh", yaml: "{refresh: 999ms}", wantErr: "admin.refresh: 999ms: use at least 1s"},
		{name: "typo", yaml: "{tokn: x}", wantErr: "admin.tokn: unknown key (did you mean token?)"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got, err := decode(t, tc.yaml)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error shows the token: %v", err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Errorf("got %+v, %v; want %+v", got, err, tc.want)
			}
		})
	}
}

func TestSettings_Addr(t *testing.T) {
	if s := (Settings{}); s.Addr() != DefaultAddress || s.Explicit() {
		t.Errorf("zero value: %s %v", s.Addr(), s.Explicit())
	}
	if s := (Settings{Address: "127.0.0.1:0"}); s.Addr() != "127.0.0.1:0" || !s.Explicit() {
		t.Errorf("set: %s %v", s.Addr(), s.Explicit())
	}
}

func TestIsLoopback(t *testing.T) {
	tests := []struct {
		addr string
		want bool
		err  bool
	}{
		{"127.0.0.1:1", true, false}, {"127.1.2.3:1", true, false}, {"[::1]:1", true, false},
		{"localhost:1", true, false}, {"LocalHost:1", true, false}, {":1", false, false},
		{"0.0.0.0:1", false, false}, {"[::]:1", false, false}, {"example.com:1", false, false},
		{"127.0.0.1", false, true},
	}
	for _, tc := range tests {
		got, err := IsLoopback(tc.addr)
		if got != tc.want || (err != nil) != tc.err {
			t.Errorf("IsLoopback(%q) = %v, %v; want %v, error %v", tc.addr, got, err, tc.want, tc.err)
		}
	}
}

// FuzzSettings_Decode: no admin section panics the decoder, and one it
// accepts is usable: a valid address, loopback unless there is a token.
func FuzzSettings_Decode(f *testing.F) {
	for _, s := range []string{"{}", "{enabled: false}", "{address: \"0.0.0.0:1\", token: 0123456789abcdef}",
		"{address: \":1\"}", "{refresh: 10s}", "[1]", "{address: 1}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		var doc yaml.Node
		if yaml.Unmarshal([]byte(src), &doc) != nil || len(doc.Content) == 0 {
			return
		}
		var s Settings
		d := confdecode.New("", "")
		s.Decode(d, doc.Content[0], "admin")
		if d.Err() != nil || s.Disabled {
			return
		}
		loop, err := IsLoopback(s.Addr())
		if err != nil || (!loop && len(s.Token) < 16) || (s.Refresh != 0 && s.Refresh < time.Second) {
			t.Fatalf("accepted %+v (loopback %v, %v)", s, loop, err)
		}
	})
}
