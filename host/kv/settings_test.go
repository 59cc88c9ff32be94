package kv

import (
	"net"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/postern/postern/host/internal/confdecode"
)

// decodeSettings decodes src as the store section.
func decodeSettings(t testing.TB, src string) (Settings, error) {
	t.Helper()
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(src), &doc); err != nil {
		t.Fatal(err)
	}
	s := DefaultSettings()
	d := confdecode.New("", "")
	if len(doc.Content) > 0 {
		s.Decode(d, doc.Content[0], "store")
	}
	return s, d.Err()
}

func TestSettings_Decode(t *testing.T) {
	s, err := decodeSettings(t, "memcached: [\"127.0.0.1:11211\", /run/mc.sock]\ntimeout: 50ms\ndistribution: ketama\nkey_form: sha256\n")
	if err != nil {
		t.Fatal(err)
	}
	o := s.MemcachedOptions()
	if len(s.Memcached) != 2 || s.Memcached[1] != "/run/mc.sock" || o.Timeout != 50*time.Millisecond || o.Distribution != "ketama" || o.KeyForm != "sha256" {
		t.Errorf("%+v, options %+v", s, o)
	}
	if d, err := decodeSettings(t, "{}"); err != nil || d.Timeout != DefaultTimeout || d.Memcached != nil {
		t.Errorf("defaults %+v, %v", d, err)
	}
	for _, tc := range []struct{ yaml, want string }{
		{"memcached: [localhost]", `store.memcached[0]: "localhost": want host:port (127.0.0.1:11211) or the path of a Unix socket`},
		{"memcached: [\"h:0\"]", `"h:0": the port must be a number from 1 to 65535`},
		{"memcached: [\"h:1\", \"h:1\"]", "line 1: store.memcached[1]: h:1 is listed twice: remove one"},
		{"distribution: modulo", `store.distribution: "modulo": want one of`},
		{"key_form: md5", `store.key_form: "md5": want one of [raw sha256]`},
		{"timout: 1s", "store.timout: unknown key (did you mean timeout?)"},
	} {
		if _, err := decodeSettings(t, tc.yaml); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s:\n got %v\nwant %q", tc.yaml, err, tc.want)
		}
	}
}

func TestSettings_Open(t *testing.T) {
	st, err := DefaultSettings().Open()
	if err != nil || st.Shared() {
		t.Fatalf("no servers: %v, shared %v", err, st != nil && st.Shared())
	}
	st.Close()
	st, err = Settings{Memcached: []string{"127.0.0.1:11211"}, Distribution: "zimbra-nginx"}.Open()
	if err != nil || !st.Shared() {
		t.Fatalf("memcached: %v", err)
	}
	st.Close()
	if _, err := (Settings{Memcached: []string{"127.0.0.1:1"}, Distribution: "nope"}).Open(); err == nil || !strings.HasPrefix(err.Error(), "config: store.memcached: ") {
		t.Errorf("bad distribution: %v", err)
	}
}

// FuzzSettings_Decode: no store section panics the decoder, and every
// server it accepts is a socket path or a host:port with a port (the
// decoder resolves nothing: NewMemcached does, when the store opens).
func FuzzSettings_Decode(f *testing.F) {
	for _, s := range []string{"memcached: [\"127.0.0.1:11211\", /s]", "memcached: [\"[::1]:1\"]", "timeout: 1s", "distribution: ketama", "[1]", "memcached: [~]"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		var doc yaml.Node
		if yaml.Unmarshal([]byte(src), &doc) != nil || len(doc.Content) == 0 {
			return
		}
		s := DefaultSettings()
		d := confdecode.New("", "")
		s.Decode(d, doc.Content[0], "store")
		if d.Err() != nil {
			return
		}
		for _, srv := range s.Memcached {
			if strings.HasPrefix(srv, "/") {
				continue
			}
			host, port, err := net.SplitHostPort(srv)
			if n, perr := strconv.Atoi(port); err != nil || host == "" || perr != nil || n < 1 || n > 65535 {
				t.Fatalf("accepted server %q", srv)
			}
		}
	})
}
