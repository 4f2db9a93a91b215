/* wenv: the world of a worker integration test — a fresh database with the migrations, a
 * private tmprov-devkafka with topics of its own, a private tmsim and tmprov-worker(s) wired to
 * them — plus what the tests do in it: send commands, wait for outcome events and DLQ copies,
 * query rows and tmsim's call log, restart PostgreSQL. Helpers fail the running cmocka test
 * (with the worker's log tail) instead of returning errors where a test could not go on. */
#ifndef TMPROV_TEST_WENV_H
#define TMPROV_TEST_WENV_H

#include <stddef.h>

#include <jansson.h>
#include <libpq-fe.h>

#include "kafka_util.h"
#include "kcoll.h"
#include "kprod.h"
#include "sim.h"
#include "testdb.h"
#include "worker.h"

#define WENV_TIMEOUT_MS 30000 /* default wait for outcomes */
/* The librdkafka settings every worker gets (TMPROV_KAFKA_PROPS); a test that sets its own
 * TMPROV_KAFKA_PROPS starts from these. */
#define WENV_KAFKA_PROPS "session.timeout.ms=6000,heartbeat.interval.ms=1000"
#define WENV_STOP_MS	 30000 /* a SIGTERM'd worker must have exited by then */
#define WENV_READY_MS	 20000

struct wenv {
	char tag[32];
	struct testdb db;
	PGconn *pg;
	struct ku_devkafka dk;
	struct sim *sim;
	char group[96], tcmd[96], tevt[96], tdlq[96];
	struct kprod *prod;
	struct kcoll *events; /* tm.events equivalent, indexed by commandid */
	struct kcoll *dlq;    /* DLQ, indexed by "partition:offset" of tmprov.origin.* */
	char *settings[WORKER_ENV_MAX + 1]; /* the workers' environment, NULL-terminated */
	size_t nsettings;
	struct worker *w; /* the first worker */
};

/* What a test may change in its world before it starts (wenv_setup_opts). */
struct wenv_opts {
	int partitions;		    /* of each topic; 0: 4 */
	const char *const *sim_env; /* more tmsim "KEY=value" settings, or NULL */
};

/* Sets everything up for test binary tag (letters, digits, '_') and starts one worker with the
 * default settings (see wenv.c) overridden by extra ("KEY=value", NULL-terminated, may be
 * NULL), waiting for its /readyz. 0, or -1 with err. */
int wenv_setup(struct wenv **out, const char *tag, const char *const *extra, char *err,
	       size_t errlen);
/* The same with opts (NULL: the defaults wenv_setup uses). */
int wenv_setup_opts(struct wenv **out, const char *tag, const struct wenv_opts *opts,
		    const char *const *extra, char *err, size_t errlen);
/* Stops the first worker with SIGTERM (0 only if it exits 0 within WENV_STOP_MS), then the
 * rest, and drops the database. NULL: 0. */
int wenv_teardown(struct wenv *e);
/* Another worker with the same settings plus extra, started and ready. 0 or -1 with err. */
int wenv_worker_start(struct wenv *e, const char *name, const char *const *extra,
		      struct worker **out, char *err, size_t errlen);
/* The same without waiting for its /readyz (which may need TM). */
int wenv_worker_start_unready(struct wenv *e, const char *name, const char *const *extra,
			      struct worker **out, char *err, size_t errlen);
/* Restarts w (stopped or killed) and waits for /readyz; fails the test if it cannot. */
void wenv_worker_restart(struct wenv *e, struct worker *w);

/* Queues val as one message on the commands topic with key (NULL: none); d (may be NULL)
 * says where it landed once wenv_flush returned. Fails the test on error. */
void wenv_send_raw(struct wenv *e, const char *key, const void *val, size_t len,
		   struct kdelivery *d);
/* The same with headers hdrs (NULL: none; taken whatever happens). */
void wenv_send_headers(struct wenv *e, const char *key, const void *val, size_t len,
		       rd_kafka_headers_t *hdrs, struct kdelivery *d);
/* Queues the command cmdjson_text(id, type, subject, data) keyed by subject; data is stolen. */
void wenv_send(struct wenv *e, const char *id, const char *type, const char *subject, json_t *data);
/* Waits until everything queued is delivered; fails the test otherwise. */
void wenv_flush(struct wenv *e);

/* Waits until each of ids[0..n) has an outcome event. Returns how many have one. */
size_t wenv_wait_outcomes(struct wenv *e, const char *const *ids, size_t n, int timeout_ms);
/* Waits (WENV_TIMEOUT_MS) for the outcome of command id and checks what every outcome must
 * be: Kafka key = CE subject = subject, commandid = id, source tmprov, specversion 1.0, the id
 * the outbox row holds, valid per schemas/event.schema.json, and of type type (NULL: any).
 * Returns the event (borrowed, lives as long as e); fails the test otherwise. */
const json_t *wenv_outcome(struct wenv *e, const char *id, const char *subject, const char *type);
/* Outcome messages read for id; *distinct (may be NULL) gets the number of distinct event
 * ids among them. */
size_t wenv_outcome_messages(struct wenv *e, const char *id, size_t *distinct);
/* Outcome messages of a given CE type whose commandid starts with prefix. */
size_t wenv_outcomes_of_type(struct wenv *e, const char *prefix, const char *type);
/* Waits for the DLQ copy of the message d says was sent (tmprov.origin.partition and
 * .offset), checking tmprov.origin.topic; NULL when none came within timeout_ms. */
const struct kmsg *wenv_dlq_wait(struct wenv *e, const struct kdelivery *d, int timeout_ms);
/* DLQ copies of d's message read so far (a copy must be made once, but a worker restart may
 * re-send it). */
size_t wenv_dlq_count(struct wenv *e, const struct kdelivery *d);

/* Runs sql with NULL-terminated text parameters on e's database and returns the first column
 * of the first row (malloc'd; NULL for SQL NULL or no row). Reconnects once when the
 * connection was lost (PostgreSQL restarted). Fails the test on an SQL error. */
char *wenv_sql(struct wenv *e, const char *sql, ...) __attribute__((sentinel));
/* The same, as a number (-1 for NULL or no row). */
long wenv_sql_long(struct wenv *e, const char *sql, ...) __attribute__((sentinel));

/* Polls (every 5 ms, timeout_ms at most) until the outbox holds n outcome rows (command.held
 * left out) of commands whose id is LIKE like; returns the count last seen. */
long wenv_outbox_wait(struct wenv *e, const char *like, long n, int timeout_ms);

/* tmsim's calls of endpoint (NULL: all) whose parameter param equals value (param NULL: all
 * calls of the endpoint). Fails the test when tmsim does not answer. */
long wenv_sim_calls(struct wenv *e, const char *endpoint, const char *param, const char *value);
/* The same, counting only calls that took effect at TM (not replaced by an error or HTML
 * answer, which tmsim gives instead of running the call). */
long wenv_sim_effective(struct wenv *e, const char *endpoint, const char *param, const char *value);
/* One pass over tmsim's calls of endpoint: an object mapping each value of parameter param to
 * the number of calls that took effect with it (new reference). For checks over thousands of
 * commands, where a wenv_sim_effective per command would re-read the call log each time. */
json_t *wenv_sim_effective_by(struct wenv *e, const char *endpoint, const char *param);
/* The count for value in such an object (0 when absent). */
long wenv_count_of(const json_t *counts, const char *value);
/* {"calls":[...]}'s array (new reference) of the calls of endpoint (NULL: all). */
json_t *wenv_sim_list(struct wenv *e, const char *endpoint);
/* Sets tmsim faults (a /_sim/faults query); fails the test when refused. */
void wenv_sim_faults(struct wenv *e, const char *query);

/* Runs pg_ctl ACTION (e.g. "restart") on the test cluster (pg_ctl from tprog, $TMPROV_PG_DATA),
 * as the postgres user when root, waiting for it. 0, or -1 with err. */
int wenv_pg_ctl(const char *action, char *err, size_t errlen);
/* The same with pg_ctl's shutdown mode ("fast", "immediate"). */
int wenv_pg_ctl_mode(const char *action, const char *mode, char *err, size_t errlen);

/* Fails the running test with the worker's log tail when cond is false. */
#define wenv_assert(e, cond, ...)                                                                  \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, __VA_ARGS__);                                              \
			fprintf(stderr, "\n");                                                     \
			wenv_fail(e, #cond, __FILE__, __LINE__);                                   \
		}                                                                                  \
	} while (0)
void wenv_fail(struct wenv *e, const char *what, const char *file, int line);

#endif
