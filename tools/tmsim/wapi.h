/* wapi: the TurboMeeting service calls (spec v3.4 sections 2-5 and 7) — parameter checks,
 * effects on the store, the <__Return__> answers, and the faults that replace or delay them. */
#ifndef TMSIM_WAPI_H
#define TMSIM_WAPI_H

#include "query.h"
#include "reply.h"
#include "state.h"

/* Route handler for GET /as/wapi/service/<endpoint>; ep is an enum endpoint. */
void wapi_handle(struct sim_state *st, int ep, const struct query *q, struct reply *rep);

#endif
