package plugin

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/imports/wasi_snapshot_preview1"

	"github.com/postern/postern/abi"
)

// generation is one compiled version of a plugin file: its own wazero
// runtime (memory limits are per runtime), the compiled module, and a pool
// of initialised instances. A reload builds a new generation and retires
// the old one, which closes when its last call returns.
type generation struct {
	p        *Plugin
	rt       wazero.Runtime
	compiled wazero.CompiledModule
	sha256   string
	version  uint32
	loadedAt time.Time

	serves     [abi.HookResponse + 1]bool // indexed by abi.Hook
	hears      [abi.EventLoginFailed + 1]bool
	hasInit    bool
	hasWASIIni bool
	// vouches: the trial instance's init set FieldPasswordVerified, which
	// declares that this plugin can verify passwords.
	vouches bool
	// only: the request filters the trial instance's init declared; nil
	// when it declared none. Checked before every hook and event call.
	only *filter
	// reuse: the decision reuse the trial instance's init declared
	// (abi.FieldReuseMS); 0: none.
	reuse time.Duration

	pool       pool
	httpClient *http.Client
	// metrics: what the instances' inits declared (metric_declare).
	metrics metricSet

	// calls and failures count this version's calls, for the safe-swap
	// watch (failures: not the caller's own deadline).
	calls, failures atomic.Int64

	active    atomic.Int64
	retired   atomic.Bool
	closeOnce sync.Once
}

// wantSig is an export's required signature.
type wantSig struct {
	params, results []api.ValueType
}

var (
	sigVerdict = wantSig{nil, []api.ValueType{api.ValueTypeI32}}
	sigVoid    = wantSig{nil, nil}
)

// hostImports are the signatures of every host function, by name.
var hostImports = map[string]wantSig{
	abi.ImportFeature:         {i32s(2), i32s(1)},
	abi.ImportLog:             {i32s(3), nil},
	abi.ImportConfigGet:       {i32s(2), i32s(1)},
	abi.ImportFieldGet:        {i32s(3), i32s(1)},
	abi.ImportFieldSet:        {i32s(3), i32s(1)},
	abi.ImportFieldGetKey:     {i32s(5), i32s(1)},
	abi.ImportFieldSetKey:     {i32s(5), i32s(1)},
	abi.ImportFieldDeleteKey:  {i32s(3), i32s(1)},
	abi.ImportKVGet:           {i32s(4), i32s(1)},
	abi.ImportKVSet:           {i32s(5), i32s(1)},
	abi.ImportKVAdd:           {i32s(5), i32s(1)},
	abi.ImportKVIncr:          {[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI64}, []api.ValueType{api.ValueTypeI64}},
	abi.ImportKVDelete:        {i32s(2), i32s(1)},
	abi.ImportKVBatch:         {i32s(4), i32s(1)},
	abi.ImportHTTPCall:        {i32s(9), i32s(1)},
	abi.ImportHTTPResponseGet: {i32s(3), i32s(1)},
	abi.ImportClockNow:        {nil, []api.ValueType{api.ValueTypeI64}},
	abi.ImportCounterAdd:      {[]api.ValueType{api.ValueTypeI32, api.ValueTypeI32, api.ValueTypeI64}, nil},
	abi.ImportMetricDeclare:   {i32s(7), i32s(1)},
	abi.ImportMetricGaugeSet:  {[]api.ValueType{api.ValueTypeI32, api.ValueTypeF64}, i32s(1)},
	abi.ImportMetricGaugeAdd:  {[]api.ValueType{api.ValueTypeI32, api.ValueTypeF64}, i32s(1)},
	abi.ImportMetricObserve:   {[]api.ValueType{api.ValueTypeI32, api.ValueTypeF64}, i32s(1)},
}

func i32s(n int) []api.ValueType {
	t := make([]api.ValueType, n)
	for i := range t {
		t[i] = api.ValueTypeI32
	}
	return t
}

// newGeneration compiles wasm, checks it against the ABI, and creates one
// trial instance (running _initialize and init), so that a broken file
// fails here and never reaches a call.
func newGeneration(ctx context.Context, p *Plugin, wasm []byte) (g *generation, err error) {
	g = &generation{p: p, sha256: sha256Hex(wasm), loadedAt: time.Now()}
	lim := p.limits
	cfg := wazero.NewRuntimeConfigCompiler().
		WithCloseOnContextDone(!lim.Uninterruptible).
		WithMemoryLimitPages(lim.MemoryPages)
	if p.h.cache != nil {
		cfg = cfg.WithCompilationCache(p.h.cache)
	}
	rt := wazero.NewRuntimeWithConfig(ctx, cfg)
	g.rt = rt
	defer func() {
		if err != nil {
			rt.Close(ctx)
		}
	}()
	if _, err := wasi_snapshot_preview1.Instantiate(ctx, g.rt); err != nil {
		return nil, fmt.Errorf("plugin %s: wasi: %w", p.spec.Name, err)
	}
	if err := instantiateHostModule(ctx, g.rt); err != nil {
		return nil, fmt.Errorf("plugin %s: host module: %w", p.spec.Name, err)
	}
	g.compiled, err = g.rt.CompileModule(ctx, wasm)
	if err != nil {
		if isMemoryOverLimit(err) {
			// wazero checks the memory section against the runtime's page
			// limit while decoding: the module is valid, its memory is not.
			return nil, fmt.Errorf("plugin %s: %s: its initial memory is over limits.memory_pages (%d pages of 64 KiB; raise the limit or shrink the module's memory): %w",
				p.spec.Name, p.spec.Path, lim.MemoryPages, err)
		}
		return nil, fmt.Errorf("plugin %s: %s is not a valid WebAssembly module: %w", p.spec.Name, p.spec.Path, err)
	}
	if err := g.check(); err != nil {
		return nil, fmt.Errorf("plugin %s: %s: %w", p.spec.Name, p.spec.Path, err)
	}
	g.httpClient = newHTTPClient(lim)
	g.pool.init(g, lim.Instances)
	g.pool.slots <- struct{}{}
	in, err := g.newInstance(ctx, true)
	if err != nil {
		<-g.pool.slots
		return nil, err
	}
	g.pool.put(in)
	return g, nil
}

// check validates imports and exports against the ABI, with errors that
// name the export and the signature it should have.
func (g *generation) check() error {
	for _, f := range g.compiled.ImportedFunctions() {
		mod, name, _ := f.Import()
		switch mod {
		case abi.ImportModule:
			want, ok := hostImports[name]
			if !ok {
				return fmt.Errorf("imports %s.%s, which this host (ABI %d.%d) does not provide: rebuild against this ABI or upgrade Postern",
					mod, name, abi.VersionMajor, abi.VersionMinor)
			}
			if !sameTypes(f.ParamTypes(), want.params) || !sameTypes(f.ResultTypes(), want.results) {
				return fmt.Errorf("imports %s.%s with signature %s; the ABI says %s",
					mod, name, sigString(f.ParamTypes(), f.ResultTypes()), sigString(want.params, want.results))
			}
		case wasi_snapshot_preview1.ModuleName:
			// wazero provides every preview1 function; filesystem and
			// sockets see no preopens and fail with an errno.
		default:
			return fmt.Errorf("imports %s.%s: only modules %q and %q are provided", mod, name, abi.ImportModule, wasi_snapshot_preview1.ModuleName)
		}
	}
	if _, ok := g.compiled.ExportedMemories()[abi.ExportMemory]; !ok {
		return fmt.Errorf("does not export its memory as %q", abi.ExportMemory)
	}
	exports := g.compiled.ExportedFunctions()
	expect := func(name string, want wantSig) (bool, error) {
		def, ok := exports[name]
		if !ok {
			return false, nil
		}
		if !sameTypes(def.ParamTypes(), want.params) || !sameTypes(def.ResultTypes(), want.results) {
			return false, fmt.Errorf("exports %s with signature %s; the ABI says %s",
				name, sigString(def.ParamTypes(), def.ResultTypes()), sigString(want.params, want.results))
		}
		return true, nil
	}
	ok, err := expect(abi.ExportABIVersion, sigVerdict)
	if err != nil {
		return err
	}
	if !ok {
		return fmt.Errorf("does not export %s: it is not a Postern plugin (build it with the guest SDK, or see abi/ABI.md \"Guest exports\")", abi.ExportABIVersion)
	}
	if g.hasWASIIni, err = expect(abi.ExportWASIInitialize, sigVoid); err != nil {
		return err
	}
	if g.hasInit, err = expect(abi.ExportInit, sigVerdict); err != nil {
		return err
	}
	for _, h := range abi.Hooks {
		ok, err := expect(h.Export(), sigVerdict)
		if err != nil {
			return err
		}
		g.serves[h] = ok && g.p.wants(h)
	}
	for _, e := range abi.Events {
		ok, err := expect(e.Export(), sigVoid)
		if err != nil {
			return err
		}
		g.hears[e] = ok
	}
	if _, ok := exports["_start"]; ok && !g.hasWASIIni {
		// A command's exports may not work before _start (the Go runtime
		// is not initialised), and _start runs main and exits: refused
		// (RATIONALE.md "A _start export").
		return errors.New("is a WASI command (exports _start without _initialize): build it as a reactor " +
			"(Go: -buildmode=c-shared; C: -mexec-model=reactor; Rust: --crate-type cdylib, see guest-sdk/rust; " +
			"TinyGo: -buildmode=c-shared)")
	}
	return nil
}

// isMemoryOverLimit reports whether a compile error is wazero's check of
// the memory section against the page limit ("min 20 pages (1.3 Mi) over
// limit of 16 pages (1.0 Mi)").
func isMemoryOverLimit(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "memory") && strings.Contains(msg, "pages") && strings.Contains(msg, "over limit of")
}

func sha256Hex(b []byte) string {
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

func sameTypes(a, b []api.ValueType) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func sigString(params, results []api.ValueType) string {
	var b strings.Builder
	b.WriteString("(func")
	if len(params) > 0 {
		b.WriteString(" (param")
		for _, t := range params {
			b.WriteString(" " + api.ValueTypeName(t))
		}
		b.WriteString(")")
	}
	if len(results) > 0 {
		b.WriteString(" (result")
		for _, t := range results {
			b.WriteString(" " + api.ValueTypeName(t))
		}
		b.WriteString(")")
	}
	b.WriteString(")")
	return b.String()
}

// hookNames lists the hooks this generation serves, for Info.
func (g *generation) hookNames() []string {
	var out []string
	for _, h := range abi.Hooks {
		if g.serves[h] {
			out = append(out, h.String())
		}
	}
	return out
}

func (g *generation) eventNames() []string {
	var out []string
	for _, e := range abi.Events {
		if g.hears[e] {
			out = append(out, e.String())
		}
	}
	sort.Strings(out)
	return out
}

// acquire pins the generation for one call; release unpins it.
func (g *generation) release() {
	if g.active.Add(-1) == 0 && g.retired.Load() {
		g.close()
	}
}

// retire marks the generation replaced: it closes once its calls drain.
func (g *generation) retire() {
	g.retired.Store(true)
	if g.active.Load() == 0 {
		g.close()
	}
}

func (g *generation) close() {
	g.closeOnce.Do(func() {
		g.pool.closeAll()
		g.httpClient.CloseIdleConnections()
		_ = g.rt.Close(context.Background())
	})
}

// pool holds a generation's idle instances. It grows on demand up to
// limits.instances and shrinks when idle: idle instances are a stack, so
// the most recently used one serves the next call, and those at the bottom
// that nobody needed for limits.idle_timeout are closed by sweep (the last
// one is kept). A light load so keeps only the instances it uses, and a
// Go guest's several megabytes are returned after a burst.
//
// slots bounds live instances (a token per live instance); a caller at the
// limit queues in waiters and is handed the next instance put back, or a
// nil, meaning "a slot was freed: create one".
type pool struct {
	g       *generation
	mu      sync.Mutex
	stack   []*instance
	waiters []chan *instance
	slots   chan struct{}
	live    atomic.Int32
}

func (p *pool) init(g *generation, size int) {
	p.g = g
	p.slots = make(chan struct{}, size)
}

// get returns an idle instance, creates one if under the limit, or waits
// for one until ctx ends.
func (p *pool) get(ctx context.Context) (*instance, error) {
	p.mu.Lock()
	if n := len(p.stack); n > 0 {
		in := p.stack[n-1]
		p.stack[n-1] = nil
		p.stack = p.stack[:n-1]
		p.mu.Unlock()
		return in, nil
	}
	select {
	case p.slots <- struct{}{}:
		p.mu.Unlock()
		return p.create(ctx)
	default:
	}
	ch := make(chan *instance, 1)
	p.waiters = append(p.waiters, ch)
	p.mu.Unlock()
	select {
	case in := <-ch:
		if in == nil {
			return p.createFreed(ctx)
		}
		return in, nil
	case <-ctx.Done():
		// Handing over happens under mu (a buffered send that cannot
		// block), so under mu either ch is still queued (remove it: nobody
		// will send) or its value is already in it (take it and pass it on).
		p.mu.Lock()
		queued := false
		for i, w := range p.waiters {
			if w == ch {
				p.waiters = append(p.waiters[:i], p.waiters[i+1:]...)
				queued = true
				break
			}
		}
		p.mu.Unlock()
		if !queued {
			if in := <-ch; in == nil {
				p.freed()
			} else {
				p.put(in)
			}
		}
		return nil, fmt.Errorf("plugin %s: waiting for a free instance (limits.instances=%d): %w",
			p.g.p.spec.Name, cap(p.slots), ctx.Err())
	}
}

// create makes a new instance in a slot the caller holds.
func (p *pool) create(ctx context.Context) (*instance, error) {
	in, err := p.g.newInstance(ctx, false)
	if err != nil {
		<-p.slots
		p.freed()
		return nil, err
	}
	return in, nil
}

// createFreed takes the slot a closed instance freed, or waits again when
// another caller took it first.
func (p *pool) createFreed(ctx context.Context) (*instance, error) {
	select {
	case p.slots <- struct{}{}:
		return p.create(ctx)
	default:
		return p.get(ctx)
	}
}

// freed tells the first waiter, if any, that a slot is free.
func (p *pool) freed() {
	p.mu.Lock()
	if len(p.waiters) > 0 {
		ch := p.waiters[0]
		p.waiters = p.waiters[1:]
		ch <- nil // buffered, one sender: never blocks
	}
	p.mu.Unlock()
}

// put returns an instance after a call, or discards it when it failed or is
// due for recycling.
func (p *pool) put(in *instance) {
	lim := &p.g.p.limits
	now := p.g.p.h.now()
	if !in.dead && (in.uses >= lim.MaxUses || now-in.born > int64(lim.MaxAge) ||
		in.mem.Size() > lim.MemoryHighWater || p.g.retired.Load()) {
		in.dead = true
		p.g.p.stats.Recycled.Add(1)
	}
	if in.dead {
		in.close()
		p.freed()
		return
	}
	in.idleSince = now
	p.mu.Lock()
	if len(p.waiters) > 0 {
		ch := p.waiters[0]
		p.waiters = p.waiters[1:]
		ch <- in // buffered, one sender: never blocks
	} else {
		p.stack = append(p.stack, in)
	}
	p.mu.Unlock()
}

// sweep closes idle instances unused for limits.idle_timeout, from the
// bottom of the stack (the least recently used), keeping one.
func (p *pool) sweep(now int64) {
	timeout := int64(p.g.p.limits.IdleTimeout)
	var stale []*instance
	p.mu.Lock()
	keep := 0
	for keep < len(p.stack)-1 && now-p.stack[keep].idleSince > timeout {
		keep++
	}
	if keep > 0 {
		stale = append(stale, p.stack[:keep]...)
		p.stack = append(p.stack[:0], p.stack[keep:]...)
	}
	p.mu.Unlock()
	for _, in := range stale {
		p.g.p.stats.Shrunk.Add(1)
		in.close()
		p.freed()
	}
}

// closeAll closes idle instances; called when no call is in flight.
func (p *pool) closeAll() {
	p.mu.Lock()
	stale := p.stack
	p.stack = nil
	p.mu.Unlock()
	for _, in := range stale {
		in.close()
	}
}
