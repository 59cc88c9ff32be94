/*
 * default-domain: an example Postern login plugin in C, with the C SDK
 * (guest-sdk/c/postern.h). A login without "@" gets the configured default
 * domain ("bob" -> "bob@example.com" as the account); without a default
 * domain, such logins are refused. The login is lower-cased in either case.
 *
 * Configuration (JSON): {"default_domain": "example.com"}
 *
 * Build (from the repository root; see README.md):
 *   clang --target=wasm32-wasi -O2 -mexec-model=reactor -nodefaultlibs -lc \
 *       -Wl,--strip-debug -I guest-sdk/c -o examples/c-plugin/plugin.wasm examples/c-plugin/src/plugin.c
 */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "postern.h"

POSTERN_ABI_VERSION_EXPORT()

static char domain[256]; /* "" when not configured */

/* init reads {"default_domain":"..."}; a tiny scanner, not a JSON parser:
 * the value must be a plain string without escapes. */
POSTERN_EXPORT("postern_init") int32_t init(void) {
	char *cfg;
	if (postern_config_dup(&cfg) < 0) return POSTERN_INIT_REFUSE;
	const char *key = strstr(cfg, "\"default_domain\"");
	if (key != NULL) {
		const char *v = strchr(key + 16, '"');
		const char *end = v ? strchr(v + 1, '"') : NULL;
		size_t n = end ? (size_t)(end - v - 1) : 0;
		if (end == NULL || n == 0 || n >= sizeof domain || memchr(v + 1, '\\', n) || memchr(v + 1, '@', n)) {
			free(cfg);
			postern_set_message("c-plugin: config.default_domain must be a domain name without escapes or @");
			return POSTERN_INIT_REFUSE;
		}
		memcpy(domain, v + 1, n);
		domain[n] = '\0';
	}
	free(cfg);
	return POSTERN_INIT_OK;
}

POSTERN_EXPORT("postern_hook_login") int32_t login(void) {
	char *l;
	int32_t n = postern_field_dup(POSTERN_FIELD_LOGIN, &l);
	if (n <= 0) { /* anonymous HTTP request, or unreadable: no opinion */
		free(l);
		return POSTERN_VERDICT_CONTINUE;
	}
	for (int32_t i = 0; i < n; i++) l[i] = (char)tolower((unsigned char)l[i]);
	int32_t verdict = POSTERN_VERDICT_CONTINUE;
	if (memchr(l, '@', (size_t)n) != NULL) {
		postern_field_set(POSTERN_FIELD_ACCOUNT, l, (uint32_t)n);
	} else if (domain[0] == '\0') {
		postern_counter_add("refused", 7, 1);
		verdict = postern_refuse("log in with your full email address");
	} else {
		size_t size = (size_t)n + 1 + strlen(domain);
		char *account = malloc(size + 1);
		memcpy(account, l, (size_t)n);
		account[n] = '@';
		strcpy(account + n + 1, domain);
		if (postern_field_set(POSTERN_FIELD_ACCOUNT, account, (uint32_t)size) < 0)
			postern_log_str(POSTERN_LEVEL_WARN, "c-plugin: the host refused the account");
		free(account);
	}
	free(l);
	return verdict;
}
