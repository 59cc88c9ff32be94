/*
 * guest.c: the conformance suite's command-protocol guest built with the C
 * SDK (guest-sdk/c/postern.h); ../README.md is its contract, shared with
 * the Go guest. Build (from the repository root):
 *
 *   clang --target=wasm32-wasi -O2 -mexec-model=reactor -nodefaultlibs -lc \
 *       -Wl,--strip-debug -I guest-sdk/c \
 *       -o conformance/testdata/guests/c/guest.wasm conformance/testdata/guests/c/guest.c
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postern.h"

POSTERN_ABI_VERSION_EXPORT()

static char *config;
static int32_t config_len;
static char init_report[64];
static int retry_pending;
static int route_decided, login_failed;
static volatile unsigned long long spin;
static volatile int spin_stop;

/* answer sets the message and returns Done. */
static int32_t answer(const char *msg) {
	postern_set_message(msg);
	return POSTERN_VERDICT_DONE;
}

static int32_t answer_n(const char *msg, size_t n) {
	postern_field_set(POSTERN_FIELD_MESSAGE, msg, (uint32_t)n);
	return POSTERN_VERDICT_DONE;
}

/* code formats a result: "ok" for 0, the decimal code otherwise. */
static const char *ok(int32_t r) {
	static char buf[16];
	if (r >= 0) return "ok";
	snprintf(buf, sizeof buf, "%d", (int)r);
	return buf;
}

static int32_t answer_code(int64_t r) {
	char buf[24];
	snprintf(buf, sizeof buf, "%lld", (long long)r);
	return answer(buf);
}

/* split cuts s at the first ':' and returns the rest, or NULL. */
static char *split(char *s) {
	char *c = strchr(s, ':');
	if (c == NULL) return NULL;
	*c = '\0';
	return c + 1;
}

/* num parses an optionally negative decimal number; it stops at the first
 * other byte. (strtoll would need compiler-rt's __multi3, which Debian
 * ships in a package separate from clang: see guest-sdk/c/README.md.) */
static long long num(const char *s) {
	int neg = *s == '-';
	long long n = 0;
	for (s += neg; *s >= '0' && *s <= '9'; s++) n = n * 10 + (*s - '0');
	return neg ? -n : n;
}

static int32_t http_get(const char *method, const char *url, int32_t timeout_ms) {
	static const char hdr[] = "X-Conformance: 1\r\n";
	return postern_http_call(method, (uint32_t)strlen(method), url, (uint32_t)strlen(url), hdr, sizeof hdr - 1,
	                         NULL, 0, timeout_ms);
}

POSTERN_EXPORT("postern_init") int32_t init(void) {
	char *cfg;
	int32_t n = postern_config_dup(&cfg);
	if (n < 0) return POSTERN_INIT_REFUSE;
	char *r = strstr(cfg, "\"refuse\":\"");
	if (r != NULL) {
		r += 10;
		char *end = strchr(r, '"');
		if (end != NULL) *end = '\0';
		postern_set_message(r);
		return POSTERN_INIT_REFUSE;
	}
	config = cfg;
	config_len = n;
	char buf[8];
	int32_t login = postern_field_get(POSTERN_FIELD_LOGIN, buf, sizeof buf);
	int32_t set = postern_set_message("init");
	snprintf(init_report, sizeof init_report, "login=%d set=%s", (int)(login < 0 ? login : 0), ok(set));
	return POSTERN_INIT_OK;
}

static int32_t run(void) {
	char *cmd;
	int32_t cmd_len = postern_field_dup(POSTERN_FIELD_LOGIN, &cmd);
	if (cmd_len < 0) return POSTERN_VERDICT_CONTINUE;
	int32_t v = POSTERN_VERDICT_CONTINUE;
	char *rest = split(cmd);
	const char *name = cmd;
	if (rest == NULL) rest = cmd + strlen(cmd); /* commands without arguments */

	if (!strcmp(name, "get") || !strcmp(name, "len")) {
		char *val;
		int32_t n = postern_field_dup((int32_t)num(rest), &val);
		if (n < 0) {
			v = answer_code(n);
		} else if (!strcmp(name, "len")) {
			v = answer_code(n);
		} else {
			for (int32_t i = 0; i < n; i++)
				if (val[i] == '\0') val[i] = ',';
			v = answer_n(val, (size_t)n);
		}
		free(val);
	} else if (!strcmp(name, "set") || !strcmp(name, "setlist")) {
		char *val = split(rest);
		if (val != NULL) {
			size_t n = strlen(val);
			if (!strcmp(name, "setlist"))
				for (size_t i = 0; i < n; i++)
					if (val[i] == ',') val[i] = '\0';
			/* set takes the rest of the login, NULs included */
			if (!strcmp(name, "set")) n = (size_t)(cmd_len - (val - cmd));
			v = answer(ok(postern_field_set((int32_t)num(rest), val, (uint32_t)n)));
		}
	} else if (!strcmp(name, "big")) {
		char *len = split(rest);
		if (len != NULL) {
			size_t n = (size_t)num(len);
			char *x = malloc(n + 1);
			memset(x, 'x', n);
			int32_t field = (int32_t)num(rest);
			int32_t r = postern_field_set(field, x, (uint32_t)n);
			free(x);
			v = (r < 0 || field != POSTERN_FIELD_MESSAGE) ? answer(ok(r)) : POSTERN_VERDICT_DONE;
		}
	} else if (!strcmp(name, "key")) {
		char *key = split(rest);
		if (key != NULL) {
			char *val;
			int32_t n = postern_key_dup((int32_t)num(rest), key, &val);
			v = n < 0 ? answer_code(n) : answer_n(val, (size_t)n);
			free(val);
		}
	} else if (!strcmp(name, "setkey")) {
		char *key = split(rest);
		char *val = key ? split(key) : NULL;
		if (val != NULL)
			v = answer(ok(postern_field_set_key((int32_t)num(rest), key, (uint32_t)strlen(key), val, (uint32_t)strlen(val))));
	} else if (!strcmp(name, "delkey")) {
		char *key = split(rest);
		if (key != NULL) v = answer(ok(postern_field_delete_key((int32_t)num(rest), key, (uint32_t)strlen(key))));
	} else if (!strcmp(name, "kvget")) {
		char *val;
		int32_t n = postern_kv_get_dup(rest, &val);
		v = n < 0 ? answer_code(n) : answer_n(val, (size_t)n);
		free(val);
	} else if (!strcmp(name, "kvset") || !strcmp(name, "kvadd")) {
		char *val = split(rest);
		char *ttl = val ? split(val) : NULL;
		if (ttl != NULL) {
			int32_t r = !strcmp(name, "kvset")
			                ? postern_kv_set(rest, (uint32_t)strlen(rest), val, (uint32_t)strlen(val), (int32_t)num(ttl))
			                : postern_kv_add(rest, (uint32_t)strlen(rest), val, (uint32_t)strlen(val), (int32_t)num(ttl));
			v = answer(ok(r));
		}
	} else if (!strcmp(name, "kvincr")) {
		char *delta = split(rest);
		if (delta != NULL) v = answer_code(postern_kv_incr(rest, (uint32_t)strlen(rest), num(delta)));
	} else if (!strcmp(name, "kvdel")) {
		v = answer(ok(postern_kv_delete(rest, (uint32_t)strlen(rest))));
	} else if (!strcmp(name, "kvbatch")) {
		/* The script of conformance case kv/batch on keys rest+"a", "b", "c". */
		char ka[300], kb[300], kc[300];
		snprintf(ka, sizeof ka, "%sa", rest);
		snprintf(kb, sizeof kb, "%sb", rest);
		snprintf(kc, sizeof kc, "%sc", rest);
		uint8_t req[2048], resp[2048];
		postern_kvb b;
		postern_kvb_init(&b, req, sizeof req);
		postern_kvb_incr(&b, ka, (uint32_t)strlen(ka), 1);
		postern_kvb_get(&b, kb, (uint32_t)strlen(kb));
		postern_kvb_count(&b, POSTERN_KV_DECR, ka, (uint32_t)strlen(ka), 5);
		postern_kvb_store(&b, POSTERN_KV_ADD, kc, (uint32_t)strlen(kc), "x", 1, 60);
		postern_kvb_get(&b, kc, (uint32_t)strlen(kc));
		postern_kvb_delete(&b, kb, (uint32_t)strlen(kb));
		postern_kvb_get(&b, kb, (uint32_t)strlen(kb));
		postern_kvb_get(&b, "bad key", 7);
		static const uint8_t ops[] = {POSTERN_KV_INCR, POSTERN_KV_GET, POSTERN_KV_DECR, POSTERN_KV_ADD,
		                              POSTERN_KV_GET,  POSTERN_KV_DELETE, POSTERN_KV_GET, POSTERN_KV_GET};
		postern_kvb_resp r;
		int32_t n = postern_kvb_run(&b, resp, sizeof resp, &r);
		if (n < 0) {
			v = answer_code(n);
		} else {
			char out[1024];
			size_t used = 0;
			for (size_t i = 0; i < sizeof ops; i++) {
				int64_t res;
				const char *val = NULL;
				uint32_t vlen = 0;
				if (!postern_kvb_next(&r, ops[i], &res, &val, &vlen)) res = POSTERN_ERR_TOO_LARGE;
				if (i > 0) out[used++] = ',';
				if (res >= 0 && ops[i] == POSTERN_KV_GET) {
					memcpy(out + used, val, vlen);
					used += vlen;
				} else {
					used += (size_t)snprintf(out + used, sizeof out - used, "%lld", (long long)res);
				}
			}
			v = answer_n(out, used);
		}
	} else if (!strcmp(name, "kvbig")) {
		char *len = split(rest);
		if (len != NULL) {
			size_t n = (size_t)num(len);
			char *x = malloc(n + 1);
			memset(x, 'v', n);
			v = answer(ok(postern_kv_set(rest, (uint32_t)strlen(rest), x, (uint32_t)n, 0)));
			free(x);
		}
	} else if (!strcmp(name, "http")) {
		char *timeout = split(rest);
		char *url = timeout ? split(timeout) : NULL;
		if (url != NULL) {
			int32_t st = http_get(rest, url, (int32_t)num(timeout));
			char *body;
			int32_t n = st < 0 ? st : postern_http_response_dup(POSTERN_HTTP_PART_BODY, &body);
			if (n < 0) {
				v = answer_code(n);
			} else {
				char *msg = malloc((size_t)n + 8);
				int k = snprintf(msg, 8, "%d ", (int)st);
				memcpy(msg + k, body, (size_t)n);
				v = answer_n(msg, (size_t)k + (size_t)n);
				free(msg);
				free(body);
			}
		}
	} else if (!strcmp(name, "httph")) {
		int32_t st = http_get("GET", rest, 0);
		char *hdr;
		int32_t n = st < 0 ? st : postern_http_response_dup(POSTERN_HTTP_PART_HEADERS, &hdr);
		if (n < 0) {
			v = answer_code(n);
		} else {
			v = answer(strstr(hdr, "X-Reply: yes\r\n") ? "1" : "0");
			free(hdr);
		}
	} else if (!strcmp(name, "feature")) {
		v = answer(postern_has_feature(rest) ? "1" : "0");
	} else if (!strcmp(name, "log")) {
		char *count = split(rest);
		if (count != NULL) {
			long long n = num(count);
			char line[32];
			for (long long i = 1; i <= n; i++) {
				snprintf(line, sizeof line, "line %lld", i);
				postern_log_str((int32_t)num(rest), line);
			}
			v = answer_code(n);
		}
	} else if (!strcmp(name, "counter")) {
		char *delta = split(rest);
		if (delta != NULL) {
			postern_counter_add(rest, (uint32_t)strlen(rest), num(delta));
			v = answer("ok");
		}
	} else if (!strcmp(name, "clock")) {
		v = answer_code(postern_clock_now());
	} else if (!strcmp(name, "config")) {
		v = answer_n(config, (size_t)config_len);
	} else if (!strcmp(name, "init")) {
		v = answer(init_report);
	} else if (!strcmp(name, "continue")) {
		v = POSTERN_VERDICT_CONTINUE;
	} else if (!strcmp(name, "refuse")) {
		v = postern_refuse(rest);
	} else if (!strcmp(name, "tempfail")) {
		v = postern_tempfail(rest);
	} else if (!strcmp(name, "retry") || !strcmp(name, "retryalways")) {
		if (!strcmp(name, "retry") && retry_pending) {
			retry_pending = 0;
			v = answer("retried");
		} else {
			retry_pending = !strcmp(name, "retry");
			postern_field_set_str(POSTERN_FIELD_DELAY_MS, rest);
			v = POSTERN_VERDICT_RETRY;
		}
	} else if (!strcmp(name, "delay")) {
		answer(ok(postern_field_set_str(POSTERN_FIELD_DELAY_MS, rest)));
		v = POSTERN_VERDICT_CONTINUE;
	} else if (!strcmp(name, "trap")) {
		postern_set_message("partial");
		__builtin_trap();
	} else if (!strcmp(name, "loop")) {
		postern_set_message("partial");
		while (!spin_stop) spin++;
	} else if (!strcmp(name, "events")) {
		char buf[64];
		snprintf(buf, sizeof buf, "route_decided=%d login_failed=%d", route_decided, login_failed);
		v = answer(buf);
	}
	free(cmd);
	return v;
}

POSTERN_EXPORT("postern_hook_login") int32_t hook_login(void) { return run(); }
POSTERN_EXPORT("postern_hook_throttle") int32_t hook_throttle(void) { return run(); }
POSTERN_EXPORT("postern_hook_route") int32_t hook_route(void) { return run(); }
POSTERN_EXPORT("postern_hook_rewrite") int32_t hook_rewrite(void) { return run(); }
POSTERN_EXPORT("postern_hook_response") int32_t hook_response(void) { return run(); }

POSTERN_EXPORT("postern_event_route_decided") void event_route_decided(void) {
	route_decided++;
	int32_t set = postern_set_message("x");
	char *upstream, *list;
	int32_t n = postern_field_dup(POSTERN_FIELD_UPSTREAM, &upstream);
	int32_t m = postern_field_dup(POSTERN_FIELD_UPSTREAMS, &list);
	if (n < 0 || m < 0) return;
	for (int32_t i = 0; i < m; i++)
		if (list[i] == '\0') list[i] = ',';
	size_t size = (size_t)n + (size_t)m + 64;
	char *line = malloc(size);
	snprintf(line, size, "route_decided upstream=%s upstreams=%s set=%s", upstream, list, ok(set));
	postern_log_str(POSTERN_LEVEL_INFO, line);
	free(line);
	free(upstream);
	free(list);
}

POSTERN_EXPORT("postern_event_login_failed") void event_login_failed(void) {
	login_failed++;
	char *account, *message;
	if (postern_field_dup(POSTERN_FIELD_ACCOUNT, &account) < 0) return;
	if (postern_field_dup(POSTERN_FIELD_MESSAGE, &message) < 0) {
		free(account);
		return;
	}
	size_t klen = strlen(account) + 7;
	char *key = malloc(klen);
	snprintf(key, klen, "route:%s", account);
	int32_t del = postern_kv_delete(key, (uint32_t)strlen(key));
	size_t size = strlen(message) + strlen(account) + 64;
	char *line = malloc(size);
	snprintf(line, size, "login_failed message=%s account=%s del=%s", message, account, ok(del));
	postern_log_str(POSTERN_LEVEL_INFO, line);
	free(line);
	free(key);
	free(account);
	free(message);
}
