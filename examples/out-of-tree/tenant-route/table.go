package main

import (
	"encoding/json"
	"fmt"
	"net"
	"strings"
)

// Table maps a domain (lower case) to its tenant's upstreams.
type Table map[string][]string

// ParseConfig parses and checks the configuration: every domain has at
// least one "host:port" upstream.
func ParseConfig(b []byte) (Table, error) {
	var c struct {
		Tenants map[string][]string `json:"tenants"`
	}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return nil, fmt.Errorf("tenant-route: config: %v", err)
	}
	t := Table{}
	for d, ups := range c.Tenants {
		if d == "" || len(ups) == 0 {
			return nil, fmt.Errorf("tenant-route: tenant %q needs a domain and at least one upstream", d)
		}
		for _, u := range ups {
			if _, port, err := net.SplitHostPort(u); err != nil || port == "" {
				return nil, fmt.Errorf("tenant-route: tenant %q: upstream %q is not host:port", d, u)
			}
		}
		t[strings.ToLower(d)] = ups
	}
	return t, nil
}

// Lookup returns the upstreams of the account's domain, or nil.
func (t Table) Lookup(account string) []string {
	i := strings.LastIndexByte(account, '@')
	if i < 0 {
		return nil
	}
	return t[strings.ToLower(account[i+1:])]
}
