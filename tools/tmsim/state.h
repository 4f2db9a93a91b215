/* state: what the simulator's threads share — the partner id, the accounts, the faults and the
 * call log — under one lock, so that the log's order is the order effects happened. */
#ifndef TMSIM_STATE_H
#define TMSIM_STATE_H

#include <pthread.h>
#include <stddef.h>

#include "calllog.h"
#include "faults.h"
#include "mxfault.h"
#include "store.h"

struct sim_state {
	pthread_mutex_t mu;
	char *partner; /* the configured service_company_uid; never logged */
	struct store *store;
	struct faults *faults;
	struct calllog *log;
	struct mxfault *mx; /* the fault matrix's own faults (mxfault.h) */
};

struct sim_state *state_new(const char *partner, size_t log_max);
void state_free(struct sim_state *st);
void state_lock(struct sim_state *st);
void state_unlock(struct sim_state *st);
/* Clears accounts, faults (both kinds) and the call log. Takes the lock. */
void state_reset(struct sim_state *st);

#endif
