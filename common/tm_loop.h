/* tm_loop: TM calls driven by one thread through libcurl's multi interface, so that many can be
 * in flight at the cost of a transfer each, not of a thread each; every call keeps tm_client's
 * guarantees (it is a tm_client's call, run by the loop: tm_client_begin/_end). */
#ifndef TMPROV_TM_LOOP_H
#define TMPROV_TM_LOOP_H

#include <stddef.h>

#include "tm_client.h"

struct tm_loop;

/* A call's end, on the loop's thread: res is valid only during the call, which must not block
 * (hand the result over and return; it may submit another call). */
typedef void (*tm_loop_done_fn)(void *arg, const struct tm_result *res);

/* Starts the loop's thread; opts as tm_client_new's (copied). Queries and updates share the
 * loop's kept-alive connections; create_account, delete_account and remote_schedule each get a
 * fresh one (tm_endpoint_reuses_connection). NULL with err on a bad option or a failure to
 * start. */
struct tm_loop *tm_loop_new(const struct tm_client_opts *opts, char *err, size_t errlen);

/* Waits for the calls in flight to end (each within TMPROV_TM_TIMEOUT), calling their done,
 * then stops the thread; after every tm_loop_submit has returned. NULL is a no-op. */
void tm_loop_free(struct tm_loop *l);

/* Starts one attempt of req (borrowed until it returns). 0: done(arg, res) will be called
 * exactly once, from the loop's thread. -1: nothing was sent and done will not be called —
 * req is invalid (res as tm_client_call's), or the loop is stopping or out of memory
 * (res->outcome TM_NOT_SENT, res->error says). Thread-safe. */
int tm_loop_submit(struct tm_loop *l, const struct tm_request *req, tm_loop_done_fn done, void *arg,
		   struct tm_result *res);

/* tm_client_call's contract, through the loop: submits req and waits for its end. 0 with res
 * as TM answered (or as the call failed; tm_loop_answer_lost()'s result for an answer that could
 * not be kept), -1 as tm_loop_submit's. The caller's thread waits on a condition variable, not
 * on the call's socket; a fiber (fiber.h) parks. */
int tm_loop_call(struct tm_loop *l, const struct tm_request *req, struct tm_result *res);

/* tm_loop_call's, with the answer on the heap from its arrival only: a call in flight holds no
 * result (2 KiB each), only the loop's transfer. 0: *res is TM's answer (or the call's
 * failure), the caller's to free — or NULL when it arrived and no memory could be had to keep
 * it: for the caller an answer lost, TM may have acted (tm_loop_answer_lost() says so). -1 as
 * tm_loop_submit's, *res on the heap saying why (NULL when out of memory for that too). */
int tm_loop_take(struct tm_loop *l, const struct tm_request *req, struct tm_result **res);

/* The result of an answer that could not be kept (TM_AMBIGUOUS, may have acted), which
 * tm_loop_call gives in its place. */
const struct tm_result *tm_loop_answer_lost(void);

/* For tests of that path: n more of the answers tm_loop_take receives next (whichever call's,
 * when several are in flight) are dropped as if no memory could be had to keep them. */
void tm_loop_forget_answers(struct tm_loop *l, unsigned n);

/* TMPROV_TM_URL as the loop calls it (the audit trail's URLs start with it: tm_audit_url). */
const char *tm_loop_base_url(const struct tm_loop *l);

/* Calls running or waiting to start, for tests and metrics. Thread-safe. */
size_t tm_loop_in_flight(struct tm_loop *l);

#endif
