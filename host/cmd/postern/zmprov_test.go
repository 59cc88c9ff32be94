package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/postern/postern/host/config"
)

// zmprovConfig is a deployment with two lookup servers (one repeated in a
// second plugin, one without a port), mail routes, two web pools sharing
// a backend, and two memcached servers.
const zmprovConfig = `
cache_dir: ""
store:
  memcached: ["10.0.0.20:11211", "mc2.example.com:11211", "/run/memcached/mc.sock"]
plugins:
  chain:
    - name: route-cache
      path: route-cache.wasm
      config: {ttl: 1h}
    - name: route-lookup
      path: route-lookup.wasm
      config:
        servers:
          - http://mbox1.example.com:7072/service/extension/nginx-lookup
          - https://mbox2.example.com/service/extension/nginx-lookup?v=1
    - name: second-lookup
      path: second.wasm
      config:
        servers: ["http://mbox1.example.com:7072/service/extension/nginx-lookup", "http://[2001:db8::1]/lookup"]
    - name: list-config
      path: list.wasm
      config: [1, 2]
tls:
  certs: [{cert: mail.crt, key: mail.key}]
mail:
  listeners:
    - {name: imap, address: ":143", protocol: imap, route: ["10.0.0.5:143", "10.0.0.6:143"]}
    - {name: imaps, address: ":993", protocol: imap, tls: implicit, route: ["10.0.0.5:143"]}
    - {name: pop3, address: ":110", protocol: pop3, route: ["10.0.0.5:110"]}
web:
  listeners: [{name: http, address: ":80"}]
  pool: mailboxes
  pools:
    - name: mailboxes
      backends: ["10.0.0.5:8080", {address: "10.0.0.6:8080", weight: 2}]
    - name: users
      backends: ["10.0.0.6:8080", "[2001:db8::5]:8080"]
`

// emptyConfig has no lookup plugin, no backend and no memcached.
const emptyConfig = "cache_dir: \"\"\n"

func writeZmprovConfig(t *testing.T, body string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "postern.yaml")
	if err := os.WriteFile(path, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestZmprov_Output checks each command's output byte for byte against
// Zimbra's format, under every name it answers to.
func TestZmprov_Output(t *testing.T) {
	full := writeZmprovConfig(t, zmprovConfig)
	empty := writeZmprovConfig(t, emptyConfig)
	const (
		garpu = "mbox1.example.com:7072/service/extension/nginx-lookup " +
			"mbox2.example.com:443/service/extension/nginx-lookup?v=1 " +
			"[2001:db8::1]:80/lookup \n"
		garpb = "    server 10.0.0.5:143;\n" +
			"    server 10.0.0.6:143;\n" +
			"    server 10.0.0.5:110;\n" +
			"    server 10.0.0.5:8080;\n" +
			"    server 10.0.0.6:8080;\n" +
			"    server [2001:db8::5]:8080;\n"
		gamau = "http://10.0.0.5:8080/service/soap/ http://10.0.0.6:8080/service/soap/ " +
			"http://[2001:db8::5]:8080/service/soap/ \n"
		gamcs = "10.0.0.20:11211 mc2.example.com:11211 /run/memcached/mc.sock \n"
	)
	tests := []struct {
		name       string
		args       []string
		wantStdout string
		wantStderr string // substring; "" means stderr must be empty
	}{
		{"garpu", []string{"garpu", "-c", full}, garpu, ""},
		{"getAllReverseProxyURLs", []string{"getAllReverseProxyURLs", "-c", full}, garpu, ""},
		{"zmprov garpu", []string{"zmprov", "-c", full, "garpu"}, garpu, ""},
		{"zmprov -l GARPU -c after", []string{"zmprov", "-l", "GARPU", "-c", full}, garpu, ""},
		{"garpb", []string{"garpb", "-c", full}, garpb, ""},
		{"getAllReverseProxyBackends", []string{"getAllReverseProxyBackends", "-c", full}, garpb, ""},
		{"zmprov getallreverseproxybackends", []string{"zmprov", "-c", full, "getallreverseproxybackends"}, garpb, ""},
		{"gamau", []string{"gamau", "-c", full}, gamau, ""},
		{"getAllMtaAuthURLs", []string{"getAllMtaAuthURLs", "-c", full}, gamau, ""},
		{"gamcs", []string{"gamcs", "-c", full}, gamcs, ""},
		{"getAllMemcachedServers", []string{"getAllMemcachedServers", "-c", full}, gamcs, ""},
		{"zmprov gamcs", []string{"zmprov", "gamcs", "-c", full}, gamcs, ""},

		// Nothing configured: Zimbra's empty line, and no made-up backend.
		{"garpu empty", []string{"garpu", "-c", empty}, "\n", ""},
		{"garpb empty", []string{"garpb", "-c", empty}, "", "no backend configured"},
		{"gamau empty", []string{"gamau", "-c", empty}, "\n", ""},
		{"gamcs empty", []string{"gamcs", "-c", empty}, "\n", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(tc.args...)
			if code != exitOK {
				t.Fatalf("exit %d, stderr:\n%s", code, stderr)
			}
			if stdout != tc.wantStdout {
				t.Errorf("stdout\n got %q\nwant %q", stdout, tc.wantStdout)
			}
			if tc.wantStderr == "" && stderr != "" {
				t.Errorf("stderr not empty: %q", stderr)
			}
			if !strings.Contains(stderr, tc.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.wantStderr)
			}
		})
	}
}

// TestZmprov_Errors checks usage errors and configuration errors: the
// exit status, nothing on stdout, and a message that says what to do.
func TestZmprov_Errors(t *testing.T) {
	full := writeZmprovConfig(t, zmprovConfig)
	badServers := writeZmprovConfig(t, `
cache_dir: ""
plugins:
  chain:
    - {name: route-lookup, path: x.wasm, config: {servers: ["mbox1:7072/service/extension/nginx-lookup"]}}
`)
	notList := writeZmprovConfig(t, `
cache_dir: ""
plugins:
  chain:
    - {name: route-lookup, path: x.wasm, config: {servers: "http://mbox1:7072/"}}
`)
	tests := []struct {
		name       string
		args       []string
		wantCode   int
		wantStderr string
	}{
		{"zmprov without command", []string{"zmprov", "-c", full}, exitUsage, "name a command"},
		{"zmprov unknown command", []string{"zmprov", "gaa"}, exitUsage, `unknown command "gaa"`},
		{"unknown command lists ours", []string{"zmprov", "gaa"}, exitUsage, "getAllMemcachedServers(gamcs)"},
		{"extra argument", []string{"garpb", "-c", full, "mbox1"}, exitUsage, `unexpected argument "mbox1"`},
		{"unknown flag", []string{"gamcs", "-x"}, exitUsage, "flag provided but not defined: -x"},
		{"missing file", []string{"gamcs", "-c", filepath.Join(t.TempDir(), "nope.yaml")}, exitFail, "pass the configuration file with -c"},
		{"server without scheme", []string{"garpu", "-c", badServers}, exitFail, `config.servers[0] "mbox1:7072/service/extension/nginx-lookup": want an http:// or https:// URL`},
		{"servers not a list", []string{"garpu", "-c", notList}, exitFail, "config.servers is not a list of URLs"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			code, stdout, stderr := runCmd(tc.args...)
			if code != tc.wantCode {
				t.Errorf("exit %d, want %d; stderr:\n%s", code, tc.wantCode, stderr)
			}
			if stdout != "" {
				t.Errorf("stdout not empty: %q", stdout)
			}
			if !strings.Contains(stderr, tc.wantStderr) {
				t.Errorf("stderr %q does not contain %q", stderr, tc.wantStderr)
			}
		})
	}
}

// TestZmprov_Usage checks that `postern help` names every command by
// both its names, so an operator finds them.
func TestZmprov_Usage(t *testing.T) {
	_, stdout, _ := runCmd("help")
	for _, c := range zmprovCommands {
		if !strings.Contains(stdout, c.long+" ("+c.short+")") {
			t.Errorf("postern help does not list %s (%s)", c.long, c.short)
		}
	}
	if !strings.Contains(stdout, "zmprov [-c FILE] COMMAND") {
		t.Error("postern help does not list the zmprov form")
	}
}

func TestSoapURLs_tlsPool(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "postern.yaml")
	if err := os.WriteFile(f, []byte(`
web:
  listeners: [{name: http, address: ":80"}]
  pools:
    - {name: app, backends: ["10.0.0.5:8080"]}
    - {name: mailboxes, backends: ["10.0.1.1:8443", "10.0.0.5:8080"], tls: true}
  pool: app
`), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg, err := config.Load(f)
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Join(soapURLs(cfg), " ")
	want := "http://10.0.0.5:8080/service/soap/ https://10.0.1.1:8443/service/soap/ https://10.0.0.5:8080/service/soap/"
	if got != want {
		t.Errorf("soapURLs = %s\nwant %s", got, want)
	}
}
