/* exitguard: ends the process when a shutdown outlasts its bound — the last resort against a
 * call that never returns (librdkafka's group leave, a flush), once every step had its budget. */
#ifndef TMPROV_WORKER_EXITGUARD_H
#define TMPROV_WORKER_EXITGUARD_H

#include <stdbool.h>

/* What the guard calls at expiry: _exit by default (tests pass their own). */
typedef void (*exitguard_exit_fn)(int status);

struct exitguard;

/* Arms a guard that, unless disarmed by then, at until_ms (clock_now_ms()) logs an error naming
 * the step under way, writes the backtrace of the thread that armed it (crashlog.h: where the
 * step is stuck) and calls on_expiry(status) (NULL: _exit), status being the exit status
 * the shutdown would have ended with. Nothing is lost by that exit: what was not committed is
 * redelivered, the outbox is published by the next publisher. NULL when the guard's thread
 * cannot start (logged; the shutdown goes on unguarded). */
struct exitguard *exitguard_arm(long until_ms, int status, exitguard_exit_fn on_expiry);
/* Names the step under way (a static string), for the error at expiry. NULL g: no-op. */
void exitguard_step(struct exitguard *g, const char *step);
/* Whether the guard expired (its on_expiry was called). */
bool exitguard_expired(struct exitguard *g);
/* Stops the guard (if not yet expired) and frees it. NULL: no-op. */
void exitguard_disarm(struct exitguard *g);

#endif
