package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strings"
	"time"

	"github.com/postern/postern/plugins/internal/duration"
)

// Defaults, as nginx and Zimbra have them.
const (
	defaultTimeout     = 15 * time.Second // nginx auth_http_timeout, Zimbra zm_lookup_timeout
	defaultFailTimeout = 60 * time.Second // Zimbra zm_lookup_handler_retry_interval
)

// config is the plugin's configuration after validation.
type config struct {
	servers      []server
	timeout      time.Duration
	failTimeout  time.Duration
	sendPassword bool
	require200   bool
	// protocols maps "imap" and "imap+tls" (and so on) to the
	// Auth-Protocol value sent.
	protocols map[string]string
	// zimbraID looks up a web request without a user by the account id
	// in its auth token (Auth-Method: zimbraId), as Zimbra's proxy does.
	zimbraID bool
	// reuse is the decision reuse init declares (postern.ReuseDecisions):
	// for this long the host may reuse the lookup's answer for a web
	// request with the same credentials from the same client.
	reuse time.Duration
}

// server is one lookup URL.
type server struct {
	url string
	// downKey is the kv key that marks the server down for every instance
	// and node: "postern:lookup-down:<first 16 hex digits of sha256(url)>".
	downKey string
}

// rawConfig is the JSON the operator wrote (the host converts YAML).
type rawConfig struct {
	Servers       []string          `json:"servers"`
	Timeout       json.RawMessage   `json:"timeout"`
	FailTimeout   json.RawMessage   `json:"fail_timeout"`
	SendPassword  *bool             `json:"send_password"`
	Require200    *bool             `json:"require_200"`
	ProtocolNames map[string]string `json:"protocol_names"`
	ZimbraID      *bool             `json:"zimbra_id"`
	Reuse         json.RawMessage   `json:"reuse"`
}

// parseDuration reads "15s"-style text or a number of seconds.
func parseDuration(b json.RawMessage) (time.Duration, error) {
	return duration.Parse(b, "15s", "500ms")
}

var (
	protoKeyRE   = regexp.MustCompile(`^[a-z0-9]+(\+tls)?$`)
	protoValueRE = regexp.MustCompile(`^[A-Za-z0-9._-]{1,32}$`)
)

// defaultProtocols are the Auth-Protocol values Zimbra sends: the protocol,
// with "ssl" appended when the client used TLS.
func defaultProtocols() map[string]string {
	m := map[string]string{}
	for _, p := range []string{"imap", "pop3", "http", "smtp"} {
		m[p] = p
		m[p+"+tls"] = p + "ssl"
	}
	return m
}

// parseConfig decodes and checks the configuration. Errors name the key
// and say what to write instead.
func parseConfig(b []byte) (*config, error) {
	fail := func(format string, args ...any) error {
		return fmt.Errorf("route-lookup: config: "+format, args...)
	}
	var raw rawConfig
	if len(bytes.TrimSpace(b)) > 0 {
		dec := json.NewDecoder(bytes.NewReader(b))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&raw); err != nil {
			var te *json.UnmarshalTypeError
			if errors.As(err, &te) {
				return nil, fail("key %q: want %s, got a JSON %s", te.Field, te.Type, te.Value)
			}
			msg := err.Error()
			if k, ok := strings.CutPrefix(msg, "json: unknown field "); ok {
				return nil, fail("unknown key %s; the keys are servers, timeout, fail_timeout, send_password, protocol_names, require_200, zimbra_id, reuse", k)
			}
			return nil, fail("%s", strings.TrimPrefix(msg, "json: "))
		}
	}
	if len(raw.Servers) == 0 {
		return nil, fail(`missing key "servers": list the lookup URLs, e.g. ["http://127.0.0.1:7072/service/extension/nginx-lookup"]`)
	}
	c := &config{
		timeout:     defaultTimeout,
		failTimeout: defaultFailTimeout,
		require200:  true,
		protocols:   defaultProtocols(),
		reuse:       duration.DefaultReuse,
	}
	seen := map[string]bool{}
	for i, s := range raw.Servers {
		u, err := url.Parse(s)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			return nil, fail("servers[%d] %q: want an absolute http:// or https:// URL", i, s)
		}
		if u.User != nil || u.Fragment != "" {
			return nil, fail("servers[%d] %q: remove the user info and fragment", i, s)
		}
		if seen[s] {
			return nil, fail("servers[%d] %q: listed twice", i, s)
		}
		seen[s] = true
		c.servers = append(c.servers, server{url: s, downKey: downKey(s)})
	}
	var err error
	if raw.Timeout != nil {
		if c.timeout, err = parseDuration(raw.Timeout); err != nil {
			return nil, fail("timeout: %v", err)
		}
		if c.timeout < time.Millisecond {
			return nil, fail("timeout %v: want at least 1ms", c.timeout)
		}
	}
	if raw.FailTimeout != nil {
		if c.failTimeout, err = parseDuration(raw.FailTimeout); err != nil {
			return nil, fail("fail_timeout: %v", err)
		}
		if c.failTimeout < 0 {
			return nil, fail("fail_timeout %v: want 0 (never skip a failed server) or more", c.failTimeout)
		}
	}
	if c.reuse, err = duration.ParseReuse(raw.Reuse, "15s", "500ms", duration.WantRange); err != nil {
		return nil, fail("%v", err)
	}
	if raw.SendPassword != nil {
		c.sendPassword = *raw.SendPassword
	}
	if raw.Require200 != nil {
		c.require200 = *raw.Require200
	}
	if raw.ZimbraID != nil {
		c.zimbraID = *raw.ZimbraID
	}
	for k, v := range raw.ProtocolNames {
		if !protoKeyRE.MatchString(k) {
			return nil, fail("protocol_names key %q: want a protocol, optionally with +tls (imap, imap+tls)", k)
		}
		if !protoValueRE.MatchString(v) {
			return nil, fail("protocol_names[%q] = %q: want 1-32 of [A-Za-z0-9._-]", k, v)
		}
		c.protocols[k] = v
	}
	return c, nil
}
