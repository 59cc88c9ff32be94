// Command everything is a test guest that exercises every Postern host
// function, for the host's own tests (host/plugin). It exports
// postern_abi_version, postern_init, all four hooks and both events.
//
// Build:
//
//	GOOS=wasip1 GOARCH=wasm go build -buildmode=c-shared \
//	    -o host/plugin/testdata/guests/everything.wasm ./host/plugin/testdata/guests/everything
//
// # Contract (host tests rely on it exactly)
//
// Error codes are written as the decimal abi.Err value ("-5"); success of
// a setter as "ok" unless noted.
//
// Init: the configuration is optional JSON {"refuse": "text"}. When
// "refuse" is a non-empty string, init refuses with that text as the
// message. Configuration that is not JSON is refused with a message
// starting "everything: config is not JSON". Otherwise the bytes are
// kept for the "config" command.
//
// Hooks: every hook (login, throttle, route, rewrite) behaves the same. It
// reads FieldLogin as a command, sets FieldMessage to a result and returns
// Done, except where noted. If FieldLogin cannot be read it returns
// Continue.
//
//	echo             "protocol=<p> login=<l> client=<ip>:<port> local=<ip>:<port> tls=<v> sni=<s>"
//	                 (raw field values; a field that cannot be read is empty)
//	fields           one entry per plain (non-keyed) field 1..abi.FieldMax, joined
//	                 with "\t" (not "\n": the host refuses CR and LF in a message):
//	                 "name=value", or "name!<code>" when field_get fails; NULs in
//	                 list values are shown as ","
//	get:<n>          field_get of field number n: the value, or the code
//	set:<n>:<v>      field_set of field n to v; message "ok" or the code
//	                 (so setting field 27 reports "ok", not v)
//	setlogin:<x>     field_set FieldLogin = x; message "ok" or the code; returns Continue
//	kv:<key>:<val>   key must not contain ':'. Runs, in order: kv_set(key, val, ttl 0);
//	                 kv_get(key); kv_add(key, val) (expect -9); kv_add(key+"#n", "0");
//	                 kv_incr(key+"#n", 5); kv_delete(key); kv_get(key) (expect -5);
//	                 then, unreported, kv_delete(key+"#n") so the command repeats.
//	                 Message: "set=0 get=<val> add=-9 add2=0 incr=5 del=0 get2=-5",
//	                 each item the value or the code.
//	http:<url>       http_call GET url with header "X-Test: 1", no body, timeout 2000 ms,
//	                 then http_response_get of headers and body.
//	                 Message "<status> <body>", or the code.
//	header:<name>    field_get_key FieldHTTPHeader: the value, or the code
//	cookie:<name>    field_get_key FieldHTTPCookie: the value, or the code
//	imapid:<name>    field_get_key FieldIMAPID: the value, or the code
//	setheader:<n>:<v> field_set_key FieldHTTPHeader n = v: "ok" or the code
//	delheader:<n>    field_delete_key FieldHTTPHeader n: "ok" or the code
//	upstreams:<a,b>  field_set FieldUpstreams to the comma-separated list
//	                 (NUL-joined): "ok" or the code
//	refuse:<msg>     message msg, returns Refuse
//	tempfail:<msg>   message msg, returns TempFail
//	retry:<ms>       first call: FieldDelayMS = ms, returns Retry (message untouched);
//	                 the next retry: command on the same instance: message "retried",
//	                 returns Done. The state is a package variable, and the host may
//	                 retry on another instance: test it with a pool of one instance.
//	panic            panic("boom"): the Go runtime prints the panic to stderr and
//	                 the call traps ("wasm error: unreachable"); the instance is dead
//	loop             spins forever without host calls (for deadlines)
//	bomb             allocates 1 MiB slices forever, keeping them (for memory limits)
//	log:<n>          logs n info lines "line <i>" (i from 1): message "<n>"
//	clock            message: clock_now in nanoseconds, decimal
//	feature:<name>   message "1" or "0"
//	counter:<name>   counter_add(name, 3): message "ok"
//	config           message: the configuration bytes as init read them (use a
//	                 one-line config: the message cannot hold CR or LF)
//	big:<n>          field_set FieldMessage to n bytes of 'x'; on failure the
//	                 message is then set to the code
//	events           message "route_decided=<n> login_failed=<m>": how many
//	                 events this instance received
//	anything else    returns Continue, message untouched
//
// Events: route_decided counts itself and logs (info)
// "event route_decided upstreams=<a,b>"; login_failed counts itself, logs
// (info) "event login_failed message=<msg>" and calls kv_delete("route:" +
// login).
package main

import (
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"time"

	"github.com/postern/postern/abi"
	postern "github.com/postern/postern/guest-sdk"
	"github.com/postern/postern/guest-sdk/event/loginfailed"
	"github.com/postern/postern/guest-sdk/event/routedecided"
	"github.com/postern/postern/guest-sdk/hook/login"
	"github.com/postern/postern/guest-sdk/hook/rewrite"
	"github.com/postern/postern/guest-sdk/hook/route"
	"github.com/postern/postern/guest-sdk/hook/throttle"
)

func main() {}

var (
	config       []byte
	retryPending bool
	routeDecided int
	loginFailed  int

	// spin and spinStop keep the loop command's loop from being proven
	// infinite and empty.
	spin     uint64
	spinStop bool

	hoard [][]byte
)

func init() {
	postern.OnInit(setup)
	login.Handle(run)
	throttle.Handle(run)
	route.Handle(run)
	rewrite.Handle(run)
	routedecided.Handle(onRouteDecided)
	loginfailed.Handle(onLoginFailed)
}

func setup(cfg []byte) error {
	if len(cfg) > 0 {
		var c struct {
			Refuse string `json:"refuse"`
		}
		if err := json.Unmarshal(cfg, &c); err != nil {
			return errors.New("everything: config is not JSON: " + err.Error())
		}
		if c.Refuse != "" {
			return errors.New(c.Refuse)
		}
	}
	config = cfg
	return nil
}

// code formats a host error as its decimal abi.Err value, nil as "ok".
func code(err error) string {
	if err == nil {
		return "ok"
	}
	var e abi.Err
	if errors.As(err, &e) {
		return strconv.Itoa(int(e))
	}
	return err.Error()
}

// valueOr returns v, or the error's code.
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

func run() postern.Verdict {
	cmd, err := postern.Get(abi.FieldLogin)
	if err != nil {
		return postern.Continue
	}
	name, arg, _ := strings.Cut(cmd, ":")
	switch name {
	case "echo":
		g := func(f abi.Field) string { v, _ := postern.Get(f); return v }
		return say("protocol=" + g(abi.FieldProtocol) + " login=" + g(abi.FieldLogin) +
			" client=" + g(abi.FieldClientIP) + ":" + g(abi.FieldClientPort) +
			" local=" + g(abi.FieldLocalIP) + ":" + g(abi.FieldLocalPort) +
			" tls=" + g(abi.FieldTLSVersion) + " sni=" + g(abi.FieldSNI))
	case "fields":
		var b strings.Builder
		for f := abi.Field(1); f <= abi.FieldMax; f++ {
			if f.Keyed() {
				continue
			}
			if b.Len() > 0 {
				b.WriteByte('\t')
			}
			v, err := postern.Get(f)
			if err != nil {
				b.WriteString(f.String() + "!" + code(err))
			} else {
				b.WriteString(f.String() + "=" + strings.ReplaceAll(v, "\x00", ","))
			}
		}
		return say(b.String())
	case "get":
		n, _ := strconv.Atoi(arg)
		return say(valueOr(postern.Get(abi.Field(n))))
	case "set":
		num, v, _ := strings.Cut(arg, ":")
		n, _ := strconv.Atoi(num)
		return say(code(postern.Set(abi.Field(n), v)))
	case "setlogin":
		say(code(postern.SetLogin(arg)))
		return postern.Continue
	case "kv":
		return say(kv(arg))
	case "http":
		resp, err := postern.HTTPDo(&postern.HTTPRequest{
			Method:  "GET",
			URL:     arg,
			Header:  postern.HTTPHeader{"X-Test": {"1"}},
			Timeout: 2 * time.Second,
		})
		if err != nil {
			return say(code(err))
		}
		return say(strconv.Itoa(resp.Status) + " " + string(resp.Body))
	case "header":
		return say(valueOr(postern.GetKey(abi.FieldHTTPHeader, arg)))
	case "cookie":
		return say(valueOr(postern.GetKey(abi.FieldHTTPCookie, arg)))
	case "imapid":
		return say(valueOr(postern.GetKey(abi.FieldIMAPID, arg)))
	case "setheader":
		k, v, _ := strings.Cut(arg, ":")
		return say(code(postern.SetKey(abi.FieldHTTPHeader, k, v)))
	case "delheader":
		return say(code(postern.DeleteKey(abi.FieldHTTPHeader, arg)))
	case "upstreams":
		var list []string
		if arg != "" {
			list = strings.Split(arg, ",")
		}
		return say(code(postern.SetUpstreams(list)))
	case "refuse":
		return postern.Refuse(arg)
	case "tempfail":
		return postern.TempFail(arg)
	case "retry":
		if !retryPending {
			retryPending = true
			ms, _ := strconv.Atoi(arg)
			return postern.Retry(time.Duration(ms) * time.Millisecond)
		}
		retryPending = false
		return say("retried")
	case "panic":
		panic("boom")
	case "loop":
		for !spinStop {
			spin++
		}
		return say(strconv.FormatUint(spin, 10))
	case "bomb":
		for {
			b := make([]byte, 1<<20)
			b[len(b)-1] = 1
			hoard = append(hoard, b)
		}
	case "log":
		n, _ := strconv.Atoi(arg)
		for i := 1; i <= n; i++ {
			postern.Log(abi.LevelInfo, "line "+strconv.Itoa(i))
		}
		return say(strconv.Itoa(n))
	case "clock":
		return say(strconv.FormatInt(postern.Now().UnixNano(), 10))
	case "feature":
		if postern.HasFeature(arg) {
			return say("1")
		}
		return say("0")
	case "counter":
		postern.CounterAdd(arg, 3)
		return say("ok")
	case "config":
		return say(string(config))
	case "big":
		n, _ := strconv.Atoi(arg)
		if err := postern.SetMessage(strings.Repeat("x", n)); err != nil {
			return say(code(err))
		}
		return postern.Done
	case "events":
		return say("route_decided=" + strconv.Itoa(routeDecided) + " login_failed=" + strconv.Itoa(loginFailed))
	}
	return postern.Continue
}

// kv runs the kv command's sequence and returns its report.
func kv(arg string) string {
	key, val, _ := strings.Cut(arg, ":")
	counter := key + "#n"
	r := []string{"set=" + rc(postern.KVSet(key, []byte(val), 0))}
	v, err := postern.KVGet(key)
	r = append(r, "get="+valueOr(string(v), err))
	r = append(r, "add="+rc(postern.KVAdd(key, []byte(val), 0)))
	r = append(r, "add2="+rc(postern.KVAdd(counter, []byte("0"), 0)))
	n, err := postern.KVIncr(counter, 5)
	r = append(r, "incr="+valueOr(strconv.FormatUint(n, 10), err))
	r = append(r, "del="+rc(postern.KVDelete(key)))
	v, err = postern.KVGet(key)
	r = append(r, "get2="+valueOr(string(v), err))
	_ = postern.KVDelete(counter)
	return strings.Join(r, " ")
}

// rc formats a result as the host returned it: 0 or the code.
func rc(err error) string {
	if err == nil {
		return "0"
	}
	return code(err)
}

func onRouteDecided() {
	routeDecided++
	postern.Log(abi.LevelInfo, "event route_decided upstreams="+strings.Join(postern.Upstreams(), ","))
}

func onLoginFailed() {
	loginFailed++
	postern.Log(abi.LevelInfo, "event login_failed message="+postern.Message())
	_ = postern.KVDelete("route:" + postern.Login())
}
