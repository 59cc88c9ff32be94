/*
 * postern.h: the Postern plugin ABI v1 for C (header only).
 *
 * abi/ABI.md is the specification; this header names its numbers
 * (mirroring abi/abi.go: guest-sdk/c/header_test.go fails when they
 * drift), declares every host function of module "postern", and adds
 * helpers for the probe-then-read convention.
 *
 * Build a plugin as a WASI reactor with Debian's clang and wasi-libc:
 *
 *   clang --target=wasm32-wasi -O2 -mexec-model=reactor -nodefaultlibs -lc \
 *       -Wl,--strip-debug -I guest-sdk/c -o plugin.wasm plugin.c
 *
 * A plugin exports its hooks with POSTERN_EXPORT and declares its ABI
 * version once with POSTERN_ABI_VERSION_EXPORT():
 *
 *   #include "postern.h"
 *   POSTERN_ABI_VERSION_EXPORT()
 *   POSTERN_EXPORT("postern_hook_login") int32_t login(void) {
 *       char *l; int32_t n = postern_field_dup(POSTERN_FIELD_LOGIN, &l);
 *       ...
 *       return POSTERN_VERDICT_CONTINUE;
 *   }
 *
 * Host functions return a length or 0 on success and a negative
 * POSTERN_ERR_* code on failure; a pointer range outside memory traps.
 * The host never keeps a pointer into guest memory and never calls
 * malloc: the *_dup helpers allocate with the guest's own malloc.
 */
#ifndef POSTERN_H
#define POSTERN_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ABI version (ABI.md "Versioning"). */
#define POSTERN_ABI_VERSION_MAJOR 1
#define POSTERN_ABI_VERSION_MINOR 2
#define POSTERN_PACK_VERSION(major, minor) ((int32_t)(((uint32_t)(major) << 16) | (uint32_t)(minor)))

/* Init results (ABI.md "Guest exports"). */
#define POSTERN_INIT_OK 0
#define POSTERN_INIT_REFUSE 1

/* Verdicts a hook returns (ABI.md "Verdicts"). */
#define POSTERN_VERDICT_CONTINUE 0
#define POSTERN_VERDICT_DONE 1
#define POSTERN_VERDICT_REFUSE 2
#define POSTERN_VERDICT_TEMPFAIL 3
#define POSTERN_VERDICT_RETRY 4
#define POSTERN_MAX_RETRIES 5

/* Hooks and events (ABI.md "Overview", "Events"). */
#define POSTERN_HOOK_LOGIN 1
#define POSTERN_HOOK_THROTTLE 2
#define POSTERN_HOOK_ROUTE 3
#define POSTERN_HOOK_REWRITE 4
/* ABI 1.1, HTTP only: export postern_hook_response (POSTERN_EXPORT) to be
   called after the upstream's response headers, before the client gets a
   byte. Refuse answers 403, TempFail 503 instead of the response. */
#define POSTERN_HOOK_RESPONSE 5
#define POSTERN_EVENT_ROUTE_DECIDED 1
#define POSTERN_EVENT_LOGIN_FAILED 2

/* Fields (ABI.md "Fields"). */
#define POSTERN_FIELD_PROTOCOL 1
#define POSTERN_FIELD_LISTENER 2
#define POSTERN_FIELD_SESSION_ID 3
#define POSTERN_FIELD_CLIENT_IP 4
#define POSTERN_FIELD_CLIENT_PORT 5
#define POSTERN_FIELD_LOCAL_IP 6
#define POSTERN_FIELD_LOCAL_PORT 7
#define POSTERN_FIELD_TLS_VERSION 8
#define POSTERN_FIELD_TLS_CIPHER 9
#define POSTERN_FIELD_SNI 10
#define POSTERN_FIELD_AUTH_METHOD 11
#define POSTERN_FIELD_LOGIN 12
#define POSTERN_FIELD_PASSWORD 13
#define POSTERN_FIELD_LOGIN_ATTEMPT 14
#define POSTERN_FIELD_ACCOUNT 15
#define POSTERN_FIELD_AUTH_ID 16
#define POSTERN_FIELD_HTTP_METHOD 17
#define POSTERN_FIELD_HTTP_HOST 18
#define POSTERN_FIELD_HTTP_PATH 19
#define POSTERN_FIELD_HTTP_QUERY 20
#define POSTERN_FIELD_HTTP_HEADER 21
#define POSTERN_FIELD_HTTP_COOKIE 22
#define POSTERN_FIELD_HTTP_HEADERS 23
#define POSTERN_FIELD_UPSTREAMS 24
#define POSTERN_FIELD_UPSTREAM_LOGIN 25
#define POSTERN_FIELD_UPSTREAM_PASSWORD 26
#define POSTERN_FIELD_MESSAGE 27
#define POSTERN_FIELD_DELAY_MS 28
#define POSTERN_FIELD_REDIRECT_CODE 29
#define POSTERN_FIELD_REDIRECT_URL 30
#define POSTERN_FIELD_CACHE_ALIAS 31
#define POSTERN_FIELD_CLIENT_SUFFIX 32
#define POSTERN_FIELD_IMAP_ID 33
#define POSTERN_FIELD_UPSTREAM 34
#define POSTERN_FIELD_ROUTE_CACHED 35
/* ABI 1.1: */
#define POSTERN_FIELD_PASSWORD_VERIFIED 36
#define POSTERN_FIELD_UPSTREAM_AUTH 37
/* ABI 1.1 request filters, written in postern_init only (ABI.md "Request
   filters"): the host enters the plugin only for requests that match.
   Lists are NUL-separated. ONLY_LOGIN: "1" = only with a non-empty account;
   ONLY_PROTOCOLS: imap, pop3, http; ONLY_HOSTS: names or "*.domain" (HTTP
   only); ONLY_PATHS: path prefixes starting with "/" (HTTP only);
   ONLY_METHODS: exact methods (HTTP only). A 1.0 host returns
   POSTERN_ERR_UNKNOWN_FIELD and calls the plugin for every request. */
#define POSTERN_FIELD_ONLY_LOGIN 38
#define POSTERN_FIELD_ONLY_PROTOCOLS 39
#define POSTERN_FIELD_ONLY_HOSTS 40
#define POSTERN_FIELD_ONLY_PATHS 41
#define POSTERN_FIELD_ONLY_METHODS 42
/* ABI 1.1 OAuth logins (AUTH_METHOD "oauthbearer", "xoauth2"): OAUTH_TOKEN
   is the bearer token, a secret like PASSWORD (login and route only, never
   log it); OAUTH_USER is the user the client claims (authzid / user=). */
#define POSTERN_FIELD_OAUTH_TOKEN 43
#define POSTERN_FIELD_OAUTH_USER 44
/* ABI 1.1, HTTP only: the web pool the request goes to. The route hook
   reads the pool the configuration's routes chose ("" when none matched)
   and may write another pool's name (postern_set_pool); upstreams, when
   set, still win; an unknown name is the host's 502. Rewrite and
   route_decided read the pool used ("" when upstreams were). */
#define POSTERN_FIELD_POOL 45
/* ABI 1.1, response hook only: the upstream's status (decimal, read-only)
   and response headers (keyed: postern_field_get_key, _set_key replaces
   every value, _delete_key). Set-Cookie's values are a NUL-separated list
   both ways, one item per header. */
#define POSTERN_FIELD_RESPONSE_STATUS 46
#define POSTERN_FIELD_RESPONSE_HEADER 47
/* ABI 1.2, written in postern_init only (ABI.md "Decision reuse"): for how
   many milliseconds (decimal, 0..POSTERN_MAX_REUSE_MS; 0, the default, none)
   the host may reuse this plugin's outcome of the login, throttle and route
   hooks for a later HTTP request with the same reuse key, without entering
   it (postern_reuse_decisions). A 1.1 host returns
   POSTERN_ERR_UNKNOWN_FIELD and reuses nothing, which is always correct. */
#define POSTERN_FIELD_REUSE_MS 48
#define POSTERN_FIELD_MAX 48

/* Errors, returned negative (ABI.md "Errors"). */
#define POSTERN_ERR_UNKNOWN_FIELD (-1)
#define POSTERN_ERR_NOT_AVAILABLE (-2)
#define POSTERN_ERR_READ_ONLY (-3)
#define POSTERN_ERR_INVALID (-4)
#define POSTERN_ERR_NOT_FOUND (-5)
#define POSTERN_ERR_UNAVAILABLE (-6)
#define POSTERN_ERR_TOO_LARGE (-7)
#define POSTERN_ERR_DENIED (-8)
#define POSTERN_ERR_EXISTS (-9)
#define POSTERN_ERR_TIMEOUT (-10)

/* Log levels (ABI.md "log"). */
#define POSTERN_LEVEL_DEBUG 0
#define POSTERN_LEVEL_INFO 1
#define POSTERN_LEVEL_WARN 2
#define POSTERN_LEVEL_ERROR 3

/* http_response_get parts. */
#define POSTERN_HTTP_PART_HEADERS 0
#define POSTERN_HTTP_PART_BODY 1

/* Limits (ABI.md "Limits"). */
#define POSTERN_MAX_FIELD_BYTES 65536
#define POSTERN_MAX_KEY_BYTES 250
#define POSTERN_MAX_KV_VALUE_BYTES 1048576
#define POSTERN_MAX_LOG_BYTES 4096
#define POSTERN_MAX_HTTP_BODY 1048576
#define POSTERN_MAX_DELAY_MS 300000
#define POSTERN_MAX_KEY_NAME_BYTES 256
#define POSTERN_MAX_REUSE_MS 3600000

/* Plugin metrics (ABI 1.1, ABI.md "Plugin metrics"): kinds and limits. */
#define POSTERN_METRIC_GAUGE 1
#define POSTERN_METRIC_HISTOGRAM 2
#define POSTERN_MAX_METRICS 16
#define POSTERN_MAX_METRIC_BUCKETS 32
#define POSTERN_MAX_METRIC_NAME_BYTES 64
#define POSTERN_MAX_METRIC_HELP_BYTES 256

/* Features (ABI.md "feature"). */
#define POSTERN_FEATURE_ABI_1_0 "abi-1.0"
#define POSTERN_FEATURE_ABI_1_1 "abi-1.1"
#define POSTERN_FEATURE_ABI_1_2 "abi-1.2"
#define POSTERN_FEATURE_KV_SHARED "kv-shared"
#define POSTERN_FEATURE_HTTP_CALL "http-call"
#define POSTERN_FEATURE_RESPONSE_HOOK "response-hook"
#define POSTERN_FEATURE_METRICS "metrics"

/* Exports. */
#define POSTERN_EXPORT(name) __attribute__((export_name(name)))
/* Defines postern_abi_version returning this header's version. */
#define POSTERN_ABI_VERSION_EXPORT()                                        \
	POSTERN_EXPORT("postern_abi_version") int32_t postern_abi_version(void) { \
		return POSTERN_PACK_VERSION(POSTERN_ABI_VERSION_MAJOR,              \
		                            POSTERN_ABI_VERSION_MINOR);             \
	}

/* Host functions (ABI.md "Host functions"); pointers are offsets into the
 * plugin's memory, lengths are bytes. */
#define POSTERN_IMPORT(name) __attribute__((import_module("postern"), import_name(name)))

POSTERN_IMPORT("feature") int32_t postern_feature(const void *name, uint32_t name_len);
POSTERN_IMPORT("log") void postern_log(int32_t level, const void *msg, uint32_t msg_len);
POSTERN_IMPORT("config_get") int32_t postern_config_get(void *buf, uint32_t limit);
POSTERN_IMPORT("field_get") int32_t postern_field_get(int32_t field, void *buf, uint32_t limit);
POSTERN_IMPORT("field_set") int32_t postern_field_set(int32_t field, const void *val, uint32_t val_len);
POSTERN_IMPORT("field_get_key")
int32_t postern_field_get_key(int32_t field, const void *key, uint32_t key_len, void *buf, uint32_t limit);
POSTERN_IMPORT("field_set_key")
int32_t postern_field_set_key(int32_t field, const void *key, uint32_t key_len, const void *val, uint32_t val_len);
POSTERN_IMPORT("field_delete_key") int32_t postern_field_delete_key(int32_t field, const void *key, uint32_t key_len);
POSTERN_IMPORT("kv_get") int32_t postern_kv_get(const void *key, uint32_t key_len, void *buf, uint32_t limit);
POSTERN_IMPORT("kv_set")
int32_t postern_kv_set(const void *key, uint32_t key_len, const void *val, uint32_t val_len, int32_t ttl_seconds);
POSTERN_IMPORT("kv_add")
int32_t postern_kv_add(const void *key, uint32_t key_len, const void *val, uint32_t val_len, int32_t ttl_seconds);
POSTERN_IMPORT("kv_incr") int64_t postern_kv_incr(const void *key, uint32_t key_len, int64_t delta);
POSTERN_IMPORT("kv_delete") int32_t postern_kv_delete(const void *key, uint32_t key_len);
POSTERN_IMPORT("kv_batch") int32_t postern_kv_batch(const void *ops, uint32_t ops_len, void *buf, uint32_t limit);
POSTERN_IMPORT("http_call")
int32_t postern_http_call(const void *method, uint32_t method_len, const void *url, uint32_t url_len,
                          const void *headers, uint32_t headers_len, const void *body, uint32_t body_len,
                          int32_t timeout_ms);
POSTERN_IMPORT("http_response_get") int32_t postern_http_response_get(int32_t part, void *buf, uint32_t limit);
POSTERN_IMPORT("clock_now") int64_t postern_clock_now(void);
POSTERN_IMPORT("counter_add") void postern_counter_add(const void *name, uint32_t name_len, int64_t delta);
/* ABI 1.1 plugin metrics. metric_declare (init only) returns the metric's
   id (>= 0) or an error; bounds are bounds_count doubles (histograms). A
   module importing these does not load on a host without them. */
POSTERN_IMPORT("metric_declare")
int32_t postern_metric_declare(int32_t kind, const void *name, uint32_t name_len, const void *help, uint32_t help_len,
                               const double *bounds, uint32_t bounds_count);
POSTERN_IMPORT("metric_gauge_set") int32_t postern_metric_gauge_set(int32_t id, double value);
POSTERN_IMPORT("metric_gauge_add") int32_t postern_metric_gauge_add(int32_t id, double delta);
POSTERN_IMPORT("metric_observe") int32_t postern_metric_observe(int32_t id, double value);

/*
 * Probe-then-read helpers. Each returns the value's length and stores a
 * malloc'd, NUL-terminated copy in *out (free it), or returns a negative
 * POSTERN_ERR_* code and sets *out to NULL. A value can change between the
 * probe and the read (kv_get races other sessions), so they loop until the
 * value fits. Values may contain NUL bytes (lists): use the length.
 */
typedef int32_t (*postern_reader)(const void *ctx, void *buf, uint32_t limit);

static inline int32_t postern_read_dup(postern_reader read, const void *ctx, char **out) {
	*out = NULL;
	int32_t n = read(ctx, NULL, 0);
	for (;;) {
		if (n < 0) return n;
		char *buf = (char *)malloc((size_t)n + 1);
		if (buf == NULL) return POSTERN_ERR_TOO_LARGE;
		int32_t m = read(ctx, buf, (uint32_t)n);
		if (m >= 0 && m <= n) {
			buf[m] = '\0';
			*out = buf;
			return m;
		}
		free(buf);
		n = m; /* grew in between, or an error: probe again with its size */
	}
}

/* The contexts of the helpers below: what to read, captured for the reader. */
struct postern__field_ctx { int32_t field; const char *key; uint32_t key_len; };
struct postern__kv_ctx { const char *key; uint32_t key_len; };

static inline int32_t postern__read_field(const void *c, void *buf, uint32_t limit) {
	return postern_field_get(((const struct postern__field_ctx *)c)->field, buf, limit);
}
static inline int32_t postern__read_key(const void *c, void *buf, uint32_t limit) {
	const struct postern__field_ctx *x = (const struct postern__field_ctx *)c;
	return postern_field_get_key(x->field, x->key, x->key_len, buf, limit);
}
static inline int32_t postern__read_config(const void *c, void *buf, uint32_t limit) {
	(void)c;
	return postern_config_get(buf, limit);
}
static inline int32_t postern__read_kv(const void *c, void *buf, uint32_t limit) {
	const struct postern__kv_ctx *x = (const struct postern__kv_ctx *)c;
	return postern_kv_get(x->key, x->key_len, buf, limit);
}
static inline int32_t postern__read_response(const void *c, void *buf, uint32_t limit) {
	return postern_http_response_get(*(const int32_t *)c, buf, limit);
}

/* postern_field_dup reads a plain field. */
static inline int32_t postern_field_dup(int32_t field, char **out) {
	struct postern__field_ctx c = {field, NULL, 0};
	return postern_read_dup(postern__read_field, &c, out);
}

/* postern_key_dup reads one key of a keyed field (a header, a cookie). */
static inline int32_t postern_key_dup(int32_t field, const char *key, char **out) {
	struct postern__field_ctx c = {field, key, (uint32_t)strlen(key)};
	return postern_read_dup(postern__read_key, &c, out);
}

/* postern_only_with_login declares, in postern_init, that the plugin wants
   only logins and requests with a login (ABI 1.1 request filter). */
static inline int32_t postern_only_with_login(void) { return postern_field_set(POSTERN_FIELD_ONLY_LOGIN, "1", 1); }

/* postern_reuse_decisions declares, in postern_init, that the host may reuse
   this plugin's login, throttle and route outcome for up to ms milliseconds
   for a later HTTP request with the same reuse key (ABI 1.2, ABI.md
   "Decision reuse"); 0 declares none. Declare it only when the plugin
   decides the same for such requests within that time whatever else
   differs, and when the store state it read may be that old. Returns 0,
   POSTERN_ERR_UNKNOWN_FIELD on a host before 1.2 (ignore it: not reusing is
   always correct), or POSTERN_ERR_INVALID outside 0..POSTERN_MAX_REUSE_MS. */
static inline int32_t postern_reuse_decisions(int64_t ms) {
	char b[24], *p = b + sizeof b;
	uint64_t v = ms < 0 ? (uint64_t)0 - (uint64_t)ms : (uint64_t)ms;
	do *--p = (char)('0' + v % 10);
	while ((v /= 10) != 0);
	if (ms < 0) *--p = '-';
	return postern_field_set(POSTERN_FIELD_REUSE_MS, p, (uint32_t)(b + sizeof b - p));
}

/* postern_config_dup reads the plugin's configuration (JSON). */
static inline int32_t postern_config_dup(char **out) { return postern_read_dup(postern__read_config, NULL, out); }

/* postern_kv_get_dup reads a value from the key-value store. */
static inline int32_t postern_kv_get_dup(const char *key, char **out) {
	struct postern__kv_ctx c = {key, (uint32_t)strlen(key)};
	return postern_read_dup(postern__read_kv, &c, out);
}

/* postern_http_response_dup reads a part of the last http_call's response. */
static inline int32_t postern_http_response_dup(int32_t part, char **out) {
	return postern_read_dup(postern__read_response, &part, out);
}

/* String conveniences for NUL-terminated values. */
static inline int32_t postern_field_set_str(int32_t field, const char *s) {
	return postern_field_set(field, s, (uint32_t)strlen(s));
}
static inline int32_t postern_set_message(const char *s) { return postern_field_set_str(POSTERN_FIELD_MESSAGE, s); }
/* Sends an HTTP request to the named web pool (route hook, ABI 1.1). */
static inline int32_t postern_set_pool(const char *name) { return postern_field_set_str(POSTERN_FIELD_POOL, name); }
static inline void postern_log_str(int32_t level, const char *s) { postern_log(level, s, (uint32_t)strlen(s)); }
/* Declare metrics from NUL-terminated name and help (init only). */
static inline int32_t postern_metric_gauge(const char *name, const char *help) {
	return postern_metric_declare(POSTERN_METRIC_GAUGE, name, (uint32_t)strlen(name), help, (uint32_t)strlen(help), 0, 0);
}
static inline int32_t postern_metric_histogram(const char *name, const char *help, const double *bounds, uint32_t n) {
	return postern_metric_declare(POSTERN_METRIC_HISTOGRAM, name, (uint32_t)strlen(name), help, (uint32_t)strlen(help), bounds, n);
}
/* Response hook conveniences (ABI 1.1). */
static inline int32_t postern_response_header_set(const char *name, const char *value) {
	return postern_field_set_key(POSTERN_FIELD_RESPONSE_HEADER, name, (uint32_t)strlen(name), value, (uint32_t)strlen(value));
}
static inline int32_t postern_response_header_delete(const char *name) {
	return postern_field_delete_key(POSTERN_FIELD_RESPONSE_HEADER, name, (uint32_t)strlen(name));
}
static inline int postern_has_feature(const char *name) { return postern_feature(name, (uint32_t)strlen(name)) == 1; }

/* postern_refuse sets the client's message and returns the Refuse verdict:
 *   return postern_refuse("too many logins");                              */
static inline int32_t postern_refuse(const char *msg) {
	postern_set_message(msg);
	return POSTERN_VERDICT_REFUSE;
}

/* postern_tempfail sets the message (when not empty) and returns TempFail. */
static inline int32_t postern_tempfail(const char *msg) {
	if (msg != NULL && msg[0] != '\0') postern_set_message(msg);
	return POSTERN_VERDICT_TEMPFAIL;
}

/*
 * kv_batch (ABI 1.1, ABI.md "kv_batch"): up to POSTERN_KV_BATCH_MAX store
 * operations in one call and one memcached round trip. Build the request
 * with postern_kvb_* on a buffer of yours, call postern_kvb_run, then read
 * each operation's result in order with postern_kvb_next:
 *
 *   uint8_t req[600], resp[600];
 *   postern_kvb b; postern_kvb_init(&b, req, sizeof req);
 *   postern_kvb_incr(&b, k1, n1, 1);
 *   postern_kvb_incr(&b, k2, n2, 1);
 *   postern_kvb_resp r;
 *   if (postern_kvb_run(&b, resp, sizeof resp, &r) < 0) ... (the batch was refused: nothing ran)
 *   int64_t c1, c2; postern_kvb_next(&r, POSTERN_KV_INCR, &c1, NULL, NULL);
 */
#define POSTERN_KV_GET 1
#define POSTERN_KV_SET 2
#define POSTERN_KV_ADD 3
#define POSTERN_KV_INCR 4
#define POSTERN_KV_DECR 5
#define POSTERN_KV_DELETE 6
#define POSTERN_KV_BATCH_MAX 16

typedef struct {
	uint8_t *buf;
	uint32_t len, cap, ops;
	int overflow; /* the request did not fit buf, or a key was empty or too long */
} postern_kvb;

typedef struct {
	const uint8_t *buf;
	uint32_t len, ops, next, off;
} postern_kvb_resp;

static inline void postern_kvb_init(postern_kvb *b, void *buf, uint32_t cap) {
	b->buf = (uint8_t *)buf;
	b->len = 0;
	b->cap = cap;
	b->ops = 0;
	b->overflow = 0;
}

static inline void postern__kvb_put(postern_kvb *b, const void *p, uint32_t n) {
	if (b->overflow || n > b->cap - b->len) {
		b->overflow = 1;
		return;
	}
	memcpy(b->buf + b->len, p, n);
	b->len += n;
}

static inline void postern__kvb_le(postern_kvb *b, uint64_t v, uint32_t bytes) {
	uint8_t le[8];
	for (uint32_t i = 0; i < bytes; i++) le[i] = (uint8_t)(v >> (8 * i));
	postern__kvb_put(b, le, bytes);
}

static inline void postern__kvb_head(postern_kvb *b, uint8_t op, const void *key, uint32_t key_len) {
	if (key_len == 0 || key_len > POSTERN_MAX_KEY_BYTES || b->ops == POSTERN_KV_BATCH_MAX) {
		b->overflow = 1;
		return;
	}
	uint8_t head[2] = {op, (uint8_t)key_len};
	postern__kvb_put(b, head, 2);
	postern__kvb_put(b, key, key_len);
	b->ops++;
}

static inline void postern_kvb_get(postern_kvb *b, const void *key, uint32_t key_len) {
	postern__kvb_head(b, POSTERN_KV_GET, key, key_len);
}
static inline void postern_kvb_delete(postern_kvb *b, const void *key, uint32_t key_len) {
	postern__kvb_head(b, POSTERN_KV_DELETE, key, key_len);
}
/* op is POSTERN_KV_INCR or POSTERN_KV_DECR. */
static inline void postern_kvb_count(postern_kvb *b, uint8_t op, const void *key, uint32_t key_len, uint64_t delta) {
	postern__kvb_head(b, op, key, key_len);
	postern__kvb_le(b, delta, 8);
}
static inline void postern_kvb_incr(postern_kvb *b, const void *key, uint32_t key_len, uint64_t delta) {
	postern_kvb_count(b, POSTERN_KV_INCR, key, key_len, delta);
}
/* op is POSTERN_KV_SET or POSTERN_KV_ADD. */
static inline void postern_kvb_store(postern_kvb *b, uint8_t op, const void *key, uint32_t key_len, const void *val,
                                     uint32_t val_len, int32_t ttl_seconds) {
	postern__kvb_head(b, op, key, key_len);
	postern__kvb_le(b, (uint32_t)ttl_seconds, 4);
	postern__kvb_le(b, val_len, 4);
	postern__kvb_put(b, val, val_len);
}

/* postern_kvb_run sends the batch; resp must hold at least 8 bytes per
   operation (plus the values of the gets). It returns the response's full
   length, or a negative POSTERN_ERR_* (nothing ran). */
static inline int32_t postern_kvb_run(postern_kvb *b, void *resp, uint32_t limit, postern_kvb_resp *r) {
	if (b->overflow || b->ops == 0) return POSTERN_ERR_INVALID;
	int32_t n = postern_kv_batch(b->buf, b->len, resp, limit);
	r->buf = (const uint8_t *)resp;
	r->len = n < 0 ? 0 : ((uint32_t)n < limit ? (uint32_t)n : limit);
	r->ops = b->ops;
	r->next = 0;
	r->off = 8 * b->ops;
	return n;
}

/* postern_kvb_next reads the next operation's result (op is the operation
   it was): *result is a get's value length, a new count, 0, or a negative
   POSTERN_ERR_*; a get that found its key also sets *val and *val_len (not
   NUL-terminated; pass NULL for other operations). It returns 1, or 0 when
   that part did not fit the response buffer: the operation ran, but a
   get must be read again with postern_kv_get. */
static inline int postern_kvb_next(postern_kvb_resp *r, uint8_t op, int64_t *result, const char **val,
                                   uint32_t *val_len) {
	uint32_t i = r->next++;
	if (i >= r->ops || r->len < 8 * (i + 1)) return 0;
	uint64_t v = 0;
	for (int k = 7; k >= 0; k--) v = (v << 8) | r->buf[8 * i + (uint32_t)k];
	*result = (int64_t)v;
	if (op != POSTERN_KV_GET || *result < 0) return 1;
	if (r->off > r->len || (uint64_t)*result > r->len - r->off) {
		r->off = UINT32_MAX; /* every later value is cut too */
		return 0;
	}
	if (val != NULL) *val = (const char *)r->buf + r->off;
	if (val_len != NULL) *val_len = (uint32_t)*result;
	r->off += (uint32_t)*result;
	return 1;
}

#ifdef __cplusplus
}
#endif
#endif /* POSTERN_H */
