/*
 * login-normaliser, the C build: the bundled login hook plugin, ported
 * from the Go reference (../config.go, ../normalise.go) so that it behaves
 * identically (../c_test.go runs both in the real host and compares every
 * verdict, field and counter). It rewrites the login into the form the
 * rest of the chain expects: client suffix ("/tb") moved to client_suffix,
 * lower case, domain added or stripped, alias resolved into the account.
 *
 * Build (from the repository root): make c-plugins
 *
 * Go semantics kept here on purpose:
 *   - the configuration is decoded as encoding/json does into the Go
 *     struct: keys matched case-insensitively (with Go's folding of U+017F
 *     and U+212A), unknown keys refused, null resets pointers, maps and
 *     slices, duplicate keys merge maps and replace scalars and lists,
 *     bytes that are not UTF-8 in strings become U+FFFD, trailing text
 *     refused unless it starts with '}' or ']' (Decoder.More);
 *   - lower case is strings.ToLower: unicode.ToLower per rune (the table
 *     below is generated from Go's unicode package), each byte that is not
 *     UTF-8 replaced by U+FFFD; logins that are not UTF-8 are lower-cased
 *     in ASCII only, as the Go fold does.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postern.h"
#include "../../internal/jr/jr.h"
#include "../../internal/golower/golower.h"
#include "../../internal/duration/duration.h"

POSTERN_ABI_VERSION_EXPORT()

typedef struct {
	str k, v;
} pair;

/* Go's string order (bytewise). */
static int str_cmp(const str *a, const str *b) {
	size_t n = a->n < b->n ? a->n : b->n;
	int c = n ? memcmp(a->p, b->p, n) : 0;
	if (c != 0) return c;
	return a->n < b->n ? -1 : a->n > b->n;
}

/* ---- UTF-8 as Go's unicode/utf8 decodes it ---- */

static int utf8_valid(const char *s, size_t n) {
	const unsigned char *u = (const unsigned char *)s;
	for (size_t i = 0; i < n;) {
		uint32_t r;
		int w = utf8_decode(u + i, n - i, &r);
		if (r == RUNE_ERROR && w == 1) return 0;
		i += (size_t)w;
	}
	return 1;
}



static str ascii_lower(const char *s, size_t n) {
	str o = str_dup(s, n);
	for (size_t i = 0; i < n; i++)
		if (o.p[i] >= 'A' && o.p[i] <= 'Z') o.p[i] += 'a' - 'A';
	return o;
}

/* go_lower is strings.ToLower: ASCII strings in ASCII; otherwise each
 * rune through unicode.ToLower, each byte that is not UTF-8 becoming
 * U+FFFD (strings.Map). */
static str go_lower(const char *s, size_t n) {
	size_t i;
	for (i = 0; i < n && (unsigned char)s[i] < 0x80; i++) {
	}
	if (i == n) return ascii_lower(s, n);
	str o;
	o.p = malloc(3 * n + 1); /* a byte becomes at most 3 (U+FFFD); a rune never grows more */
	if (o.p == NULL) abort();
	o.n = 0;
	const unsigned char *u = (const unsigned char *)s;
	for (i = 0; i < n;) {
		uint32_t r;
		int w = utf8_decode(u + i, n - i, &r);
		o.n += (size_t)utf8_encode(o.p + o.n, golower_rune(r));
		i += (size_t)w;
	}
	o.p[o.n] = '\0';
	return o;
}

/* ---- configuration ---- */

static int lowercase = 1;
static str default_domain;
static pair *by_listener, *by_sni, *aliases; /* by_sni keys lower case; alias keys folded */
static int n_listener, n_sni, n_aliases;
static str *strip; /* lower case */
static int n_strip;
static str *suffixes; /* lower case */
static int n_suffixes;
static int max_length = 256;
static int64_t reuse_ns = DURATION_DEFAULT_REUSE_NS; /* duration.DefaultReuse: the decision reuse init declares (ABI 1.2) */

static const char *const default_suffixes[] = {"tb", "wm", "ni"};

/* fold lower-cases a login when configured to: Unicode lower case for
 * valid UTF-8, ASCII only otherwise. */
static str fold(const char *s, size_t n) {
	if (!lowercase) return str_dup(s, n);
	if (utf8_valid(s, n)) return go_lower(s, n);
	return ascii_lower(s, n);
}

/* The configuration as decoded from JSON, before checking (rawConfig). */
typedef struct {
	str *items;
	int len, written, cap; /* written: elements of the backing array a decode filled */
	int set;               /* non-nil (for *[]string) */
} rlist;

typedef struct {
	pair *items;
	int len, cap;
} rmap;

typedef struct {
	int lowercase_set, lowercase;
	str default_domain;
	rmap listener, sni, aliases;
	rlist strip, suffixes;
	int max_length_set;
	long long max_length;
	/* "reuse", a json.RawMessage (jraw): a string's decoded text
	   (reuse_text), and the value as written (reuse_raw; p NULL: not given) */
	str reuse_text, reuse_raw;
} raw_config;

static void rlist_free(rlist *l) {
	for (int i = 0; i < l->written; i++) str_free(&l->items[i]);
	free(l->items);
	memset(l, 0, sizeof *l);
}

static void rmap_free(rmap *m) {
	for (int i = 0; i < m->len; i++) {
		str_free(&m->items[i].k);
		str_free(&m->items[i].v);
	}
	free(m->items);
	memset(m, 0, sizeof *m);
}

/* rmap_put sets k (taken) to v (taken), replacing an existing value. */
static void rmap_put(rmap *m, str k, str v) {
	for (int i = 0; i < m->len; i++)
		if (str_eq(m->items[i].k.p, m->items[i].k.n, k.p, k.n)) {
			str_free(&m->items[i].v);
			m->items[i].v = v;
			str_free(&k);
			return;
		}
	if (m->len == m->cap) {
		m->cap = m->cap ? 2 * m->cap : 4;
		m->items = realloc(m->items, (size_t)m->cap * sizeof *m->items);
		if (m->items == NULL) abort();
	}
	m->items[m->len].k = k;
	m->items[m->len].v = v;
	m->len++;
}

/* ---- the configuration's values with encoding/json's decoding rules (the reader: ../../internal/jr/jr.h) ---- */

static void type_error(jr *r, const char *key, const char *got) {
	char b[160];
	snprintf(b, sizeof b, "%s: JSON %s is not the expected type", key, got);
	jfail(r, b);
}

/* jstring_value reads a string value into *dst (replacing it); null
 * leaves it as it is. */
static int jstring_value(jr *r, const char *key, str *dst) {
	int c = jpeek(r);
	if (c == 'n') return jliteral(r, "null");
	if (c != '"') {
		type_error(r, key, jtype(c));
		return -1;
	}
	str s;
	if (jstring(r, &s) < 0) return -1;
	str_free(dst);
	*dst = s;
	return 0;
}

/* jmap reads an object of strings into m (merging, as Go fills an
 * existing map); null empties it. A null value is "". */
static int jmap(jr *r, const char *key, rmap *m) {
	int c = jpeek(r);
	if (c == 'n') {
		rmap_free(m);
		return jliteral(r, "null");
	}
	if (c != '{') {
		type_error(r, key, jtype(c));
		return -1;
	}
	r->p++;
	if (jpeek(r) == '}') {
		r->p++;
		return 0;
	}
	for (;;) {
		if (jpeek(r) != '"') return jfail(r, "want a quoted key");
		str k, v = {NULL, 0};
		if (jstring(r, &k) < 0) return -1;
		if (jpeek(r) != ':') {
			str_free(&k);
			return jfail(r, "want ':' after a key");
		}
		r->p++;
		char sub[200];
		snprintf(sub, sizeof sub, "%s", key);
		if (jstring_value(r, sub, &v) < 0) {
			str_free(&k);
			str_free(&v);
			return -1;
		}
		if (v.p == NULL) v = str_dup("", 0);
		rmap_put(m, k, v);
		c = jpeek(r);
		if (c == ',') {
			r->p++;
			continue;
		}
		if (c == '}') {
			r->p++;
			return 0;
		}
		return jfail(r, "want ',' or '}'");
	}
}

/* jlist reads an array of strings into l as Go fills a slice: the length
 * restarts at 0, the backing array is kept, so a null item keeps what an
 * earlier decode wrote there ("" otherwise); null makes the list nil. */
static int jlist(jr *r, const char *key, rlist *l) {
	int c = jpeek(r);
	if (c == 'n') {
		rlist_free(l);
		return jliteral(r, "null");
	}
	if (c != '[') {
		type_error(r, key, jtype(c));
		return -1;
	}
	r->p++;
	l->set = 1;
	l->len = 0;
	if (jpeek(r) == ']') {
		r->p++;
		return 0;
	}
	for (;;) {
		int i = l->len;
		if (i == l->written) {
			if (l->written == l->cap) {
				l->cap = l->cap ? 2 * l->cap : 4;
				l->items = realloc(l->items, (size_t)l->cap * sizeof *l->items);
				if (l->items == NULL) abort();
			}
			l->items[l->written++] = str_dup("", 0);
		}
		if (jstring_value(r, key, &l->items[i]) < 0) return -1;
		l->len = i + 1;
		c = jpeek(r);
		if (c == ',') {
			r->p++;
			continue;
		}
		if (c == ']') {
			r->p++;
			return 0;
		}
		return jfail(r, "want ',' or ']'");
	}
}

static int jbool_ptr(jr *r, const char *key, int *set, int *val) {
	int c = jpeek(r);
	if (c == 'n') {
		*set = 0;
		return jliteral(r, "null");
	}
	if (c == 't' || c == 'f') {
		if (jliteral(r, c == 't' ? "true" : "false") < 0) return -1;
		*set = 1;
		*val = c == 't';
		return 0;
	}
	type_error(r, key, jtype(c));
	return -1;
}

/* jint_ptr reads a number into a Go *int (int64 on wasm): strconv.ParseInt
 * of the text, so "1.0" and "1e2" are type errors. */
static int jint_ptr(jr *r, const char *key, int *set, long long *val) {
	int c = jpeek(r);
	if (c == 'n') {
		*set = 0;
		return jliteral(r, "null");
	}
	if (c == '{' || c == '[' || c == '"' || c == 't' || c == 'f') {
		type_error(r, key, jtype(c));
		return -1;
	}
	const char *s;
	size_t n;
	if (jnumber(r, &s, &n) < 0) return -1;
	int neg = s[0] == '-';
	unsigned long long v = 0;
	for (size_t i = neg; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') {
			type_error(r, key, "number");
			return -1;
		}
		unsigned long long d = (unsigned long long)(s[i] - '0');
		if (v > (9223372036854775808ULL - d) / 10) {
			type_error(r, key, "number");
			return -1;
		}
		v = v * 10 + d;
	}
	if (!neg && v > 9223372036854775807ULL) {
		type_error(r, key, "number");
		return -1;
	}
	*set = 1;
	*val = neg ? (long long)(0 - v) : (long long)v;
	return 0;
}

static int unknown_key(jr *r, const str *k) {
	char b[200];
	snprintf(b, sizeof b, "json: unknown field \"%.*s\"", (int)(k->n > 120 ? 120 : k->n), k->p);
	return jfail(r, b);
}

static int jdomains(jr *r, raw_config *rc) {
	int c = jpeek(r);
	if (c == 'n') return jliteral(r, "null"); /* a struct: null does nothing */
	if (c != '{') {
		type_error(r, "domains", jtype(c));
		return -1;
	}
	r->p++;
	if (jpeek(r) == '}') {
		r->p++;
		return 0;
	}
	for (;;) {
		if (jpeek(r) != '"') return jfail(r, "want a quoted key");
		str k;
		if (jstring(r, &k) < 0) return -1;
		if (jpeek(r) != ':') {
			str_free(&k);
			return jfail(r, "want ':' after a key");
		}
		r->p++;
		int rc2;
		if (key_is(&k, "listener")) rc2 = jmap(r, "domains.listener", &rc->listener);
		else if (key_is(&k, "sni")) rc2 = jmap(r, "domains.sni", &rc->sni);
		else rc2 = unknown_key(r, &k);
		str_free(&k);
		if (rc2 < 0) return -1;
		c = jpeek(r);
		if (c == ',') {
			r->p++;
			continue;
		}
		if (c == '}') {
			r->p++;
			return 0;
		}
		return jfail(r, "want ',' or '}'");
	}
}

static int jconfig(jr *r, raw_config *rc) {
	int c = jpeek(r);
	if (c == 'n') return jliteral(r, "null"); /* Go decodes null into the struct as nothing */
	if (c != '{') {
		if (c < 0) return jfail(r, "unexpected end of JSON input");
		char b[120];
		snprintf(b, sizeof b, "the configuration must be a JSON object, got JSON %s", jtype(c));
		return jfail(r, b);
	}
	r->p++;
	if (jpeek(r) == '}') {
		r->p++;
		return 0;
	}
	for (;;) {
		if (jpeek(r) != '"') return jfail(r, "want a quoted key");
		str k;
		if (jstring(r, &k) < 0) return -1;
		if (jpeek(r) != ':') {
			str_free(&k);
			return jfail(r, "want ':' after a key");
		}
		r->p++;
		int rc2;
		if (key_is(&k, "lowercase")) rc2 = jbool_ptr(r, "lowercase", &rc->lowercase_set, &rc->lowercase);
		else if (key_is(&k, "default_domain")) rc2 = jstring_value(r, "default_domain", &rc->default_domain);
		else if (key_is(&k, "domains")) rc2 = jdomains(r, rc);
		else if (key_is(&k, "strip_domains")) rc2 = jlist(r, "strip_domains", &rc->strip);
		else if (key_is(&k, "aliases")) rc2 = jmap(r, "aliases", &rc->aliases);
		else if (key_is(&k, "suffixes")) rc2 = jlist(r, "suffixes", &rc->suffixes);
		else if (key_is(&k, "max_length")) rc2 = jint_ptr(r, "max_length", &rc->max_length_set, &rc->max_length);
		else if (key_is(&k, "reuse")) rc2 = jraw(r, &rc->reuse_text, &rc->reuse_raw);
		else rc2 = unknown_key(r, &k);
		str_free(&k);
		if (rc2 < 0) return -1;
		c = jpeek(r);
		if (c == ',') {
			r->p++;
			continue;
		}
		if (c == '}') {
			r->p++;
			return 0;
		}
		return jfail(r, "want ',' or '}'");
	}
}

/* ---- checking (parse in ../config.go) ---- */

static char errbuf[400];

static int fail(const char *fmt, const char *a, size_t an, const char *b, size_t bn) {
	/* Values are quoted with at most 120 bytes each; %.*s stops at NUL. */
	snprintf(errbuf, sizeof errbuf, fmt, (int)(an > 120 ? 120 : an), a ? a : "", (int)(bn > 120 ? 120 : bn),
	         b ? b : "");
	return -1;
}

/* check_domain is domain(): "" only when may_be_empty; one leading '@'
 * dropped; no '@', '/', spaces or control characters. *out is a slice of
 * d (not a copy). */
static int check_domain(const char *key, const str *d, int may_be_empty, const char **out, size_t *outn) {
	*out = d->p;
	*outn = d->n;
	if (d->n == 0) {
		if (may_be_empty) return 0;
		return fail("%.*s: empty; give a domain (\"example.com\")%.*s", key, strlen(key), NULL, 0);
	}
	const char *p = d->p;
	size_t n = d->n;
	if (p[0] == '@') {
		p++;
		n--;
	}
	*out = p;
	*outn = n;
	int bad = n == 0 || memchr(p, '@', n) != NULL || memchr(p, '/', n) != NULL || !utf8_valid(p, n);
	for (size_t i = 0; !bad && i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c <= ' ' || c == 0x7f) bad = 1;
	}
	if (bad) return fail("%.*s: \"%.*s\" is not a domain (\"example.com\")", key, strlen(key), p, n);
	return 0;
}

static int pair_cmp(const void *a, const void *b) { return str_cmp(&((const pair *)a)->k, &((const pair *)b)->k); }

static int in_strip(const char *d, size_t n) {
	str l = go_lower(d, n);
	int found = 0;
	for (int i = 0; i < n_strip && !found; i++) found = str_eq(strip[i].p, strip[i].n, l.p, l.n);
	str_free(&l);
	return found;
}

static int added_stripped(const char *key, const str *d) {
	if (d->n > 0 && in_strip(d->p, d->n))
		return fail("%.*s: \"%.*s\" is also in strip_domains; a domain is either added or stripped", key, strlen(key),
		            d->p, d->n);
	return 0;
}

/* apply turns the decoded configuration into the settings (parse). */
static int apply(raw_config *rc) {
	char key[300];
	const char *d;
	size_t dn;
	lowercase = !rc->lowercase_set || rc->lowercase;
	if (rc->max_length_set) {
		if (rc->max_length < 1 || rc->max_length > 65536) {
			snprintf(errbuf, sizeof errbuf, "max_length: %lld is outside 1..65536", rc->max_length);
			return -1;
		}
		max_length = (int)rc->max_length;
	}
	if (rc->reuse_raw.p != NULL) {
		/* duration.ParseReuse: duration.Parse, then 0..1h */
		int64_t d;
		const str *t = &rc->reuse_text, *raw = &rc->reuse_raw;
		if (duration_parse(t->p, t->n, raw->p, raw->n, "reuse", "5s", "500ms", 120, errbuf, sizeof errbuf, &d) < 0 ||
		    duration_check_reuse(d, DURATION_IS_OUTSIDE, "", raw->p, (int)(raw->n > 120 ? 120 : raw->n), errbuf,
		                         sizeof errbuf) < 0)
			return -1;
		reuse_ns = d;
	}
	if (check_domain("default_domain", &rc->default_domain, 1, &d, &dn) < 0) return -1;
	default_domain = str_dup(d, dn);

	qsort(rc->listener.items, (size_t)rc->listener.len, sizeof(pair), pair_cmp);
	by_listener = calloc((size_t)rc->listener.len + 1, sizeof(pair));
	for (int i = 0; i < rc->listener.len; i++) {
		pair *p = &rc->listener.items[i];
		snprintf(key, sizeof key, "domains.listener.%.*s", (int)(p->k.n > 120 ? 120 : p->k.n), p->k.p);
		if (check_domain(key, &p->v, 0, &d, &dn) < 0) return -1;
		by_listener[n_listener].k = str_dup(p->k.p, p->k.n);
		by_listener[n_listener].v = str_dup(d, dn);
		n_listener++;
	}

	qsort(rc->sni.items, (size_t)rc->sni.len, sizeof(pair), pair_cmp);
	by_sni = calloc((size_t)rc->sni.len + 1, sizeof(pair));
	for (int i = 0; i < rc->sni.len; i++) {
		pair *p = &rc->sni.items[i];
		snprintf(key, sizeof key, "domains.sni.%.*s", (int)(p->k.n > 120 ? 120 : p->k.n), p->k.p);
		if (check_domain(key, &p->v, 0, &d, &dn) < 0) return -1;
		size_t kn = p->k.n;
		if (kn > 0 && p->k.p[kn - 1] == '.') kn--;
		str lk = go_lower(p->k.p, kn);
		int j;
		for (j = 0; j < n_sni && !str_eq(by_sni[j].k.p, by_sni[j].k.n, lk.p, lk.n); j++) {
		}
		if (j < n_sni) { /* a later name (in Go's sorted order) that reads the same wins */
			str_free(&lk);
			str_free(&by_sni[j].v);
			by_sni[j].v = str_dup(d, dn);
		} else {
			by_sni[n_sni].k = lk;
			by_sni[n_sni].v = str_dup(d, dn);
			n_sni++;
		}
	}

	strip = calloc((size_t)rc->strip.len + 1, sizeof(str));
	for (int i = 0; i < rc->strip.len; i++) {
		snprintf(key, sizeof key, "strip_domains[%d]", i);
		if (check_domain(key, &rc->strip.items[i], 0, &d, &dn) < 0) return -1;
		str l = go_lower(d, dn);
		int j;
		for (j = 0; j < n_strip && !str_eq(strip[j].p, strip[j].n, l.p, l.n); j++) {
		}
		if (j < n_strip) str_free(&l);
		else strip[n_strip++] = l;
	}

	/* A domain both added and stripped would flip the login on every pass. */
	if (added_stripped("default_domain", &default_domain) < 0) return -1;
	for (int i = 0; i < n_listener; i++) {
		snprintf(key, sizeof key, "domains.listener.%.*s", (int)(by_listener[i].k.n > 120 ? 120 : by_listener[i].k.n),
		         by_listener[i].k.p);
		if (added_stripped(key, &by_listener[i].v) < 0) return -1;
	}
	for (int i = 0; i < n_sni; i++) {
		snprintf(key, sizeof key, "domains.sni.%.*s", (int)(by_sni[i].k.n > 120 ? 120 : by_sni[i].k.n), by_sni[i].k.p);
		if (added_stripped(key, &by_sni[i].v) < 0) return -1;
	}

	if (rc->suffixes.set) {
		suffixes = calloc((size_t)rc->suffixes.len + 1, sizeof(str));
		for (int i = 0; i < rc->suffixes.len; i++) {
			const str *s = &rc->suffixes.items[i];
			int bad = s->n == 0 || !utf8_valid(s->p, s->n);
			for (size_t j = 0; !bad && j < s->n; j++) bad = strchr("/@ \t\r\n", s->p[j]) != NULL && s->p[j] != '\0';
			if (bad) {
				snprintf(errbuf, sizeof errbuf, "suffixes[%d]: \"%.*s\": want a suffix without '/', '@' or spaces (\"tb\")",
				         i, (int)(s->n > 120 ? 120 : s->n), s->p);
				return -1;
			}
			suffixes[n_suffixes++] = go_lower(s->p, s->n);
		}
	} else {
		suffixes = calloc(3, sizeof(str));
		for (int i = 0; i < 3; i++) suffixes[n_suffixes++] = str_dup(default_suffixes[i], 2);
	}

	aliases = calloc((size_t)rc->aliases.len + 1, sizeof(pair));
	for (int i = 0; i < rc->aliases.len; i++) {
		pair *p = &rc->aliases.items[i];
		if (p->k.n == 0 || p->v.n == 0)
			return fail("aliases: \"%.*s\": \"%.*s\": neither side may be empty", p->k.p, p->k.n, p->v.p, p->v.n);
		if (memchr(p->v.p, '\r', p->v.n) || memchr(p->v.p, '\n', p->v.n) || memchr(p->v.p, '\0', p->v.n))
			return fail("aliases.%.*s: the account contains CR, LF or NUL%.*s", p->k.p, p->k.n, NULL, 0);
		str fk = fold(p->k.p, p->k.n);
		int j;
		for (j = 0; j < n_aliases && !str_eq(aliases[j].k.p, aliases[j].k.n, fk.p, fk.n); j++) {
		}
		if (j < n_aliases) {
			int same = str_eq(aliases[j].v.p, aliases[j].v.n, p->v.p, p->v.n);
			if (!same) {
				fail("aliases.%.*s: two aliases read as \"%.*s\" once lower-cased, with different accounts", p->k.p,
				     p->k.n, fk.p, fk.n);
				str_free(&fk);
				return -1;
			}
			str_free(&fk);
		} else {
			aliases[n_aliases].k = fk;
			aliases[n_aliases].v = str_dup(p->v.p, p->v.n);
			n_aliases++;
		}
	}
	return 0;
}

static void raw_free(raw_config *rc) {
	str_free(&rc->default_domain);
	rmap_free(&rc->listener);
	rmap_free(&rc->sni);
	rmap_free(&rc->aliases);
	rlist_free(&rc->strip);
	rlist_free(&rc->suffixes);
	str_free(&rc->reuse_text);
	str_free(&rc->reuse_raw);
}

/* parse_config decodes text as ../config.go's parse: 0, or -1 with errbuf
 * set. */
static int parse_config(const char *text, size_t n) {
	raw_config rc;
	memset(&rc, 0, sizeof rc);
	errbuf[0] = '\0';
	int res = 0;
	if (!only_space(text, n)) {
		jr r;
		r.p = text;
		r.end = text + n;
		r.err[0] = '\0';
		if (jconfig(&r, &rc) < 0) {
			snprintf(errbuf, sizeof errbuf, "%s", r.err[0] ? r.err : "invalid JSON");
			res = -1;
		} else {
			/* Decoder.More: more data unless the next byte ends a container */
			int c = jpeek(&r);
			if (c >= 0 && c != '}' && c != ']') {
				snprintf(errbuf, sizeof errbuf, "trailing data after the JSON object");
				res = -1;
			}
		}
	}
	if (res == 0) res = apply(&rc);
	raw_free(&rc);
	return res;
}

POSTERN_EXPORT("postern_init") int32_t init(void) {
	char *text;
	int32_t n = postern_config_dup(&text);
	if (n < 0) {
		postern_set_message("login-normaliser: config: cannot read the configuration");
		return POSTERN_INIT_REFUSE;
	}
	int res = parse_config(text, (size_t)n);
	free(text);
	if (res < 0) {
		char msg[460];
		snprintf(msg, sizeof msg, "login-normaliser: config: %s", errbuf);
		postern_set_message(msg);
		return POSTERN_INIT_REFUSE;
	}
	/* An empty login has nothing to normalise: anonymous web requests
	 * never enter the plugin (ABI 1.1 request filter; a 1.0 host answers
	 * ErrUnknownField and the hook counts "empty" itself). */
	postern_only_with_login();
	/* The decision reuse (ABI 1.2; normalise.go, duration.DeclareReuse). */
	if (duration_declare_reuse("login-normaliser", reuse_ns) < 0) return POSTERN_INIT_REFUSE;
	return POSTERN_INIT_OK;
}

/* ---- the hook (normalise.go) ---- */

static str read_field(int32_t field) {
	char *p;
	int32_t n = postern_field_dup(field, &p);
	str s = {NULL, 0};
	if (n < 0) return str_dup("", 0);
	s.p = p;
	s.n = (size_t)n;
	return s;
}

static void count(const char *name) { postern_counter_add(name, (uint32_t)strlen(name), 1); }

static const pair *lookup_pair(const pair *m, int n, const char *k, size_t kn) {
	for (int i = 0; i < n; i++)
		if (str_eq(m[i].k.p, m[i].k.n, k, kn)) return &m[i];
	return NULL;
}

/* domain_for is the domain to add: by SNI name, else by listener, else
 * the default ("" for none). */
static const str *domain_for(const str *listener, const str *sni) {
	if (sni->n > 0) {
		size_t n = sni->n;
		if (sni->p[n - 1] == '.') n--;
		str l = go_lower(sni->p, n);
		const pair *p = lookup_pair(by_sni, n_sni, l.p, l.n);
		str_free(&l);
		if (p != NULL) return &p->v;
	}
	const pair *p = lookup_pair(by_listener, n_listener, listener->p, listener->n);
	if (p != NULL) return &p->v;
	return &default_domain;
}

POSTERN_EXPORT("postern_hook_login") int32_t hook_login(void) {
	str orig = read_field(POSTERN_FIELD_LOGIN);
	str acct = read_field(POSTERN_FIELD_ACCOUNT); /* reads as login unless a plugin set it */
	str listener = read_field(POSTERN_FIELD_LISTENER);
	str sni = read_field(POSTERN_FIELD_SNI);
	str l = {NULL, 0};
	const char *suffix = NULL;
	size_t suffix_n = 0;
	const pair *alias = NULL;

	if (orig.n == 0) {
		count("empty");
		goto out;
	}
	if (orig.n > (size_t)max_length) {
		count("too_long");
		goto out;
	}

	/* 1. A client suffix at the very end: "bob@example.com/tb", only when
	 * something is left before it. */
	size_t cut = orig.n;
	{
		const char *slash = NULL;
		for (size_t i = orig.n; i > 0; i--)
			if (orig.p[i - 1] == '/') {
				slash = orig.p + i - 1;
				break;
			}
		if (slash != NULL && slash > orig.p) {
			size_t i = (size_t)(slash - orig.p);
			str suf = ascii_lower(slash + 1, orig.n - i - 1);
			for (int k = 0; k < n_suffixes; k++)
				if (str_eq(suf.p, suf.n, suffixes[k].p, suffixes[k].n)) {
					cut = i;
					suffix = suffixes[k].p;
					suffix_n = suffixes[k].n;
					count("suffix_stripped");
					break;
				}
			str_free(&suf);
		}
	}

	/* 2. Lower case. */
	l = fold(orig.p, cut);

	/* 3. The domain, after the last '@'. */
	{
		size_t at = l.n;
		for (size_t i = l.n; i > 0; i--)
			if (l.p[i - 1] == '@') {
				at = i - 1;
				break;
			}
		if (at == l.n || (at == l.n - 1 && at > 0)) {
			const str *d = domain_for(&listener, &sni);
			if (d->n > 0) {
				str fd = fold(d->p, d->n);
				size_t base = l.n;
				if (base > 0 && l.p[base - 1] == '@') base--;
				char *nl = malloc(base + 1 + fd.n + 1);
				if (nl == NULL) abort();
				memcpy(nl, l.p, base);
				nl[base] = '@';
				memcpy(nl + base + 1, fd.p, fd.n);
				nl[base + 1 + fd.n] = '\0';
				str_free(&l);
				l.p = nl;
				l.n = base + 1 + fd.n;
				str_free(&fd);
				count("domain_added");
			}
		} else if (at > 0 && in_strip(l.p + at + 1, l.n - at - 1)) {
			l.n = at;
			l.p[at] = '\0';
			count("domain_stripped");
		}
	}

	/* 4. The alias gives the account. */
	alias = lookup_pair(aliases, n_aliases, l.p, l.n);
	if (alias != NULL) count("aliased");

	if (!str_eq(l.p, l.n, orig.p, orig.n)) {
		int32_t err = postern_field_set(POSTERN_FIELD_LOGIN, l.p, (uint32_t)l.n);
		if (err < 0) {
			char msg[160];
			snprintf(msg, sizeof msg,
			         "login-normaliser: the host refused the normalised login (error %d); the login goes on unchanged",
			         (int)err);
			postern_log_str(POSTERN_LEVEL_WARN, msg);
			goto out;
		}
		count("changed");
	}
	if (suffix_n > 0) postern_field_set(POSTERN_FIELD_CLIENT_SUFFIX, suffix, (uint32_t)suffix_n);
	if (alias != NULL) {
		postern_field_set(POSTERN_FIELD_ACCOUNT, alias->v.p, (uint32_t)alias->v.n);
	} else if (str_eq(acct.p, acct.n, orig.p, orig.n) && !str_eq(l.p, l.n, orig.p, orig.n)) {
		/* The account followed the login; keep it following. */
		postern_field_set(POSTERN_FIELD_ACCOUNT, l.p, (uint32_t)l.n);
	}
out:
	str_free(&l);
	str_free(&orig);
	str_free(&acct);
	str_free(&listener);
	str_free(&sni);
	return POSTERN_VERDICT_CONTINUE;
}
