/* fmatrix: the fault matrix's machinery (tests/fault/): one world per binary (6 partitions, 2
 * workers), a load generator, worker control, the invariants every row ends with (nothing lost,
 * one event id per command, creates <= 1, order per subject, SIGTERM exits 0), one line a row. */
#ifndef TMPROV_TEST_FMATRIX_H
#define TMPROV_TEST_FMATRIX_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <jansson.h>

#include "wenv.h"

#define FM_WORKERS_MAX 4
#define FM_PARTITIONS  6
#define FM_WORKERS     2
#define FM_DONE_MS     60000 /* how long a row's load may take to finish after the fault */

/* The suite's world: e->w is w[0]; w[1..nw) are the others of the same group. */
struct fm {
	struct wenv *e;
	struct worker *w[FM_WORKERS_MAX];
	int nw;
};

/* What a suite binary changes in its world. */
struct fm_opts {
	const char *const *extra;   /* more worker settings, or NULL */
	const char *const *sim_env; /* more tmsim settings, or NULL */
};

/* Runs the rows (cmocka tests of one group named tag) in one world; each row must be declared
 * with FM_ROW so that a row that aborts still prints its FAIL line. Returns the exit status. */
int fm_run(struct fm **out, const char *tag, const struct fm_opts *opts,
	   const struct CMUnitTest *rows, size_t n);
int fm_row_teardown(void **state);
#define FM_ROW(fn) cmocka_unit_test_teardown(fn, fm_row_teardown)

/* ---- a row ---- */

/* Starts row name (e.g. "K1"): restarts any worker that is not running and waits until all
 * are ready, resets tmsim's faults, starts the clock. */
void fm_row_begin(struct fm *f, const char *name);
/* Adds one invariant violation (printf-like) to the row's verdict. */
void fm_violation(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Ends the row: stops every worker with SIGTERM (each must exit 0 within WENV_STOP_MS, else a
 * violation), then prints "PASS NAME: figures (T s)" or "FAIL NAME: violations; figures" and
 * fails the test on a violation. figures: printf-like. */
void fm_row_end(struct fm *f, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Ends the row like fm_row_end, except that without a violation it prints "SKIP NAME:
 * unchecked; figures" and skips the test: the row holds an assertion that cannot be checked
 * here (unchecked says which and why), so it must not count as passed. */
void fm_row_end_skip(struct fm *f, const char *unchecked, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* Prints "SKIP NAME: reason" and skips the test. */
void fm_row_skip(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Seconds since fm_row_begin. */
double fm_row_seconds(void);

/* ---- load ---- */

/* Commands for nsubj subjects PREFIX-<i>: each gets the commands of pattern in order (c
 * account.create, u account.update, q account.query, p user.upsert, s meeting.schedule of that
 * user, d account.delete); sent round by round (every subject's first, then every second...). */
struct fload {
	char prefix[16];
	const char *pattern;
	int nsubj;
	size_t n;
	char (*ids)[48];
	const char **idp;
	int *subj;  /* subject number of ids[i] */
	char *kind; /* pattern letter of ids[i] */
};

/* Builds and sends the load (flushes); fails the test on error. */
void fload_send(struct fm *f, struct fload *l, const char *prefix, const char *pattern, int nsubj);
/* Only builds it (the ids), to be sent with fload_send_range. */
void fload_build(struct fload *l, const char *prefix, const char *pattern, int nsubj);
/* Sends ids [from, to) of a built load and flushes. */
void fload_send_range(struct fm *f, struct fload *l, size_t from, size_t to);
void fload_free(struct fload *l);
/* The subject of subject number i ("PREFIX-%05d"). */
void fload_subject(const struct fload *l, int i, char *buf, size_t len);
/* Commands of l with a terminal status in PostgreSQL. */
long fload_done(struct fm *f, const struct fload *l);
/* Waits until at least n commands of l are done; returns the count seen. */
long fload_wait_done(struct fm *f, const struct fload *l, long n, int timeout_ms);

/* ---- workers ---- */

/* Starts another worker of the group (index returned), ready; extra: its own settings. */
int fm_worker_add(struct fm *f, const char *name, const char *const *extra);
/* Stops (SIGTERM) and frees worker i, which must be the last one. Returns its exit status. */
int fm_worker_remove(struct fm *f, int i);

/* Sends a fault command to the suite's tmprov-devkafka ("down", "up", "rtt MS": every answer
 * of its broker delayed by MS, 0 ends it; "errors APIKEY ERR N");
 * fails the test when it is refused. */
void fm_kafka_fault(struct fm *f, const char *cmd);

/* ---- invariants ---- */

/* A snapshot for "done ids are not re-sent": the commands of l done at this moment, then
 * tmsim's call count. Take it right after the fault (the kill). */
struct fm_mark {
	json_t *done; /* command id -> true */
	long seq;     /* calls tmsim had received */
};
void fm_mark_take(struct fm *f, const struct fload *l, struct fm_mark *m);
void fm_mark_free(struct fm_mark *m);
/* TM calls made after m for commands of l that were done at m (a violation each). */
long fm_resent(struct fm *f, const struct fload *l, const struct fm_mark *m);

/* What the checker counted. */
struct fm_inv {
	size_t n, lost, multi_id, open, misorder;
	long creates_dup; /* commands whose create_account took effect more than once */
	long calls;	  /* TM calls since the row began */
	long failed, parked, possible_dup;
	double done_s;		 /* seconds from the row's start until every outcome was seen */
	char failed_sample[256]; /* "ID: reason" of the first command.failed, "" when none */
};
/* Waits (timeout_ms) for every outcome of l and checks the invariants, adding a violation for
 * each breach. */
void fm_check(struct fm *f, const struct fload *l, int timeout_ms, struct fm_inv *inv);
/* Outcome events of l of a CE type, and those among them whose data has flag true. */
long fm_outcomes(struct fm *f, const struct fload *l, char kind, const char *type,
		 const char *flag);
/* The CE type of command id's first outcome event, "" when none came. */
const char *fm_outcome_type(struct fm *f, const char *id);
/* The outcome of l's command of kind for subject i (borrowed), NULL when none. */
const json_t *fm_outcome_of(struct fm *f, const struct fload *l, int subj, char kind);

/* Sleeps ms milliseconds. */
void fm_sleep_ms(long ms);
/* A pseudo-random integer in [lo, hi] (seeded from TMPROV_TEST_SEED or the clock; the seed is
 * printed so a failing run can be repeated). */
long fm_rand(long lo, long hi);

#endif
