/* stop: the flag by which the loop asks a running job to give up (job.h), and how the code that
 * waits on the job's behalf reads it. One thread sets it while others read it: a C11 atomic.
 * And the loop's lease on its partitions, which a job also looks at before each TM call. */
#ifndef TMPROV_WORKER_STOP_H
#define TMPROV_WORKER_STOP_H

#include <stdatomic.h>
#include <stdbool.h>

#include "clock.h"

/* Whether *stop is set; stop may be NULL (a wait that is never stopped). */
static inline bool
stop_requested(const atomic_bool *stop)
{
	return stop != NULL && atomic_load(stop);
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
