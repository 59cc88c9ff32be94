// Command go is the conformance suite's command-protocol guest built with
// the Go SDK; ../README.md is its contract, shared with the C guest.
package main

import (
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/event/loginfailed"
	"github.com/postern/postern/guest-sdk/event/routedecided"
	"github.com/postern/postern/guest-sdk/hook/login"
	"github.com/postern/postern/guest-sdk/hook/response"
	"github.com/postern/postern/guest-sdk/hook/rewrite"
	"github.com/postern/postern/guest-sdk/hook/route"
	"github.com/postern/postern/guest-sdk/hook/throttle"
)

func main() {}

var (
	config       []byte
	initReport   string
	retryPending bool
	routeDecided int
	loginFailed  int
	spin         uint64
	spinStop     bool
)

func init() {
	postern.OnInit(setup)
	login.Handle(run)
	throttle.Handle(run)
	route.Handle(run)
	rewrite.Handle(run)
	response.Handle(run)
	routedecided.Handle(onRouteDecided)
	loginfailed.Handle(onLoginFailed)
}

func setup(cfg []byte) error {
	if _, rest, ok := strings.Cut(string(cfg), `"refuse":"`); ok {
		text, _, _ := strings.Cut(rest, `"`)
		return errors.New(text)
	}
	config = cfg
	_, err := postern.Get(abi.FieldLogin)
	initReport = "login=" + code(err) + " set=" + ok(postern.SetMessage("init"))
	return nil
}

// code formats a host error as its decimal abi.Err value.
func code(err error) string {
	var e abi.Err
	if errors.As(err, &e) {
		return strconv.Itoa(int(e))
	}
	if err == nil {
		return "0"
	}
	return err.Error()
}

func ok(err error) string {
	if err == nil {
		return "ok"
	}
	return code(err)
}

func valueOr(v string, err error) string {
	if err != nil {
		return code(err)
	}
	return v
}

func say(msg string) postern.Verdict {
	_ = postern.SetMessage(msg)
	return postern.Done
}

func num(s string) int64 { n, _ := strconv.ParseInt(s, 10, 64); return n }

func run() postern.Verdict {
	cmd, err := postern.Get(abi.FieldLogin)
	if err != nil {
		return postern.Continue
	}
	name, rest, _ := strings.Cut(cmd, ":")
	arg := func(n int) []string { return strings.SplitN(rest, ":", n) }
	switch name {
	case "get":
		v, err := postern.Get(abi.Field(num(rest)))
		return say(valueOr(strings.ReplaceAll(v, "\x00", ","), err))
	case "len":
		b, err := postern.AppendGet(nil, abi.Field(num(rest)))
		return say(valueOr(strconv.Itoa(len(b)), err))
	case "set":
		a := arg(2)
		if len(a) < 2 {
			return postern.Continue
		}
		return say(ok(postern.Set(abi.Field(num(a[0])), a[1])))
	case "setlist":
		a := arg(2)
		if len(a) < 2 {
			return postern.Continue
		}
		var items []string
		if a[1] != "" {
			items = strings.Split(a[1], ",")
		}
		return say(ok(postern.SetList(abi.Field(num(a[0])), items)))
	case "big":
		a := arg(2)
		if len(a) < 2 {
			return postern.Continue
		}
		err := postern.Set(abi.Field(num(a[0])), strings.Repeat("x", int(num(a[1]))))
		if err != nil || num(a[0]) != int64(abi.FieldMessage) {
			return say(ok(err))
		}
		return postern.Done
	case "key":
		a := arg(2)
		if len(a) < 2 {
			return postern.Continue
		}
		return say(valueOr(postern.GetKey(abi.Field(num(a[0])), a[1])))
	case "setkey":
		a := arg(3)
		if len(a) < 3 {
			return postern.Continue
		}
		return say(ok(postern.SetKey(abi.Field(num(a[0])), a[1], a[2])))
	case "delkey":
		a := arg(2)
		if len(a) < 2 {
			return postern.Continue
		}
		return say(ok(postern.DeleteKey(abi.Field(num(a[0])), a[1])))
	case "kvget":
		v, err := postern.KVGet(rest)
		return say(valueOr(string(v), err))
	case "kvset", "kvadd":
		a := arg(3)
		if len(a) < 3 {
			return postern.Continue
		}
		ttl := time.Duration(num(a[2])) * time.Second
		if name == "kvset" {
			return say(ok(postern.KVSet(a[0], []byte(a[1]), ttl)))
		}
		return say(ok(postern.KVAdd(a[0], []byte(a[1]), ttl)))
	case "kvincr":
		a := arg(2)
		if len(a) < 2 {
			return postern.Continue
		}
		n, err := postern.KVIncr(a[0], uint64(num(a[1])))
		return say(valueOr(strconv.FormatUint(n, 10), err))
	case "kvdel":
		return say(ok(postern.KVDelete(rest)))
	case "kvbatch":
		// The script of conformance case kv/batch on keys rest+"a", "b", "c".
		ops := []postern.KVOp{
			{Op: postern.KVOpIncr, Key: rest + "a", Delta: 1},
			{Op: postern.KVOpGet, Key: rest + "b"},
			{Op: postern.KVOpDecr, Key: rest + "a", Delta: 5},
			{Op: postern.KVOpAdd, Key: rest + "c", Value: []byte("x"), TTL: time.Minute},
			{Op: postern.KVOpGet, Key: rest + "c"},
			{Op: postern.KVOpDelete, Key: rest + "b"},
			{Op: postern.KVOpGet, Key: rest + "b"},
			{Op: postern.KVOpGet, Key: "bad key"},
		}
		if err := postern.KVBatch(ops); err != nil {
			return say(valueOr("", err))
		}
		var out []string
		for _, op := range ops {
			switch {
			case op.Err != nil:
				out = append(out, valueOr("", op.Err))
			case op.Op == postern.KVOpGet:
				out = append(out, string(op.Value))
			case op.Op == postern.KVOpIncr || op.Op == postern.KVOpDecr:
				out = append(out, strconv.FormatUint(op.N, 10))
			default:
				out = append(out, "0")
			}
		}
		return say(strings.Join(out, ","))
	case "kvbig":
		a := arg(2)
		if len(a) < 2 {
			return postern.Continue
		}
		return say(ok(postern.KVSet(a[0], []byte(strings.Repeat("v", int(num(a[1])))), 0)))
	case "http":
		a := arg(3)
		if len(a) < 3 {
			return postern.Continue
		}
		resp, err := postern.HTTPDo(&postern.HTTPRequest{
			Method: a[0], URL: a[2], Header: postern.HTTPHeader{"X-Conformance": {"1"}},
			Timeout: time.Duration(num(a[1])) * time.Millisecond,
		})
		if err != nil {
			return say(code(err))
		}
		return say(strconv.Itoa(resp.Status) + " " + string(resp.Body))
	case "httph":
		resp, err := postern.HTTPDo(&postern.HTTPRequest{URL: rest})
		if err != nil {
			return say(code(err))
		}
		if resp.Header.Get("X-Reply") == "yes" {
			return say("1")
		}
		return say("0")
	case "feature":
		if postern.HasFeature(rest) {
			return say("1")
		}
		return say("0")
	case "log":
		a := arg(2)
		if len(a) < 2 {
			return postern.Continue
		}
		n := int(num(a[1]))
		for i := 1; i <= n; i++ {
			postern.Log(abi.Level(num(a[0])), "line "+strconv.Itoa(i))
		}
		return say(strconv.Itoa(n))
	case "counter":
		a := arg(2)
		if len(a) < 2 {
			return postern.Continue
		}
		postern.CounterAdd(a[0], num(a[1]))
		return say("ok")
	case "clock":
		return say(strconv.FormatInt(postern.Now().UnixNano(), 10))
	case "config":
		return say(string(config))
	case "init":
		return say(initReport)
	case "continue":
		return postern.Continue
	case "refuse":
		return postern.Refuse(rest)
	case "tempfail":
		return postern.TempFail(rest)
	case "retry":
		if !retryPending {
			retryPending = true
			return postern.Retry(time.Duration(num(rest)) * time.Millisecond)
		}
		retryPending = false
		return say("retried")
	case "retryalways":
		return postern.Retry(time.Duration(num(rest)) * time.Millisecond)
	case "delay":
		_ = say(ok(postern.SetDelay(time.Duration(num(rest)) * time.Millisecond)))
		return postern.Continue
	case "trap":
		_ = postern.SetMessage("partial")
		panic("conformance: trap command")
	case "loop":
		_ = postern.SetMessage("partial")
		for !spinStop {
			spin++
		}
		return say(strconv.FormatUint(spin, 10))
	case "events":
		return say("route_decided=" + strconv.Itoa(routeDecided) + " login_failed=" + strconv.Itoa(loginFailed))
	}
	return postern.Continue
}

func onRouteDecided() {
	routeDecided++
	err := postern.SetMessage("x")
	postern.Log(abi.LevelInfo, "route_decided upstream="+postern.Upstream()+
		" upstreams="+strings.Join(postern.Upstreams(), ",")+" set="+ok(err))
}

func onLoginFailed() {
	loginFailed++
	err := postern.KVDelete("route:" + postern.Account())
	postern.Log(abi.LevelInfo, "login_failed message="+postern.Message()+" account="+postern.Account()+" del="+ok(err))
}
