/* state: the shared simulator state and its lock. */
#include "state.h"

#include <stdlib.h>
#include <string.h>

struct sim_state *
state_new(const char *partner, size_t log_max)
{
	struct sim_state *st = calloc(1, sizeof(*st));

	if (st == NULL)
		return NULL;
	pthread_mutex_init(&st->mu, NULL);
	st->partner = strdup(partner);
	st->store = store_new();
	st->faults = faults_new();
	st->log = calllog_new(log_max);
	st->mx = mxfault_new();
	if (st->partner == NULL || st->store == NULL || st->faults == NULL || st->log == NULL ||
	    st->mx == NULL) {
		state_free(st);
		return NULL;
	}
	return st;
}

void
state_free(struct sim_state *st)
{
	if (st == NULL)
		return;
	store_free(st->store);
	faults_free(st->faults);
	calllog_free(st->log);
	mxfault_free(st->mx);
	free(st->partner);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

void
state_lock(struct sim_state *st)
{
	pthread_mutex_lock(&st->mu);
}

void
state_unlock(struct sim_state *st)
{
	pthread_mutex_unlock(&st->mu);
}

void
state_reset(struct sim_state *st)
{
	state_lock(st);
	store_clear(st->store);
	faults_reset(st->faults);
	mxfault_reset(st->mx);
	calllog_clear(st->log);
	state_unlock(st);
}
