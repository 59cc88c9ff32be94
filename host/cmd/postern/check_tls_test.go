package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestCheck_webTLSFiles: `postern check` reads the web pools' TLS files
// as the front end would, so a missing CA file fails the check instead of
// the start.
func TestCheck_webTLSFiles(t *testing.T) {
	dir := t.TempDir()
	conf := filepath.Join(dir, "postern.yaml")
	if err := os.WriteFile(conf, []byte(`cache_dir: ""
admin: {enabled: false}
web:
  listeners: [{name: http, address: "`+freeAddr(t)+`"}]
  pools: [{name: mailboxes, backends: ["127.0.0.1:8443"], tls: true, ca_file: zimbra-ca.pem}]
  pool: mailboxes
`), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr := runCmd("check", "-c", conf)
	want := "pools[0] (mailboxes).tls: ca_file: open " + filepath.Join(dir, "zimbra-ca.pem")
	if code != exitFail || !strings.Contains(stderr, want) {
		t.Errorf("exit %d, stderr %q; want %d and %q", code, stderr, exitFail, want)
	}
}
