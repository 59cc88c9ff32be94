/*
 * zimbra_place: a second implementation of Zimbra's proxy memcached
 * placement, written from REFERENCE.md ("Memcached placement across several
 * servers (Zimbra)") and not from Postern's Go code, so that
 * placement_test.go can compare the two.
 *
 *   h = 0 (64-bit, as nginx's ngx_uint_t on x86_64)
 *   for each byte c of the raw key: h += c; h += h << 10; h ^= h >> 6
 *   then: h += h << 3; h ^= h >> 11; h += h << 15
 *   server = h % n; while that server is down, the next one ((i+1) % n)
 *
 * Usage: zimbra_place N [DOWN,DOWN,...] < keys
 * Reads one key per line (bytes as they are, no trailing newline) and
 * prints "<h64> <server index>" per key; -1 when every server is down.
 * Built by the test with clang; see placement_test.go.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t hash64(const unsigned char *p, size_t len)
{
	uint64_t h = 0;
	for (size_t i = 0; i < len; i++) {
		h += p[i];
		h += h << 10;
		h ^= h >> 6;
	}
	h += h << 3;
	h ^= h >> 11;
	h += h << 15;
	return h;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: zimbra_place N [DOWN,...] < keys\n");
		return 2;
	}
	long n = strtol(argv[1], NULL, 10);
	if (n < 1 || n > 1024) {
		fprintf(stderr, "zimbra_place: N must be 1..1024\n");
		return 2;
	}
	char *down = calloc((size_t)n, 1);
	if (argc > 2 && argv[2][0] != '\0') {
		char *s = argv[2];
		for (;;) {
			long d = strtol(s, &s, 10);
			if (d >= 0 && d < n)
				down[d] = 1;
			if (*s != ',')
				break;
			s++;
		}
	}
	static char line[8192];
	while (fgets(line, sizeof line, stdin) != NULL) {
		size_t len = strlen(line);
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		uint64_t h = hash64((const unsigned char *)line, len);
		long i = (long)(h % (uint64_t)n), found = -1;
		for (long t = 0; t < n; t++) {
			long s = (i + t) % n;
			if (!down[s]) {
				found = s;
				break;
			}
		}
		printf("%llu %ld\n", (unsigned long long)h, found);
	}
	free(down);
	return 0;
}
