/* pool: N threads taking jobs from the dispatcher (see pool.h). */
#include "pool.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct pool_thread {
	struct pool *pool;
	pthread_t tid;
	void *state;
	int started;
};

struct pool {
	struct dispatch *d;
	struct pool_ops ops;
	int n;
	struct pool_thread *threads;
};

static void *
pool_main(void *arg)
{
	struct pool_thread *t = arg;
	struct pool *p = t->pool;
	struct job *j;

	while ((j = dispatch_take(p->d)) != NULL)
		dispatch_done(p->d, j, p->ops.run(t->state, j));
	return NULL;
}

static void
pool_join_free(struct pool *p)
{
	for (int i = 0; i < p->n; i++) {
		if (p->threads[i].started)
			pthread_join(p->threads[i].tid, NULL);
		if (p->threads[i].state)
			p->ops.thread_free(p->threads[i].state);
	}
	free(p->threads);
	free(p);
}

struct pool *
pool_start(struct dispatch *d, int nthreads, const struct pool_ops *ops, void *arg, char *err,
	   size_t errlen)
{
	struct pool *p = calloc(1, sizeof(*p));
	char name[16];
	int rc;

	if (!p || nthreads < 1 || !(p->threads = calloc((size_t)nthreads, sizeof(*p->threads)))) {
		snprintf(err, errlen, "pool: out of memory (or no threads asked for)");
		free(p);
		return NULL;
	}
	p->d = d;
	p->ops = *ops;
	p->n = nthreads;
	/* All states first: a failure then leaves no thread to stop. */
	for (int i = 0; i < nthreads; i++) {
		p->threads[i].pool = p;
		p->threads[i].state = ops->thread_new(arg, err, errlen);
		if (!p->threads[i].state)
			goto fail;
	}
	for (int i = 0; i < nthreads; i++) {
		rc = pthread_create(&p->threads[i].tid, NULL, pool_main, &p->threads[i]);
		if (rc != 0) {
			snprintf(err, errlen, "pool: cannot start thread %d of %d: %s", i + 1,
				 nthreads, strerror(rc));
			goto fail;
		}
		p->threads[i].started = 1;
		snprintf(name, sizeof(name), "pool-%d", i);
		pthread_setname_np(p->threads[i].tid, name);
	}
	return p;
fail:
	dispatch_close(d);
	pool_join_free(p);
	return NULL;
}

void
pool_stop(struct pool *p)
{
	if (!p)
		return;
	dispatch_close(p->d);
	pool_join_free(p);
}
