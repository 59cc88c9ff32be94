package mail

import (
	"encoding/base64"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/postern/postern/host/internal/testenv"
)

// TestTranscripts runs the protocol conformance transcripts of
// conformance/testdata/protocol (format in its README) against the front
// end with the shared Dovecot behind it.
func TestTranscripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("..", "..", "conformance", "testdata", "protocol", "*.txt"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no transcripts: %v", err)
	}
	p := startProxy(t, proxyOpts{})
	alicePass := testenv.DovecotUsers["alice@example.com"]
	vars := strings.NewReplacer(
		"$USER", "bob@example.com", "$PASS", "secret",
		"$ALICELEN", strconv.Itoa(len(alicePass)), "$ALICEPASS", alicePass, "$ALICE", "alice@example.com",
		"$PLAIN", base64.StdEncoding.EncodeToString([]byte("\x00bob@example.com\x00secret")),
		"$LONG", strings.Repeat("x", 9000),
	)
	for _, file := range files {
		t.Run(strings.TrimSuffix(filepath.Base(file), ".txt"), func(t *testing.T) {
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(b), "\n")
			listener := "imap"
			for _, l := range lines {
				if v, ok := strings.CutPrefix(l, "# listener: "); ok {
					listener = strings.TrimSpace(v)
				}
			}
			c := dial(t, p.addr(listener))
			if listener == "imaps" || listener == "pop3s" {
				c.startTLS(p.tlsConfig())
			}
			for n, l := range lines {
				where := file + ":" + strconv.Itoa(n+1)
				switch {
				case l == "" || strings.HasPrefix(l, "#"):
				case strings.HasPrefix(l, "C: "):
					c.send(vars.Replace(l[3:]) + "\r\n")
				case strings.HasPrefix(l, "C- "):
					s := strings.NewReplacer(`\r`, "\r", `\n`, "\n").Replace(vars.Replace(l[3:]))
					c.send(s)
				case strings.HasPrefix(l, "S: "):
					if got := c.line(); !strings.HasPrefix(got, l[3:]) {
						t.Fatalf("%s: got %q, want prefix %q", where, got, l[3:])
					}
				case strings.HasPrefix(l, "S~ "):
					re := regexp.MustCompile(l[3:])
					if got := c.line(); !re.MatchString(got) {
						t.Fatalf("%s: got %q, want a match of %s", where, got, l[3:])
					}
				case strings.HasPrefix(l, "S* "):
					c.until(l[3:])
				case l == "TLS":
					c.startTLS(p.tlsConfig())
				case l == "EOF":
					c.eof()
				default:
					t.Fatalf("%s: unknown directive %q", where, l)
				}
			}
		})
	}
}
