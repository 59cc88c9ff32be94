// Command login-path is a test guest: a login plugin that finds the user in
// the request path (/home/<user>/..., /dav/<user>/...) or in ActiveSync's
// User= query parameter, to show a plugin deciding who the user is.
package main

import (
	"net/url"
	"strings"

	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/hook/login"
)

func main() {}

func init() { login.Handle(fromPath) }

func fromPath() postern.Verdict {
	if postern.Login() != "" {
		return postern.Continue // basic auth already named the user
	}
	path := postern.HTTPPath()
	for _, prefix := range []string{"/home/", "/dav/"} {
		if rest, ok := strings.CutPrefix(path, prefix); ok {
			seg, _, _ := strings.Cut(rest, "/")
			if user, err := url.PathUnescape(seg); err == nil && user != "" {
				_ = postern.SetLogin(user)
				return postern.Done
			}
		}
	}
	if strings.HasPrefix(path, "/Microsoft-Server-ActiveSync") {
		q, err := url.ParseQuery(postern.HTTPQuery())
		if err == nil && q.Get("User") != "" {
			_ = postern.SetLogin(q.Get("User"))
			return postern.Done
		}
	}
	return postern.Continue
}
