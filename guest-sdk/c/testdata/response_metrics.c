/* response_metrics: the C SDK's ABI 1.1 response hook and plugin metrics
 * in the real host (host/plugin TestCSDK_responseAndMetrics). Init declares
 * the histogram c_seconds (0.5, 1) and the gauge c_gauge. The response
 * hook sets message to the status, observes 0.25, adds 2 to the gauge,
 * deletes Server, sets X-C: yes, and sets X-Cookies to the number of
 * Set-Cookie headers it read as a list; it returns Continue, or 100+N when
 * step N failed. */
#include <stdio.h>
#include <stdlib.h>

#include "postern.h"

POSTERN_ABI_VERSION_EXPORT()

static int32_t hist = -1, gauge = -1;

POSTERN_EXPORT("postern_init") int32_t init(void) {
	static const double bounds[] = {0.5, 1};
	hist = postern_metric_histogram("c_seconds", "C histogram.", bounds, 2);
	gauge = postern_metric_gauge("c_gauge", "C gauge.");
	if (hist < 0 || gauge < 0) {
		postern_set_message("declare failed");
		return POSTERN_INIT_REFUSE;
	}
	return POSTERN_INIT_OK;
}

POSTERN_EXPORT("postern_hook_response") int32_t response(void) {
	char *status = NULL, *cookies = NULL;
	if (postern_field_dup(POSTERN_FIELD_RESPONSE_STATUS, &status) < 0) return 101;
	postern_set_message(status);
	free(status);
	if (postern_metric_observe(hist, 0.25) != 0) return 102;
	if (postern_metric_gauge_add(gauge, 2) != 0) return 103;
	if (postern_response_header_delete("Server") != 0) return 104;
	if (postern_response_header_set("X-C", "yes") != 0) return 105;
	int32_t n = postern_key_dup(POSTERN_FIELD_RESPONSE_HEADER, "Set-Cookie", &cookies);
	if (n <= 0) return 106;
	int count = 1;
	for (int32_t i = 0; i < n; i++)
		if (cookies[i] == '\0') count++;
	free(cookies);
	char buf[16];
	snprintf(buf, sizeof buf, "%d", count);
	if (postern_response_header_set("X-Cookies", buf) != 0) return 107;
	return POSTERN_VERDICT_CONTINUE;
}
