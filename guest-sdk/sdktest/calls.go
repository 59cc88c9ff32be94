package sdktest

import (
	"errors"
	"net"
	neturl "net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/abi/kvbatch"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/internal/native"
)

// fields is the map the current phase reads and writes: init has no
// session, only its own message.
func (h *calls) fields() map[abi.Field]string {
	if h.Phase == abi.PhaseInit {
		if h.initFields == nil {
			h.initFields = map[abi.Field]string{}
		}
		return h.initFields
	}
	return h.Fields
}

// check applies the ABI's access rules to a plain (keyed false) or keyed
// access of f, in ABI.md's order: unknown field, then not available (no
// access in this phase, another protocol's field, the wrong kind of
// access), then read-only.
func (h *calls) check(f abi.Field, write, keyed bool) abi.Err {
	if !f.Defined() {
		return abi.ErrUnknownField
	}
	m := abi.Access(h.Phase, f)
	switch {
	case !appliesTo(h.Fields[abi.FieldProtocol], f), m == abi.None, f.Keyed() != keyed:
		return abi.ErrNotAvailable
	case write && m != abi.Write:
		return abi.ErrReadOnly
	}
	return 0
}

// appliesTo reports whether a field exists in a protocol's sessions.
func appliesTo(proto string, f abi.Field) bool {
	switch f {
	case abi.FieldHTTPMethod, abi.FieldHTTPHost, abi.FieldHTTPPath, abi.FieldHTTPQuery,
		abi.FieldHTTPHeader, abi.FieldHTTPCookie, abi.FieldHTTPHeaders,
		abi.FieldRedirectCode, abi.FieldRedirectURL, abi.FieldResponseStatus, abi.FieldResponseHeader,
		abi.FieldPool:
		return proto == "http"
	}
	return true
}

// out copies v into buf as the ABI's "buf, limit -> len" does.
func out(buf []byte, v string) int32 {
	copy(buf, v)
	return int32(len(v))
}

// Feature implements the feature host function.
func (h *calls) Feature(name []byte) int32 {
	v, ok := h.Features[string(name)]
	if !ok && string(name) == abi.FeatureHTTPCall {
		v = h.HTTP != nil
	}
	if v {
		return 1
	}
	return 0
}

// Log implements the log host function: it records the line, cut to
// abi.MaxLogBytes, and writes it to the test log.
func (h *calls) Log(level int32, msg []byte) {
	if len(msg) > abi.MaxLogBytes {
		msg = msg[:abi.MaxLogBytes]
	}
	h.Logs = append(h.Logs, LogLine{Level: abi.Level(level), Msg: string(msg)})
	h.t.Logf("plugin log [%d]: %s", level, msg)
}

// ConfigGet implements the config_get host function.
func (h *calls) ConfigGet(buf []byte) int32 {
	copy(buf, h.Config)
	return int32(len(h.Config))
}

// FieldGet implements the field_get host function.
func (h *calls) FieldGet(field int32, buf []byte) int32 {
	f := abi.Field(field)
	if e := h.check(f, false, false); e != 0 {
		return int32(e)
	}
	v, ok := h.fields()[f]
	switch {
	case f == abi.FieldAccount && v == "":
		v = h.Fields[abi.FieldLogin] // account reads as login until set
	case ok:
	case f == abi.FieldHTTPHeaders:
		v = h.headerNames()
	case f == abi.FieldDelayMS, f == abi.FieldCacheAlias, f == abi.FieldRouteCached, f == abi.FieldPasswordVerified, f == abi.FieldOnlyLogin,
		f == abi.FieldReuseMS:
		v = "0"
	}
	return out(buf, v)
}

func (h *calls) headerNames() string {
	seen := map[string]bool{}
	var names []string
	for k := range h.Headers {
		c := postern.CanonicalHeaderKey(k)
		if !seen[c] {
			seen[c] = true
			names = append(names, c)
		}
	}
	sort.Strings(names)
	return strings.Join(names, "\x00")
}

// FieldSet implements the field_set host function, validating the value
// as the real host does.
func (h *calls) FieldSet(field int32, val []byte) int32 {
	f := abi.Field(field)
	if e := h.check(f, true, false); e != 0 {
		return int32(e)
	}
	if len(val) > abi.MaxFieldBytes {
		return int32(abi.ErrTooLarge)
	}
	v := string(val)
	if !validField(f, v) {
		return int32(abi.ErrInvalid)
	}
	if f == abi.FieldCacheAlias || f == abi.FieldRouteCached || f == abi.FieldPasswordVerified || f == abi.FieldOnlyLogin {
		v = "0" // booleans read back as "0" or "1"
		if string(val) == "1" || string(val) == "true" {
			v = "1"
		}
	}
	if f == abi.FieldReuseMS {
		ms, _ := strconv.ParseUint(v, 10, 64)
		v = strconv.FormatUint(ms, 10) // the host keeps the number: "007" reads back "7"
	}
	h.fields()[f] = v
	return 0
}

// maxDelayMS is ABI.md's bound on delay_ms (five minutes).
const maxDelayMS = 5 * 60 * 1000

// validField checks a written value's encoding as ABI.md "Fields" gives it.
func validField(f abi.Field, v string) bool {
	switch f {
	case abi.FieldMessage:
		return !strings.ContainsAny(v, "\r\n") // one protocol line
	case abi.FieldDelayMS:
		ms, err := strconv.ParseUint(v, 10, 32)
		return err == nil && ms <= maxDelayMS
	case abi.FieldReuseMS:
		ms, err := strconv.ParseUint(v, 10, 64) // digits only: no sign, space or unit
		return err == nil && ms <= abi.MaxReuseMS
	case abi.FieldUpstreams:
		if v == "" {
			return true
		}
		for _, hp := range strings.Split(v, "\x00") {
			host, port, err := net.SplitHostPort(hp)
			if err != nil || host == "" || strings.ContainsAny(host, " \t\r\n/") {
				return false
			}
			if p, err := strconv.ParseUint(port, 10, 16); err != nil || p == 0 {
				return false
			}
		}
		return true
	case abi.FieldCacheAlias, abi.FieldRouteCached, abi.FieldPasswordVerified:
		switch v {
		case "", "0", "1", "true", "false":
			return true
		}
		return false
	case abi.FieldHTTPHost:
		return v != "" && !strings.ContainsAny(v, " /\r\n\t")
	case abi.FieldHTTPPath:
		return strings.HasPrefix(v, "/") && !strings.ContainsAny(v, " \r\n\t?#")
	case abi.FieldHTTPQuery:
		return !strings.ContainsAny(v, " \r\n\t#")
	case abi.FieldRedirectCode:
		switch v {
		case "301", "302", "307", "308":
			return true
		}
		return false
	case abi.FieldRedirectURL:
		return v != "" && !strings.ContainsAny(v, " \r\n\t")
	case abi.FieldPool:
		if len(v) > 256 {
			return false
		}
		for i := 0; i < len(v); i++ {
			if v[i] <= ' ' || v[i] == 0x7f {
				return false
			}
		}
		return true
	case abi.FieldOnlyLogin:
		switch v {
		case "", "0", "1", "true", "false":
			return true
		}
		return false
	case abi.FieldOnlyProtocols, abi.FieldOnlyHosts, abi.FieldOnlyPaths, abi.FieldOnlyMethods:
		if v == "" {
			return true
		}
		for _, it := range strings.Split(v, "\x00") {
			if !validFilterItem(f, it) {
				return false
			}
		}
		return true
	}
	return true
}

// validFilterItem checks one item of a request filter list as the real
// host does (ABI.md "Request filters").
func validFilterItem(f abi.Field, s string) bool {
	if s == "" {
		return false
	}
	switch f {
	case abi.FieldOnlyProtocols:
		return s == "imap" || s == "pop3" || s == "http"
	case abi.FieldOnlyMethods:
		return !strings.ContainsAny(s, " \t\r\n()<>@,;:\\\"/[]?={}\x00\x7f")
	case abi.FieldOnlyPaths:
		return s[0] == '/' && !strings.ContainsAny(s, " \r\n\t?#")
	case abi.FieldOnlyHosts:
		name := strings.TrimPrefix(s, "*.")
		return name != "" && !strings.ContainsAny(name, " /\r\n\t*:")
	}
	return false
}

// maxKeyedName is the real host's bound on a keyed field's key.
const maxKeyedName = 256

// keyedCheck applies access rules to keyed access and validates the key.
func (h *calls) keyedCheck(f abi.Field, key []byte, write bool) abi.Err {
	if e := h.check(f, write, true); e != 0 {
		return e
	}
	if len(key) == 0 || len(key) > maxKeyedName {
		return abi.ErrInvalid
	}
	if (f == abi.FieldHTTPHeader || f == abi.FieldResponseHeader) && !isToken(key) {
		return abi.ErrInvalid
	}
	return 0
}

// isToken reports whether k is a valid HTTP header name.
func isToken(k []byte) bool {
	for _, c := range k {
		if c <= ' ' || c >= 0x7f || strings.IndexByte(`"(),/:;<=>?@[\]{}`, c) >= 0 {
			return false
		}
	}
	return true
}

// FieldGetKey implements the field_get_key host function.
func (h *calls) FieldGetKey(field int32, key, buf []byte) int32 {
	f := abi.Field(field)
	if e := h.keyedCheck(f, key, false); e != 0 {
		return int32(e)
	}
	k := string(key)
	switch f {
	case abi.FieldHTTPHeader:
		var vals []string
		found := false
		for name, vs := range h.Headers {
			if strings.EqualFold(name, k) {
				found = true
				vals = append(vals, vs...)
			}
		}
		if !found {
			return int32(abi.ErrNotFound)
		}
		return out(buf, strings.Join(vals, ", "))
	case abi.FieldResponseHeader:
		var vals []string
		for name, vs := range h.RespHeaders {
			if strings.EqualFold(name, k) {
				vals = append(vals, vs...)
			}
		}
		if len(vals) == 0 {
			return int32(abi.ErrNotFound)
		}
		sep := ", "
		if strings.EqualFold(k, "Set-Cookie") {
			sep = "\x00" // cookies are a list, never joined
		}
		return out(buf, strings.Join(vals, sep))
	case abi.FieldHTTPCookie:
		if v, ok := h.Cookies[k]; ok {
			return out(buf, v)
		}
		if v, ok := h.headerCookie(k); ok {
			return out(buf, v)
		}
	case abi.FieldIMAPID:
		if h.Fields[abi.FieldProtocol] != "imap" {
			break // empty outside IMAP
		}
		for name, v := range h.IMAPID {
			if strings.EqualFold(name, k) {
				return out(buf, v)
			}
		}
	}
	return int32(abi.ErrNotFound)
}

// FieldSetKey implements the field_set_key host function. Only HTTP
// headers are writable (in the rewrite hook).
func (h *calls) FieldSetKey(field int32, key, val []byte) int32 {
	f := abi.Field(field)
	if e := h.keyedCheck(f, key, true); e != 0 {
		return int32(e)
	}
	if f == abi.FieldResponseHeader {
		return h.setRespHeader(string(key), string(val))
	}
	if f != abi.FieldHTTPHeader {
		return int32(abi.ErrReadOnly)
	}
	if len(val) > abi.MaxFieldBytes {
		return int32(abi.ErrTooLarge)
	}
	if strings.ContainsAny(string(val), "\r\n\x00") {
		return int32(abi.ErrInvalid)
	}
	h.deleteHeader(string(key))
	h.Headers[postern.CanonicalHeaderKey(string(key))] = []string{string(val)}
	return 0
}

// FieldDeleteKey implements the field_delete_key host function.
func (h *calls) FieldDeleteKey(field int32, key []byte) int32 {
	f := abi.Field(field)
	if e := h.keyedCheck(f, key, true); e != 0 {
		return int32(e)
	}
	if f == abi.FieldResponseHeader {
		if framingHeader(string(key)) {
			return int32(abi.ErrReadOnly)
		}
		if !deleteFrom(h.RespHeaders, string(key)) {
			return int32(abi.ErrNotFound)
		}
		return 0
	}
	if f != abi.FieldHTTPHeader {
		return int32(abi.ErrReadOnly)
	}
	if !h.deleteHeader(string(key)) {
		return int32(abi.ErrNotFound)
	}
	return 0
}

// headerCookie finds a cookie in the Cookie request headers, which is
// where the real host reads cookies from.
func (h *calls) headerCookie(name string) (string, bool) {
	for k, vs := range h.Headers {
		if !strings.EqualFold(k, "Cookie") {
			continue
		}
		for _, line := range vs {
			for _, c := range strings.Split(line, ";") {
				n, v, ok := strings.Cut(strings.TrimSpace(c), "=")
				if ok && n == name {
					return strings.Trim(v, `"`), true
				}
			}
		}
	}
	return "", false
}

func (h *calls) deleteHeader(k string) bool {
	found := false
	for name := range h.Headers {
		if strings.EqualFold(name, k) {
			delete(h.Headers, name)
			found = true
		}
	}
	return found
}

// kvCheck validates a key (memcached's rules) and the store's state.
func (h *calls) kvCheck(key []byte) abi.Err {
	if len(key) == 0 || len(key) > abi.MaxKeyBytes {
		return abi.ErrInvalid
	}
	for _, c := range key {
		if c <= ' ' || c == 0x7f {
			return abi.ErrInvalid
		}
	}
	if h.KVDown {
		return abi.ErrUnavailable
	}
	return 0
}

func (h *calls) kvLookup(key string) (Item, bool) {
	it, ok := h.KV[key]
	if ok && !it.Expires.IsZero() && !h.Now.Before(it.Expires) {
		delete(h.KV, key)
		return Item{}, false
	}
	return it, ok
}

func (h *calls) kvStore(key, val []byte, ttl int32) {
	it := Item{Value: append([]byte{}, val...)}
	if ttl > 0 {
		it.Expires = h.Now.Add(time.Duration(ttl) * time.Second)
	}
	h.KV[string(key)] = it
}

// KVGet implements the kv_get host function.
func (h *calls) KVGet(key, buf []byte) int32 {
	if e := h.kvCheck(key); e != 0 {
		return int32(e)
	}
	it, ok := h.kvLookup(string(key))
	if !ok {
		return int32(abi.ErrNotFound)
	}
	copy(buf, it.Value)
	return int32(len(it.Value))
}

// KVSet implements the kv_set host function.
func (h *calls) KVSet(key, val []byte, ttlSeconds int32) int32 {
	if e := h.kvWriteCheck(key, val, ttlSeconds); e != 0 {
		return int32(e)
	}
	h.kvStore(key, val, ttlSeconds)
	return 0
}

// KVAdd implements the kv_add host function.
func (h *calls) KVAdd(key, val []byte, ttlSeconds int32) int32 {
	if e := h.kvWriteCheck(key, val, ttlSeconds); e != 0 {
		return int32(e)
	}
	if _, ok := h.kvLookup(string(key)); ok {
		return int32(abi.ErrExists)
	}
	h.kvStore(key, val, ttlSeconds)
	return 0
}

func (h *calls) kvWriteCheck(key, val []byte, ttl int32) abi.Err {
	if e := h.kvCheck(key); e != 0 {
		return e
	}
	if ttl < 0 {
		return abi.ErrInvalid
	}
	if len(val) > abi.MaxKVValueBytes {
		return abi.ErrTooLarge
	}
	return 0
}

// KVIncr implements the kv_incr host function; the item keeps its expiry.
func (h *calls) KVIncr(key []byte, delta int64) int64 {
	if e := h.kvCheck(key); e != 0 {
		return int64(e)
	}
	if delta < 0 {
		return int64(abi.ErrInvalid)
	}
	it, ok := h.kvLookup(string(key))
	if !ok {
		return int64(abi.ErrNotFound)
	}
	n, err := strconv.ParseInt(string(it.Value), 10, 64)
	if err != nil || n < 0 {
		return int64(abi.ErrInvalid)
	}
	if n > 1<<63-1-delta {
		return int64(abi.ErrTooLarge)
	}
	n += delta
	it.Value = strconv.AppendInt(nil, n, 10)
	h.KV[string(key)] = it
	return n
}

// KVBatch implements the kv_batch host function with the single-operation
// functions, as the host's in-process store does.
func (h *calls) KVBatch(req, buf []byte) int32 {
	ops, e := kvbatch.Parse(req, nil)
	if e != 0 {
		return int32(e)
	}
	results := make([]int64, len(ops))
	var values []byte
	for i, op := range ops {
		switch op.Code {
		case kvbatch.OpGet:
			if e := h.kvCheck(op.Key); e != 0 {
				results[i] = int64(e)
			} else if it, ok := h.kvLookup(string(op.Key)); !ok {
				results[i] = int64(abi.ErrNotFound)
			} else {
				results[i] = int64(len(it.Value))
				values = append(values, it.Value...)
			}
		case kvbatch.OpSet:
			results[i] = int64(h.KVSet(op.Key, op.Value, op.TTL))
		case kvbatch.OpAdd:
			results[i] = int64(h.KVAdd(op.Key, op.Value, op.TTL))
		case kvbatch.OpIncr:
			if op.Delta > 1<<63-1 {
				results[i] = int64(abi.ErrInvalid)
				continue
			}
			results[i] = h.KVIncr(op.Key, int64(op.Delta))
		case kvbatch.OpDecr:
			results[i] = h.kvDecr(op.Key, op.Delta)
		case kvbatch.OpDelete:
			results[i] = int64(h.KVDelete(op.Key))
		}
	}
	out := append(kvbatch.AppendResults(nil, results), values...)
	copy(buf, out)
	return int32(len(out))
}

// kvDecr is memcached's decr: it stops at 0.
func (h *calls) kvDecr(key []byte, delta uint64) int64 {
	if e := h.kvCheck(key); e != 0 {
		return int64(e)
	}
	if delta > 1<<63-1 {
		return int64(abi.ErrInvalid)
	}
	it, ok := h.kvLookup(string(key))
	if !ok {
		return int64(abi.ErrNotFound)
	}
	n, err := strconv.ParseInt(string(it.Value), 10, 64)
	if err != nil || n < 0 {
		return int64(abi.ErrInvalid)
	}
	if uint64(n) < delta {
		n = 0
	} else {
		n -= int64(delta)
	}
	it.Value = strconv.AppendInt(nil, n, 10)
	h.KV[string(key)] = it
	return n
}

// KVDelete implements the kv_delete host function.
func (h *calls) KVDelete(key []byte) int32 {
	if e := h.kvCheck(key); e != 0 {
		return int32(e)
	}
	if _, ok := h.kvLookup(string(key)); !ok {
		return int32(abi.ErrNotFound)
	}
	delete(h.KV, string(key))
	return 0
}

// HTTPCall implements the http_call host function by calling h.HTTP.
func (h *calls) HTTPCall(method, url, headers, body []byte, timeoutMS int32) int32 {
	h.resp = nil
	if len(headers) > abi.MaxFieldBytes || len(body) > abi.MaxHTTPBody {
		return int32(abi.ErrTooLarge)
	}
	if len(method) == 0 || !isToken(method) {
		return int32(abi.ErrInvalid)
	}
	if !validHeaderBlock(headers) {
		return int32(abi.ErrInvalid)
	}
	u, err := neturl.Parse(string(url))
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return int32(abi.ErrInvalid)
	}
	if h.HTTP == nil {
		return int32(abi.ErrDenied)
	}
	req := &postern.HTTPRequest{
		Method:  string(method),
		URL:     string(url),
		Header:  postern.ParseHTTPHeader(string(headers)),
		Body:    append([]byte{}, body...),
		Timeout: time.Duration(timeoutMS) * time.Millisecond,
	}
	h.HTTPRequests = append(h.HTTPRequests, req)
	resp, err := h.HTTP(req)
	if err != nil {
		var e abi.Err
		if errors.As(err, &e) {
			return int32(e)
		}
		h.t.Logf("sdktest: HTTP handler error %v reported as abi.ErrUnavailable", err)
		return int32(abi.ErrUnavailable)
	}
	if resp == nil || resp.Status < 100 || resp.Status > 599 {
		h.t.Errorf("sdktest: HTTP handler returned no response or a status outside 100..599")
		return int32(abi.ErrUnavailable)
	}
	if len(resp.Body) > h.HTTPMaxBody {
		return int32(abi.ErrTooLarge)
	}
	var hdr strings.Builder
	names := make([]string, 0, len(resp.Header))
	for k := range resp.Header {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		for _, v := range resp.Header[k] {
			hdr.WriteString(k + ": " + v + "\r\n")
		}
	}
	h.resp = &httpResponse{headers: []byte(hdr.String()), body: append([]byte{}, resp.Body...)}
	return int32(resp.Status)
}

// validHeaderBlock checks "Name: value\r\n" lines (a missing final CRLF
// is tolerated).
func validHeaderBlock(b []byte) bool {
	if len(b) == 0 {
		return true
	}
	for _, line := range strings.Split(strings.TrimSuffix(string(b), "\r\n"), "\r\n") {
		name, v, ok := strings.Cut(line, ":")
		if !ok || name == "" || !isToken([]byte(name)) || strings.ContainsAny(v, "\r\n\x00") {
			return false
		}
	}
	return true
}

// HTTPResponseGet implements the http_response_get host function.
func (h *calls) HTTPResponseGet(part int32, buf []byte) int32 {
	if h.resp == nil {
		return int32(abi.ErrNotAvailable)
	}
	var v []byte
	switch part {
	case abi.HTTPPartHeaders:
		v = h.resp.headers
	case abi.HTTPPartBody:
		v = h.resp.body
	default:
		return int32(abi.ErrInvalid)
	}
	copy(buf, v)
	return int32(len(v))
}

// ClockNow implements the clock_now host function from h.Now.
func (h *calls) ClockNow() int64 { return h.Now.UnixNano() }

// CounterAdd implements the counter_add host function. An invalid name or
// a negative delta is ignored and logged, as the real host does.
func (h *calls) CounterAdd(name []byte, delta int64) {
	if !validCounter(name) || delta < 0 {
		h.t.Logf("sdktest: counter_add(%q, %d) ignored: names are [a-z0-9_]{1,64}, deltas >= 0", name, delta)
		return
	}
	h.Counters[string(name)] += delta
}

func validCounter(name []byte) bool {
	if len(name) == 0 || len(name) > 64 {
		return false
	}
	for _, c := range name {
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

var _ native.Host = (*calls)(nil)

// setRespHeader sets a response header as the host does: Set-Cookie
// takes a NUL-separated list, one header per item.
func (h *calls) setRespHeader(key, val string) int32 {
	if len(val) > abi.MaxFieldBytes {
		return int32(abi.ErrTooLarge)
	}
	if strings.ContainsAny(val, "\r\n") {
		return int32(abi.ErrInvalid)
	}
	if framingHeader(key) {
		return int32(abi.ErrReadOnly)
	}
	vals := []string{val}
	if strings.IndexByte(val, 0) >= 0 {
		if !strings.EqualFold(key, "Set-Cookie") {
			return int32(abi.ErrInvalid)
		}
		vals = strings.Split(val, "\x00")
		for _, v := range vals {
			if v == "" {
				return int32(abi.ErrInvalid)
			}
		}
	}
	deleteFrom(h.RespHeaders, key)
	h.RespHeaders[postern.CanonicalHeaderKey(key)] = vals
	return 0
}

// framingHeader: the response headers the host keeps read-only
// (Content-Length, Transfer-Encoding and the hop-by-hop headers).
func framingHeader(k string) bool {
	for _, h := range []string{"Content-Length", "Transfer-Encoding", "Connection", "Keep-Alive",
		"Proxy-Connection", "Te", "Trailer", "Upgrade"} {
		if strings.EqualFold(k, h) {
			return true
		}
	}
	return false
}

// deleteFrom removes every entry of m named k in any case.
func deleteFrom(m map[string][]string, k string) bool {
	found := false
	for name := range m {
		if strings.EqualFold(name, k) {
			delete(m, name)
			found = true
		}
	}
	return found
}
