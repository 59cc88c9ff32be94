// Command url-rewrite is Postern's bundled HTTP rewrite plugin: ordered
// rules that match a request's host, path and method and rewrite its path,
// query, host and headers, or answer it with a redirect. See README.md for
// the configuration.
//
// Build it with `make plugins` (build/wasm/plugins/url-rewrite.wasm).
package main

import (
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/hook/response"
	"github.com/postern/postern/guest-sdk/hook/rewrite"
)

func main() {} // never called: the host runs init, then the exports

func init() {
	postern.OnInit(configure)
	rewrite.Handle(apply)
	response.Handle(respond)
}
