/*
 * gore.h: Go's regexp (RE2 syntax, regexp.Compile) for the bundled
 * plugins' C ports, as far as it can be kept exact without Unicode tables.
 * Header only, standard C plus wasi-libc; include it after jr.h (it uses
 * utf8_decode).
 *
 * What it is:
 *   - a parser of Go's syntax with regexp.Compile's flags (syntax.Perl):
 *     literals, ., [...] [^...] with ranges and escapes, \d \w \s \D \W \S,
 *     [[:alpha:]] and the other ASCII classes, ^ $ \A \z \b \B, groups
 *     (...) (?:...) (?P<name>...) (?<name>...), flags (?i) (?m) (?s) (?U)
 *     and (?flags:...), | * + ? {n} {n,} {n,m} and their lazy forms,
 *     \x41 \x{263a} \101 \a \f \n \r \t \v, \Q...\E, the repeat limit
 *     1000; its errors are regexp.Compile's, word for word
 *     ("error parsing regexp: missing closing ): `(a`");
 *   - a compiler that follows regexp/syntax's (the same program shape,
 *     Simplify's repeat expansion, (f1+)? for a star of something that can
 *     match empty), so that submatch priorities are Go's;
 *   - a Pike VM (Russ Cox, "Regular Expression Matching: the Virtual
 *     Machine Approach"): threads in priority order, each with its capture
 *     positions, one step per rune, no backtracking: time O(pattern x
 *     text), memory fixed at compile time. Leftmost-first, as Go's
 *     FindStringSubmatchIndex. Text is decoded as Go decodes it: UTF-8
 *     runes, a byte that does not start a valid encoding is one rune
 *     U+FFFD of width 1.
 *
 * What it refuses (gore_compile fails with c_only set, so the caller can
 * say to use the Go build), rather than behave differently:
 *   - Unicode classes \p{Greek} \pL \P{...};
 *   - (?i) on non-ASCII characters (folding needs Unicode's tables; ASCII
 *     folds as Go does, with K and S also matching U+212A and U+017F);
 *   - groups nested deeper than GORE_MAX_DEPTH, programs over
 *     GORE_MAX_INST instructions, and capture state over GORE_MAX_STATE
 *     slots (instructions x capture slots), which bound the VM's memory.
 */
#ifndef POSTERN_GORE_H
#define POSTERN_GORE_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define GORE_FN static __attribute__((unused))

#define GORE_MAX_DEPTH 100
#define GORE_MAX_INST 20000
#define GORE_MAX_STATE (1 << 17)
#define GORE_MAX_RUNE 0x10FFFFu

/* flags (regexp/syntax's, the ones Perl mode uses) */
#define GF_FOLD 1
#define GF_ONELINE 2 /* cleared by (?m) */
#define GF_DOTNL 4
#define GF_NONGREEDY 8

enum { GN_EMPTY, GN_STR, GN_CLASS, GN_ANY, GN_ANYNL, GN_BOL, GN_EOL, GN_BOT, GN_EOT, GN_WB, GN_NWB,
       GN_CAP, GN_STAR, GN_PLUS, GN_QUEST, GN_REP, GN_CAT, GN_ALT };

typedef struct {
	uint8_t op, fold, ng;
	int32_t min, max, cap;
	int32_t off, len; /* GN_STR: runes[off..off+len); GN_CLASS: ranges[off..off+len) (pairs) */
	int32_t sub, next; /* first child, next sibling (-1) */
} gore_node;

enum { GI_FAIL, GI_MATCH, GI_RUNE, GI_ALT, GI_CAP, GI_EMPTY, GI_NOP };
#define GE_BOL 1
#define GE_EOL 2
#define GE_BOT 4
#define GE_EOT 8
#define GE_WB 16
#define GE_NWB 32

typedef struct {
	uint8_t op;
	uint32_t out, arg;
	int32_t off, len; /* GI_RUNE: ranges */
} gore_inst;

typedef struct {
	/* the program */
	gore_inst *inst;
	int ninst;
	uint32_t *ranges; /* rune ranges of GI_RUNE, [lo, hi] pairs, sorted */
	int nranges;
	uint32_t start;
	int anchored; /* starts with \A: only a match at 0 */
	int ngroups;  /* NumSubexp */
	char **names; /* [ngroups+1], "" for unnamed */
	/* the literal path prefix (syntax.Parse, Simplify: the unfolded
	   literals right after a leading \A) */
	char *prefix;
	size_t prefix_len;
} gore;

/* ---- parser state ---- */

typedef struct {
	const char *whole, *p, *end;
	int flags;
	gore_node *nodes;
	int nn, cn;
	uint32_t *runes; /* GN_STR runes and GN_CLASS ranges */
	int nr, cr;
	int ncap;
	char **names;
	int cnames;
	int depth;
	char *err;
	size_t errn;
	int c_only;
	int failed;
} gore_p;

GORE_FN void *gore__grow(void *p, int *cap, int need, size_t size) {
	if (need <= *cap) return p;
	int c = *cap ? *cap : 16;
	while (c < need) c *= 2;
	p = realloc(p, (size_t)c * size);
	if (p == NULL) abort();
	*cap = c;
	return p;
}

GORE_FN int gore__node(gore_p *g, int op) {
	g->nodes = gore__grow(g->nodes, &g->cn, g->nn + 1, sizeof(gore_node));
	gore_node *n = &g->nodes[g->nn];
	memset(n, 0, sizeof *n);
	n->op = (uint8_t)op;
	n->sub = n->next = -1;
	n->off = -1;
	return g->nn++;
}

GORE_FN int32_t gore__runes(gore_p *g, const uint32_t *r, int n) {
	g->runes = gore__grow(g->runes, &g->cr, g->nr + n + 1, sizeof(uint32_t));
	int32_t off = g->nr;
	if (n > 0) memcpy(g->runes + off, r, (size_t)n * sizeof(uint32_t));
	g->nr += n;
	return off;
}

/* errors: Go's text, "error parsing regexp: <code>: `<expr>`" */
GORE_FN int gore__err(gore_p *g, const char *code, const char *expr, size_t n) {
	if (g->failed) return -1;
	g->failed = 1;
	snprintf(g->err, g->errn, "error parsing regexp: %s: `%.*s`", code, (int)(n > 200 ? 200 : n), expr);
	return -1;
}

GORE_FN int gore__conly(gore_p *g, const char *fmt, const char *a, size_t an) {
	if (g->failed) return -1;
	g->failed = 1;
	g->c_only = 1;
	snprintf(g->err, g->errn, fmt, (int)(an > 100 ? 100 : an), a);
	return -1;
}

/* nextRune: decode one rune; invalid UTF-8 is an error (Go's nextRune). An
   empty string gives 0xFFFD with width 0, no error, as Go's does. */
GORE_FN int gore__next(gore_p *g, const char *s, uint32_t *r) {
	if (s >= g->end) {
		*r = 0xFFFD;
		return 0;
	}
	int w = utf8_decode((const unsigned char *)s, (size_t)(g->end - s), r);
	if (*r == 0xFFFD && w == 1) {
		gore__err(g, "invalid UTF-8", s, (size_t)(g->end - s));
		return -1;
	}
	return w;
}

/* ---- character classes: [lo, hi] pairs ---- */

typedef struct {
	uint32_t *r;
	int n, cap; /* n: number of uint32 */
} gcls;

GORE_FN void gcls_add(gcls *c, uint32_t lo, uint32_t hi) {
	c->r = gore__grow(c->r, &c->cap, c->n + 2, sizeof(uint32_t));
	c->r[c->n++] = lo;
	c->r[c->n++] = hi;
}

GORE_FN int gcls__cmp(const void *a, const void *b) {
	const uint32_t *x = a, *y = b;
	if (x[0] != y[0]) return x[0] < y[0] ? -1 : 1;
	if (x[1] != y[1]) return x[1] > y[1] ? -1 : 1;
	return 0;
}

GORE_FN void gcls_clean(gcls *c) {
	if (c->n < 4) return;
	qsort(c->r, (size_t)c->n / 2, 2 * sizeof(uint32_t), gcls__cmp);
	int w = 2;
	for (int i = 2; i < c->n; i += 2) {
		uint32_t lo = c->r[i], hi = c->r[i + 1];
		if (lo <= c->r[w - 1] + 1) {
			if (hi > c->r[w - 1]) c->r[w - 1] = hi;
			continue;
		}
		c->r[w] = lo;
		c->r[w + 1] = hi;
		w += 2;
	}
	c->n = w;
}

/* gcls_negate: the complement of a clean class within 0..MaxRune. */
GORE_FN void gcls_negate(gcls *c) {
	gcls o = {NULL, 0, 0};
	uint32_t next = 0;
	for (int i = 0; i < c->n; i += 2) {
		if (c->r[i] > next) gcls_add(&o, next, c->r[i] - 1);
		next = c->r[i + 1] + 1;
	}
	if (next <= GORE_MAX_RUNE) gcls_add(&o, next, GORE_MAX_RUNE);
	free(c->r);
	*c = o;
}

#define GORE_MIN_FOLD 0x41u
#define GORE_MAX_FOLD 0x1E943u

/* gcls_add_folded is appendFoldedRange for what the C build can fold: an
   ASCII range (its letters' other case, and U+212A for K, U+017F for S),
   a range covering all the folding runes, or one above them. -1 for a
   range that needs Unicode's fold tables. */
GORE_FN int gcls_add_folded(gcls *c, uint32_t lo, uint32_t hi) {
	gcls_add(c, lo, hi);
	if ((lo <= GORE_MIN_FOLD && hi >= GORE_MAX_FOLD) || lo > GORE_MAX_FOLD || hi < GORE_MIN_FOLD) return 0;
	if (hi >= 0x80) return -1;
	uint32_t a = lo < 'A' ? 'A' : lo, b = hi > 'Z' ? 'Z' : hi;
	if (a <= b) gcls_add(c, a + 32, b + 32);
	a = lo < 'a' ? 'a' : lo;
	b = hi > 'z' ? 'z' : hi;
	if (a <= b) gcls_add(c, a - 32, b - 32);
	if ((lo <= 'k' && hi >= 'k') || (lo <= 'K' && hi >= 'K')) gcls_add(c, 0x212A, 0x212A);
	if ((lo <= 's' && hi >= 's') || (lo <= 'S' && hi >= 'S')) gcls_add(c, 0x17F, 0x17F);
	return 0;
}

/* perl and POSIX groups (perl_groups.go), ASCII */
typedef struct {
	const char *name;
	int sign;
	const char *ranges; /* pairs of bytes */
} gore_group;

static const gore_group gore_perl[] = {
	{"\\d", 1, "09"}, {"\\D", -1, "09"}, {"\\s", 1, "\t\n\f\r  "}, {"\\S", -1, "\t\n\f\r  "},
	{"\\w", 1, "09AZ__az"}, {"\\W", -1, "09AZ__az"},
};

static const gore_group gore_posix[] = {
	{"[:alnum:]", 1, "09AZaz"}, {"[:^alnum:]", -1, "09AZaz"}, {"[:alpha:]", 1, "AZaz"}, {"[:^alpha:]", -1, "AZaz"},
	{"[:ascii:]", 1, "\x01\x7f"}, {"[:^ascii:]", -1, "\x01\x7f"}, {"[:blank:]", 1, "\t\t  "}, {"[:^blank:]", -1, "\t\t  "},
	{"[:cntrl:]", 1, "\x01\x1f\x7f\x7f"}, {"[:^cntrl:]", -1, "\x01\x1f\x7f\x7f"}, {"[:digit:]", 1, "09"},
	{"[:^digit:]", -1, "09"}, {"[:graph:]", 1, "!~"}, {"[:^graph:]", -1, "!~"}, {"[:lower:]", 1, "az"},
	{"[:^lower:]", -1, "az"}, {"[:print:]", 1, " ~"}, {"[:^print:]", -1, " ~"}, {"[:punct:]", 1, "!/:@[`{~"},
	{"[:^punct:]", -1, "!/:@[`{~"}, {"[:space:]", 1, "\t\r  "}, {"[:^space:]", -1, "\t\r  "}, {"[:upper:]", 1, "AZ"},
	{"[:^upper:]", -1, "AZ"}, {"[:word:]", 1, "09AZ__az"}, {"[:^word:]", -1, "09AZ__az"}, {"[:xdigit:]", 1, "09AFaf"},
	{"[:^xdigit:]", -1, "09AFaf"},
};

/* appendGroup: a group into class c (folded under (?i)). The \x01 in the
   tables stands for NUL (ascii and cntrl start at 0). */
GORE_FN void gore__append_group(gore_p *g, gcls *c, const gore_group *gr) {
	gcls t = {NULL, 0, 0};
	for (const char *q = gr->ranges; q[0] != '\0'; q += 2) {
		uint32_t lo = (unsigned char)q[0], hi = (unsigned char)q[1];
		if (lo == 1 && (strcmp(gr->name + (gr->sign < 0 ? 3 : 2), "ascii:]") == 0 ||
		                strcmp(gr->name + (gr->sign < 0 ? 3 : 2), "cntrl:]") == 0))
			lo = 0;
		if (g->flags & GF_FOLD) gcls_add_folded(&t, lo, hi);
		else gcls_add(&t, lo, hi);
	}
	gcls_clean(&t);
	if (gr->sign < 0) gcls_negate(&t);
	for (int i = 0; i < t.n; i += 2) gcls_add(c, t.r[i], t.r[i + 1]);
	free(t.r);
}

GORE_FN int gore__isalnum(uint32_t c) {
	return (c >= '0' && c <= '9') || (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z');
}

GORE_FN int gore__unhex(uint32_t c) {
	if (c >= '0' && c <= '9') return (int)(c - '0');
	if (c >= 'a' && c <= 'f') return (int)(c - 'a' + 10);
	if (c >= 'A' && c <= 'F') return (int)(c - 'A' + 10);
	return -1;
}

/* parseEscape: s at '\'; the rune and the rest, or -1. */
GORE_FN int gore__escape(gore_p *g, const char *s, uint32_t *r, const char **rest) {
	const char *t = s + 1;
	if (t >= g->end) return gore__err(g, "trailing backslash at end of expression", "", 0);
	uint32_t c;
	int w = gore__next(g, t, &c);
	if (w < 0) return -1;
	t += w;
	switch (c) {
	case '1': case '2': case '3': case '4': case '5': case '6': case '7':
		if (t >= g->end || *t < '0' || *t > '7') break;
		/* fallthrough */
	case '0': {
		uint32_t v = c - '0';
		for (int i = 1; i < 3; i++) {
			if (t >= g->end || *t < '0' || *t > '7') break;
			v = v * 8 + (uint32_t)(*t - '0');
			t++;
		}
		*r = v;
		*rest = t;
		return 0;
	}
	case 'x': {
		if (t >= g->end) break;
		if ((w = gore__next(g, t, &c)) < 0) return -1;
		t += w;
		if (c == '{') {
			int nhex = 0;
			uint32_t v = 0;
			for (;;) {
				if (t >= g->end) goto bad;
				if ((w = gore__next(g, t, &c)) < 0) return -1;
				t += w;
				if (c == '}') break;
				int d = gore__unhex(c);
				if (d < 0) goto bad;
				v = v * 16 + (uint32_t)d;
				if (v > GORE_MAX_RUNE) goto bad;
				nhex++;
			}
			if (nhex == 0) goto bad;
			*r = v;
			*rest = t;
			return 0;
		}
		int x = gore__unhex(c);
		if ((w = gore__next(g, t, &c)) < 0) return -1;
		t += w;
		int y = gore__unhex(c);
		if (x < 0 || y < 0) break;
		*r = (uint32_t)(x * 16 + y);
		*rest = t;
		return 0;
	}
	case 'a': *r = '\a'; *rest = t; return 0;
	case 'f': *r = '\f'; *rest = t; return 0;
	case 'n': *r = '\n'; *rest = t; return 0;
	case 'r': *r = '\r'; *rest = t; return 0;
	case 't': *r = '\t'; *rest = t; return 0;
	case 'v': *r = '\v'; *rest = t; return 0;
	default:
		if (c < 0x80 && !gore__isalnum(c)) {
			*r = c;
			*rest = t;
			return 0;
		}
	}
bad:
	return gore__err(g, "invalid escape sequence", s, (size_t)(t - s));
}

/* \p and \P: refused (Unicode tables) */
GORE_FN int gore__unicode_class(gore_p *g, const char *s) {
	if (g->end - s < 2 || s[0] != '\\' || (s[1] != 'p' && s[1] != 'P')) return 0;
	const char *e = s + 2;
	if (e < g->end && *e == '{') {
		const char *q = memchr(e, '}', (size_t)(g->end - e));
		e = q ? q + 1 : g->end;
	} else if (e < g->end) {
		uint32_t c;
		int w = gore__next(g, e, &c);
		if (w < 0) return -1;
		e += w;
	}
	return gore__conly(g, "`%.*s`: Unicode classes (\\p, \\P)", s, (size_t)(e - s));
}

GORE_FN const gore_group *gore__perl_group(gore_p *g, const char *s) {
	if (g->end - s < 2 || s[0] != '\\') return NULL;
	for (size_t i = 0; i < sizeof gore_perl / sizeof gore_perl[0]; i++)
		if (s[1] == gore_perl[i].name[1]) return &gore_perl[i];
	return NULL;
}

/* gore__push_class turns a clean class into a node (Go's push: a single
   rune is a literal). */
GORE_FN int gore__lit(gore_p *g, uint32_t r, int fold);

/* parseClass: s at '['. Returns the node, or -1. */
GORE_FN int gore__class(gore_p *g, const char *s, const char **rest, int *is_lit, uint32_t *lit) {
	const char *t = s + 1;
	gcls c = {NULL, 0, 0};
	int sign = 1;
	*is_lit = 0;
	if (t < g->end && *t == '^') {
		sign = -1;
		t++;
	}
	int first = 1;
	while (t >= g->end || *t != ']' || first) {
		first = 0;
		if (g->end - t > 2 && t[0] == '[' && t[1] == ':') {
			const char *q = NULL;
			for (const char *x = t + 2; x + 1 < g->end; x++)
				if (x[0] == ':' && x[1] == ']') {
					q = x;
					break;
				}
			if (q != NULL) {
				size_t nl = (size_t)(q + 2 - t);
				const gore_group *gr = NULL;
				for (size_t i = 0; i < sizeof gore_posix / sizeof gore_posix[0]; i++)
					if (strlen(gore_posix[i].name) == nl && memcmp(gore_posix[i].name, t, nl) == 0) gr = &gore_posix[i];
				if (gr == NULL) {
					free(c.r);
					return gore__err(g, "invalid character class range", t, nl);
				}
				gore__append_group(g, &c, gr);
				t = q + 2;
				continue;
			}
		}
		if (gore__unicode_class(g, t) < 0) {
			free(c.r);
			return -1;
		}
		const gore_group *pg = gore__perl_group(g, t);
		if (pg != NULL) {
			gore__append_group(g, &c, pg);
			t += 2;
			continue;
		}
		const char *rng = t;
		uint32_t lo, hi;
		if (t >= g->end) {
			free(c.r);
			return gore__err(g, "missing closing ]", s, (size_t)(g->end - s));
		}
		if (*t == '\\') {
			if (gore__escape(g, t, &lo, &t) < 0) {
				free(c.r);
				return -1;
			}
		} else {
			int w = gore__next(g, t, &lo);
			if (w < 0) {
				free(c.r);
				return -1;
			}
			t += w;
		}
		hi = lo;
		if (g->end - t >= 2 && t[0] == '-' && t[1] != ']') {
			t++;
			if (t >= g->end) {
				free(c.r);
				return gore__err(g, "missing closing ]", s, (size_t)(g->end - s));
			}
			if (*t == '\\') {
				if (gore__escape(g, t, &hi, &t) < 0) {
					free(c.r);
					return -1;
				}
			} else {
				int w = gore__next(g, t, &hi);
				if (w < 0) {
					free(c.r);
					return -1;
				}
				t += w;
			}
			if (hi < lo) {
				free(c.r);
				return gore__err(g, "invalid character class range", rng, (size_t)(t - rng));
			}
		}
		if (g->flags & GF_FOLD) {
			if (gcls_add_folded(&c, lo, hi) < 0) {
				free(c.r);
				return gore__conly(g, "`%.*s`: case-insensitive matches of non-ASCII characters ((?i))", rng, (size_t)(t - rng));
			}
		} else {
			gcls_add(&c, lo, hi);
		}
	}
	t++; /* ] */
	gcls_clean(&c);
	if (sign < 0) gcls_negate(&c);
	*rest = t;
	if (c.n == 2 && c.r[0] == c.r[1]) { /* a single rune: a literal */
		*is_lit = 1;
		*lit = c.r[0];
		free(c.r);
		return 0;
	}
	int n = gore__node(g, GN_CLASS);
	g->nodes[n].off = gore__runes(g, c.r, c.n);
	g->nodes[n].len = c.n;
	free(c.r);
	return n;
}

/* ---- the concatenation stack (Go's push and maybeConcat) ---- */

typedef struct {
	int *items;
	int n, cap;
} gstack;

GORE_FN void gstack_push(gstack *s, int v) {
	s->items = gore__grow(s->items, &s->cap, s->n + 1, sizeof(int));
	s->items[s->n++] = v;
}

/* gore__merge: maybeConcat(-1): when the top two are literal strings with
   the same folding, the top joins the one below. */
GORE_FN void gore__merge(gore_p *g, gstack *s) {
	if (s->n < 2) return;
	gore_node *a = &g->nodes[s->items[s->n - 2]], *b = &g->nodes[s->items[s->n - 1]];
	if (a->op != GN_STR || b->op != GN_STR || a->fold != b->fold) return;
	/* a's runes are always the last ones written when it can grow; copy to be safe */
	int32_t len = a->len + b->len;
	uint32_t *tmp = malloc((size_t)len * sizeof(uint32_t) + 4);
	if (tmp == NULL) abort();
	memcpy(tmp, g->runes + a->off, (size_t)a->len * sizeof(uint32_t));
	memcpy(tmp + a->len, g->runes + b->off, (size_t)b->len * sizeof(uint32_t));
	int32_t off = gore__runes(g, tmp, len);
	free(tmp);
	a = &g->nodes[s->items[s->n - 2]];
	a->off = off;
	a->len = len;
	s->n--;
}

GORE_FN int gore__lit(gore_p *g, uint32_t r, int fold) {
	int n = gore__node(g, GN_STR);
	g->nodes[n].off = gore__runes(g, &r, 1);
	g->nodes[n].len = 1;
	g->nodes[n].fold = (uint8_t)(fold != 0);
	return n;
}

/* gore__push: every push first merges the two below (Go's push and
   literal both do, one way or the other). */
GORE_FN void gore__push(gore_p *g, gstack *s, int node) {
	gore__merge(g, s);
	gstack_push(s, node);
}

/* collapse into a concatenation (flattening concatenations), after a final
   merge (Go's concat). */
GORE_FN int gore__concat(gore_p *g, gstack *s) {
	gore__merge(g, s);
	if (s->n == 0) return gore__node(g, GN_EMPTY);
	if (s->n == 1) return s->items[0];
	int n = gore__node(g, GN_CAT), last = -1;
	for (int i = 0; i < s->n; i++) {
		int it = s->items[i];
		int k = g->nodes[it].op == GN_CAT ? g->nodes[it].sub : it;
		int single = g->nodes[it].op != GN_CAT;
		while (k >= 0) {
			int nk = single ? -1 : g->nodes[k].next;
			/* copy the child link: a node is in one list only, so move it */
			g->nodes[k].next = -1;
			if (last < 0) g->nodes[n].sub = k;
			else g->nodes[last].next = k;
			last = k;
			k = nk;
		}
	}
	return n;
}

GORE_FN int gore__charlike(gore_p *g, int b);
GORE_FN int gore__merge_class(gore_p *g, int a, int b);

/* the leading literal string of a branch (leadingString): node index of the
   GN_STR, or -1 */
GORE_FN int gore__leading(gore_p *g, int b) {
	if (g->nodes[b].op == GN_CAT) b = g->nodes[b].sub;
	return b >= 0 && g->nodes[b].op == GN_STR ? b : -1;
}

/* gore__alternate: the branches (a list linked by next) into an
   alternation, with Go's first factoring round where it changes the tree's
   shape at the top: all branches starting with a common literal become
   prefix(rest1|rest2|...). (The other rounds do not change what matches.) */
GORE_FN int gore__alternate(gore_p *g, int first, int count) {
	if (count == 1) return first;
	/* flatten nested alternations (collapse) */
	int n = gore__node(g, GN_ALT), last = -1;
	for (int b = first; b >= 0;) {
		int nb = g->nodes[b].next;
		if (g->nodes[b].op == GN_ALT) {
			for (int k = g->nodes[b].sub; k >= 0;) {
				int nk = g->nodes[k].next;
				g->nodes[k].next = -1;
				if (last < 0) g->nodes[n].sub = k;
				else g->nodes[last].next = k;
				last = k;
				k = nk;
			}
		} else {
			g->nodes[b].next = -1;
			if (last < 0) g->nodes[n].sub = b;
			else g->nodes[last].next = b;
			last = b;
		}
		b = nb;
	}
	/* swapVerticalBar: neighbouring branches that each match one character
	   merge into one class (which matches the same) */
	{
		int prev = -1;
		for (int b = g->nodes[n].sub; b >= 0;) {
			int nb = g->nodes[b].next;
			if (prev >= 0 && gore__charlike(g, prev) && gore__charlike(g, b)) {
				int m = gore__merge_class(g, prev, b);
				g->nodes[m].next = nb;
				/* replace prev by m */
				if (g->nodes[n].sub == prev) g->nodes[n].sub = m;
				else
					for (int k = g->nodes[n].sub; k >= 0; k = g->nodes[k].next)
						if (g->nodes[k].next == prev) {
							g->nodes[k].next = m;
							break;
						}
				prev = m;
			} else {
				prev = b;
			}
			b = nb;
		}
		int only = g->nodes[n].sub;
		if (only >= 0 && g->nodes[only].next < 0) {
			gore_node *o = &g->nodes[only];
			if (o->op == GN_CLASS && o->len == 2 && g->runes[o->off] == g->runes[o->off + 1]) {
				uint32_t r = g->runes[o->off];
				return gore__lit(g, r, 0);
			}
			return only;
		}
	}
	/* the common leading string of every branch */
	int common = -1, fold = 0, first_str = -1;
	for (int b = g->nodes[n].sub; b >= 0; b = g->nodes[b].next) {
		int l = gore__leading(g, b);
		if (l < 0) return n;
		if (first_str < 0) {
			first_str = l;
			common = g->nodes[l].len;
			fold = g->nodes[l].fold;
			continue;
		}
		if (g->nodes[l].fold != fold) return n;
		int same = 0;
		while (same < common && same < g->nodes[l].len &&
		       g->runes[g->nodes[first_str].off + same] == g->runes[g->nodes[l].off + same])
			same++;
		common = same;
		if (common == 0) return n;
	}
	if (common <= 0) return n;
	int prefix = gore__node(g, GN_STR);
	g->nodes[prefix].off = g->nodes[first_str].off;
	g->nodes[prefix].len = common;
	g->nodes[prefix].fold = (uint8_t)fold;
	/* removeLeadingString from each branch */
	int rl = -1, rfirst = -1;
	for (int b = g->nodes[n].sub; b >= 0;) {
		int nb = g->nodes[b].next, r = b;
		int l = gore__leading(g, b);
		if (g->nodes[l].len > common) {
			int ns = gore__node(g, GN_STR);
			g->nodes[ns] = g->nodes[l];
			g->nodes[ns].off += common;
			g->nodes[ns].len -= common;
			if (g->nodes[b].op == GN_CAT) {
				g->nodes[ns].next = g->nodes[l].next;
				g->nodes[b].sub = ns;
			} else {
				r = ns;
			}
		} else if (g->nodes[b].op == GN_CAT) {
			int rest = g->nodes[l].next;
			if (rest >= 0 && g->nodes[rest].next < 0) r = rest;
			else if (rest < 0) r = gore__node(g, GN_EMPTY);
			else g->nodes[b].sub = rest;
		} else {
			r = gore__node(g, GN_EMPTY);
		}
		g->nodes[r].next = -1;
		if (rl < 0) rfirst = r;
		else g->nodes[rl].next = r;
		rl = r;
		b = nb;
	}
	g->nodes[n].sub = rfirst;
	int cat = gore__node(g, GN_CAT);
	g->nodes[cat].sub = prefix;
	g->nodes[prefix].next = n;
	return cat;
}

/* isCharClass: a branch that matches one character */
GORE_FN int gore__charlike(gore_p *g, int b) {
	gore_node *x = &g->nodes[b];
	return (x->op == GN_STR && x->len == 1) || x->op == GN_CLASS || x->op == GN_ANY || x->op == GN_ANYNL;
}

/* mergeCharClass: the class of two char-like branches */
GORE_FN int gore__merge_class(gore_p *g, int a, int b) {
	gcls c = {NULL, 0, 0};
	int ab[2] = {a, b};
	for (int k = 0; k < 2; k++) {
		gore_node *x = &g->nodes[ab[k]];
		if (x->op == GN_STR) {
			uint32_t r = g->runes[x->off];
			if (x->fold) gcls_add_folded(&c, r, r);
			else gcls_add(&c, r, r);
		} else if (x->op == GN_CLASS) {
			for (int i = 0; i < x->len; i += 2) gcls_add(&c, g->runes[x->off + i], g->runes[x->off + i + 1]);
		} else if (x->op == GN_ANY) {
			gcls_add(&c, 0, GORE_MAX_RUNE);
		} else {
			gcls_add(&c, 0, '\n' - 1);
			gcls_add(&c, '\n' + 1, GORE_MAX_RUNE);
		}
	}
	gcls_clean(&c);
	int n = gore__node(g, GN_CLASS);
	g->nodes[n].off = gore__runes(g, c.r, c.n);
	g->nodes[n].len = c.n;
	free(c.r);
	return n;
}

GORE_FN int gore__is_repeat_start(gore_p *g, const char *t) {
	return t < g->end && (*t == '*' || *t == '+' || *t == '?' || *t == '{');
}

/* parseInt for {n,m}: -2 not a number, -1 too big */
GORE_FN int gore__int(gore_p *g, const char **s) {
	const char *t = *s;
	if (t >= g->end || *t < '0' || *t > '9') return -2;
	if (g->end - t >= 2 && t[0] == '0' && t[1] >= '0' && t[1] <= '9') return -2;
	long v = 0;
	int big = 0;
	while (t < g->end && *t >= '0' && *t <= '9') {
		if (v >= 100000000) big = 1;
		else v = v * 10 + (*t - '0');
		t++;
	}
	*s = t;
	return big ? -1 : (int)v;
}

/* parseRepeat: 1 with min, max (-1 = no max; min -1 = too big), 0 when not
   a repeat (the { is then a literal). */
GORE_FN int gore__parse_repeat(gore_p *g, const char *s, int *min, int *max, const char **rest) {
	const char *t = s + 1;
	int a = gore__int(g, &t);
	if (a == -2 || t >= g->end) return 0;
	int b;
	if (*t != ',') {
		b = a;
	} else {
		t++;
		if (t >= g->end) return 0;
		if (*t == '}') b = -1;
		else {
			b = gore__int(g, &t);
			if (b == -2) return 0;
			if (b == -1) a = -1;
		}
	}
	if (t >= g->end || *t != '}') return 0;
	*min = a;
	*max = b;
	*rest = t + 1;
	return 1;
}

/* repeatIsValid */
GORE_FN int gore__repeat_valid(gore_p *g, int re, int n) {
	gore_node *x = &g->nodes[re];
	if (x->op == GN_REP) {
		int m = x->max;
		if (m == 0) return 1;
		if (m < 0) m = x->min;
		if (m > n) return 0;
		if (m > 0) n /= m;
	}
	for (int k = x->sub; k >= 0; k = g->nodes[k].next)
		if (!gore__repeat_valid(g, k, n)) return 0;
	return 1;
}

GORE_FN int gore__alt(gore_p *g);

/* parsePerlFlags: t at "(?". Sets *group to the capture/non-capture group
   kind to open (0: none, just flags), *newflags. */
GORE_FN int gore__perl_flags(gore_p *g, const char *s, const char **rest, int *group, int *cap_named, int *newflags) {
	const char *t = s;
	size_t len = (size_t)(g->end - s);
	int startsP = len > 4 && t[2] == 'P' && t[3] == '<';
	int startsName = len > 3 && t[2] == '<';
	*cap_named = 0;
	if (startsP || startsName) {
		int exprStart = startsName ? 3 : 4;
		const char *endp = memchr(t, '>', len);
		if (endp == NULL) return gore__err(g, "invalid named capture", s, len);
		const char *name = t + exprStart;
		size_t nl = (size_t)(endp - name);
		int ok = nl > 0;
		for (size_t i = 0; i < nl; i++)
			if (name[i] != '_' && !gore__isalnum((unsigned char)name[i])) ok = 0;
		if (!ok) return gore__err(g, "invalid named capture", s, (size_t)(endp + 1 - s));
		g->ncap++;
		g->names = gore__grow(g->names, &g->cnames, g->ncap + 1, sizeof(char *));
		g->names[g->ncap] = malloc(nl + 1);
		if (g->names[g->ncap] == NULL) abort();
		memcpy(g->names[g->ncap], name, nl);
		g->names[g->ncap][nl] = '\0';
		*cap_named = g->ncap;
		*group = 2;
		*newflags = g->flags;
		*rest = endp + 1;
		return 0;
	}
	t += 2;
	int flags = g->flags, sign = 1, saw = 0;
	while (t < g->end) {
		uint32_t c;
		int w = gore__next(g, t, &c);
		if (w < 0) return -1;
		t += w;
		switch (c) {
		case 'i': flags |= GF_FOLD; saw = 1; continue;
		case 'm': flags &= ~GF_ONELINE; saw = 1; continue;
		case 's': flags |= GF_DOTNL; saw = 1; continue;
		case 'U': flags |= GF_NONGREEDY; saw = 1; continue;
		case '-':
			if (sign < 0) break;
			sign = -1;
			flags = ~flags;
			saw = 0;
			continue;
		case ':':
		case ')':
			if (sign < 0) {
				if (!saw) break;
				flags = ~flags;
			}
			*group = c == ':' ? 1 : 0;
			*newflags = flags;
			*rest = t;
			return 0;
		}
		break;
	}
	return gore__err(g, "invalid or unsupported Perl syntax", s, (size_t)(t - s));
}

/* gore__concat_parse parses until '|', ')' or the end. */
GORE_FN int gore__concat_parse(gore_p *g) {
	gstack s = {NULL, 0, 0};
	const char *last_repeat = NULL;
	while (g->p < g->end && *g->p != '|' && *g->p != ')') {
		const char *t = g->p, *repeat = NULL;
		switch (*t) {
		case '(': {
			int group = 2, named = 0, nf = g->flags;
			const char *rest = t + 1;
			if (g->end - t >= 2 && t[1] == '?') {
				if (gore__perl_flags(g, t, &rest, &group, &named, &nf) < 0) goto fail;
				if (group == 0) { /* (?flags) */
					g->flags = nf;
					g->p = rest;
					break;
				}
			}
			int capn = 0;
			if (group == 2) {
				if (named) capn = named;
				else {
					capn = ++g->ncap;
					g->names = gore__grow(g->names, &g->cnames, g->ncap + 1, sizeof(char *));
					g->names[capn] = NULL;
				}
			}
			if (++g->depth > GORE_MAX_DEPTH) {
				gore__conly(g, "patterns with groups nested more than %.*s deep", "100", 3);
				goto fail;
			}
			int saved = g->flags;
			g->flags = nf;
			g->p = rest;
			int inner = gore__alt(g);
			if (inner < 0) goto fail;
			if (g->p >= g->end) {
				gore__err(g, "missing closing )", g->whole, (size_t)(g->end - g->whole));
				goto fail;
			}
			g->p++; /* ) */
			g->depth--;
			g->flags = saved;
			if (capn) {
				int c = gore__node(g, GN_CAP);
				g->nodes[c].cap = capn;
				g->nodes[c].sub = inner;
				gore__push(g, &s, c);
			} else {
				gore__push(g, &s, inner);
			}
			break;
		}
		case '^':
			gore__push(g, &s, gore__node(g, (g->flags & GF_ONELINE) ? GN_BOT : GN_BOL));
			g->p++;
			break;
		case '$':
			gore__push(g, &s, gore__node(g, (g->flags & GF_ONELINE) ? GN_EOT : GN_EOL));
			g->p++;
			break;
		case '.':
			gore__push(g, &s, gore__node(g, (g->flags & GF_DOTNL) ? GN_ANY : GN_ANYNL));
			g->p++;
			break;
		case '[': {
			int is_lit;
			uint32_t r;
			int n = gore__class(g, t, &g->p, &is_lit, &r);
			if (n < 0) goto fail;
			if (is_lit) gore__push(g, &s, gore__lit(g, r, 0));
			else gore__push(g, &s, n);
			break;
		}
		case '*': case '+': case '?': case '{': {
			int op, min = 0, max = 0;
			const char *after = t + 1;
			if (*t == '*') op = GN_STAR;
			else if (*t == '+') op = GN_PLUS;
			else if (*t == '?') op = GN_QUEST;
			else {
				op = GN_REP;
				if (!gore__parse_repeat(g, t, &min, &max, &after)) {
					gore__push(g, &s, gore__lit(g, '{', g->flags & GF_FOLD));
					g->p = t + 1;
					break;
				}
				if (min < 0 || min > 1000 || max > 1000 || (max >= 0 && min > max)) {
					gore__err(g, "invalid repeat count", t, (size_t)(after - t));
					goto fail;
				}
			}
			int flags = g->flags;
			if (after < g->end && *after == '?') {
				after++;
				flags ^= GF_NONGREEDY;
			}
			if (last_repeat != NULL) {
				gore__err(g, "invalid nested repetition operator", last_repeat, (size_t)(after - last_repeat));
				goto fail;
			}
			if (s.n == 0) {
				gore__err(g, "missing argument to repetition operator", t, (size_t)(after - t));
				goto fail;
			}
			int n = gore__node(g, op);
			g->nodes[n].min = min;
			g->nodes[n].max = max;
			g->nodes[n].ng = (flags & GF_NONGREEDY) != 0;
			g->nodes[n].sub = s.items[s.n - 1];
			s.items[s.n - 1] = n;
			if (op == GN_REP && (min >= 2 || max >= 2) && !gore__repeat_valid(g, n, 1000)) {
				gore__err(g, "invalid repeat count", t, (size_t)(after - t));
				goto fail;
			}
			repeat = t;
			g->p = after;
			break;
		}
		case '\\': {
			if (g->end - t >= 2) {
				int op = -1;
				switch (t[1]) {
				case 'A': op = GN_BOT; break;
				case 'b': op = GN_WB; break;
				case 'B': op = GN_NWB; break;
				case 'z': op = GN_EOT; break;
				case 'C':
					gore__err(g, "invalid escape sequence", t, 2);
					goto fail;
				case 'Q': {
					const char *q = t + 2, *e = NULL;
					for (const char *x = q; x + 1 < g->end; x++)
						if (x[0] == '\\' && x[1] == 'E') {
							e = x;
							break;
						}
					const char *stop = e ? e : g->end;
					while (q < stop) {
						uint32_t c;
						const char *save_end = g->end;
						g->end = stop;
						int w = gore__next(g, q, &c);
						g->end = save_end;
						if (w < 0) goto fail;
						if ((g->flags & GF_FOLD) && c >= 0x80 && c <= GORE_MAX_FOLD) {
							gore__conly(g, "`%.*s`: case-insensitive matches of non-ASCII characters ((?i))", q, (size_t)w);
							goto fail;
						}
						gore__push(g, &s, gore__lit(g, c, g->flags & GF_FOLD));
						q += w;
					}
					g->p = e ? e + 2 : g->end;
					op = -2;
					break;
				}
				}
				if (op == -2) break;
				if (op >= 0) {
					gore__push(g, &s, gore__node(g, op));
					g->p = t + 2;
					break;
				}
			}
			if (gore__unicode_class(g, t) < 0) goto fail;
			const gore_group *pg = gore__perl_group(g, t);
			if (pg != NULL) {
				gcls c = {NULL, 0, 0};
				gore__append_group(g, &c, pg);
				int n = gore__node(g, GN_CLASS);
				g->nodes[n].off = gore__runes(g, c.r, c.n);
				g->nodes[n].len = c.n;
				free(c.r);
				gore__push(g, &s, n);
				g->p = t + 2;
				break;
			}
			uint32_t r;
			const char *rest;
			if (gore__escape(g, t, &r, &rest) < 0) goto fail;
			if ((g->flags & GF_FOLD) && r >= 0x80 && r <= GORE_MAX_FOLD) {
				gore__conly(g, "`%.*s`: case-insensitive matches of non-ASCII characters ((?i))", t, (size_t)(rest - t));
				goto fail;
			}
			gore__push(g, &s, gore__lit(g, r, g->flags & GF_FOLD));
			g->p = rest;
			break;
		}
		default: {
			uint32_t r;
			int w = gore__next(g, t, &r);
			if (w < 0) goto fail;
			if ((g->flags & GF_FOLD) && r >= 0x80 && r <= GORE_MAX_FOLD) {
				gore__conly(g, "`%.*s`: case-insensitive matches of non-ASCII characters ((?i))", t, (size_t)w);
				goto fail;
			}
			gore__push(g, &s, gore__lit(g, r, g->flags & GF_FOLD));
			g->p = t + w;
		}
		}
		last_repeat = repeat;
	}
	{
		int n = gore__concat(g, &s);
		free(s.items);
		return n;
	}
fail:
	free(s.items);
	return -1;
}

GORE_FN int gore__alt(gore_p *g) {
	int first = -1, last = -1, count = 0;
	for (;;) {
		int c = gore__concat_parse(g);
		if (c < 0) return -1;
		g->nodes[c].next = -1;
		if (last < 0) first = c;
		else g->nodes[last].next = c;
		last = c;
		count++;
		if (g->p < g->end && *g->p == '|') {
			g->p++;
			continue;
		}
		break;
	}
	return gore__alternate(g, first, count);
}

/* ---- the literal prefix (requestFilter's literalPathPrefix) ---- */

/* gore__prefix_node appends the unfolded literals of a simplified sub
   (x{1} is x); 0 when it is not a literal. */
GORE_FN int gore__prefix_lits(gore_p *g, int n, uint32_t **out, int *on, int *oc) {
	while (g->nodes[n].op == GN_REP && g->nodes[n].min == 1 && g->nodes[n].max == 1) n = g->nodes[n].sub;
	if (g->nodes[n].op != GN_STR || g->nodes[n].fold) return 0;
	*out = gore__grow(*out, oc, *on + g->nodes[n].len, sizeof(uint32_t));
	memcpy(*out + *on, g->runes + g->nodes[n].off, (size_t)g->nodes[n].len * sizeof(uint32_t));
	*on += g->nodes[n].len;
	return 1;
}

GORE_FN void gore__prefix(gore_p *g, int root, gore *re) {
	re->prefix = NULL;
	re->prefix_len = 0;
	while (g->nodes[root].op == GN_REP && g->nodes[root].min == 1 && g->nodes[root].max == 1) root = g->nodes[root].sub;
	if (g->nodes[root].op != GN_CAT) return;
	int k = g->nodes[root].sub;
	if (k < 0 || g->nodes[k].op != GN_BOT || g->nodes[k].next < 0) return;
	uint32_t *r = NULL;
	int n = 0, c = 0;
	for (k = g->nodes[k].next; k >= 0; k = g->nodes[k].next)
		if (!gore__prefix_lits(g, k, &r, &n, &c)) break;
	char *o = malloc((size_t)n * 4 + 1);
	if (o == NULL) abort();
	size_t m = 0;
	for (int i = 0; i < n; i++) {
		uint32_t v = r[i];
		if (v >= 0xD800 && v < 0xE000) v = 0xFFFD; /* string(rune) of a surrogate */
		m += (size_t)utf8_encode(o + m, v);
	}
	o[m] = '\0';
	free(r);
	re->prefix = o;
	re->prefix_len = m;
}

/* ---- the compiler (regexp/syntax compile.go over Simplify) ---- */

typedef struct {
	uint32_t i, head, tail; /* patch list: inst<<1 | (0 out, 1 arg); 0 = empty */
	int nullable;
} gfrag;

typedef struct {
	gore_p *g;
	gore *re;
	int cinst, cranges;
	int too_big;
} gcomp;

GORE_FN uint32_t gc__inst(gcomp *c, int op) {
	if (c->re->ninst >= GORE_MAX_INST) {
		c->too_big = 1;
		return 0;
	}
	c->re->inst = gore__grow(c->re->inst, &c->cinst, c->re->ninst + 1, sizeof(gore_inst));
	gore_inst *in = &c->re->inst[c->re->ninst];
	memset(in, 0, sizeof *in);
	in->op = (uint8_t)op;
	return (uint32_t)c->re->ninst++;
}

GORE_FN uint32_t *gc__slot(gcomp *c, uint32_t l) {
	gore_inst *in = &c->re->inst[l >> 1];
	return (l & 1) ? &in->arg : &in->out;
}

GORE_FN void gc__patch(gcomp *c, gfrag f, uint32_t val) {
	uint32_t l = f.head;
	while (l != 0) {
		uint32_t *s = gc__slot(c, l);
		uint32_t next = *s;
		*s = val;
		l = next;
	}
}

GORE_FN gfrag gc__mk(uint32_t i, uint32_t l, int nullable) {
	gfrag f = {i, l, l, nullable};
	return f;
}

GORE_FN void gc__append(gcomp *c, gfrag *f, gfrag o) {
	if (f->head == 0) {
		f->head = o.head;
		f->tail = o.tail;
		return;
	}
	if (o.head == 0) return;
	*gc__slot(c, f->tail) = o.head;
	f->tail = o.tail;
}

GORE_FN gfrag gc__fail(void) {
	gfrag f = {0, 0, 0, 0};
	return f;
}

GORE_FN gfrag gc__nop(gcomp *c) {
	uint32_t i = gc__inst(c, GI_NOP);
	if (i == 0) return gc__fail();
	return gc__mk(i, i << 1, 1);
}

GORE_FN gfrag gc__cat(gcomp *c, gfrag a, gfrag b) {
	if (a.i == 0 || b.i == 0) return gc__fail();
	gc__patch(c, a, b.i);
	gfrag f = {a.i, b.head, b.tail, a.nullable && b.nullable};
	return f;
}

GORE_FN gfrag gc__alt(gcomp *c, gfrag a, gfrag b) {
	if (a.i == 0) return b;
	if (b.i == 0) return a;
	uint32_t i = gc__inst(c, GI_ALT);
	if (i == 0) return gc__fail();
	c->re->inst[i].out = a.i;
	c->re->inst[i].arg = b.i;
	gfrag f = {i, a.head, a.tail, a.nullable || b.nullable};
	gc__append(c, &f, b);
	return f;
}

GORE_FN gfrag gc__quest(gcomp *c, gfrag a, int ng) {
	uint32_t i = gc__inst(c, GI_ALT);
	if (i == 0) return gc__fail();
	gfrag f;
	if (ng) {
		c->re->inst[i].arg = a.i;
		f = gc__mk(i, i << 1, 1);
	} else {
		c->re->inst[i].out = a.i;
		f = gc__mk(i, i << 1 | 1, 1);
	}
	gc__append(c, &f, a);
	return f;
}

GORE_FN gfrag gc__loop(gcomp *c, gfrag a, int ng) {
	uint32_t i = gc__inst(c, GI_ALT);
	if (i == 0) return gc__fail();
	gfrag f;
	if (ng) {
		c->re->inst[i].arg = a.i;
		f = gc__mk(i, i << 1, 1);
	} else {
		c->re->inst[i].out = a.i;
		f = gc__mk(i, i << 1 | 1, 1);
	}
	gc__patch(c, a, i);
	return f;
}

GORE_FN gfrag gc__plus(gcomp *c, gfrag a, int ng) {
	gfrag l = gc__loop(c, a, ng);
	gfrag f = {a.i, l.head, l.tail, a.nullable};
	if (l.i == 0) return gc__fail();
	return f;
}

GORE_FN gfrag gc__star(gcomp *c, gfrag a, int ng) {
	if (a.nullable) return gc__quest(c, gc__plus(c, a, ng), ng);
	return gc__loop(c, a, ng);
}

GORE_FN gfrag gc__empty(gcomp *c, uint32_t op) {
	uint32_t i = gc__inst(c, GI_EMPTY);
	if (i == 0) return gc__fail();
	c->re->inst[i].arg = op;
	return gc__mk(i, i << 1, 1);
}

GORE_FN gfrag gc__rune(gcomp *c, const uint32_t *r, int n) {
	uint32_t i = gc__inst(c, GI_RUNE);
	if (i == 0) return gc__fail();
	c->re->ranges = gore__grow(c->re->ranges, &c->cranges, c->re->nranges + n, sizeof(uint32_t));
	if (n > 0) memcpy(c->re->ranges + c->re->nranges, r, (size_t)n * sizeof(uint32_t));
	c->re->inst[i].off = c->re->nranges;
	c->re->inst[i].len = n;
	c->re->nranges += n;
	gfrag f = gc__mk(i, i << 1, 0);
	return f;
}

GORE_FN gfrag gc__lit(gcomp *c, uint32_t r, int fold) {
	if (fold && ((r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z'))) {
		gcls k = {NULL, 0, 0};
		gcls_add_folded(&k, r, r);
		gcls_clean(&k);
		gfrag f = gc__rune(c, k.r, k.n);
		free(k.r);
		return f;
	}
	uint32_t rr[2] = {r, r};
	return gc__rune(c, rr, 2);
}

GORE_FN gfrag gc__compile(gcomp *c, int n);

/* simplify1's collapses: x** is x*, a star of the empty match is it */
GORE_FN gfrag gc__simple(gcomp *c, int op, int ng, int sub) {
	gore_node *s = &c->g->nodes[sub];
	if (s->op == GN_EMPTY) return gc__compile(c, sub);
	if (s->op == op && s->ng == ng) return gc__compile(c, sub);
	gfrag f = gc__compile(c, sub);
	if (c->too_big) return gc__fail();
	switch (op) {
	case GN_STAR: return gc__star(c, f, ng);
	case GN_PLUS: return gc__plus(c, f, ng);
	default: return gc__quest(c, f, ng);
	}
}

/* gc__simplified: does Simplify give n back as it is (so simplify1 may
   return it)? Only the node kinds simplify1 compares matter. */
GORE_FN int gc__simple_op(gcomp *c, int sub) {
	gore_node *s = &c->g->nodes[sub];
	if (s->op == GN_REP) {
		if (s->min == 0 && s->max == 0) return GN_EMPTY;
		if (s->max == -1 && s->min == 0) return GN_STAR;
		if (s->max == -1 && s->min == 1) return GN_PLUS;
		if (s->min == 1 && s->max == 1) return gc__simple_op(c, s->sub);
		if (s->min == 0 && s->max == 1) return GN_QUEST;
		return GN_CAT;
	}
	return s->op;
}

GORE_FN int gc__simple_ng(gcomp *c, int sub) {
	gore_node *s = &c->g->nodes[sub];
	if (s->op == GN_REP && s->min == 1 && s->max == 1) return gc__simple_ng(c, s->sub);
	return s->ng;
}

GORE_FN gfrag gc__simple1(gcomp *c, int op, int ng, int sub) {
	int so = gc__simple_op(c, sub);
	if (so == GN_EMPTY || (so == op && gc__simple_ng(c, sub) == ng)) return gc__compile(c, sub);
	gfrag f = gc__compile(c, sub);
	if (c->too_big) return gc__fail();
	switch (op) {
	case GN_STAR: return gc__star(c, f, ng);
	case GN_PLUS: return gc__plus(c, f, ng);
	default: return gc__quest(c, f, ng);
	}
}

GORE_FN gfrag gc__compile(gcomp *c, int n) {
	if (c->too_big) return gc__fail();
	gore_node nd = c->g->nodes[n];
	switch (nd.op) {
	case GN_EMPTY: return gc__nop(c);
	case GN_STR: {
		gfrag f = gc__fail();
		for (int j = 0; j < nd.len; j++) {
			gfrag f1 = gc__lit(c, c->g->runes[nd.off + j], nd.fold);
			f = j == 0 ? f1 : gc__cat(c, f, f1);
		}
		if (nd.len == 0) return gc__nop(c);
		return f;
	}
	case GN_CLASS: return gc__rune(c, c->g->runes + nd.off, nd.len);
	case GN_ANY: {
		uint32_t r[2] = {0, GORE_MAX_RUNE};
		return gc__rune(c, r, 2);
	}
	case GN_ANYNL: {
		uint32_t r[4] = {0, '\n' - 1, '\n' + 1, GORE_MAX_RUNE};
		return gc__rune(c, r, 4);
	}
	case GN_BOL: return gc__empty(c, GE_BOL);
	case GN_EOL: return gc__empty(c, GE_EOL);
	case GN_BOT: return gc__empty(c, GE_BOT);
	case GN_EOT: return gc__empty(c, GE_EOT);
	case GN_WB: return gc__empty(c, GE_WB);
	case GN_NWB: return gc__empty(c, GE_NWB);
	case GN_CAP: {
		uint32_t b = gc__inst(c, GI_CAP);
		if (b == 0) return gc__fail();
		c->re->inst[b].arg = (uint32_t)nd.cap << 1;
		gfrag bra = gc__mk(b, b << 1, 1);
		gfrag sub = gc__compile(c, nd.sub);
		uint32_t k = gc__inst(c, GI_CAP);
		if (k == 0) return gc__fail();
		c->re->inst[k].arg = (uint32_t)nd.cap << 1 | 1;
		gfrag ket = gc__mk(k, k << 1, 1);
		return gc__cat(c, gc__cat(c, bra, sub), ket);
	}
	case GN_STAR: case GN_PLUS: case GN_QUEST: return gc__simple1(c, nd.op, nd.ng, nd.sub);
	case GN_REP: {
		int min = nd.min, max = nd.max, ng = nd.ng;
		if (min == 0 && max == 0) return gc__nop(c);
		if (max == -1) {
			if (min == 0) return gc__simple1(c, GN_STAR, ng, nd.sub);
			if (min == 1) return gc__simple1(c, GN_PLUS, ng, nd.sub);
			gfrag f = gc__fail();
			for (int i = 0; i < min - 1; i++) {
				gfrag x = gc__compile(c, nd.sub);
				f = i == 0 ? x : gc__cat(c, f, x);
				if (c->too_big) return gc__fail();
			}
			return gc__cat(c, f, gc__simple1(c, GN_PLUS, ng, nd.sub));
		}
		if (min == 1 && max == 1) return gc__compile(c, nd.sub);
		gfrag prefix = gc__fail();
		int have = 0;
		for (int i = 0; i < min; i++) {
			gfrag x = gc__compile(c, nd.sub);
			prefix = have ? gc__cat(c, prefix, x) : x;
			have = 1;
			if (c->too_big) return gc__fail();
		}
		if (max > min) {
			/* suffix = (x(x(x)?)?)? built from the inside out; the
			   innermost is simplify1(Quest, x) */
			gfrag suffix = gc__simple1(c, GN_QUEST, ng, nd.sub);
			for (int i = min + 1; i < max; i++) {
				gfrag x = gc__compile(c, nd.sub);
				suffix = gc__quest(c, gc__cat(c, x, suffix), ng);
				if (c->too_big) return gc__fail();
			}
			if (!have) return suffix;
			prefix = gc__cat(c, prefix, suffix);
		}
		return prefix;
	}
	case GN_CAT: {
		gfrag f = gc__fail();
		int first = 1;
		for (int k = nd.sub; k >= 0; k = c->g->nodes[k].next) {
			gfrag x = gc__compile(c, k);
			f = first ? x : gc__cat(c, f, x);
			first = 0;
			if (c->too_big) return gc__fail();
		}
		if (first) return gc__nop(c);
		return f;
	}
	case GN_ALT: {
		gfrag f = gc__fail();
		for (int k = nd.sub; k >= 0; k = c->g->nodes[k].next) {
			f = gc__alt(c, f, gc__compile(c, k));
			if (c->too_big) return gc__fail();
		}
		return f;
	}
	}
	return gc__fail();
}

GORE_FN void gore_free(gore *re) {
	if (re == NULL) return;
	free(re->inst);
	free(re->ranges);
	if (re->names)
		for (int i = 0; i <= re->ngroups; i++) free(re->names[i]);
	free(re->names);
	free(re->prefix);
	free(re);
}

/* gore_compile compiles pattern (n bytes) as regexp.Compile does. NULL on
 * error: err holds Go's message, or, with *c_only set, what the C build
 * does not do (the caller says to use the Go build). */
GORE_FN gore *gore_compile(const char *pat, size_t n, char *err, size_t errn, int *c_only) {
	gore_p g;
	memset(&g, 0, sizeof g);
	g.whole = g.p = pat;
	g.end = pat + n;
	g.flags = GF_ONELINE;
	g.err = err;
	g.errn = errn;
	err[0] = '\0';
	*c_only = 0;
	g.names = gore__grow(NULL, &g.cnames, 1, sizeof(char *));
	g.names[0] = NULL;
	gore *re = NULL;
	int root = gore__alt(&g);
	if (root >= 0 && g.p < g.end) { /* a ')' with no '(' */
		gore__err(&g, "unexpected )", pat, n);
		root = -1;
	}
	if (root >= 0) {
		re = calloc(1, sizeof *re);
		if (re == NULL) abort();
		re->ngroups = g.ncap;
		re->names = calloc((size_t)g.ncap + 1, sizeof(char *));
		if (re->names == NULL) abort();
		for (int i = 0; i <= g.ncap; i++) {
			const char *nm = g.names[i] ? g.names[i] : "";
			re->names[i] = malloc(strlen(nm) + 1);
			if (re->names[i] == NULL) abort();
			strcpy(re->names[i], nm);
		}
		gore__prefix(&g, root, re);
		gcomp c;
		memset(&c, 0, sizeof c);
		c.g = &g;
		c.re = re;
		gc__inst(&c, GI_FAIL);
		gfrag f = gc__compile(&c, root);
		uint32_t m = gc__inst(&c, GI_MATCH);
		if (c.too_big || (long)re->ninst * 2 * (re->ngroups + 1) > GORE_MAX_STATE) {
			char num[64];
			snprintf(num, sizeof num, "%d instructions x %d capture slots", re->ninst, 2 * (re->ngroups + 1));
			if (c.too_big) snprintf(num, sizeof num, "over %d instructions", GORE_MAX_INST);
			snprintf(err, errn, "patterns this large (%s; the C build allows %d instructions, %d slots in all)", num,
			         GORE_MAX_INST, GORE_MAX_STATE);
			*c_only = 1;
			gore_free(re);
			re = NULL;
		} else {
			gc__patch(&c, f, m);
			re->start = f.i;
			/* StartCond: \A before anything else anchors the search */
			uint32_t pc = re->start, cond = 0;
			while (pc != 0) {
				gore_inst *in = &re->inst[pc];
				if (in->op == GI_EMPTY) cond |= in->arg;
				else if (in->op != GI_NOP && in->op != GI_CAP) break;
				/* a capture does not change the start condition (Go stops at it,
				   which only costs it speed) */
				if (in->op == GI_CAP) break;
				pc = in->out;
			}
			re->anchored = (cond & GE_BOT) != 0;
		}
	} else if (g.c_only) {
		*c_only = 1;
	}
	for (int i = 0; i <= g.ncap; i++) free(g.names[i]);
	free(g.names);
	free(g.nodes);
	free(g.runes);
	return re;
}

/* ---- the Pike VM ---- */

typedef struct {
	uint32_t *sparse, *dense; /* dense: pcs in priority order */
	int n;
	int *caps; /* [ninst][ncap]: the captures of dense[i]'s thread */
	uint8_t *has; /* dense[i] holds a thread (a rune or match instruction) */
} gq;

static struct {
	uint8_t *mem;
	size_t size;
} gore__scratch;

GORE_FN int gore__word(int32_t r) {
	return (r >= '0' && r <= '9') || (r >= 'A' && r <= 'Z') || (r >= 'a' && r <= 'z') || r == '_';
}

GORE_FN uint32_t gore__cond(int32_t r1, int32_t r2) {
	uint32_t f = 0;
	if (r1 < 0) f |= GE_BOT | GE_BOL;
	else if (r1 == '\n') f |= GE_BOL;
	if (r2 < 0) f |= GE_EOT | GE_EOL;
	else if (r2 == '\n') f |= GE_EOL;
	if (gore__word(r1) != gore__word(r2)) f |= GE_WB;
	else f |= GE_NWB;
	return f;
}

GORE_FN int gore__in(const gore *re, const gore_inst *in, int32_t c) {
	if (c < 0) return 0;
	const uint32_t *r = re->ranges + in->off;
	int lo = 0, hi = in->len / 2 - 1;
	while (lo <= hi) {
		int m = (lo + hi) / 2;
		if ((uint32_t)c < r[2 * m]) hi = m - 1;
		else if ((uint32_t)c > r[2 * m + 1]) lo = m + 1;
		else return 1;
	}
	return 0;
}

typedef struct {
	uint32_t pc;
	int slot; /* -1: explore pc; else restore caps[slot] = val */
	int val;
} gstk;

/* gore__add is the machine's add: follow pc's empty-width closure from
   position pos into q, in priority order, with the captures cap (a
   scratch row, restored on return). */
GORE_FN void gore__add(const gore *re, gq *q, uint32_t pc0, int pos, int *cap, int ncap, uint32_t cond, gstk *stk) {
	int sp = 0;
	stk[sp].pc = pc0;
	stk[sp].slot = -1;
	sp++;
	while (sp > 0) {
		gstk e = stk[--sp];
		if (e.slot >= 0) {
			cap[e.slot] = e.val;
			continue;
		}
		uint32_t pc = e.pc;
		for (;;) {
			if (pc == 0) break;
			uint32_t j = q->sparse[pc];
			if (j < (uint32_t)q->n && q->dense[j] == pc) break;
			j = (uint32_t)q->n++;
			q->dense[j] = pc;
			q->sparse[pc] = j;
			q->has[j] = 0;
			const gore_inst *in = &re->inst[pc];
			if (in->op == GI_FAIL) break;
			if (in->op == GI_ALT) {
				stk[sp].pc = in->arg;
				stk[sp].slot = -1;
				sp++;
				pc = in->out;
				continue;
			}
			if (in->op == GI_EMPTY) {
				if ((in->arg & ~cond) == 0) {
					pc = in->out;
					continue;
				}
				break;
			}
			if (in->op == GI_NOP) {
				pc = in->out;
				continue;
			}
			if (in->op == GI_CAP) {
				int slot = (int)in->arg;
				if (slot < ncap) {
					stk[sp].slot = slot;
					stk[sp].val = cap[slot];
					sp++;
					cap[slot] = pos;
				}
				pc = in->out;
				continue;
			}
			/* rune or match: a thread */
			q->has[j] = 1;
			memcpy(q->caps + (size_t)j * (size_t)ncap, cap, (size_t)ncap * sizeof(int));
			break;
		}
	}
}

/* gore_match runs re on s (n bytes): 1 and the submatch indexes in m
 * (2*(ngroups+1) ints, -1 for groups that did not take part), as
 * FindStringSubmatchIndex; 0 when it does not match. */
GORE_FN int gore_match(const gore *re, const char *s, size_t n, int *m) {
	int ncap = 2 * (re->ngroups + 1);
	size_t ni = (size_t)re->ninst;
	size_t need = 2 * (2 * ni * sizeof(uint32_t) + ni * (size_t)ncap * sizeof(int) + ni) + (2 * ni + 2) * sizeof(gstk) +
	              (size_t)ncap * sizeof(int) + 64;
	if (gore__scratch.size < need) {
		free(gore__scratch.mem);
		gore__scratch.mem = malloc(need);
		if (gore__scratch.mem == NULL) abort();
		gore__scratch.size = need;
	}
	uint8_t *p = gore__scratch.mem;
	gq q[2];
	for (int k = 0; k < 2; k++) {
		q[k].caps = (int *)p;
		p += ni * (size_t)ncap * sizeof(int);
		q[k].sparse = (uint32_t *)p;
		p += ni * sizeof(uint32_t);
		q[k].dense = (uint32_t *)p;
		p += ni * sizeof(uint32_t);
		q[k].has = p;
		p += ni;
		p = (uint8_t *)(((uintptr_t)p + 7) & ~(uintptr_t)7);
		q[k].n = 0;
		memset(q[k].sparse, 0, ni * sizeof(uint32_t));
	}
	gstk *stk = (gstk *)p;
	p += (2 * ni + 2) * sizeof(gstk);
	int *matchcap = (int *)p;
	for (int i = 0; i < ncap; i++) matchcap[i] = -1;
	const unsigned char *u = (const unsigned char *)s;
	int matched = 0;
	gq *runq = &q[0], *nextq = &q[1];
	size_t pos = 0;
	int32_t r = -1, r1 = -1, prev = -1;
	int w = 0, w1 = 0;
#define GORE_STEP(at, rr, ww)                                                         \
	do {                                                                              \
		if ((at) < n) {                                                               \
			if (u[at] < 0x80) {                                                       \
				rr = u[at];                                                           \
				ww = 1;                                                               \
			} else {                                                                  \
				uint32_t dr;                                                          \
				ww = utf8_decode(u + (at), n - (at), &dr);                            \
				rr = (int32_t)dr;                                                     \
			}                                                                         \
		} else {                                                                      \
			rr = -1;                                                                  \
			ww = 0;                                                                   \
		}                                                                             \
	} while (0)
	GORE_STEP(pos, r, w);
	if (r != -1) GORE_STEP(pos + (size_t)w, r1, w1);
	for (;;) {
		if (runq->n == 0) {
			if (re->anchored && pos != 0) break;
			if (matched) break;
		}
		if (!matched && (pos == 0 || !re->anchored)) {
			matchcap[0] = (int)pos;
			gore__add(re, runq, re->start, (int)pos, matchcap, ncap, gore__cond(prev, r), stk);
		}
		uint32_t nextcond = gore__cond(r, r1);
		/* step */
		for (int j = 0; j < runq->n; j++) {
			if (!runq->has[j]) continue;
			const gore_inst *in = &re->inst[runq->dense[j]];
			int *tc = runq->caps + (size_t)j * (size_t)ncap;
			if (in->op == GI_MATCH) {
				tc[1] = (int)pos;
				memcpy(matchcap, tc, (size_t)ncap * sizeof(int));
				matched = 1;
				break; /* cut off the lower-priority threads */
			}
			if (gore__in(re, in, r)) gore__add(re, nextq, in->out, (int)(pos + (size_t)w), tc, ncap, nextcond, stk);
		}
		runq->n = 0;
		if (w == 0) break;
		pos += (size_t)w;
		prev = r;
		r = r1;
		w = w1;
		if (r != -1) GORE_STEP(pos + (size_t)w, r1, w1);
		gq *t = runq;
		runq = nextq;
		nextq = t;
	}
#undef GORE_STEP
	if (!matched) return 0;
	memcpy(m, matchcap, (size_t)ncap * sizeof(int));
	return 1;
}

/* gore_index returns the group named name (the first one), or -1
 * (SubexpIndex). */
GORE_FN int gore_index(const gore *re, const char *name, size_t n) {
	if (n == 0) return -1;
	for (int i = 0; i <= re->ngroups; i++)
		if (strlen(re->names[i]) == n && memcmp(re->names[i], name, n) == 0) return i;
	return -1;
}

#endif
