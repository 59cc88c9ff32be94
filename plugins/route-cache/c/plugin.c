/*
 * route-cache, the C build: the bundled route cache, ported from the Go
 * reference (../cache.go, ../main.go, ../../../storekeys/storekeys.go) so
 * that it behaves identically (../c_test.go runs both in the real host and
 * compares every verdict, field, store operation and counter).
 *
 * It keeps the routes a lookup found in the key-value store (memcached)
 * under Zimbra's keys: the route hook answers from the cache, the
 * route_decided event stores a route (and an alias), login_failed drops
 * them.
 *
 * Build (from the repository root): make c-plugins
 *
 * Go behaviour kept here on purpose, because it is observable:
 *   - keys are package storekeys': escaped as NGX_ESCAPE_MEMCACHED plus
 *     DEL and '%' (and ';' ',' in the parts that are not the login), the
 *     longest part replaced by "%sha256:<hex>" until the key fits 250 bytes;
 *   - values read from the host go through a scratch buffer that grows as
 *     the Go SDK's does (appendRead), so a value larger than the buffer
 *     costs the same second kv_get as in the Go build;
 *   - a cached route is parsed and printed as net/netip's ParseAddrPort
 *     and AddrPort.String do;
 *   - the configuration is decoded as encoding/json does (keys in any
 *     case, unknown keys refused, "ttl" a json.RawMessage: the last one
 *     wins whatever its type, text read by time.ParseDuration, a number by
 *     strconv.ParseFloat), and the TTL is rounded up to seconds as the Go
 *     SDK's KVAdd does.
 */
#include <time.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postern.h"
#include "../../internal/jr/jr.h"
#include "postern_sha256.h"
#include "../../internal/zmauth/zmauth.h"
#include "../../internal/duration/duration.h"
#include "../../internal/netip/netip.h"

POSTERN_ABI_VERSION_EXPORT()

typedef struct {
	str k, v;
} pair;

/* ---- configuration (parseConfig in ../cache.go) ---- */

#define SECOND 1000000000LL

static int64_t ttl_ns = 3600 * SECOND; /* defaultTTL: one hour */
static int64_t reuse_ns = DURATION_DEFAULT_REUSE_NS; /* duration.DefaultReuse: the decision reuse init declares (ABI 1.2) */
static int ssl_protocols;
static const char *web_protocol = ""; /* "", "http" or "httpssl": the proto of web keys */
static int zimbra_id;                  /* route web requests without a user by their auth token */
static int store_logged; /* this instance logged a store outage */

static char errbuf[300];

static int parse_config(const char *text, size_t n) {
	errbuf[0] = '\0';
	if (only_space(text, n)) return 0;
	jr r;
	r.p = text;
	r.end = text + n;
	r.err[0] = '\0';
	int ssl_set = 0, ssl_val = 0, zid_set = 0, zid_val = 0, res = -1;
	int webp_set = 0;
	str webp = {NULL, 0};
	/* "ttl" and "reuse", json.RawMessage values (jraw): a string's text,
	   and the value as written (raw.p NULL: not given) */
	str ttl_text = {NULL, 0}, ttl_raw = {NULL, 0};
	str reuse_text = {NULL, 0}, reuse_raw = {NULL, 0};
	/* Go decodes only the first value: what follows it is not read. */
	int c = jpeek(&r);
	if (c == 'n') {
		if (jliteral(&r, "null") < 0) goto fail;
		goto ok;
	}
	if (c != '{') {
		if (c < 0) jfail(&r, "unexpected end of JSON input");
		else if (c == '[' || c == '"' || c == 't' || c == 'f' || c == '-' || (c >= '0' && c <= '9'))
			jfail(&r, "cannot unmarshal a JSON value that is not an object into the configuration");
		else jfail(&r, "invalid character at the start of the JSON value");
		goto fail;
	}
	r.p++;
	if (jpeek(&r) == '}') {
		r.p++;
		goto ok;
	}
	for (;;) {
		str k;
		if (jpeek(&r) != '"' || jstring(&r, &k) < 0) {
			jfail(&r, "want a quoted key");
			goto fail;
		}
		if (jpeek(&r) != ':') {
			str_free(&k);
			jfail(&r, "want ':' after a key");
			goto fail;
		}
		r.p++;
		if (key_is(&k, "ttl")) {
			str_free(&k);
			if (jraw(&r, &ttl_text, &ttl_raw) < 0) goto fail;
		} else if (key_is(&k, "reuse")) {
			str_free(&k);
			if (jraw(&r, &reuse_text, &reuse_raw) < 0) goto fail;
		} else if (key_is(&k, "ssl_protocols") || key_is(&k, "zimbra_id")) {
			int is_ssl = key_is(&k, "ssl_protocols");
			str_free(&k);
			int *set = is_ssl ? &ssl_set : &zid_set, *val = is_ssl ? &ssl_val : &zid_val;
			c = jpeek(&r);
			if (c == 'n') {
				if (jliteral(&r, "null") < 0) goto fail;
				*set = 0;
			} else if (c == 't' || c == 'f') {
				if (jliteral(&r, c == 't' ? "true" : "false") < 0) goto fail;
				*set = 1;
				*val = c == 't';
			} else {
				snprintf(r.err, sizeof r.err, "key \"%s\": want bool, got a JSON %s",
				         is_ssl ? "ssl_protocols" : "zimbra_id", jtype(c));
				goto fail;
			}
		} else if (key_is(&k, "web_protocol")) {
			str_free(&k);
			c = jpeek(&r);
			if (c == 'n') {
				if (jliteral(&r, "null") < 0) goto fail;
				webp_set = 0;
			} else if (c == '"') {
				str_free(&webp);
				if (jstring(&r, &webp) < 0) goto fail;
				webp_set = 1;
			} else {
				snprintf(r.err, sizeof r.err, "key \"web_protocol\": want string, got a JSON %s", jtype(c));
				goto fail;
			}
		} else {
			snprintf(r.err, sizeof r.err, "unknown key \"%.*s\"; the keys are ttl, ssl_protocols, web_protocol, zimbra_id and reuse",
			         (int)(k.n > 100 ? 100 : k.n), k.p);
			str_free(&k);
			goto fail;
		}
		c = jpeek(&r);
		if (c == ',') {
			r.p++;
			continue;
		}
		if (c == '}') {
			r.p++;
			break;
		}
		jfail(&r, "want ',' or '}' after an object key:value pair");
		goto fail;
	}
ok:
	if (ttl_raw.p != NULL) {
		int64_t d;
		if (duration_parse(ttl_text.p, ttl_text.n, ttl_raw.p, ttl_raw.n, "ttl", "1h", "30m", 100, errbuf, sizeof errbuf,
		                   &d) < 0)
			goto out;
		if (d < SECOND) {
			/* a string's text, else the value as written */
			const str *t = ttl_raw.p[0] == '"' ? &ttl_text : &ttl_raw;
			snprintf(errbuf, sizeof errbuf, "ttl %.*s: want at least 1s", (int)(t->n > 100 ? 100 : t->n), t->p);
			goto out;
		}
		ttl_ns = d;
	}
	if (reuse_raw.p != NULL) {
		/* duration.ParseReuse: duration.Parse, then 0..1h */
		int64_t d;
		if (duration_parse(reuse_text.p, reuse_text.n, reuse_raw.p, reuse_raw.n, "reuse", "1h", "30m", 100, errbuf,
		                   sizeof errbuf, &d) < 0 ||
		    duration_check_reuse(d, DURATION_WANT_RANGE, "", reuse_raw.p, (int)(reuse_raw.n > 100 ? 100 : reuse_raw.n),
		                         errbuf, sizeof errbuf) < 0)
			goto out;
		reuse_ns = d;
	}
	if (ssl_set) ssl_protocols = ssl_val;
	if (webp_set) {
		if (str_eq(webp.p, webp.n, "", 0)) web_protocol = "";
		else if (str_eq(webp.p, webp.n, "http", 4)) web_protocol = "http";
		else if (str_eq(webp.p, webp.n, "httpssl", 7)) web_protocol = "httpssl";
		else {
			snprintf(errbuf, sizeof errbuf,
			         "web_protocol \"%.*s\": want http or httpssl (the scheme Zimbra proxies to), or \"\"",
			         (int)(webp.n > 100 ? 100 : webp.n), webp.p);
			goto out;
		}
	}
	if (zid_set) zimbra_id = zid_val;
	res = 0;
	goto out;
fail:
	snprintf(errbuf, sizeof errbuf, "%s", r.err[0] ? r.err : "invalid JSON");
out:
	str_free(&ttl_text);
	str_free(&ttl_raw);
	str_free(&reuse_text);
	str_free(&reuse_raw);
	str_free(&webp);
	return res;
}

/* get_seconds' id (init); a call before it is declared is ErrInvalid. */
static int32_t get_seconds = -1;

/* mono_ns is the monotonic clock (WASI CLOCK_MONOTONIC) in nanoseconds:
 * latencies are measured on it, so a wall clock step is no latency. */
static int64_t mono_ns(void) {
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

POSTERN_EXPORT("postern_init") int32_t init(void) {
	char *text;
	int32_t n = postern_config_dup(&text);
	if (n < 0) {
		postern_set_message("route-cache: config: cannot read the configuration");
		return POSTERN_INIT_REFUSE;
	}
	int res = parse_config(text, (size_t)n);
	free(text);
	if (res < 0) {
		char msg[360];
		snprintf(msg, sizeof msg, "route-cache: config: %s", errbuf);
		postern_set_message(msg);
		return POSTERN_INIT_REFUSE;
	}
	/* Nobody to look up or store without a login (the hook and the events
	 * skip an empty account themselves on hosts older than ABI 1.1),
	 * unless a web request without one may carry an auth token. */
	if (!zimbra_id) postern_only_with_login();
	/* get_seconds (ABI 1.1 plugin metric; cache.go declareMetrics) */
	static const double get_bounds[] = {.0001, .00025, .0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1};
	get_seconds = postern_metric_histogram(
	    "get_seconds", "Time of the route key's get in the key-value store (the round trip that carried it), hit or miss, failures included.",
	    get_bounds, sizeof get_bounds / sizeof get_bounds[0]);
	if (get_seconds < 0) {
		char msg[120];
		snprintf(msg, sizeof msg, "metric \"get_seconds\": error %d", (int)get_seconds);
		postern_set_message(msg);
		return POSTERN_INIT_REFUSE;
	}
	/* The decision reuse (ABI 1.2; main.go, duration.DeclareReuse). */
	if (duration_declare_reuse("route-cache", reuse_ns) < 0) return POSTERN_INIT_REFUSE;
	return POSTERN_INIT_OK;
}

/* ttl_seconds is the Go SDK's ttlSeconds: rounded up to whole seconds,
 * at most 2^31-1 (ttl_ns >= 1s here: parse_config refuses less). */
static int32_t ttl_seconds(void) {
	int64_t s = ttl_ns / SECOND;
	if (ttl_ns % SECOND != 0) s++;
	if (s > 2147483647LL) s = 2147483647LL;
	return (int32_t)s;
}

/* ---- reading values as the Go SDK does (guest-sdk/read.go) ---- */

/* The Go SDK reads every value into one scratch buffer (512 bytes at
 * first) and asks the host again only when the value is larger; the
 * buffer it grew is kept up to 64 KiB. A kv_get is a store operation, so
 * the number of them is observable: this follows the same sizes. */
static char *scratch;
static size_t scratch_cap = 512;

/* go_roundup is the Go allocator's size for a byte slice of n bytes. */
static size_t go_roundup(size_t n) {
	static const uint16_t classes[] = {8,    16,   24,   32,   48,    64,    80,    96,    112,   128,   144,   160,
	                                   176,  192,  208,  224,  240,   256,   288,   320,   352,   384,   416,   448,
	                                   480,  512,  576,  640,  704,   768,   896,   1024,  1152,  1280,  1408,  1536,
	                                   1792, 2048, 2304, 2688, 3072,  3200,  3456,  4096,  4864,  5376,  6144,  6528,
	                                   6784, 6912, 8192, 9472, 9728,  10240, 10880, 12288, 13568, 14336, 16384, 18432,
	                                   19072, 20480, 21760, 24576, 27264, 28672, 32768};
	if (n <= 32768) {
		for (size_t i = 0; i < sizeof classes / sizeof classes[0]; i++)
			if (classes[i] >= n) return classes[i];
	}
	return (n + 8191) / 8192 * 8192;
}

/* go_grow is cap(slices.Grow(s[:0], n)) for a slice of capacity old < n. */
static size_t go_grow(size_t old, size_t n) {
	size_t c = old;
	if (n > 2 * old) c = n;
	else if (old < 256) c = 2 * old;
	else
		while (c < n) c += (c + 3 * 256) >> 2;
	return go_roundup(c);
}

typedef int32_t (*reader)(const void *ctx, void *buf, uint32_t limit);

/* sdk_read reads a value as appendRead(scratch[:0], read) then keep():
 * *out is a malloc'd copy ("" on error); returns the length or an error. */
static int32_t sdk_read(reader rd, const void *ctx, str *out) {
	if (scratch == NULL) {
		scratch = malloc(scratch_cap);
		if (scratch == NULL) abort();
	}
	char *buf = scratch;
	size_t cap = scratch_cap;
	int32_t r;
	for (;;) {
		r = rd(ctx, buf, (uint32_t)cap);
		if (r < 0 || (size_t)r <= cap) break;
		size_t nc = go_grow(cap, (size_t)r);
		char *nb = malloc(nc);
		if (nb == NULL) abort();
		if (buf != scratch) free(buf);
		buf = nb;
		cap = nc;
	}
	*out = r < 0 ? str_dup("", 0) : str_dup(buf, (size_t)r);
	if (buf != scratch) {
		if (cap > scratch_cap && cap <= POSTERN_MAX_FIELD_BYTES) {
			free(scratch);
			scratch = buf;
			scratch_cap = cap;
		} else {
			free(buf);
		}
	}
	return r;
}

static int32_t read_field_cb(const void *ctx, void *buf, uint32_t limit) {
	return postern_field_get(*(const int32_t *)ctx, buf, limit);
}

static int32_t read_kv_cb(const void *ctx, void *buf, uint32_t limit) {
	const str *k = (const str *)ctx;
	return postern_kv_get(k->p, (uint32_t)k->n, buf, limit);
}

/* field is the Go SDK's str(f): the value, "" on error. */
static str field(int32_t f) {
	str s;
	sdk_read(read_field_cb, &f, &s);
	return s;
}

static int field_is(int32_t f, const char *want) {
	str s = field(f);
	int eq = str_eq(s.p, s.n, want, strlen(want));
	str_free(&s);
	return eq;
}

/* ---- keys (storekeys/storekeys.go) ---- */

#define MAX_KEY_BYTES 250

static int needs_escape(unsigned char c, int delims) {
	return c <= ' ' || c == 0x7f || c == '%' || (delims && (c == ';' || c == ','));
}

static str escape(const str *s, int delims) {
	size_t n = 0;
	for (size_t i = 0; i < s->n; i++)
		if (needs_escape((unsigned char)s->p[i], delims)) n++;
	str o;
	o.p = malloc(s->n + 2 * n + 1);
	if (o.p == NULL) abort();
	o.n = 0;
	for (size_t i = 0; i < s->n; i++) {
		unsigned char c = (unsigned char)s->p[i];
		if (needs_escape(c, delims)) {
			o.p[o.n++] = '%';
			o.p[o.n++] = "0123456789ABCDEF"[c >> 4];
			o.p[o.n++] = "0123456789ABCDEF"[c & 15];
		} else {
			o.p[o.n++] = (char)c;
		}
	}
	o.p[o.n] = '\0';
	return o;
}

/* build_key joins two labels and two escaped parts (free: the part that
 * keeps ';' and ','), hashing the longest part until the key fits. */
static str build_key(const char *l0, const char *l1, const str *raw0, const str *raw1, int free_part) {
	const char *labels[2] = {l0, l1};
	const str *raw[2] = {raw0, raw1};
	str parts[2];
	int hashed[2] = {0, 0};
	for (int i = 0; i < 2; i++) parts[i] = escape(raw[i], i != free_part);
	size_t n;
	for (;;) {
		n = 0;
		for (int i = 0; i < 2; i++) n += strlen(labels[i]) + parts[i].n;
		if (n <= MAX_KEY_BYTES) break;
		int longest = -1;
		for (int i = 0; i < 2; i++)
			if (!hashed[i] && (longest < 0 || parts[i].n > parts[longest].n)) longest = i;
		if (longest < 0) break;
		uint8_t sum[32];
		postern_sha256(raw[longest]->p, raw[longest]->n, sum);
		str_free(&parts[longest]);
		parts[longest].p = malloc(8 + 64 + 1);
		if (parts[longest].p == NULL) abort();
		memcpy(parts[longest].p, "%sha256:", 8);
		postern_hex(sum, 32, parts[longest].p + 8);
		parts[longest].n = 72;
		parts[longest].p[72] = '\0';
		hashed[longest] = 1;
	}
	str k;
	k.p = malloc(n + 1);
	if (k.p == NULL) abort();
	k.n = 0;
	for (int i = 0; i < 2; i++) {
		size_t ln = strlen(labels[i]);
		memcpy(k.p + k.n, labels[i], ln);
		k.n += ln;
		memcpy(k.p + k.n, parts[i].p, parts[i].n);
		k.n += parts[i].n;
		str_free(&parts[i]);
	}
	k.p[k.n] = '\0';
	return k;
}

/* proto is the proto of this session's keys: the protocol, with "ssl"
 * appended for TLS clients when ssl_protocols is set. */
static str proto(void) {
	str p = field(POSTERN_FIELD_PROTOCOL);
	if (web_protocol[0] != '\0' && str_eq(p.p, p.n, "http", 4)) {
		str_free(&p);
		return str_dup(web_protocol, strlen(web_protocol));
	}
	if (ssl_protocols) {
		str tls = field(POSTERN_FIELD_TLS_VERSION);
		if (tls.n > 0) {
			char *np = malloc(p.n + 4);
			if (np == NULL) abort();
			memcpy(np, p.p, p.n);
			memcpy(np + p.n, "ssl", 4);
			free(p.p);
			p.p = np;
			p.n += 3;
		}
		str_free(&tls);
	}
	return p;
}

/* route_key is storekeys.Route(proto(), account). */
static str route_key(const str *account) {
	str p = proto();
	str k = build_key("route:proto=", ";user=", &p, account, 1);
	str_free(&p);
	return k;
}

/* route_id_key is storekeys.RouteID(proto(), id). */
static str route_id_key(const str *id) {
	str p = proto();
	str k = build_key("route:proto=", ";id=", &p, id, 1);
	str_free(&p);
	return k;
}

/* alias_key is the alias key of login (n == 0: none): by the virtual host
 * for the web, by the proxy's address for mail. The host writes local_ip
 * as netip.Addr's text or "", so the Go SDK's ParseAddr and String give
 * it back unchanged. */
static str alias_key(const str *login) {
	str k = {NULL, 0};
	str p = field(POSTERN_FIELD_PROTOCOL);
	if (str_eq(p.p, p.n, "http", 4)) {
		str host = field(POSTERN_FIELD_HTTP_HOST);
		if (host.n > 0) k = build_key("alias:user=", ";vhost=", login, &host, 0);
		str_free(&host);
	} else {
		str ip = field(POSTERN_FIELD_LOCAL_IP);
		if (ip.n > 0) k = build_key("alias:user=", ";ip=", login, &ip, 0);
		str_free(&ip);
	}
	str_free(&p);
	return k;
}

/* ---- net/netip: ParseAddrPort and AddrPort.String ---- */

/* netip.h's address: b (IPv4 in its first 4 bytes), is4, zone, zone_len. */
typedef ipaddr addr;

/* parse_addr_port is netip.ParseAddrPort. */
static int parse_addr_port(const char *s, size_t n, addr *a, uint32_t *port) {
	const char *colon = NULL;
	for (size_t i = n; i > 0; i--)
		if (s[i - 1] == ':') {
			colon = s + i - 1;
			break;
		}
	if (colon == NULL) return -1;
	const char *ip = s, *pt = colon + 1;
	size_t ipn = (size_t)(colon - s), ptn = n - ipn - 1;
	if (ipn == 0 || ptn == 0) return -1;
	int v6 = 0;
	if (ip[0] == '[') {
		if (ipn < 2 || ip[ipn - 1] != ']') return -1;
		ip++;
		ipn -= 2;
		v6 = 1;
	}
	uint32_t p = 0;
	for (size_t i = 0; i < ptn; i++) {
		if (pt[i] < '0' || pt[i] > '9') return -1;
		p = p * 10 + (uint32_t)(pt[i] - '0');
		if (p > 65535) return -1;
	}
	*port = p;
	if (parse_addr(ip, ipn, a) < 0) return -1;
	if (v6 && a->is4) return -1;
	if (!v6 && !a->is4) return -1;
	return 0;
}

/* addr_port_string is AddrPort.String; o must hold the zone plus 64. */
static size_t addr_port_string(char *o, const addr *a, uint32_t port) {
	size_t n = 0;
	if (a->is4) {
		n = netip_format(a, o);
	} else {
		o[n++] = '[';
		n += netip_format(a, o + n);
		if (a->zone_len > 0) {
			o[n++] = '%';
			memcpy(o + n, a->zone, a->zone_len);
			n += a->zone_len;
		}
		o[n++] = ']';
	}
	n += (size_t)sprintf(o + n, ":%u", port);
	return n;
}

/* ---- Zimbra auth tokens (plugins/internal/zmauth/zmauth.h) ---- */

/* zm_account_id is zmauth.AccountID, the id in a str. */
static int zm_account_id(const char *t, size_t tn, str *id) {
	char *p;
	size_t n;
	if (!zmauth_account_id(t, tn, &p, &n)) return 0;
	*id = str_dup(p, n);
	free(p);
	return 1;
}

static int32_t read_cookie_cb(const void *ctx, void *buf, uint32_t limit) {
	const char *name = (const char *)ctx;
	return postern_field_get_key(POSTERN_FIELD_HTTP_COOKIE, name, (uint32_t)strlen(name), buf, limit);
}

/* token_id is cache.go tokenID: with zimbra_id, the account id of a web
 * request's auth token (the ZM_AUTH_TOKEN cookie when not empty, else the
 * zauthtoken argument); 0 otherwise. The reads go through the SDK's
 * buffer in Go's order: the query, then the cookie. */
static int token_id(str *id) {
	if (!zimbra_id || !field_is(POSTERN_FIELD_PROTOCOL, "http")) return 0;
	str q = field(POSTERN_FIELD_HTTP_QUERY), c;
	sdk_read(read_cookie_cb, "ZM_AUTH_TOKEN", &c);
	int ok = 0;
	if (c.n > 0) {
		ok = zm_account_id(c.p, c.n, id);
	} else {
		const char *v;
		size_t vn;
		if (zmauth_arg(q.p, q.n, "zauthtoken", &v, &vn)) ok = zm_account_id(v, vn, id);
	}
	str_free(&q);
	str_free(&c);
	return ok;
}

/* ---- the hook and the events (../cache.go) ---- */

static void count(const char *name) { postern_counter_add(name, (uint32_t)strlen(name), 1); }

static int unavailable(int32_t err) { return err == POSTERN_ERR_UNAVAILABLE || err == POSTERN_ERR_TIMEOUT; }

/* store_failed counts a store outage and logs it once per instance. */
static void store_failed(const char *op, int32_t err) {
	count("cache_errors");
	if (!store_logged) {
		store_logged = 1;
		char msg[200];
		snprintf(msg, sizeof msg,
		         "route-cache: key-value store %s failed: error %d; routes are looked up without the cache until it is back",
		         op, (int)err);
		postern_log_str(POSTERN_LEVEL_WARN, msg);
	}
}

/* skip: GSSAPI logins are never cached (the mapped login depends on the
 * ticket). */
static int skip(void) { return field_is(POSTERN_FIELD_AUTH_METHOD, "gssapi"); }

static int32_t route(void) {
	if (skip()) return POSTERN_VERDICT_CONTINUE;
	int32_t verdict = POSTERN_VERDICT_CONTINUE;
	str login = field(POSTERN_FIELD_LOGIN), account = field(POSTERN_FIELD_ACCOUNT);
	str k = {NULL, 0}, v = {NULL, 0}, rk = {NULL, 0};
	int32_t r;
	if (account.n == 0) {
		str id;
		if (token_id(&id)) {
			rk = route_id_key(&id);
			str_free(&id);
			goto cached;
		}
		goto out; /* nobody to look up: an anonymous web request */
	}
	if (field_is(POSTERN_FIELD_UPSTREAM_AUTH, "master") && !field_is(POSTERN_FIELD_PASSWORD_VERIFIED, "1")) {
		/* The host will log in as a master user, so the password must be
		 * checked by a plugin that asks an authority. A cached route
		 * checks nothing: let it run. */
		count("cache_bypassed_unverified");
		goto out;
	}
	/* The alias (login -> account) and the route of the account as it
	 * stands go in one round trip (kv_batch); only an alias naming another
	 * account costs a second. */
	rk = route_key(&account);
	k = alias_key(&login);
	if (k.p == NULL) goto cached;
	{
		static uint8_t req[2 * (2 + POSTERN_MAX_KEY_BYTES)], resp[16 + 4096];
		postern_kvb b;
		postern_kvb_init(&b, req, sizeof req);
		postern_kvb_get(&b, k.p, (uint32_t)k.n);
		postern_kvb_get(&b, rk.p, (uint32_t)rk.n);
		postern_kvb_resp br;
		int64_t t0 = mono_ns();
		int32_t bn = postern_kvb_run(&b, resp, sizeof resp, &br);
		int64_t ra = bn, rr = bn;
		const char *av = NULL, *rv = NULL;
		uint32_t avn = 0, rvn = 0;
		str alias = {NULL, 0};
		if (bn >= 0) {
			if (postern_kvb_next(&br, POSTERN_KV_GET, &ra, &av, &avn)) alias = str_dup(ra >= 0 ? av : "", ra >= 0 ? avn : 0);
			else ra = sdk_read(read_kv_cb, &k, &alias); /* cut from the buffer: read it again */
			if (postern_kvb_next(&br, POSTERN_KV_GET, &rr, &rv, &rvn)) v = str_dup(rr >= 0 ? rv : "", rr >= 0 ? rvn : 0);
			else rr = sdk_read(read_kv_cb, &rk, &v);
		}
		/* the round trip of the route key's get */
		postern_metric_observe(get_seconds, (double)(mono_ns() - t0) / 1e9);
		r = (int32_t)rr;
		if (ra > 0) {
			if (postern_field_set(POSTERN_FIELD_ACCOUNT, alias.p, (uint32_t)alias.n) < 0) {
				str_free(&alias);
				goto out;
			}
			count("alias_hits");
			if (!str_eq(alias.p, alias.n, account.p, account.n)) {
				str_free(&account);
				account = alias;
				str_free(&rk);
				str_free(&v);
				rk = route_key(&account);
				goto cached;
			}
		} else if (ra < 0 && unavailable((int32_t)ra)) {
			str_free(&alias);
			store_failed("get", (int32_t)ra);
			goto out; /* the store is down: do not wait on it twice */
		}
		str_free(&alias);
		goto found;
	}
cached:;
	int64_t t0 = mono_ns();
	r = sdk_read(read_kv_cb, &rk, &v);
	postern_metric_observe(get_seconds, (double)(mono_ns() - t0) / 1e9);
found:
	if (r < 0) {
		if (unavailable(r)) store_failed("get", r);
		else count("cache_misses");
		goto out;
	}
	addr a;
	uint32_t port;
	if (parse_addr_port(v.p, v.n, &a, &port) < 0 || port == 0) {
		/* Not a route we can use: let the lookup decide and overwrite it. */
		count("cache_invalid");
		postern_kv_delete(rk.p, (uint32_t)rk.n);
		goto out;
	}
	char *up = malloc(a.zone_len + 64);
	if (up == NULL) abort();
	size_t upn = addr_port_string(up, &a, port);
	int32_t e = postern_field_set(POSTERN_FIELD_UPSTREAMS, up, (uint32_t)upn);
	free(up);
	if (e < 0) goto out;
	postern_field_set(POSTERN_FIELD_ROUTE_CACHED, "1", 1);
	count("cache_hits");
	verdict = POSTERN_VERDICT_DONE;
out:
	str_free(&login);
	str_free(&account);
	str_free(&k);
	str_free(&v);
	str_free(&rk);
	return verdict;
}

POSTERN_EXPORT("postern_hook_route") int32_t hook_route(void) { return route(); }

/* route_decided stores the route another plugin decided (and the alias,
 * when the lookup asked for it) with add, as Zimbra does. */
POSTERN_EXPORT("postern_event_route_decided") void route_decided(void) {
	if (skip() || field_is(POSTERN_FIELD_ROUTE_CACHED, "1")) return;
	str up = field(POSTERN_FIELD_UPSTREAM);
	if (up.n == 0) {
		str_free(&up);
		up = field(POSTERN_FIELD_UPSTREAMS);
		char *nul = memchr(up.p, '\0', up.n); /* the first item */
		if (nul != NULL) up.n = (size_t)(nul - up.p);
	}
	if (up.n == 0) {
		str_free(&up);
		return;
	}
	str login = field(POSTERN_FIELD_LOGIN), account = field(POSTERN_FIELD_ACCOUNT);
	if (account.n > 0) {
		str rk = route_key(&account);
		if (login.n == 0) {
			str id;
			if (token_id(&id)) {
				/* a web request routed by its token: the account is the id
				 * the lookup answered, which Zimbra keys the route by */
				str_free(&id);
				str_free(&rk);
				rk = route_id_key(&account);
			}
		}
		int32_t e = postern_kv_add(rk.p, (uint32_t)rk.n, up.p, (uint32_t)up.n, ttl_seconds());
		str_free(&rk);
		if (e >= 0) {
			count("routes_stored");
		} else if (unavailable(e)) {
			store_failed("add", e);
			goto out;
		}
		if (field_is(POSTERN_FIELD_CACHE_ALIAS, "1") && login.n > 0 && !str_eq(login.p, login.n, account.p, account.n)) {
			str k = alias_key(&login);
			if (k.p != NULL) {
				e = postern_kv_add(k.p, (uint32_t)k.n, account.p, (uint32_t)account.n, ttl_seconds());
				if (e >= 0) count("aliases_stored");
				else if (unavailable(e)) store_failed("add", e);
			}
			str_free(&k);
		}
	}
out:
	str_free(&up);
	str_free(&login);
	str_free(&account);
}

/* login_failed deletes the login's route and alias (and the account's
 * route): the cached route may be stale, after a mailbox moved. */
POSTERN_EXPORT("postern_event_login_failed") void login_failed(void) {
	if (skip()) return;
	str login = field(POSTERN_FIELD_LOGIN), account = field(POSTERN_FIELD_ACCOUNT);
	str del[3];
	int n = 0;
	del[n++] = route_key(&login);
	if (account.n > 0 && !str_eq(account.p, account.n, login.p, login.n)) del[n++] = route_key(&account);
	str ak = alias_key(&login);
	if (ak.p != NULL) del[n++] = ak;
	for (int i = 0; i < n; i++) {
		int32_t e = postern_kv_delete(del[i].p, (uint32_t)del[i].n);
		if (e >= 0) {
			count("routes_deleted");
		} else if (unavailable(e)) {
			store_failed("delete", e);
			break;
		}
	}
	for (int i = 0; i < n; i++) str_free(&del[i]);
	str_free(&login);
	str_free(&account);
}
