package testenv

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// KDC is a running MIT Kerberos KDC for tests: its own realm, database,
// configuration and keytabs in a temporary directory, listening on one
// 127.0.0.1 port for both UDP and TCP. Nothing on the machine (/etc/krb5.conf,
// /etc/krb5kdc) is read or written: clients find it through [KDC.Env].
type KDC struct {
	Realm    string // KDCRealm
	Addr     string // "127.0.0.1:port", UDP and TCP
	Dir      string // database, configuration, logs, keytabs
	Krb5Conf string // a krb5.conf naming this KDC (KRB5_CONFIG)
	// ServiceHost is the host part of the mail service principals,
	// imap/<ServiceHost> and pop/<ServiceHost>.
	ServiceHost string
	// ServiceKeytab holds the keys of imap/ServiceHost and pop/ServiceHost,
	// as a proxy's keytab would.
	ServiceKeytab string
	// Users are the user principals (without realm) and their passwords.
	Users map[string]string

	srv    *server
	kdcCfg string // kdc.conf (KRB5_KDC_PROFILE)
	mu     sync.Mutex
}

// KDCRealm is the realm of every test KDC.
const KDCRealm = "TEST.REALM"

// KDCUsers are the user principals every test KDC knows, name -> password.
// "carol/admin" has an instance, which a mail login must not accept as is.
var KDCUsers = map[string]string{
	"bob":         "bob-kerberos-pw",
	"alice":       "alice-kerberos-pw",
	"carol/admin": "carol-admin-pw",
}

// KDCServices are the service principals of every test KDC besides the mail
// ones in ServiceKeytab; they are not in ServiceKeytab, so a ticket for
// them is one the proxy cannot read.
var KDCServices = []string{"HTTP/localhost", "imap/otherhost"}

var sharedKDC struct {
	once sync.Once
	k    *KDC
	err  error
}

// SharedKDC returns a KDC started once per test binary; call [Main] (or
// [Cleanup]) from TestMain to stop it. Tests must not change the
// principals it was created with; use [NewKDC] for that.
func SharedKDC(tb testing.TB) *KDC {
	tb.Helper()
	sharedKDC.once.Do(func() {
		sharedKDC.k, sharedKDC.err = startKDC()
	})
	handle(tb, sharedKDC.err)
	return sharedKDC.k
}

// NewKDC starts a KDC for one test, stopped when the test ends.
func NewKDC(tb testing.TB) *KDC {
	tb.Helper()
	k, err := startKDC()
	handle(tb, err)
	tb.Cleanup(k.Stop)
	return k
}

// Env returns the environment MIT tools and libraries need to use this KDC
// (KRB5_CONFIG, KRB5_KDC_PROFILE), on top of the current environment.
func (k *KDC) Env() []string {
	return append(os.Environ(), "KRB5_CONFIG="+k.Krb5Conf, "KRB5_KDC_PROFILE="+k.kdcCfg)
}

// Principal returns name qualified with the realm: "bob@TEST.REALM".
func (k *KDC) Principal(name string) string { return name + "@" + k.Realm }

// Kadmin runs one kadmin.local query ("addprinc -randkey x", "ktadd ...")
// against the database and returns its output.
func (k *KDC) Kadmin(tb testing.TB, query string) string {
	tb.Helper()
	out, err := k.kadmin(query)
	if err != nil {
		tb.Fatalf("testenv: %v", err)
	}
	return out
}

func (k *KDC) kadmin(query string) (string, error) {
	k.mu.Lock() // kadmin.local locks the database; serialise our own calls
	defer k.mu.Unlock()
	return run(k.Env(), "kadmin.local", "-r", k.Realm, "-q", query)
}

// Keytab writes the current keys of principals (without realm) to a new
// keytab file in the KDC's directory and returns its path. The keys are not
// changed, so earlier keytabs stay valid.
func (k *KDC) Keytab(tb testing.TB, principals ...string) string {
	tb.Helper()
	f, err := os.CreateTemp(k.Dir, "keytab-")
	if err != nil {
		tb.Fatal(err)
	}
	f.Close()
	os.Remove(f.Name()) // ktadd creates it
	k.Kadmin(tb, "ktadd -k "+f.Name()+" -norandkey "+strings.Join(principals, " "))
	return f.Name()
}

// Log returns the KDC's log so far.
func (k *KDC) Log() string {
	b, _ := os.ReadFile(filepath.Join(k.Dir, "kdc.log"))
	return string(b)
}

// Stop kills the KDC and removes its directory. Safe on nil and twice.
func (k *KDC) Stop() {
	if k == nil || k.srv == nil {
		return
	}
	k.srv.stop()
	os.RemoveAll(k.Dir)
}

func kdcBinaries() (map[string]string, error) {
	bins := map[string]string{}
	for _, name := range []string{"krb5kdc", "kdb5_util", "kadmin.local"} {
		p, err := exec.LookPath(name)
		if err != nil {
			p = "/usr/sbin/" + name
			if _, err := os.Stat(p); err != nil {
				return nil, fmt.Errorf("%s not found: install MIT Kerberos (apt-get install krb5-kdc krb5-admin-server krb5-user): %w", name, errMissing)
			}
		}
		bins[name] = p
	}
	return bins, nil
}

// run runs a command with env and returns its combined output.
func run(env []string, name string, args ...string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		p = "/usr/sbin/" + name
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, p, args...)
	cmd.Env = env
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return out.String(), fmt.Errorf("%s %s: %w: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out.Bytes()))
	}
	return out.String(), nil
}

func startKDC() (*KDC, error) {
	bins, err := kdcBinaries()
	if err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "postern-kdc-")
	if err != nil {
		return nil, err
	}
	k := &KDC{
		Realm: KDCRealm, Dir: dir, ServiceHost: "localhost", Users: KDCUsers,
		Krb5Conf: filepath.Join(dir, "krb5.conf"), kdcCfg: filepath.Join(dir, "kdc.conf"),
		ServiceKeytab: filepath.Join(dir, "mail.keytab"),
	}
	fail := func(err error) (*KDC, error) {
		if k.srv != nil {
			k.srv.stop()
		}
		os.RemoveAll(dir)
		return nil, fmt.Errorf("kdc: %w (log: %s)", err, tail(filepath.Join(dir, "kdc.log")))
	}
	// The database is created once; only the port changes between
	// attempts, and kdb5_util does not read it.
	if err := k.writeConfig(0); err != nil {
		return fail(err)
	}
	if _, err := run(k.Env(), bins["kdb5_util"], "create", "-s", "-r", k.Realm, "-P", "test-master-key"); err != nil {
		return fail(err)
	}
	var lastErr error
	for range bindAttempts {
		port, err := freePort()
		if err != nil {
			return fail(err)
		}
		if err := k.writeConfig(port); err != nil {
			return fail(err)
		}
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		srv, err := startEnv(bins["krb5kdc"], []string{"-n", "-r", k.Realm}, k.Env(), addr)
		if err != nil {
			lastErr = err
			continue
		}
		k.srv, k.Addr = srv, addr
		break
	}
	if k.srv == nil {
		return fail(lastErr)
	}
	var queries []string
	users := make([]string, 0, len(k.Users))
	for u := range k.Users {
		users = append(users, u)
	}
	sort.Strings(users)
	for _, u := range users {
		queries = append(queries, fmt.Sprintf("addprinc -pw %s %s", k.Users[u], u))
	}
	imap, pop := "imap/"+k.ServiceHost, "pop/"+k.ServiceHost
	for _, s := range append([]string{imap, pop}, KDCServices...) {
		queries = append(queries, "addprinc -randkey "+s)
	}
	queries = append(queries, fmt.Sprintf("ktadd -k %s %s %s", k.ServiceKeytab, imap, pop))
	for _, q := range queries {
		if _, err := k.kadmin(q); err != nil {
			return fail(err)
		}
	}
	return k, nil
}

// writeConfig writes krb5.conf (clients) and kdc.conf (the KDC) for port.
// AES only, no DNS, no reverse lookups, no replay cache file outside Dir.
func (k *KDC) writeConfig(port int) error {
	krb5 := fmt.Sprintf(`# written by host/internal/testenv for one test run
[libdefaults]
  default_realm = %[1]s
  dns_lookup_kdc = false
  dns_lookup_realm = false
  dns_canonicalize_hostname = false
  rdns = false
  udp_preference_limit = 1
  default_ccache_name = FILE:%[2]s/ccache
  default_tkt_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
  default_tgs_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
  permitted_enctypes = aes256-cts-hmac-sha1-96 aes128-cts-hmac-sha1-96
  forwardable = false
  noaddresses = true

[realms]
  %[1]s = {
    kdc = 127.0.0.1:%[3]d
  }

[domain_realm]
  localhost = %[1]s
  .localhost = %[1]s
`, k.Realm, k.Dir, port)
	kdc := fmt.Sprintf(`# written by host/internal/testenv for one test run
[kdcdefaults]
  kdc_ports = %[3]d
  kdc_tcp_ports = %[3]d

[realms]
  %[1]s = {
    database_name = %[2]s/principal
    key_stash_file = %[2]s/stash
    acl_file = %[2]s/kadm5.acl
    max_life = 10h
    max_renewable_life = 0
    supported_enctypes = aes256-cts-hmac-sha1-96:normal aes128-cts-hmac-sha1-96:normal
  }

[logging]
  kdc = FILE:%[2]s/kdc.log
  admin_server = FILE:%[2]s/kdc.log
  default = FILE:%[2]s/kdc.log
`, k.Realm, k.Dir, port)
	if err := os.WriteFile(k.Krb5Conf, []byte(krb5), 0o644); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(k.Dir, "kadm5.acl"), nil, 0o644); err != nil {
		return err
	}
	return os.WriteFile(k.kdcCfg, []byte(kdc), 0o644)
}

// startEnv is like start with an environment: it runs bin and waits until
// addr accepts TCP connections.
func startEnv(bin string, args, env []string, addr string) (*server, error) {
	var out bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &out, &out
	setPdeathsig(cmd)
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	srv := &server{addr: addr, cmd: cmd, exited: make(chan struct{})}
	go func() {
		_ = cmd.Wait()
		close(srv.exited)
	}()
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var d net.Dialer
	for {
		c, err := d.DialContext(ctx, "tcp", addr)
		if err == nil {
			c.Close()
			return srv, nil
		}
		select {
		case <-srv.exited:
			return nil, fmt.Errorf("%s %v: %w: %s", bin, args, errExited, bytes.TrimSpace(out.Bytes()))
		case <-ctx.Done():
			srv.stop()
			return nil, fmt.Errorf("%s %v: not accepting connections on %s after %v; output: %s",
				bin, args, addr, startTimeout, bytes.TrimSpace(out.Bytes()))
		case <-time.After(5 * time.Millisecond):
		}
	}
}
