package main

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/sdktest"
)

const testConfig = `{
  "networks": ["198.51.100.0/24", "2001:db8:bad::/48", "192.0.2.99"],
  "countries": {"XA": ["203.0.113.0/24"], "XB": ["192.0.2.0/24"]},
  "deny_countries": ["XA", "XB"],
  "allow": ["192.0.2.10/32"],
  "message": "logins from your network are not allowed; call the helpdesk",
  "country_messages": {"XA": "logins from your country are not allowed"}
}`

func TestPolicy_Check(t *testing.T) {
	p, err := ParseConfig([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		ip      string
		denied  bool
		message string
	}{
		{"198.51.100.7", true, "logins from your network are not allowed; call the helpdesk"},
		{"2001:db8:bad::1", true, "logins from your network are not allowed; call the helpdesk"},
		{"2001:db8:good::1", false, ""},
		{"203.0.113.9", true, "logins from your country are not allowed"},
		{"::ffff:203.0.113.9", true, "logins from your country are not allowed"},
		{"192.0.2.5", true, "logins from your network are not allowed; call the helpdesk"},
		{"192.0.2.99", true, "logins from your network are not allowed; call the helpdesk"}, // the /32 wins over XB's /24
		{"192.0.2.10", false, ""}, // allowed although XB is denied
		{"10.0.0.1", false, ""},
		{"", false, ""},
	}
	for _, tc := range tests {
		t.Run(tc.ip, func(t *testing.T) {
			ip, _ := netip.ParseAddr(tc.ip)
			msg, denied := p.Check(ip)
			if denied != tc.denied || msg != tc.message {
				t.Errorf("Check(%s) = %q, %v; want %q, %v", tc.ip, msg, denied, tc.message, tc.denied)
			}
		})
	}
}

func TestParseConfig_errors(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"nothing", `{}`, "nothing to deny"},
		{"empty", ``, "nothing to deny"},
		{"bad cidr", `{"networks":["10.0.0.0/33"]}`, "not a CIDR block"},
		{"unknown country", `{"deny_countries":["XZ"]}`, `"XZ" has no entry`},
		{"bad country block", `{"countries":{"XA":["x"]},"deny_countries":["XA"]}`, "config.countries.XA"},
		{"two-line message", `{"networks":["10.0.0.0/8"],"message":"a\nb"}`, "one line"},
		{"unknown key", `{"network":[]}`, "unknown field"},
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
	h.Fields[abi.FieldLogin] = "bob"
	h.Fields[abi.FieldClientIP] = "203.0.113.9"
	if v := h.CallHook(abi.HookLogin); v != abi.VerdictRefuse || h.Fields[abi.FieldMessage] != "logins from your country are not allowed" {
		t.Errorf("verdict %v message %q", v, h.Fields[abi.FieldMessage])
	}
	if h.Counters["denied"] != 1 {
		t.Errorf("counters %v", h.Counters)
	}
	h.Fields[abi.FieldClientIP] = "10.0.0.1"
	if v := h.CallHook(abi.HookLogin); v != abi.VerdictContinue {
		t.Errorf("allowed address: verdict %v", v)
	}
}
