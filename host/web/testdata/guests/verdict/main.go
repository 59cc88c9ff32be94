// Command verdict is a test guest that returns the verdict a request asks
// for, to check how the web front end maps verdicts to statuses. Header
// X-Test-<Hook> (login, throttle, route, rewrite) names the verdict:
// "refuse", "tempfail", "done" (route: with no upstreams), "delay" (set
// delay_ms 50 and continue), "redirect-no-url" (rewrite: a redirect code
// without a URL) or "header-then-trap" (set header X-Partial, then trap).
package main

import (
	"time"

	"github.com/postern/postern/abi"

	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/hook/login"
	"github.com/postern/postern/guest-sdk/hook/rewrite"
	"github.com/postern/postern/guest-sdk/hook/route"
	"github.com/postern/postern/guest-sdk/hook/throttle"
)

func main() {}

func init() {
	login.Handle(func() postern.Verdict { return verdict("X-Test-Login") })
	throttle.Handle(func() postern.Verdict { return verdict("X-Test-Throttle") })
	route.Handle(func() postern.Verdict { return verdict("X-Test-Route") })
	rewrite.Handle(func() postern.Verdict { return verdict("X-Test-Rewrite") })
}

func verdict(header string) postern.Verdict {
	switch postern.Header(header) {
	case "refuse":
		return postern.Refuse("refused by test")
	case "tempfail":
		return postern.TempFail("")
	case "done":
		return postern.Done
	case "delay":
		_ = postern.SetDelay(50 * time.Millisecond)
	case "redirect-no-url":
		_ = postern.Set(abi.FieldRedirectCode, "301") // no redirect_url
	case "header-then-trap":
		_ = postern.SetHeader("X-Partial", "1")
		panic("header-then-trap")
	}
	return postern.Continue
}
