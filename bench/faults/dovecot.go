package main

// A real Dovecot per backend, started as host/internal/testenv starts the
// tests' Dovecot (dovecotConf there): an unprivileged configuration in its
// own directory, passwd-file users, listeners on 127.0.0.1 high ports,
// 127.0.0.0/8 trusted so that Postern's ID x-originating-ip is honoured.
// testenv is internal to host/ and takes a testing.TB, so its writer cannot
// be imported from here; this one follows it and differs where the fault
// test needs it:
//
//   - each backend knows only its own users (uN@example.com, password
//     "secret"), so a login routed to the wrong backend is refused;
//   - imap_id_send adds "x-backend" "<name>", so every login can check which
//     backend served it (mailload -id-field x-backend);
//   - IMAP only, no TLS; login processes in Dovecot's high-performance mode
//     (service_count = 0) so that a busy two-core machine keeps up.

import (
	"fmt"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
)

type dovecot struct {
	name string // "a", "b": the x-backend ID value
	dir  string
	imap int
	proc *child
}

// users returns the logins backend idx of n holds: uK@example.com for
// every K with K mod n == idx.
func backendUsers(idx, backends, users int) []string {
	var out []string
	for k := idx; k < users; k += backends {
		out = append(out, fmt.Sprintf("u%d@example.com", k))
	}
	return out
}

func startDovecot(dir, name string, logins []string) (*dovecot, error) {
	bin, err := exec.LookPath("dovecot")
	if err != nil {
		if bin, err = exec.LookPath("/usr/sbin/dovecot"); err != nil {
			return nil, fmt.Errorf("dovecot not found: apt-get install dovecot-imapd")
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		return nil, err
	}
	// Dovecot refuses to run its login processes as root; as root, use the
	// unprivileged users the Debian package creates (as testenv does).
	internal, login, mailUser := "", "", ""
	if os.Geteuid() == 0 {
		for _, u := range []string{"dovecot", "dovenull"} {
			if _, err := user.Lookup(u); err != nil {
				return nil, fmt.Errorf("dovecot: system user %s missing (reinstall dovecot-core)", u)
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
	var users strings.Builder
	for _, u := range logins {
		fmt.Fprintf(&users, "%s:{PLAIN}secret\n", u)
	}
	if err := os.WriteFile(filepath.Join(dir, "users"), []byte(users.String()), 0o644); err != nil {
		return nil, err
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
	for range 3 {
		port, err := freePort()
		if err != nil {
			return nil, err
		}
		conf := dovecotConf(dir, name, internal, login, mailUser, port)
		cf := filepath.Join(dir, "dovecot.conf")
		if err := os.WriteFile(cf, []byte(conf), 0o644); err != nil {
			return nil, err
		}
		logPath := filepath.Join(dir, "dovecot.log")
		c, err := spawn("dovecot-"+name, filepath.Join(dir, "stdout.log"), nil, bin, "-F", "-c", cf)
		if err != nil {
			return nil, err
		}
		if err := waitPort(c, port, logPath); err != nil {
			c.stop()
			lastErr = err
			continue
		}
		return &dovecot{name: name, dir: dir, imap: port, proc: c}, nil
	}
	return nil, lastErr
}

func dovecotConf(dir, name, internal, login, mailUser string, port int) string {
	return fmt.Sprintf(`# written by bench/faults (after host/internal/testenv's dovecotConf): backend %[6]s
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = %[1]s/dovecot.log
info_log_path = %[1]s/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
auth_failure_delay = 0
auth_default_realm = example.com
auth_master_user_separator = *
login_trusted_networks = 127.0.0.0/8
imap_id_retain = yes
imap_id_send = name * x-backend %[6]s
mail_location = maildir:%[1]s/mail/%%u
mail_uid = %[4]s
mail_gid = %[4]s
first_valid_uid = 0
default_internal_user = %[2]s
default_internal_group = %[2]s
default_login_user = %[3]s
default_process_limit = 500
default_client_limit = 4000
passdb {
  driver = passwd-file
  args = scheme=PLAIN username_format=%%u %[1]s/users
}
userdb {
  driver = static
  args = uid=%[4]s gid=%[4]s home=%[1]s/home/%%u
}
service imap-login {
  chroot =
  service_count = 0
  process_min_avail = 2
  client_limit = 2000
  inet_listener imap {
    address = 127.0.0.1
    port = %[5]d
  }
}
service imap {
  service_count = 0
  client_limit = 1
  process_limit = 500
}
service anvil {
  chroot =
  unix_listener anvil-auth-penalty {
    mode = 0
  }
}
`, dir, internal, login, mailUser, port, name)
}
