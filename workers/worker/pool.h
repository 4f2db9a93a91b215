/* pool: where jobs run. Each job taken from the dispatcher runs on a fiber of its own (fiber.h)
 * with its own runner state (for the worker: a struct exec_thread), on a few carrier threads:
 * a job waiting for TM (or a slot, or a backoff) parks, and its carrier runs another. */
#ifndef TMPROV_WORKER_POOL_H
#define TMPROV_WORKER_POOL_H

#include <stddef.h>

#include "dispatch.h"

/* What a job runs on; main wires these to exec_thread_new/exec_thread_free/exec_run. */
struct pool_ops {
	/* A job's runner state. NULL with err on failure. */
	void *(*thread_new)(void *arg, char *err, size_t errlen);
	void (*thread_free)(void *thread);
	/* Runs j to a durable result (JOB_DONE), or gives up once j->stop is set
	 * (JOB_ABANDONED). */
	enum job_result (*run)(void *thread, struct job *j);
};

/* Stack of each job's fiber: what a command may use at its deepest (a database reconnect's
 * name lookup among it), with room to spare; only the pages touched are memory. */
#define POOL_STACK_SIZE (512 * 1024)

struct pool;

/* Starts carriers threads and a feeder that takes jobs from d, one fiber each (as many as the
 * dispatcher hands out: the consumer bounds the jobs in flight). ops is copied; arg goes to
 * ops->thread_new. NULL with err when a thread cannot be started (nothing is left running). */
struct pool *pool_start(struct dispatch *d, int carriers, const struct pool_ops *ops, void *arg,
			char *err, size_t errlen);
/* Closes d (dispatch_close), waits for every running job to finish, stops the threads.
 * A caller that wants running jobs to end early sets their stop flags first (dispatch_stop).
 * NULL is a no-op. */
void pool_stop(struct pool *p);

#endif
