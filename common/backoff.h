/* backoff: retry delays — capped exponential backoff with full jitter. (An HTTP Retry-After
 * header is read by the TM client: tm_retry_after_ms.) */
#ifndef TMPROV_BACKOFF_H
#define TMPROV_BACKOFF_H

struct backoff {
	long base_ms; /* ceiling of the first delay */
	long cap_ms;  /* no delay is ever longer */
};

/* A uniformly random delay in [0, min(cap, base * 2^attempt)] ("full jitter"): retries of many
 * callers spread out instead of arriving together. attempt counts from 0. */
long backoff_delay_ms(const struct backoff *b, unsigned attempt);

/* The ceiling backoff_delay_ms draws under for this attempt. */
long backoff_ceiling_ms(const struct backoff *b, unsigned attempt);

#endif
