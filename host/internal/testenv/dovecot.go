package testenv

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// Dovecot is a running Dovecot IMAP and POP3 server for tests: passwd-file
// users, a master user, plain and implicit-TLS listeners on 127.0.0.1, and
// 127.0.0.0/8 as login_trusted_networks so that IMAP ID x-originating-ip
// and POP3 XCLIENT from the proxy are honoured. OAUTHBEARER and XOAUTH2
// logins are checked by an oauth2 passdb against OAuth, an introspection
// endpoint in the test binary: tokens from IssueToken log in.
type Dovecot struct {
	IMAP, IMAPS, POP3, POP3S string // host:port of each listener
	Dir                      string // the server's directory (config, logs, mail)
	CertPEM                  []byte // the self-signed certificate of the TLS listeners
	Master, MasterPassword   string // master user: log in as "user*master" with this password
	Users                    map[string]string
	OAuth                    *Introspection // the oauth2 passdb's introspection endpoint

	srv *server
}

// DovecotUsers are the users every test Dovecot knows, login -> password.
var DovecotUsers = map[string]string{
	"bob@example.com":   "secret",
	"alice@example.com": "p\"ss w{rd}\\", // a password that needs literals or quoting
	"carol@example.com": "carol-pw",
}

// DovecotMaster is the master user of every test Dovecot.
const (
	DovecotMaster         = "proxy-master"
	DovecotMasterPassword = "master-secret"
)

var sharedDovecot struct {
	once sync.Once
	d    *Dovecot
	err  error
}

// SharedDovecot returns a Dovecot started once per test binary; call
// [Main] (or [Cleanup]) from TestMain to stop it. Tests must not depend on
// mailbox contents they did not create.
func SharedDovecot(tb testing.TB) *Dovecot {
	tb.Helper()
	sharedDovecot.once.Do(func() {
		dir, err := os.MkdirTemp("", "postern-dovecot-")
		if err != nil {
			sharedDovecot.err = err
			return
		}
		sharedDovecot.d, sharedDovecot.err = startDovecot(dir)
	})
	handle(tb, sharedDovecot.err)
	return sharedDovecot.d
}

// NewDovecot starts a Dovecot for one test, stopped when the test ends.
func NewDovecot(tb testing.TB) *Dovecot {
	tb.Helper()
	dir, err := os.MkdirTemp("", "postern-dovecot-")
	if err != nil {
		tb.Fatal(err)
	}
	d, err := startDovecot(dir)
	handle(tb, err)
	tb.Cleanup(func() { d.Stop() })
	return d
}

// Stop kills the server and removes its directory.
func (d *Dovecot) Stop() {
	if d == nil || d.srv == nil {
		return
	}
	// SIGTERM lets the master stop its login and mail processes; SIGKILL
	// would leave them to notice on their own.
	_ = d.srv.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-d.srv.exited:
	case <-time.After(3 * time.Second):
	}
	d.srv.stop()
	d.OAuth.stop()
	os.RemoveAll(d.Dir)
}

// Log returns the server's log so far, for assertions on what it saw.
func (d *Dovecot) Log() string {
	b, _ := os.ReadFile(filepath.Join(d.Dir, "dovecot.log"))
	return string(b)
}

func dovecotBinary() (string, error) {
	for _, p := range []string{"dovecot", "/usr/sbin/dovecot"} {
		if path, err := exec.LookPath(p); err == nil {
			return path, nil
		}
	}
	return "", fmt.Errorf("dovecot not found: install it (apt-get install dovecot-imapd dovecot-pop3d): %w", errMissing)
}

func startDovecot(dir string) (*Dovecot, error) {
	bin, err := dovecotBinary()
	if err != nil {
		return nil, err
	}
	// Dovecot refuses to run its login processes as root; as root, use
	// the unprivileged users the Debian package creates.
	internal, login, mailUser := "", "", ""
	if os.Geteuid() == 0 {
		for _, u := range []string{"dovecot", "dovenull"} {
			if _, err := user.Lookup(u); err != nil {
				return nil, fmt.Errorf("dovecot: system user %s missing (reinstall dovecot-core): %w", u, errMissing)
			}
		}
		internal, login, mailUser = "dovecot", "dovenull", "dovecot"
	} else {
		cur, err := user.Current()
		if err != nil {
			return nil, err
		}
		internal, login, mailUser = cur.Username, cur.Username, cur.Username
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := SelfSigned("localhost")
	if err != nil {
		return nil, err
	}
	intro, err := startIntrospection()
	if err != nil {
		return nil, err
	}
	d := &Dovecot{Dir: dir, CertPEM: certPEM, Master: DovecotMaster, MasterPassword: DovecotMasterPassword, Users: DovecotUsers, OAuth: intro}
	ok := false
	defer func() {
		if !ok {
			intro.stop()
		}
	}()
	var users strings.Builder
	names := make([]string, 0, len(DovecotUsers))
	for u := range DovecotUsers {
		names = append(names, u)
	}
	sort.Strings(names)
	for _, u := range names {
		fmt.Fprintf(&users, "%s:{PLAIN}%s\n", u, DovecotUsers[u])
	}
	files := map[string]string{
		"users":   users.String(),
		"masters": fmt.Sprintf("%s:{PLAIN}%s\n", DovecotMaster, DovecotMasterPassword),
		"tls.crt": string(certPEM),
		"tls.key": string(keyPEM),
		// Dovecot's introspection_mode post, as in doc.dovecot.org's
		// WSO2 example (REFERENCE.md "OAUTHBEARER / XOAUTH2").
		"oauth2.conf": "introspection_mode = post\nintrospection_url = " + intro.URL +
			"\nusername_attribute = username\nactive_attribute = active\nactive_value = true\n",
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
			return nil, err
		}
	}
	for _, sub := range []string{"mail", "home"} {
		p := filepath.Join(dir, sub)
		if err := os.MkdirAll(p, 0o755); err != nil {
			return nil, err
		}
		if os.Geteuid() == 0 {
			u, _ := user.Lookup(mailUser)
			uid, _ := strconv.Atoi(u.Uid)
			gid, _ := strconv.Atoi(u.Gid)
			if err := os.Chown(p, uid, gid); err != nil {
				return nil, err
			}
		}
	}
	var lastErr error
	for range bindAttempts {
		ports := make([]int, 4)
		for i := range ports {
			if ports[i], err = freePort(); err != nil {
				return nil, err
			}
		}
		conf := dovecotConf(dir, internal, login, mailUser, ports)
		if err := os.WriteFile(filepath.Join(dir, "dovecot.conf"), []byte(conf), 0o644); err != nil {
			return nil, err
		}
		addr := func(p int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(p)) }
		srv, err := start(bin, []string{"-F", "-c", filepath.Join(dir, "dovecot.conf")}, addr(ports[0]))
		if err != nil {
			lastErr = fmt.Errorf("%w (log: %s)", err, tail(filepath.Join(dir, "dovecot.log")))
			continue
		}
		d.IMAP, d.IMAPS, d.POP3, d.POP3S = addr(ports[0]), addr(ports[1]), addr(ports[2]), addr(ports[3])
		d.srv = srv
		if err := waitListening(d.IMAPS, d.POP3, d.POP3S); err != nil {
			srv.stop()
			lastErr = err
			continue
		}
		ok = true
		return d, nil
	}
	return nil, lastErr
}

func waitListening(addrs ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), startTimeout)
	defer cancel()
	var dl net.Dialer
	for _, a := range addrs {
		for {
			c, err := dl.DialContext(ctx, "tcp", a)
			if err == nil {
				c.Close()
				break
			}
			if ctx.Err() != nil {
				return fmt.Errorf("dovecot: %s not listening: %w", a, err)
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
	return nil
}

func tail(path string) string {
	b, _ := os.ReadFile(path)
	if len(b) > 2000 {
		b = b[len(b)-2000:]
	}
	return strings.TrimSpace(string(b))
}

func dovecotConf(dir, internal, login, mailUser string, ports []int) string {
	return fmt.Sprintf(`# written by host/internal/testenv for one test run
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
info_log_path = %[1]s/dovecot.log
protocols = imap pop3
listen = 127.0.0.1
ssl = yes
ssl_cert = <%[1]s/tls.crt
ssl_key = <%[1]s/tls.key
ssl_min_protocol = TLSv1.2
disable_plaintext_auth = no
auth_mechanisms = plain login oauthbearer xoauth2
# Tests log in with wrong passwords on purpose: no 2 s delay per failure.
auth_failure_delay = 0
auth_master_user_separator = *
login_trusted_networks = 127.0.0.0/8
imap_id_retain = yes
mail_location = maildir:%[1]s/mail/%%u
mail_uid = %[4]s
mail_gid = %[4]s
first_valid_uid = 0
default_internal_user = %[2]s
default_internal_group = %[2]s
default_login_user = %[3]s
default_process_limit = 200
default_client_limit = 4000
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/masters
  master = yes
  pass = yes
}
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/users
  mechanisms = plain login
}
passdb {
  driver = oauth2
  mechanisms = oauthbearer xoauth2
  args = %[1]s/oauth2.conf
}
userdb {
  driver = static
  args = uid=%[4]s gid=%[4]s home=%[1]s/home/%%u
}
service imap-login {
  chroot =
  inet_listener imap {
    address = 127.0.0.1
    port = %[5]d
  }
  inet_listener imaps {
    address = 127.0.0.1
    port = %[6]d
    ssl = yes
  }
}
service pop3-login {
  chroot =
  inet_listener pop3 {
    address = 127.0.0.1
    port = %[7]d
  }
  inet_listener pop3s {
    address = 127.0.0.1
    port = %[8]d
    ssl = yes
  }
}
service anvil {
  chroot =
  # no growing delay per IP after failed logins: tests fail logins on purpose
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`, dir, internal, login, mailUser, ports[0], ports[1], ports[2], ports[3])
}

// SelfSigned returns a PEM certificate and key for host, valid for a day.
func SelfSigned(host string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: host},
		DNSNames:     []string{host},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
}
