/*
 * zmauth.h: Zimbra auth tokens for the bundled plugins' C ports
 * (route-cache, route-lookup), the C twin of zmauth.go in this folder:
 * the account id of a ZM_AUTH_TOKEN read as Zimbra's nginx reads it (no
 * HMAC or expiry check), and a raw query argument. Header only; include it
 * after string.h and stdlib.h. The twin tests of both plugins hold these to
 * zmauth.go.
 */
#ifndef POSTERN_ZMAUTH_H
#define POSTERN_ZMAUTH_H

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

static inline int zmauth__hex(unsigned char c, unsigned char *v) {
	if (c >= '0' && c <= '9') *v = (unsigned char)(c - '0');
	else if (c >= 'a' && c <= 'f') *v = (unsigned char)(c - 'a' + 10);
	else if (c >= 'A' && c <= 'F') *v = (unsigned char)(c - 'A' + 10);
	else return 0;
	return 1;
}

/* zmauth_account_id is zmauth.AccountID: the id field of the hex data part
 * (after the second '_') of token t. It returns 1 and a malloc'd copy of the
 * id in *id, *id_n (not NUL-terminated; free it), or 0 when there is none. */
static inline int zmauth_account_id(const char *t, size_t tn, char **id, size_t *id_n) {
	size_t start = 0;
	int under = 0;
	for (size_t i = 0; i < tn; i++) {
		if (t[i] == '_' && ++under == 2) {
			start = i + 1;
			break;
		}
	}
	if (under < 2) return 0;
	size_t hn = tn - start;
	if (hn % 2 != 0) return 0;
	size_t n = hn / 2;
	unsigned char *data = malloc(n + 1);
	if (data == NULL) abort();
	for (size_t i = 0; i < n; i++) {
		unsigned char hi, lo;
		if (!zmauth__hex((unsigned char)t[start + 2 * i], &hi) || !zmauth__hex((unsigned char)t[start + 2 * i + 1], &lo)) {
			free(data);
			return 0;
		}
		data[i] = (unsigned char)(hi << 4 | lo);
	}
	int found = 0;
	size_t p = 0;
	while (p < n) {
		size_t name = p;
		while (p < n && data[p] != '=') p++;
		if (p == n) break;
		size_t name_n = p - name;
		p++; /* '=' */
		size_t len = 0;
		int bad = 0;
		while (p < n && data[p] >= '0' && data[p] <= '9') {
			if (len > n) {
				bad = 1;
				break;
			}
			len = len * 10 + (size_t)(data[p] - '0');
			p++;
		}
		if (bad || p == n || data[p] != ':') break;
		p++; /* ':' */
		if (len > n - p) break;
		size_t value = p;
		p += len;
		if (name_n == 2 && data[name] == 'i' && data[name + 1] == 'd') {
			if (len > 0) {
				*id = malloc(len);
				if (*id == NULL) abort();
				memcpy(*id, data + value, len);
				*id_n = len;
				found = 1;
			}
			break;
		}
		if (p < n) p++; /* ';' */
	}
	free(data);
	return found;
}

/* zmauth_arg is zmauth.Arg: the raw value of the first argument of query q
 * called name, pointing into q. */
static inline int zmauth_arg(const char *q, size_t qn, const char *name, const char **v, size_t *vn) {
	size_t nn = strlen(name), i = 0;
	while (i < qn) {
		size_t end = i;
		while (end < qn && q[end] != '&') end++;
		const char *eq = memchr(q + i, '=', end - i);
		if (eq != NULL && (size_t)(eq - (q + i)) == nn && memcmp(q + i, name, nn) == 0) {
			*v = eq + 1;
			*vn = (size_t)(q + end - (eq + 1));
			return 1;
		}
		i = end + 1;
	}
	return 0;
}

#endif /* POSTERN_ZMAUTH_H */
