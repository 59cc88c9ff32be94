package testenv

import (
	"bufio"
	"net"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

func TestFreePort(t *testing.T) {
	p := FreePort(t)
	if p <= 0 || p > 65535 {
		t.Fatalf("FreePort = %d, want 1..65535", p)
	}
	l, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(p)))
	if err != nil {
		t.Fatalf("port %d from FreePort is not bindable: %v", p, err)
	}
	l.Close()
}

// roundTrip sends one memcached command and returns the first reply line.
func roundTrip(t *testing.T, addr, cmd string) string {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(2 * time.Second))
	if _, err := c.Write([]byte(cmd)); err != nil {
		t.Fatalf("write: %v", err)
	}
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return strings.TrimSpace(line)
}

func TestMemcached(t *testing.T) {
	var addr string
	t.Run("start", func(t *testing.T) {
		addr = Memcached(t)
		if !strings.HasPrefix(addr, "127.0.0.1:") {
			t.Fatalf("addr = %q, want 127.0.0.1:port", addr)
		}
		if got := roundTrip(t, addr, "set k 0 0 1\r\nv\r\n"); got != "STORED" {
			t.Fatalf("set reply = %q, want STORED", got)
		}
	})
	if addr == "" {
		return // skipped: memcached not installed
	}
	// The subtest's cleanup has run: the server must be gone.
	if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
		c.Close()
		t.Fatalf("memcached at %s still accepts connections after cleanup", addr)
	}
}

func TestMemcached_Isolated(t *testing.T) {
	a, b := Memcached(t), Memcached(t)
	if a == b {
		t.Fatalf("two servers share the address %s", a)
	}
	roundTrip(t, a, "set only-a 0 0 1\r\nv\r\n")
	if got := roundTrip(t, b, "get only-a\r\n"); got != "END" {
		t.Fatalf("server b sees server a's key: %q", got)
	}
}

func TestSharedMemcached(t *testing.T) {
	a := SharedMemcached(t)
	b := SharedMemcached(t)
	if a != b {
		t.Fatalf("SharedMemcached returned %s then %s, want one server", a, b)
	}
	if got := roundTrip(t, a, "version\r\n"); !strings.HasPrefix(got, "VERSION ") {
		t.Fatalf("version reply = %q", got)
	}
}

func TestOnCI(t *testing.T) {
	tests := []struct {
		name, value string
		want        bool
	}{
		{"unset", "", false},
		{"true", "true", true},
		{"one", "1", true},
		{"false", "false", false},
		{"zero", "0", false},
		{"other", "yes", true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv("CI", tc.value)
			if got := onCI(); got != tc.want {
				t.Fatalf("onCI() with CI=%q = %v, want %v", tc.value, got, tc.want)
			}
		})
	}
}
