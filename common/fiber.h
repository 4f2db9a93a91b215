/* fiber: user-space threads (a stack switch of our own on x86-64, ucontext elsewhere) run by a
 * few carrier threads, so that work waiting for an answer (a TM call) costs its stack's touched
 * pages, not a thread; park, wake and timers. */
#ifndef TMPROV_FIBER_H
#define TMPROV_FIBER_H

#include <stdbool.h>
#include <stddef.h>

struct fiber;
struct fiber_sched;

typedef void fiber_fn(void *arg);

/* Starts carriers threads (named name-N) that run the fibers spawned on the scheduler, each
 * fiber on a stack of stack_size bytes (rounded up to pages, plus a guard page). NULL with err
 * on a bad argument or a failure to start. */
struct fiber_sched *fiber_sched_new(const char *name, int carriers, size_t stack_size, char *err,
				    size_t errlen);
/* Waits until every fiber spawned has returned, then stops the carriers and frees the
 * scheduler. A fiber must not call it. NULL is a no-op. */
void fiber_sched_free(struct fiber_sched *s);
/* Runs fn(arg) on a new fiber (from any thread, or a fiber). 0, or -1 when out of memory
 * (nothing runs). */
int fiber_spawn(struct fiber_sched *s, fiber_fn *fn, void *arg);
/* Fibers spawned and not yet returned. Thread-safe. */
size_t fiber_sched_live(struct fiber_sched *s);
/* Park timers the scheduler holds: armed ones, and stale ones (of parks a wake ended first) not
 * yet dropped — they are when the table fills, so they are never more than its size, at most
 * twice the most ever armed at once (at least 64). For tests. Thread-safe. */
size_t fiber_sched_timers(struct fiber_sched *s);

/* The calling fiber, or NULL on a plain thread. */
struct fiber *fiber_self(void);
/* Suspends the calling fiber (fiber_self() != NULL) until fiber_wake or, when timeout_ms >= 0,
 * until that many ms have passed; its carrier runs other fibers meanwhile. It may also return
 * early (a wake meant for an earlier park): callers wait in a loop on their condition. The
 * fiber's log context (log.h) is kept across it. */
void fiber_park(long timeout_ms);
/* Makes f runnable if parked, or makes its next park return at once. From any thread. */
void fiber_wake(struct fiber *f);

#endif
