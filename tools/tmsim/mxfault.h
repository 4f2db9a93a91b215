/* mxfault: the fault matrix's own TM faults (issue 11 rows V6 and V7), apart from faults.c's:
 * hostile XML answers (truncated, 50 MB, XXE, billion laughs, deep nesting) for the next N calls,
 * and answers garbled for ever for the calls of chosen accounts. Set through /_sim/mx. */
#ifndef TMSIM_MXFAULT_H
#define TMSIM_MXFAULT_H

#include "endpoint.h"
#include "query.h"
#include "reply.h"

enum mx_hostile { MX_NONE, MX_TRUNCATED, MX_HUGE, MX_XXE, MX_LAUGHS, MX_DEEP };

struct mxfault;
struct sim_state;

struct mxfault *mxfault_new(void);
void mxfault_free(struct mxfault *m);
void mxfault_reset(struct mxfault *m);
/* What the answer to one call to ep with parameters q must become (MX_NONE: itself); consumes
 * a hostile count. The caller holds the simulator's lock. */
enum mx_hostile mxfault_pick(struct mxfault *m, enum endpoint ep, const struct query *q,
			     int *garbled);
/* Replaces rep's body (the call took effect) with the hostile or garbled one. No lock. */
void mxfault_reply(enum mx_hostile h, int garbled, struct reply *rep);

/* GET /_sim/mx?hostile=KIND&count=N[&only=ENDPOINT] | garble_uid=UID | reset=1. */
void control_mx(struct sim_state *st, int arg, const struct query *q, struct reply *rep);

#endif
