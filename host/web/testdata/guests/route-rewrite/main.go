// Command route-rewrite is a test guest serving two hooks:
//
//   - route: the account's upstream from the configuration
//     {"routes": {"bob": "127.0.0.1:8080"}}, or its pool
//     {"pools": {"carol": "api"}}; others continue (the pool);
//   - rewrite: /old/<x> becomes /new/<x> with header X-Rewritten: 1 and
//     query "rewritten=1"; /vhost/<x> goes to host "rewritten.test";
//     /moved answers 302 to https://example.test/new; with
//     {"pool_header": true}, X-Pool carries the pool field first.
package main

import (
	"encoding/json"
	"strings"

	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/hook/rewrite"
	"github.com/postern/postern/guest-sdk/hook/route"
)

var (
	routes, pools map[string]string
	poolHeader    bool
)

func main() {}

func init() {
	postern.OnInit(func(cfg []byte) error {
		var c struct {
			Routes     map[string]string `json:"routes"`
			Pools      map[string]string `json:"pools"`
			PoolHeader bool              `json:"pool_header"`
		}
		if len(cfg) > 0 {
			if err := json.Unmarshal(cfg, &c); err != nil {
				return err
			}
		}
		routes, pools, poolHeader = c.Routes, c.Pools, c.PoolHeader
		return nil
	})
	route.Handle(func() postern.Verdict {
		if up, ok := routes[postern.Account()]; ok {
			_ = postern.SetUpstreams([]string{up})
			return postern.Done
		}
		if p, ok := pools[postern.Account()]; ok {
			_ = postern.SetPool(p)
			return postern.Done
		}
		return postern.Continue
	})
	rewrite.Handle(func() postern.Verdict {
		if poolHeader {
			_ = postern.SetHeader("X-Pool", postern.Pool())
		}
		path := postern.HTTPPath()
		switch {
		case path == "/moved":
			_ = postern.Redirect(302, "https://example.test/new")
			return postern.Done
		case strings.HasPrefix(path, "/old/"):
			_ = postern.SetHTTPPath("/new/" + path[len("/old/"):])
			_ = postern.SetHTTPQuery("rewritten=1")
			_ = postern.SetHeader("X-Rewritten", "1")
			return postern.Done
		case strings.HasPrefix(path, "/vhost/"):
			_ = postern.SetHTTPHost("rewritten.test")
			return postern.Done
		}
		return postern.Continue
	})
}
