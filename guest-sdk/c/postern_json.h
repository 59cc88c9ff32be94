/*
 * postern_json.h: a small, strict JSON reader for C plugins' configuration
 * (what config_get returns). Header-only, no allocation beyond the caller's
 * document, standard C plus wasi-libc.
 *
 * The parser turns the text into a flat array of nodes. Containers know
 * their first child and every node its next sibling, so a plugin walks an
 * object with pj_get or a loop over pj_first/pj_next. Object members are a
 * key node (PJ_STRING) whose child is the value node.
 *
 *   pj_doc d;
 *   if (pj_parse(&d, text, len) != 0) -> d.err says what and where
 *   int ttl = pj_get(&d, 0, "ttl");          node 0 is the root
 *   double secs; pj_number(&d, ttl, &secs);
 *
 * Strict: one value, no trailing commas, no comments, no NaN, strings
 * checked for control bytes and valid escapes, depth and size bounded
 * (PJ_MAX_NODES nodes, PJ_MAX_DEPTH nesting). Duplicate keys: pj_get
 * returns the last one, as Go's encoding/json keeps the last. Bytes that are
 * not valid UTF-8 pass through strings as they are (Go's decoder turns each
 * into U+FFFD).
 */
#ifndef POSTERN_JSON_H
#define POSTERN_JSON_H

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef PJ_MAX_NODES
#define PJ_MAX_NODES 1024
#endif
#define PJ_MAX_DEPTH 32

enum pj_type { PJ_NULL, PJ_FALSE, PJ_TRUE, PJ_NUMBER, PJ_STRING, PJ_ARRAY, PJ_OBJECT };

typedef struct {
	enum pj_type type;
	int child;     /* first child (array item, object key; a key's value), -1 */
	int next;      /* next sibling, -1 */
	int count;     /* items of an array, members of an object */
	const char *s; /* the raw text: a string without its quotes, escapes not decoded */
	int len;
} pj_node;

typedef struct {
	pj_node n[PJ_MAX_NODES];
	int count;
	char err[160];
	const char *src, *p, *end;
} pj_doc;

static inline void pj__ws(pj_doc *d) {
	while (d->p < d->end && (*d->p == ' ' || *d->p == '\t' || *d->p == '\n' || *d->p == '\r')) d->p++;
}

static inline int pj__fail(pj_doc *d, const char *what) {
	snprintf(d->err, sizeof d->err, "%s at offset %d", what, (int)(d->p - d->src));
	return -1;
}

static inline int pj__node(pj_doc *d, enum pj_type t) {
	if (d->count >= PJ_MAX_NODES) return -1;
	int i = d->count++;
	d->n[i].type = t;
	d->n[i].child = d->n[i].next = -1;
	d->n[i].count = 0;
	d->n[i].s = d->p;
	d->n[i].len = 0;
	return i;
}

static inline int pj__hex(char c) {
	if (c >= '0' && c <= '9') return c - '0';
	if (c >= 'a' && c <= 'f') return c - 'a' + 10;
	if (c >= 'A' && c <= 'F') return c - 'A' + 10;
	return -1;
}

static inline int pj__string(pj_doc *d) {
	d->p++; /* the opening quote */
	int i = pj__node(d, PJ_STRING);
	if (i < 0) return pj__fail(d, "configuration too large");
	const char *start = d->p;
	while (d->p < d->end && *d->p != '"') {
		unsigned char c = (unsigned char)*d->p;
		if (c < 0x20) return pj__fail(d, "control character in a string");
		if (c == '\\') {
			d->p++;
			if (d->p >= d->end) break;
			switch (*d->p) {
			case '"': case '\\': case '/': case 'b': case 'f': case 'n': case 'r': case 't':
				break;
			case 'u':
				for (int k = 1; k <= 4; k++)
					if (d->p + k >= d->end || pj__hex(d->p[k]) < 0) return pj__fail(d, "bad \\u escape");
				d->p += 4;
				break;
			default:
				return pj__fail(d, "bad escape in a string");
			}
		}
		d->p++;
	}
	if (d->p >= d->end) return pj__fail(d, "unterminated string");
	d->n[i].s = start;
	d->n[i].len = (int)(d->p - start);
	d->p++;
	return i;
}

static inline int pj__value(pj_doc *d, int depth);

static inline int pj__container(pj_doc *d, int depth, int object) {
	int i = pj__node(d, object ? PJ_OBJECT : PJ_ARRAY);
	if (i < 0) return pj__fail(d, "configuration too large");
	d->p++;
	pj__ws(d);
	char close = object ? '}' : ']';
	if (d->p < d->end && *d->p == close) {
		d->p++;
		return i;
	}
	int last = -1;
	for (;;) {
		int item;
		pj__ws(d);
		if (object) {
			if (d->p >= d->end || *d->p != '"') return pj__fail(d, "want a quoted key");
			item = pj__string(d);
			if (item < 0) return -1;
			pj__ws(d);
			if (d->p >= d->end || *d->p != ':') return pj__fail(d, "want ':' after a key");
			d->p++;
			int v = pj__value(d, depth + 1);
			if (v < 0) return -1;
			d->n[item].child = v;
		} else {
			item = pj__value(d, depth + 1);
			if (item < 0) return -1;
		}
		if (last < 0) d->n[i].child = item;
		else d->n[last].next = item;
		last = item;
		d->n[i].count++;
		pj__ws(d);
		if (d->p < d->end && *d->p == ',') {
			d->p++;
			continue;
		}
		if (d->p < d->end && *d->p == close) {
			d->p++;
			return i;
		}
		return pj__fail(d, object ? "want ',' or '}'" : "want ',' or ']'");
	}
}

static inline int pj__number(pj_doc *d) {
	int i = pj__node(d, PJ_NUMBER);
	if (i < 0) return pj__fail(d, "configuration too large");
	const char *q = d->p;
	if (q < d->end && *q == '-') q++;
	if (q >= d->end || *q < '0' || *q > '9') return pj__fail(d, "bad number");
	if (*q == '0') q++;
	else while (q < d->end && *q >= '0' && *q <= '9') q++;
	if (q < d->end && *q == '.') {
		q++;
		if (q >= d->end || *q < '0' || *q > '9') return pj__fail(d, "bad number");
		while (q < d->end && *q >= '0' && *q <= '9') q++;
	}
	if (q < d->end && (*q == 'e' || *q == 'E')) {
		q++;
		if (q < d->end && (*q == '+' || *q == '-')) q++;
		if (q >= d->end || *q < '0' || *q > '9') return pj__fail(d, "bad number");
		while (q < d->end && *q >= '0' && *q <= '9') q++;
	}
	d->n[i].len = (int)(q - d->p);
	d->p = q;
	return i;
}

static inline int pj__word(pj_doc *d, const char *w, enum pj_type t) {
	size_t n = strlen(w);
	if ((size_t)(d->end - d->p) < n || memcmp(d->p, w, n) != 0) return pj__fail(d, "unexpected text");
	int i = pj__node(d, t);
	if (i < 0) return pj__fail(d, "configuration too large");
	d->n[i].len = (int)n;
	d->p += n;
	return i;
}

static inline int pj__value(pj_doc *d, int depth) {
	if (depth > PJ_MAX_DEPTH) return pj__fail(d, "nested too deep");
	pj__ws(d);
	if (d->p >= d->end) return pj__fail(d, "unexpected end");
	switch (*d->p) {
	case '{': return pj__container(d, depth, 1);
	case '[': return pj__container(d, depth, 0);
	case '"': return pj__string(d);
	case 't': return pj__word(d, "true", PJ_TRUE);
	case 'f': return pj__word(d, "false", PJ_FALSE);
	case 'n': return pj__word(d, "null", PJ_NULL);
	}
	return pj__number(d);
}

/* pj_parse parses len bytes of s into d; node 0 is the root. Returns 0, or
 * -1 with d->err set. s must outlive d (nodes point into it). */
static inline int pj_parse(pj_doc *d, const char *s, int len) {
	d->count = 0;
	d->err[0] = '\0';
	d->src = d->p = s;
	d->end = s + len;
	if (pj__value(d, 0) < 0) return -1;
	pj__ws(d);
	if (d->p != d->end) return pj__fail(d, "text after the value");
	return 0;
}

/* pj_streq reports whether a string node's decoded text equals key (keys
 * with escapes are compared decoded). */
static inline int pj_string(const pj_doc *d, int i, char *buf, int cap);
static inline int pj_streq(const pj_doc *d, int i, const char *key) {
	const pj_node *n = &d->n[i];
	size_t kl = strlen(key);
	if (memchr(n->s, '\\', (size_t)n->len) == NULL) return (size_t)n->len == kl && memcmp(n->s, key, kl) == 0;
	char buf[256];
	int m = pj_string(d, i, buf, sizeof buf);
	return m >= 0 && (size_t)m == kl && memcmp(buf, key, kl) == 0;
}

/* pj_get returns the value node of key in object node obj, or -1 (also
 * when obj is not an object). The last of duplicate keys wins. */
static inline int pj_get(const pj_doc *d, int obj, const char *key) {
	if (obj < 0 || d->n[obj].type != PJ_OBJECT) return -1;
	int found = -1;
	for (int k = d->n[obj].child; k >= 0; k = d->n[k].next)
		if (pj_streq(d, k, key)) found = d->n[k].child;
	return found;
}

/* pj_first and pj_next walk a container: items of an array, key nodes of
 * an object (a key's value is d->n[key].child). -1 ends. */
static inline int pj_first(const pj_doc *d, int c) { return c < 0 ? -1 : d->n[c].child; }
static inline int pj_next(const pj_doc *d, int i) { return i < 0 ? -1 : d->n[i].next; }

static inline int pj__utf8(char *out, uint32_t r) {
	if (r < 0x80) { out[0] = (char)r; return 1; }
	if (r < 0x800) { out[0] = (char)(0xC0 | (r >> 6)); out[1] = (char)(0x80 | (r & 0x3F)); return 2; }
	if (r < 0x10000) {
		out[0] = (char)(0xE0 | (r >> 12)); out[1] = (char)(0x80 | ((r >> 6) & 0x3F)); out[2] = (char)(0x80 | (r & 0x3F));
		return 3;
	}
	out[0] = (char)(0xF0 | (r >> 18)); out[1] = (char)(0x80 | ((r >> 12) & 0x3F));
	out[2] = (char)(0x80 | ((r >> 6) & 0x3F)); out[3] = (char)(0x80 | (r & 0x3F));
	return 4;
}

/* pj_string decodes string node i into buf (NUL-terminated) and returns
 * its length, or -1 when i is not a string or it does not fit in cap-1
 * bytes. Unpaired surrogates decode to U+FFFD, as Go does. */
static inline int pj_string(const pj_doc *d, int i, char *buf, int cap) {
	if (i < 0 || d->n[i].type != PJ_STRING || cap <= 0) return -1;
	const char *p = d->n[i].s, *e = p + d->n[i].len;
	int o = 0;
	while (p < e) {
		char tmp[4];
		int k = 1;
		if (*p != '\\') {
			tmp[0] = *p++;
		} else {
			p++;
			char c = *p++;
			switch (c) {
			case 'b': tmp[0] = '\b'; break;
			case 'f': tmp[0] = '\f'; break;
			case 'n': tmp[0] = '\n'; break;
			case 'r': tmp[0] = '\r'; break;
			case 't': tmp[0] = '\t'; break;
			case 'u': {
				uint32_t r = 0;
				for (int j = 0; j < 4; j++) r = r << 4 | (uint32_t)pj__hex(p[j]);
				p += 4;
				if (r >= 0xD800 && r < 0xDC00 && e - p >= 6 && p[0] == '\\' && p[1] == 'u') {
					uint32_t lo = 0;
					for (int j = 0; j < 4; j++) lo = lo << 4 | (uint32_t)pj__hex(p[2 + j]);
					if (lo >= 0xDC00 && lo < 0xE000) {
						r = 0x10000 + ((r - 0xD800) << 10) + (lo - 0xDC00);
						p += 6;
					} else {
						r = 0xFFFD;
					}
				} else if (r >= 0xD800 && r < 0xE000) {
					r = 0xFFFD;
				}
				k = pj__utf8(tmp, r);
				break;
			}
			default: tmp[0] = c; /* " \ / */
			}
		}
		if (o + k >= cap) return -1;
		memcpy(buf + o, tmp, (size_t)k);
		o += k;
	}
	buf[o] = '\0';
	return o;
}

/* pj_number reads number node i as a double; -1 when it is not a number. */
static inline int pj_number(const pj_doc *d, int i, double *out) {
	if (i < 0 || d->n[i].type != PJ_NUMBER) return -1;
	char buf[64];
	int n = d->n[i].len < 63 ? d->n[i].len : 63;
	memcpy(buf, d->n[i].s, (size_t)n);
	buf[n] = '\0';
	*out = strtod(buf, NULL);
	return 0;
}

/* pj_type_name names a node's JSON type as Go's encoding/json errors do
 * ("string", "number", "object", "array", "bool", "null"). */
static inline const char *pj_type_name(const pj_doc *d, int i) {
	switch (d->n[i].type) {
	case PJ_NULL: return "null";
	case PJ_FALSE: case PJ_TRUE: return "bool";
	case PJ_NUMBER: return "number";
	case PJ_STRING: return "string";
	case PJ_ARRAY: return "array";
	case PJ_OBJECT: return "object";
	}
	return "value";
}

#endif /* POSTERN_JSON_H */
