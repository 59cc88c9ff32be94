package plugin

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/tetratelabs/wazero"
	"github.com/tetratelabs/wazero/api"
	"github.com/tetratelabs/wazero/sys"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/kv"
)

// instance is one instantiated guest. It serves one call at a time; the
// per-call state below is set before an export call and cleared after.
type instance struct {
	g      *generation
	mod    api.Module
	mem    api.Memory
	ctx    context.Context // carries the instance to host functions
	cancel context.CancelFunc
	born   int64 // unix nanos
	// idleSince is when the instance went back to its pool (the host's
	// clock, unix nanos); pool.sweep closes it after limits.idle_timeout.
	idleSince int64
	uses      int
	dead      bool

	hooks  [abi.HookResponse + 1]api.Function
	events [abi.EventLoginFailed + 1]api.Function
	stack  []uint64

	// Per call.
	phase    abi.Phase
	fields   *Fields
	saved    Fields
	hasSaved bool
	// savedHeader, savedRespHeader: the snapshot holds its own copy of
	// the request's, the response's header map.
	savedHeader, savedRespHeader bool
	resp                         *httpResponse
	scratch                      []byte
	kvBatchBuf                   []byte  // kv_batch's encoded results, reused
	kvOps                        []kv.Op // kv_batch's operations, reused
	fault                        error   // a guest error found by a host function (bad pointer)

	// deadline is the watchdog tick after which the current call is
	// stopped; 0 when idle or paused in a blocking host function; expired
	// once the watchdog stopped the call.
	deadline atomic.Int64
	timedOut atomic.Bool
}

type ctxKey struct{}

// instanceFrom returns the instance a host function serves. A guest past
// its deadline is stopped here, at its next host call, which is the only
// place an Uninterruptible plugin can be stopped.
func instanceFrom(ctx context.Context) *instance {
	in := ctx.Value(ctxKey{}).(*instance)
	if in.timedOut.Load() {
		panic(ErrTimeout)
	}
	return in
}

// newInstance instantiates the module and runs _initialize and init. The
// caller holds a pool slot for it. trial marks the load-time instance,
// whose ABI version is checked.
func (g *generation) newInstance(ctx context.Context, trial bool) (*instance, error) {
	p := g.p
	name := p.spec.Name
	in := &instance{g: g, born: time.Now().UnixNano(), stack: make([]uint64, 1), scratch: make([]byte, 0, 256)}
	// The value on top of the cancel context: host functions find their
	// instance at the first level of the context chain.
	cctx, cancel := context.WithCancel(context.Background())
	in.ctx, in.cancel = context.WithValue(cctx, ctxKey{}, in), cancel

	cfg := wazero.NewModuleConfig().
		WithName("").
		WithStartFunctions(). // a reactor: _initialize is called below
		WithSysWalltime().WithSysNanotime().WithSysNanosleep().
		WithRandSource(rand.Reader).
		WithStdout(p.wasiWriter(slog.LevelInfo)).WithStderr(p.wasiWriter(slog.LevelWarn))

	// Instantiation runs the module's start section, which may loop: it
	// runs under the init deadline like _initialize and init.
	in.phase = abi.PhaseInit
	in.fields = &Fields{only: &filter{}}
	in.arm(p.limits.InitTimeout)
	p.h.track(in)
	mod, err := g.rt.InstantiateModule(in.ctx, g.compiled, cfg)
	if err != nil {
		in.disarm()
		p.h.untrack(in)
		in.cancel()
		return nil, fmt.Errorf("plugin %s: %w", name, in.explain(err, "instantiate"))
	}
	in.mod = mod
	in.mem = mod.Memory()
	fail := func(err error) (*instance, error) {
		in.disarm()
		in.close0()
		return nil, err
	}
	if g.hasWASIIni {
		if _, err := mod.ExportedFunction(abi.ExportWASIInitialize).Call(in.ctx); err != nil {
			return fail(fmt.Errorf("plugin %s: %w", name, in.explain(err, abi.ExportWASIInitialize)))
		}
	}
	if trial {
		res, err := mod.ExportedFunction(abi.ExportABIVersion).Call(in.ctx)
		if err != nil {
			return fail(fmt.Errorf("plugin %s: %w", name, in.explain(err, abi.ExportABIVersion)))
		}
		g.version = uint32(res[0])
		major, minor := abi.UnpackVersion(g.version)
		if major != abi.VersionMajor {
			return fail(fmt.Errorf("plugin %s: built for ABI %d.%d; this host implements ABI %d.x: rebuild it against ABI %d (abi/ABI.md \"Versioning\")",
				name, major, minor, abi.VersionMajor, abi.VersionMajor))
		}
	}
	if g.hasInit {
		res, err := mod.ExportedFunction(abi.ExportInit).Call(in.ctx)
		if err != nil {
			return fail(fmt.Errorf("plugin %s: %w", name, in.explain(err, abi.ExportInit)))
		}
		switch int32(res[0]) {
		case abi.InitOK:
		case abi.InitRefuse:
			msg := in.fields.Message
			if msg == "" {
				msg = "no reason given"
			}
			return fail(fmt.Errorf("plugin %s: init refused its configuration: %s", name, msg))
		default:
			return fail(fmt.Errorf("plugin %s: init returned %d; the ABI allows 0 (ok) or 1 (refuse)", name, int32(res[0])))
		}
	}
	in.disarm()
	if trial {
		g.vouches = in.fields.PasswordVerified
		g.reuse = time.Duration(in.fields.only.reuseMS) * time.Millisecond
		if !in.fields.only.empty() {
			g.only = in.fields.only
		}
	}
	in.fields = nil
	for _, h := range abi.Hooks {
		if g.serves[h] {
			in.hooks[h] = mod.ExportedFunction(h.Export())
		}
	}
	for _, e := range abi.Events {
		if g.hears[e] {
			in.events[e] = mod.ExportedFunction(e.Export())
		}
	}
	g.pool.live.Add(1)
	p.stats.Instantiations.Add(1)
	return in, nil
}

// expired is the deadline value by which the watchdog claims a call that
// overran, so that a call which ends at the same moment cannot be
// confused with the next call on the same instance.
const expired = -1

// arm starts the deadline clock of a call. Deadlines count watchdog
// ticks, not wall time read here: the tick counter only moves when the
// watchdog actually ran, so a starved watchdog can only give a guest more
// time, never stop a healthy call early, and a call costs no clock read
// (time.Now is ~100 ns on some virtual machines).
func (in *instance) arm(d time.Duration) {
	in.timedOut.Store(false)
	in.deadline.Store(in.g.p.h.tick.Load() + in.g.p.h.ticks(d))
}

func (in *instance) disarm() {
	if in.deadline.Swap(0) == expired {
		in.timedOut.Store(true)
	}
}

// pause stops the deadline clock while the guest waits for a blocking
// host function; resume restarts it with the ticks that were left.
func (in *instance) pause() int64 {
	d := in.deadline.Swap(0)
	if d == expired {
		in.deadline.Store(expired)
		panic(ErrTimeout)
	}
	if d == 0 {
		return 0
	}
	return max(d-in.g.p.h.tick.Load(), 1)
}

func (in *instance) resume(left int64) {
	if left != 0 {
		in.deadline.Store(in.g.p.h.tick.Load() + left)
	}
}

// call runs one hook or event export with f as its fields. A failure marks
// the instance dead and undoes the writes the call made to f.
func (in *instance) call(fn api.Function, phase abi.Phase, f *Fields, what string) (int32, error) {
	in.phase = phase
	in.fields = f
	in.hasSaved = false
	in.fault = nil
	in.arm(in.g.p.limits.CallTimeout)
	err := fn.CallWithStack(in.ctx, in.stack)
	in.disarm()
	in.uses++
	in.resp = nil
	in.fields = nil
	if in.timedOut.Load() {
		// The watchdog cancelled this instance's context: whatever the
		// call returned, the instance cannot serve again.
		in.dead = true
	}
	if err != nil {
		in.dead = true
		if in.hasSaved {
			f.restore(&in.saved)
		}
		in.saved = Fields{}
		return 0, in.explain(err, what)
	}
	if fn.Definition().ResultTypes() == nil {
		in.dropSnapshot()
		return 0, nil
	}
	return int32(in.stack[0]), nil
}

// undo puts back the fields as they were before the last call wrote them,
// for a call that returned an invalid verdict.
func (in *instance) undo(f *Fields) {
	if in.hasSaved {
		f.restore(&in.saved)
	}
	in.dropSnapshot()
}

// dropSnapshot drops the references the snapshot holds.
func (in *instance) dropSnapshot() {
	in.hasSaved = false
	in.saved = Fields{}
}

// beforeWrite snapshots the fields on a call's first write.
func (in *instance) beforeWrite() {
	if !in.hasSaved {
		in.saved = in.fields.snapshot()
		in.hasSaved = true
		in.savedHeader = false
		in.savedRespHeader = false
	}
}

// beforeHeaderWrite also copies the written header map (the request's,
// or the response's for abi.FieldResponseHeader), on its first write.
func (in *instance) beforeHeaderWrite(id abi.Field) {
	in.beforeWrite()
	switch {
	case id == abi.FieldResponseHeader:
		if !in.savedRespHeader {
			in.saved.snapshotRespHeader()
			in.savedRespHeader = true
		}
	case !in.savedHeader:
		in.saved.snapshotHeader()
		in.savedHeader = true
	}
}

// Failure kinds, for errors.Is and metrics.
var (
	// ErrTimeout: the guest overran its deadline.
	ErrTimeout = errors.New("deadline exceeded")
	// ErrTrap: the guest trapped (unreachable, bad memory access, a Go
	// panic, a bad pointer passed to the host).
	ErrTrap = errors.New("trap")
	// ErrExit: the guest called proc_exit.
	ErrExit = errors.New("exited")
	// ErrMemory: the guest hit its memory limit.
	ErrMemory = errors.New("memory limit reached")
	// ErrBadVerdict: a hook returned a value that is not a verdict.
	ErrBadVerdict = errors.New("invalid verdict")
)

// explain turns a wazero error into one that says what happened, wrapping
// one of the failure kinds above.
func (in *instance) explain(err error, what string) error {
	lim := in.g.p.limits
	if in.timedOut.Load() {
		d, key := lim.CallTimeout, "limits.call_timeout"
		if in.phase == abi.PhaseInit {
			d, key = lim.InitTimeout, "limits.init_timeout"
		}
		return fmt.Errorf("%s: %w: ran longer than %v (%s); the instance was stopped", what, ErrTimeout, d, key)
	}
	if in.fault != nil {
		return fmt.Errorf("%s: %w: %v", what, ErrTrap, in.fault)
	}
	var exit *sys.ExitError
	if errors.As(err, &exit) {
		if in.memFull() {
			return fmt.Errorf("%s: %w (%d pages, limits.memory_pages); the guest exited with code %d", what, ErrMemory, lim.MemoryPages, exit.ExitCode())
		}
		return fmt.Errorf("%s: %w with code %d (a Go guest exits with 2 on panic; see the plugin's log)", what, ErrExit, exit.ExitCode())
	}
	msg, stack := err.Error(), ""
	if i := strings.IndexByte(msg, '\n'); i > 0 {
		msg, stack = msg[:i], guestStack(msg[i+1:]) // the error stays one line; the stack goes to the log
	}
	if in.memFull() {
		return withStack(fmt.Errorf("%s: %w (%d pages, limits.memory_pages): %s", what, ErrMemory, lim.MemoryPages, msg), stack)
	}
	return withStack(fmt.Errorf("%s: %w: %s", what, ErrTrap, msg), stack)
}

// stackError carries the guest's stack at a failure, for the log line
// that reports it; its text is the wrapped error's.
type stackError struct {
	err   error
	stack string
}

func (e *stackError) Error() string { return e.err.Error() }
func (e *stackError) Unwrap() error { return e.err }

func withStack(err error, stack string) error {
	if stack == "" {
		return err
	}
	return &stackError{err: err, stack: stack}
}

// GuestStack returns the guest's stack at the failure err reports
// (innermost frame first, frames separated by " <- "), or "" when err
// carries none. Failures are logged with it.
func GuestStack(err error) string {
	var se *stackError
	if errors.As(err, &se) {
		return se.stack
	}
	return ""
}

// guestStack condenses wazero's "wasm stack trace:" block (one frame a
// line, tab-indented, Go host frames included) to one line of at most 16
// frames.
func guestStack(trace string) string {
	var frames []string
	for _, line := range strings.Split(trace, "\n") {
		line = strings.TrimSpace(line)
		if line == "" || strings.HasSuffix(line, "stack trace:") {
			continue
		}
		if len(frames) == 16 {
			frames = append(frames, "...")
			break
		}
		frames = append(frames, line)
	}
	return strings.Join(frames, " <- ")
}

// memFull reports whether the guest's memory reached its page limit.
func (in *instance) memFull() bool {
	if in.mem == nil {
		return false
	}
	max := uint64(in.g.p.limits.MemoryPages) * 65536
	return uint64(in.mem.Size())+65536 > max
}

// close discards the instance and frees its pool slot.
func (in *instance) close() {
	in.close0()
	in.g.pool.live.Add(-1)
	<-in.g.pool.slots
}

func (in *instance) close0() {
	in.g.p.h.untrack(in)
	in.cancel()
	if in.mod != nil {
		_ = in.mod.Close(context.Background())
	}
}
