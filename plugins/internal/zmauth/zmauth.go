// Package zmauth reads the account id (zimbraId) out of a Zimbra auth token
// the way Zimbra's proxy does, for the bundled plugins route-lookup and
// route-cache, which route web requests by it. Their C ports carry the same
// rules (plugins/route-lookup/c/plugin.c, plugins/route-cache/c/plugin.c);
// change them together.
//
// A token (the ZM_AUTH_TOKEN cookie, or the zauthtoken query argument) is
// "<key version>_<hmac>_<hex of data>", where data is a list of
// "name=length:value;" fields (ZimbraAuthToken.getEncoded):
//
//	id=36:cc00ce85-8c0b-49eb-8e08-a8aab43ce836;exp=13:1196504658160;type=6:zimbra;
//
// Like Zimbra's nginx (ngx_field_from_zmauthtoken), the package takes the
// id field of the data and checks neither the HMAC nor the expiry: the
// token only chooses a mailbox server, which checks the token itself. It
// imports only the standard library and holds no state.
package zmauth

// Cookie and QueryArg are where Zimbra's proxy looks for a web client's
// token, in that order.
const (
	Cookie   = "ZM_AUTH_TOKEN"
	QueryArg = "zauthtoken"
)

// AccountID returns the id field of token's data, and false when token
// has fewer than two '_', its data part is not hex of even length, or it
// has no id field with a non-empty value. Parsing stops at the first
// malformed field, as nginx's does: a field is a name, '=', a decimal
// length, ':' and that many bytes, then one separator byte.
func AccountID(token string) (string, bool) {
	under := 0
	start := -1
	for i := 0; i < len(token); i++ {
		if token[i] == '_' {
			under++
			if under == 2 {
				start = i + 1
				break
			}
		}
	}
	if start < 0 {
		return "", false
	}
	hexData := token[start:]
	if len(hexData)%2 != 0 {
		return "", false
	}
	data := make([]byte, len(hexData)/2)
	for i := range data {
		hi, ok1 := unhex(hexData[2*i])
		lo, ok2 := unhex(hexData[2*i+1])
		if !ok1 || !ok2 {
			return "", false
		}
		data[i] = hi<<4 | lo
	}
	p := 0
	for p < len(data) {
		nameStart := p
		for p < len(data) && data[p] != '=' {
			p++
		}
		if p == len(data) {
			break
		}
		name := data[nameStart:p]
		p++ // '='
		n := 0
		for p < len(data) && data[p] >= '0' && data[p] <= '9' {
			if n > len(data) {
				return "", false // longer than the data: malformed
			}
			n = n*10 + int(data[p]-'0')
			p++
		}
		if p == len(data) || data[p] != ':' {
			break
		}
		p++ // ':'
		if n > len(data)-p {
			break
		}
		value := data[p : p+n]
		p += n
		if string(name) == "id" {
			if n == 0 {
				return "", false
			}
			return string(value), true
		}
		if p < len(data) {
			p++ // ';'
		}
	}
	return "", false
}

func unhex(c byte) (byte, bool) {
	switch {
	case c >= '0' && c <= '9':
		return c - '0', true
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10, true
	case c >= 'A' && c <= 'F':
		return c - 'A' + 10, true
	}
	return 0, false
}

// Arg returns the raw value of the first argument called name in a raw
// query ("a=1&zauthtoken=..."), without unescaping, as nginx's
// ngx_get_query_string_arg finds it; false when there is none. A part
// without '=' is no argument.
func Arg(query, name string) (string, bool) {
	for query != "" {
		part := query
		if i := indexByte(query, '&'); i >= 0 {
			part, query = query[:i], query[i+1:]
		} else {
			query = ""
		}
		if i := indexByte(part, '='); i >= 0 && part[:i] == name {
			return part[i+1:], true
		}
	}
	return "", false
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// Token returns a web request's token: the cookie's value when it is not
// empty, else the zauthtoken query argument. cookie reads a request
// cookie ("" when absent) and query is the raw query.
func Token(cookie func(name string) string, query string) string {
	if t := cookie(Cookie); t != "" {
		return t
	}
	t, _ := Arg(query, QueryArg)
	return t
}
