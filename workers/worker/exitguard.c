/* exitguard: ends the process when a shutdown outlasts its bound — the last resort against a
 * call that never returns (librdkafka's group leave, a flush), once every step had its budget. */
#include "exitguard.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "clock.h"
#include "crashlog.h"
#include "deadline.h"
#include "log.h"

struct exitguard {
	pthread_t thread;
	pthread_t shutdown; /* the thread that armed it: the one that may be stuck */
	pthread_mutex_t lock;
	pthread_cond_t wake;
	long until_ms;
	int status;
	bool disarmed;
	atomic_int expired;
	_Atomic(const char *) step;
	exitguard_exit_fn on_expiry;
};

/* How long the expiry waits for the stuck thread's backtrace. */
#define TRACE_WAIT_MS 1000

static void
exit_now(int status)
{
	_exit(status);
}

static void *
guard_main(void *arg)
{
	struct exitguard *g = arg;
	long left;

	pthread_mutex_lock(&g->lock);
	while (!g->disarmed && (left = g->until_ms - clock_now_ms()) > 0) {
		struct timespec ts;

		/* The condition waits on CLOCK_MONOTONIC: a wall clock set back delays nothing. */
		deadline_after_on(CLOCK_MONOTONIC, &ts, left < 1000 ? left : 1000);
		pthread_cond_timedwait(&g->wake, &g->lock, &ts);
	}
	if (g->disarmed) {
		pthread_mutex_unlock(&g->lock);
		return NULL;
	}
	pthread_mutex_unlock(&g->lock);
	atomic_store(&g->expired, 1);
	log_error("shutdown: still at \"%s\" past its bound: exiting without it (what was not "
		  "committed is redelivered; the outbox is published by the next publisher)",
		  atomic_load(&g->step));
	/* Where it is stuck, for whoever reads the log after. */
	if (!crashlog_thread_backtrace(g->shutdown, "the shutdown's thread past its bound",
				       TRACE_WAIT_MS))
		log_warn("shutdown: no backtrace of the stuck thread (none under a sanitizer)");
	g->on_expiry(g->status);
	return NULL;
}

struct exitguard *
exitguard_arm(long until_ms, int status, exitguard_exit_fn on_expiry)
{
	struct exitguard *g = calloc(1, sizeof(*g));
	pthread_condattr_t ca;

	if (g == NULL) {
		log_warn("shutdown: out of memory for the exit guard: shutting down unguarded");
		return NULL;
	}
	g->until_ms = until_ms;
	g->shutdown = pthread_self();
	g->status = status;
	g->on_expiry = on_expiry ? on_expiry : exit_now;
	atomic_init(&g->expired, 0);
	atomic_init(&g->step, "the drain");
	pthread_mutex_init(&g->lock, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&g->wake, &ca);
	pthread_condattr_destroy(&ca);
	if (pthread_create(&g->thread, NULL, guard_main, g) != 0) {
		log_warn("shutdown: cannot start the exit guard: shutting down unguarded");
		pthread_cond_destroy(&g->wake);
		pthread_mutex_destroy(&g->lock);
		free(g);
		return NULL;
	}
	return g;
}

void
exitguard_step(struct exitguard *g, const char *step)
{
	if (g != NULL)
		atomic_store(&g->step, step);
}

bool
exitguard_expired(struct exitguard *g)
{
	return g != NULL && atomic_load(&g->expired);
}

void
exitguard_disarm(struct exitguard *g)
{
	if (g == NULL)
		return;
	pthread_mutex_lock(&g->lock);
	g->disarmed = true;
	pthread_cond_signal(&g->wake);
	pthread_mutex_unlock(&g->lock);
	pthread_join(g->thread, NULL);
	pthread_cond_destroy(&g->wake);
	pthread_mutex_destroy(&g->lock);
	free(g);
}
