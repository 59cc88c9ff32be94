package plugincall

import (
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/host/internal/confdecode"
	"github.com/postern/postern/host/plugin"
)

// callField is one plain field `postern call` can set and print, named
// as in ABI.md "Fields".
type callField struct {
	name   string
	set    func(f *plugin.Fields, v string) error
	get    func(f *plugin.Fields) string
	secret bool // printed as <set>, never its value
}

// httpOf returns f's HTTP fields, creating them: setting any HTTP field
// makes the session an HTTP one.
func httpOf(f *plugin.Fields) *plugin.HTTPFields {
	if f.HTTP == nil {
		f.HTTP = &plugin.HTTPFields{Header: http.Header{}}
	}
	return f.HTTP
}

func httpGet(get func(h *plugin.HTTPFields) string) func(*plugin.Fields) string {
	return func(f *plugin.Fields) string {
		if f.HTTP == nil {
			return ""
		}
		return get(f.HTTP)
	}
}

func str(dst func(f *plugin.Fields) *string) func(*plugin.Fields, string) error {
	return func(f *plugin.Fields, v string) error { *dst(f) = v; return nil }
}

func parseIP(v string) (netip.Addr, error) {
	a, err := netip.ParseAddr(v)
	if err != nil {
		return a, fmt.Errorf("%q is not an IP address", v)
	}
	return a, nil
}

func parsePort(v string) (uint16, error) {
	n, err := strconv.ParseUint(v, 10, 16)
	if err != nil {
		return 0, fmt.Errorf("%q is not a port number", v)
	}
	return uint16(n), nil
}

func portText(p uint16) string {
	if p == 0 {
		return ""
	}
	return strconv.Itoa(int(p))
}

func addrText(a netip.Addr) string {
	if !a.IsValid() {
		return ""
	}
	return a.String()
}

func boolText(b bool) string {
	if b {
		return "1"
	}
	return ""
}

// callFields are the plain fields in ABI order; keyed fields are
// header:Name and imap_id:key.
var callFields = []callField{
	{name: "protocol", set: str(func(f *plugin.Fields) *string { return &f.Protocol }), get: func(f *plugin.Fields) string { return f.Protocol }},
	{name: "listener", set: str(func(f *plugin.Fields) *string { return &f.Listener }), get: func(f *plugin.Fields) string { return f.Listener }},
	{name: "session_id", set: str(func(f *plugin.Fields) *string { return &f.SessionID }), get: func(f *plugin.Fields) string { return f.SessionID }},
	{name: "client_ip", set: func(f *plugin.Fields, v string) error {
		a, err := parseIP(v)
		f.Client = netip.AddrPortFrom(a, f.Client.Port())
		return err
	}, get: func(f *plugin.Fields) string { return addrText(f.Client.Addr()) }},
	{name: "client_port", set: func(f *plugin.Fields, v string) error {
		p, err := parsePort(v)
		f.Client = netip.AddrPortFrom(f.Client.Addr(), p)
		return err
	}, get: func(f *plugin.Fields) string { return portText(f.Client.Port()) }},
	{name: "local_ip", set: func(f *plugin.Fields, v string) error {
		a, err := parseIP(v)
		f.Local = netip.AddrPortFrom(a, f.Local.Port())
		return err
	}, get: func(f *plugin.Fields) string { return addrText(f.Local.Addr()) }},
	{name: "local_port", set: func(f *plugin.Fields, v string) error {
		p, err := parsePort(v)
		f.Local = netip.AddrPortFrom(f.Local.Addr(), p)
		return err
	}, get: func(f *plugin.Fields) string { return portText(f.Local.Port()) }},
	{name: "tls_version", set: str(func(f *plugin.Fields) *string { return &f.TLSVersion }), get: func(f *plugin.Fields) string { return f.TLSVersion }},
	{name: "tls_cipher", set: str(func(f *plugin.Fields) *string { return &f.TLSCipher }), get: func(f *plugin.Fields) string { return f.TLSCipher }},
	{name: "sni", set: str(func(f *plugin.Fields) *string { return &f.SNI }), get: func(f *plugin.Fields) string { return f.SNI }},
	{name: "auth_method", set: str(func(f *plugin.Fields) *string { return &f.AuthMethod }), get: func(f *plugin.Fields) string { return f.AuthMethod }},
	{name: "login", set: str(func(f *plugin.Fields) *string { return &f.Login }), get: func(f *plugin.Fields) string { return f.Login }},
	{name: "password", secret: true, set: str(func(f *plugin.Fields) *string { return &f.Password }), get: func(f *plugin.Fields) string { return f.Password }},
	{name: "login_attempt", set: func(f *plugin.Fields, v string) error {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return fmt.Errorf("%q: want a number from 1", v)
		}
		f.LoginAttempt = n
		return nil
	}, get: func(f *plugin.Fields) string { return strconv.Itoa(f.LoginAttempt) }},
	{name: "account", set: str(func(f *plugin.Fields) *string { return &f.Account }), get: func(f *plugin.Fields) string { return f.Account }},
	{name: "auth_id", set: str(func(f *plugin.Fields) *string { return &f.AuthID }), get: func(f *plugin.Fields) string { return f.AuthID }},
	{name: "http_method", set: func(f *plugin.Fields, v string) error { httpOf(f).Method = v; return nil }, get: httpGet(func(h *plugin.HTTPFields) string { return h.Method })},
	{name: "http_host", set: func(f *plugin.Fields, v string) error { httpOf(f).Host = v; return nil }, get: httpGet(func(h *plugin.HTTPFields) string { return h.Host })},
	{name: "http_path", set: func(f *plugin.Fields, v string) error { httpOf(f).Path = v; return nil }, get: httpGet(func(h *plugin.HTTPFields) string { return h.Path })},
	{name: "http_query", set: func(f *plugin.Fields, v string) error { httpOf(f).Query = v; return nil }, get: httpGet(func(h *plugin.HTTPFields) string { return h.Query })},
	{name: "upstreams", set: func(f *plugin.Fields, v string) error {
		f.Upstreams = nil
		for u := range strings.SplitSeq(v, ",") {
			if u = strings.TrimSpace(u); u != "" {
				f.Upstreams = append(f.Upstreams, u)
			}
		}
		return nil
	}, get: func(f *plugin.Fields) string { return strings.Join(f.Upstreams, ",") }},
	{name: "upstream_login", set: str(func(f *plugin.Fields) *string { return &f.UpstreamLogin }), get: func(f *plugin.Fields) string { return f.UpstreamLogin }},
	{name: "upstream_password", secret: true, set: str(func(f *plugin.Fields) *string { return &f.UpstreamPassword }), get: func(f *plugin.Fields) string { return f.UpstreamPassword }},
	{name: "message", set: str(func(f *plugin.Fields) *string { return &f.Message }), get: func(f *plugin.Fields) string { return f.Message }},
	{name: "delay_ms", set: func(f *plugin.Fields, v string) error {
		n, err := strconv.ParseUint(v, 10, 32)
		if err != nil {
			return fmt.Errorf("%q: want milliseconds", v)
		}
		f.Delay = time.Duration(n) * time.Millisecond
		return nil
	}, get: func(f *plugin.Fields) string {
		if f.Delay == 0 {
			return ""
		}
		return strconv.FormatInt(f.Delay.Milliseconds(), 10)
	}},
	{name: "redirect_code", set: func(f *plugin.Fields, v string) error {
		n, err := strconv.Atoi(v)
		httpOf(f).RedirectCode = n
		if err != nil {
			return fmt.Errorf("%q: want an HTTP status code", v)
		}
		return nil
	}, get: httpGet(func(h *plugin.HTTPFields) string {
		if h.RedirectCode == 0 {
			return ""
		}
		return strconv.Itoa(h.RedirectCode)
	})},
	{name: "redirect_url", set: func(f *plugin.Fields, v string) error { httpOf(f).RedirectURL = v; return nil }, get: httpGet(func(h *plugin.HTTPFields) string { return h.RedirectURL })},
	{name: "cache_alias", set: func(f *plugin.Fields, v string) (err error) {
		f.CacheAlias, err = parseBool(v)
		return err
	}, get: func(f *plugin.Fields) string { return boolText(f.CacheAlias) }},
	{name: "client_suffix", set: str(func(f *plugin.Fields) *string { return &f.ClientSuffix }), get: func(f *plugin.Fields) string { return f.ClientSuffix }},
	{name: "upstream", set: str(func(f *plugin.Fields) *string { return &f.Upstream }), get: func(f *plugin.Fields) string { return f.Upstream }},
	{name: "route_cached", set: func(f *plugin.Fields, v string) (err error) {
		f.RouteCached, err = parseBool(v)
		return err
	}, get: func(f *plugin.Fields) string { return boolText(f.RouteCached) }},
	{name: "password_verified", set: func(f *plugin.Fields, v string) (err error) {
		f.PasswordVerified, err = parseBool(v)
		return err
	}, get: func(f *plugin.Fields) string { return boolText(f.PasswordVerified) }},
	{name: "upstream_auth", set: str(func(f *plugin.Fields) *string { return &f.UpstreamAuth }), get: func(f *plugin.Fields) string { return f.UpstreamAuth }},
}

func parseBool(v string) (bool, error) {
	b, err := strconv.ParseBool(v)
	if err != nil {
		return false, fmt.Errorf("%q: want 1 or 0", v)
	}
	return b, nil
}

// secretHeaders carry credentials or session tokens: printed as <set>.
var secretHeaders = []string{"Authorization", "Proxy-Authorization", "Cookie"}

// ParseFields turns name=value assignments (the -field flags of `postern
// call`, the fields of POST /call) into Fields: plain fields by their ABI
// name, header:Name=value and imap_id:key=value for keyed ones. Errors
// name the field by its name or position, never by its value, which may
// be a secret. Protocol defaults to imap, or http when an HTTP field is
// set; session_id to "postern-call".
func ParseFields(flags []string) (*plugin.Fields, error) {
	f := &plugin.Fields{SessionID: "postern-call", LoginAttempt: 1}
	protocolSet := false
	var errs []error
	for i, fl := range flags {
		name, val, ok := strings.Cut(fl, "=")
		if !ok {
			errs = append(errs, fmt.Errorf("-field #%d has no \"=\": write name=value (-field help lists the names)", i+1))
			continue
		}
		if key, ok := strings.CutPrefix(name, "header:"); ok {
			if key == "" {
				errs = append(errs, fmt.Errorf("-field #%d: write header:Name=value", i+1))
				continue
			}
			httpOf(f).Header.Add(key, val)
			continue
		}
		if key, ok := strings.CutPrefix(name, "imap_id:"); ok {
			if f.IMAPID == nil {
				f.IMAPID = map[string]string{}
			}
			f.IMAPID[key] = val
			continue
		}
		i := slices.IndexFunc(callFields, func(c callField) bool { return c.name == name })
		if i < 0 {
			errs = append(errs, fmt.Errorf("-field %s: unknown field%s", name, didYouMean(name)))
			continue
		}
		if err := callFields[i].set(f, val); err != nil {
			errs = append(errs, fmt.Errorf("-field %s: %w", name, err))
		}
		protocolSet = protocolSet || name == "protocol"
	}
	if !protocolSet {
		f.Protocol = "imap"
		if f.HTTP != nil {
			f.Protocol = "http"
		}
	}
	return f, errors.Join(errs...)
}

// FieldNames lists the field names ParseFields accepts, for help and
// errors.
func FieldNames() string {
	names := make([]string, 0, len(callFields)+2)
	for _, c := range callFields {
		names = append(names, c.name)
	}
	return strings.Join(append(names, "header:Name", "imap_id:key"), ", ")
}

func didYouMean(name string) string {
	best, bestD := "", 3
	for _, c := range callFields {
		if d := confdecode.EditDistance(name, c.name); d < bestD {
			best, bestD = c.name, d
		}
	}
	if best == "" {
		return "; known fields: " + FieldNames()
	}
	return " (did you mean " + best + "?)"
}

// FieldLines returns every non-empty field as name=value, plain fields in
// ABI order, then headers and IMAP ID keys sorted. Passwords and
// credential headers read <set>, never their value.
func FieldLines(f *plugin.Fields) []string {
	var out []string
	for _, c := range callFields {
		v := c.get(f)
		if v == "" {
			continue
		}
		if c.secret {
			v = "<set>"
		}
		out = append(out, c.name+"="+v)
	}
	if f.HTTP != nil {
		for _, name := range slices.Sorted(maps.Keys(f.HTTP.Header)) {
			for _, v := range f.HTTP.Header[name] {
				if slices.Contains(secretHeaders, http.CanonicalHeaderKey(name)) {
					v = "<set>"
				}
				out = append(out, "header:"+name+"="+v)
			}
		}
	}
	for _, k := range slices.Sorted(maps.Keys(f.IMAPID)) {
		out = append(out, "imap_id:"+k+"="+f.IMAPID[k])
	}
	return out
}
