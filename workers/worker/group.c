/* group: a leader/follower queue for work that costs less done for many callers at once — the
 * first caller to arrive while no group runs takes everything queued then and runs it for all;
 * the others wait for their answer, then the next caller in the queue leads. */
#include "group.h"

#include <stdlib.h>

#include "fwait.h"

enum req_state { REQ_QUEUED, REQ_TAKEN, REQ_DONE };

struct group_req {
	void *arg;
	enum req_state state;
	struct fcond wake; /* its group ran, or it is the head and may lead */
	struct group_req *next;
};

struct group {
	pthread_mutex_t lock;
	struct group_req *head, **tail;
	size_t queued;
	bool leading; /* a group is running */
	group_run_fn run;
	void *ctx;
	struct group_metrics metrics;
};

static void
group_gauge(struct group *g, const char *name, size_t v)
{
	if (g->metrics.m != NULL)
		metrics_set(g->metrics.m, name, "", (double)v);
}

static int
group_declare(const struct group_metrics *gm)
{
	const char *const defs[][3] = {{gm->runs, "counter", gm->runs_help},
				       {gm->items, "counter", gm->items_help},
				       {gm->waiting, "gauge", gm->waiting_help},
				       {gm->running, "gauge", gm->running_help}};

	for (size_t i = 0; i < sizeof(defs) / sizeof(defs[0]); i++)
		if (metrics_declare(gm->m, defs[i][0], defs[i][1], defs[i][2], NULL, 0) != 0)
			return -1;
	metrics_touch(gm->m, gm->runs, "result=\"ok\"");
	metrics_touch(gm->m, gm->runs, "result=\"failed\"");
	metrics_touch(gm->m, gm->items, "");
	metrics_set(gm->m, gm->waiting, "", 0);
	metrics_set(gm->m, gm->running, "", 0);
	return 0;
}

struct group *
group_new(group_run_fn run, void *ctx, const struct group_metrics *metrics)
{
	struct group *g;

	if (metrics->m != NULL && group_declare(metrics) != 0)
		return NULL;
	g = calloc(1, sizeof(*g));
	if (g == NULL)
		return NULL;
	pthread_mutex_init(&g->lock, NULL);
	g->tail = &g->head;
	g->run = run;
	g->ctx = ctx;
	g->metrics = *metrics;
	return g;
}

void
group_count(struct group *g, bool ok, size_t n)
{
	if (g->metrics.m == NULL)
		return;
	metrics_add(g->metrics.m, g->metrics.runs, ok ? "result=\"ok\"" : "result=\"failed\"", 1);
	metrics_add(g->metrics.m, g->metrics.items, "", (double)n);
}

void
group_free(struct group *g)
{
	if (g == NULL)
		return;
	pthread_mutex_destroy(&g->lock);
	free(g);
}

void *
group_req_arg(const struct group_req *r)
{
	return r->arg;
}

/* Called locked, after a change of the queue by delta. */
static void
group_queued(struct group *g, long delta)
{
	g->queued = (size_t)((long)g->queued + delta);
	group_gauge(g, g->metrics.waiting, g->queued);
}

/* Takes what is queued now (at most GROUP_MAX), runs it, marks it done and wakes the next
 * leader. Called locked, by a queued caller while no group runs. */
static void
group_lead(struct group *g)
{
	struct group_req *batch[GROUP_MAX];
	size_t n = 0;

	while (g->head != NULL && n < GROUP_MAX) {
		struct group_req *r = g->head;

		g->head = r->next;
		r->state = REQ_TAKEN;
		batch[n++] = r;
	}
	if (g->head == NULL)
		g->tail = &g->head;
	group_queued(g, -(long)n);
	g->leading = true;
	pthread_mutex_unlock(&g->lock);
	group_gauge(g, g->metrics.running, n);
	g->run(g->ctx, batch, n);
	group_gauge(g, g->metrics.running, 0);
	pthread_mutex_lock(&g->lock);
	for (size_t i = 0; i < n; i++) {
		batch[i]->state = REQ_DONE;
		fcond_signal(&batch[i]->wake);
	}
	g->leading = false;
	if (g->head != NULL)
		fcond_signal(&g->head->wake);
}

/* Takes r (queued) out of the queue. Called locked. */
static void
group_withdraw(struct group *g, struct group_req *r)
{
	struct group_req **pp = &g->head;

	while (*pp != r)
		pp = &(*pp)->next;
	*pp = r->next;
	if (g->tail == &r->next)
		g->tail = pp;
	group_queued(g, -1);
	/* It may have been woken to lead: the next one leads instead. */
	if (!g->leading && g->head != NULL)
		fcond_signal(&g->head->wake);
}

int
group_join(struct group *g, void *arg, struct stop_grace *stop)
{
	struct group_req r = {.arg = arg, .state = REQ_QUEUED};
	int rc = 0;

	fcond_init(&r.wake);
	pthread_mutex_lock(&g->lock);
	*g->tail = &r;
	g->tail = &r.next;
	group_queued(g, 1);
	while (r.state != REQ_DONE) {
		if (r.state == REQ_QUEUED && stop != NULL && stop_grace_over(stop)) {
			group_withdraw(g, &r);
			rc = -1;
			break;
		}
		if (r.state == REQ_QUEUED && !g->leading) {
			group_lead(g); /* r is in it unless GROUP_MAX were queued before it */
			continue;
		}
		/* Timed, so that a stop request is seen without a broadcast for it. */
		fcond_wait(&r.wake, &g->lock, 100);
	}
	pthread_mutex_unlock(&g->lock);
	fcond_destroy(&r.wake);
	return rc;
}
