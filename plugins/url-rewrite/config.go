package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"regexp/syntax"
	"slices"
	"strconv"
	"strings"
)

// rawConfig is the configuration as the operator writes it (JSON).
type rawConfig struct {
	Rules    []json.RawMessage `json:"rules"`    // decoded one by one so errors name the index
	Response []json.RawMessage `json:"response"` // response rules (ABI 1.1 response hook)
}

// config is the checked configuration: request rules (rewrite hook) and
// response rules (response hook).
type config struct {
	rules    []rule
	response []respRule
}

type rawRule struct {
	Host          string            `json:"host"`
	Path          string            `json:"path"`
	Method        json.RawMessage   `json:"method"`
	Rewrite       *rawRewrite       `json:"rewrite"`
	SetHeaders    map[string]string `json:"set_headers"`
	RemoveHeaders []string          `json:"remove_headers"`
	Redirect      *rawRedirect      `json:"redirect"`
	Last          *bool             `json:"last"`
}

type rawRewrite struct {
	Path        *string           `json:"path"`
	Query       *string           `json:"query"`
	QueryParams map[string]string `json:"query_params"`
	Host        *string           `json:"host"`
}

type rawRedirect struct {
	Code int    `json:"code"`
	To   string `json:"to"`
}

// rule is one checked rule.
type rule struct {
	hits string // counter name, rule_<i>_hits

	// Match: every criterion given must hold.
	hostExact  string         // lower case; "" = any
	hostSuffix string         // ".example.com" for "*.example.com"
	path       *regexp.Regexp // nil = any
	methods    []string       // nil = any

	// Actions. Templates expand $1, ${1}, ${name} from the path match.
	newPath, newQuery, newHost *string
	queryParams                []param
	setHeaders                 []param // name, value template
	removeHeaders              []string
	redirectCode               int
	redirectTo                 string

	last bool
}

type param struct{ name, value string }

// redirectCodes are the codes the ABI accepts in redirect_code.
var redirectCodes = []int{301, 302, 303, 307, 308}

// emptyRE stands in for a rule without a path pattern so that templates
// always expand through one code path.
var emptyRE = regexp.MustCompile(``)

// parseConfig decodes and checks the rules. Errors name the rule and the
// key at fault ("url-rewrite: config: rules[2].path: ...").
func parseConfig(b []byte) ([]rule, error) {
	c, err := parseAll(b)
	return c.rules, err
}

// parseAll decodes and checks the request and response rules.
func parseAll(b []byte) (config, error) {
	c, err := parse(b)
	if err != nil {
		return config{}, fmt.Errorf("url-rewrite: config: %w", err)
	}
	return c, nil
}

func parse(b []byte) (config, error) {
	var rc rawConfig
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if len(bytes.TrimSpace(b)) == 0 {
		return config{}, errors.New("rules: none given; list at least one rule (or response rule)")
	}
	if err := dec.Decode(&rc); err != nil {
		return config{}, jsonError(err)
	}
	if dec.More() {
		return config{}, errors.New("trailing data after the JSON object")
	}
	if len(rc.Rules) == 0 && len(rc.Response) == 0 {
		return config{}, errors.New("rules: none given; list at least one rule (or response rule)")
	}
	resp, err := parseResponse(rc.Response)
	if err != nil {
		return config{}, err
	}
	rules := make([]rule, 0, len(rc.Rules))
	for i, raw := range rc.Rules {
		var rr rawRule
		d := json.NewDecoder(bytes.NewReader(raw))
		d.DisallowUnknownFields()
		if err := d.Decode(&rr); err != nil {
			return config{}, fmt.Errorf("rules[%d]: %w", i, jsonError(err))
		}
		r, err := rr.check()
		if err != nil {
			return config{}, fmt.Errorf("rules[%d]%w", i, err)
		}
		r.hits = "rule_" + strconv.Itoa(i) + "_hits"
		rules = append(rules, r)
	}
	return config{rules: rules, response: resp}, nil
}

// keyErr is an error under a key of the rule: it formats as ".key: msg"
// so that parse can put "rules[i]" in front.
func keyErr(key, format string, args ...any) error {
	return fmt.Errorf("."+key+": "+format, args...)
}

func (rr rawRule) check() (rule, error) {
	r := rule{last: rr.Last == nil || *rr.Last}
	re := emptyRE

	// Match.
	if rr.Host != "" {
		var err error
		if r.hostExact, r.hostSuffix, err = hostPattern(rr.Host); err != nil {
			return r, keyErr("host", "%v", err)
		}
	}
	if rr.Path != "" {
		var err error
		if r.path, err = regexp.Compile(rr.Path); err != nil {
			return r, keyErr("path", "%v", err)
		}
		re = r.path
	}
	if len(rr.Method) > 0 && string(rr.Method) != "null" {
		var one string
		if err := json.Unmarshal(rr.Method, &one); err == nil {
			r.methods = []string{one}
		} else if err := json.Unmarshal(rr.Method, &r.methods); err != nil {
			return r, keyErr("method", "want a method (\"GET\") or a list of methods")
		}
		for _, m := range r.methods {
			if !isToken(m) {
				return r, keyErr("method", "%q is not an HTTP method", m)
			}
		}
	}

	// Actions.
	n := 0
	if rw := rr.Rewrite; rw != nil {
		if rw.Path == nil && rw.Query == nil && rw.Host == nil && len(rw.QueryParams) == 0 {
			return r, keyErr("rewrite", "empty; give path, query, query_params or host")
		}
		if rw.Path != nil {
			p := *rw.Path
			if !strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "$") {
				return r, keyErr("rewrite.path", "%q must start with \"/\" (or with a capture that does)", p)
			}
			if strings.ContainsAny(p, " ?#\t\r\n") {
				return r, keyErr("rewrite.path", "%q contains a space, '?' or '#'; set the query with rewrite.query", p)
			}
			if err := checkTemplate(p, re); err != nil {
				return r, keyErr("rewrite.path", "%v", err)
			}
			r.newPath = rw.Path
		}
		if rw.Query != nil {
			if strings.ContainsAny(*rw.Query, " #\t\r\n") || strings.HasPrefix(*rw.Query, "?") {
				return r, keyErr("rewrite.query", "%q: write the raw query without '?', spaces or '#'", *rw.Query)
			}
			if err := checkTemplate(*rw.Query, re); err != nil {
				return r, keyErr("rewrite.query", "%v", err)
			}
			r.newQuery = rw.Query
		}
		if rw.Query != nil && len(rw.QueryParams) > 0 {
			return r, keyErr("rewrite.query_params", "cannot be combined with rewrite.query; put the parameters in the query")
		}
		for _, name := range sortedKeys(rw.QueryParams) {
			if name == "" {
				return r, keyErr("rewrite.query_params", "an empty parameter name")
			}
			r.queryParams = append(r.queryParams, param{name, rw.QueryParams[name]})
		}
		if rw.Host != nil {
			h := *rw.Host
			if h == "" || strings.ContainsAny(h, " /\t\r\n") {
				return r, keyErr("rewrite.host", "%q is not a host (host or host:port)", h)
			}
			if err := checkTemplate(h, re); err != nil {
				return r, keyErr("rewrite.host", "%v", err)
			}
			r.newHost = rw.Host
		}
		n++
	}
	for _, name := range sortedKeys(rr.SetHeaders) {
		v := rr.SetHeaders[name]
		if !isToken(name) {
			return r, keyErr("set_headers", "%q is not a header name", name)
		}
		if strings.ContainsAny(v, "\r\n\x00") {
			return r, keyErr("set_headers."+name, "the value contains CR, LF or NUL")
		}
		if err := checkTemplate(v, re); err != nil {
			return r, keyErr("set_headers."+name, "%v", err)
		}
		r.setHeaders = append(r.setHeaders, param{name, v})
		n++
	}
	for i, name := range rr.RemoveHeaders {
		if !isToken(name) {
			return r, keyErr("remove_headers["+strconv.Itoa(i)+"]", "%q is not a header name", name)
		}
		r.removeHeaders = append(r.removeHeaders, name)
		n++
	}
	if rd := rr.Redirect; rd != nil {
		if n > 0 {
			return r, keyErr("redirect", "cannot be combined with rewrite, set_headers or remove_headers: a redirect answers the request")
		}
		if !validCode(rd.Code) {
			return r, keyErr("redirect.code", "%d: want 301, 302, 303, 307 or 308", rd.Code)
		}
		if rd.To == "" || strings.ContainsAny(rd.To, " \t\r\n") {
			return r, keyErr("redirect.to", "%q: want a URL without spaces", rd.To)
		}
		if err := checkTemplate(rd.To, re); err != nil {
			return r, keyErr("redirect.to", "%v", err)
		}
		r.redirectCode, r.redirectTo = rd.Code, rd.To
		n++
	}
	if n == 0 {
		return r, errors.New(": no action; give rewrite, set_headers, remove_headers or redirect")
	}
	return r, nil
}

// hostPattern parses a host to match: an exact name or address (matched
// without case), or "*.example.com" for any name below example.com.
func hostPattern(s string) (exact, suffix string, err error) {
	h := strings.ToLower(strings.TrimSuffix(s, "."))
	if a, err := netip.ParseAddr(strings.TrimSuffix(strings.TrimPrefix(h, "["), "]")); err == nil {
		return a.WithZone("").String(), "", nil
	}
	if strings.ContainsAny(h, " /\t\r\n:[]") || h == "" {
		return "", "", fmt.Errorf("%q is not a host name (no port, path or spaces)", s)
	}
	switch {
	case strings.HasPrefix(h, "*.") && len(h) > 2 && !strings.Contains(h[2:], "*"):
		return "", h[1:], nil
	case !strings.Contains(h, "*"):
		return h, "", nil
	}
	return "", "", fmt.Errorf("%q: a wildcard is allowed only as a leading \"*.\" (*.example.com)", s)
}

// checkTemplate checks that every $n, ${n} and ${name} in t refers to a
// group of re, with the syntax of regexp.Expand ("$1x" means "${1x}": write
// "${1}x").
func checkTemplate(t string, re *regexp.Regexp) error {
	for {
		i := strings.IndexByte(t, '$')
		if i < 0 {
			return nil
		}
		t = t[i+1:]
		if strings.HasPrefix(t, "$") {
			t = t[1:]
			continue
		}
		name, rest, ok := refName(t)
		if !ok {
			continue // a lone '$' is literal, as in regexp.Expand
		}
		t = rest
		if n, err := strconv.Atoi(name); err == nil {
			if n > re.NumSubexp() {
				return fmt.Errorf("$%s: the path pattern has %d capture groups; write ${%s} and check the pattern (or ${1}x for group 1 then \"x\")", name, re.NumSubexp(), name)
			}
			continue
		}
		if re.SubexpIndex(name) < 0 {
			return fmt.Errorf("${%s}: the path pattern has no group named %q (a name like $1x means ${1x}; write ${1}x)", name, name)
		}
	}
}

// refName parses the name after '$' as regexp.Expand does.
func refName(t string) (name, rest string, ok bool) {
	brace := strings.HasPrefix(t, "{")
	if brace {
		t = t[1:]
	}
	i := 0
	for i < len(t) && (t[i] == '_' || t[i] >= '0' && t[i] <= '9' || t[i] >= 'a' && t[i] <= 'z' || t[i] >= 'A' && t[i] <= 'Z') {
		i++
	}
	if i == 0 {
		return "", t, false
	}
	name, rest = t[:i], t[i:]
	if brace {
		if !strings.HasPrefix(rest, "}") {
			return "", t, false
		}
		rest = rest[1:]
	}
	return name, rest, true
}

func validCode(c int) bool {
	for _, v := range redirectCodes {
		if c == v {
			return true
		}
	}
	return false
}

// isToken reports whether s is an HTTP token (RFC 9110 5.6.2).
func isToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

func sortedKeys(m map[string]string) []string { return slices.Sorted(maps.Keys(m)) }

// jsonError turns encoding/json's errors into ones that name the key.
func jsonError(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Errorf("the configuration must be a JSON object, got JSON %s", te.Value)
		}
		return fmt.Errorf("%s: JSON %s is not the expected type", te.Field, te.Value)
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("not valid JSON at byte %d: %v", se.Offset, err)
	}
	return err
}

// requestFilter derives the ABI 1.1 request filters from the rules: the
// hosts, path prefixes and methods of which every rule needs one. A
// request outside them matches no rule, so the host need not enter the
// plugin for it. A kind some rule leaves open (no host, a path pattern
// without a literal prefix after "^", no method) is not filtered: the
// filter may let in requests no rule matches, never keep out one that
// would match.
//
// Response rules count as rules with no method: the filters apply to the
// response hook too, so a request a response rule could match must get in.
func requestFilter(rules []rule, resp ...respRule) (hosts, paths, methods []string) {
	for _, r := range resp {
		rules = append(slices.Clip(rules), rule{hostExact: r.hostExact, hostSuffix: r.hostSuffix, path: r.path})
	}
	hostsOK, pathsOK, methodsOK := len(rules) > 0, len(rules) > 0, len(rules) > 0
	for i := range rules {
		r := &rules[i]
		switch {
		case r.hostExact != "" && !strings.ContainsAny(r.hostExact, ":/ *"):
			hosts = appendNew(hosts, r.hostExact)
		case r.hostSuffix != "" && !strings.ContainsAny(r.hostSuffix, ":/ *"):
			hosts = appendNew(hosts, "*"+r.hostSuffix)
		default:
			hostsOK = false
		}
		if r.path == nil {
			pathsOK = false
		} else if p := literalPathPrefix(r.path.String()); p != "" {
			paths = appendNew(paths, p)
		} else {
			pathsOK = false
		}
		if r.methods != nil {
			for _, m := range r.methods {
				methods = appendNew(methods, m)
			}
		} else {
			methodsOK = false
		}
	}
	if !hostsOK {
		hosts = nil
	}
	if !pathsOK {
		paths = nil
	}
	if !methodsOK {
		methods = nil
	}
	return hosts, paths, methods
}

func appendNew(list []string, s string) []string {
	if slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

// literalPathPrefix returns the literal text every match of a path
// pattern starts the path with: the case-sensitive literals right after a
// leading "^" ("^/zimbra/(.*)" gives "/zimbra/"). "" when there is none,
// or when it is not a usable path prefix (not starting with "/").
func literalPathPrefix(expr string) string {
	re, err := syntax.Parse(expr, syntax.Perl)
	if err != nil {
		return ""
	}
	re = re.Simplify()
	if re.Op != syntax.OpConcat || len(re.Sub) < 2 || re.Sub[0].Op != syntax.OpBeginText {
		return ""
	}
	var b strings.Builder
	for _, s := range re.Sub[1:] {
		if s.Op != syntax.OpLiteral || s.Flags&syntax.FoldCase != 0 {
			break
		}
		b.WriteString(string(s.Rune))
	}
	p := b.String()
	if !strings.HasPrefix(p, "/") || strings.ContainsAny(p, " \r\n\t?#") {
		return ""
	}
	return p
}
