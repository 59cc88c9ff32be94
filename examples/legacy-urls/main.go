// Command legacy-urls is an example rewrite plugin: it redirects requests
// for old webmail host names to the new site, and rewrites legacy webmail
// paths to their new ones before proxying. See README.md.
//
// Build it with `make plugins` (build/wasm/examples/legacy-urls.wasm).
package main

import (
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/hook/rewrite"
)

func main() {} // never called: the host runs init, then the exports

var rules *Rules

func init() {
	postern.OnInit(func(cfg []byte) error {
		r, err := ParseConfig(cfg)
		if err != nil {
			return err
		}
		rules = r
		return nil
	})
	rewrite.Handle(func() postern.Verdict {
		a := rules.Apply(postern.HTTPHost(), postern.HTTPPath(), postern.HTTPQuery())
		switch {
		case a.RedirectURL != "":
			if err := postern.Redirect(a.Code, a.RedirectURL); err != nil {
				postern.Warnf("legacy-urls: redirect to %q refused by the host: %v", a.RedirectURL, err)
				return postern.Continue
			}
			postern.CounterAdd("redirected", 1)
			return postern.Done
		case a.Path != "":
			if err := postern.SetHTTPPath(a.Path); err != nil {
				postern.Warnf("legacy-urls: path %q refused by the host: %v", a.Path, err)
				return postern.Continue
			}
			postern.CounterAdd("rewritten", 1)
		}
		return postern.Continue // later rewrite plugins may still act
	})
}
