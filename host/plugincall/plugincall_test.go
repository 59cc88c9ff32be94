package plugincall

import (
	"context"
	"log/slog"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugin"
)

func TestParseFields(t *testing.T) {
	tests := []struct {
		name    string
		flags   []string
		lines   []string // FieldLines of the result
		wantErr string
	}{
		{name: "defaults", lines: []string{"protocol=imap", "session_id=postern-call", "login_attempt=1"}},
		{name: "mail login", flags: []string{"login=bob@example.com", "password=hunter2", "client_ip=192.0.2.7", "client_port=51234", "imap_id:name=Thunderbird"},
			lines: []string{"protocol=imap", "session_id=postern-call", "client_ip=192.0.2.7", "client_port=51234", "login=bob@example.com",
				"password=<set>", "login_attempt=1", "imap_id:name=Thunderbird"}},
		{name: "http makes protocol http", flags: []string{"http_path=/mail", "header:Cookie=ZM_AUTH_TOKEN=abc", "header:X-A=1", "header:X-A=2"},
			lines: []string{"protocol=http", "session_id=postern-call", "login_attempt=1", "http_path=/mail", "header:Cookie=<set>", "header:X-A=1", "header:X-A=2"}},
		{name: "upstreams list", flags: []string{"upstreams=a:1, b:2,,", "protocol=pop3"},
			lines: []string{"protocol=pop3", "session_id=postern-call", "login_attempt=1", "upstreams=a:1,b:2"}},
		{name: "typo", flags: []string{"logn=bob"}, wantErr: "-field logn: unknown field (did you mean login?)"},
		{name: "no =", flags: []string{"password"}, wantErr: `-field #1 has no "=": write name=value (-field help lists the names)`},
		{name: "bad ip, value not a secret", flags: []string{"client_ip=nope"}, wantErr: `-field client_ip: "nope" is not an IP address`},
		{name: "two errors", flags: []string{"login_attempt=0", "delay_ms=x"}, wantErr: "-field login_attempt: \"0\": want a number from 1\n-field delay_ms: \"x\": want milliseconds"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f, err := ParseFields(tc.flags)
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := FieldLines(f); !slices.Equal(got, tc.lines) {
				t.Errorf("lines\n%q\nwant\n%q", got, tc.lines)
			}
		})
	}
}

// TestRun: the outcome of a chain on a real host, as both postern call
// and POST /call print it.
func TestRun(t *testing.T) {
	ctx := context.Background()
	h, err := plugin.New(ctx, plugin.Options{Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close(ctx)
	fixture := func(name string) string { return filepath.Join("..", "..", "abi", "testdata", name+".wasm") }
	if err := h.Load(ctx, []plugin.Spec{{Name: "trap", Path: fixture("trap")}, {Name: "all", Path: fixture("all_hooks")}}); err != nil {
		t.Fatal(err)
	}
	f, _ := ParseFields([]string{"login=bob", "password=hunter2"})
	o := Run(ctx, h, abi.HookRoute, f)
	want := []string{"route: done by all", "protocol=imap", "session_id=postern-call", "login=bob", "password=<set>", "login_attempt=1",
		"upstreams=127.0.0.1:1143,127.0.0.1:2143", "message=route"}
	if !slices.Equal(o.Lines, want) || o.Verdict != "done" || o.Plugin != "all" || o.Err != "" {
		t.Errorf("route: %+v\nwant lines %q", o, want)
	}
	f, _ = ParseFields([]string{"login=bob"})
	o = Run(ctx, h, abi.HookLogin, f)
	if o.Verdict != "tempfail" || o.Plugin != "trap" || !strings.Contains(o.Err, "trap") || !strings.HasPrefix(o.Lines[0], "login: tempfail by trap: plugin trap: ") ||
		strings.Contains(o.Lines[0], "\n") {
		t.Errorf("login: %+v", o)
	}
	f, _ = ParseFields(nil)
	if o := Run(ctx, h, abi.HookThrottle, f); o.Lines[0] != "throttle: done by all" {
		t.Errorf("throttle: %q", o.Lines[0])
	}
}

// FuzzParseFields: any assignments give Fields or an error, never a
// panic; a password's value never appears in an error or in FieldLines.
func FuzzParseFields(f *testing.F) {
	f.Add("login=bob", "password=s3cret-pw", "header:Authorization=Bearer tok")
	f.Add("client_ip=::1", "client_port=99999", "delay_ms=-1")
	f.Add("imap_id:=x", "header:=y", "=")
	f.Add("upstream_password=s3cret-pw", "redirect_code=abc", "cache_alias=maybe")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		flags := []string{a, b, c}
		fields, err := ParseFields(flags)
		var secrets []string
		for _, fl := range flags {
			if name, v, ok := strings.Cut(fl, "="); ok && (name == "password" || name == "upstream_password") && len(v) >= 4 {
				elsewhere := false
				for _, o := range flags {
					elsewhere = elsewhere || (o != fl && strings.Contains(o, v))
				}
				if !elsewhere {
					secrets = append(secrets, v)
				}
			}
		}
		if err != nil {
			for _, s := range secrets {
				if strings.Contains(err.Error(), s) {
					t.Errorf("error quotes the password %q: %v", s, err)
				}
			}
			return
		}
		out := strings.Join(FieldLines(fields), "\n")
		for _, s := range secrets {
			if strings.Contains(out, s) && !strings.Contains("<set>", s) {
				t.Errorf("FieldLines shows the password %q:\n%s", s, out)
			}
		}
	})
}
