/* mxfault: the fault matrix's own TM faults (issue 11 rows V6 and V7), apart from faults.c's:
 * hostile XML answers (truncated, 50 MB, XXE, billion laughs, deep nesting) for the next N calls,
 * and answers garbled for ever for the calls of chosen accounts. Set through /_sim/mx. */
#ifndef TMSIM_MXFAULT_H
#define TMSIM_MXFAULT_H

#include <stddef.h>

#include <jansson.h>

#include "endpoint.h"
#include "query.h"
#include "reply.h"

enum mx_hostile { MX_NONE, MX_TRUNCATED, MX_HUGE, MX_XXE, MX_LAUGHS, MX_DEEP };

struct mxfault;

struct mxfault *mxfault_new(void);
void mxfault_free(struct mxfault *m);
void mxfault_reset(struct mxfault *m);
/* What the answer to one call to ep with parameters q must become (MX_NONE: itself); consumes
 * a hostile count. The caller holds the simulator's lock. */
enum mx_hostile mxfault_pick(struct mxfault *m, enum endpoint ep, const struct query *q,
			     int *garbled);
/* Replaces rep's body (the call took effect) with the hostile or garbled one. No lock. */
void mxfault_reply(enum mx_hostile h, int garbled, struct reply *rep);

/* Applies one /_sim/mx query (hostile=KIND&count=N[&only=ENDPOINT], garble_uid=UID, reset=1),
 * all or nothing: -1 with err on a bad or unknown parameter. The caller holds the lock. */
int mxfault_apply(struct mxfault *m, const struct query *q, char *err, size_t errlen);
/* {"hostile":KIND, "count":N, "garbled":N} (new reference). */
json_t *mxfault_dump(const struct mxfault *m);

#endif
