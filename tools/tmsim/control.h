/* control: tmsim's own API for tests and operators — /healthz and the JSON /_sim endpoints
 * (faults, calls, stats, accounts, edit, reset, and mx: the fault matrix's own faults). */
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
/* GET /_sim/edit?company_uid=UID[&company_name=..][&email=..][&number_of_meeting_room=N]
 * [&number_of_participant=N] | ?company_uid=UID&delete=1: an operator's change in TM's console,
 * made without a wapi call (not in the call log): the drift `tmprov reconcile` must find.
 * {"account":{...}} or {"deleted":UID}; 404 for an unknown company_uid. */
void control_edit(struct sim_state *st, int arg, const struct query *q, struct reply *rep);
/* GET /_sim/reset: clears accounts, faults and the call log. */
void control_reset(struct sim_state *st, int arg, const struct query *q, struct reply *rep);
/* GET /_sim/mx?QUERY: the fault matrix's faults (mxfault.h); answers {"mx":{...}}. */
void control_mx(struct sim_state *st, int arg, const struct query *q, struct reply *rep);

#endif
