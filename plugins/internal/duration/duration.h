/*
 * duration.h: durations for the bundled plugins' C ports (login-normaliser,
 * route-cache, route-lookup, throttle), the C twin of duration.go in this
 * folder: Go's time.ParseDuration, a JSON number of seconds as
 * duration.Parse converts it, and the decision reuse (ABI 1.2): its
 * default, its range and the refusals' two wordings (duration.Style), and
 * its declaration in init (duration.DeclareReuse). Header only; include it
 * after postern.h. The twin tests of the plugins hold these to
 * duration.go; change them together.
 */
#ifndef POSTERN_DURATION_H
#define POSTERN_DURATION_H

/* The functions are static, not static inline (clang's inline hint made
 * the plugins' builds larger), and marked unused: a plugin need not call
 * them all. */
#define DURATION_FN static __attribute__((unused))

#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DURATION_SECOND 1000000000LL
/* duration.DefaultReuse and duration.MaxReuse, in nanoseconds */
#define DURATION_DEFAULT_REUSE_NS (5 * DURATION_SECOND)
#define DURATION_MAX_REUSE_NS ((int64_t)POSTERN_MAX_REUSE_MS * (DURATION_SECOND / 1000))

DURATION_FN int duration__is(const char *s, size_t n, const char *unit) {
	size_t un = strlen(unit);
	return n == un && memcmp(s, unit, n) == 0;
}

/* go_parse_duration is Go's time.ParseDuration: 0 and the duration in
 * *out, or -1. */
DURATION_FN int go_parse_duration(const char *s, size_t n, int64_t *out) {
	uint64_t d = 0;
	int neg = 0;
	if (n > 0 && (s[0] == '-' || s[0] == '+')) {
		neg = s[0] == '-';
		s++;
		n--;
	}
	if (n == 1 && s[0] == '0') {
		*out = 0;
		return 0;
	}
	if (n == 0) return -1;
	while (n > 0) {
		uint64_t v = 0, f = 0;
		double scale = 1;
		if (!(s[0] == '.' || (s[0] >= '0' && s[0] <= '9'))) return -1;
		size_t pl = n, i = 0;
		for (; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
			if (v > (1ULL << 63) / 10) return -1;
			v = v * 10 + (uint64_t)(s[i] - '0');
			if (v > (1ULL << 63)) return -1;
		}
		s += i;
		n -= i;
		int pre = pl != n, post = 0;
		if (n > 0 && s[0] == '.') {
			s++;
			n--;
			pl = n;
			int overflow = 0;
			for (i = 0; i < n && s[i] >= '0' && s[i] <= '9'; i++) {
				if (overflow) continue;
				if (f > ((1ULL << 63) - 1) / 10) {
					overflow = 1;
					continue;
				}
				uint64_t y = f * 10 + (uint64_t)(s[i] - '0');
				if (y > (1ULL << 63)) {
					overflow = 1;
					continue;
				}
				f = y;
				scale *= 10;
			}
			s += i;
			n -= i;
			post = pl != n;
		}
		if (!pre && !post) return -1;
		for (i = 0; i < n; i++)
			if (s[i] == '.' || (s[i] >= '0' && s[i] <= '9')) break;
		if (i == 0) return -1; /* missing unit */
		uint64_t unit;
		if (duration__is(s, i, "ns")) unit = 1;
		else if (duration__is(s, i, "us") || duration__is(s, i, "\xC2\xB5s") || duration__is(s, i, "\xCE\xBCs")) unit = 1000;
		else if (duration__is(s, i, "ms")) unit = 1000000;
		else if (duration__is(s, i, "s")) unit = 1000000000ULL;
		else if (duration__is(s, i, "m")) unit = 60000000000ULL;
		else if (duration__is(s, i, "h")) unit = 3600000000000ULL;
		else return -1; /* unknown unit */
		s += i;
		n -= i;
		if (v > (1ULL << 63) / unit) return -1;
		v *= unit;
		if (f > 0) {
			v += (uint64_t)((double)f * ((double)unit / scale));
			if (v > (1ULL << 63)) return -1;
		}
		d += v;
		if (d > (1ULL << 63)) return -1;
	}
	if (neg) {
		*out = (int64_t)(0 - d);
		return 0;
	}
	if (d > (1ULL << 63) - 1) return -1;
	*out = (int64_t)d;
	return 0;
}

/* duration_seconds is duration.Parse's number branch: num (a JSON
 * number's text, NUL-terminated) read as strconv.ParseFloat reads it,
 * refused (-1) when that fails (it overflows) or it is above 1e9; else
 * *out is time.Duration(f * 1e9) as Go's wasm build converts it (toward
 * zero, saturating at the int64 minimum). */
DURATION_FN int duration_seconds(const char *num, int64_t *out) {
	errno = 0;
	double f = strtod(num, NULL);
	/* ParseFloat fails on overflow only (strtod's ERANGE also flags
	 * underflow, which Go rounds to 0 silently) */
	if ((errno == ERANGE && (f > 1 || f < -1)) || f > 1e9) return -1;
	double ns = f * (double)DURATION_SECOND;
	*out = ns <= -9.2233720368547758e18 ? INT64_MIN : (int64_t)ns;
	return 0;
}

/* duration_parse is duration.Parse of key's value: raw is the value as
 * written (NUL-terminated; rawn > 0) and text, when raw is a string, its
 * decoded text (jr.h's jraw reads both): 0 and the duration in *out, or
 * -1 with err set to "<key>: <duration.Parse's error>" suggesting eg and
 * eg2, showing at most show bytes of the value. */
DURATION_FN int duration_parse(const char *text, size_t textn, const char *raw, size_t rawn, const char *key,
                                 const char *eg, const char *eg2, int show, char *err, size_t errn, int64_t *out) {
	if (raw[0] == '"') {
		if (go_parse_duration(text, textn, out) == 0) return 0;
		snprintf(err, errn, "%s: \"%.*s\" is not a duration; write it like \"%s\" or \"%s\"", key,
		         (int)(textn > (size_t)show ? (size_t)show : textn), text, eg, eg2);
		return -1;
	}
	if ((raw[0] == '-' || (raw[0] >= '0' && raw[0] <= '9')) && duration_seconds(raw, out) == 0) return 0;
	snprintf(err, errn, "%s: %.*s is not a duration; write it like \"%s\" or a number of seconds", key,
	         (int)(rawn > (size_t)show ? (size_t)show : rawn), raw, eg);
	return -1;
}

/* The wordings of a refused reuse (duration.Style). */
enum { DURATION_WANT_RANGE, DURATION_IS_OUTSIDE };

/* duration_check_reuse is duration.CheckReuse: 0 when ns is a decision
 * reuse the ABI allows (0 to 1h), else -1 with err set to the refusal in
 * style, quoting the rawn bytes at raw between q and q (q "\"" for a
 * string whose quotes raw leaves out, else ""). */
DURATION_FN int duration_check_reuse(int64_t ns, int style, const char *q, const char *raw, int rawn, char *err,
                                       size_t errn) {
	if (ns >= 0 && ns <= DURATION_MAX_REUSE_NS) return 0;
	if (style == DURATION_IS_OUTSIDE)
		snprintf(err, errn, "reuse: %s%.*s%s is outside 0..1h; 0 turns decision reuse off", q, rawn, raw, q);
	else
		snprintf(err, errn, "reuse %s%.*s%s: want 0 (no reuse) to 1h", q, rawn, raw, q);
	return -1;
}

/* duration_declare_reuse is duration.DeclareReuse: it declares reuse_ns
 * (rounded down to milliseconds) in init. A host before ABI 1.2 answers
 * POSTERN_ERR_UNKNOWN_FIELD and reuses nothing, which is always correct:
 * 0. Any other error refuses the configuration: -1, with the message set
 * (postern_set_message) in plugin's name; init then returns
 * POSTERN_INIT_REFUSE. */
DURATION_FN int duration_declare_reuse(const char *plugin, int64_t reuse_ns) {
	int64_t ms = reuse_ns / (DURATION_SECOND / 1000);
	int32_t rr = postern_reuse_decisions(ms);
	if (rr >= 0 || rr == POSTERN_ERR_UNKNOWN_FIELD) return 0;
	char msg[160];
	snprintf(msg, sizeof msg, "%s: config: reuse: the host refused a reuse of %lldms: error %d", plugin, (long long)ms,
	         (int)rr);
	postern_set_message(msg);
	return -1;
}

#endif
