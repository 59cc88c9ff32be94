/*
 * jr.h: the JSON reader of the bundled plugins' C ports that decode their
 * configuration in one pass as encoding/json does (login-normaliser,
 * route-cache): a byte string (str), UTF-8 as Go's unicode/utf8 decodes
 * it, a reader (jr) with encoding/json's decoding rules for strings,
 * literals, numbers and keys (key_is: case folding as encoding/json
 * matches fields), jskip and jraw for any value a json.RawMessage takes, and
 * bytes.TrimSpace's notion of white space (only_space). The other C ports
 * (route-lookup, throttle) read a parsed document with postern_json.h.
 * Header only; include it after postern.h. The twin tests of both plugins
 * (c_test.go TestC_configs) hold the reader to encoding/json.
 */
#ifndef POSTERN_JR_H
#define POSTERN_JR_H

/* The functions are static, not static inline (clang's inline hint made
 * the plugins' builds larger), and marked unused: a plugin need not call
 * them all. */
#define JR_FN static __attribute__((unused))

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* A byte string: may hold NUL bytes; p is malloc'd (or NULL when n == 0
 * and nothing was allocated). */
typedef struct {
	char *p;
	size_t n;
} str;

JR_FN void str_free(str *s) {
	free(s->p);
	s->p = NULL;
	s->n = 0;
}

JR_FN str str_dup(const char *p, size_t n) {
	str s;
	s.p = malloc(n + 1);
	if (s.p == NULL) abort();
	if (n) memcpy(s.p, p, n);
	s.p[n] = '\0';
	s.n = n;
	return s;
}

JR_FN int str_eq(const char *a, size_t an, const char *b, size_t bn) {
	return an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

#define RUNE_ERROR 0xFFFDu

/* utf8_decode returns the rune at s (n > 0 bytes) and its width; a byte
 * that does not start a valid encoding is (RUNE_ERROR, 1). */
JR_FN int utf8_decode(const unsigned char *s, size_t n, uint32_t *r) {
	unsigned char c = s[0];
	if (c < 0x80) {
		*r = c;
		return 1;
	}
	int w;
	unsigned char lo = 0x80, hi = 0xBF;
	uint32_t v;
	if (c >= 0xC2 && c <= 0xDF) {
		w = 2;
		v = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		w = 3;
		v = c & 0x0F;
		if (c == 0xE0) lo = 0xA0;
		if (c == 0xED) hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		w = 4;
		v = c & 0x07;
		if (c == 0xF0) lo = 0x90;
		if (c == 0xF4) hi = 0x8F;
	} else {
		*r = RUNE_ERROR;
		return 1;
	}
	if (n < (size_t)w || s[1] < lo || s[1] > hi) {
		*r = RUNE_ERROR;
		return 1;
	}
	v = v << 6 | (s[1] & 0x3F);
	for (int i = 2; i < w; i++) {
		if (s[i] < 0x80 || s[i] > 0xBF) {
			*r = RUNE_ERROR;
			return 1;
		}
		v = v << 6 | (s[i] & 0x3F);
	}
	*r = v;
	return w;
}

JR_FN int utf8_encode(char *out, uint32_t r) {
	if (r < 0x80) {
		out[0] = (char)r;
		return 1;
	}
	if (r < 0x800) {
		out[0] = (char)(0xC0 | (r >> 6));
		out[1] = (char)(0x80 | (r & 0x3F));
		return 2;
	}
	if (r < 0x10000) {
		out[0] = (char)(0xE0 | (r >> 12));
		out[1] = (char)(0x80 | ((r >> 6) & 0x3F));
		out[2] = (char)(0x80 | (r & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (r >> 18));
	out[1] = (char)(0x80 | ((r >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((r >> 6) & 0x3F));
	out[3] = (char)(0x80 | (r & 0x3F));
	return 4;
}

typedef struct {
	const char *p, *end;
	char err[200];
} jr;

JR_FN int jfail(jr *r, const char *what) {
	if (r->err[0] == '\0') snprintf(r->err, sizeof r->err, "%s", what);
	return -1;
}

JR_FN void jws(jr *r) {
	while (r->p < r->end && (*r->p == ' ' || *r->p == '\t' || *r->p == '\n' || *r->p == '\r')) r->p++;
}

JR_FN int jpeek(jr *r) {
	jws(r);
	return r->p < r->end ? (unsigned char)*r->p : -1;
}

JR_FN int jhex4(const char *p, const char *end, uint32_t *v) {
	if (end - p < 4) return -1;
	*v = 0;
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		int d;
		if (c >= '0' && c <= '9') d = c - '0';
		else if (c >= 'a' && c <= 'f') d = c - 'a' + 10;
		else if (c >= 'A' && c <= 'F') d = c - 'A' + 10;
		else return -1;
		*v = *v << 4 | (uint32_t)d;
	}
	return 0;
}

/* jstring reads a string at r->p (a '"') and decodes it as Go does. */
JR_FN int jstring(jr *r, str *out) {
	if (r->p >= r->end || *r->p != '"') return jfail(r, "want a string");
	r->p++;
	const char *start = r->p;
	/* Check the syntax and find the end first. */
	const char *q = start;
	while (q < r->end && *q != '"') {
		unsigned char c = (unsigned char)*q;
		if (c < 0x20) return jfail(r, "control character in a string");
		if (c == '\\') {
			q++;
			if (q >= r->end) break;
			switch (*q) {
			case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
				break;
			case 'u': {
				uint32_t v;
				if (jhex4(q + 1, r->end, &v) < 0) return jfail(r, "bad \\u escape in a string");
				q += 4;
				break;
			}
			default:
				return jfail(r, "bad escape in a string");
			}
		}
		q++;
	}
	if (q >= r->end) return jfail(r, "unterminated string");
	size_t n = (size_t)(q - start);
	out->p = malloc(3 * n + 1);
	if (out->p == NULL) abort();
	out->n = 0;
	const char *p = start;
	while (p < q) {
		unsigned char c = (unsigned char)*p;
		if (c == '\\') {
			p++;
			char e = *p++;
			switch (e) {
			case 'b': out->p[out->n++] = '\b'; break;
			case 'f': out->p[out->n++] = '\f'; break;
			case 'n': out->p[out->n++] = '\n'; break;
			case 'r': out->p[out->n++] = '\r'; break;
			case 't': out->p[out->n++] = '\t'; break;
			case 'u': {
				uint32_t v, lo;
				jhex4(p, q, &v);
				p += 4;
				if (v >= 0xD800 && v < 0xE000) {
					/* utf16.IsSurrogate: pair it with a following \u low surrogate, else U+FFFD */
					if (v < 0xDC00 && q - p >= 6 && p[0] == '\\' && p[1] == 'u' && jhex4(p + 2, q, &lo) == 0 &&
					    lo >= 0xDC00 && lo < 0xE000) {
						v = 0x10000 + ((v - 0xD800) << 10) + (lo - 0xDC00);
						p += 6;
					} else {
						v = RUNE_ERROR;
					}
				}
				out->n += (size_t)utf8_encode(out->p + out->n, v);
				break;
			}
			default: out->p[out->n++] = e; /* " \ / */
			}
		} else if (c < 0x80) {
			out->p[out->n++] = (char)c;
			p++;
		} else {
			uint32_t v;
			int w = utf8_decode((const unsigned char *)p, (size_t)(q - p), &v);
			if (v == RUNE_ERROR && w == 1) out->n += (size_t)utf8_encode(out->p + out->n, RUNE_ERROR);
			else {
				memcpy(out->p + out->n, p, (size_t)w);
				out->n += (size_t)w;
			}
			p += w;
		}
	}
	out->p[out->n] = '\0';
	r->p = q + 1;
	return 0;
}

JR_FN int jliteral(jr *r, const char *w) {
	size_t n = strlen(w);
	if ((size_t)(r->end - r->p) < n || memcmp(r->p, w, n) != 0) return jfail(r, "invalid JSON literal");
	r->p += n;
	return 0;
}

/* jnumber checks a JSON number at r->p and returns its text. */
JR_FN int jnumber(jr *r, const char **s, size_t *n) {
	const char *q = r->p;
	if (q < r->end && *q == '-') q++;
	if (q >= r->end || *q < '0' || *q > '9') return jfail(r, "invalid JSON value");
	if (*q == '0') q++;
	else
		while (q < r->end && *q >= '0' && *q <= '9') q++;
	if (q < r->end && *q == '.') {
		q++;
		if (q >= r->end || *q < '0' || *q > '9') return jfail(r, "invalid JSON number");
		while (q < r->end && *q >= '0' && *q <= '9') q++;
	}
	if (q < r->end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < r->end && (*q == '+' || *q == '-')) q++;
		if (q >= r->end || *q < '0' || *q > '9') return jfail(r, "invalid JSON number");
		while (q < r->end && *q >= '0' && *q <= '9') q++;
	}
	*s = r->p;
	*n = (size_t)(q - r->p);
	r->p = q;
	return 0;
}

/* key_is matches a decoded object key to a field name as encoding/json
 * does: exactly, or equal under case folding (ASCII letters, and U+017F
 * and U+212A, which fold to 'S' and 'K'). */
JR_FN int key_is(const str *k, const char *name) {
	size_t i = 0, j = 0, nn = strlen(name);
	const unsigned char *u = (const unsigned char *)k->p;
	while (i < k->n && j < nn) {
		char want = name[j];
		if (want >= 'a' && want <= 'z') want -= 'a' - 'A';
		if (u[i] < 0x80) {
			char c = (char)u[i];
			if (c >= 'a' && c <= 'z') c -= 'a' - 'A';
			if (c != want) return 0;
			i++;
		} else if (k->n - i >= 2 && u[i] == 0xC5 && u[i + 1] == 0xBF && want == 'S') {
			i += 2;
		} else if (k->n - i >= 3 && u[i] == 0xE2 && u[i + 1] == 0x84 && u[i + 2] == 0xAA && want == 'K') {
			i += 3;
		} else {
			return 0;
		}
		j++;
	}
	return i == k->n && j == nn;
}

JR_FN const char *jtype(int c) {
	switch (c) {
	case '{': return "object";
	case '[': return "array";
	case '"': return "string";
	case 't': case 'f': return "bool";
	case 'n': return "null";
	}
	return "number";
}

/* is_space is unicode.IsSpace, for bytes.TrimSpace. */
JR_FN int is_space(uint32_t r) {
	switch (r) {
	case '\t': case '\n': case '\v': case '\f': case '\r': case ' ': case 0x85: case 0xA0:
	case 0x1680: case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
		return 1;
	}
	return r >= 0x2000 && r <= 0x200A;
}

JR_FN int only_space(const char *s, size_t n) {
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		uint32_t r;
		int w = utf8_decode(u + i, n - i, &r);
		if (r == RUNE_ERROR && w == 1) return 0;
		if (!is_space(r)) return 0;
		i += (size_t)w;
	}
	return 1;
}

/* jskip_key reads an object's key and the ':' after it, for jskip. */
JR_FN int jskip_key(jr *r) {
	str k;
	if (jpeek(r) != '"' || jstring(r, &k) < 0) return jfail(r, "want a quoted key");
	str_free(&k);
	if (jpeek(r) != ':') return jfail(r, "want ':' after a key");
	r->p++;
	return 0;
}

/* jskip checks any JSON value at r->p (what a json.RawMessage takes),
 * nesting at most 10000 deep like Go's scanner; depth is the nesting
 * already open around it. */
JR_FN int jskip(jr *r, int depth) {
	size_t cap = 16, top = 0;
	char *stack = malloc(cap);
	if (stack == NULL) abort();
	int res = -1;
	for (;;) {
		/* a value */
		int c = jpeek(r);
		if (c == '{' || c == '[') {
			if (depth + (int)top + 1 > 10000) {
				jfail(r, "exceeded max depth");
				goto out;
			}
			if (top == cap) {
				cap *= 2;
				stack = realloc(stack, cap);
				if (stack == NULL) abort();
			}
			stack[top++] = (char)c;
			r->p++;
			int close = c == '{' ? '}' : ']';
			if (jpeek(r) == close) {
				r->p++;
				top--;
			} else {
				if (c == '{' && jskip_key(r) < 0) goto out;
				continue;
			}
		} else if (c == '"') {
			str s;
			if (jstring(r, &s) < 0) goto out;
			str_free(&s);
		} else if (c == 't') {
			if (jliteral(r, "true") < 0) goto out;
		} else if (c == 'f') {
			if (jliteral(r, "false") < 0) goto out;
		} else if (c == 'n') {
			if (jliteral(r, "null") < 0) goto out;
		} else {
			const char *s;
			size_t n;
			if (jnumber(r, &s, &n) < 0) goto out;
		}
		/* after a value: close containers or go on to the next item */
		for (;;) {
			if (top == 0) {
				res = 0;
				goto out;
			}
			c = jpeek(r);
			char open = stack[top - 1];
			if (c == ',') {
				r->p++;
				if (open == '{' && jskip_key(r) < 0) goto out;
				break;
			}
			if ((open == '{' && c == '}') || (open == '[' && c == ']')) {
				r->p++;
				top--;
				continue;
			}
			jfail(r, open == '{' ? "want ',' or '}'" : "want ',' or ']'");
			goto out;
		}
	}
out:
	free(stack);
	return res;
}

/* jraw reads the value at r->p (an object member's) as a json.RawMessage
 * takes it, replacing *text and *raw (a key given twice: the last one
 * wins): *raw is the value as written (NUL-terminated), and *text a
 * string's decoded text (empty for any other value). Until a value is
 * read, raw->p is NULL. */
JR_FN int jraw(jr *r, str *text, str *raw) {
	str_free(text);
	str_free(raw);
	int c = jpeek(r);
	const char *start = r->p;
	if (c == '"' ? jstring(r, text) < 0 : jskip(r, 1) < 0) return -1;
	*raw = str_dup(start, (size_t)(r->p - start));
	return 0;
}

#endif
