/* pool: the threads that run jobs. Each has its own runner state (for the worker: a struct
 * exec_thread with its own TM client), takes runnable jobs from the dispatcher, runs each to
 * completion and reports it done. */
#ifndef TMPROV_WORKER_POOL_H
#define TMPROV_WORKER_POOL_H

#include <stddef.h>

#include "dispatch.h"

/* What a pool thread runs; main wires these to exec_thread_new/exec_thread_free/exec_run. */
struct pool_ops {
	/* Per-thread state, made on the thread calling pool_start(). NULL with err on failure. */
	void *(*thread_new)(void *arg, char *err, size_t errlen);
	void (*thread_free)(void *thread);
	/* Runs j to a durable result (JOB_DONE), or gives up once j->stop is set
	 * (JOB_ABANDONED). */
	enum job_result (*run)(void *thread, struct job *j);
};

struct pool;

/* Makes nthreads runner states and starts the threads on d. ops is copied. NULL with err when a
 * state or thread cannot be made (nothing is left running). */
struct pool *pool_start(struct dispatch *d, int nthreads, const struct pool_ops *ops, void *arg,
			char *err, size_t errlen);
/* Closes d (dispatch_close), waits for every thread to finish its current job, frees the states.
 * A caller that wants running jobs to end early sets their stop flags first (dispatch_stop).
 * NULL is a no-op. */
void pool_stop(struct pool *p);

#endif
