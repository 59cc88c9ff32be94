/* helpers_check: a native driver for helpers_test.go. Reads lines from
 * stdin, "sha <hex>" or "json <hex>", and prints the SHA-256 hex of the
 * bytes, or "ok <decoded strings of every string node, hex, space-separated>"
 * / "err" for a JSON document. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include "../postern_json.h"
#include "../postern_sha256.h"

static int unhex(const char *s, char *out) {
	int n = 0;
	while (s[0] && s[1] && s[0] != '\n') {
		char b[3] = {s[0], s[1], 0};
		out[n++] = (char)strtol(b, NULL, 16);
		s += 2;
	}
	return n;
}

static pj_doc doc;

int main(void) {
	static char line[1 << 20], buf[1 << 19];
	while (fgets(line, sizeof line, stdin)) {
		int n = unhex(line + 5, buf);
		if (strncmp(line, "sha ", 4) == 0) {
			uint8_t sum[32];
			char hex[65];
			n = unhex(line + 4, buf);
			postern_sha256(buf, (size_t)n, sum);
			postern_hex(sum, 32, hex);
			printf("%s\n", hex);
		} else {
			if (pj_parse(&doc, buf, n) != 0) {
				printf("err\n");
			} else {
				printf("ok");
				for (int i = 0; i < doc.count; i++) {
					if (doc.n[i].type != PJ_STRING) continue;
					static char s[1 << 19];
					int m = pj_string(&doc, i, s, sizeof s);
					char hex[3];
					printf(" ");
					for (int j = 0; j < m; j++) {
						snprintf(hex, 3, "%02x", (unsigned char)s[j]);
						printf("%s", hex);
					}
					if (m == 0) printf("-");
				}
				printf("\n");
			}
		}
		fflush(stdout);
	}
	return 0;
}
