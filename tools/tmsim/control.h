/* control: tmsim's own API for tests and operators — /healthz and the JSON /_sim endpoints
 * (faults, calls, stats, accounts, reset, and mx: the fault matrix's own faults). */
#ifndef TMSIM_CONTROL_H
#define TMSIM_CONTROL_H

#include "query.h"
#include "reply.h"
#include "state.h"

void control_healthz(struct sim_state *st, int arg, const struct query *q, struct reply *rep);
/* GET /_sim/faults?QUERY: merges QUERY into the faults; answers {"faults":{...}}. */
void control_faults(struct sim_state *st, int arg, const struct query *q, struct reply *rep);
/* GET /_sim/calls[?since=SEQ][&endpoint=NAME]: {"calls":[...]}. */
void control_calls(struct sim_state *st, int arg, const struct query *q, struct reply *rep);
void control_stats(struct sim_state *st, int arg, const struct query *q, struct reply *rep);
void control_accounts(struct sim_state *st, int arg, const struct query *q, struct reply *rep);
/* GET /_sim/reset: clears accounts, faults and the call log. */
void control_reset(struct sim_state *st, int arg, const struct query *q, struct reply *rep);
/* GET /_sim/mx?QUERY: the fault matrix's faults (mxfault.h); answers {"mx":{...}}. */
void control_mx(struct sim_state *st, int arg, const struct query *q, struct reply *rep);

#endif
