package main

import (
	"net/netip"
	"os"
	"testing"

	"github.com/postern/postern/abi"
	"github.com/postern/postern/conformance"
	"github.com/postern/postern/conformance/posterntarget"
	"github.com/postern/postern/host/plugintest"
)

func TestWasm(t *testing.T) {
	p := plugintest.Load(t, plugintest.Build(t, "examples/deny-networks"), plugintest.Config(testConfig))
	f := plugintest.MailFields("imap", "bob@example.com")
	f.Client = netip.MustParseAddrPort("[2001:db8:bad::7]:40000")
	if r := p.Run(abi.HookLogin, f); r.Verdict != abi.VerdictRefuse || f.Message != "logins from your network are not allowed; call the helpdesk" {
		t.Errorf("verdict %v message %q; want refuse with the configured message", r.Verdict, f.Message)
	}
	f = plugintest.MailFields("pop3", "bob@example.com") // from 192.0.2.7: country XB
	if r := p.Run(abi.HookLogin, f); r.Verdict != abi.VerdictRefuse {
		t.Errorf("XB address: verdict %v; want refuse", r.Verdict)
	}
}

func TestWasm_conformance(t *testing.T) {
	wasm, err := os.ReadFile(plugintest.Build(t, "examples/deny-networks"))
	if err != nil {
		t.Fatal(err)
	}
	conformance.CheckPlugin(t, posterntarget.New(t), conformance.Spec{Wasm: wasm, Config: []byte(testConfig)})
}
