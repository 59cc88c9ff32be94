// Command oauth is Postern's bundled OAuth 2.0 login plugin: at the login
// hook it checks the bearer token of an OAUTHBEARER or XOAUTH2 login,
// locally as a JWT against the identity provider's JWKS (RS256, ES256) or
// by asking an RFC 7662 introspection endpoint, sets the login from the
// token and refuses a token that names another user than the one the
// client claims. See README.md.
//
// This file is the SDK wiring only; the logic is in oauth.go, jwt.go and
// config.go, which compile natively so their tests run with go test.
package main

import (
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/hook/login"
)

func main() {} // never called: the host runs init, then the exports

// state is this instance's checker, built by init from the config.
var state *checker

func init() {
	postern.OnInit(func(cfg []byte) error {
		c, err := parseConfig(cfg)
		if err != nil {
			return err
		}
		state = newChecker(c)
		// Only mail logins carry tokens.
		_ = postern.OnlyProtocols("imap", "pop3")
		if c.vouch {
			// A token this plugin accepted may be logged in upstream as a
			// master user (mail.upstream.oauth_login): it vouches (ABI 1.1).
			_ = postern.SetPasswordVerified(true)
		}
		return nil
	})
	login.Handle(func() postern.Verdict { return state.login() })
}
