/* stop: the flag by which the loop asks a running job to give up (job.h), and how the code that
 * waits on the job's behalf reads it. One thread sets it while others read it: a C11 atomic.
 * And the loop's lease on its partitions, which a job also looks at before each TM call. */
#ifndef TMPROV_WORKER_STOP_H
#define TMPROV_WORKER_STOP_H

#include <stdatomic.h>
#include <stdbool.h>
#include <time.h>

#include "clock.h"
#include "fwait.h"

/* Whether *stop is set; stop may be NULL (a wait that is never stopped). */
static inline bool
stop_requested(const atomic_bool *stop)
{
	return stop != NULL && atomic_load(stop);
}

/* Sleeps ms in 50 ms slices, so that a stop request is seen quickly without a condition
 * variable; false as soon as *stop is set (stop may be NULL). A fiber parks (fwait.h). */
static inline bool
stop_sleep(long ms, const atomic_bool *stop)
{
	while (ms > 0) {
		long slice = ms < 50 ? ms : 50;

		if (stop_requested(stop))
			return false;
		fwait_sleep_ms(slice);
		ms -= slice;
	}
	return !stop_requested(stop);
}

/* A stop that takes effect grace_ms after it was first seen (grace_ms 0: at once). Once a TM
 * call may have acted, the job's writes of what it knows (its result, the audit of its calls)
 * wait for the database that long past a stop, and no longer. */
struct stop_grace {
	const atomic_bool *stop;
	long grace_ms;
	long seen_ms; /* when the stop was first seen; -1: not yet */
};

/* Whether g's stop is in force: set, and its grace spent. */
static inline bool
stop_grace_over(struct stop_grace *g)
{
	long now;

	if (!stop_requested(g->stop))
		return false;
	now = clock_now_ms();
	if (g->seen_ms < 0)
		g->seen_ms = now;
	return now - g->seen_ms >= g->grace_ms;
}

/* The consumer loop's lease on its partitions: the loop renews tick_ms (clock_now_ms) at every
 * turn, and a job may start a TM call only while the lease is younger than lease_ms. A worker
 * stopped (SIGSTOP) or whose loop stalled past it may have been dropped from the group
 * (session.timeout.ms) without knowing it yet: its jobs call nothing until the loop has looked
 * (consumer.c: the loop first stops them, then renews the lease). */
struct lease {
	atomic_llong tick_ms;
	long lease_ms;
};

/* Whether l is held now (l NULL: no lease, always held). Read before the job's stop flag: the
 * loop sets the flags before it renews the lease, so a job that sees the renewed lease sees its
 * flag too. */
static inline bool
lease_held(const struct lease *l)
{
	return l == NULL || clock_now_ms() - atomic_load(&l->tick_ms) < l->lease_ms;
}

#endif
