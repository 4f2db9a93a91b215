/* group: a leader/follower queue for work that costs less done for many callers at once — the
 * first caller to arrive while no group runs takes everything queued then and runs it for all;
 * the others wait for their answer, then the next caller in the queue leads. */
#ifndef TMPROV_WORKER_GROUP_H
#define TMPROV_WORKER_GROUP_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

#include "metrics.h"
#include "stop.h"

/* A group holds at most this many requests: one statement or transaction stays short. */
enum { GROUP_MAX = 256 };

struct group_req;

/* Runs batch[0..n) (each group_req_arg) and sets what their callers read; called by the
 * leader, unlocked. */
typedef void (*group_run_fn)(void *ctx, struct group_req **batch, size_t n);
struct group;

/* A group's metrics (m NULL: none), declared by group_new: runs, a counter by result ("ok",
 * "failed"); items, a counter of the requests in them; waiting and running, gauges of the
 * requests queued and of those in the group being run (0: none). Each with its help text. */
struct group_metrics {
	struct metrics *m;
	const char *runs, *runs_help, *items, *items_help;
	const char *waiting, *waiting_help, *running, *running_help;
};

/* NULL when out of memory (or when a metric cannot be declared). */
struct group *group_new(group_run_fn run, void *ctx, const struct group_metrics *metrics);
/* Counts one run of n requests (from run). */
void group_count(struct group *g, bool ok, size_t n);
/* After every group_join has returned. NULL is a no-op. */
void group_free(struct group *g);

/* Queues arg and waits until a group including it has run (0), or until stop is in force while
 * it is still queued (-1: withdrawn, never run). Once taken into a group, it waits for that
 * group's end. stop may be NULL; it is read by the caller's thread only. */
int group_join(struct group *g, void *arg, struct stop_grace *stop);

/* The arg a request was queued with. */
void *group_req_arg(const struct group_req *r);

#endif
