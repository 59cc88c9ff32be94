package plugin

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/textproto"
	"net/url"
	"strings"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/abi/kvbatch"
	"github.com/postern/postern/host/kv"
)

// instantiateHostModule defines the "postern" import module in rt. Every
// function finds its instance through the call's context.
func instantiateHostModule(ctx context.Context, rt wazero.Runtime) error {
	b := rt.NewHostModuleBuilder(abi.ImportModule)
	def := func(name string, fn api.GoModuleFunc) {
		sig := hostImports[name]
		b.NewFunctionBuilder().WithGoModuleFunction(fn, sig.params, sig.results).Export(name)
	}
	def(abi.ImportFeature, hostFeature)
	def(abi.ImportLog, hostLog)
	def(abi.ImportConfigGet, hostConfigGet)
	def(abi.ImportFieldGet, hostFieldGet)
	def(abi.ImportFieldSet, hostFieldSet)
	def(abi.ImportFieldGetKey, hostFieldGetKey)
	def(abi.ImportFieldSetKey, hostFieldSetKey)
	def(abi.ImportFieldDeleteKey, hostFieldDeleteKey)
	def(abi.ImportKVGet, hostKVGet)
	def(abi.ImportKVSet, func(ctx context.Context, m api.Module, s []uint64) { hostKVStore(ctx, s, false) })
	def(abi.ImportKVAdd, func(ctx context.Context, m api.Module, s []uint64) { hostKVStore(ctx, s, true) })
	def(abi.ImportKVIncr, hostKVIncr)
	def(abi.ImportKVDelete, hostKVDelete)
	def(abi.ImportKVBatch, hostKVBatch)
	def(abi.ImportHTTPCall, hostHTTPCall)
	def(abi.ImportHTTPResponseGet, hostHTTPResponseGet)
	def(abi.ImportClockNow, func(ctx context.Context, m api.Module, s []uint64) { s[0] = uint64(time.Now().UnixNano()) })
	def(abi.ImportCounterAdd, hostCounterAdd)
	def(abi.ImportMetricDeclare, hostMetricDeclare)
	def(abi.ImportMetricGaugeSet, func(ctx context.Context, m api.Module, s []uint64) { hostMetricUpdate(ctx, s, opGaugeSet) })
	def(abi.ImportMetricGaugeAdd, func(ctx context.Context, m api.Module, s []uint64) { hostMetricUpdate(ctx, s, opGaugeAdd) })
	def(abi.ImportMetricObserve, func(ctx context.Context, m api.Module, s []uint64) { hostMetricUpdate(ctx, s, opObserve) })
	_, err := b.Instantiate(ctx)
	return err
}

// read returns a view of guest memory, or aborts the call (a trap) when
// the range is outside it: a bad pointer is a guest bug, not an input.
func (in *instance) read(ptr, n uint32, what string) []byte {
	if n == 0 {
		return nil
	}
	b, ok := in.mem.Read(ptr, n)
	if !ok {
		in.fault = fmt.Errorf("%s: range [%d, %d) is outside the guest's %d-byte memory", what, ptr, uint64(ptr)+uint64(n), in.mem.Size())
		panic(in.fault)
	}
	return b
}

// bounds checks that every (ptr, len) pair lies inside guest memory, and
// aborts the call otherwise: ABI.md "Bounds" checks every range before
// anything else, so a bad pointer traps whatever the other arguments.
func (in *instance) bounds(what string, ptrLen ...uint64) {
	size := uint64(in.mem.Size())
	for i := 0; i+1 < len(ptrLen); i += 2 {
		ptr, n := uint64(uint32(ptrLen[i])), uint64(uint32(ptrLen[i+1]))
		if n > 0 && ptr+n > size {
			in.fault = fmt.Errorf("%s: range [%d, %d) is outside the guest's %d-byte memory", what, ptr, ptr+n, size)
			panic(in.fault)
		}
	}
}

// output copies v into the guest buffer (buf, limit) and returns the
// result word: the full length, so that limit 0 probes the size.
func (in *instance) output(buf, limit uint32, v []byte, what string) uint64 {
	if limit > 0 {
		dst := in.read(buf, limit, what) // checks the whole claimed buffer
		copy(dst, v)
	}
	return result(int32(len(v)))
}

func result(v int32) uint64      { return uint64(uint32(v)) }
func errResult(e abi.Err) uint64 { return result(int32(e)) }

// errResult64 is errResult for i64 results (kv_incr).
func errResult64(e abi.Err) uint64 { v := int64(e); return uint64(v) }

// access checks what the current phase may do with a field.
func (in *instance) access(id abi.Field, write bool) abi.Err {
	if !id.Defined() {
		return abi.ErrUnknownField
	}
	mode := abi.Access(in.phase, id)
	switch {
	case mode == abi.None:
		return abi.ErrNotAvailable
	case write && mode != abi.Write:
		return abi.ErrReadOnly
	}
	return 0
}

func hostFeature(ctx context.Context, _ api.Module, s []uint64) {
	in := instanceFrom(ctx)
	name := string(in.read(uint32(s[0]), uint32(s[1]), "feature"))
	var ok bool
	switch name {
	case abi.FeatureABI10, abi.FeatureABI11, abi.FeatureABI12, abi.FeatureResponseHook, abi.FeatureMetrics:
		ok = true
	case abi.FeatureKVShared:
		ok = in.g.p.h.store != nil && in.g.p.h.store.Shared()
	case abi.FeatureHTTPCall:
		ok = len(in.g.p.spec.HTTPAllow) > 0
	}
	if ok {
		s[0] = 1
	} else {
		s[0] = 0
	}
}

func hostLog(ctx context.Context, _ api.Module, s []uint64) {
	in := instanceFrom(ctx)
	level, ptr, n := int32(s[0]), uint32(s[1]), uint32(s[2])
	msg := in.read(ptr, n, "log")
	if len(msg) > abi.MaxLogBytes {
		msg = msg[:abi.MaxLogBytes]
	}
	in.g.p.log(levelOf(level), string(msg))
}

func levelOf(l int32) slog.Level {
	switch abi.Level(l) {
	case abi.LevelDebug:
		return slog.LevelDebug
	case abi.LevelInfo:
		return slog.LevelInfo
	case abi.LevelWarn:
		return slog.LevelWarn
	}
	return slog.LevelError // LevelError, and any level a newer guest may send
}

func hostConfigGet(ctx context.Context, _ api.Module, s []uint64) {
	in := instanceFrom(ctx)
	s[0] = in.output(uint32(s[0]), uint32(s[1]), in.g.p.spec.Config, "config_get")
}

func hostFieldGet(ctx context.Context, _ api.Module, s []uint64) {
	in := instanceFrom(ctx)
	in.bounds("field_get", s[1], s[2])
	id := abi.Field(int32(s[0]))
	if id.Keyed() {
		s[0] = errResult(abi.ErrNotAvailable)
		return
	}
	if e := in.access(id, false); e != 0 {
		s[0] = errResult(e)
		return
	}
	v, e := in.fields.appendField(in.scratch[:0], id)
	in.scratch = v[:0]
	if e != 0 {
		s[0] = errResult(e)
		return
	}
	s[0] = in.output(uint32(s[1]), uint32(s[2]), v, "field_get")
}

func hostFieldSet(ctx context.Context, _ api.Module, s []uint64) {
	in := instanceFrom(ctx)
	in.bounds("field_set", s[1], s[2])
	id := abi.Field(int32(s[0]))
	if id.Keyed() {
		s[0] = errResult(abi.ErrNotAvailable)
		return
	}
	if e := in.access(id, true); e != 0 {
		s[0] = errResult(e)
		return
	}
	n := uint32(s[2])
	if n > abi.MaxFieldBytes {
		s[0] = errResult(abi.ErrTooLarge)
		return
	}
	v := in.read(uint32(s[1]), n, "field_set")
	in.beforeWrite()
	s[0] = errResult(in.fields.setField(id, v))
}

func (in *instance) keyedArgs(s []uint64, write bool) (abi.Field, string, abi.Err) {
	id := abi.Field(int32(s[0]))
	if e := in.access(id, write); e != 0 {
		return id, "", e
	}
	if !id.Keyed() {
		return id, "", abi.ErrNotAvailable
	}
	n := uint32(s[2])
	if n == 0 || n > abi.MaxKeyNameBytes {
		return id, "", abi.ErrInvalid
	}
	return id, string(in.read(uint32(s[1]), n, "key")), 0
}

func hostFieldGetKey(ctx context.Context, _ api.Module, s []uint64) {
	in := instanceFrom(ctx)
	in.bounds("field_get_key", s[1], s[2], s[3], s[4])
	id, key, e := in.keyedArgs(s, false)
	if e != 0 {
		s[0] = errResult(e)
		return
	}
	if (id == abi.FieldHTTPHeader || id == abi.FieldResponseHeader) && !validHeaderName(key) {
		s[0] = errResult(abi.ErrInvalid)
		return
	}
	v, e := in.fields.getKey(id, key)
	if e != 0 {
		s[0] = errResult(e)
		return
	}
	in.scratch = append(in.scratch[:0], v...)
	s[0] = in.output(uint32(s[3]), uint32(s[4]), in.scratch, "field_get_key")
}

func hostFieldSetKey(ctx context.Context, _ api.Module, s []uint64) {
	in := instanceFrom(ctx)
	in.bounds("field_set_key", s[1], s[2], s[3], s[4])
	id, key, e := in.keyedArgs(s, true)
	if e != 0 {
		s[0] = errResult(e)
		return
	}
	n := uint32(s[4])
	if n > abi.MaxFieldBytes {
		s[0] = errResult(abi.ErrTooLarge)
		return
	}
	v := in.read(uint32(s[3]), n, "field_set_key")
	in.beforeHeaderWrite(id)
	s[0] = errResult(in.fields.setKey(id, key, string(v), false))
}

func hostFieldDeleteKey(ctx context.Context, _ api.Module, s []uint64) {
	in := instanceFrom(ctx)
	in.bounds("field_delete_key", s[1], s[2])
	id, key, e := in.keyedArgs(s, true)
	if e != 0 {
		s[0] = errResult(e)
		return
	}
	in.beforeHeaderWrite(id)
	s[0] = errResult(in.fields.setKey(id, key, "", true))
}

// kvKey reads and checks a key the way memcached would.
func (in *instance) kvKey(ptr, n uint32) (string, abi.Err) {
	if n == 0 || n > abi.MaxKeyBytes {
		return "", abi.ErrInvalid
	}
	k := in.read(ptr, n, "kv key")
	if !kvKeyBytesOK(k) {
		return "", abi.ErrInvalid
	}
	return string(k), 0
}

// kvKeyBytesOK reports whether every byte of a key is one memcached takes
// (no space, control character or DEL); the length is checked apart.
func kvKeyBytesOK(k []byte) bool {
	for _, c := range k {
		if c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// kvErr maps a store error to the ABI, logging unexpected ones.
func (in *instance) kvErr(op string, err error) abi.Err {
	switch {
	case err == nil:
		return 0
	case errors.Is(err, kv.ErrNotFound):
		return abi.ErrNotFound
	case errors.Is(err, kv.ErrExists):
		return abi.ErrExists
	case errors.Is(err, kv.ErrInvalidKey), errors.Is(err, kv.ErrNotNumeric):
		return abi.ErrInvalid
	case errors.Is(err, kv.ErrTooLarge):
		return abi.ErrTooLarge
	case errors.Is(err, context.DeadlineExceeded):
		in.g.p.h.storeFailed(err)
		return abi.ErrTimeout
	}
	in.g.p.h.storeFailed(err)
	return abi.ErrUnavailable
}

// blocking runs a store operation with the guest's deadline clock paused.
// The stores bound their own operations (memcached: its timeout; the
// in-process store does not wait), so the context carries no deadline: a
// timer per operation, four to six per login, bought nothing.
func (in *instance) blocking(op func(ctx context.Context) error) error {
	left := in.pause()
	defer in.resume(left)
	return op(context.Background())
}

func hostKVGet(ctx context.Context, _ api.Module, s []uint64) {
	in := instanceFrom(ctx)
	in.bounds("kv_get", s[0], s[1], s[2], s[3])
	key, e := in.kvKey(uint32(s[0]), uint32(s[1]))
	if e != 0 {
		s[0] = errResult(e)
		return
	}
	var v []byte
	err := in.blocking(func(c context.Context) (err error) {
		v, err = in.g.p.h.store.Get(c, key)
		return err
	})
	if e := in.kvErr("get", err); e != 0 {
		s[0] = errResult(e)
		return
	}
	s[0] = in.output(uint32(s[2]), uint32(s[3]), v, "kv_get")
}

func hostKVStore(ctx context.Context, s []uint64, add bool) {
	in := instanceFrom(ctx)
	in.bounds("kv_set", s[0], s[1], s[2], s[3])
	key, e := in.kvKey(uint32(s[0]), uint32(s[1]))
	if e != 0 {
		s[0] = errResult(e)
		return
	}
	n := uint32(s[3])
	if n > abi.MaxKVValueBytes {
		s[0] = errResult(abi.ErrTooLarge)
		return
	}
	ttl := int32(s[4])
	if ttl < 0 {
		s[0] = errResult(abi.ErrInvalid)
		return
	}
	v := bytes.Clone(in.read(uint32(s[2]), n, "kv value"))
	err := in.blocking(func(c context.Context) error {
		if add {
			return in.g.p.h.store.Add(c, key, v, time.Duration(ttl)*time.Second)
		}
		return in.g.p.h.store.Set(c, key, v, time.Duration(ttl)*time.Second)
	})
	s[0] = errResult(in.kvErr("set", err))
}

func hostKVIncr(ctx context.Context, _ api.Module, s []uint64) {
	in := instanceFrom(ctx)
	in.bounds("kv_incr", s[0], s[1])
	key, e := in.kvKey(uint32(s[0]), uint32(s[1]))
	if e != 0 {
		s[0] = errResult64(e)
		return
	}
	delta := int64(s[2])
	if delta < 0 {
		s[0] = errResult64(abi.ErrInvalid)
		return
	}
	var v uint64
	err := in.blocking(func(c context.Context) (err error) {
		v, err = in.g.p.h.store.Incr(c, key, uint64(delta))
		return err
	})
	if e := in.kvErr("incr", err); e != 0 {
		s[0] = errResult64(e)
		return
	}
	if v > math.MaxInt64 {
		s[0] = errResult64(abi.ErrTooLarge)
		return
	}
	s[0] = v
}

func hostKVDelete(ctx context.Context, _ api.Module, s []uint64) {
	in := instanceFrom(ctx)
	in.bounds("kv_delete", s[0], s[1])
	key, e := in.kvKey(uint32(s[0]), uint32(s[1]))
	if e != 0 {
		s[0] = errResult(e)
		return
	}
	err := in.blocking(func(c context.Context) error { return in.g.p.h.store.Delete(c, key) })
	s[0] = errResult(in.kvErr("delete", err))
}

// hostKVBatch is kv_batch: the operations are decoded (a malformed batch
// runs nothing), checked as the single-operation functions check them,
// then run in one store round trip; each gets its own result record.
func hostKVBatch(ctx context.Context, _ api.Module, s []uint64) {
	in := instanceFrom(ctx)
	in.bounds("kv_batch", s[0], s[1], s[2], s[3])
	var arr [kvbatch.MaxOps]kvbatch.Op
	ops, e := kvbatch.Parse(in.read(uint32(s[0]), uint32(s[1]), "kv_batch ops"), arr[:0])
	if e != 0 {
		s[0] = errResult(e)
		return
	}
	var pre [kvbatch.MaxOps]abi.Err // an operation refused before it runs
	if in.kvOps == nil {
		in.kvOps = make([]kv.Op, 0, kvbatch.MaxOps) // reused: the store interface makes it escape
	}
	run := in.kvOps[:0]
	defer clear(in.kvOps[:cap(in.kvOps)]) // hold no values between calls
	for i, op := range ops {
		if !kvKeyBytesOK(op.Key) {
			pre[i] = abi.ErrInvalid
		}
		if (op.Code == kvbatch.OpIncr || op.Code == kvbatch.OpDecr) && op.Delta > math.MaxInt64 {
			pre[i] = abi.ErrInvalid
		}
		if pre[i] != 0 {
			continue
		}
		ko := kv.Op{Key: string(op.Key), Delta: op.Delta}
		switch op.Code {
		case kvbatch.OpGet:
			ko.Kind = kv.OpGet
		case kvbatch.OpSet, kvbatch.OpAdd:
			ko.Kind = kv.OpSet
			if op.Code == kvbatch.OpAdd {
				ko.Kind = kv.OpAdd
			}
			ko.Value = bytes.Clone(op.Value)
			ko.TTL = time.Duration(op.TTL) * time.Second
		case kvbatch.OpIncr:
			ko.Kind = kv.OpIncr
		case kvbatch.OpDecr:
			ko.Kind = kv.OpDecr
		case kvbatch.OpDelete:
			ko.Kind = kv.OpDelete
		}
		run = append(run, ko)
	}
	if len(run) > 0 {
		_ = in.blocking(func(c context.Context) error {
			kv.Do(c, in.g.p.h.store, run)
			return nil
		})
	}
	var results [kvbatch.MaxOps]int64
	j := 0
	for i := range ops {
		if pre[i] != 0 {
			results[i] = int64(pre[i])
			continue
		}
		op := &run[j]
		j++
		if e := in.kvErr(op.Kind.String(), op.Err); e != 0 {
			results[i] = int64(e)
			continue
		}
		switch op.Kind {
		case kv.OpGet:
			results[i] = int64(len(op.Value))
		case kv.OpIncr, kv.OpDecr:
			if op.N > math.MaxInt64 {
				results[i] = int64(abi.ErrTooLarge)
			} else {
				results[i] = int64(op.N)
			}
		}
	}
	out := kvbatch.AppendResults(in.kvBatchBuf[:0], results[:len(ops)])
	j = 0
	for i := range ops {
		if pre[i] != 0 {
			continue
		}
		if op := &run[j]; op.Kind == kv.OpGet && results[i] >= 0 {
			out = append(out, op.Value...)
		}
		j++
	}
	if cap(out) <= 64<<10 {
		in.kvBatchBuf = out[:0]
	}
	if uint64(len(out)) > math.MaxInt32 {
		s[0] = errResult(abi.ErrTooLarge)
		return
	}
	s[0] = in.output(uint32(s[2]), uint32(s[3]), out, "kv_batch")
}

// httpResponse is the last http_call's response, kept for
// http_response_get until the next call or the end of the export call.
type httpResponse struct {
	header []byte
	body   []byte
}

func newHTTPClient(lim Limits) *http.Client {
	tr := &http.Transport{
		Proxy:                  nil, // never through an environment proxy
		DialContext:            (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:           64,
		MaxIdleConnsPerHost:    16,
		IdleConnTimeout:        60 * time.Second,
		TLSHandshakeTimeout:    5 * time.Second,
		ResponseHeaderTimeout:  lim.HTTPTimeout,
		MaxResponseHeaderBytes: 64 << 10,
	}
	return &http.Client{
		Transport: tr,
		// A lookup answers; it does not redirect. Hand 3xx to the guest.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// allowed reports whether u's destination is in the plugin's allowlist.
func (p *Plugin) allowed(u *url.URL) bool {
	host := strings.ToLower(u.Hostname())
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	for _, a := range p.spec.HTTPAllow {
		a = strings.ToLower(a)
		if a == "*" {
			return true
		}
		if h, pt, err := net.SplitHostPort(a); err == nil {
			if strings.Trim(h, "[]") == host && pt == port {
				return true
			}
		} else if strings.Trim(a, "[]") == host {
			return true
		}
	}
	return false
}

func hostHTTPCall(ctx context.Context, _ api.Module, s []uint64) {
	in := instanceFrom(ctx)
	in.bounds("http_call", s[0], s[1], s[2], s[3], s[4], s[5], s[6], s[7])
	p := in.g.p
	in.resp = nil
	hdrLen, bodyLen := uint32(s[5]), uint32(s[7])
	if uint32(s[1]) > 32 || uint32(s[3]) > 8192 || hdrLen > abi.MaxFieldBytes || bodyLen > abi.MaxHTTPBody {
		s[0] = errResult(abi.ErrTooLarge)
		return
	}
	method := string(in.read(uint32(s[0]), uint32(s[1]), "http method"))
	rawURL := string(in.read(uint32(s[2]), uint32(s[3]), "http url"))
	hdr := in.read(uint32(s[4]), hdrLen, "http headers")
	body := bytes.Clone(in.read(uint32(s[6]), bodyLen, "http body"))
	timeout := time.Duration(int32(s[8])) * time.Millisecond
	if timeout <= 0 || timeout > p.limits.HTTPTimeout {
		timeout = p.limits.HTTPTimeout
	}
	if method == "" || strings.ContainsAny(method, " \t\r\n()<>@,;:\\\"/[]?={}") {
		s[0] = errResult(abi.ErrInvalid)
		return
	}
	u, err := url.Parse(rawURL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		s[0] = errResult(abi.ErrInvalid)
		return
	}
	if !p.allowed(u) {
		p.logOnce("http-deny:"+u.Host, slog.LevelWarn, "http_call denied: destination not in http_allow", "destination", u.Host)
		s[0] = errResult(abi.ErrDenied)
		return
	}
	h, err := parseHeaderBlock(hdr)
	if err != nil {
		s[0] = errResult(abi.ErrInvalid)
		return
	}
	left := in.pause()
	defer in.resume(left)
	c, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(c, method, u.String(), bytes.NewReader(body))
	if err != nil {
		s[0] = errResult(abi.ErrInvalid)
		return
	}
	req.Header = h
	if host := h.Get("Host"); host != "" {
		req.Host = host
	}
	resp, err := in.g.httpClient.Do(req)
	if err != nil {
		p.stats.HTTPErrors.Add(1)
		var ne net.Error
		if errors.Is(err, context.DeadlineExceeded) || (errors.As(err, &ne) && ne.Timeout()) {
			s[0] = errResult(abi.ErrTimeout)
			return
		}
		p.logOnce("http-fail:"+u.Host, slog.LevelWarn, "http_call failed", "destination", u.Host, "error", err.Error())
		s[0] = errResult(abi.ErrUnavailable)
		return
	}
	defer resp.Body.Close()
	limit := int64(p.limits.HTTPResponseBytes)
	rb, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		p.stats.HTTPErrors.Add(1)
		s[0] = errResult(abi.ErrUnavailable)
		return
	}
	if int64(len(rb)) > limit {
		s[0] = errResult(abi.ErrTooLarge)
		return
	}
	var hb bytes.Buffer
	_ = resp.Header.Write(&hb)
	in.resp = &httpResponse{header: hb.Bytes(), body: rb}
	s[0] = result(int32(resp.StatusCode))
}

// parseHeaderBlock parses "Name: value\r\n" lines (bare "\n" accepted).
func parseHeaderBlock(b []byte) (http.Header, error) {
	h := http.Header{}
	if len(bytes.TrimSpace(b)) == 0 {
		return h, nil
	}
	if !bytes.HasSuffix(b, []byte("\n")) {
		b = append(bytes.Clone(b), '\n')
	}
	r := textproto.NewReader(bufio.NewReader(io.MultiReader(bytes.NewReader(b), strings.NewReader("\r\n"))))
	m, err := r.ReadMIMEHeader()
	if err != nil {
		return nil, err
	}
	return http.Header(m), nil
}

func hostHTTPResponseGet(ctx context.Context, _ api.Module, s []uint64) {
	in := instanceFrom(ctx)
	in.bounds("http_response_get", s[1], s[2])
	if in.resp == nil {
		s[0] = errResult(abi.ErrNotAvailable)
		return
	}
	var v []byte
	switch int32(s[0]) {
	case abi.HTTPPartHeaders:
		v = in.resp.header
	case abi.HTTPPartBody:
		v = in.resp.body
	default:
		s[0] = errResult(abi.ErrInvalid)
		return
	}
	s[0] = in.output(uint32(s[1]), uint32(s[2]), v, "http_response_get")
}

func hostCounterAdd(ctx context.Context, _ api.Module, s []uint64) {
	in := instanceFrom(ctx)
	in.bounds("counter_add", s[0], s[1])
	n := uint32(s[1])
	if n == 0 || n > 64 {
		in.g.p.logOnce("counter-name", slog.LevelWarn, "counter_add: name must be 1-64 of [a-z0-9_]; ignored")
		return
	}
	name := in.read(uint32(s[0]), n, "counter name")
	for _, c := range name {
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_') {
			in.g.p.logOnce("counter-name", slog.LevelWarn, "counter_add: name must be 1-64 of [a-z0-9_]; ignored", "name", string(name))
			return
		}
	}
	if delta := int64(s[2]); delta >= 0 {
		in.g.p.counterAdd(string(name), delta)
	} else {
		in.g.p.logOnce("counter-negative", slog.LevelWarn, "counter_add: negative delta ignored (counters only grow)", "name", string(name))
	}
}
