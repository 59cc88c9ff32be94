/*
 * probe.c: a test fixture for ../../c_test.go (built there with clang, not
 * committed as .wasm). Its rewrite hook compiles the pattern in request
 * header X-P with gore (../../../internal/gore/gore.h, what the C build
 * runs), matches the subject in header X-S and writes the outcome to
 * header X-R, so that the test can compare gore with Go's regexp
 * submatch index by submatch index:
 *
 *   X-R: "ERR <regexp.Compile's message>" | "ERRC <what the C build refuses>"
 *        | "NO <prefix>" | "<m0> <m1> ... <prefix>"
 *
 * where <prefix> is "|" + the literal path prefix + "|" and bytes outside
 * printable ASCII in messages are written as \xNN.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "postern.h"
#include "../../../internal/jr/jr.h"
#include "../../../internal/gore/gore.h"

POSTERN_ABI_VERSION_EXPORT()

POSTERN_EXPORT("postern_init") int32_t init(void) { return POSTERN_INIT_OK; }

static void add(char **o, size_t *n, size_t *cap, const char *s, size_t k) {
	if (*n + k + 1 > *cap) {
		*cap = (*n + k + 1) * 2;
		*o = realloc(*o, *cap);
		if (*o == NULL) abort();
	}
	memcpy(*o + *n, s, k);
	*n += k;
	(*o)[*n] = '\0';
}

static void add_esc(char **o, size_t *n, size_t *cap, const char *s, size_t k) {
	for (size_t i = 0; i < k; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c >= 0x20 && c < 0x7f && c != '\\') add(o, n, cap, (const char *)&c, 1);
		else {
			char b[8];
			snprintf(b, sizeof b, "\\x%02x", c);
			add(o, n, cap, b, 4);
		}
	}
}

POSTERN_EXPORT("postern_hook_rewrite") int32_t rewrite(void) {
	char *p = NULL, *s = NULL, *o = NULL;
	size_t on = 0, oc = 0;
	int32_t pn = postern_key_dup(POSTERN_FIELD_HTTP_HEADER, "X-P", &p);
	int32_t sn = postern_key_dup(POSTERN_FIELD_HTTP_HEADER, "X-S", &s);
	if (pn < 0) pn = 0;
	if (sn < 0) sn = 0;
	char err[600];
	int conly;
	gore *re = gore_compile(p ? p : "", (size_t)pn, err, sizeof err, &conly);
	if (re == NULL) {
		add(&o, &on, &oc, conly ? "ERRC " : "ERR ", conly ? 5 : 4);
		add_esc(&o, &on, &oc, err, strlen(err));
	} else {
		int *m = malloc(sizeof(int) * 2 * ((size_t)re->ngroups + 1));
		if (!gore_match(re, s ? s : "", (size_t)sn, m)) {
			add(&o, &on, &oc, "NO ", 3);
		} else {
			for (int i = 0; i < 2 * (re->ngroups + 1); i++) {
				char b[16];
				int k = snprintf(b, sizeof b, "%d ", m[i]);
				add(&o, &on, &oc, b, (size_t)k);
			}
		}
		add(&o, &on, &oc, "|", 1);
		add_esc(&o, &on, &oc, re->prefix, re->prefix_len);
		add(&o, &on, &oc, "|", 1);
		free(m);
		gore_free(re);
	}
	postern_field_set_key(POSTERN_FIELD_HTTP_HEADER, "X-R", 3, o, (uint32_t)on);
	free(o);
	free(p);
	free(s);
	return POSTERN_VERDICT_CONTINUE;
}
