package main

import (
	"net/http"
	"os"
	"strings"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
)

func load(t testing.TB) *plugintest.Plugin {
	t.Helper()
	b, err := os.ReadFile("testdata/rules.json")
	if err != nil {
		t.Fatal(err)
	}
	return plugintest.Load(t, plugintest.Build(t, "plugins/url-rewrite"), plugintest.Config(string(b)))
}

func webFields(host, path, query string) *plugin.Fields {
	f := plugintest.MailFields("http", "")
	f.HTTP = &plugin.HTTPFields{Method: "GET", Host: host, Path: path, Query: query,
		Header: http.Header{"X-Debug": {"1"}, "Accept": {"*/*"}}}
	return f
}

// TestWasm runs the built plugin with testdata/rules.json in the real host.
func TestWasm(t *testing.T) {
	p := load(t)
	if info := p.Info(); strings.Join(info.Hooks, ",") != "rewrite,response" {
		t.Errorf("hooks = %v, want rewrite and response", info.Hooks)
	}

	f := webFields("mail.example.com", "/zimbra/service/home/~/inbox", "client=standard&fmt=json")
	if r := p.Run(abi.HookRewrite, f); r.Verdict != abi.VerdictContinue || r.Err != nil {
		t.Fatalf("rewrite: %+v", r)
	}
	h := f.HTTP
	if h.Path != "/service/home/~/inbox" || h.Query != "client=advanced&fmt=json" || h.Host != "mailbox.internal:8080" ||
		h.Header.Get("X-Original-Path") != "/zimbra/service/home/~/inbox" || h.Header.Get("X-Debug") != "" || h.Header.Get("Accept") != "*/*" {
		t.Errorf("rewritten request = %+v", h)
	}

	f = webFields("old.example.com", "/home/bob", "")
	if r := p.Run(abi.HookRewrite, f); r.Verdict != abi.VerdictDone {
		t.Fatalf("redirect: %+v", r)
	}
	if f.HTTP.RedirectCode != 301 || f.HTTP.RedirectURL != "https://new.example.com/home/bob" {
		t.Errorf("redirect = %d %q", f.HTTP.RedirectCode, f.HTTP.RedirectURL)
	}
	c := p.Host.Plugin("test").Counters()
	if c["rule_0_hits"] != 1 || c["rule_1_hits"] != 1 || c["rule_2_hits"] != 1 || c["redirects"] != 1 {
		t.Errorf("counters = %v", c)
	}
}

// TestWasm_badRule: the real host refuses the load with the rule's index.
func TestWasm_badRule(t *testing.T) {
	_, err := plugintest.TryLoad(t, plugintest.Build(t, "plugins/url-rewrite"),
		plugintest.Config(`{"rules":[{"path":"^/","rewrite":{"path":"/"}},{"path":"a)","rewrite":{"path":"/"}}]}`))
	if err == nil || !strings.Contains(err.Error(), "url-rewrite: config: rules[1].path: error parsing regexp: unexpected ): `a)`") {
		t.Errorf("load error = %v", err)
	}
}

// BenchmarkWasm_Hook measures one rewrite hook call through plugin.Host:
// the request matches rule 1 (named capture, query parameter, two header
// changes) and rule 2 (host).
func BenchmarkWasm_Hook(b *testing.B) {
	p := load(b)
	b.ReportAllocs()
	for b.Loop() {
		f := webFields("mail.example.com", "/zimbra/service/home/~/inbox", "fmt=json")
		if r := p.Run(abi.HookRewrite, f); r.Verdict != abi.VerdictContinue {
			b.Fatal(r)
		}
	}
}
