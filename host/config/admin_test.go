package config

import (
	"strings"
	"testing"
	"time"
)

func TestParse_admin(t *testing.T) {
	const token = "0123456789abcdef0123"
	tests := []struct {
		name    string
		yaml    string
		want    Admin
		addr    string
		wantErr string
	}{
		{name: "absent", yaml: "", want: Admin{}, addr: "127.0.0.1:9090"},
		{name: "empty section", yaml: "admin: {}\n", want: Admin{}, addr: "127.0.0.1:9090"},
		{name: "off", yaml: "admin: {enabled: false}\n", want: Admin{Disabled: true}, addr: "127.0.0.1:9090"},
		{name: "off on a public address needs no token", yaml: "admin: {enabled: false, address: \"0.0.0.0:9090\"}\n",
			want: Admin{Disabled: true, Address: "0.0.0.0:9090"}, addr: "0.0.0.0:9090"},
		{name: "loopback port", yaml: "admin: {address: \"127.0.0.1:9901\", refresh: 10s}\n",
			want: Admin{Address: "127.0.0.1:9901", Refresh: 10 * time.Second}, addr: "127.0.0.1:9901"},
		{name: "any free port", yaml: "admin: {address: \"127.0.0.1:0\"}\n", want: Admin{Address: "127.0.0.1:0"}, addr: "127.0.0.1:0"},
		{name: "public with token", yaml: "admin:\n  address: \"0.0.0.0:9090\"\n  token: " + token + "\n",
			want: Admin{Address: "0.0.0.0:9090", Token: token}, addr: "0.0.0.0:9090"},
		{name: "public without token", yaml: "admin:\n  address: \":9090\"\n",
			wantErr: `line 2: admin.address: :9090 is not a loopback address: set admin.token`},
		{name: "short token", yaml: "admin:\n  token: hunter2\n",
			wantErr: "line 2: admin.token: too short (7 characters)"},
		{name: "bad address", yaml: "admin: {address: \"9090\"}\n", wantErr: `admin.address: "9090": want host:port`},
		{name: "bad port", yaml: "admin: {address: \"127.0.0.1:http\"}\n", wantErr: "the port must be a number"},
		{name: "refresh too fast", yaml: "admin: {refresh: 100ms}\n", wantErr: "admin.refresh: 100ms: use at least 1s"},
		{name: "typo", yaml: "admin: {adress: \"127.0.0.1:1\"}\n", wantErr: "admin.adress: unknown key (did you mean address?)"},
		{name: "not a bool", yaml: "admin: {enabled: maybe}\n", wantErr: "admin.enabled"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Parse([]byte(tc.yaml), "")
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err %v, want %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "hunter2") {
					t.Errorf("the error shows the token: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if c.Admin != tc.want || c.Admin.Addr() != tc.addr || c.Admin.Explicit() != (tc.want.Address != "") {
				t.Errorf("admin %+v (addr %s), want %+v (addr %s)", c.Admin, c.Admin.Addr(), tc.want, tc.addr)
			}
		})
	}
}
