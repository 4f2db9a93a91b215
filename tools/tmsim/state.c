/* state: the shared simulator state and its lock. */
#include "state.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct sim_state *
state_new(const char *partner, size_t log_max)
{
	struct sim_state *st = calloc(1, sizeof(*st));
	pthread_condattr_t attr;

	if (st == NULL)
		return NULL;
	pthread_mutex_init(&st->mu, NULL);
	/* Waits are measured on the monotonic clock so that a clock step cannot stretch them. */
	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&st->wake, &attr);
	pthread_condattr_destroy(&attr);
	st->partner = strdup(partner);
	st->store = store_new();
	st->faults = faults_new();
	st->log = calllog_new(log_max);
	if (st->partner == NULL || st->store == NULL || st->faults == NULL || st->log == NULL) {
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
	free(st->partner);
	pthread_cond_destroy(&st->wake);
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
	calllog_clear(st->log);
	state_unlock(st);
}

void
state_hold(struct sim_state *st, long ms)
{
	struct timespec until;

	if (ms <= 0)
		return;
	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += ms / 1000;
	until.tv_nsec += (ms % 1000) * 1000000L;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	state_lock(st);
	while (!st->stopping) {
		if (pthread_cond_timedwait(&st->wake, &st->mu, &until) == ETIMEDOUT)
			break;
	}
	state_unlock(st);
}

void
state_stop(struct sim_state *st)
{
	state_lock(st);
	st->stopping = 1;
	pthread_cond_broadcast(&st->wake);
	state_unlock(st);
}
