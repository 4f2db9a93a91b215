/* tmrate: the TM call rate of a whole consumer group (TMPROV_TM_RATE), as a token bucket in
 * PostgreSQL (tm_rate_bucket) that a process takes small batches from and spends locally. */
#include "tmrate.h"

#include <math.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cfgkeys.h"
#include "clock.h"
#include "fwait.h"

const struct cfg_key *const TMRATE_CONFIG_KEYS[] = {
    &KEY_TMPROV_TM_RATE,
    &KEY_TMPROV_TM_RATE_BURST,
};
const size_t TMRATE_CONFIG_NKEYS = CFG_KEYS_LEN(TMRATE_CONFIG_KEYS);

/* Tokens in the bucket after refilling it at statement time: what was left, plus rate x the
 * seconds since the last refill (never negative: a statement that waited for the row's lock
 * may have started before its holder), capped at the burst. $2 rate, $3 burst. */
#define TMRATE_REFILLED                                                                            \
	"LEAST($3::integer, b.level + $2::float8 * GREATEST(0::float8, extract(epoch FROM "        \
	"statement_timestamp() - b.refilled_at)::float8))"

/* One round trip, atomic under the row's lock: refill, grant min(want, whole tokens), keep the
 * rest. A group's first take finds a full bucket. $1 group, $4 want. Returns granted, tokens. */
static const char TMRATE_TAKE_SQL[] =
    "INSERT INTO tm_rate_bucket AS b (grp, level, granted, refilled_at)"
    " VALUES ($1, $3::integer - LEAST($4::integer, $3::integer), LEAST($4::integer, $3::integer),"
    " statement_timestamp())"
    " ON CONFLICT (grp) DO UPDATE SET"
    " granted = LEAST($4::integer, floor(" TMRATE_REFILLED "))::integer,"
    " level = " TMRATE_REFILLED " - LEAST($4::integer, floor(" TMRATE_REFILLED ")),"
    " refilled_at = GREATEST(b.refilled_at, statement_timestamp())"
    " RETURNING granted, level";

/* Longest single sleep while waiting for tokens: a stop is seen at least this often. */
enum { TMRATE_SLICE_MS = 50, TMRATE_ERR_MAX = 256 };

struct tmrate {
	pthread_mutex_t lock; /* local, rate, burst, err */
	/* Held by the one caller that refills (a round trip and its waits); the others wait for
	 * it, then spend its batch. A semaphore of one, not a mutex: a fiber holding it may park
	 * in those waits and resume on another thread (fwait.h). */
	struct fsem refill;
	char *group;
	double rate;
	unsigned burst;
	bool burst_given;
	unsigned local; /* tokens taken from the bucket, not spent yet */
	char err[TMRATE_ERR_MAX];
};

unsigned
tmrate_default_burst(double rate_per_s)
{
	double b = ceil(rate_per_s / 10.0);

	return b < 1 ? 1 : b > 1e6 ? 1000000u : (unsigned)b;
}

unsigned
tmrate_batch(double rate_per_s, unsigned burst)
{
	double b = ceil(rate_per_s / TMRATE_REFILLS_PER_S);
	unsigned n = b < 1 ? 1 : b > 1e6 ? 1000000u : (unsigned)b;

	if (burst < 1)
		burst = 1;
	return n > burst ? burst : n;
}

long
tmrate_wait_ms(double tokens, unsigned want, double rate_per_s)
{
	double missing = (double)want - tokens, ms;

	if (rate_per_s <= 0 || missing <= 0)
		return 1;
	ms = ceil(missing / rate_per_s * 1000.0);
	return ms < 1 ? 1 : ms > 60000 ? 60000 : (long)ms;
}

unsigned
tmrate_window_bound(double rate_per_s, unsigned burst, unsigned processes)
{
	if (burst == 0)
		burst = tmrate_default_burst(rate_per_s);
	return (unsigned)ceil(rate_per_s) + burst + processes * tmrate_batch(rate_per_s, burst);
}

unsigned
tmrate_call_bound(double rate_per_s, unsigned burst, unsigned processes, long lag_ms)
{
	return tmrate_window_bound(rate_per_s, burst, processes) +
	       (unsigned)ceil(rate_per_s * (lag_ms > 0 ? lag_ms : 0) / 1000.0);
}

struct tmrate *
tmrate_new(const char *group, double rate_per_s, unsigned burst)
{
	struct tmrate *r = calloc(1, sizeof(*r));

	if (r == NULL)
		return NULL;
	r->group = strdup(group ? group : "");
	if (r->group == NULL) {
		free(r);
		return NULL;
	}
	pthread_mutex_init(&r->lock, NULL);
	fsem_init(&r->refill, 1);
	r->burst_given = burst > 0;
	r->burst = burst;
	tmrate_set_rate(r, rate_per_s);
	return r;
}

struct tmrate *
tmrate_from_cfg(const struct cfg *c)
{
	return tmrate_new(cfg_str(c, &KEY_TMPROV_KAFKA_GROUP),
			  (double)cfg_int(c, &KEY_TMPROV_TM_RATE),
			  (unsigned)cfg_int(c, &KEY_TMPROV_TM_RATE_BURST));
}

void
tmrate_free(struct tmrate *r)
{
	if (r == NULL)
		return;
	pthread_mutex_destroy(&r->lock);
	fsem_destroy(&r->refill);
	free(r->group);
	free(r);
}

void
tmrate_set_rate(struct tmrate *r, double rate_per_s)
{
	pthread_mutex_lock(&r->lock);
	r->rate = rate_per_s > 0 ? rate_per_s : 0;
	if (!r->burst_given)
		r->burst = tmrate_default_burst(r->rate);
	pthread_mutex_unlock(&r->lock);
}

double
tmrate_rate(const struct tmrate *r)
{
	double v;

	pthread_mutex_lock((pthread_mutex_t *)&r->lock);
	v = r->rate;
	pthread_mutex_unlock((pthread_mutex_t *)&r->lock);
	return v;
}

const char *
tmrate_error(const struct tmrate *r)
{
	return r->err;
}

/* Spends one local token, or tells that the limit is off; false when there is none. */
static bool
tmrate_spend(struct tmrate *r)
{
	bool ok;

	pthread_mutex_lock(&r->lock);
	ok = r->rate <= 0 || r->local > 0;
	if (ok && r->rate > 0)
		r->local--;
	pthread_mutex_unlock(&r->lock);
	return ok;
}

static bool
tmrate_sleep(long ms, const atomic_bool *stop)
{
	while (ms > 0) {
		long slice = ms < TMRATE_SLICE_MS ? ms : TMRATE_SLICE_MS;

		if (stop != NULL && atomic_load(stop))
			return false;
		fwait_sleep_ms(slice);
		ms -= slice;
	}
	return stop == NULL || !atomic_load(stop);
}

/* One round trip: asks the bucket for a batch. Returns 0 with the grant added to the local
 * tokens (*wait_ms: 0), 0 with nothing granted and *wait_ms until a batch is there, or -1. */
static int
tmrate_refill(struct tmrate *r, PGconn *conn, long *wait_ms)
{
	char rate[32], burst[16], want[16];
	const char *params[4] = {r->group, rate, burst, want};
	unsigned b, w, granted;
	double tokens;
	PGresult *res;
	int rc = -1;

	pthread_mutex_lock(&r->lock);
	snprintf(rate, sizeof(rate), "%.6f", r->rate);
	b = r->burst;
	w = tmrate_batch(r->rate, b);
	pthread_mutex_unlock(&r->lock);
	snprintf(burst, sizeof(burst), "%u", b);
	snprintf(want, sizeof(want), "%u", w);
	res = PQexecParams(conn, TMRATE_TAKE_SQL, 4, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		snprintf(r->err, sizeof(r->err), "tm_rate_bucket: %s", PQerrorMessage(conn));
		goto out;
	}
	granted = (unsigned)strtoul(PQgetvalue(res, 0, 0), NULL, 10);
	tokens = strtod(PQgetvalue(res, 0, 1), NULL);
	pthread_mutex_lock(&r->lock);
	r->local += granted;
	*wait_ms = granted > 0 ? 0 : tmrate_wait_ms(tokens, w, r->rate);
	pthread_mutex_unlock(&r->lock);
	rc = 0;
out:
	PQclear(res);
	return rc;
}

/* Waits for the refill turn, seeing stop while waiting; false when stopped. */
static bool
tmrate_lock_refill(struct tmrate *r, const atomic_bool *stop)
{
	return fsem_take(&r->refill, stop);
}

/* The refiller's turn: round trips (each with a borrowed connection) and waits until the
 * bucket grants some tokens; the local tokens then serve this thread and the waiting ones. */
static enum tmrate_result
tmrate_refill_turn(struct tmrate *r, const struct tmrate_conn *via, const atomic_bool *stop)
{
	long wait_ms = 0;
	PGconn *conn = NULL;
	enum tmrate_result b;
	int rc;

	while (!tmrate_spend(r)) {
		if (wait_ms > 0 && !tmrate_sleep(wait_ms, stop))
			return TMRATE_STOPPED;
		b = via->borrow(via->arg, stop, &conn);
		if (b == TMRATE_DB_ERROR)
			snprintf(r->err, sizeof(r->err), "tm_rate_bucket: no database connection");
		if (b != TMRATE_OK)
			return b;
		rc = tmrate_refill(r, conn, &wait_ms);
		via->give(via->arg, conn, rc == 0);
		if (rc != 0)
			return TMRATE_DB_ERROR;
	}
	return TMRATE_OK;
}

enum tmrate_result
tmrate_take_via(struct tmrate *r, const struct tmrate_conn *via, const atomic_bool *stop,
		long *waited_ms)
{
	long start;
	enum tmrate_result res;

	if (tmrate_spend(r))
		return TMRATE_OK;
	start = clock_now_ms();
	if (!tmrate_lock_refill(r, stop)) {
		res = TMRATE_STOPPED;
		goto out;
	}
	res = tmrate_refill_turn(r, via, stop);
	fsem_post(&r->refill);
out:
	if (waited_ms != NULL)
		*waited_ms += clock_now_ms() - start;
	return res;
}

static enum tmrate_result
tmrate_fixed_borrow(void *arg, const atomic_bool *stop, PGconn **conn)
{
	(void)stop;
	*conn = arg;
	return TMRATE_OK;
}

static void
tmrate_fixed_give(void *arg, PGconn *conn, bool ok)
{
	(void)arg;
	(void)conn;
	(void)ok;
}

enum tmrate_result
tmrate_take(struct tmrate *r, PGconn *conn, const atomic_bool *stop, long *waited_ms)
{
	const struct tmrate_conn via = {tmrate_fixed_borrow, tmrate_fixed_give, conn};

	if (conn == NULL) {
		if (tmrate_spend(r))
			return TMRATE_OK;
		snprintf(r->err, sizeof(r->err), "tm_rate_bucket: no database connection");
		return TMRATE_DB_ERROR;
	}
	return tmrate_take_via(r, &via, stop, waited_ms);
}
