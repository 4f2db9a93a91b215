/* tmgate: what a TM call of the worker passes before its intent: a place within the adaptive
 * limit of calls in flight (aimd.h), then a token of the group's rate (common/tmrate.h,
 * refilled with a connection borrowed from the pool only for the round trip); and its metrics. */
#include "tmgate.h"

#include <stdio.h>
#include <stdlib.h>

#include "aimd.h"
#include "backoff.h"
#include "cfgkeys.h"
#include "clock.h"
#include "log.h"
#include "tmrate.h"
#include "wconfig.h"

/* Backoff between refills that found the database down. */
static const struct backoff gate_db_backoff = {100, 2000};

struct tmgate {
	struct aimd limit;
	struct tmrate *rate;
	struct dbpool *pool; /* told when the database is lost or back */
	struct metrics *metrics;
	/* The refills' own connection (tmrate lets one thread refill at a time). Borrowed from
	 * the pool, a refill waited behind the commands' statements while the bucket, full,
	 * dropped the tokens of that wait: a 2,000-customer import at TMPROV_TM_RATE=500 reached
	 * 0.80 of the rate on a busy machine (make bench); with its own connection, 0.94. */
	struct db *db;
};

static void gate_gauges(struct tmgate *g);

static enum tmrate_result
gate_borrow(void *arg, const atomic_bool *stop, PGconn **conn)
{
	struct tmgate *g = arg;
	char err[256];

	if (stop_requested(stop))
		return TMRATE_STOPPED;
	/* Connected on first use, and again after a loss (one attempt: the caller backs off). */
	if ((db_conn(g->db) == NULL || PQstatus(db_conn(g->db)) != CONNECTION_OK) &&
	    db_connect(g->db, err, sizeof(err)) != 0)
		log_debug("rate bucket: %s", err);
	*conn = db_conn(g->db);
	if (*conn == NULL || PQstatus(*conn) != CONNECTION_OK) {
		dbpool_set_available(g->pool, false);
		return TMRATE_DB_ERROR;
	}
	return TMRATE_OK;
}

static void
gate_give(void *arg, PGconn *conn, bool ok)
{
	struct tmgate *g = arg;

	(void)conn;
	if (ok)
		dbpool_set_available(g->pool, true);
}

struct tmgate *
tmgate_new(const struct cfg *c, struct dbpool *pool, struct metrics *m, char *err, size_t errlen)
{
	struct tmgate *g = calloc(1, sizeof(*g));
	struct db_options o;

	if (g == NULL) {
		snprintf(err, errlen, "tmgate: out of memory");
		return NULL;
	}
	aimd_init(&g->limit, 1, (unsigned)cfg_int(c, &KEY_TMPROV_WORKER_CONCURRENCY));
	g->pool = pool;
	g->metrics = m;
	db_options_from_cfg(&o, c, "tmprov-worker-rate");
	o.connect_attempts = 1; /* as the pool's: the caller backs off, seeing stop */
	g->rate = tmrate_from_cfg(c);
	g->db = db_new(cfg_str(c, &KEY_TMPROV_DATABASE_URL), NULL, 0);
	if (g->rate == NULL || g->db == NULL || db_set_options(g->db, &o) != 0) {
		tmgate_free(g);
		snprintf(err, errlen, "tmgate: out of memory");
		return NULL;
	}
	gate_gauges(g);
	return g;
}

void
tmgate_free(struct tmgate *g)
{
	if (g == NULL)
		return;
	aimd_destroy(&g->limit);
	tmrate_free(g->rate);
	db_free(g->db);
	free(g);
}

static void
gate_gauges(struct tmgate *g)
{
	unsigned limit, in_flight;

	if (g->metrics == NULL)
		return;
	aimd_snapshot(&g->limit, &limit, &in_flight);
	metrics_set(g->metrics, "tmprov_tm_concurrency_limit", "", limit);
	metrics_set(g->metrics, "tmprov_tm_calls_in_flight", "", in_flight);
}

bool
tmgate_slot(struct tmgate *g, const atomic_bool *stop, struct tmgate_pass *p)
{
	if (!aimd_enter(&g->limit, stop, &p->in_flight_before))
		return false;
	gate_gauges(g);
	return true;
}

bool
tmgate_token(struct tmgate *g, const atomic_bool *stop, struct tmgate_pass *p)
{
	const struct tmrate_conn via = {gate_borrow, gate_give, g};
	long waited = 0;
	enum tmrate_result r;

	for (unsigned i = 0; !p->token; i++) {
		r = tmrate_take_via(g->rate, &via, stop, &waited);
		if (r == TMRATE_STOPPED)
			return false;
		if (r == TMRATE_OK) {
			p->token = true;
			p->token_ms = clock_now_ms();
			break;
		}
		/* The pool marks the database down and logs it once; the consumer pauses. */
		log_debug("TM rate: %s; waiting", tmrate_error(g->rate));
		if (!stop_sleep(backoff_delay_ms(&gate_db_backoff, i), stop))
			return false;
	}
	if (waited > 0 && g->metrics != NULL) {
		metrics_add(g->metrics, "tmprov_tm_rate_waits_total", "", 1);
		metrics_add(g->metrics, "tmprov_tm_rate_wait_seconds_total", "", waited / 1000.0);
	}
	return true;
}

bool
tmgate_fresh(struct tmgate *g, const atomic_bool *stop, struct tmgate_pass *p)
{
	if (!p->token || clock_now_ms() - p->token_ms <= TMGATE_TOKEN_FRESH_MS)
		return true;
	p->token = false;
	if (g->metrics != NULL)
		metrics_add(g->metrics, "tmprov_tm_rate_stale_total", "", 1);
	return tmgate_token(g, stop, p);
}

/* What an attempt's result tells the limit: TM's 429 or 503, or no answer in time, is overload;
 * any other answer of TM's a latency sample; a call that never reached TM nothing. */
static enum aimd_signal
gate_signal(const struct tm_result *res)
{
	if (res == NULL || res->outcome == TM_NOT_SENT)
		return AIMD_NONE;
	if (res->http_status == 429 || res->http_status == 503 || res->outcome == TM_AMBIGUOUS)
		return AIMD_OVERLOAD;
	return tm_result_tm_answered(res) ? AIMD_ANSWERED : AIMD_NONE;
}

void
tmgate_leave(struct tmgate *g, struct tmgate_pass *p, const struct tm_result *res)
{
	aimd_leave(&g->limit, gate_signal(res), res ? res->elapsed_ms : 0, p->in_flight_before);
	/* A token is spent by a call; without one (an intent to record again) it stays the
	 * pass's. */
	if (res != NULL)
		p->token = false;
	gate_gauges(g);
}

void
tmgate_set_rate(struct tmgate *g, double rate_per_s)
{
	tmrate_set_rate(g->rate, rate_per_s);
}

void
tmgate_snapshot(struct tmgate *g, unsigned *limit, unsigned *in_flight, double *rate)
{
	aimd_snapshot(&g->limit, limit, in_flight);
	*rate = tmrate_rate(g->rate);
}
