package web

import (
	"bufio"
	"bytes"
	"net/http"
	"strings"
	"testing"
)

// rawHead joins a request or response line and header lines into a head
// ending with the blank line.
func rawHead(lines ...string) []byte {
	return []byte(strings.Join(lines, "\r\n") + "\r\n\r\n")
}

// fastReqCase is one parseFastRequest case; a refused case has ok false
// and nothing else checked.
type fastReqCase struct {
	name    string
	head    []byte
	ok      bool
	method  string
	target  string
	pathLen int
	host    string
	drops   []string // the dropped lines, as they came (without CRLF)
	close   bool
}

func fastRequestCases() []fastReqCase {
	many := []string{"GET /many HTTP/1.1", "Host: h"}
	for _, h := range []string{"User-Agent: x/1", "Accept: */*", "Accept-Language: en", "Accept-Encoding: gzip, br",
		"Cache-Control: no-cache", "Pragma: no-cache", "Referer: http://h/a", "Sec-Fetch-Mode: navigate",
		"If-None-Match: \"abc\"", "If-Modified-Since: Mon, 02 Jan 2006 15:04:05 GMT", "X-Custom:   padded\t",
		"Date: Mon, 02 Jan 2006 15:04:05 GMT", "Origin: http://h", "DNT: 1", "Content-Type: text/plain"} {
		many = append(many, h)
	}
	five := []string{"GET / HTTP/1.1", "Host: h"}
	for range 5 {
		five = append(five, "Keep-Alive: timeout=5")
	}
	return []fastReqCase{
		// Accepted.
		{name: "GET", head: rawHead("GET / HTTP/1.1", "Host: h"), ok: true, method: "GET", target: "/", pathLen: 1, host: "h"},
		{name: "HEAD", head: rawHead("HEAD /x/y HTTP/1.1", "Host: h"), ok: true, method: "HEAD", target: "/x/y", pathLen: 4, host: "h"},
		{name: "a Content-Type without a body", head: rawHead("GET / HTTP/1.1", "Host: h", "Content-Type: application/json"), ok: true, method: "GET", target: "/", pathLen: 1, host: "h"},
		{name: "query", head: rawHead("GET /a/b?x=1&y=%2F/..//z HTTP/1.1", "Host: h"), ok: true, method: "GET",
			target: "/a/b?x=1&y=%2F/..//z", pathLen: 4, host: "h"},
		{name: "empty query", head: rawHead("GET /a? HTTP/1.1", "Host: h"), ok: true, method: "GET", target: "/a?", pathLen: 2, host: "h"},
		{name: "host with port", head: rawHead("GET / HTTP/1.1", "Host: mail.example.com:8080"), ok: true, method: "GET",
			target: "/", pathLen: 1, host: "mail.example.com:8080"},
		{name: "IPv6 host", head: rawHead("GET / HTTP/1.1", "Host: [::1]:8080"), ok: true, method: "GET", target: "/", pathLen: 1, host: "[::1]:8080"},
		{name: "host in lower case and spaces", head: rawHead("GET / HTTP/1.1", "host:  h \t"), ok: true, method: "GET", target: "/", pathLen: 1, host: "h"},
		{name: "Connection keep-alive dropped", head: rawHead("GET / HTTP/1.1", "Host: h", "Connection: keep-alive"), ok: true,
			method: "GET", target: "/", pathLen: 1, host: "h", drops: []string{"Connection: keep-alive"}},
		{name: "Connection close dropped and set", head: rawHead("GET / HTTP/1.1", "Connection: Close", "Host: h"), ok: true,
			method: "GET", target: "/", pathLen: 1, host: "h", drops: []string{"Connection: Close"}, close: true},
		{name: "Connection keep-alive, close", head: rawHead("GET / HTTP/1.1", "Host: h", "Connection: keep-alive, close"), ok: true,
			method: "GET", target: "/", pathLen: 1, host: "h", drops: []string{"Connection: keep-alive, close"}, close: true},
		{name: "Keep-Alive and Proxy-Connection dropped", head: rawHead("GET / HTTP/1.1", "Host: h", "Keep-Alive: timeout=5",
			"Accept: */*", "Proxy-Connection: keep-alive"), ok: true, method: "GET", target: "/", pathLen: 1, host: "h",
			drops: []string{"Keep-Alive: timeout=5", "Proxy-Connection: keep-alive"}},
		{name: "four dropped lines", head: rawHead("GET / HTTP/1.1", "Host: h", "Keep-Alive: a", "Keep-Alive: b", "Keep-Alive: c",
			"Connection: keep-alive"), ok: true, method: "GET", target: "/", pathLen: 1, host: "h",
			drops: []string{"Keep-Alive: a", "Keep-Alive: b", "Keep-Alive: c", "Connection: keep-alive"}},
		{name: "cookie without the auth cookie", head: rawHead("GET / HTTP/1.1", "Host: h", "Cookie: a=b; ZM_TEST=1"), ok: true,
			method: "GET", target: "/", pathLen: 1, host: "h"},
		{name: "many ordinary headers", head: rawHead(many...), ok: true, method: "GET", target: "/many", pathLen: 5, host: "h"},
		{name: "path punctuation", head: rawHead("GET /a-b_c.d~e!$&'()*+,;=:@/f. HTTP/1.1", "Host: h"), ok: true, method: "GET",
			target: "/a-b_c.d~e!$&'()*+,;=:@/f.", pathLen: 26, host: "h"},

		// Refused.
		{name: "POST", head: rawHead("POST / HTTP/1.1", "Host: h")},
		{name: "PUT", head: rawHead("PUT / HTTP/1.1", "Host: h")},
		{name: "lower-case get", head: rawHead("get / HTTP/1.1", "Host: h")},
		{name: "HTTP/1.0", head: rawHead("GET / HTTP/1.0", "Host: h")},
		{name: "absolute form", head: rawHead("GET http://h/ HTTP/1.1", "Host: h")},
		{name: "asterisk", head: rawHead("GET * HTTP/1.1", "Host: h")},
		{name: "percent in path", head: rawHead("GET /a%2Fb HTTP/1.1", "Host: h")},
		{name: "double slash", head: rawHead("GET //x HTTP/1.1", "Host: h")},
		{name: "dot segment", head: rawHead("GET /./x HTTP/1.1", "Host: h")},
		{name: "dot-dot segment", head: rawHead("GET /a/../b HTTP/1.1", "Host: h")},
		{name: "fragment", head: rawHead("GET /a#f HTTP/1.1", "Host: h")},
		{name: "fragment in query", head: rawHead("GET /a?b#f HTTP/1.1", "Host: h")},
		{name: "two spaces", head: rawHead("GET /  HTTP/1.1", "Host: h")},
		{name: "missing Host", head: rawHead("GET / HTTP/1.1", "Accept: */*")},
		{name: "empty Host", head: rawHead("GET / HTTP/1.1", "Host: ")},
		{name: "two Host lines", head: rawHead("GET / HTTP/1.1", "Host: h", "Host: h")},
		{name: "Host with a slash", head: rawHead("GET / HTTP/1.1", "Host: h/x")},
		{name: "Content-Length", head: rawHead("GET / HTTP/1.1", "Host: h", "Content-Length: 0")},
		{name: "Transfer-Encoding", head: rawHead("GET / HTTP/1.1", "Host: h", "Transfer-Encoding: chunked")},
		{name: "Authorization", head: rawHead("GET / HTTP/1.1", "Host: h", "Authorization: Basic YTpi")},
		{name: "authorization lower case", head: rawHead("GET / HTTP/1.1", "Host: h", "authorization: Bearer x")},
		{name: "Proxy-Authorization", head: rawHead("GET / HTTP/1.1", "Host: h", "Proxy-Authorization: Basic YTpi")},
		{name: "auth cookie", head: rawHead("GET / HTTP/1.1", "Host: h", "Cookie: a=b; ZM_AUTH_TOKEN=secret")},
		{name: "auth cookie on a second Cookie line", head: rawHead("GET / HTTP/1.1", "Host: h", "Cookie: a=b", "Cookie: ZM_AUTH_TOKEN=x")},
		{name: "X-Forwarded-For", head: rawHead("GET / HTTP/1.1", "Host: h", "X-Forwarded-For: 1.2.3.4")},
		{name: "X-Forwarded-Host", head: rawHead("GET / HTTP/1.1", "Host: h", "X-Forwarded-Host: e")},
		{name: "X-Forwarded-Proto", head: rawHead("GET / HTTP/1.1", "Host: h", "x-forwarded-proto: https")},
		{name: "Forwarded", head: rawHead("GET / HTTP/1.1", "Host: h", "Forwarded: for=1.2.3.4")},
		{name: "X-Real-Ip", head: rawHead("GET / HTTP/1.1", "Host: h", "X-Real-IP: 1.2.3.4")},
		{name: "Upgrade", head: rawHead("GET / HTTP/1.1", "Host: h", "Upgrade: websocket")},
		{name: "Expect", head: rawHead("GET / HTTP/1.1", "Host: h", "Expect: 100-continue")},
		{name: "TE", head: rawHead("GET / HTTP/1.1", "Host: h", "TE: trailers")},
		{name: "Trailer", head: rawHead("GET / HTTP/1.1", "Host: h", "Trailer: X")},
		{name: "Connection naming a header", head: rawHead("GET / HTTP/1.1", "Host: h", "Connection: X-Secret")},
		{name: "Connection upgrade", head: rawHead("GET / HTTP/1.1", "Host: h", "Connection: Upgrade")},
		{name: "obs-fold", head: rawHead("GET / HTTP/1.1", "Host: h", "X-A: a", " folded")},
		{name: "bare LF in a header", head: []byte("GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n")},
		{name: "bare LF line end", head: []byte("GET / HTTP/1.1\nHost: h\r\n\r\n")},
		{name: "bare CR in a value", head: rawHead("GET / HTTP/1.1", "Host: h", "X: a\rb")},
		{name: "control character in a value", head: rawHead("GET / HTTP/1.1", "Host: h", "X: a\x01b")},
		{name: "NUL in a value", head: rawHead("GET / HTTP/1.1", "Host: h", "X: a\x00b")},
		{name: "DEL in a value", head: rawHead("GET / HTTP/1.1", "Host: h", "X: a\x7fb")},
		{name: "space before colon", head: rawHead("GET / HTTP/1.1", "Host : h")},
		{name: "empty header name", head: rawHead("GET / HTTP/1.1", "Host: h", ": v")},
		{name: "no colon", head: rawHead("GET / HTTP/1.1", "Host: h", "Accept")},
		{name: "more than 4 dropped lines", head: rawHead(five...)},
		{name: "control character in path", head: rawHead("GET /a\x01 HTTP/1.1", "Host: h")},
		{name: "space in query", head: rawHead("GET /a?b c HTTP/1.1", "Host: h")},
		{name: "non-ASCII in path", head: rawHead("GET /\xc3\xa9 HTTP/1.1", "Host: h")},
	}
}

func TestFastParseRequest(t *testing.T) {
	for _, tc := range fastRequestCases() {
		t.Run(tc.name, func(t *testing.T) {
			var fr fastRequest
			ok := parseFastRequest(tc.head, "ZM_AUTH_TOKEN", false, &fr)
			if ok != tc.ok {
				t.Fatalf("parseFastRequest(%q) = %v, want %v", tc.head, ok, tc.ok)
			}
			if !ok {
				return
			}
			if fr.method != tc.method || string(fr.target) != tc.target || fr.pathLen != tc.pathLen ||
				string(fr.host) != tc.host || fr.close != tc.close {
				t.Errorf("got method %q target %q pathLen %d host %q close %v; want %q %q %d %q %v",
					fr.method, fr.target, fr.pathLen, fr.host, fr.close, tc.method, tc.target, tc.pathLen, tc.host, tc.close)
			}
			if want := bytes.Index(tc.head, []byte("\r\n")) + 2; fr.line != want {
				t.Errorf("line = %d, want %d", fr.line, want)
			}
			var drops []string
			for _, d := range fr.drop[:fr.ndrop] {
				line := string(tc.head[d.from:d.to])
				if !strings.HasSuffix(line, "\r\n") {
					t.Errorf("dropped span %q does not end its line", line)
				}
				drops = append(drops, strings.TrimSuffix(line, "\r\n"))
			}
			if strings.Join(drops, "|") != strings.Join(tc.drops, "|") {
				t.Errorf("drops %q, want %q", drops, tc.drops)
			}
		})
	}
	// Another auth cookie name: ZM_AUTH_TOKEN is an ordinary cookie then,
	// and no cookie name means no cookie is one.
	var fr fastRequest
	if !parseFastRequest(rawHead("GET / HTTP/1.1", "Host: h", "Cookie: ZM_AUTH_TOKEN=x"), "SID", false, &fr) {
		t.Error("ZM_AUTH_TOKEN refused with auth cookie SID")
	}
	if parseFastRequest(rawHead("GET / HTTP/1.1", "Host: h", "Cookie: SID=x"), "SID", false, &fr) {
		t.Error("auth cookie SID accepted")
	}
}

type fastRespCase struct {
	name  string
	head  []byte
	head_ bool // a HEAD request's response
	ok    bool
	code  int
	clen  int64
	close bool
	date  bool
	drops []string
}

func fastResponseCases() []fastRespCase {
	return []fastRespCase{
		// Accepted.
		{name: "200 with length", head: rawHead("HTTP/1.1 200 OK", "Content-Length: 5", "Content-Type: text/plain"), ok: true, code: 200, clen: 5},
		{name: "reason-less", head: rawHead("HTTP/1.1 200", "Content-Length: 0"), ok: true, code: 200, clen: 0},
		{name: "reason-less with space", head: rawHead("HTTP/1.1 404 ", "Content-Length: 3"), ok: true, code: 404, clen: 3},
		{name: "204 without length", head: rawHead("HTTP/1.1 204 No Content"), ok: true, code: 204, clen: -1},
		{name: "304 without length", head: rawHead("HTTP/1.1 304 Not Modified", "ETag: \"x\""), ok: true, code: 304, clen: -1},
		{name: "304 with length", head: rawHead("HTTP/1.1 304 Not Modified", "Content-Length: 10"), ok: true, code: 304, clen: 10},
		{name: "HEAD with a length", head: rawHead("HTTP/1.1 200 OK", "Content-Length: 1000"), head_: true, ok: true, code: 200, clen: 1000},
		{name: "HEAD without a length", head: rawHead("HTTP/1.1 200 OK"), head_: true, ok: true, code: 200, clen: -1},
		{name: "Connection close", head: rawHead("HTTP/1.1 200 OK", "Connection: close", "Content-Length: 1"), ok: true, code: 200, clen: 1,
			close: true, drops: []string{"Connection: close"}},
		{name: "Keep-Alive dropped", head: rawHead("HTTP/1.1 200 OK", "Keep-Alive: timeout=5", "Connection: keep-alive", "Content-Length: 1"),
			ok: true, code: 200, clen: 1, drops: []string{"Keep-Alive: timeout=5", "Connection: keep-alive"}},
		{name: "Date seen", head: rawHead("HTTP/1.1 200 OK", "date: Mon, 02 Jan 2006 15:04:05 GMT", "Content-Length: 0"), ok: true,
			code: 200, clen: 0, date: true},
		{name: "599", head: rawHead("HTTP/1.1 599 X", "Content-Length: 0"), ok: true, code: 599, clen: 0},

		// Refused.
		{name: "HTTP/1.0", head: rawHead("HTTP/1.0 200 OK", "Content-Length: 1")},
		{name: "100", head: rawHead("HTTP/1.1 100 Continue")},
		{name: "103", head: rawHead("HTTP/1.1 103 Early Hints", "Link: </a>; rel=preload")},
		{name: "101", head: rawHead("HTTP/1.1 101 Switching Protocols", "Upgrade: websocket", "Connection: Upgrade")},
		{name: "chunked", head: rawHead("HTTP/1.1 200 OK", "Transfer-Encoding: chunked")},
		{name: "an event stream (its events are flushed one by one)", head: rawHead("HTTP/1.1 200 OK", "Content-Type: Text/Event-Stream; charset=utf-8", "Content-Length: 20")},
		{name: "chunked with a length", head: rawHead("HTTP/1.1 200 OK", "Content-Length: 3", "Transfer-Encoding: chunked")},
		{name: "no length on a GET 200", head: rawHead("HTTP/1.1 200 OK", "Content-Type: text/plain")},
		{name: "two Content-Length", head: rawHead("HTTP/1.1 200 OK", "Content-Length: 5", "Content-Length: 5")},
		{name: "length +5", head: rawHead("HTTP/1.1 200 OK", "Content-Length: +5")},
		{name: "negative length", head: rawHead("HTTP/1.1 200 OK", "Content-Length: -1")},
		{name: "length with letters", head: rawHead("HTTP/1.1 200 OK", "Content-Length: 5x")},
		{name: "hex length", head: rawHead("HTTP/1.1 200 OK", "Content-Length: 0x5")},
		{name: "empty length", head: rawHead("HTTP/1.1 200 OK", "Content-Length: ")},
		{name: "length list", head: rawHead("HTTP/1.1 200 OK", "Content-Length: 5, 5")},
		{name: "status 99", head: rawHead("HTTP/1.1 099 X", "Content-Length: 0")},
		{name: "status 600", head: rawHead("HTTP/1.1 600 X", "Content-Length: 0")},
		{name: "two-digit status", head: rawHead("HTTP/1.1 99 X", "Content-Length: 0")},
		{name: "four-digit status", head: rawHead("HTTP/1.1 2000 X", "Content-Length: 0")},
		{name: "Trailer", head: rawHead("HTTP/1.1 200 OK", "Content-Length: 0", "Trailer: X")},
		{name: "Upgrade", head: rawHead("HTTP/1.1 200 OK", "Content-Length: 0", "Upgrade: h2c")},
		{name: "Connection naming a header", head: rawHead("HTTP/1.1 200 OK", "Content-Length: 0", "Connection: X-Private")},
		{name: "control character in reason", head: rawHead("HTTP/1.1 200 O\x01K", "Content-Length: 0")},
		{name: "obs-fold", head: rawHead("HTTP/1.1 200 OK", "Content-Length: 0", "X: a", " b")},
	}
}

func TestFastParseResponse(t *testing.T) {
	for _, tc := range fastResponseCases() {
		t.Run(tc.name, func(t *testing.T) {
			var fr fastResponse
			ok := parseFastResponse(tc.head, tc.head_, &fr)
			if ok != tc.ok {
				t.Fatalf("parseFastResponse(%q, head %v) = %v, want %v", tc.head, tc.head_, ok, tc.ok)
			}
			if !ok {
				return
			}
			if fr.code != tc.code || fr.clen != tc.clen || fr.close != tc.close || fr.date != tc.date || fr.size != len(tc.head) {
				t.Errorf("got code %d clen %d close %v date %v size %d; want %d %d %v %v %d",
					fr.code, fr.clen, fr.close, fr.date, fr.size, tc.code, tc.clen, tc.close, tc.date, len(tc.head))
			}
			if want := bytes.Index(tc.head, []byte("\r\n")) + 2; fr.line != want {
				t.Errorf("line = %d, want %d", fr.line, want)
			}
			var drops []string
			for _, d := range fr.drop[:fr.ndrop] {
				drops = append(drops, strings.TrimSuffix(string(tc.head[d.from:d.to]), "\r\n"))
			}
			if strings.Join(drops, "|") != strings.Join(tc.drops, "|") {
				t.Errorf("drops %q, want %q", drops, tc.drops)
			}
		})
	}
}

// FuzzParseFastRequest: a head parseFastRequest takes is one net/http
// reads the same way, so the fast path forwards and routes what the full
// path would: same method, Host, target and path, no body, the same
// Connection: close; and no login, or (with allowAuth, decision reuse)
// the same Authorization value and auth cookie as the full path reads.
func FuzzParseFastRequest(f *testing.F) {
	for _, tc := range fastRequestCases() {
		f.Add(tc.head, false)
	}
	f.Add(rawHead("GET / HTTP/1.1", "Host: h", "Authorization: Basic Ym9iOng=", "Cookie: a=1; ZM_AUTH_TOKEN=\"t\""), true)
	f.Fuzz(func(t *testing.T, head []byte, allowAuth bool) {
		end := bytes.Index(head, []byte("\r\n\r\n"))
		if end < 0 {
			return
		}
		head = head[:end+4] // as serveOne hands it over
		var fr fastRequest
		if !parseFastRequest(head, "ZM_AUTH_TOKEN", allowAuth, &fr) {
			return
		}
		req, err := http.ReadRequest(bufio.NewReader(bytes.NewReader(head)))
		if err != nil {
			t.Fatalf("fast path took %q; net/http: %v", head, err)
		}
		if code, why := checkRequest(req); code != 0 {
			t.Fatalf("fast path took %q; the lean server answers %d %s", head, code, why)
		}
		target := string(fr.target)
		path := target[:fr.pathLen]
		switch {
		case req.Method != fr.method:
			t.Fatalf("%q: method %q, net/http %q", head, fr.method, req.Method)
		case req.Host != string(fr.host):
			t.Fatalf("%q: host %q, net/http %q", head, fr.host, req.Host)
		case req.URL.RequestURI() != target:
			t.Fatalf("%q: target %q, net/http %q", head, target, req.URL.RequestURI())
		case req.URL.EscapedPath() != path:
			t.Fatalf("%q: path %q, net/http escaped path %q", head, path, req.URL.EscapedPath())
		case cleanPath(req.URL.Path) != path:
			t.Fatalf("%q: path %q, the full path routes on %q", head, path, cleanPath(req.URL.Path))
		case req.ContentLength != 0 || req.Body != http.NoBody:
			t.Fatalf("%q: net/http sees a body (length %d)", head, req.ContentLength)
		case req.Header["Content-Length"] != nil || req.Header["Transfer-Encoding"] != nil || req.TransferEncoding != nil:
			t.Fatalf("%q: framing headers", head)
		case req.Header["Proxy-Authorization"] != nil:
			t.Fatalf("%q: a proxy login", head)
		case fr.authz == nil && req.Header["Authorization"] != nil:
			t.Fatalf("%q: a login", head)
		case fr.authz != nil && (!allowAuth || len(req.Header["Authorization"]) != 1 || req.Header["Authorization"][0] != string(fr.authz)):
			t.Fatalf("%q: authz %q, net/http %q", head, fr.authz, req.Header["Authorization"])
		case fr.cookie == nil && hasCookie(req, "ZM_AUTH_TOKEN"):
			t.Fatalf("%q: the auth cookie", head)
		case fr.cookie != nil && !allowAuth:
			t.Fatalf("%q: the auth cookie's line taken without allowAuth", head)
		case req.Close != fr.close:
			t.Fatalf("%q: close %v, net/http %v", head, fr.close, req.Close)
		}
		if fr.cookie != nil {
			// The fast path reads the cookie from this one line
			// (reuseFast); the full path from all of them.
			one := http.Request{Header: http.Header{"Cookie": {string(fr.cookie)}}}
			c1, err1 := one.Cookie("ZM_AUTH_TOKEN")
			c2, err2 := req.Cookie("ZM_AUTH_TOKEN")
			if (err1 == nil) != (err2 == nil) || (err1 == nil && c1.Value != c2.Value) || (err1 == nil) != hasCookie(req, "ZM_AUTH_TOKEN") {
				t.Fatalf("%q: auth cookie %v %v from its line, net/http %v %v", head, c1, err1, c2, err2)
			}
		}
		for _, k := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Real-Ip", "Forwarded",
			"Upgrade", "Expect", "Te", "Trailer"} {
			if req.Header[k] != nil {
				t.Fatalf("%q: %s taken", head, k)
			}
		}
		// What is forwarded is the head less the dropped lines: no
		// Connection, Keep-Alive or Proxy-Connection line stays.
		var out bytes.Buffer
		bw := bufio.NewWriter(&out)
		writeSpans(bw, head, 0, len(head), fr.drop[:fr.ndrop])
		bw.Flush()
		fwd, err := http.ReadRequest(bufio.NewReader(&out))
		if err != nil {
			t.Fatalf("%q: the forwarded head %q: %v", head, out.Bytes(), err)
		}
		for _, k := range []string{"Connection", "Keep-Alive", "Proxy-Connection"} {
			if fwd.Header[k] != nil {
				t.Fatalf("%q: forwarded with %s", head, k)
			}
		}
	})
}

// FuzzParseFastResponse: a response head parseFastResponse takes for a
// GET is one net/http reads the same way: same status, the same length,
// no chunking, the same Connection: close.
func FuzzParseFastResponse(f *testing.F) {
	for _, tc := range fastResponseCases() {
		f.Add(tc.head)
	}
	f.Fuzz(func(t *testing.T, head []byte) {
		end := bytes.Index(head, []byte("\r\n\r\n"))
		if end < 0 {
			return
		}
		head = head[:end+4] // as readFastHead hands it over
		var fr fastResponse
		if !parseFastResponse(head, false, &fr) {
			return
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(head)), &http.Request{Method: http.MethodGet})
		if err != nil {
			t.Fatalf("fast path took %q; net/http: %v", head, err)
		}
		if resp.StatusCode != fr.code {
			t.Fatalf("%q: status %d, net/http %d", head, fr.code, resp.StatusCode)
		}
		if bodyAllowed(fr.code) && resp.ContentLength != fr.clen {
			t.Fatalf("%q: length %d, net/http %d", head, fr.clen, resp.ContentLength)
		}
		if resp.TransferEncoding != nil {
			t.Fatalf("%q: net/http reads %v", head, resp.TransferEncoding)
		}
		if resp.Close != fr.close {
			t.Fatalf("%q: close %v, net/http %v", head, fr.close, resp.Close)
		}
		if resp.Header["Trailer"] != nil || resp.Header["Upgrade"] != nil {
			t.Fatalf("%q: Trailer or Upgrade taken", head)
		}
	})
}
