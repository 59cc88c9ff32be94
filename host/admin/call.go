package admin

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugincall"
)

// POST /call limits.
const (
	// maxCallBytes bounds a POST /call body.
	maxCallBytes = 64 << 10
	// maxCallFields bounds the fields of one call.
	maxCallFields = 256
	// DefaultCallTimeout and MaxCallTimeout bound one POST /call chain.
	DefaultCallTimeout = 10 * time.Second
	MaxCallTimeout     = time.Minute
)

// CallRequest is the body of POST /call: one hook chain to run on the
// live plugins, with fields as `postern call -field` takes them.
type CallRequest struct {
	// Hook is login, throttle, route, rewrite or response.
	Hook string `json:"hook"`
	// Fields are name=value, header:Name=value or imap_id:key=value.
	Fields []string `json:"fields"`
	// TimeoutMS bounds the chain (default 10 s, at most 60 s).
	TimeoutMS int64 `json:"timeout_ms,omitempty"`
}

// CallResponse is POST /call's answer.
type CallResponse struct {
	Hook    string `json:"hook"`
	Verdict string `json:"verdict"`
	// Plugin decided or failed; "" when none did.
	Plugin string `json:"plugin"`
	// Error is the failure that closed the hook; "" when none.
	Error string `json:"error,omitempty"`
	// Lines are what `postern call` prints: the result line, then every
	// non-empty field after the call (secrets as <set>).
	Lines []string `json:"lines"`
}

// ParseCallRequest reads and checks a POST /call body. Its errors never
// quote a field's value, which may be a password.
func ParseCallRequest(body []byte) (abi.Hook, *plugin.Fields, time.Duration, error) {
	var req CallRequest
	dec := json.NewDecoder(strings.NewReader(string(body)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&req); err != nil {
		return 0, nil, 0, fmt.Errorf("the body is not a call request (%s): send JSON {\"hook\": \"route\", \"fields\": [\"login=bob\"]}", jsonProblem(err))
	}
	if dec.More() {
		return 0, nil, 0, errors.New("text after the JSON object: send one object")
	}
	hook, err := plugin.ParseHook(req.Hook)
	if err != nil {
		return 0, nil, 0, err
	}
	if len(req.Fields) > maxCallFields {
		return 0, nil, 0, fmt.Errorf("%d fields: at most %d", len(req.Fields), maxCallFields)
	}
	timeout := DefaultCallTimeout
	if req.TimeoutMS < 0 || req.TimeoutMS > MaxCallTimeout.Milliseconds() {
		return 0, nil, 0, fmt.Errorf("timeout_ms %d: want 1 to %d (0: the default, %v)", req.TimeoutMS, MaxCallTimeout.Milliseconds(), DefaultCallTimeout)
	} else if req.TimeoutMS > 0 {
		timeout = time.Duration(req.TimeoutMS) * time.Millisecond
	}
	f, err := plugincall.ParseFields(req.Fields)
	if err != nil {
		return 0, nil, 0, err
	}
	return hook, f, timeout, nil
}

// jsonProblem describes a JSON decoding error without quoting the input.
func jsonProblem(err error) string {
	var syn *json.SyntaxError
	var typ *json.UnmarshalTypeError
	switch {
	case errors.As(err, &syn):
		return fmt.Sprintf("syntax error at byte %d", syn.Offset)
	case errors.As(err, &typ):
		return fmt.Sprintf("%s must be %s", typ.Field, typ.Type)
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "it ends early"
	case strings.HasPrefix(err.Error(), "json: unknown field "):
		return strings.TrimPrefix(err.Error(), "json: ") + "; the keys are hook, fields and timeout_ms"
	}
	return "not JSON"
}

// call runs one hook chain on the live plugins: no login, no upstream
// connection, no event. It logs who asked and the outcome, never the
// fields (a password may be among them).
func (s *Server) call(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCallBytes))
	if err != nil {
		httpError(w, http.StatusRequestEntityTooLarge, "admin: call: the body is over 64 KiB")
		return
	}
	hook, f, timeout, err := ParseCallRequest(body)
	if err != nil {
		httpError(w, http.StatusBadRequest, "admin: call: "+oneLine(err.Error()))
		return
	}
	h := s.sources().Plugins
	if h == nil {
		httpError(w, http.StatusServiceUnavailable, "admin: call: plugins not loaded yet; try again in a moment")
		return
	}
	ctx, cancel := context.WithTimeout(r.Context(), timeout)
	defer cancel()
	o := plugincall.Run(ctx, h, hook, f)
	s.log.Info("admin: live call", "remote", r.RemoteAddr, "hook", hook.String(), "verdict", o.Verdict,
		"plugin", o.Plugin, "failed", o.Err != "")
	writeJSON(w, http.StatusOK, CallResponse{Hook: hook.String(), Verdict: o.Verdict, Plugin: o.Plugin, Error: o.Err, Lines: o.Lines})
}

func oneLine(s string) string { return strings.ReplaceAll(s, "\n", "; ") }
