/* hashgate: bounds how many argon2id checks run at once (each takes TMPROV_ARGON2_MEMLIMIT
 * bytes), so a flood of logins queues instead of exhausting memory; reports hashes in flight. */
#ifndef CALLBACK_HASHGATE_H
#define CALLBACK_HASHGATE_H

#include "metrics.h"
#include "password.h"

struct hashgate;

/* slots: hashes allowed at once (>= 1). m (borrowed, may be NULL) gets
 * tmprov_callback_hashes_in_flight and tmprov_callback_hashes_total. */
struct hashgate *hashgate_new(unsigned slots, struct metrics *m);
void hashgate_free(struct hashgate *g);

/* password_verify once a slot is free: 1 match, 0 otherwise (verifier NULL: unknown user, the
 * same work is done and 0 returned). */
int hashgate_verify(struct hashgate *g, const struct password_opts *opts, const char *verifier,
		    const char *credential);

#endif
