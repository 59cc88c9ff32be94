package plugin

import (
	"bytes"
	"strings"

	"github.com/postern/postern/abi"
)

// filter is what a plugin's init declared with the request filter fields
// (abi.FieldOnlyLogin .. abi.FieldOnlyMethods, ABI.md "Request filters").
// A generation keeps the trial instance's; nil means none. The host checks
// it before entering any hook or event of the plugin, natively and
// without allocating, so a request outside it costs no guest call.
type filter struct {
	login   bool
	protos  uint8 // bit per protoBit; 0: any
	hosts   []string
	paths   []string
	methods []string

	// reuseMS is the decision reuse the init declared (abi.FieldReuseMS,
	// ABI 1.2), in milliseconds; 0: none. It is not a filter: empty and
	// match ignore it.
	reuseMS int64
}

const (
	protoIMAP uint8 = 1 << iota
	protoPOP3
	protoHTTP
)

func protoBit(p string) uint8 {
	switch p {
	case "imap":
		return protoIMAP
	case "pop3":
		return protoPOP3
	case "http":
		return protoHTTP
	}
	return 0
}

// empty reports whether the filter restricts nothing.
func (w *filter) empty() bool {
	return !w.login && w.protos == 0 && w.hosts == nil && w.paths == nil && w.methods == nil
}

// match reports whether the plugin wants the session f as it is now.
func (w *filter) match(f *Fields) bool {
	if w.login && f.Account == "" && f.Login == "" {
		return false
	}
	if w.protos != 0 && w.protos&protoBit(f.Protocol) == 0 {
		return false
	}
	if w.hosts == nil && w.paths == nil && w.methods == nil {
		return true
	}
	h := f.HTTP
	if h == nil {
		return false // HTTP filters: a mail session has no host, path or method
	}
	if w.methods != nil && !containsString(w.methods, h.Method) {
		return false
	}
	if w.paths != nil && !hasAnyPrefix(h.Path, w.paths) {
		return false
	}
	if w.hosts != nil && !matchHost(w.hosts, h.Host) {
		return false
	}
	return true
}

func containsString(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func hasAnyPrefix(s string, prefixes []string) bool {
	for _, p := range prefixes {
		if strings.HasPrefix(s, p) {
			return true
		}
	}
	return false
}

// matchHost matches host (a Host header: name, name:port, [v6]:port)
// against names and "*.suffix" patterns, in any case, without the port.
func matchHost(patterns []string, host string) bool {
	if i := strings.LastIndexByte(host, ':'); i >= 0 && !strings.Contains(host[i:], "]") {
		host = host[:i]
	}
	host = strings.TrimSuffix(host, ".")
	for _, p := range patterns {
		if sfx, ok := strings.CutPrefix(p, "*"); ok { // ".example.com"
			if len(host) > len(sfx) && strings.EqualFold(host[len(host)-len(sfx):], sfx) {
				return true
			}
		} else if strings.EqualFold(host, p) {
			return true
		}
	}
	return false
}

// set stores one filter field written in init. Lists replace the
// previous value; an invalid item refuses the whole write.
func (w *filter) set(id abi.Field, v []byte) abi.Err {
	if id == abi.FieldOnlyLogin {
		b, ok := parseBool(v)
		if !ok {
			return abi.ErrInvalid
		}
		w.login = b
		return 0
	}
	var items []string
	if len(v) > 0 {
		for _, it := range bytes.Split(v, []byte{0}) {
			s := string(it)
			if !validFilterItem(id, s) {
				return abi.ErrInvalid
			}
			items = append(items, s)
		}
	}
	switch id {
	case abi.FieldOnlyProtocols:
		w.protos = 0
		for _, s := range items {
			w.protos |= protoBit(s)
		}
	case abi.FieldOnlyHosts:
		w.hosts = items
	case abi.FieldOnlyPaths:
		w.paths = items
	case abi.FieldOnlyMethods:
		w.methods = items
	default:
		return abi.ErrNotAvailable
	}
	return 0
}

func validFilterItem(id abi.Field, s string) bool {
	if s == "" {
		return false
	}
	switch id {
	case abi.FieldOnlyProtocols:
		return protoBit(s) != 0
	case abi.FieldOnlyMethods:
		return validHeaderName(s) // a method is an HTTP token
	case abi.FieldOnlyPaths:
		return s[0] == '/' && !strings.ContainsAny(s, " \r\n\t?#")
	case abi.FieldOnlyHosts:
		name := strings.TrimPrefix(s, "*.")
		return name != "" && !strings.ContainsAny(name, " /\r\n\t*:")
	}
	return false
}

// appendValue encodes one filter field as field_get reads it.
func (w *filter) appendValue(b []byte, id abi.Field) []byte {
	list := func(items []string) []byte {
		for i, s := range items {
			if i > 0 {
				b = append(b, 0)
			}
			b = append(b, s...)
		}
		return b
	}
	switch id {
	case abi.FieldOnlyLogin:
		return appendBool(b, w.login)
	case abi.FieldOnlyProtocols:
		var ps []string
		for _, p := range []string{"imap", "pop3", "http"} {
			if w.protos&protoBit(p) != 0 {
				ps = append(ps, p)
			}
		}
		return list(ps)
	case abi.FieldOnlyHosts:
		return list(w.hosts)
	case abi.FieldOnlyPaths:
		return list(w.paths)
	case abi.FieldOnlyMethods:
		return list(w.methods)
	}
	return b
}

// describe is the filter for operators (`postern plugins`), e.g.
// "login protocols=http paths=/service/,/home/".
func (w *filter) describe() string {
	if w == nil {
		return ""
	}
	var parts []string
	if w.login {
		parts = append(parts, "login")
	}
	if w.protos != 0 {
		parts = append(parts, "protocols="+strings.ReplaceAll(string(w.appendValue(nil, abi.FieldOnlyProtocols)), "\x00", ","))
	}
	for _, kv := range []struct {
		k string
		v []string
	}{{"hosts", w.hosts}, {"paths", w.paths}, {"methods", w.methods}} {
		if kv.v != nil {
			parts = append(parts, kv.k+"="+strings.Join(kv.v, ","))
		}
	}
	return strings.Join(parts, " ")
}
