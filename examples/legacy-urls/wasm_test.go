package main

import (
	"os"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/conformance"
	"github.com/postern/postern/conformance/posterntarget"
	"github.com/postern/postern/host/plugin"
	"github.com/postern/postern/host/plugintest"
)

func TestWasm(t *testing.T) {
	p := plugintest.Load(t, plugintest.Build(t, "examples/legacy-urls"), plugintest.Config(testConfig))
	f := plugintest.MailFields("http", "")
	f.HTTP = &plugin.HTTPFields{Method: "GET", Host: "webmail.old.example", Path: "/zimbra/h/search", Query: "q=x"}
	if r := p.Run(abi.HookRewrite, f); r.Verdict != abi.VerdictDone || f.HTTP.RedirectCode != 301 ||
		f.HTTP.RedirectURL != "https://mail.example.com/h/search?q=x" {
		t.Errorf("verdict %v redirect %d %q", r.Verdict, f.HTTP.RedirectCode, f.HTTP.RedirectURL)
	}
	f.HTTP = &plugin.HTTPFields{Method: "GET", Host: "mail.example.com", Path: "/service/home/bob/inbox"}
	if r := p.Run(abi.HookRewrite, f); r.Verdict != abi.VerdictContinue || f.HTTP.Path != "/home/bob/inbox" || f.HTTP.RedirectCode != 0 {
		t.Errorf("verdict %v path %q redirect %d", r.Verdict, f.HTTP.Path, f.HTTP.RedirectCode)
	}
}

func TestWasm_conformance(t *testing.T) {
	wasm, err := os.ReadFile(plugintest.Build(t, "examples/legacy-urls"))
	if err != nil {
		t.Fatal(err)
	}
	conformance.CheckPlugin(t, posterntarget.New(t), conformance.Spec{Wasm: wasm, Config: []byte(testConfig)})
}
