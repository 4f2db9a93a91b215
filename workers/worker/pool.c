/* pool: a feeder thread taking jobs from the dispatcher, a fiber per job (see pool.h). A job
 * whose fiber cannot be made (out of memory) runs on the feeder itself, blocking it: slower,
 * never lost. */
#include "pool.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fiber.h"
#include "fwait.h"
#include "log.h"

struct pool {
	struct dispatch *d;
	struct pool_ops ops;
	void *arg;
	struct fiber_sched *sched;
	pthread_t feeder;
};

struct pool_run {
	struct pool *p;
	struct job *j;
};

/* Runs j with a runner state of its own and reports it done. */
static void
pool_run_job(struct pool *p, struct job *j)
{
	char err[256];
	void *state;
	while ((state = p->ops.thread_new(p->arg, err, sizeof(err))) == NULL) {
		if (atomic_load(&j->stop)) {
			dispatch_done(p->d, j, JOB_ABANDONED);
			return;
		}
		log_error("pool: %s; retrying", err);
		fwait_sleep_ms(100);
	}
	dispatch_done(p->d, j, p->ops.run(state, j));
	p->ops.thread_free(state);
}

static void
pool_fiber(void *arg)
{
	struct pool_run run = *(struct pool_run *)arg;

	free(arg);
	pool_run_job(run.p, run.j);
}

static void *
pool_feed(void *arg)
{
	struct pool *p = arg;
	struct pool_run *run;
	struct job *j;

	while ((j = dispatch_take(p->d)) != NULL) {
		run = malloc(sizeof(*run));
		if (run != NULL) {
			*run = (struct pool_run){p, j};
			if (fiber_spawn(p->sched, pool_fiber, run) == 0)
				continue;
			free(run);
		}
		log_warn("pool: no fiber for a job (out of memory): it runs on the feeder");
		pool_run_job(p, j);
	}
	return NULL;
}

struct pool *
pool_start(struct dispatch *d, int carriers, const struct pool_ops *ops, void *arg, char *err,
	   size_t errlen)
{
	struct pool *p = calloc(1, sizeof(*p));
	int rc;

	if (p == NULL) {
		snprintf(err, errlen, "pool: out of memory");
		return NULL;
	}
	p->d = d;
	p->ops = *ops;
	p->arg = arg;
	p->sched = fiber_sched_new("pool", carriers, POOL_STACK_SIZE, err, errlen);
	if (p->sched == NULL) {
		free(p);
		return NULL;
	}
	rc = pthread_create(&p->feeder, NULL, pool_feed, p);
	if (rc != 0) {
		snprintf(err, errlen, "pool: cannot start the feeder: %s", strerror(rc));
		fiber_sched_free(p->sched);
		free(p);
		return NULL;
	}
	pthread_setname_np(p->feeder, "pool-feed");
	return p;
}

void
pool_stop(struct pool *p)
{
	if (p == NULL)
		return;
	dispatch_close(p->d);
	pthread_join(p->feeder, NULL);
	fiber_sched_free(p->sched);
	free(p);
}
