package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
)

// Table maps tenants' domains to their upstreams per protocol.
type Table struct {
	// Tenants: domain (lower case) -> protocol -> "host:port" list.
	Tenants map[string]map[string][]string `json:"tenants"`
	// VHosts maps an HTTP host name to a tenant domain, for requests
	// without a login (the web client's login page).
	VHosts map[string]string `json:"vhosts"`
	// Unknown says what to do with a domain that is not in Tenants:
	// "continue" (the static route decides) or "refuse".
	Unknown string `json:"unknown"`
	// Message is the refusal text for an unknown domain.
	Message string `json:"message"`
}

// ParseConfig parses and checks the plugin's configuration.
func ParseConfig(b []byte) (*Table, error) {
	t := &Table{Unknown: "continue", Message: "unknown domain"}
	if len(b) == 0 {
		return nil, errors.New(`route-by-domain: no configuration; set config.tenants (see examples/route-by-domain/README.md)`)
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(t); err != nil {
		return nil, fmt.Errorf("route-by-domain: config: %v", err)
	}
	if t.Unknown != "continue" && t.Unknown != "refuse" {
		return nil, fmt.Errorf(`route-by-domain: config.unknown %q: want "continue" or "refuse"`, t.Unknown)
	}
	if strings.ContainsAny(t.Message, "\r\n") {
		return nil, errors.New("route-by-domain: config.message must be one line")
	}
	lower := map[string]map[string][]string{}
	for domain, protos := range t.Tenants {
		for proto, ups := range protos {
			if proto != "imap" && proto != "pop3" && proto != "http" {
				return nil, fmt.Errorf("route-by-domain: config.tenants[%q]: protocol %q: want imap, pop3 or http", domain, proto)
			}
			for _, u := range ups {
				if err := checkHostPort(u); err != nil {
					return nil, fmt.Errorf("route-by-domain: config.tenants[%q].%s: %v", domain, proto, err)
				}
			}
		}
		lower[strings.ToLower(domain)] = protos
	}
	t.Tenants = lower
	for vhost, domain := range t.VHosts {
		if _, ok := t.Tenants[strings.ToLower(domain)]; !ok {
			return nil, fmt.Errorf("route-by-domain: config.vhosts[%q]: tenant %q is not in config.tenants", vhost, domain)
		}
	}
	return t, nil
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil || host == "" {
		return fmt.Errorf("%q is not host:port", s)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 1 || n > 65535 {
		return fmt.Errorf("%q: port must be 1..65535", s)
	}
	return nil
}

// Route returns the upstreams for an account (user@domain) on protocol,
// falling back to the HTTP host's tenant when the account has no domain.
// It returns nil when the table has no opinion, and refuse when the
// domain is unknown and the table refuses those.
func (t *Table) Route(protocol, account, httpHost string) (ups []string, refuse bool) {
	domain := ""
	if i := strings.LastIndexByte(account, '@'); i >= 0 {
		domain = strings.ToLower(account[i+1:])
	} else if httpHost != "" {
		host := strings.ToLower(httpHost)
		if h, _, err := net.SplitHostPort(host); err == nil {
			host = h
		}
		domain = strings.ToLower(t.VHosts[host])
	}
	if domain == "" {
		return nil, false // no domain to go by: not ours to decide
	}
	protos, ok := t.Tenants[domain]
	if !ok {
		return nil, t.Unknown == "refuse"
	}
	return protos[protocol], false
}
