package main

import (
	"strings"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/sdktest"
)

const testConfig = `{
  "tenants": {
    "acme.example":   {"imap": ["10.1.0.5:143"], "pop3": ["10.1.0.5:110"], "http": ["10.1.0.5:8080"]},
    "Globex.Example": {"imap": ["10.2.0.5:143", "10.2.0.6:143"]}
  },
  "vhosts": {"mail.acme.example": "acme.example"},
  "unknown": "refuse",
  "message": "this domain is not hosted here"
}`

func TestTable_Route(t *testing.T) {
	tbl, err := ParseConfig([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, proto, account, host string
		want                       string // upstreams joined by ","
		refuse                     bool
	}{
		{"imap tenant", "imap", "bob@acme.example", "", "10.1.0.5:143", false},
		{"domain any case", "imap", "bob@ACME.example", "", "10.1.0.5:143", false},
		{"two upstreams", "imap", "eve@globex.example", "", "10.2.0.5:143,10.2.0.6:143", false},
		{"tenant without the protocol", "pop3", "eve@globex.example", "", "", false},
		{"unknown domain refused", "imap", "bob@other.example", "", "", true},
		{"no domain, no host", "imap", "bob", "", "", false},
		{"vhost for an anonymous request", "http", "", "mail.acme.example", "10.1.0.5:8080", false},
		{"vhost with a port", "http", "", "MAIL.acme.example:443", "10.1.0.5:8080", false},
		{"unknown vhost", "http", "", "www.example", "", false},
		{"last @ wins", "imap", "a@b@acme.example", "", "10.1.0.5:143", false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			ups, refuse := tbl.Route(tc.proto, tc.account, tc.host)
			if got := strings.Join(ups, ","); got != tc.want || refuse != tc.refuse {
				t.Errorf("Route = %q, refuse %v; want %q, %v", got, refuse, tc.want, tc.refuse)
			}
		})
	}
}

func TestParseConfig_errors(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"empty", ``, "no configuration"},
		{"not json", `{`, "config:"},
		{"unknown key", `{"tenant":{}}`, "unknown field"},
		{"bad protocol", `{"tenants":{"a.example":{"smtp":["10.0.0.1:25"]}}}`, `protocol "smtp"`},
		{"bad upstream", `{"tenants":{"a.example":{"imap":["10.0.0.1"]}}}`, "not host:port"},
		{"bad port", `{"tenants":{"a.example":{"imap":["10.0.0.1:0"]}}}`, "port must be"},
		{"bad unknown", `{"unknown":"drop"}`, `config.unknown "drop"`},
		{"vhost to nowhere", `{"vhosts":{"mail.a.example":"a.example"}}`, "is not in config.tenants"},
		{"two-line message", `{"message":"a\nb"}`, "one line"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseConfig([]byte(tc.config))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v; want it to contain %q", err, tc.want)
			}
		})
	}
}

func TestHook_native(t *testing.T) {
	h := sdktest.New(t)
	h.Config = []byte(testConfig)
	h.Fields[abi.FieldLogin] = "bob@acme.example"
	if v := h.CallHook(abi.HookRoute); v != abi.VerdictDone {
		t.Fatalf("verdict %v; want done", v)
	}
	if got := h.Fields[abi.FieldUpstreams]; got != "10.1.0.5:143" {
		t.Errorf("upstreams %q", got)
	}
	h.Fields[abi.FieldLogin] = "bob@other.example"
	if v := h.CallHook(abi.HookRoute); v != abi.VerdictRefuse || h.Fields[abi.FieldMessage] != "this domain is not hosted here" {
		t.Errorf("unknown domain: verdict %v message %q", v, h.Fields[abi.FieldMessage])
	}
}
