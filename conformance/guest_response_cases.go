package conformance

import (
	"strings"

	"github.com/postern/postern/abi"
)

// The ABI 1.1 response hook through the SDK guests: the same commands,
// run in postern_hook_response on a 302 (respCmd). A guest whose SDK does
// not export the hook yet passes these cases without running them
// (guestExportsResponse); the WAT cases (response_cases.go) hold every
// host to them.
func init() { guestCases = append(guestCases, guestResponseCases...) }

// respCmd is an HTTP request answered by a 302 with Location, Server and
// two Set-Cookie headers.
func respCmd(cmd string) *Fields {
	f := responseFields("302")
	f.Values[abi.FieldLogin] = cmd
	return f
}

func respHeaderIs(k, want string) func(c *C, p Plugin, f *Fields, key string) {
	return func(c *C, _ Plugin, f *Fields, _ string) {
		got, ok := f.RespHeader[k]
		switch {
		case want == "" && ok:
			c.Errorf("response header %s = %q after the call; want it removed", k, got)
		case want != "" && strings.Join(got, "|") != want:
			c.Errorf("response header %s = %q after the call; want %q", k, got, want)
		}
	}
}

var hookResponse = abi.HookResponse

var guestResponseCases = []guestCase{
	{name: "response/get response_status", section: "ABI.md#response-hook", hook: hookResponse, fields: respCmd, cmd: "get:46", want: "302"},
	{name: "response/response_status is read-only", section: "ABI.md#access-per-phase", hook: hookResponse, fields: respCmd, cmd: "set:46:200", want: "-3"},
	{name: "response/Location in any case", section: "ABI.md#response-hook", hook: hookResponse, fields: respCmd, cmd: "key:47:location", want: "http://10.0.0.5:8080/app/login"},
	{name: "response/Set-Cookie reads as a list", section: "ABI.md#response-hook", hook: hookResponse, fields: respCmd, cmd: "key:47:Set-Cookie",
		want: "a=1; Path=/app\x00b=2; Expires=Wed, 21 Oct 2026 07:28:00 GMT"},
	{name: "response/setkey replaces Location", section: "ABI.md#field_set_key", hook: hookResponse, fields: respCmd, cmd: "setkey:47:Location:https://mail.example.com/",
		want: "ok", after: respHeaderIs("Location", "https://mail.example.com/")},
	{name: "response/setkey adds a header", section: "ABI.md#field_set_key", hook: hookResponse, fields: respCmd, cmd: "setkey:47:X-Added:yes",
		want: "ok", after: respHeaderIs("X-Added", "yes")},
	// Writing a Set-Cookie list and a NUL in another header need a NUL in
	// the command, which the C guest's NUL-terminated command cannot
	// carry: testdata/response.wat checks both.
	{name: "response/Content-Length is the host's", section: "ABI.md#response-hook", hook: hookResponse, fields: respCmd, cmd: "setkey:47:Content-Length:5", want: "-3"},
	{name: "response/Connection cannot be deleted", section: "ABI.md#response-hook", hook: hookResponse, fields: respCmd, cmd: "delkey:47:connection", want: "-3"},
	{name: "response/delkey Server", section: "ABI.md#field_delete_key", hook: hookResponse, fields: respCmd, cmd: "delkey:47:Server",
		want: "ok", after: respHeaderIs("Server", "")},
	{name: "response/delkey an absent header", section: "ABI.md#field_delete_key", hook: hookResponse, fields: respCmd, cmd: "delkey:47:X-None", want: "-5"},
	{name: "response/request headers are read-only", section: "ABI.md#access-per-phase", hook: hookResponse, fields: respCmd, cmd: "setkey:21:X-A:1", want: "-3"},
	{name: "response/no password", section: "ABI.md#access-per-phase", hook: hookResponse, fields: respCmd, cmd: "get:13", want: "-2"},
	{name: "response/upstream is the backend", section: "ABI.md#response-hook", hook: hookResponse, fields: respCmd, cmd: "get:34", want: "10.0.0.5:8080"},
	{name: "response/no response_status in rewrite", section: "ABI.md#access-per-phase", hook: hookRewrite, fields: httpCmd, cmd: "get:46", want: "-2"},
	{name: "response/no response_header in rewrite", section: "ABI.md#access-per-phase", hook: hookRewrite, fields: httpCmd, cmd: "key:47:Location", want: "-2"},
	{name: "response/no response_status in IMAP", section: "ABI.md#fields", cmd: "get:46", want: "-2"},
}

// guestExportsResponse reports whether p serves the response hook: the
// guest answers "get:1" there (its message becomes "http").
func guestExportsResponse(p Plugin) bool {
	f := respCmd("get:1")
	f.Values[abi.FieldMessage] = "before"
	_, err := p.Run(abi.HookResponse, f)
	return err == nil && f.Get(abi.FieldMessage) == "http"
}
