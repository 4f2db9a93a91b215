/* backoff: retry delays — capped exponential backoff with full jitter — and the parsing of an
 * HTTP Retry-After header into a bounded delay. */
#include "backoff.h"

#include <ctype.h>
#include <stdint.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

long
backoff_ceiling_ms(const struct backoff *b, unsigned attempt)
{
	long ceiling = b->base_ms;

	/* Doubling stops at the cap, so the shift can never overflow. */
	for (unsigned i = 0; i < attempt && ceiling < b->cap_ms; i++)
		ceiling *= 2;
	return ceiling < b->cap_ms ? ceiling : b->cap_ms;
}

long
backoff_delay_ms(const struct backoff *b, unsigned attempt)
{
	long ceiling = backoff_ceiling_ms(b, attempt);

	if (ceiling <= 0)
		return 0;
	/* glibc 2.36 arc4random: seeded from the kernel, thread-safe, no modulo bias. */
	return (long)arc4random_uniform((uint32_t)ceiling + 1);
}

long
backoff_retry_after_ms(const char *value, long now_s, long max_ms)
{
	struct tm tm;
	char *end;
	long secs;

	if (value == NULL)
		return -1;
	while (isspace((unsigned char)*value))
		value++;
	if (isdigit((unsigned char)*value)) {
		errno = 0;
		secs = strtol(value, &end, 10);
		while (isspace((unsigned char)*end))
			end++;
		if (*end != '\0' || errno != 0)
			return -1;
	} else {
		/* IMF-fixdate, the only form RFC 9110 lets senders generate. */
		memset(&tm, 0, sizeof(tm));
		end = strptime(value, "%a, %d %b %Y %H:%M:%S GMT", &tm);
		if (end == NULL || *end != '\0')
			return -1;
		secs = (long)timegm(&tm) - now_s;
		if (secs < 0)
			secs = 0;
	}
	if (secs > max_ms / 1000)
		return max_ms;
	return secs * 1000;
}
