/* stop: the flag by which the loop asks a running job to give up (job.h), and how the code that
 * waits on the job's behalf reads it. One thread sets it while others read it: a C11 atomic. */
#ifndef TMPROV_WORKER_STOP_H
#define TMPROV_WORKER_STOP_H

#include <stdatomic.h>
#include <stdbool.h>

/* Whether *stop is set; stop may be NULL (a wait that is never stopped). */
static inline bool
stop_requested(const atomic_bool *stop)
{
	return stop != NULL && atomic_load(stop);
}

#endif
