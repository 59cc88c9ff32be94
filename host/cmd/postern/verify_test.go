package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/host/internal/guestbuild"
	"github.com/postern/postern/host/internal/testenv"
)

// TestCheck_masterLoginNeedsVerifier: `postern check` refuses a master-mode
// mail front end when no loaded plugin can verify passwords (every
// password login would be refused), and accepts it once route-lookup
// sends passwords to its lookup service (its init declares it vouches).
func TestCheck_masterLoginNeedsVerifier(t *testing.T) {
	lookup := guestbuild.Build(t, "plugins/route-lookup")
	tests := []struct {
		mode, send string
		wantCode   int
		wantStderr string
	}{
		{"master-separator", "false", exitFail, "no plugin verifies passwords"},
		{"master-authzid", "false", exitFail, "no plugin verifies passwords"},
		{"master-separator", "true", exitOK, ""},
		{"master-authzid", "true", exitOK, ""},
		{"user", "false", exitOK, ""},
	}
	for _, tc := range tests {
		t.Run(tc.mode+"/send_password="+tc.send, func(t *testing.T) {
			dir := t.TempDir()
			conf := fmt.Sprintf(`cache_dir: ""
plugins:
  chain:
    - name: route-lookup
      path: %s
      http_allow: ["127.0.0.1:9"]
      config: {servers: ["http://127.0.0.1:9/service/extension/nginx-lookup"], send_password: %s}
mail:
  upstream: {login: %s, master_user: m, master_password: p}
  listeners:
    - {name: imap, address: "127.0.0.1:%d", protocol: imap, tls: none, allow_plaintext_login: true}
`, lookup, tc.send, tc.mode, testenv.FreePort(t))
			path := filepath.Join(dir, "postern.yaml")
			if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runCmd("check", "-c", path)
			if code != tc.wantCode || (tc.wantStderr != "" && !strings.Contains(stderr, tc.wantStderr)) {
				t.Fatalf("check = %d\nstdout: %s\nstderr: %s\nwant %d with %q", code, stdout, stderr, tc.wantCode, tc.wantStderr)
			}
		})
	}
}

// TestCheck_oauthMasterNeedsVerifier: the same for OAuth logins: a master
// oauth_login without a plugin that vouches for tokens is refused;
// passthrough needs none, and the oauth plugin vouches.
func TestCheck_oauthMasterNeedsVerifier(t *testing.T) {
	oauth := guestbuild.Build(t, "plugins/oauth")
	for _, tc := range []struct {
		mode, chain string
		wantCode    int
		wantStderr  string
	}{
		{"master-separator", "", exitFail, "no plugin verifies tokens"},
		{"passthrough", "", exitOK, ""},
		{"master-authzid", fmt.Sprintf(`
    - name: oauth
      path: %s
      http_allow: ["127.0.0.1:9"]
      config: {jwks_url: "http://127.0.0.1:9/jwks", issuer: i, audience: a}`, oauth), exitOK, ""},
	} {
		t.Run(tc.mode, func(t *testing.T) {
			chain := "  chain: []"
			if tc.chain != "" {
				chain = "  chain:" + tc.chain
			}
			conf := fmt.Sprintf(`cache_dir: ""
plugins:
%s
mail:
  oauth: {mechanisms: [xoauth2]}
  upstream: {oauth_login: %s, master_user: m, master_password: p}
  listeners:
    - {name: imap, address: "127.0.0.1:%d", protocol: imap, tls: none, allow_plaintext_login: true}
`, chain, tc.mode, testenv.FreePort(t))
			path := filepath.Join(t.TempDir(), "postern.yaml")
			if err := os.WriteFile(path, []byte(conf), 0o600); err != nil {
				t.Fatal(err)
			}
			code, stdout, stderr := runCmd("check", "-c", path)
			if code != tc.wantCode || (tc.wantStderr != "" && !strings.Contains(stderr, tc.wantStderr)) {
				t.Fatalf("check = %d\nstdout: %s\nstderr: %s\nwant %d with %q", code, stdout, stderr, tc.wantCode, tc.wantStderr)
			}
		})
	}
}
