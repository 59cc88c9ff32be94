package imapwire

import (
	"bufio"
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func read(t testing.TB, in string, maxLit int) (*Command, string, error) {
	var conts strings.Builder
	r := &Reader{R: bufio.NewReaderSize(strings.NewReader(in), 64), MaxLine: 200, MaxLiteral: maxLit,
		Continue: func() error { conts.WriteString("+\n"); return nil }}
	c, err := r.ReadCommand()
	return c, conts.String(), err
}

func TestReadCommand(t *testing.T) {
	tests := []struct {
		name  string
		in    string
		want  *Command
		conts string
		err   string // substring of the error; "" = no error
		tag   string // tag carried by a SyntaxError
	}{
		{"capability", "a1 CAPABILITY\r\n", &Command{Tag: "a1", Name: "CAPABILITY"}, "", "", ""},
		{"lower case", "a1 noop\n", &Command{Tag: "a1", Name: "NOOP"}, "", "", ""},
		{"login atoms", "x LOGIN bob secret\r\n", &Command{Tag: "x", Name: "LOGIN", Args: []Token{{Atom, "bob"}, {Atom, "secret"}}}, "", "", ""},
		{"login quoted", `x LOGIN "bob@example.com" "p\"ss \\w"` + "\r\n",
			&Command{Tag: "x", Name: "LOGIN", Args: []Token{{String, "bob@example.com"}, {String, `p"ss \w`}}}, "", "", ""},
		{"sync literals", "x LOGIN {3}\r\nbob {6}\r\nse\r\nt!\r\n",
			&Command{Tag: "x", Name: "LOGIN", Args: []Token{{String, "bob"}, {String, "se\r\nt!"}}}, "+\n+\n", "", ""},
		{"literal plus", "x LOGIN {3+}\r\nbob {4+}\r\n{1}}\r\n",
			&Command{Tag: "x", Name: "LOGIN", Args: []Token{{String, "bob"}, {String, "{1}}"}}}, "", "", ""},
		{"empty literal", "x LOGIN {0}\r\n {0}\r\n\r\n", &Command{Tag: "x", Name: "LOGIN", Args: []Token{{String, ""}, {String, ""}}}, "+\n+\n", "", ""},
		{"id list", `i ID ("name" "Thunderbird" "version" NIL)` + "\r\n", &Command{Tag: "i", Name: "ID", Args: []Token{
			{ListBeg, ""}, {String, "name"}, {String, "Thunderbird"}, {String, "version"}, {Atom, "NIL"}, {ListEnd, ""}}}, "", "", ""},
		{"authenticate ir", "a AUTHENTICATE PLAIN AGJvYgBzZWNyZXQ=\r\n", &Command{Tag: "a", Name: "AUTHENTICATE",
			Args: []Token{{Atom, "PLAIN"}, {Atom, "AGJvYgBzZWNyZXQ="}}}, "", "", ""},
		{"no tag", "\r\n", nil, "", "missing or invalid tag", ""},
		{"bad tag", "a*b NOOP\r\n", nil, "", "missing or invalid tag", ""},
		{"no command", "a1 \r\n", nil, "", "missing command", "a1"},
		{"unterminated quote", "a1 LOGIN \"bob\r\n", nil, "", "unterminated", "a1"},
		{"bad escape", `a1 LOGIN "b\ob" x` + "\r\n", nil, "", "may escape only", "a1"},
		{"unbalanced", "a1 ID (\"a\" \"b\"\r\n", nil, "", "unbalanced", "a1"},
		{"literal mid line", "a1 LOGIN {3}x\r\n", nil, "", "", ""},
		{"sync literal too big", "a1 LOGIN {100}\r\n", nil, "", "over the limit", "a1"},
		{"plus literal too big", "a1 LOGIN {100+}\r\n", nil, "", "literal too large", ""},
		{"line too long", "a1 LOGIN " + strings.Repeat("x", 300) + "\r\n", nil, "", "line too long", ""},
		{"eof mid literal", "a1 LOGIN {10}\r\nabc", nil, "+\n", "EOF", ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			c, conts, err := read(t, tc.in, 32)
			if tc.name == "literal mid line" {
				// "{3}x" is an atom-ish token that is not a literal: a syntax error.
				var se *SyntaxError
				if !errors.As(err, &se) {
					t.Fatalf("got %+v, %v; want a syntax error", c, err)
				}
				return
			}
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err %v, want %q", err, tc.err)
				}
				var se *SyntaxError
				if errors.As(err, &se) && se.Tag != tc.tag {
					t.Errorf("tag %q, want %q", se.Tag, tc.tag)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(c, tc.want) {
				t.Errorf("got %+v\nwant %+v", c, tc.want)
			}
			if conts != tc.conts {
				t.Errorf("continuations %q, want %q", conts, tc.conts)
			}
		})
	}
}

func TestIDParams(t *testing.T) {
	c, _, err := read(t, `i ID ("name" "Thunderbird" "os" NIL)`+"\r\n", 32)
	if err != nil {
		t.Fatal(err)
	}
	m, err := c.IDParams()
	if err != nil || m["name"] != "Thunderbird" || len(m) != 1 {
		t.Fatalf("%v %v", m, err)
	}
	c, _, _ = read(t, "i ID NIL\r\n", 32)
	if m, err := c.IDParams(); m != nil || err != nil {
		t.Fatalf("NIL: %v %v", m, err)
	}
	c, _, _ = read(t, "i ID (\"a\")\r\n", 32)
	if _, err := c.IDParams(); err == nil {
		t.Fatal("odd list accepted")
	}
}

func TestQuote(t *testing.T) {
	if q, ok := Quote(`a"b\c`); !ok || q != `"a\"b\\c"` {
		t.Errorf("%q %v", q, ok)
	}
	if _, ok := Quote("a\r\nb"); ok {
		t.Error("CRLF quoted")
	}
}

// FuzzReadCommand: no input panics, limits hold, and a parsed command
// round-trips its strings.
func FuzzReadCommand(f *testing.F) {
	for _, s := range []string{"a LOGIN bob secret\r\n", "a LOGIN {3}\r\nbob {1+}\r\nx\r\n", `i ID ("a" "b")` + "\r\n",
		"a AUTHENTICATE PLAIN =\r\n", "* BAD\r\n", "a LOGIN \"\\\"\" x\r\n", "a ID ((((()))))\r\n", "a {999999999}\r\n"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r := &Reader{R: bufio.NewReader(strings.NewReader(string(b))), MaxLine: 512, MaxLiteral: 256}
		for i := 0; i < 8; i++ {
			c, err := r.ReadCommand()
			if err != nil {
				var se *SyntaxError
				if errors.As(err, &se) {
					continue
				}
				return
			}
			if c.Tag == "" || c.Name == "" {
				t.Fatalf("empty tag or name: %+v", c)
			}
			total := 0
			for _, a := range c.Args {
				total += len(a.Value)
			}
			if total > 512+256 {
				t.Fatalf("args hold %d bytes, over the limits", total)
			}
			c.IDParams()
		}
	})
}

func TestReadLine_longLine(t *testing.T) {
	auth := func(start []byte) bool { return bytes.HasPrefix(start, []byte("a AUTHENTICATE ")) }
	long := strings.Repeat("x", 1000)
	for _, tc := range []struct {
		line string
		err  error
	}{
		{"a AUTHENTICATE XOAUTH2 " + long, nil},
		{"a LOGIN " + long, ErrLineTooLong},
		{"a AUTHENTICATE XOAUTH2 " + long + long + long, ErrLineTooLong},
	} {
		r := &Reader{R: bufio.NewReaderSize(strings.NewReader(tc.line+"\r\n"), 16), MaxLine: 300, LongLine: auth, MaxLongLine: 2100}
		got, err := r.ReadLine()
		if err != tc.err || (err == nil && string(got) != tc.line) {
			t.Errorf("%.30q: %v, want %v", tc.line, err, tc.err)
		}
	}
}
