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

/* The fixed policies, defined once and named by what they pace. (TM calls take theirs from
 * TMPROV_RETRY_BASE and TMPROV_RETRY_CAP; database connects from db_options.) */
/* Recording a TM call's intent again while the database is away: no call goes out unrecorded. */
extern const struct backoff backoff_intent_record;
/* A worker's statement again while the database is away, and looking a command up again. */
extern const struct backoff backoff_db_statement;
/* Producing a dead-letter copy again after its delivery failed. */
extern const struct backoff backoff_dlq_produce;

#endif
