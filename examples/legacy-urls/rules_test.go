package main

import (
	"strings"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/guest-sdk/sdktest"
)

const testConfig = `{
  "redirect_hosts": {"webmail.old.example": "https://mail.example.com", "owa.example.com": "https://mail.example.com/"},
  "code": 301,
  "paths": [
    {"from": "/zimbra", "to": "/"},
    {"from": "/zimbra/mail", "to": "/mail"},
    {"from": "/service/home/", "to": "/home"}
  ]
}`

func TestRules_Apply(t *testing.T) {
	r, err := ParseConfig([]byte(testConfig))
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, host, path, query string
		want                    Action
	}{
		{"old host keeps path and query", "webmail.old.example", "/h/search", "q=x", Action{Code: 301, RedirectURL: "https://mail.example.com/h/search?q=x"}},
		{"old host in any case with a port", "WEBMAIL.old.example:443", "/", "", Action{Code: 301, RedirectURL: "https://mail.example.com/"}},
		{"old host and a legacy path", "owa.example.com", "/zimbra/mail", "app=mail", Action{Code: 301, RedirectURL: "https://mail.example.com/mail?app=mail"}},
		{"longest prefix wins", "mail.example.com", "/zimbra/mail/inbox", "", Action{Path: "/mail/inbox"}},
		{"segment prefix", "mail.example.com", "/zimbra/h/search", "", Action{Path: "/h/search"}},
		{"prefix alone", "mail.example.com", "/zimbra", "", Action{Path: "/"}},
		{"not a whole segment", "mail.example.com", "/zimbrax", "", Action{}},
		{"prefix with slash", "mail.example.com", "/service/home/bob/inbox", "", Action{Path: "/home/bob/inbox"}},
		{"current URL untouched", "mail.example.com", "/mail/inbox", "", Action{}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := r.Apply(tc.host, tc.path, tc.query); got != tc.want {
				t.Errorf("Apply = %+v; want %+v", got, tc.want)
			}
		})
	}
}

func TestParseConfig_errors(t *testing.T) {
	tests := []struct{ name, config, want string }{
		{"nothing", `{}`, "nothing to do"},
		{"bad code", `{"code":200,"paths":[{"from":"/a","to":"/b"}]}`, "config.code 200"},
		{"bad base", `{"redirect_hosts":{"a":"mail.example.com"}}`, "not an http(s) URL"},
		{"base with query", `{"redirect_hosts":{"a":"https://b/?x"}}`, "not an http(s) URL"},
		{"relative path", `{"paths":[{"from":"a","to":"/b"}]}`, "config.paths[0]"},
		{"unknown key", `{"hosts":{}}`, "unknown field"},
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
	h.Fields[abi.FieldProtocol] = "http"
	h.Fields[abi.FieldHTTPHost] = "webmail.old.example"
	h.Fields[abi.FieldHTTPPath] = "/zimbra/mail"
	if v := h.CallHook(abi.HookRewrite); v != abi.VerdictDone ||
		h.Fields[abi.FieldRedirectCode] != "301" || h.Fields[abi.FieldRedirectURL] != "https://mail.example.com/mail" {
		t.Errorf("verdict %v redirect %q %q", v, h.Fields[abi.FieldRedirectCode], h.Fields[abi.FieldRedirectURL])
	}
	h.Fields[abi.FieldRedirectCode], h.Fields[abi.FieldRedirectURL] = "", ""
	h.Fields[abi.FieldHTTPHost] = "mail.example.com"
	if v := h.CallHook(abi.HookRewrite); v != abi.VerdictContinue || h.Fields[abi.FieldHTTPPath] != "/mail" {
		t.Errorf("verdict %v path %q", v, h.Fields[abi.FieldHTTPPath])
	}
}
