/* tmprobe: while TM counts as down, a thread of its own asks TM a harmless question at a bounded
 * rate, so that a paused worker finds TM back without sending its backlog at it; it plans each
 * probe in the breaker's view (tmretry.h: open, half-open while the probe is out). */
#include "tmprobe.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>

#include <string.h>

#include "clock.h"
#include "log.h"
#include "sql.h"

/* How often the thread looks at TM's health: a probe starts at most this late. */
#define PROBE_TICK_MS 100

struct tmprobe {
	pthread_t thread;
	struct tm_client *tc;
	struct tmhealth *health;
	struct dbpool *pool;	 /* may be NULL */
	struct metrics *metrics; /* may be NULL */
	atomic_bool stop;
	/* The account probed during this outage; "" before its first probe. */
	char account[TM_COMPANY_UID_MAX + 1];
};

/* An active account of ours into p->account, or TMPROBE_COMPANY_UID when there is none or the
 * database does not answer. */
static void
probe_account(struct tmprobe *p)
{
	struct db *db = p->pool != NULL ? dbpool_get(p->pool, &p->stop) : NULL;
	PGresult *res = NULL;
	char err[256];

	snprintf(p->account, sizeof(p->account), "%s", TMPROBE_COMPANY_UID);
	if (db == NULL)
		return;
	res = db_exec(db, SQL_PROBE_ACCOUNT, 0, NULL, err, sizeof(err));
	dbpool_report(p->pool, db, res != NULL);
	dbpool_put(p->pool, db);
	if (res == NULL)
		log_debug("TM probe: no account from the database (%s)", err);
	else if (PQntuples(res) == 1)
		snprintf(p->account, sizeof(p->account), "%s", PQgetvalue(res, 0, 0));
	PQclear(res);
}

/* One probe: query_account of a known account (or of one that does not exist). Any answer of
 * TM's (its FAILED too) marks TM up in tmhealth_record; no answer keeps it down. */
static void
probe_once(struct tmprobe *p)
{
	struct tm_request req = {.endpoint = TM_QUERY_ACCOUNT};
	struct tm_result res;

	char labels[48];

	if (p->account[0] == '\0')
		probe_account(p);
	req.company_uid = p->account;
	tmhealth_probe_begins(p->health);
	tm_client_call(p->tc, &req, &res);
	log_debug("TM probe: %s http=%ld %s", tm_outcome_name(res.outcome), res.http_status,
		  res.error);
	if (p->metrics != NULL) {
		snprintf(labels, sizeof(labels), "result=\"%s\"", tm_outcome_name(res.outcome));
		metrics_add(p->metrics, "tmprov_tm_probes_total", labels, 1);
	}
	tmhealth_record(p->health, p->account, &res);
}

static void *
probe_main(void *arg)
{
	struct tmprobe *p = arg;
	long next = 0, now, hold; /* the planned probe (clock_now_ms); 0: none */

	while (tmretry_sleep(PROBE_TICK_MS, &p->stop)) {
		if (tmhealth_available(p->health)) {
			next = 0;
			p->account[0] = '\0';
			continue;
		}
		/* Down: a probe a second at most, and never during TM's Retry-After. */
		now = clock_now_ms();
		hold = tmhealth_hold_ms(p->health);
		if (next == 0 || next < now + hold) {
			next = now + (next == 0 && hold < TMPROBE_INTERVAL_MS ? TMPROBE_INTERVAL_MS
									      : hold);
			tmhealth_probe_planned(p->health, next - now);
		}
		if (now < next)
			continue;
		probe_once(p);
		next = clock_now_ms() + TMPROBE_INTERVAL_MS;
		tmhealth_probe_planned(p->health, TMPROBE_INTERVAL_MS);
	}
	return NULL;
}

struct tmprobe *
tmprobe_start(const struct tm_client_opts *opts, struct tmhealth *h, struct dbpool *pool,
	      struct metrics *m, char *err, size_t errlen)
{
	struct tmprobe *p = calloc(1, sizeof(*p));

	if (p == NULL) {
		snprintf(err, errlen, "tmprobe: out of memory");
		return NULL;
	}
	atomic_init(&p->stop, false);
	p->health = h;
	p->pool = pool;
	p->metrics = m;
	p->tc = tm_client_new(opts, err, errlen);
	if (p->tc == NULL)
		goto fail;
	if (pthread_create(&p->thread, NULL, probe_main, p) != 0) {
		snprintf(err, errlen, "tmprobe: cannot start its thread");
		goto fail;
	}
	return p;
fail:
	tm_client_free(p->tc);
	free(p);
	return NULL;
}

void
tmprobe_request_stop(struct tmprobe *p)
{
	if (p != NULL)
		atomic_store(&p->stop, true);
}

void
tmprobe_free(struct tmprobe *p)
{
	if (p == NULL)
		return;
	tmprobe_request_stop(p);
	pthread_join(p->thread, NULL);
	tm_client_free(p->tc);
	free(p);
}
