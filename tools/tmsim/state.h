/* state: what the simulator's threads share — the partner id, the accounts, the faults and the
 * call log under one lock (so the log's order is the order effects happened), and the
 * interruptible wait that latency and held answers use so shutdown never waits for them. */
#ifndef TMSIM_STATE_H
#define TMSIM_STATE_H

#include <pthread.h>
#include <stddef.h>

#include "calllog.h"
#include "faults.h"
#include "store.h"

struct sim_state {
	pthread_mutex_t mu;
	pthread_cond_t wake; /* signalled on shutdown */
	int stopping;
	char *partner; /* the configured service_company_uid; never logged */
	struct store *store;
	struct faults *faults;
	struct calllog *log;
};

struct sim_state *state_new(const char *partner, size_t log_max);
void state_free(struct sim_state *st);
void state_lock(struct sim_state *st);
void state_unlock(struct sim_state *st);
/* Clears accounts, faults and the call log. Takes the lock. */
void state_reset(struct sim_state *st);
/* Waits ms milliseconds, or less once state_stop was called. Takes the lock. */
void state_hold(struct sim_state *st, long ms);
/* Ends every wait in progress and makes later ones return at once. */
void state_stop(struct sim_state *st);

#endif
