/* fwait: waits that work alike on a plain thread and on a fiber (fiber.h), which parks instead
 * of blocking its carrier: a sleep, a condition variable and a counting semaphore. */
#ifndef TMPROV_FWAIT_H
#define TMPROV_FWAIT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>

/* Sleeps ms (>= 0): a fiber parks, a thread sleeps. */
void fwait_sleep_ms(long ms);

struct fcond_waiter;

/* A condition variable whose waiters may be threads and fibers. */
struct fcond {
	pthread_cond_t cv;	     /* the threads' */
	struct fcond_waiter *fibers; /* the fibers', oldest first */
	struct fcond_waiter *fibers_tail;
};

void fcond_init(struct fcond *c);
void fcond_destroy(struct fcond *c);
/* With m held: releases m and waits for a signal or broadcast, or at most timeout_ms (< 0: no
 * limit), then takes m again. May return early (as pthread_cond_wait may): wait in a loop. */
void fcond_wait(struct fcond *c, pthread_mutex_t *m, long timeout_ms);
/* With the waiters' mutex held: wakes at least one waiter (the first fiber and a thread) /
 * every waiter. */
void fcond_signal(struct fcond *c);
void fcond_broadcast(struct fcond *c);

/* A counting semaphore on fcond: a place among n. */
struct fsem {
	pthread_mutex_t lock;
	struct fcond freed;
	unsigned count;
};

void fsem_init(struct fsem *s, unsigned n);
void fsem_destroy(struct fsem *s);
/* Takes a place; while none is free, looks at *stop (may be NULL) every 100 ms. A free place is
 * taken even when stopping: only a wait sees the stop. false when stopped while waiting. */
bool fsem_take(struct fsem *s, const atomic_bool *stop);
void fsem_post(struct fsem *s);
/* Places free now, for tests. */
unsigned fsem_free(struct fsem *s);

#endif
