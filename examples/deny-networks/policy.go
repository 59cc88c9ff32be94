package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"sort"
	"strings"
)

// Policy is a parsed configuration: which client addresses to refuse.
type Policy struct {
	allow   []netip.Prefix
	deny    []rule // listed networks first, then countries, each most specific first
	message string
}

type rule struct {
	prefix  netip.Prefix
	message string
}

type config struct {
	Networks  []string            `json:"networks"`
	Countries map[string][]string `json:"countries"` // country code -> CIDR blocks
	Deny      []string            `json:"deny_countries"`
	Allow     []string            `json:"allow"`
	Message   string              `json:"message"`
	Messages  map[string]string   `json:"country_messages"`
}

// ParseConfig parses and checks the plugin's configuration.
func ParseConfig(b []byte) (*Policy, error) {
	var c config
	if len(b) > 0 {
		dec := json.NewDecoder(strings.NewReader(string(b)))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&c); err != nil {
			return nil, fmt.Errorf("deny-networks: config: %v", err)
		}
	}
	p := &Policy{message: c.Message}
	if p.message == "" {
		p.message = "logins from your network are not allowed"
	}
	if strings.ContainsAny(p.message, "\r\n") {
		return nil, errors.New("deny-networks: config.message must be one line")
	}
	var err error
	if p.allow, err = prefixes("allow", c.Allow); err != nil {
		return nil, err
	}
	nets, err := prefixes("networks", c.Networks)
	if err != nil {
		return nil, err
	}
	for _, n := range nets {
		p.deny = append(p.deny, rule{n, p.message})
	}
	for _, cc := range c.Deny {
		blocks, ok := c.Countries[cc]
		if !ok {
			return nil, fmt.Errorf("deny-networks: config.deny_countries: %q has no entry in config.countries; add its CIDR blocks", cc)
		}
		list, err := prefixes("countries."+cc, blocks)
		if err != nil {
			return nil, err
		}
		msg := p.message
		if m, ok := c.Messages[cc]; ok {
			if strings.ContainsAny(m, "\r\n") {
				return nil, fmt.Errorf("deny-networks: config.country_messages.%s must be one line", cc)
			}
			msg = m
		}
		for _, n := range list {
			p.deny = append(p.deny, rule{n, msg})
		}
	}
	if len(p.deny) == 0 {
		return nil, errors.New("deny-networks: nothing to deny: set config.networks or config.deny_countries")
	}
	// A narrower block's message wins over a wider one's.
	sort.SliceStable(p.deny, func(i, j int) bool { return p.deny[i].prefix.Bits() > p.deny[j].prefix.Bits() })
	return p, nil
}

func prefixes(key string, list []string) ([]netip.Prefix, error) {
	out := make([]netip.Prefix, 0, len(list))
	for _, s := range list {
		p, err := netip.ParsePrefix(s)
		if err != nil {
			a, aerr := netip.ParseAddr(s) // a single address
			if aerr != nil {
				return nil, fmt.Errorf("deny-networks: config.%s: %q is not a CIDR block or address", key, s)
			}
			p = netip.PrefixFrom(a, a.BitLen())
		}
		out = append(out, p.Masked())
	}
	return out, nil
}

// Check returns the refusal message and true when ip must be refused.
// An address that cannot be read (the field was empty) is not refused:
// the plugin has no opinion about it.
func (p *Policy) Check(ip netip.Addr) (string, bool) {
	if !ip.IsValid() {
		return "", false
	}
	ip = ip.Unmap()
	for _, a := range p.allow {
		if a.Contains(ip) {
			return "", false
		}
	}
	for _, r := range p.deny {
		if r.prefix.Contains(ip) {
			return r.message, true
		}
	}
	return "", false
}
