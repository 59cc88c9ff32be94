/*
 * ketama_place: libmemcached's own placement, for placement_test.go to
 * compare with Postern's Ketama.
 *
 * The client is libmemcached with MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED (MD5
 * keys, 160 points per server of weight 1) and the servers given, in order.
 *
 * Usage: ketama_place [-set] host:port... < keys
 * Reads one key per line and prints the index of the server libmemcached
 * picks for it (memcached_generate_hash). With -set it also stores each
 * key, with the key as its value, through libmemcached, so the test can
 * ask each real server which keys it holds. Exits 1 on any libmemcached
 * error, printing it.
 *
 * Built by the test: clang ketama_place.c -lmemcached (Debian
 * libmemcached-dev).
 */
#include <libmemcached/memcached.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int main(int argc, char **argv)
{
	int set = 0, first = 1;
	if (argc > 1 && strcmp(argv[1], "-set") == 0) {
		set = 1;
		first = 2;
	}
	if (first >= argc) {
		fprintf(stderr, "usage: ketama_place [-set] host:port... < keys\n");
		return 2;
	}
	memcached_st *memc = memcached_create(NULL);
	if (memc == NULL)
		return 1;
	memcached_return_t rc = memcached_behavior_set(memc, MEMCACHED_BEHAVIOR_KETAMA_WEIGHTED, 1);
	if (rc != MEMCACHED_SUCCESS) {
		fprintf(stderr, "ketama_place: KETAMA_WEIGHTED: %s\n", memcached_strerror(memc, rc));
		return 1;
	}
	for (int i = first; i < argc; i++) {
		char host[256];
		const char *colon = strrchr(argv[i], ':');
		if (colon == NULL || (size_t)(colon - argv[i]) >= sizeof host) {
			fprintf(stderr, "ketama_place: %s: want host:port\n", argv[i]);
			return 2;
		}
		memcpy(host, argv[i], (size_t)(colon - argv[i]));
		host[colon - argv[i]] = '\0';
		rc = memcached_server_add(memc, host, (in_port_t)atoi(colon + 1));
		if (rc != MEMCACHED_SUCCESS) {
			fprintf(stderr, "ketama_place: add %s: %s\n", argv[i], memcached_strerror(memc, rc));
			return 1;
		}
	}
	static char line[8192];
	while (fgets(line, sizeof line, stdin) != NULL) {
		size_t len = strlen(line);
		if (len > 0 && line[len - 1] == '\n')
			line[--len] = '\0';
		printf("%u\n", memcached_generate_hash(memc, line, len));
		if (set) {
			rc = memcached_set(memc, line, len, line, len, 0, 0);
			if (rc != MEMCACHED_SUCCESS) {
				fprintf(stderr, "ketama_place: set %s: %s\n", line, memcached_error(memc));
				return 1;
			}
		}
	}
	memcached_free(memc);
	return 0;
}
