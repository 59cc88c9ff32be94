/*
 * route-lookup, the C build: asks a lookup service speaking nginx's mail
 * auth_http protocol (Zimbra's nginx-lookup servlet) which mailbox server
 * serves a login. See ../README.md.
 *
 * The Go source next door (lookup.go, config.go) is the reference; this
 * file behaves the same, byte for byte where anything can observe it:
 * verdicts, fields, store operations, counters and the lookup requests.
 * c_test.go runs both builds side by side (plugintest.Twin) to prove it.
 * Where Go's library decides something (encoding/json, net/url,
 * net/netip, time.ParseDuration, strconv) the rules are ported here.
 *
 * Build: make c-plugins (writes plugin.wasm, which is committed).
 */
#include <stdarg.h>
#include <strings.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <wasi/api.h>

#include "postern.h"
#include "postern_json.h"
#include "../../internal/duration/duration.h"
#include "../../internal/zmauth/zmauth.h"
#include "../../internal/netip/netip.h"
#include "postern_sha256.h"

POSTERN_ABI_VERSION_EXPORT()

#define NS_PER_MS 1000000LL
#define NS_PER_S 1000000000LL

static const char placeholder[] = "_password_"; /* Auth-Pass of a route-only lookup */

/* ---- growable byte strings ---------------------------------------------- */

typedef struct {
	char *p;
	size_t n, cap;
} str;

static void s_grow(str *s, size_t more) {
	if (s->n + more + 1 <= s->cap) return;
	size_t c = s->cap ? s->cap * 2 : 64;
	while (c < s->n + more + 1) c *= 2;
	char *p = realloc(s->p, c);
	if (p == NULL) abort();
	s->p = p;
	s->cap = c;
}
static void s_add(str *s, const void *b, size_t n) {
	s_grow(s, n);
	memcpy(s->p + s->n, b, n);
	s->n += n;
	s->p[s->n] = '\0';
}
static void s_adds(str *s, const char *z) { s_add(s, z, strlen(z)); }
static void s_addc(str *s, char c) { s_add(s, &c, 1); }
static void s_free(str *s) {
	free(s->p);
	s->p = NULL;
	s->n = s->cap = 0;
}
static int s_eq(const char *a, size_t an, const char *b, size_t bn) { return an == bn && memcmp(a, b, an) == 0; }
static int s_eqz(const char *a, size_t an, const char *z) { return s_eq(a, an, z, strlen(z)); }

/* ---- configuration ------------------------------------------------------ */

typedef struct {
	char *url;
	size_t url_len;
	char down_key[64]; /* "postern:lookup-down:" + 16 hex digits */
	int64_t down_until; /* this instance's mark, 0 for none (unix ns) */
} server;

typedef struct {
	char *k, *v;
	size_t kn, vn;
} pname;

static server *servers;
static int nservers;
static int64_t timeout_ns = 15 * NS_PER_S;      /* nginx auth_http_timeout */
static int64_t fail_timeout_ns = 60 * NS_PER_S; /* Zimbra's retry interval */
static int64_t reuse_ns = DURATION_DEFAULT_REUSE_NS; /* the decision reuse init declares (ABI 1.2) */
static int send_password;
static int require200 = 1;
static int zimbra_id; /* look up web requests without a user by their auth token */
static pname *pnames; /* protocol_names overrides */
static int npnames;
static int next_server;

/* init_msg holds the init refusal that FAIL formats. */
static char init_msg[1024];
#define FAIL(...)                                                                                   \
	do {                                                                                            \
		int o_ = snprintf(init_msg, sizeof init_msg, "route-lookup: config: ");                     \
		snprintf(init_msg + o_, sizeof init_msg - (size_t)o_, __VA_ARGS__);                         \
		goto fail;                                                                                  \
	} while (0)

/* lookup_seconds' id (init); a call before it is declared is ErrInvalid. */
static int32_t lookup_seconds = -1;

/* mono_ns is the monotonic clock (WASI CLOCK_MONOTONIC) in nanoseconds:
 * latencies are measured on it, so a wall clock step is no latency. */
static int64_t mono_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* utf8_rune decodes one rune as Go's utf8.DecodeRune: (0xFFFD, 1) for an
 * invalid sequence. */
static uint32_t utf8_rune(const unsigned char *s, size_t n, size_t *size) {
	*size = 1;
	if (n == 0) return 0xFFFD;
	unsigned c = s[0];
	if (c < 0x80) return c;
	uint32_t r;
	size_t k;
	uint32_t lo = 0x80, hi = 0xBF;
	if (c >= 0xC2 && c <= 0xDF) {
		k = 2;
		r = c & 0x1F;
	} else if (c >= 0xE0 && c <= 0xEF) {
		k = 3;
		r = c & 0x0F;
		if (c == 0xE0) lo = 0xA0;
		if (c == 0xED) hi = 0x9F;
	} else if (c >= 0xF0 && c <= 0xF4) {
		k = 4;
		r = c & 0x07;
		if (c == 0xF0) lo = 0x90;
		if (c == 0xF4) hi = 0x8F;
	} else {
		return 0xFFFD;
	}
	if (n < k) return 0xFFFD;
	if (s[1] < lo || s[1] > hi) return 0xFFFD;
	r = (r << 6) | (s[1] & 0x3F);
	for (size_t i = 2; i < k; i++) {
		if (s[i] < 0x80 || s[i] > 0xBF) return 0xFFFD;
		r = (r << 6) | (s[i] & 0x3F);
	}
	*size = k;
	return r;
}

/* json_str decodes string node i into out (malloc'd) with invalid UTF-8
 * replaced by U+FFFD, as Go's decoder does. -1 when i is not a string. */
static int json_str(const pj_doc *d, int i, char **out, size_t *outn) {
	if (i < 0 || d->n[i].type != PJ_STRING) return -1;
	int cap = d->n[i].len * 4 + 8;
	char *raw = malloc((size_t)cap);
	int n = pj_string(d, i, raw, cap);
	if (n < 0) {
		free(raw);
		return -1;
	}
	str s = {0};
	s_grow(&s, (size_t)n);
	for (size_t k = 0; k < (size_t)n;) {
		size_t sz;
		uint32_t r = utf8_rune((const unsigned char *)raw + k, (size_t)n - k, &sz);
		if (r == 0xFFFD && sz == 1)
			s_add(&s, "\xEF\xBF\xBD", 3);
		else
			s_add(&s, raw + k, sz);
		k += sz;
	}
	free(raw);
	*out = s.p;
	*outn = s.n;
	return 0;
}

/* key_is reports whether a JSON key matches a field name as Go's
 * encoding/json does: exactly or under Unicode case folding (the names here
 * are ASCII; of the non-ASCII runes only U+017F folds to one of their
 * letters, 's'). */
static int key_is(const char *k, size_t kn, const char *name) {
	size_t j = 0, nl = strlen(name);
	for (size_t i = 0; i < kn;) {
		unsigned char c = (unsigned char)k[i];
		char want;
		if (j >= nl) return 0;
		want = name[j];
		if (want >= 'a' && want <= 'z') want = (char)(want - 32);
		if (c < 0x80) {
			if (c >= 'a' && c <= 'z') c = (unsigned char)(c - 32);
			if (c != (unsigned char)want) return 0;
			i++;
		} else if (c == 0xC5 && i + 1 < kn && (unsigned char)k[i + 1] == 0xBF) {
			if (want != 'S') return 0;
			i += 2;
		} else {
			return 0;
		}
		j++;
	}
	return j == nl;
}

/* parse_duration reads "15s"-style text or a number of seconds (config.go
 * parseDuration). */
static int parse_duration(const pj_doc *d, int i, int64_t *out, char *why, size_t whyn) {
	if (d->n[i].type == PJ_STRING) {
		char *s;
		size_t n;
		json_str(d, i, &s, &n);
		int r = go_parse_duration(s, n, out);
		if (r < 0) snprintf(why, whyn, "\"%.*s\" is not a duration; write it like \"15s\" or \"500ms\"", (int)(n > 200 ? 200 : n), s);
		free(s);
		return r;
	}
	int len = d->n[i].len;
	if (d->n[i].type == PJ_NUMBER) {
		char *buf = malloc((size_t)len + 1);
		memcpy(buf, d->n[i].s, (size_t)len);
		buf[len] = '\0';
		int r = duration_seconds(buf, out);
		free(buf);
		if (r == 0) return 0;
	}
	snprintf(why, whyn, "%.*s is not a duration; write it like \"15s\" or a number of seconds", len > 200 ? 200 : len, d->n[i].s);
	return -1;
}

/* ---- net/url and net/netip rules ---------------------------------------- */

static int is_hex(unsigned char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
static unsigned unhex(unsigned char c) { return 9u * (c >> 6) + (c & 15u); }

/* host_ok is a byte net/url allows unescaped in a host or zone. */
static int host_ok(unsigned char c) {
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9')) return 1;
	return strchr("!\"$&'()*+,-.:;<=>[]_~", c) != NULL && c != 0;
}

/* url_unescape is net/url's unescape for the host (zone = 0) and zone
 * (zone = 1) modes; appends to out. */
static int url_unescape(const char *s, size_t n, int zone, str *out) {
	for (size_t i = 0; i < n;) {
		unsigned char c = (unsigned char)s[i];
		if (c == '%') {
			if (i + 2 >= n || !is_hex((unsigned char)s[i + 1]) || !is_hex((unsigned char)s[i + 2])) return -1;
			int pct25 = s[i + 1] == '2' && s[i + 2] == '5';
			unsigned v = unhex((unsigned char)s[i + 1]) << 4 | unhex((unsigned char)s[i + 2]);
			if (!zone && unhex((unsigned char)s[i + 1]) < 8 && !pct25) return -1;
			if (zone && !pct25 && v != ' ' && !(v < 0x80 && host_ok((unsigned char)v))) return -1;
			s_addc(out, (char)v);
			i += 3;
			continue;
		}
		if (c != '+' && c < 0x80 && !host_ok(c)) return -1;
		s_addc(out, (char)c);
		i++;
	}
	return 0;
}

/* fmt_addr appends netip.Addr.String(). */
static void fmt_addr(str *o, const ipaddr *a) {
	char t[NETIP_FORMAT_MAX];
	s_add(o, t, netip_format(a, t));
	if (a->zone_len > 0) {
		s_addc(o, '%');
		s_add(o, a->zone, a->zone_len);
	}
}

static int port_ok(const char *p, size_t n) { /* validOptionalPort */
	if (n == 0) return 1;
	if (p[0] != ':') return 0;
	for (size_t i = 1; i < n; i++)
		if (p[i] < '0' || p[i] > '9') return 0;
	return 1;
}

/* parse_host is net/url's parseHost for http(s) (strict colons); the
 * unescaped host must not be empty. */
static int parse_host(const char *h, size_t n) {
	const char *lb = NULL;
	for (size_t i = 0; i < n; i++)
		if (h[i] == '[') lb = h + i;
	str u = {0};
	int ok = -1;
	if (lb != NULL && lb != h) goto out;
	if (lb == h) {
		const char *rb = NULL;
		for (size_t i = 0; i < n; i++)
			if (h[i] == ']') rb = h + i;
		if (rb == NULL) goto out;
		if (!port_ok(rb + 1, n - (size_t)(rb + 1 - h))) goto out;
		const char *hn = h + 1;
		size_t hl = (size_t)(rb - hn);
		size_t z = hl;
		for (size_t i = 0; i + 2 < hl; i++)
			if (hn[i] == '%' && hn[i + 1] == '2' && hn[i + 2] == '5') {
				z = i;
				break;
			}
		if (url_unescape(hn, z, 0, &u) < 0) goto out;
		if (z < hl && url_unescape(hn + z, hl - z, 1, &u) < 0) goto out;
		ipaddr a;
		if (parse_addr(u.p ? u.p : "", u.n, &a) < 0 || a.is4) goto out;
		ok = 0;
		goto out;
	}
	const char *colon = memchr(h, ':', n);
	if (colon != NULL && !port_ok(colon, n - (size_t)(colon - h))) goto out;
	if (url_unescape(h, n, 0, &u) < 0) goto out;
	ok = u.n > 0 ? 0 : -1;
out:
	s_free(&u);
	return ok;
}

/* url_ok: url.Parse succeeds with scheme http or https, a host, no user
 * info and no fragment (config.go). */
static int url_ok(const char *s, size_t n) {
	const char *hash = memchr(s, '#', n);
	if (hash != NULL) {
		if (hash + 1 != s + n) return 0; /* a fragment, or an invalid one */
		n = (size_t)(hash - s);
	}
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f) return 0;
	size_t sl;
	if (n >= 5 && strncasecmp(s, "http:", 5) == 0) sl = 5;
	else if (n >= 6 && strncasecmp(s, "https:", 6) == 0) sl = 6;
	else return 0;
	const char *rest = s + sl;
	size_t rn = n - sl;
	size_t q = 0;
	for (size_t i = 0; i < rn; i++) q += rest[i] == '?';
	if (rn > 0 && rest[rn - 1] == '?' && q == 1) rn--;
	else {
		const char *qm = memchr(rest, '?', rn);
		if (qm) rn = (size_t)(qm - rest);
	}
	if (rn < 2 || rest[0] != '/' || rest[1] != '/') return 0;
	const char *auth = rest + 2;
	size_t an = rn - 2;
	const char *slash = memchr(auth, '/', an);
	const char *path = auth + an;
	size_t pn = 0;
	if (slash != NULL) {
		path = slash;
		pn = an - (size_t)(slash - auth);
		an = (size_t)(slash - auth);
	}
	if (memchr(auth, '@', an) != NULL) return 0; /* user info, or an invalid one */
	if (parse_host(auth, an) < 0) return 0;
	for (size_t i = 0; i < pn; i++)
		if (path[i] == '%' && (i + 2 >= pn || !is_hex((unsigned char)path[i + 1]) || !is_hex((unsigned char)path[i + 2])))
			return 0;
	return 1;
}

/* proto_key_ok: ^[a-z0-9]+(\+tls)?$ ; proto_value_ok: ^[A-Za-z0-9._-]{1,32}$ */
static int proto_key_ok(const char *k, size_t n) {
	if (n >= 4 && memcmp(k + n - 4, "+tls", 4) == 0) n -= 4;
	if (n == 0) return 0;
	for (size_t i = 0; i < n; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') || (k[i] >= '0' && k[i] <= '9'))) return 0;
	return 1;
}
static int proto_value_ok(const char *v, size_t n) {
	if (n < 1 || n > 32) return 0;
	for (size_t i = 0; i < n; i++) {
		char c = v[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '.' || c == '_' ||
		      c == '-'))
			return 0;
	}
	return 1;
}

static void set_pname(pname **list, int *n, char *k, size_t kn, char *v, size_t vn) {
	for (int i = 0; i < *n; i++)
		if (s_eq((*list)[i].k, (*list)[i].kn, k, kn)) {
			free((*list)[i].v);
			free(k);
			(*list)[i].v = v;
			(*list)[i].vn = vn;
			return;
		}
	*list = realloc(*list, sizeof(pname) * (size_t)(*n + 1));
	(*list)[*n] = (pname){k, v, kn, vn};
	(*n)++;
}

static void free_pnames(pname *list, int n) {
	for (int i = 0; i < n; i++) {
		free(list[i].k);
		free(list[i].v);
	}
	free(list);
}

/* end_of_object returns the end of the first JSON object in s (Go's
 * json.Decoder reads one value and ignores what follows), or n when it does
 * not end. */
static size_t end_of_object(const char *s, size_t n, size_t start) {
	int depth = 0, in_str = 0;
	for (size_t i = start; i < n; i++) {
		char c = s[i];
		if (in_str) {
			if (c == '\\') i++;
			else if (c == '"') in_str = 0;
			continue;
		}
		if (c == '"') in_str = 1;
		else if (c == '{' || c == '[') depth++;
		else if (c == '}' || c == ']') {
			if (--depth == 0) return i + 1;
		}
	}
	return n;
}

static void sha_key(const char *url, size_t n, char *out) {
	uint8_t sum[32];
	postern_sha256(url, n, sum);
	char hex[17];
	postern_hex(sum, 8, hex);
	hex[16] = '\0';
	snprintf(out, 64, "postern:lookup-down:%s", hex);
}

static const char *type_name_go(enum pj_type t) {
	switch (t) {
	case PJ_NULL: return "null";
	case PJ_FALSE: case PJ_TRUE: return "bool";
	case PJ_NUMBER: return "number";
	case PJ_STRING: return "string";
	case PJ_ARRAY: return "array";
	case PJ_OBJECT: return "object";
	}
	return "value";
}

POSTERN_EXPORT("postern_init") int32_t init(void) {
	char *cfg = NULL;
	int32_t cn = postern_config_dup(&cfg);
	if (cn < 0) cn = 0;
	pj_doc *d = NULL;
	/* the members as decoded: last wins, protocol_names merge */
	str *srv = NULL; /* decoded server strings */
	int nsrv = 0;
	int timeout_node = -1, fail_node = -1, reuse_node = -1;
	int send_pw = 0, req200 = 1, zid = 0;
	pname *pn = NULL;
	int npn = 0;
	char why[600];

	size_t start = 0;
	while (start < (size_t)cn && (cfg[start] == ' ' || cfg[start] == '\t' || cfg[start] == '\n' || cfg[start] == '\r'))
		start++;
	if (start < (size_t)cn) {
		/* null decodes to nothing and any other value but an object is a
		   type error: either way there are no servers */
		if (cfg[start] != '{') FAIL("want a JSON object with the key \"servers\"");
		size_t end = end_of_object(cfg, (size_t)cn, start);
		if (end > start) {
			d = malloc(sizeof *d);
			if (pj_parse(d, cfg + start, (int)(end - start)) != 0) FAIL("%s", d->err);
			for (int k = pj_first(d, 0); k >= 0; k = pj_next(d, k)) {
				char *key;
				size_t kn;
				json_str(d, k, &key, &kn);
				int v = d->n[k].child;
				enum pj_type t = d->n[v].type;
				int known = 1;
				if (key_is(key, kn, "servers")) {
					for (int i = 0; i < nsrv; i++) s_free(&srv[i]);
					free(srv);
					srv = NULL;
					nsrv = 0;
					if (t == PJ_ARRAY) {
						for (int it = pj_first(d, v); it >= 0; it = pj_next(d, it)) {
							srv = realloc(srv, sizeof(str) * (size_t)(nsrv + 1));
							srv[nsrv] = (str){0};
							if (d->n[it].type == PJ_STRING) {
								char *s;
								size_t sn;
								json_str(d, it, &s, &sn);
								s_add(&srv[nsrv], s, sn);
								free(s);
							} else if (d->n[it].type != PJ_NULL) {
								nsrv++;
								free(key);
								FAIL("key \"servers\": want string, got a JSON %s", type_name_go(d->n[it].type));
							}
							if (srv[nsrv].p == NULL) s_add(&srv[nsrv], "", 0);
							nsrv++;
						}
					} else if (t != PJ_NULL) {
						free(key);
						FAIL("key \"servers\": want []string, got a JSON %s", type_name_go(t));
					}
				} else if (key_is(key, kn, "timeout")) {
					timeout_node = v;
				} else if (key_is(key, kn, "fail_timeout")) {
					fail_node = v;
				} else if (key_is(key, kn, "reuse")) {
					reuse_node = v;
				} else if (key_is(key, kn, "send_password") || key_is(key, kn, "require_200") ||
				           key_is(key, kn, "zimbra_id")) {
					int *dst = key_is(key, kn, "send_password") ? &send_pw
					           : key_is(key, kn, "require_200") ? &req200
					                                            : &zid;
					int def = dst == &req200 ? 1 : 0;
					if (t == PJ_TRUE) *dst = 1;
					else if (t == PJ_FALSE) *dst = 0;
					else if (t == PJ_NULL) *dst = def;
					else {
						snprintf(why, sizeof why, "%.*s", (int)(kn > 100 ? 100 : kn), key);
						free(key);
						FAIL("key \"%s\": want bool, got a JSON %s", why, type_name_go(t));
					}
				} else if (key_is(key, kn, "protocol_names")) {
					if (t == PJ_NULL) {
						free_pnames(pn, npn);
						pn = NULL;
						npn = 0;
					} else if (t == PJ_OBJECT) {
						for (int m = pj_first(d, v); m >= 0; m = pj_next(d, m)) {
							char *mk, *mv = NULL;
							size_t mkn, mvn = 0;
							json_str(d, m, &mk, &mkn);
							int mvi = d->n[m].child;
							if (d->n[mvi].type == PJ_STRING) {
								json_str(d, mvi, &mv, &mvn);
							} else if (d->n[mvi].type == PJ_NULL) {
								mv = calloc(1, 1);
							} else {
								free(mk);
								free(key);
								FAIL("key \"protocol_names\": want string, got a JSON %s", type_name_go(d->n[mvi].type));
							}
							set_pname(&pn, &npn, mk, mkn, mv, mvn);
						}
					} else {
						free(key);
						FAIL("key \"protocol_names\": want map[string]string, got a JSON %s", type_name_go(t));
					}
				} else {
					known = 0;
				}
				if (!known) {
					snprintf(why, sizeof why, "%.*s", (int)(kn > 200 ? 200 : kn), key);
					free(key);
					FAIL("unknown key \"%s\"; the keys are servers, timeout, fail_timeout, send_password, protocol_names, require_200, zimbra_id, reuse", why);
				}
				free(key);
			}
		}
	}
	if (nsrv == 0)
		FAIL("missing key \"servers\": list the lookup URLs, e.g. [\"http://127.0.0.1:7072/service/extension/nginx-lookup\"]");
	for (int i = 0; i < nsrv; i++) {
		if (!url_ok(srv[i].p, srv[i].n))
			FAIL("servers[%d] \"%.*s\": want an absolute http:// or https:// URL without user info or fragment", i,
			     (int)(srv[i].n > 300 ? 300 : srv[i].n), srv[i].p);
		for (int j = 0; j < i; j++)
			if (s_eq(srv[i].p, srv[i].n, srv[j].p, srv[j].n))
				FAIL("servers[%d] \"%.*s\": listed twice", i, (int)(srv[i].n > 300 ? 300 : srv[i].n), srv[i].p);
	}
	int64_t to = 15 * NS_PER_S, fto = 60 * NS_PER_S;
	if (timeout_node >= 0) {
		if (parse_duration(d, timeout_node, &to, why, sizeof why) < 0) FAIL("timeout: %s", why);
		if (to < NS_PER_MS) FAIL("timeout %lldns: want at least 1ms", (long long)to);
	}
	if (fail_node >= 0) {
		if (parse_duration(d, fail_node, &fto, why, sizeof why) < 0) FAIL("fail_timeout: %s", why);
		if (fto < 0) FAIL("fail_timeout %lldns: want 0 (never skip a failed server) or more", (long long)fto);
	}
	int64_t reuse = DURATION_DEFAULT_REUSE_NS; /* duration.ParseReuse */
	if (reuse_node >= 0) {
		if (parse_duration(d, reuse_node, &reuse, why, sizeof why) < 0) FAIL("reuse: %s", why);
		/* the value as written, as Go prints the json.RawMessage */
		int len = d->n[reuse_node].len;
		if (duration_check_reuse(reuse, DURATION_WANT_RANGE, d->n[reuse_node].type == PJ_STRING ? "\"" : "",
		                         d->n[reuse_node].s, len > 200 ? 200 : len, why, sizeof why) < 0)
			FAIL("%s", why);
	}
	for (int i = 0; i < npn; i++) {
		if (!proto_key_ok(pn[i].k, pn[i].kn))
			FAIL("protocol_names key \"%.*s\": want a protocol, optionally with +tls (imap, imap+tls)",
			     (int)(pn[i].kn > 100 ? 100 : pn[i].kn), pn[i].k);
		if (!proto_value_ok(pn[i].v, pn[i].vn))
			FAIL("protocol_names[\"%.*s\"] = \"%.*s\": want 1-32 of [A-Za-z0-9._-]", (int)pn[i].kn, pn[i].k,
			     (int)(pn[i].vn > 100 ? 100 : pn[i].vn), pn[i].v);
	}

	/* accepted: keep it */
	servers = calloc((size_t)nsrv, sizeof(server));
	nservers = nsrv;
	for (int i = 0; i < nsrv; i++) {
		servers[i].url = srv[i].p;
		servers[i].url_len = srv[i].n;
		sha_key(srv[i].p, srv[i].n, servers[i].down_key);
	}
	free(srv);
	timeout_ns = to;
	fail_timeout_ns = fto;
	reuse_ns = reuse;
	send_password = send_pw;
	require200 = req200;
	zimbra_id = zid;
	pnames = pn;
	npnames = npn;
	free(d);
	free(cfg);
	/* start the round robin at a random server (Go: rand.IntN) */
	uint32_t r = 0;
	if (__wasi_random_get((uint8_t *)&r, sizeof r) != 0) r = 0;
	next_server = (int)(r % (uint32_t)nservers);
	/* nothing to look up without a login (route skips an empty account
	   itself on hosts older than ABI 1.1), unless a web request without
	   one may carry an auth token */
	if (!zimbra_id) postern_only_with_login();
	/* lookup_seconds (ABI 1.1 plugin metric; lookup.go declareMetrics) */
	static const double lookup_bounds[] = {.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5};
	lookup_seconds = postern_metric_histogram(
	    "lookup_seconds", "Time of one request to a lookup server, from sending it to its answer or failure.",
	    lookup_bounds, sizeof lookup_bounds / sizeof lookup_bounds[0]);
	if (lookup_seconds < 0) FAIL("metric \"lookup_seconds\": error %d", (int)lookup_seconds);
	if (send_password) {
		/* the lookup service sees the password and refuses a wrong one:
		   this plugin can vouch for passwords (ABI 1.1) */
		postern_field_set(POSTERN_FIELD_PASSWORD_VERIFIED, "1", 1);
	}
	/* the decision reuse (ABI 1.2; main.go, duration.DeclareReuse) */
	if (duration_declare_reuse("route-lookup", reuse_ns) < 0) return POSTERN_INIT_REFUSE;
	return POSTERN_INIT_OK;

fail:
	for (int i = 0; i < nsrv; i++) s_free(&srv[i]);
	free(srv);
	free_pnames(pn, npn);
	free(d);
	free(cfg);
	{
		/* the message goes on one line: escape control bytes */
		static const char hx[] = "0123456789abcdef";
		str m = {0};
		for (const char *c = init_msg; *c; c++) {
			unsigned char b = (unsigned char)*c;
			if (b < 0x20 || b == 0x7f) {
				char t[4] = {'\\', 'x', hx[b >> 4], hx[b & 15]};
				s_add(&m, t, 4);
			} else {
				s_addc(&m, (char)b);
			}
		}
		postern_set_message(m.p);
		s_free(&m);
	}
	return POSTERN_INIT_REFUSE;
}

/* ---- the route hook ----------------------------------------------------- */

static int field(int32_t f, str *out) {
	char *v;
	int32_t n = postern_field_dup(f, &v);
	out->p = NULL;
	out->n = out->cap = 0;
	if (n < 0) {
		s_add(out, "", 0);
		return -1;
	}
	out->p = v;
	out->n = (size_t)n;
	out->cap = (size_t)n + 1;
	return 0;
}

static void counter(const char *name) { postern_counter_add(name, (uint32_t)strlen(name), 1); }

static void logf_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
static void logf_warn(const char *fmt, ...) {
	char buf[POSTERN_MAX_LOG_BYTES];
	va_list ap;
	va_start(ap, fmt);
	int n = vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	if (n < 0) return;
	if (n >= (int)sizeof buf) n = (int)sizeof buf - 1;
	postern_log(POSTERN_LEVEL_WARN, buf, (uint32_t)n);
}

/* escape is nginx's NGX_ESCAPE_MAIL_AUTH plus DEL. */
static void escape(str *o, const char *s, size_t n) {
	static const char hx[] = "0123456789ABCDEF";
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c <= ' ' || c == '%' || c == 0x7f) {
			char t[3] = {'%', hx[c >> 4], hx[c & 15]};
			s_add(o, t, 3);
		} else {
			s_addc(o, (char)c);
		}
	}
}

/* atoi_go is strconv.Atoi: 0 on any error. */
static long long atoi_go(const char *s, size_t n) {
	size_t i = 0;
	int neg = 0;
	if (n > 0 && (s[0] == '+' || s[0] == '-')) {
		neg = s[0] == '-';
		i = 1;
	}
	if (i == n) return 0;
	uint64_t v = 0;
	for (; i < n; i++) {
		if (s[i] < '0' || s[i] > '9') return 0;
		if (v > UINT64_MAX / 10) return 0;
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > (1ULL << 63)) return 0;
	}
	if (!neg && v > (1ULL << 63) - 1) return 0;
	return neg ? (long long)(0 - v) : (long long)v;
}

/* one request header, in the order Go's SDK sends them (sorted names) */
typedef struct {
	const char *name; /* canonical */
	str val;
	int set;
} hdr;

enum { H_ID, H_ATTEMPT, H_METHOD, H_PASS, H_PROTOCOL, H_SSL, H_SSL_CIPHER, H_SSL_PROTOCOL, H_USER, H_CLIENT_IP,
       H_PROXY_HOST, H_PROXY_IP, H_COUNT };
static const char *const hdr_names[H_COUNT] = {"Auth-Id", "Auth-Login-Attempt", "Auth-Method", "Auth-Pass",
                                               "Auth-Protocol", "Auth-Ssl", "Auth-Ssl-Cipher", "Auth-Ssl-Protocol",
                                               "Auth-User", "Client-Ip", "X-Proxy-Host", "X-Proxy-Ip"};

static void hset(hdr *h, int i, const char *v, size_t n) {
	h[i].set = 1;
	h[i].val.n = 0;
	s_add(&h[i].val, v, n);
}

static void free_hdrs(hdr *h) {
	for (int i = 0; i < H_COUNT; i++) s_free(&h[i].val);
}

static int add_ip(hdr *h, int i, int32_t f) {
	str v;
	field(f, &v);
	ipaddr a;
	if (parse_addr(v.p, v.n, &a) == 0) {
		str o = {0};
		fmt_addr(&o, &a);
		hset(h, i, o.p, o.n);
		s_free(&o);
	}
	s_free(&v);
	return 0;
}

/* ---- Zimbra auth tokens (plugins/internal/zmauth/zmauth.h) ----------- */

/* zm_account_id is zmauth.AccountID, the id appended to an emptied str. */
static int zm_account_id(const char *t, size_t tn, str *id) {
	char *p;
	size_t n;
	if (!zmauth_account_id(t, tn, &p, &n)) return 0;
	id->n = 0;
	s_add(id, p, n);
	free(p);
	return 1;
}

/* token_id is the account id of this web request's auth token (zmauth.Token
 * then AccountID): the ZM_AUTH_TOKEN cookie when it is not empty, else the
 * zauthtoken argument. 0 when there is none. */
static int token_id(str *id) {
	char *c = NULL;
	int32_t cn = postern_key_dup(POSTERN_FIELD_HTTP_COOKIE, "ZM_AUTH_TOKEN", &c);
	int ok = 0;
	if (cn > 0) {
		ok = zm_account_id(c, (size_t)cn, id);
	} else {
		str q;
		field(POSTERN_FIELD_HTTP_QUERY, &q);
		const char *v;
		size_t vn;
		if (zmauth_arg(q.p, q.n, "zauthtoken", &v, &vn)) ok = zm_account_id(v, vn, id);
		s_free(&q);
	}
	free(c);
	return ok;
}

/* cur_id is the account id of this call's token lookup (lookup.go l.id);
 * empty when the call is not one. */
static str cur_id;

/* request builds the lookup headers (lookup.go request); 0 when there is
 * nobody to look up. */
static int request(hdr *h) {
	memset(h, 0, sizeof(hdr) * H_COUNT);
	for (int i = 0; i < H_COUNT; i++) h[i].name = hdr_names[i];
	str proto, am, user, tls;
	field(POSTERN_FIELD_PROTOCOL, &proto);
	field(POSTERN_FIELD_AUTH_METHOD, &am);
	int http = s_eqz(proto.p, proto.n, "http");
	const char *method = am.p;
	size_t method_n = am.n;
	if (s_eqz(am.p, am.n, "gssapi")) method = "gssapi", method_n = 6;
	else if (http) method = "username", method_n = 8;
	else if (am.n == 0 || s_eqz(am.p, am.n, "plain") || s_eqz(am.p, am.n, "login") || s_eqz(am.p, am.n, "basic"))
		method = "plain", method_n = 5;
	int gssapi = s_eqz(method, method_n, "gssapi");
	field(POSTERN_FIELD_ACCOUNT, &user);
	cur_id.n = 0;
	if (user.n == 0 && http && zimbra_id) {
		/* Zimbra's order: a user in the path or basic auth (a login plugin
		   or the host set the account), then the auth token, then the IP
		   hash (the pool) */
		if (token_id(&user)) s_add(&cur_id, user.p, user.n);
		method = "zimbraId", method_n = 8;
	}
	if (user.n == 0) {
		s_free(&proto);
		s_free(&am);
		s_free(&user);
		return 0;
	}
	field(POSTERN_FIELD_TLS_VERSION, &tls);
	str name = {0};
	s_add(&name, proto.p, proto.n);
	if (tls.n > 0) s_adds(&name, "+tls");
	const char *pv = NULL;
	size_t pvn = 0;
	for (int i = npnames - 1; i >= 0 && pv == NULL; i--)
		if (s_eq(pnames[i].k, pnames[i].kn, name.p, name.n)) pv = pnames[i].v, pvn = pnames[i].vn;
	if (pv == NULL) {
		static const char *const def[][2] = {{"imap", "imap"}, {"imap+tls", "imapssl"}, {"pop3", "pop3"},
		                                     {"pop3+tls", "pop3ssl"}, {"http", "http"}, {"http+tls", "httpssl"},
		                                     {"smtp", "smtp"}, {"smtp+tls", "smtpssl"}};
		for (size_t i = 0; i < sizeof def / sizeof def[0]; i++)
			if (s_eqz(name.p, name.n, def[i][0])) pv = def[i][1], pvn = strlen(def[i][1]);
	}
	if (pv == NULL) pv = proto.p, pvn = proto.n;
	str pass = {0};
	s_adds(&pass, placeholder);
	if (send_password) {
		str p;
		field(POSTERN_FIELD_PASSWORD, &p);
		if (p.n > 0) {
			pass.n = 0;
			escape(&pass, p.p, p.n);
		}
		s_free(&p);
	}
	long long attempt = 0;
	if (!http) {
		str a;
		field(POSTERN_FIELD_LOGIN_ATTEMPT, &a);
		attempt = atoi_go(a.p, a.n);
		s_free(&a);
	}
	char num[24];
	snprintf(num, sizeof num, "%lld", attempt);

	hset(h, H_METHOD, method, method_n);
	h[H_USER].set = 1;
	escape(&h[H_USER].val, user.p, user.n);
	hset(h, H_PASS, pass.p, pass.n);
	hset(h, H_PROTOCOL, pv, pvn);
	hset(h, H_ATTEMPT, num, strlen(num));
	add_ip(h, H_CLIENT_IP, POSTERN_FIELD_CLIENT_IP);
	add_ip(h, H_PROXY_IP, POSTERN_FIELD_LOCAL_IP);
	if (http) {
		str host;
		field(POSTERN_FIELD_HTTP_HOST, &host);
		if (host.n > 0) hset(h, H_PROXY_HOST, host.p, host.n);
		s_free(&host);
	}
	if (tls.n > 0) {
		hset(h, H_SSL, "on", 2);
		if (tls.n > 3 && memcmp(tls.p, "TLS", 3) == 0 && tls.p[3] != 'v') {
			str v = {0};
			s_adds(&v, "TLSv");
			s_add(&v, tls.p + 3, tls.n - 3);
			hset(h, H_SSL_PROTOCOL, v.p, v.n);
			s_free(&v);
		} else {
			hset(h, H_SSL_PROTOCOL, tls.p, tls.n);
		}
		str c;
		field(POSTERN_FIELD_TLS_CIPHER, &c);
		if (c.n > 0) hset(h, H_SSL_CIPHER, c.p, c.n);
		s_free(&c);
	}
	if (gssapi) {
		str id;
		field(POSTERN_FIELD_AUTH_ID, &id);
		if (id.n > 0) {
			h[H_ID].set = 1;
			escape(&h[H_ID].val, id.p, id.n);
		}
		s_free(&id);
	}
	s_free(&pass);
	s_free(&name);
	s_free(&tls);
	s_free(&proto);
	s_free(&am);
	s_free(&user);
	return 1;
}

/* is_down (lookup.go isDown): this instance saw s fail, or the store says
 * another did; a store outage reads as "not down". */
static int is_down(server *s, int64_t now) {
	if (fail_timeout_ns <= 0) return 0;
	if (s->down_until != 0) {
		if (now < s->down_until) return 1;
		s->down_until = 0;
	}
	/* one read with a buffer first, as Go's SDK does (its scratch buffer) */
	char buf[512];
	uint32_t kl = (uint32_t)strlen(s->down_key);
	int32_t r = postern_kv_get(s->down_key, kl, buf, sizeof buf);
	while (r > (int32_t)sizeof buf) {
		char *big = malloc((size_t)r);
		int32_t want = r;
		r = postern_kv_get(s->down_key, kl, big, (uint32_t)want);
		free(big);
		if (r <= want) break;
	}
	return r >= 0;
}

static void mark_down(server *s, int64_t now, const char *cause) {
	counter("server_down");
	if (fail_timeout_ns <= 0) {
		logf_warn("route-lookup: lookup server %.*s failed: %s", (int)s->url_len, s->url, cause);
		return;
	}
	logf_warn("route-lookup: lookup server %.*s failed: %s; skipping it for %lldms", (int)s->url_len, s->url, cause,
	          (long long)(fail_timeout_ns / NS_PER_MS));
	s->down_until = now + fail_timeout_ns;
	int64_t ttl = (fail_timeout_ns + NS_PER_S - 1) / NS_PER_S;
	if (ttl > INT32_MAX) ttl = INT32_MAX;
	postern_kv_set(s->down_key, (uint32_t)strlen(s->down_key), "1", 1, (int32_t)ttl);
}

/* ---- the reply ---------------------------------------------------------- */

/* is_space_rune is unicode.IsSpace. */
static int is_space_rune(uint32_t r) {
	switch (r) {
	case '\t': case '\n': case '\v': case '\f': case '\r': case ' ': case 0x85: case 0xA0: case 0x1680:
	case 0x2028: case 0x2029: case 0x202F: case 0x205F: case 0x3000:
		return 1;
	}
	return r >= 0x2000 && r <= 0x200A;
}

/* trim_space is strings.TrimSpace on [*s, *s+*n). */
static void trim_space(const char **s, size_t *n) {
	while (*n > 0) {
		size_t sz;
		uint32_t r = utf8_rune((const unsigned char *)*s, *n, &sz);
		if (!is_space_rune(r) || (r == 0xFFFD && sz == 1)) break;
		*s += sz;
		*n -= sz;
	}
	while (*n > 0) {
		/* find the start of the last rune as utf8.DecodeLastRune */
		size_t start = *n - 1;
		size_t lim = *n >= 4 ? *n - 4 : 0;
		while (start > lim && ((unsigned char)(*s)[start] & 0xC0) == 0x80) start--;
		size_t sz;
		uint32_t r = utf8_rune((const unsigned char *)*s + start, *n - start, &sz);
		if (start + sz != *n) { /* invalid: the last byte alone is RuneError */
			break;
		}
		if (!is_space_rune(r)) break;
		*n = start;
	}
}

/* first finds the first header named name (any case) in the raw response
 * headers, as postern.ParseHTTPHeader then HTTPHeader.Values do. */
static int first(const char *raw, size_t rn, const char *name, const char **v, size_t *vn) {
	size_t i = 0;
	while (i < rn) {
		const char *line = raw + i;
		const char *nl = memchr(line, '\n', rn - i);
		size_t ln = nl ? (size_t)(nl - line) : rn - i;
		i += ln + (nl ? 1 : 0);
		if (ln > 0 && line[ln - 1] == '\r') ln--;
		const char *colon = memchr(line, ':', ln);
		if (colon == NULL || colon == line) continue;
		const char *k = line;
		size_t kn = (size_t)(colon - line);
		trim_space(&k, &kn);
		if (kn != strlen(name) || strncasecmp(k, name, kn) != 0) continue;
		int tok = 1;
		for (size_t j = 0; j < kn; j++) {
			unsigned char c = (unsigned char)k[j];
			if (!(c > ' ' && c < 0x7f && strchr("\"(),/:;<=>?@[\\]{}", c) == NULL)) tok = 0;
		}
		/* a name with a byte not allowed in a name is not canonicalised,
		   so it cannot be "Auth-Status" */
		if (!tok) continue;
		*v = colon + 1;
		*vn = (size_t)(line + ln - (colon + 1));
		trim_space(v, vn);
		return 1;
	}
	return 0;
}

static int all_digits(const char *s, size_t n) {
	if (n == 0) return 0;
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9') return 0;
	return 1;
}

/* parse_uint is strconv.ParseUint(s, 10, bits) for digits-only s. */
static int parse_uint(const char *s, size_t n, uint64_t max, uint64_t *out) {
	if (!all_digits(s, n)) return -1;
	uint64_t v = 0;
	for (size_t i = 0; i < n; i++) {
		v = v * 10 + (uint64_t)(s[i] - '0');
		if (v > max) return -1;
	}
	*out = v;
	return 0;
}

/* set_message sets a client message cut to the field limit on a UTF-8
 * boundary (the SDK's fitField). */
static void set_message(const char *s, size_t n) {
	if (n > POSTERN_MAX_FIELD_BYTES) {
		n = POSTERN_MAX_FIELD_BYTES;
		while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80) n--;
	}
	postern_field_set(POSTERN_FIELD_MESSAGE, s, (uint32_t)n);
}

static void set_delay_s(uint64_t secs) {
	char t[24];
	snprintf(t, sizeof t, "%llu", (unsigned long long)(secs * 1000));
	postern_field_set_str(POSTERN_FIELD_DELAY_MS, t);
}

#define ASK_ERR (-1)

/* ask sends one lookup to s (lookup.go ask); ASK_ERR when the server
 * failed, with the cause in why. */
static int32_t ask(server *s, hdr *h, char *why, size_t whyn) {
	counter("lookups");
	str enc = {0};
	for (int i = 0; i < H_COUNT; i++) {
		if (!h[i].set) continue;
		if (memchr(h[i].val.p, '\r', h[i].val.n) || memchr(h[i].val.p, '\n', h[i].val.n)) {
			s_free(&enc);
			snprintf(why, whyn, "invalid argument");
			return ASK_ERR;
		}
		s_adds(&enc, h[i].name);
		s_adds(&enc, ": ");
		s_add(&enc, h[i].val.p, h[i].val.n);
		s_adds(&enc, "\r\n");
	}
	int64_t ms = (timeout_ns + NS_PER_MS - 1) / NS_PER_MS;
	if (ms > INT32_MAX) ms = INT32_MAX;
	int64_t t0 = mono_ns();
	int32_t st = postern_http_call("GET", 3, s->url, (uint32_t)s->url_len, enc.p, (uint32_t)enc.n, NULL, 0, (int32_t)ms);
	postern_metric_observe(lookup_seconds, (double)(mono_ns() - t0) / 1e9);
	s_free(&enc);
	if (st < 0) {
		const char *e = st == POSTERN_ERR_DENIED      ? "denied: add its host:port to this plugin's http_allow"
		                : st == POSTERN_ERR_TIMEOUT   ? "timeout"
		                : st == POSTERN_ERR_UNAVAILABLE ? "unavailable"
		                : st == POSTERN_ERR_TOO_LARGE ? "too large"
		                                              : "error";
		snprintf(why, whyn, "%s (%d)", e, (int)st);
		return ASK_ERR;
	}
	char *raw;
	int32_t rn = postern_http_response_dup(POSTERN_HTTP_PART_HEADERS, &raw);
	if (rn < 0) {
		snprintf(why, whyn, "reading the answer: error %d", (int)rn);
		return ASK_ERR;
	}
	int32_t verdict = ASK_ERR;
	const char *v;
	size_t vn;
	if (require200 && st != 200) {
		snprintf(why, whyn, "HTTP status %d, want 200", (int)st);
		goto out;
	}
	const char *stv;
	size_t stn;
	if (!first(raw, (size_t)rn, "Auth-Status", &stv, &stn) || stn == 0) {
		snprintf(why, whyn, "no Auth-Status header");
		goto out;
	}
	int is_ok = s_eqz(stv, stn, "OK"), is_wait = s_eqz(stv, stn, "WAIT");
	uint64_t wait = 0;
	int has_wait = first(raw, (size_t)rn, "Auth-Wait", &v, &vn);
	if (has_wait) {
		uint64_t w;
		if (parse_uint(v, vn, 0xFFFFFFFFULL, &w) < 0) {
			if (is_wait) {
				snprintf(why, whyn, "Auth-Wait \"%.*s\" is not a number of seconds", (int)(vn > 100 ? 100 : vn), v);
				goto out;
			}
			has_wait = 0; /* nginx ignores a bad Auth-Wait on an error */
		} else {
			wait = w > POSTERN_MAX_DELAY_MS / 1000 ? POSTERN_MAX_DELAY_MS / 1000 : w;
		}
	}
	if (is_wait) {
		if (!has_wait) {
			snprintf(why, whyn, "Auth-Status WAIT without Auth-Wait");
			goto out;
		}
		counter("lookup_wait");
		if (cur_id.n > 0) {
			verdict = POSTERN_VERDICT_CONTINUE; /* a token lookup falls back to the pool, at once */
			goto out;
		}
		set_delay_s(wait);
		verdict = POSTERN_VERDICT_RETRY;
		goto out;
	}
	if (!is_ok) {
		counter("lookup_refused");
		if (cur_id.n > 0) {
			verdict = POSTERN_VERDICT_CONTINUE; /* unknown id: the pool, without a wait */
			goto out;
		}
		if (wait > 0) set_delay_s(wait);
		set_message(stv, stn);
		verdict = POSTERN_VERDICT_REFUSE;
		goto out;
	}
	ipaddr a;
	const char *sv = "";
	size_t svn = 0;
	first(raw, (size_t)rn, "Auth-Server", &sv, &svn);
	if (parse_addr(sv, svn, &a) < 0 || a.zone_len > 0) {
		snprintf(why, whyn, "Auth-Server \"%.*s\" is not an IP address", (int)(svn > 100 ? 100 : svn), sv);
		goto out;
	}
	const char *pv = "";
	size_t pvn = 0;
	uint64_t port;
	first(raw, (size_t)rn, "Auth-Port", &pv, &pvn);
	if (parse_uint(pv, pvn, 0xFFFF, &port) < 0 || port == 0) {
		snprintf(why, whyn, "Auth-Port \"%.*s\" is not a port in 1..65535", (int)(pvn > 100 ? 100 : pvn), pv);
		goto out;
	}
	if (is4in6(&a)) { /* Unmap */
		memmove(a.b, a.b + 12, 4);
		a.is4 = 1;
	}
	str up = {0};
	if (!a.is4) s_addc(&up, '[');
	fmt_addr(&up, &a);
	if (!a.is4) s_addc(&up, ']');
	char t[8];
	snprintf(t, sizeof t, ":%u", (unsigned)port);
	s_adds(&up, t);
	int32_t r = postern_field_set(POSTERN_FIELD_UPSTREAMS, up.p, (uint32_t)up.n);
	if (r < 0) {
		snprintf(why, whyn, "upstream \"%s\" refused by the host: error %d", up.p, (int)r);
		s_free(&up);
		goto out;
	}
	s_free(&up);
	if (first(raw, (size_t)rn, "Auth-User", &v, &vn) && vn > 0) {
		postern_field_set(POSTERN_FIELD_ACCOUNT, v, (uint32_t)vn);
		postern_field_set(POSTERN_FIELD_UPSTREAM_LOGIN, v, (uint32_t)vn);
	} else if (cur_id.n > 0) {
		/* the account is the id: route-cache keys the route by it */
		postern_field_set(POSTERN_FIELD_ACCOUNT, cur_id.p, (uint32_t)cur_id.n);
	}
	const str *sent = &h[H_PASS].val;
	int sent_placeholder = s_eqz(sent->p, sent->n, placeholder);
	if (first(raw, (size_t)rn, "Auth-Pass", &v, &vn) && !(s_eqz(v, vn, placeholder) && sent_placeholder))
		postern_field_set(POSTERN_FIELD_UPSTREAM_PASSWORD, v, (uint32_t)vn);
	if (first(raw, (size_t)rn, "Auth-Cache-Alias", &v, &vn) &&
	    (s_eqz(v, vn, "TRUE") || s_eqz(v, vn, "true") || s_eqz(v, vn, "True")))
		postern_field_set(POSTERN_FIELD_CACHE_ALIAS, "1", 1);
	if (!sent_placeholder && sent->n > 0) {
		/* the service saw this password and answered OK: it accepted it */
		postern_field_set(POSTERN_FIELD_PASSWORD_VERIFIED, "1", 1);
	}
	verdict = POSTERN_VERDICT_DONE;
out:
	free(raw);
	return verdict;
}

POSTERN_EXPORT("postern_hook_route") int32_t route(void) {
	hdr h[H_COUNT];
	if (!request(h)) return POSTERN_VERDICT_CONTINUE; /* nothing to look up */
	int n = nservers;
	int start = next_server;
	next_server = (next_server + 1) % n;
	int64_t now = postern_clock_now();
	for (int i = 0; i < n; i++) {
		server *s = &servers[(start + i) % n];
		if (is_down(s, now)) continue;
		char why[300];
		int32_t v = ask(s, h, why, sizeof why);
		if (v != ASK_ERR) {
			free_hdrs(h);
			if (cur_id.n > 0 && v != POSTERN_VERDICT_DONE) counter("token_fallback");
			return v;
		}
		counter("lookup_errors");
		mark_down(s, now, why);
	}
	free_hdrs(h);
	counter("all_down");
	if (cur_id.n > 0) {
		counter("token_fallback");
		return POSTERN_VERDICT_CONTINUE; /* a token lookup falls back to the pool */
	}
	postern_set_message("route lookup service unavailable, try again later");
	return POSTERN_VERDICT_TEMPFAIL;
}
