// Package imapwire reads the IMAP commands a proxy must understand before
// login (RFC 9051 / 3501): a tag, a command name and its arguments as
// atoms, quoted strings, synchronizing literals {N} and non-synchronizing
// literals {N+} (RFC 7888), NIL and parenthesised lists (for ID). It does
// not parse anything sent after login: the proxy relays those bytes.
//
// Every limit is enforced while reading, so a hostile client cannot make
// the reader buffer more than MaxLine plus MaxLiteral bytes.
package imapwire

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"strconv"
)

// Token kinds.
const (
	Atom    = iota // an atom, including NIL
	String         // a quoted string or a literal
	ListBeg        // "("
	ListEnd        // ")"
)

// Token is one argument token.
type Token struct {
	Kind  int
	Value string
}

// Command is one parsed command line.
type Command struct {
	Tag  string
	Name string // upper-cased
	Args []Token
}

// Errors. A *SyntaxError carries the tag, when one was read, so the
// caller can answer "<tag> BAD ..." rather than "* BAD ...".
var (
	// ErrLineTooLong: a line exceeded MaxLine; the stream cannot be
	// resynchronised, the caller should send BYE and close.
	ErrLineTooLong = errors.New("imapwire: line too long")
	// ErrLiteralTooLarge: a {N+} literal exceeded MaxLiteral; its bytes are
	// already on the way, so the caller should send BYE and close.
	ErrLiteralTooLarge = errors.New("imapwire: literal too large")
)

// SyntaxError is a malformed command; the connection can go on.
type SyntaxError struct {
	Tag string // "" when the tag itself was bad
	Msg string
}

func (e *SyntaxError) Error() string { return "imapwire: " + e.Msg }

// Reader reads commands from a client.
type Reader struct {
	R *bufio.Reader
	// Continue is called before the reader waits for the data of a
	// synchronizing literal; it should write "+ ..." to the client.
	Continue func() error
	// MaxLine bounds one line (without literals); default 8192.
	MaxLine int
	// MaxLiteral bounds one literal and the sum of a command's literals;
	// default 8192 (logins and passwords are short).
	MaxLiteral int
	// LongLine, when set, is asked about a line that grew past MaxLine,
	// with the bytes read so far (at least MaxLine of them); when it
	// accepts the line's start, the line may run to MaxLongLine bytes.
	// It lets an AUTHENTICATE carrying a bearer token be longer than any
	// other command.
	LongLine    func(start []byte) bool
	MaxLongLine int
}

func (r *Reader) maxLine() int {
	if r.MaxLine > 0 {
		return r.MaxLine
	}
	return 8192
}

func (r *Reader) maxLiteral() int {
	if r.MaxLiteral > 0 {
		return r.MaxLiteral
	}
	return 8192
}

// ReadLine reads one CRLF- or LF-terminated line, without the terminator.
// It is for SASL continuation responses.
func (r *Reader) ReadLine() ([]byte, error) {
	var line []byte
	limit := r.maxLine()
	for {
		frag, err := r.R.ReadSlice('\n')
		if n := len(line) + len(frag); n > limit {
			if limit < r.MaxLongLine && r.LongLine != nil && r.LongLine(append(line[:len(line):len(line)], frag...)) {
				limit = r.MaxLongLine
			}
			if n > limit {
				return nil, ErrLineTooLong
			}
		}
		line = append(line, frag...)
		if err == nil {
			break
		}
		if err != bufio.ErrBufferFull {
			if err == io.EOF && len(line) > 0 {
				err = io.ErrUnexpectedEOF
			}
			return nil, err
		}
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	return bytes.TrimSuffix(line, []byte("\r")), nil
}

// ReadCommand reads and parses one command, answering synchronizing
// literals through Continue. I/O errors and the two limit errors are fatal;
// a *SyntaxError is not.
func (r *Reader) ReadCommand() (*Command, error) {
	p := &parser{}
	literals := 0
	for {
		line, err := r.ReadLine()
		if err != nil {
			return nil, err
		}
		p.buf = append(p.buf, line...)
		n, sync, ok := literalSuffix(line)
		if !ok {
			break
		}
		if n < 0 {
			// An unparseable {..}: let the parser report it.
			break
		}
		literals += n
		if literals > r.maxLiteral() {
			if !sync {
				return nil, ErrLiteralTooLarge
			}
			// The client waits for "+": refuse without reading the data.
			tag, _ := splitTag(p.buf)
			return nil, &SyntaxError{Tag: tag, Msg: fmt.Sprintf("literal of %d bytes is over the limit of %d", n, r.maxLiteral())}
		}
		if sync && r.Continue != nil {
			if err := r.Continue(); err != nil {
				return nil, err
			}
		}
		start := len(p.buf)
		p.buf = append(p.buf, make([]byte, n)...)
		if _, err := io.ReadFull(r.R, p.buf[start:]); err != nil {
			return nil, err
		}
		p.lits = append(p.lits, litSpan{start, start + n})
	}
	return p.parse()
}

// literalSuffix reports whether line ends with {N} or {N+}.
func literalSuffix(line []byte) (n int, sync, ok bool) {
	if len(line) < 3 || line[len(line)-1] != '}' {
		return 0, false, false
	}
	i := bytes.LastIndexByte(line, '{')
	if i < 0 {
		return 0, false, false
	}
	digits := line[i+1 : len(line)-1]
	sync = true
	if len(digits) > 0 && digits[len(digits)-1] == '+' {
		digits, sync = digits[:len(digits)-1], false
	}
	if len(digits) == 0 || len(digits) > 9 {
		return -1, sync, true
	}
	v, err := strconv.Atoi(string(digits))
	if err != nil || v < 0 {
		return -1, sync, true
	}
	return v, sync, true
}

func splitTag(b []byte) (string, []byte) {
	i := bytes.IndexByte(b, ' ')
	if i <= 0 {
		return "", b
	}
	tag := b[:i]
	for _, c := range tag {
		if !isAtomChar(c) || c == '+' {
			return "", b
		}
	}
	return string(tag), b[i+1:]
}

type litSpan struct{ start, end int }

type parser struct {
	buf  []byte
	lits []litSpan // byte ranges of literal data inside buf
	pos  int
}

func (p *parser) parse() (*Command, error) {
	tag, _ := splitTag(p.buf)
	if tag == "" {
		return nil, &SyntaxError{Msg: "missing or invalid tag"}
	}
	p.pos = len(tag) + 1
	name := p.atom()
	if name == "" {
		return nil, &SyntaxError{Tag: tag, Msg: "missing command"}
	}
	cmd := &Command{Tag: tag, Name: string(bytes.ToUpper([]byte(name)))}
	depth := 0
	for p.pos < len(p.buf) {
		if p.buf[p.pos] != ' ' {
			if !(depth > 0 && p.pos > 0 && p.buf[p.pos-1] == '(') && p.buf[p.pos] != ')' {
				return nil, &SyntaxError{Tag: tag, Msg: "expected a space between arguments"}
			}
		} else {
			p.pos++
		}
		if p.pos >= len(p.buf) {
			return nil, &SyntaxError{Tag: tag, Msg: "trailing space"}
		}
		switch c := p.buf[p.pos]; {
		case c == '(':
			depth++
			if depth > 4 {
				return nil, &SyntaxError{Tag: tag, Msg: "lists nested too deep"}
			}
			p.pos++
			cmd.Args = append(cmd.Args, Token{Kind: ListBeg})
		case c == ')':
			if depth == 0 {
				return nil, &SyntaxError{Tag: tag, Msg: "unbalanced )"}
			}
			depth--
			p.pos++
			cmd.Args = append(cmd.Args, Token{Kind: ListEnd})
		case c == '"':
			s, err := p.quoted()
			if err != nil {
				return nil, &SyntaxError{Tag: tag, Msg: err.Error()}
			}
			cmd.Args = append(cmd.Args, Token{Kind: String, Value: s})
		case c == '{':
			s, err := p.literal()
			if err != nil {
				return nil, &SyntaxError{Tag: tag, Msg: err.Error()}
			}
			cmd.Args = append(cmd.Args, Token{Kind: String, Value: s})
		default:
			a := p.atom()
			if a == "" {
				return nil, &SyntaxError{Tag: tag, Msg: fmt.Sprintf("unexpected character %q", c)}
			}
			cmd.Args = append(cmd.Args, Token{Kind: Atom, Value: a})
		}
		if len(cmd.Args) > 64 {
			return nil, &SyntaxError{Tag: tag, Msg: "too many arguments"}
		}
	}
	if depth != 0 {
		return nil, &SyntaxError{Tag: tag, Msg: "unbalanced ("}
	}
	return cmd, nil
}

func isAtomChar(c byte) bool {
	if c <= ' ' || c >= 0x7f {
		return false
	}
	switch c {
	case '(', ')', '{', '%', '*', '"', '\\', ']':
		return false
	}
	return true
}

func (p *parser) atom() string {
	start := p.pos
	for p.pos < len(p.buf) && p.inLiteral() < 0 && (isAtomChar(p.buf[p.pos]) || p.buf[p.pos] == ']' || p.buf[p.pos] == '*' || p.buf[p.pos] == '%') {
		p.pos++
	}
	return string(p.buf[start:p.pos])
}

// inLiteral returns the index of the literal span containing pos, or -1.
func (p *parser) inLiteral() int {
	for i, l := range p.lits {
		if p.pos >= l.start && p.pos < l.end {
			return i
		}
	}
	return -1
}

func (p *parser) quoted() (string, error) {
	p.pos++ // opening quote
	var out []byte
	for p.pos < len(p.buf) {
		c := p.buf[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(out), nil
		case c == '\\':
			if p.pos+1 >= len(p.buf) || (p.buf[p.pos+1] != '"' && p.buf[p.pos+1] != '\\') {
				return "", errors.New(`a quoted string may escape only " and \`)
			}
			out = append(out, p.buf[p.pos+1])
			p.pos += 2
		case c == '\r' || c == '\n' || c == 0:
			return "", errors.New("CR, LF or NUL in a quoted string: use a literal")
		default:
			out = append(out, c)
			p.pos++
		}
	}
	return "", errors.New("unterminated quoted string")
}

func (p *parser) literal() (string, error) {
	end := bytes.IndexByte(p.buf[p.pos:], '}')
	if end < 0 {
		return "", errors.New("unterminated literal length")
	}
	after := p.pos + end + 1
	for _, l := range p.lits {
		if l.start == after {
			p.pos = l.end
			return string(p.buf[l.start:l.end]), nil
		}
	}
	return "", errors.New("a literal length must end its line")
}

// Strings returns the args as plain strings when every arg is an atom or a
// string (NIL included as "NIL"), for commands such as LOGIN.
func (c *Command) Strings() ([]string, bool) {
	out := make([]string, 0, len(c.Args))
	for _, a := range c.Args {
		if a.Kind != Atom && a.Kind != String {
			return nil, false
		}
		out = append(out, a.Value)
	}
	return out, true
}

// IDParams parses the argument of ID: NIL or a list of string pairs
// (RFC 2971). Keys are returned as given; at most 30 pairs.
func (c *Command) IDParams() (map[string]string, error) {
	a := c.Args
	if len(a) == 1 && a[0].Kind == Atom && (a[0].Value == "NIL" || a[0].Value == "nil") {
		return nil, nil
	}
	if len(a) < 2 || a[0].Kind != ListBeg || a[len(a)-1].Kind != ListEnd {
		return nil, errors.New("ID takes NIL or a parenthesised list")
	}
	inner := a[1 : len(a)-1]
	if len(inner)%2 != 0 || len(inner) > 60 {
		return nil, errors.New("ID list must hold at most 30 field-value pairs")
	}
	m := map[string]string{}
	for i := 0; i < len(inner); i += 2 {
		k, v := inner[i], inner[i+1]
		if k.Kind != String || (v.Kind != String && !(v.Kind == Atom && (v.Value == "NIL" || v.Value == "nil"))) {
			return nil, errors.New("ID fields are strings; values are strings or NIL")
		}
		if len(k.Value) > 30 || len(v.Value) > 1024 {
			return nil, errors.New("ID field over 30 bytes or value over 1024 bytes")
		}
		if v.Kind == Atom {
			continue
		}
		m[k.Value] = v.Value
	}
	return m, nil
}

// Quote returns s as an IMAP quoted string when it can be one, or false
// when it needs a literal (CR, LF, NUL or 8-bit bytes).
func Quote(s string) (string, bool) {
	b := make([]byte, 0, len(s)+2)
	b = append(b, '"')
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '"' || c == '\\':
			b = append(b, '\\', c)
		case c == '\r' || c == '\n' || c == 0 || c >= 0x80:
			return "", false
		default:
			b = append(b, c)
		}
	}
	return string(append(b, '"')), true
}
