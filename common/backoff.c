/* backoff: retry delays — capped exponential backoff with full jitter. (An HTTP Retry-After
 * header is read by the TM client: tm_retry_after_ms.) */
#include "backoff.h"

#include <stdint.h>
#include <stdlib.h>

const struct backoff backoff_intent_record = {200, 5000};
const struct backoff backoff_db_statement = {100, 5000};
const struct backoff backoff_dlq_produce = {200, 10000};

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
