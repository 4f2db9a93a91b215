/* dispatch: the jobs between the consumer and the pool. Per subject a FIFO of which only the
 * head may run, so one subject's commands take effect in topic order while different subjects
 * run concurrently; a runnable queue the pool takes from; the completed jobs the consumer loop
 * reaps; the in-flight count (submitted, not yet completed). Thread-safe. */
#ifndef TMPROV_WORKER_DISPATCH_H
#define TMPROV_WORKER_DISPATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "job.h"

/* How a job left the dispatcher (struct job.result). */
enum job_result {
	JOB_DONE,      /* the runner made its result durable */
	JOB_ABANDONED, /* the runner gave up (its stop flag was set) before that */
	JOB_CANCELLED, /* never ran: taken out by dispatch_cancel() */
};

struct dispatch;

/* NULL when out of memory. */
struct dispatch *dispatch_new(void);
/* Frees the dispatcher and every job it still holds; the pool must have stopped. */
void dispatch_free(struct dispatch *d);

/* Takes ownership of j (on success only) and queues it behind the earlier jobs of its
 * order_key ("" queues behind nothing). 0, or -1 when out of memory. */
int dispatch_submit(struct dispatch *d, struct job *j);

/* Blocks until a job may run and returns it (now running; the caller must hand it back with
 * dispatch_done()), or returns NULL once the dispatcher is closed. Jobs are handed out in the
 * order they became runnable. */
struct job *dispatch_take(struct dispatch *d);
/* As dispatch_take(), without waiting: NULL when no job may run now or when closed. */
struct job *dispatch_try_take(struct dispatch *d);
/* The runner finished j with result (JOB_DONE or JOB_ABANDONED): the next job of its subject
 * becomes runnable and j moves to the completed list. */
void dispatch_done(struct dispatch *d, struct job *j, enum job_result result);

/* Detaches and returns the completed jobs (oldest first, linked by qnext; the caller owns and
 * frees them), or NULL when there are none. */
struct job *dispatch_reap(struct dispatch *d);
/* Waits up to timeout_ms until some completed job waits to be reaped. 1 when one does, else
 * 0. */
int dispatch_wait_completed(struct dispatch *d, int timeout_ms);
/* Waits up to timeout_ms until nothing is in flight. 1 when idle, else 0. */
int dispatch_wait_idle(struct dispatch *d, int timeout_ms);

/* Jobs submitted and not yet completed (queued, runnable or running). */
size_t dispatch_inflight(struct dispatch *d);
/* The subjects the table holds (running or waiting) and its number of buckets. */
void dispatch_table_size(struct dispatch *d, size_t *subjects, size_t *buckets);
/* Jobs running now. */
size_t dispatch_running(struct dispatch *d);

/* Which jobs dispatch_cancel() and dispatch_stop() act on; called with the dispatcher locked, so
 * it must not call back into it. */
typedef bool (*dispatch_match_fn)(const struct job *j, void *arg);

/* Moves every matching job that has not started to the completed list as JOB_CANCELLED (a
 * later job of the same subject that does not match stays queued, in order). match NULL: all.
 * Returns how many. Runs over all queued jobs: for rebalances and shutdown, not per message. */
size_t dispatch_cancel(struct dispatch *d, dispatch_match_fn match, void *arg);
/* Sets the stop flag of every matching running job (match NULL: all). Returns how many. */
size_t dispatch_stop(struct dispatch *d, dispatch_match_fn match, void *arg);

/* Calls fn(arg) (from the thread calling dispatch_done, without the lock held) each time the
 * in-flight count drops to low: lets the consumer resume at once instead of at its next poll
 * timeout. fn NULL: no call. Set it before the pool starts. */
void dispatch_on_low(struct dispatch *d, size_t low, void (*fn)(void *), void *arg);

/* From now on dispatch_take() returns NULL in every thread (runnable jobs stay where they are
 * until cancelled or freed). */
void dispatch_close(struct dispatch *d);

#endif
