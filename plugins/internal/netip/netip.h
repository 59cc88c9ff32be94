/* netip.h: Go's net/netip address parsing and formatting for the bundled
 * plugins' C builds (route-lookup, url-rewrite), which must agree with their
 * Go sources (the twin tests). Header-only: each plugin is one translation
 * unit.
 *
 *   parse_addr(s, n, &a)  netip.ParseAddr: 0 on success (a zone, if any,
 *                         points into s), -1 when s is not an address;
 *   is4in6(&a)            Addr.Is4In6;
 *   netip_format(&a, buf) Addr.WithZone("").String() into buf (at least
 *                         NETIP_FORMAT_MAX bytes, NUL-terminated); its length.
 */
#ifndef POSTERN_NETIP_H
#define POSTERN_NETIP_H

#include <stdint.h>
#include <stdio.h>
#include <string.h>

typedef struct {
	uint8_t b[16];
	int is4;
	const char *zone;
	size_t zone_len;
} ipaddr;

static inline int parse_v4_fields(const char *s, size_t n, uint8_t *fields) {
	int val = 0, pos = 0, dig = 0;
	for (size_t i = 0; i < n; i++) {
		if (s[i] >= '0' && s[i] <= '9') {
			if (dig == 1 && val == 0) return -1;
			val = val * 10 + (s[i] - '0');
			dig++;
			if (val > 255) return -1;
		} else if (s[i] == '.') {
			if (i == 0 || i == n - 1 || s[i - 1] == '.') return -1;
			if (pos == 3) return -1;
			fields[pos++] = (uint8_t)val;
			val = 0;
			dig = 0;
		} else {
			return -1;
		}
	}
	if (pos < 3) return -1;
	fields[3] = (uint8_t)val;
	return 0;
}

static inline int parse_v6(const char *in, size_t inn, ipaddr *a) {
	const char *s = in;
	size_t n = inn;
	memset(a, 0, sizeof *a);
	const char *pct = memchr(in, '%', inn);
	if (pct != NULL) {
		n = (size_t)(pct - in);
		a->zone = pct + 1;
		a->zone_len = inn - n - 1;
		if (a->zone_len == 0) return -1;
	}
	size_t zone_cut = pct ? a->zone_len + 1 : 0;
	int ellipsis = -1, i = 0;
	if (n >= 2 && s[0] == ':' && s[1] == ':') {
		ellipsis = 0;
		s += 2;
		n -= 2;
		if (n == 0) return 0;
	}
	while (i < 16) {
		size_t off = 0;
		uint32_t acc = 0;
		for (; off < n; off++) {
			char c = s[off];
			if (c >= '0' && c <= '9') acc = (acc << 4) + (uint32_t)(c - '0');
			else if (c >= 'a' && c <= 'f') acc = (acc << 4) + (uint32_t)(c - 'a' + 10);
			else if (c >= 'A' && c <= 'F') acc = (acc << 4) + (uint32_t)(c - 'A' + 10);
			else break;
			if (off > 3) return -1;
			if (acc > 0xFFFF) return -1;
		}
		if (off == 0) return -1;
		if (off < n && s[off] == '.') {
			if (ellipsis < 0 && i != 12) return -1;
			if (i + 4 > 16) return -1;
			size_t end = inn - zone_cut;
			size_t start = end - n;
			if (parse_v4_fields(in + start, end - start, a->b + i) < 0) return -1;
			n = 0;
			i += 4;
			break;
		}
		a->b[i] = (uint8_t)(acc >> 8);
		a->b[i + 1] = (uint8_t)acc;
		i += 2;
		s += off;
		n -= off;
		if (n == 0) break;
		if (s[0] != ':') return -1;
		if (n == 1) return -1;
		s++;
		n--;
		if (s[0] == ':') {
			if (ellipsis >= 0) return -1;
			ellipsis = i;
			s++;
			n--;
			if (n == 0) break;
		}
	}
	if (n != 0) return -1;
	if (i < 16) {
		if (ellipsis < 0) return -1;
		int k = 16 - i;
		for (int j = i - 1; j >= ellipsis; j--) a->b[j + k] = a->b[j];
		memset(a->b + ellipsis, 0, (size_t)k);
	} else if (ellipsis >= 0) {
		return -1;
	}
	return 0;
}

static inline int parse_addr(const char *s, size_t n, ipaddr *a) {
	for (size_t i = 0; i < n; i++) {
		if (s[i] == '.') {
			memset(a, 0, sizeof *a);
			a->is4 = 1;
			return parse_v4_fields(s, n, a->b);
		}
		if (s[i] == ':') return parse_v6(s, n, a);
		if (s[i] == '%') return -1;
	}
	return -1;
}

static inline int is4in6(const ipaddr *a) {
	static const uint8_t pre[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
	return !a->is4 && memcmp(a->b, pre, 12) == 0;
}

#define NETIP_FORMAT_MAX 48

static inline size_t netip_format(const ipaddr *a, char *buf) {
	size_t n = 0;
	const uint8_t *v4 = NULL;
	if (a->is4) {
		v4 = a->b;
	} else if (is4in6(a)) {
		memcpy(buf, "::ffff:", 7);
		n = 7;
		v4 = a->b + 12;
	}
	if (v4 != NULL) return n + (size_t)snprintf(buf + n, 16, "%u.%u.%u.%u", v4[0], v4[1], v4[2], v4[3]);
	int zs = 255, ze = 255;
	for (int i = 0; i < 8; i++) {
		int j = i;
		while (j < 8 && a->b[2 * j] == 0 && a->b[2 * j + 1] == 0) j++;
		if (j - i >= 2 && j - i > ze - zs) {
			zs = i;
			ze = j;
		}
	}
	buf[0] = '\0';
	for (int i = 0; i < 8; i++) {
		if (i == zs) {
			buf[n++] = ':';
			buf[n++] = ':';
			buf[n] = '\0';
			i = ze;
			if (i >= 8) break;
		} else if (i > 0) {
			buf[n++] = ':';
		}
		n += (size_t)snprintf(buf + n, 5, "%x", (unsigned)(a->b[2 * i] << 8 | a->b[2 * i + 1]));
	}
	return n;
}

#endif
