/*
 * throttle, the C build: Zimbra's per-IP and per-user login limits counted
 * in the shared key-value store. It behaves exactly as the Go source one
 * directory up (the reference; plugins/throttle/c_test.go runs both side
 * by side and fails on any difference): the same configuration accepted
 * and refused, the same keys (storekeys' rules, ported below), the same
 * incr/add/incr sequence and TTLs, the same verdicts, fields and counters.
 *
 * Build: make c-plugins (writes plugin.wasm next to this file).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PJ_MAX_NODES 4096 /* the document is malloc'd for init only */
#include "postern.h"
#include "postern_json.h"
#include "../../internal/duration/duration.h"
#include "../../internal/netip/netip.h"
#include "postern_sha256.h"

POSTERN_ABI_VERSION_EXPORT()

/* ---- configuration ------------------------------------------------------ */

#define NS_PER_SEC 1000000000LL
#define NS_PER_MS 1000000LL
#define MAX_WINDOW_NS (30LL * 24 * 3600 * NS_PER_SEC) /* memcached's longest relative TTL */
#define MAX_WINDOW_SECS (30LL * 24 * 3600)
#define DEFAULT_WINDOW_NS (3600LL * NS_PER_SEC)

typedef struct {
	uint64_t limit, soft; /* 0 = unlimited / never */
	int64_t window_ns;
	char *message; /* malloc'd */
	size_t message_len;
} counter;

/* A prefix of the allowlist, masked; IPv4 in a[0..3]. */
typedef struct {
	uint8_t a[16];
	int is4;
	int bits;
} prefix;

static const char *const protocols[3] = {"imap", "pop3", "http"};

static struct {
	counter ip, user;
	int has_proto[3];
	uint64_t proto_limit[3];
	int user_every_attempt, user_by_account;
	prefix *allow;
	int nallow;
	int64_t delay_ns;
	int64_t reuse_ns; /* the decision reuse init declares (ABI 1.2) */
} cfg;

/* The store outage is logged once per instance. */
static int store_err_logged;

/* ---- small helpers ------------------------------------------------------ */

/* utf8_len returns the length of the valid UTF-8 sequence at s (as Go's
 * utf8.DecodeRune accepts it), or 0 when the byte starts none. */
static int utf8_len(const unsigned char *s, size_t n) {
	unsigned c = s[0];
	if (c < 0x80) return 1;
	if (c < 0xC2 || c > 0xF4) return 0;
	if (c < 0xE0) return n >= 2 && (s[1] & 0xC0) == 0x80 ? 2 : 0;
	if (c < 0xF0) {
		if (n < 3) return 0;
		unsigned lo = 0x80, hi = 0xBF;
		if (c == 0xE0) lo = 0xA0;
		if (c == 0xED) hi = 0x9F; /* no surrogates */
		return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 ? 3 : 0;
	}
	if (n < 4) return 0;
	unsigned lo = 0x80, hi = 0xBF;
	if (c == 0xF0) lo = 0x90;
	if (c == 0xF4) hi = 0x8F;
	return s[1] >= lo && s[1] <= hi && (s[2] & 0xC0) == 0x80 && (s[3] & 0xC0) == 0x80 ? 4 : 0;
}

/* json_string decodes string node i as Go's encoding/json does (escapes,
 * and each byte of invalid UTF-8 becomes U+FFFD). Returns a malloc'd,
 * NUL-terminated copy and its length in *len, or NULL. */
static char *json_string(const pj_doc *d, int i, size_t *len) {
	if (i < 0 || d->n[i].type != PJ_STRING) return NULL;
	int cap = d->n[i].len + 1; /* decoding never grows the text */
	char *raw = malloc((size_t)cap);
	if (raw == NULL) return NULL;
	int n = pj_string(d, i, raw, cap);
	if (n < 0) {
		free(raw);
		return NULL;
	}
	char *out = malloc((size_t)n * 3 + 1);
	if (out == NULL) {
		free(raw);
		return NULL;
	}
	size_t o = 0;
	for (int k = 0; k < n;) {
		int l = utf8_len((const unsigned char *)raw + k, (size_t)(n - k));
		if (l == 0) {
			memcpy(out + o, "\xEF\xBF\xBD", 3);
			o += 3;
			k++;
		} else {
			memcpy(out + o, raw + k, (size_t)l);
			o += (size_t)l;
			k += l;
		}
	}
	out[o] = '\0';
	free(raw);
	*len = o;
	return out;
}

/* key_is reports whether the decoded JSON key matches a struct field name
 * (lower-case ASCII) as encoding/json matches them: case-insensitively,
 * with U+212A KELVIN SIGN folding to k and U+017F LONG S to s. */
static int key_is(const char *k, size_t kn, const char *name) {
	size_t i = 0;
	for (const char *p = name; *p; p++) {
		if (i >= kn) return 0;
		unsigned char c = (unsigned char)k[i];
		if (c < 0x80) {
			if (c >= 'A' && c <= 'Z') c = (unsigned char)(c + 32);
			if (c != (unsigned char)*p) return 0;
			i++;
		} else if (*p == 'k' && kn - i >= 3 && memcmp(k + i, "\xE2\x84\xAA", 3) == 0) {
			i += 3;
		} else if (*p == 's' && kn - i >= 2 && memcmp(k + i, "\xC5\xBF", 2) == 0) {
			i += 2;
		} else {
			return 0;
		}
	}
	return i == kn;
}

/* json_int64 reads a number node as Go decodes it into an int64: a whole
 * number in range, no fraction or exponent. */
static int json_int64(const pj_doc *d, int i, int64_t *out) {
	const char *s = d->n[i].s;
	int n = d->n[i].len, k = 0, neg = 0;
	if (k < n && s[k] == '-') {
		neg = 1;
		k++;
	}
	if (k >= n) return -1;
	uint64_t v = 0;
	for (; k < n; k++) {
		if (s[k] < '0' || s[k] > '9') return -1;
		if (v > (UINT64_MAX - 9) / 10) return -1;
		v = v * 10 + (uint64_t)(s[k] - '0');
	}
	if (!neg && v > (uint64_t)INT64_MAX) return -1;
	if (neg && v > (uint64_t)INT64_MAX + 1) return -1;
	*out = neg ? (int64_t)(0 - v) : (int64_t)v;
	return 0;
}

/* ---- durations ---------------------------------------------------------- */

/* A duration's JSON value, kept raw until checked (rawDur): -1 = not given. */
typedef int rawdur;

/* parse_dur interprets a duration value as the Go rawDur.parse does: null
 * or absent is def, a string a Go duration, a number whole seconds. */
static int parse_dur(const pj_doc *d, rawdur i, int64_t def, int64_t *out, const char *key, char *err, size_t errn) {
	if (i < 0 || d->n[i].type == PJ_NULL) {
		*out = def;
		return 0;
	}
	if (d->n[i].type == PJ_STRING) {
		size_t n;
		char *s = json_string(d, i, &n);
		int r = s ? go_parse_duration(s, n, out) : -1;
		free(s);
		if (r < 0) {
			snprintf(err, errn, "%s: \"%.*s\" is not a duration; write seconds (60) or a Go duration (\"1m\")", key,
			         d->n[i].len > 64 ? 64 : d->n[i].len, d->n[i].s);
			return -1;
		}
		return 0;
	}
	int64_t v;
	if (d->n[i].type != PJ_NUMBER || json_int64(d, i, &v) < 0 || v > MAX_WINDOW_SECS || v < -MAX_WINDOW_SECS) {
		snprintf(err, errn, "%s: %.*s is not a whole number of seconds; write seconds (60) or a Go duration (\"1m\")", key,
		         d->n[i].len > 64 ? 64 : d->n[i].len, d->n[i].s);
		return -1;
	}
	*out = v * NS_PER_SEC;
	return 0;
}

/* ---- addresses (net/netip) ---------------------------------------------- */

/* netip.h's address: b, is4, zone (after the '%', in the text) and zone_len. */
typedef ipaddr addr;

static void unmap(addr *a) {
	if (is4in6(a)) {
		memmove(a->b, a->b + 12, 4);
		memset(a->b + 4, 0, 12);
		a->is4 = 1;
	}
}

static void mask(prefix *p) {
	int nb = p->is4 ? 4 : 16;
	for (int i = 0; i < nb; i++) {
		int keep = p->bits - 8 * i;
		if (keep >= 8) continue;
		p->a[i] = keep <= 0 ? 0 : (uint8_t)(p->a[i] & (0xFF << (8 - keep)));
	}
}

/* parse_prefix is the Go plugin's parsePrefix: a CIDR (netip.ParsePrefix)
 * or a bare address, no zone, IPv4-mapped ones written as IPv4, masked. */
static int parse_prefix(const char *s, size_t n, prefix *p) {
	addr a;
	if (memchr(s, '/', n) != NULL) {
		size_t i = n;
		while (s[i - 1] != '/') i--;
		i--; /* the last '/' */
		if (parse_addr(s, i, &a) < 0) return -1;
		if (a.zone_len > 0) return -1;
		const char *b = s + i + 1;
		size_t bn = n - i - 1;
		if (bn == 0) return -1;
		if (bn > 1 && (b[0] < '1' || b[0] > '9')) return -1;
		int bits = 0;
		for (size_t k = 0; k < bn; k++) {
			if (b[k] < '0' || b[k] > '9') return -1;
			bits = bits * 10 + (b[k] - '0');
			if (bits > 1000) return -1;
		}
		if (bits > (a.is4 ? 32 : 128)) return -1;
		if (is4in6(&a)) bits -= 96;
		if (bits < 0) return -1;
		unmap(&a);
		memcpy(p->a, a.b, 16);
		p->is4 = a.is4;
		p->bits = bits;
		mask(p);
		return 0;
	}
	if (parse_addr(s, n, &a) < 0) return -1;
	if (a.zone_len > 0) return -1;
	unmap(&a);
	memcpy(p->a, a.b, 16);
	p->is4 = a.is4;
	p->bits = a.is4 ? 32 : 128;
	return 0;
}

/* contains is netip.Prefix.Contains for an address without a zone. */
static int contains(const prefix *p, const addr *a) {
	if (p->is4 != a->is4) return 0;
	int full = p->bits / 8, rest = p->bits % 8;
	if (memcmp(p->a, a->b, (size_t)full) != 0) return 0;
	if (rest == 0) return 1;
	uint8_t m = (uint8_t)(0xFF << (8 - rest));
	return (p->a[full] & m) == (a->b[full] & m);
}

/* ---- init --------------------------------------------------------------- */

static void free_config(void) {
	free(cfg.ip.message);
	free(cfg.user.message);
	free(cfg.allow);
	memset(&cfg, 0, sizeof cfg);
}

/* What the JSON says, before the checks: Go's rawConfig. */
typedef struct {
	int64_t limit, soft;
	rawdur window;
	char *message; /* NULL: not given (or null) */
	size_t message_len;
} rawcounter;

typedef struct {
	rawcounter ip, user;
	int has_proto[3], other_proto;
	int64_t proto[3];
	char *other_name; /* an unknown protocol's name, for the message */
	char *count, *key;
	size_t count_len, key_len;
	prefix *allow;
	int nallow, bad_allow; /* bad_allow: index + 1 of the first bad entry */
	rawdur delay, reuse;
} rawconfig;

static void free_raw(rawconfig *rc) {
	free(rc->ip.message);
	free(rc->user.message);
	free(rc->other_name);
	free(rc->count);
	free(rc->key);
	free(rc->allow);
}

#define TYPE_ERR(key, want)                                                                                     \
	do {                                                                                                          \
		snprintf(err, errn, "%s: want %s, got JSON %s", key, want, pj_type_name(d, v));                          \
		return -1;                                                                                                  \
	} while (0)

static int dec_int64(const pj_doc *d, int v, int64_t *out, const char *key, char *err, size_t errn) {
	if (d->n[v].type == PJ_NULL) return 0; /* Go leaves the value as it was */
	if (d->n[v].type != PJ_NUMBER || json_int64(d, v, out) < 0) TYPE_ERR(key, "a whole number");
	return 0;
}

static int dec_string(const pj_doc *d, int v, char **out, size_t *outn, int null_clears, const char *key, char *err,
                      size_t errn) {
	if (d->n[v].type == PJ_NULL) {
		if (null_clears) { /* a *string: null makes it nil */
			free(*out);
			*out = NULL;
		}
		return 0;
	}
	if (d->n[v].type != PJ_STRING) TYPE_ERR(key, "a string");
	size_t n;
	char *s = json_string(d, v, &n);
	if (s == NULL) {
		snprintf(err, errn, "%s: out of memory", key);
		return -1;
	}
	free(*out);
	*out = s;
	*outn = n;
	return 0;
}

/* dec_counter decodes the ip or user object into rc, member by member in
 * order, as encoding/json decodes into an existing struct. */
static int dec_counter(const pj_doc *d, int v, rawconfig *rc, int is_ip, char *err, size_t errn) {
	const char *name = is_ip ? "ip" : "user";
	rawcounter *c = is_ip ? &rc->ip : &rc->user;
	if (d->n[v].type == PJ_NULL) return 0;
	if (d->n[v].type != PJ_OBJECT) TYPE_ERR(name, "an object");
	for (int k = pj_first(d, v); k >= 0; k = pj_next(d, k)) {
		size_t kn;
		char *key = json_string(d, k, &kn);
		if (key == NULL) return -1;
		int m = d->n[k].child, r = 0;
		char fk[32];
		if (key_is(key, kn, "limit")) {
			snprintf(fk, sizeof fk, "%s.limit", name);
			r = dec_int64(d, m, &c->limit, fk, err, errn);
		} else if (key_is(key, kn, "soft_limit")) {
			snprintf(fk, sizeof fk, "%s.soft_limit", name);
			r = dec_int64(d, m, &c->soft, fk, err, errn);
		} else if (key_is(key, kn, "window")) {
			c->window = m;
		} else if (key_is(key, kn, "message")) {
			snprintf(fk, sizeof fk, "%s.message", name);
			r = dec_string(d, m, &c->message, &c->message_len, 1, fk, err, errn);
		} else if (is_ip && key_is(key, kn, "protocols")) {
			if (d->n[m].type == PJ_NULL) { /* the map becomes nil */
				memset(rc->has_proto, 0, sizeof rc->has_proto);
				rc->other_proto = 0;
			} else if (d->n[m].type != PJ_OBJECT) {
				snprintf(err, errn, "ip.protocols: want an object, got JSON %s", pj_type_name(d, m));
				r = -1;
			} else {
				for (int pk = pj_first(d, m); pk >= 0 && r == 0; pk = pj_next(d, pk)) {
					size_t pn;
					char *pname = json_string(d, pk, &pn);
					if (pname == NULL) {
						r = -1;
						break;
					}
					int64_t val = 0; /* null stores 0 in a map */
					r = dec_int64(d, d->n[pk].child, &val, "ip.protocols", err, errn);
					int found = 0;
					for (int q = 0; q < 3; q++)
						if (pn == strlen(protocols[q]) && memcmp(pname, protocols[q], pn) == 0) {
							rc->has_proto[q] = 1;
							rc->proto[q] = val;
							found = 1;
						}
					if (!found && !rc->other_proto) {
						rc->other_proto = 1;
						free(rc->other_name);
						rc->other_name = pname;
						pname = NULL;
					}
					free(pname);
				}
			}
		} else if (!is_ip && key_is(key, kn, "count")) {
			r = dec_string(d, m, &rc->count, &rc->count_len, 0, "user.count", err, errn);
		} else if (!is_ip && key_is(key, kn, "key")) {
			r = dec_string(d, m, &rc->key, &rc->key_len, 0, "user.key", err, errn);
		} else {
			snprintf(err, errn, "json: unknown field \"%.*s\"", kn > 64 ? 64 : (int)kn, key);
			r = -1;
		}
		free(key);
		if (r < 0) return -1;
	}
	return 0;
}

static int dec_allowlist(const pj_doc *d, int v, rawconfig *rc, char *err, size_t errn) {
	free(rc->allow);
	rc->allow = NULL;
	rc->nallow = 0;
	rc->bad_allow = 0;
	if (d->n[v].type == PJ_NULL) return 0;
	if (d->n[v].type != PJ_ARRAY) TYPE_ERR("allowlist", "a list");
	int count = d->n[v].count;
	if (count == 0) return 0;
	rc->allow = malloc(sizeof(prefix) * (size_t)count);
	if (rc->allow == NULL) {
		snprintf(err, errn, "allowlist: out of memory");
		return -1;
	}
	int i = 0;
	for (int it = pj_first(d, v); it >= 0; it = pj_next(d, it), i++) {
		if (d->n[it].type == PJ_NULL) { /* "" in a fresh list: not an address */
			if (!rc->bad_allow) rc->bad_allow = i + 1;
			continue;
		}
		if (d->n[it].type != PJ_STRING) {
			snprintf(err, errn, "allowlist: want a string, got JSON %s", pj_type_name(d, it));
			return -1;
		}
		size_t n;
		char *s = json_string(d, it, &n);
		if (s == NULL) return -1;
		if (parse_prefix(s, n, &rc->allow[i]) < 0 && !rc->bad_allow) rc->bad_allow = i + 1;
		free(s);
	}
	rc->nallow = count;
	return 0;
}

/* decode is dec.Decode(&rc) with DisallowUnknownFields, then dec.More(). */
static int decode(pj_doc *d, const char *text, int len, rawconfig *rc, char *err, size_t errn) {
	d->count = 0;
	d->err[0] = '\0';
	d->src = d->p = text;
	d->end = text + len;
	if (pj__value(d, 0) < 0) {
		snprintf(err, errn, "not valid JSON: %s", d->err);
		return -1;
	}
	/* Like Decode, read only the first value; More() sees a next one unless
	   only spaces, ']' or '}' follow. */
	pj__ws(d);
	if (d->p < d->end && *d->p != ']' && *d->p != '}') {
		snprintf(err, errn, "trailing data after the JSON object");
		return -1;
	}
	int v = 0;
	if (d->n[0].type == PJ_NULL) return 0;
	if (d->n[0].type != PJ_OBJECT) {
		snprintf(err, errn, "the configuration must be a JSON object, got JSON %s", pj_type_name(d, 0));
		return -1;
	}
	for (int k = pj_first(d, v); k >= 0; k = pj_next(d, k)) {
		size_t kn;
		char *key = json_string(d, k, &kn);
		if (key == NULL) return -1;
		int m = d->n[k].child, r = 0;
		if (key_is(key, kn, "ip")) r = dec_counter(d, m, rc, 1, err, errn);
		else if (key_is(key, kn, "user")) r = dec_counter(d, m, rc, 0, err, errn);
		else if (key_is(key, kn, "allowlist")) r = dec_allowlist(d, m, rc, err, errn);
		else if (key_is(key, kn, "delay")) rc->delay = m;
		else if (key_is(key, kn, "reuse")) rc->reuse = m;
		else {
			snprintf(err, errn, "json: unknown field \"%.*s\"", kn > 64 ? 64 : (int)kn, key);
			r = -1;
		}
		free(key);
		if (r < 0) return -1;
	}
	return 0;
}

/* is_space_only reports whether bytes.TrimSpace leaves nothing of s. */
static int is_space_only(const unsigned char *s, size_t n) {
	for (size_t i = 0; i < n;) {
		unsigned c = s[i];
		if (c == '\t' || c == '\n' || c == '\v' || c == '\f' || c == '\r' || c == ' ') {
			i++;
			continue;
		}
		int l = utf8_len(s + i, n - i);
		if (l == 2 && c == 0xC2 && (s[i + 1] == 0x85 || s[i + 1] == 0xA0)) {
			i += 2;
			continue;
		}
		if (l == 3) {
			uint32_t r = (uint32_t)(c & 0x0F) << 12 | (uint32_t)(s[i + 1] & 0x3F) << 6 | (uint32_t)(s[i + 2] & 0x3F);
			if (r == 0x1680 || (r >= 0x2000 && r <= 0x200A) || r == 0x2028 || r == 0x2029 || r == 0x202F ||
			    r == 0x205F || r == 0x3000) {
				i += 3;
				continue;
			}
		}
		return 0;
	}
	return 1;
}

static int make_counter(const pj_doc *d, const rawcounter *r, const char *name, const char *def_msg, counter *c,
                        char *err, size_t errn) {
	if (r->limit < 0) {
		snprintf(err, errn, "%s.limit: %lld is negative; 0 means unlimited", name, (long long)r->limit);
		return -1;
	}
	if (r->soft < 0) {
		snprintf(err, errn, "%s.soft_limit: %lld is negative; 0 means no delay", name, (long long)r->soft);
		return -1;
	}
	if (r->limit > 0 && r->soft >= r->limit) {
		snprintf(err, errn,
		         "%s.soft_limit: %lld is not below %s.limit %lld; a soft limit delays logins before the limit refuses them",
		         name, (long long)r->soft, name, (long long)r->limit);
		return -1;
	}
	c->limit = (uint64_t)r->limit;
	c->soft = (uint64_t)r->soft;
	char key[32];
	snprintf(key, sizeof key, "%s.window", name);
	if (parse_dur(d, r->window, DEFAULT_WINDOW_NS, &c->window_ns, key, err, errn) < 0) return -1;
	if (c->window_ns < NS_PER_SEC || c->window_ns > MAX_WINDOW_NS) {
		snprintf(err, errn, "%s.window: %lldns is outside 1s..720h", name, (long long)c->window_ns);
		return -1;
	}
	if (c->window_ns % NS_PER_SEC != 0) {
		snprintf(err, errn, "%s.window: %lldns is not whole seconds (memcached TTLs are seconds)", name,
		         (long long)c->window_ns);
		return -1;
	}
	const char *msg = def_msg;
	size_t mn = strlen(def_msg);
	if (r->message != NULL) {
		if (r->message_len == 0 || memchr(r->message, '\r', r->message_len) || memchr(r->message, '\n', r->message_len)) {
			snprintf(err, errn, "%s.message: must be one non-empty line", name);
			return -1;
		}
		msg = r->message;
		mn = r->message_len;
	}
	c->message = malloc(mn + 1);
	if (c->message == NULL) {
		snprintf(err, errn, "%s.message: out of memory", name);
		return -1;
	}
	memcpy(c->message, msg, mn);
	c->message[mn] = '\0';
	c->message_len = mn;
	return 0;
}

static int str_is(const char *s, size_t n, const char *want) {
	return s != NULL && n == strlen(want) && memcmp(s, want, n) == 0;
}

/* configure is the Go parse: decode, then check every key. */
static int configure(const char *text, int len, char *err, size_t errn) {
	if (len <= 0 || is_space_only((const unsigned char *)text, (size_t)len)) {
		rawconfig rc;
		memset(&rc, 0, sizeof rc);
		rc.ip.window = rc.user.window = rc.delay = rc.reuse = -1;
		/* fall through to the checks with the defaults */
		int r = 0;
		if (make_counter(NULL, &rc.ip, "ip", "Login rejected from this IP", &cfg.ip, err, errn) < 0 ||
		    make_counter(NULL, &rc.user, "user", "Login rejected for this user", &cfg.user, err, errn) < 0)
			r = -1;
		cfg.reuse_ns = DURATION_DEFAULT_REUSE_NS;
		return r;
	}
	pj_doc *d = malloc(sizeof *d);
	if (d == NULL) {
		snprintf(err, errn, "out of memory");
		return -1;
	}
	rawconfig rc;
	memset(&rc, 0, sizeof rc);
	rc.ip.window = rc.user.window = rc.delay = rc.reuse = -1;
	int r = -1;
	if (decode(d, text, len, &rc, err, errn) < 0) goto out;
	if (make_counter(d, &rc.ip, "ip", "Login rejected from this IP", &cfg.ip, err, errn) < 0) goto out;
	if (make_counter(d, &rc.user, "user", "Login rejected for this user", &cfg.user, err, errn) < 0) goto out;
	if (rc.other_proto) {
		snprintf(err, errn, "ip.protocols: unknown protocol \"%.64s\"; use imap, pop3, http",
		         rc.other_name ? rc.other_name : "");
		goto out;
	}
	for (int q = 0; q < 3; q++) {
		if (!rc.has_proto[q]) continue;
		if (rc.proto[q] < 0) {
			snprintf(err, errn, "ip.protocols.%s: %lld is negative; 0 means unlimited", protocols[q],
			         (long long)rc.proto[q]);
			goto out;
		}
		cfg.has_proto[q] = 1;
		cfg.proto_limit[q] = (uint64_t)rc.proto[q];
	}
	if (rc.count == NULL || rc.count_len == 0 || str_is(rc.count, rc.count_len, "login")) {
	} else if (str_is(rc.count, rc.count_len, "attempt")) {
		cfg.user_every_attempt = 1;
	} else {
		snprintf(err, errn, "user.count: \"%.64s\": want \"login\" (first attempt of a session) or \"attempt\" (every attempt)",
		         rc.count);
		goto out;
	}
	if (rc.key == NULL || rc.key_len == 0 || str_is(rc.key, rc.key_len, "login")) {
	} else if (str_is(rc.key, rc.key_len, "account")) {
		cfg.user_by_account = 1;
	} else {
		snprintf(err, errn, "user.key: \"%.64s\": want \"login\" or \"account\"", rc.key);
		goto out;
	}
	if (rc.bad_allow) {
		snprintf(err, errn, "allowlist[%d]: not an IP address or CIDR (192.0.2.0/24, 2001:db8::/32)", rc.bad_allow - 1);
		goto out;
	}
	cfg.allow = rc.allow;
	cfg.nallow = rc.nallow;
	rc.allow = NULL;
	if (parse_dur(d, rc.delay, 0, &cfg.delay_ns, "delay", err, errn) < 0) goto out;
	if (cfg.delay_ns < 0 || cfg.delay_ns > (int64_t)POSTERN_MAX_DELAY_MS * NS_PER_MS) {
		snprintf(err, errn, "delay: %lldns is outside 0..5m0s", (long long)cfg.delay_ns);
		goto out;
	}
	int soft = cfg.ip.soft > 0 || cfg.user.soft > 0;
	if (soft && cfg.delay_ns == 0) {
		snprintf(err, errn, "delay: a soft_limit is set but delay is 0; give the delay (\"2s\") to apply above the soft limit");
		goto out;
	}
	if (!soft && cfg.delay_ns > 0) {
		snprintf(err, errn, "delay: set without ip.soft_limit or user.soft_limit; give a soft limit or remove delay");
		goto out;
	}
	/* parseReuse: like the other durations, 0..1h, the value quoted as written */
	if (parse_dur(d, rc.reuse, DURATION_DEFAULT_REUSE_NS, &cfg.reuse_ns, "reuse", err, errn) < 0) goto out;
	/* parseReuse: 0..1h, the value quoted as written (absent: the default) */
	if (rc.reuse >= 0 && duration_check_reuse(cfg.reuse_ns, DURATION_IS_OUTSIDE, d->n[rc.reuse].type == PJ_STRING ? "\"" : "",
	                                          d->n[rc.reuse].s, d->n[rc.reuse].len > 200 ? 200 : d->n[rc.reuse].len, err,
	                                          errn) < 0)
		goto out;
	r = 0;
out:
	free_raw(&rc);
	free(d);
	return r;
}

POSTERN_EXPORT("postern_init") int32_t init(void) {
	free_config();
	store_err_logged = 0;
	char *text;
	int32_t n = postern_config_dup(&text);
	if (n < 0) n = 0;
	char err[400];
	int r = configure(text, n, err, sizeof err);
	free(text);
	if (r < 0) {
		char msg[440];
		snprintf(msg, sizeof msg, "throttle: config: %s", err);
		free_config();
		postern_set_message(msg);
		return POSTERN_INIT_REFUSE;
	}
	/* Only logins count (check skips a request without one too, for hosts
	   older than ABI 1.1): anonymous requests never enter the plugin. */
	postern_only_with_login();
	/* The decision reuse (ABI 1.2; throttle.go, duration.DeclareReuse). */
	if (duration_declare_reuse("throttle", cfg.reuse_ns) < 0) {
		free_config();
		return POSTERN_INIT_REFUSE;
	}
	return POSTERN_INIT_OK;
}

/* ---- store keys (storekeys) --------------------------------------------- */

#define MAX_KEY_BYTES 250
#define HASH_PREFIX "%sha256:"

static int needs_escape(unsigned char c, int delims) {
	return c <= ' ' || c == 0x7f || c == '%' || (delims && (c == ';' || c == ','));
}

/* escape is storekeys' escape: malloc'd result, its length in *outn. */
static char *escape(const char *s, size_t n, int delims, size_t *outn) {
	static const char hexd[] = "0123456789ABCDEF";
	char *b = malloc(n * 3 + 1);
	if (b == NULL) return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (needs_escape(c, delims)) {
			b[o++] = '%';
			b[o++] = hexd[c >> 4];
			b[o++] = hexd[c & 15];
		} else {
			b[o++] = (char)c;
		}
	}
	b[o] = '\0';
	*outn = o;
	return b;
}

/* build_key is storekeys' layout.build for one or two parts: the labels
 * and the escaped parts, the longest part hashed until the key fits.
 * free_part is the part that keeps ';' and ',' (-1: none). */
static char *build_key(int nparts, const char *const labels[], const char *const raw[], const size_t rawn[],
                       int free_part, size_t *keyn) {
	char *parts[2] = {NULL, NULL};
	size_t pn[2] = {0, 0};
	int hashed[2] = {0, 0};
	char *key = NULL;
	for (int i = 0; i < nparts; i++) {
		parts[i] = escape(raw[i], rawn[i], i != free_part, &pn[i]);
		if (parts[i] == NULL) goto out;
	}
	size_t n;
	for (;;) {
		n = 0;
		for (int i = 0; i < nparts; i++) n += strlen(labels[i]) + pn[i];
		if (n <= MAX_KEY_BYTES) break;
		int longest = -1;
		for (int i = 0; i < nparts; i++)
			if (!hashed[i] && (longest < 0 || pn[i] > pn[longest])) longest = i;
		if (longest < 0) break;
		uint8_t sum[32];
		postern_sha256(raw[longest], rawn[longest], sum);
		char *h = malloc(8 + 64 + 1);
		if (h == NULL) goto out;
		memcpy(h, HASH_PREFIX, 8);
		postern_hex(sum, 32, h + 8);
		h[72] = '\0';
		free(parts[longest]);
		parts[longest] = h;
		pn[longest] = 72;
		hashed[longest] = 1;
	}
	key = malloc(n + 1);
	if (key == NULL) goto out;
	size_t o = 0;
	for (int i = 0; i < nparts; i++) {
		size_t l = strlen(labels[i]);
		memcpy(key + o, labels[i], l);
		o += l;
		memcpy(key + o, parts[i], pn[i]);
		o += pn[i];
	}
	key[o] = '\0';
	*keyn = o;
out:
	free(parts[0]);
	free(parts[1]);
	return key;
}

/* ---- the throttle hook -------------------------------------------------- */

enum { UNDER, SOFT, HARD };

static void counter_add(const char *name) { postern_counter_add(name, (uint32_t)strlen(name), 1); }

static const char *err_name(int64_t r) {
	switch (r) {
	case POSTERN_ERR_UNAVAILABLE: return "unavailable";
	case POSTERN_ERR_TIMEOUT: return "timeout";
	case POSTERN_ERR_TOO_LARGE: return "too large";
	case POSTERN_ERR_INVALID: return "invalid";
	case POSTERN_ERR_DENIED: return "denied";
	case POSTERN_ERR_NOT_AVAILABLE: return "not available";
	}
	return "error";
}

/* store_failed counts a store failure and logs the first of this instance.
 * The line names the error only: keys hold logins and addresses. */
static void store_failed(int64_t r) {
	counter_add("store_errors");
	if (store_err_logged) return;
	store_err_logged = 1;
	char msg[400];
	snprintf(msg, sizeof msg,
	         "throttle: key-value store failed (%s, code %lld); logins are allowed unthrottled while it fails; check the "
	         "memcached servers in the store configuration (logged once per instance, counted in store_errors)",
	         err_name(r), (long long)r);
	postern_log_str(POSTERN_LEVEL_WARN, msg);
}

/* probe is one counter of this attempt: its key, limits, whether it moves,
 * and what the store said (r: the count, or a negative error). */
typedef struct {
	char *key;
	size_t keyn;
	uint64_t limit, soft;
	int64_t window_ns;
	int move;
	int64_t r;
	int moved; /* raised for this attempt (undo lowers it) */
} probe;

/* count_all is Zimbra's counting for each probe: incr key 1; on NOT_FOUND
 * add key "1" with the window as TTL; when add loses the race to another
 * node, incr again. A probe that does not move reads the count (incr by 0)
 * and creates nothing. The first incr of every probe goes in one kv_batch;
 * the rare add (a new window) is a call of its own. */
static void count_all(probe *ps[], int n) {
	uint8_t req[2 * (2 + POSTERN_MAX_KEY_BYTES + 8)], resp[16];
	postern_kvb b;
	postern_kvb_init(&b, req, sizeof req);
	for (int i = 0; i < n; i++) postern_kvb_incr(&b, ps[i]->key, (uint32_t)ps[i]->keyn, ps[i]->move ? 1 : 0);
	postern_kvb_resp r;
	int32_t rn = postern_kvb_run(&b, resp, sizeof resp, &r);
	for (int i = 0; i < n; i++) {
		probe *p = ps[i];
		if (rn < 0) {
			p->r = rn;
			continue;
		}
		if (!postern_kvb_next(&r, POSTERN_KV_INCR, &p->r, NULL, NULL)) p->r = POSTERN_ERR_TOO_LARGE;
		if (p->r >= 0) {
			p->moved = p->move;
			continue;
		}
		if (p->r != POSTERN_ERR_NOT_FOUND) continue;
		if (!p->move) {
			p->r = 0;
			continue;
		}
		int32_t a = postern_kv_add(p->key, (uint32_t)p->keyn, "1", 1, (int32_t)(p->window_ns / NS_PER_SEC));
		if (a >= 0) {
			p->r = 1;
			p->moved = 1;
		} else if (a == POSTERN_ERR_EXISTS) {
			p->r = postern_kv_incr(p->key, (uint32_t)p->keyn, 1);
			p->moved = p->r >= 0;
		} else {
			p->r = a;
		}
	}
}

/* level says whether the counter is above its limits. A store failure is
 * UNDER: the throttle fails open. */
static int level(const probe *p) {
	if (p->r < 0) {
		store_failed(p->r);
		return UNDER;
	}
	uint64_t n = (uint64_t)p->r;
	if (p->limit > 0 && n > p->limit) return HARD;
	if (p->soft > 0 && n > p->soft) return SOFT;
	return UNDER;
}

/* undo lowers a counter this attempt raised (memcached's decr). */
static void undo(const probe *p) {
	if (!p->moved) return;
	uint8_t req[2 + POSTERN_MAX_KEY_BYTES + 8], resp[8];
	postern_kvb b;
	postern_kvb_init(&b, req, sizeof req);
	postern_kvb_count(&b, POSTERN_KV_DECR, p->key, (uint32_t)p->keyn, 1);
	postern_kvb_resp r;
	int64_t res;
	if (postern_kvb_run(&b, resp, sizeof resp, &r) >= 0 && postern_kvb_next(&r, POSTERN_KV_DECR, &res, NULL, NULL) &&
	    res < 0 && res != POSTERN_ERR_NOT_FOUND)
		store_failed(res);
}

/* refuse sets the message, cut to the field limit on a UTF-8 boundary. */
static int32_t refuse(const counter *c) {
	size_t n = c->message_len;
	if (n > POSTERN_MAX_FIELD_BYTES) {
		n = POSTERN_MAX_FIELD_BYTES;
		while (n > 0 && ((unsigned char)c->message[n] & 0xC0) == 0x80) n--;
	}
	postern_field_set(POSTERN_FIELD_MESSAGE, c->message, (uint32_t)n);
	return POSTERN_VERDICT_REFUSE;
}

/* atoi_go is strconv.Atoi, its error ignored (0, or the clamped value). */
static int64_t atoi_go(const char *s, size_t n) {
	size_t i = 0;
	int neg = 0;
	if (n > 0 && (s[0] == '+' || s[0] == '-')) {
		neg = s[0] == '-';
		i = 1;
	}
	if (i == n) return 0;
	uint64_t v = 0;
	int big = 0;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') return 0;
		if (!big) {
			if (v > (UINT64_MAX - 9) / 10) big = 1;
			else v = v * 10 + (uint64_t)(s[i] - '0');
		}
	}
	if (neg) return big || v > (uint64_t)INT64_MAX + 1 ? INT64_MIN : (int64_t)(0 - v);
	return big || v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v;
}

static int32_t check(void) {
	char *account = NULL, *ipstr = NULL, *proto = NULL, *login = NULL, *attempt = NULL, *key = NULL;
	int32_t verdict = POSTERN_VERDICT_CONTINUE;
	/* A request without a login (a web page load) is not a login attempt:
	   nothing is counted and the store is not asked. */
	int32_t an = postern_field_dup(POSTERN_FIELD_ACCOUNT, &account);
	if (an <= 0) goto out;

	addr ip;
	int ip_ok = 0;
	int32_t ipn = postern_field_dup(POSTERN_FIELD_CLIENT_IP, &ipstr);
	if (ipn > 0 && parse_addr(ipstr, (size_t)ipn, &ip) == 0) {
		ip_ok = 1;
		if (ip.zone_len > 0) ipn = (int32_t)(ip.zone - ipstr) - 1; /* WithZone(""); the host writes it canonically */
		ip.zone = NULL;
		ip.zone_len = 0;
	}
	if (ip_ok) {
		for (int i = 0; i < cfg.nallow; i++)
			if (contains(&cfg.allow[i], &ip)) {
				counter_add("allowlisted");
				goto out;
			}
	}
	/* The IP counter moves on every login attempt; the user counter once
	   per session (its first attempt), or on every attempt with "count":
	   "attempt"; later attempts only read it. Both go to the store in one
	   round trip (kv_batch). */
	probe pip = {0}, puser = {0};
	probe *ps[2];
	int np = 0;
	int has_ip = 0, has_user = 0;
	int32_t pn = postern_field_dup(POSTERN_FIELD_PROTOCOL, &proto);
	if (ip_ok && pn > 0) {
		uint64_t limit = cfg.ip.limit;
		for (int q = 0; q < 3; q++)
			if (cfg.has_proto[q] && (size_t)pn == strlen(protocols[q]) && memcmp(proto, protocols[q], (size_t)pn) == 0)
				limit = cfg.proto_limit[q];
		if (limit > 0 || cfg.ip.soft > 0) {
			static const char *const labels[2] = {"throttle:proto=", ",ip="};
			const char *raw[2] = {proto, ipstr};
			size_t rawn[2] = {1, (size_t)ipn};
			pip.key = build_key(2, labels, raw, rawn, -1, &pip.keyn);
			if (pip.key != NULL) {
				pip.limit = limit;
				pip.soft = cfg.ip.soft;
				pip.window_ns = cfg.ip.window_ns;
				pip.move = 1;
				ps[np++] = &pip;
				has_ip = 1;
			}
		}
	}
	if (cfg.user.limit > 0 || cfg.user.soft > 0) {
		const char *user = account;
		int32_t un = an;
		if (!cfg.user_by_account) {
			un = postern_field_dup(POSTERN_FIELD_LOGIN, &login);
			user = login;
		}
		if (un > 0) {
			int move = cfg.user_every_attempt;
			if (!move) {
				int32_t n = postern_field_dup(POSTERN_FIELD_LOGIN_ATTEMPT, &attempt);
				move = atoi_go(attempt ? attempt : "", n > 0 ? (size_t)n : 0) <= 1;
			}
			static const char *const labels[1] = {"throttle:user="};
			const char *raw[1] = {user};
			size_t rawn[1] = {(size_t)un};
			puser.key = build_key(1, labels, raw, rawn, 0, &puser.keyn);
			if (puser.key != NULL) {
				puser.limit = cfg.user.limit;
				puser.soft = cfg.user.soft;
				puser.window_ns = cfg.user.window_ns;
				puser.move = move;
				ps[np++] = &puser;
				has_user = 1;
			}
		}
	}
	if (np > 0) count_all(ps, np);

	int delay = 0;
	if (has_ip) {
		int l = level(&pip);
		if (l == HARD) {
			/* The address is refused: this attempt must not spend the
			   user's budget, so give back what the batch counted. */
			if (has_user) undo(&puser);
			counter_add("throttled_ip");
			verdict = refuse(&cfg.ip);
			goto probes;
		}
		if (l == SOFT) delay = 1;
	}
	if (has_user) {
		int l = level(&puser);
		if (l == HARD) {
			counter_add("throttled_user");
			verdict = refuse(&cfg.user);
			goto probes;
		}
		if (l == SOFT) delay = 1;
	}

	if (delay) {
		char ms[24];
		int64_t v = (cfg.delay_ns + NS_PER_MS - 1) / NS_PER_MS;
		int len = snprintf(ms, sizeof ms, "%lld", (long long)v);
		postern_field_set(POSTERN_FIELD_DELAY_MS, ms, (uint32_t)len);
		counter_add("delayed");
	}
	counter_add("allowed");
probes:
	free(pip.key);
	free(puser.key);
out:
	free(account);
	free(ipstr);
	free(proto);
	free(login);
	free(attempt);
	free(key);
	return verdict;
}

POSTERN_EXPORT("postern_hook_throttle") int32_t hook_throttle(void) { return check(); }
