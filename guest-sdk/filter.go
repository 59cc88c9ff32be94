package postern

import (
	"strings"

	"github.com/postern/postern/abi"
)

// Request filters (ABI 1.1, ABI.md "Request filters"). Called from an
// [OnInit] function, each declares which logins and requests the plugin
// wants; the host then enters none of its hooks or events for the others,
// checking natively, so they cost the plugin nothing. Every filter that was
// set must match; a list matches when any item does. Calling one again
// replaces its list.
//
// A filter saves calls; it does not replace the plugin's own checks. A
// 1.0 host does not know the fields: the functions then return
// abi.ErrUnknownField and the plugin is entered for every request, so it
// must still behave correctly for requests outside its filter (skip them
// itself). Outside init they return abi.ErrNotAvailable.
//
//	func init() {
//		postern.OnInit(func([]byte) error {
//			_ = postern.OnlyWithLogin() // anonymous web requests never enter the plugin
//			return nil
//		})
//	}

// OnlyWithLogin: only logins and requests with a login, that is whose
// account (the login, unless a plugin set the account) is not empty when
// the hook or event is called. An anonymous web request (no basic auth, no
// user a login plugin found) is skipped.
func OnlyWithLogin() error { return Set(abi.FieldOnlyLogin, "1") }

// OnlyProtocols: only sessions of these protocols ("imap", "pop3",
// "http"); another name is abi.ErrInvalid.
func OnlyProtocols(protocols ...string) error {
	return Set(abi.FieldOnlyProtocols, strings.Join(protocols, "\x00"))
}

// OnlyHosts: only HTTP requests for these hosts: a name ("mail.example.com")
// or "*.example.com" for any subdomain, matched in any case and without the
// port. IMAP and POP3 sessions are skipped.
func OnlyHosts(hosts ...string) error { return Set(abi.FieldOnlyHosts, strings.Join(hosts, "\x00")) }

// OnlyPaths: only HTTP requests whose escaped path starts with one of
// these prefixes (each starting with "/"; "/service/" matches
// "/service/soap"). IMAP and POP3 sessions are skipped.
func OnlyPaths(prefixes ...string) error {
	return Set(abi.FieldOnlyPaths, strings.Join(prefixes, "\x00"))
}

// OnlyMethods: only HTTP requests with one of these methods, exactly
// ("GET", "POST"). IMAP and POP3 sessions are skipped.
func OnlyMethods(methods ...string) error {
	return Set(abi.FieldOnlyMethods, strings.Join(methods, "\x00"))
}
