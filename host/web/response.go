package web

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/postern/postern/abi"
)

// hookAnswer is the error modifyResponse returns when the response chain
// refused or failed: proxyError answers the client with it instead of
// the upstream's response (whose body forward, or the reverse proxy,
// closes).
type hookAnswer struct {
	status int
	msg    string
	why    string
}

func (a *hookAnswer) Error() string { return a.why }

// runResponse runs the response hook (ABI 1.1) on an upstream's response,
// after its headers arrived and before any byte reaches the client. The
// caller checked that some plugin serves the hook, so a deployment without
// one pays a single atomic load per response. Plugins read the status and
// edit resp.Header in place through the response_header field; the
// header the chain left (a failed call's writes undone) is what is sent.
func (s *Server) runResponse(resp *http.Response, st *reqState) error {
	f := st.f
	hf := f.HTTP
	hf.Status = resp.StatusCode
	hf.RespHeader = resp.Header
	f.Upstream = st.upstream
	ctx := resp.Request.Context()
	res := s.plugins.Run(ctx, abi.HookResponse, f)
	st.addVerdict(abi.HookResponse, res)
	resp.Header = hf.RespHeader // a failed call's restore may have swapped the map
	hf.RespHeader = nil         // the response is the proxy's from here on
	switch res.Verdict {
	case abi.VerdictRefuse:
		return &hookAnswer{status: http.StatusForbidden, msg: f.Message, why: "response refused by " + res.Plugin}
	case abi.VerdictTempFail:
		why := "temporary failure in " + res.Plugin
		if res.Err != nil {
			why = res.Err.Error()
		}
		return &hookAnswer{status: http.StatusServiceUnavailable, msg: f.Message, why: why}
	}
	if d := f.Delay; d > 0 {
		f.Delay = 0
		t := time.NewTimer(d)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	return nil
}

// answerHook writes the client's answer for a refused or failed response
// chain; false when err is not one.
func (s *Server) answerHook(w http.ResponseWriter, st *reqState, err error) bool {
	var a *hookAnswer
	if !errors.As(err, &a) {
		return false
	}
	st.upStatus = 0 // the client gets the host's answer, not the upstream's
	s.fail(w, st, a.status, a.msg, a.why)
	return true
}
