/* exec: runs one command to a durable result — idempotency by command id, the per-type logic
 * (cmd_types.h), TM calls with intents and retries, one transaction for the result and its
 * outcome event, DLQ copies of what cannot be processed. The loop only hands it jobs. */
#ifndef TMPROV_WORKER_EXEC_H
#define TMPROV_WORKER_EXEC_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "job.h"
#include "metrics.h"
#include "stop.h"

enum exec_status { EXEC_DONE, EXEC_ABANDONED };

struct exec_ctx;    /* process-wide: database pool, intent writer, TM health, DLQ, policies */
struct exec_thread; /* per command run (pool.h): the guard queue head it runs, its stop grace */

/* c (the worker's table, wconfig.h) and m are borrowed and must outlive the context (m may be
 * NULL). DLQ copies go through a producer of exec's own, whose delivery reports it serves itself
 * (dlq.h). Starts the intent writer and the DLQ thread. NULL with err on a bad setting or a
 * failure to start. */
struct exec_ctx *exec_new(const struct cfg *c, struct metrics *m, char *err, size_t errlen);
/* argon2id hashes at once: TMPROV_HASH_CONCURRENCY, 0 meaning the online CPUs; at least 1. */
long exec_hash_concurrency(const struct cfg *c);
/* The checks exec_new makes of settings that only make sense together (TMPROV_RETRY_BASE not
 * above TMPROV_RETRY_CAP, the join URL template, ...), for start-up's configuration errors:
 * 0, or -1 with err naming the key. */
int exec_cfg_check(const struct cfg *c, char *err, size_t errlen);
/* After every exec_run has returned. NULL is a no-op. */
void exec_free(struct exec_ctx *ctx);
/* The same with the DLQ's flush bounded by dlq_flush_ms (dlq_free_within). */
void exec_free_within(struct exec_ctx *ctx, int dlq_flush_ms);

/* TM calls start only while lease is held (stop.h; the consumer's, borrowed). Set before the
 * first job runs. */
void exec_set_lease(struct exec_ctx *ctx, const struct lease *lease);

/* fn(arg) is called after each commit that wrote an outbox row (publisher_kick). */
void exec_set_on_commit(struct exec_ctx *ctx, void (*fn)(void *), void *arg);

struct exec_thread *exec_thread_new(struct exec_ctx *ctx, char *err, size_t errlen);
void exec_thread_free(struct exec_thread *t);

/* Runs one job to a durable result: EXEC_DONE once its outcome (or rejection) is committed in
 * PostgreSQL and any DLQ copy is delivered. Blocks through TM retries and database outages.
 * Returns EXEC_ABANDONED only when *stop becomes true before the result is durable. */
enum exec_status exec_run(struct exec_thread *t, struct job *job, const atomic_bool *stop);

/* For the loop's pause decisions and /readyz. Thread-safe. */
/* The i-th value of tmprov_commands_total's outcome label, NULL past the last (every value
 * exec counts a command under). */
const char *exec_outcome_name(size_t i);
bool exec_tm_available(struct exec_ctx *ctx); /* false while TM is considered down */
bool exec_db_available(struct exec_ctx *ctx); /* false while PostgreSQL is unreachable */
bool exec_dlq_failed(struct exec_ctx *ctx);   /* the DLQ producer failed for good */
/* The TM health tracker (tmretry.h), for the prober; lives as long as ctx. */
struct tmhealth *exec_tm_health(struct exec_ctx *ctx);
/* The gate of TM calls (tmgate.h) and the database pool, for the prober and the state report;
 * they live as long as ctx. */
struct tmgate *exec_tm_gate(struct exec_ctx *ctx);
struct dbpool *exec_db_pool(struct exec_ctx *ctx);

#endif
