/* Fault matrix, PostgreSQL rows (issue 11): P1 stopped -m immediate and restarted 20 s later,
 * P2 backends terminated every few seconds, P3 black-holed (network namespace + iptables
 * DROP), P5 the same commands delivered to two consumer groups at once, P6 the database
 * read-only for a while. Each ends with the invariants of tests/support/fmatrix.h. */
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <jansson.h>

#include "../support/blackhole.h"
#include "../support/cbtest.h"
#include "../support/fmatrix.h"
#include "../support/tprog.h"
#include "clock.h"

static struct fm *F;

/* Workers still running, as a violation for each that died. */
static void
workers_alive(const char *during)
{
	for (int i = 0; i < F->nw; i++)
		if (!worker_running(F->w[i]))
			fm_violation("worker %d died during %s (status %d)", i + 1, during,
				     worker_status(F->w[i]));
}

#define P1_DOWN_MS 20000

/* P1: PostgreSQL stopped with -m immediate (a crash: no clean goodbye to any client) in the
 * middle of the load and started again 20 s later. */
static void
test_p1_pg_crash(void **state)
{
	struct fload l;
	struct fm_inv inv;
	char err[512];
	long at, t_up;
	int rc;

	(void)state;
	fm_row_begin(F, "P1");
	wenv_sim_faults(F->e, "latency_ms=40");
	fload_send(F, &l, "p1", "cuq", 700);
	fload_wait_done(F, &l, (long)l.n / 4, 30000);
	at = fload_done(F, &l);
	rc = wenv_pg_ctl_mode("stop", "immediate", err, sizeof(err));
	wenv_assert(F->e, rc == 0, "pg_ctl stop: %s", err);
	fm_sleep_ms(P1_DOWN_MS);
	/* restart, not start: on a stopped server it starts it with the options it last ran
	 * with (postmaster.opts: the stack's port and socket directory). */
	rc = wenv_pg_ctl_mode("restart", "fast", err, sizeof(err));
	wenv_assert(F->e, rc == 0, "pg_ctl restart: %s", err);
	t_up = clock_now_ms();
	workers_alive("the PostgreSQL outage");
	fm_check(F, &l, FM_DONE_MS, &inv);
	if (inv.failed != inv.parked)
		fm_violation("%ld commands failed besides parked creates (%s)",
			     inv.failed - inv.parked, inv.failed_sample);
	fm_row_end(F,
		   "%zu commands, PostgreSQL down %d s at %ld done, all done %.1f s after restart, "
		   "TM calls %ld, failed %ld, parked %ld, dup creates %ld",
		   inv.n, P1_DOWN_MS / 1000, at, (double)(clock_now_ms() - t_up) / 1000.0,
		   inv.calls, inv.failed, inv.parked, inv.creates_dup);
	fload_free(&l);
}

#define P2_CHUNKS 8

/* P2: every few seconds, every backend of the test database is terminated. */
static void
test_p2_backends_killed(void **state)
{
	struct fload l;
	struct fm_inv inv;
	long rounds = 0, killed = 0;

	(void)state;
	fm_row_begin(F, "P2");
	wenv_sim_faults(F->e, "latency_ms=40");
	fload_build(&l, "p2", "cuq", 700);
	/* The load arrives in chunks so that terminations keep meeting work in progress. */
	for (size_t c = 0; c < P2_CHUNKS; c++) {
		fload_send_range(F, &l, l.n * c / P2_CHUNKS, l.n * (c + 1) / P2_CHUNKS);
		fm_sleep_ms(fm_rand(1000, 2500));
		killed += wenv_sql_long(F->e,
					"SELECT count(pg_terminate_backend(pid)) FROM "
					"pg_stat_activity WHERE datname = current_database() AND "
					"pid <> pg_backend_pid()",
					NULL);
		rounds++;
	}
	workers_alive("the terminations");
	fm_check(F, &l, FM_DONE_MS, &inv);
	if (inv.failed != inv.parked)
		fm_violation("%ld commands failed besides parked creates (%s)",
			     inv.failed - inv.parked, inv.failed_sample);
	fm_row_end(F,
		   "%zu commands, %ld rounds terminated %ld backends, TM calls %ld, failed %ld, "
		   "parked %ld, dup creates %ld, all done after %.1f s",
		   inv.n, rounds, killed, inv.calls, inv.failed, inv.parked, inv.creates_dup,
		   inv.done_s);
	fload_free(&l);
}

/* Every worker says PostgreSQL is unreachable (tmprov_db_available 0). */
static int
all_db_down(void)
{
	for (int i = 0; i < F->nw; i++)
		if (worker_metric(F->w[i], "tmprov_db_available", NULL) != 0)
			return 0;
	return 1;
}

#define P3_CUT_MS    20000
#define P3_DETECT_MS 15000 /* "detected within ~10 s" */

/* P3: the workers reach PostgreSQL through a network namespace that then drops every packet
 * (no reset, no answer) for 20 s: they notice within ~10 s, no thread stays blocked, and they
 * carry on once packets pass again. Last of its binary: its workers keep the path's URL. */
static struct blackhole *P3B; /* freed by p3_teardown whatever the row's end */
static struct cbproc P3CB;    /* tmprov-callback behind the same path; pid 0: none */

static int
p3_teardown(void **state)
{
	fm_row_teardown(state);
	if (P3CB.pid > 0)
		cbproc_stop(&P3CB);
	P3CB.pid = 0;
	blackhole_free(P3B);
	P3B = NULL;
	return 0;
}

#define P3_CB_MS 10000 /* "answers temporarily unavailable fast": within the detection bound */
/* Once packets pass again, events are published again within this: a worker's reconnect (a
 * connect timeout, 5 s, plus a backoff of at most 5 s), while the sessions lost in the hole,
 * the old lock holder's too, have been ended by the server's keepalives (10 s) long before. */
#define P3_RESUME_MS 20000

/* Milliseconds from the path's reopening (the database's clock, at) until an outcome event is
 * published again, i.e. some publisher holds the advisory lock and reaches the broker; -1 if
 * not within P3_RESUME_MS. */
static long
p3_publishing_resumed(const char *at)
{
	long t0 = clock_now_ms();

	while (clock_now_ms() - t0 < P3_RESUME_MS) {
		if (wenv_sql_long(
			F->e, "SELECT count(*) FROM outbox WHERE published_at >= $1::timestamptz",
			at, NULL) > 0)
			return clock_now_ms() - t0;
		fm_sleep_ms(100);
	}
	return -1;
}

/* One Section 6 login of the seeded user; *secs gets how long the answer took. The answer's
 * body (malloc'd, "" when none came within 15 s). */
static char *
p3_login(double *secs)
{
	char cred[65], raw[512];
	struct cbhttp r = {0};
	char *body;
	int n;

	cbtest_credential("pw p3", cred);
	n = snprintf(raw, sizeof(raw),
		     "GET /tm/auth?email=u1%%40p3cb.example&password=%s&service_company_uid=%s "
		     "HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n",
		     cred, CBTEST_PARTNER);
	cbhttp_raw(P3CB.port, raw, (size_t)n, &r, 15000);
	*secs = r.seconds;
	body = strdup(r.body ? r.body : "");
	cbhttp_free(&r);
	return body;
}

/* Starts tmprov-callback on url with one user to log in, and checks it logs in. */
static void
p3_callback_start(const char *url)
{
	double secs;
	char *body;

	cbseed_account(F->e->pg, "p3cb", "p3cb-uid");
	cbseed_user(F->e->pg, "p3cb", "p3cb-u1", "u1@p3cb.example", "Ada", "Lovelace", "pw p3");
	cbproc_start(&P3CB, url, NULL);
	body = p3_login(&secs);
	if (strstr(body, "SUCCEED") == NULL)
		fm_violation("tmprov-callback did not log the user in before the cut: %.200s",
			     body);
	free(body);
}

static void
test_p3_pg_blackhole(void **state)
{
	struct blackhole *b;
	struct fload l;
	struct fm_inv inv;
	char why[512], url[2300];
	const char *extra[] = {url, NULL};
	const char *port = getenv("TMPROV_PG_PORT");
	long t_cut, detect_ms = -1, at, during, resume_ms;
	double cb_secs = 0, open_s;
	char *cb_body, *opened;

	(void)state;
	fm_row_begin(F, "P3");
	if (port == NULL)
		fm_row_skip("TMPROV_PG_PORT is not set (run under tests/run-tests)");
	b = P3B = blackhole_new("127.0.0.1", atoi(port), why, sizeof(why));
	if (b == NULL)
		fm_row_skip("cannot black-hole PostgreSQL here: %s", why);
	/* The workers again, now with their database behind the namespace (in a key=value
	 * string the last host and port win). */
	snprintf(url, sizeof(url), "TMPROV_DATABASE_URL=%s host=%s port=%d", F->e->db.conninfo,
		 blackhole_host(b), blackhole_port(b));
	for (int i = 0; i < F->nw; i++) {
		char name[32];

		if (worker_stop(F->w[i], WENV_STOP_MS, NULL) != 0)
			fm_violation("worker %d did not stop before the row", i + 1);
		worker_free(F->w[i]);
		snprintf(name, sizeof(name), "fpg-p3-%d", i + 1);
		wenv_assert(F->e,
			    wenv_worker_start(F->e, name, extra, &F->w[i], why, sizeof(why)) == 0,
			    "worker %d through the namespace: %s", i + 1, why);
	}
	F->e->w = F->w[0];
	p3_callback_start(url + strlen("TMPROV_DATABASE_URL="));
	wenv_sim_faults(F->e, "latency_ms=40");
	fload_send(F, &l, "p3", "cuq", 700);
	fload_wait_done(F, &l, (long)l.n / 4, 30000);
	at = fload_done(F, &l);
	wenv_assert(F->e, blackhole_cut(b, 1) == 0, "the DROP rule was refused");
	t_cut = clock_now_ms();
	while (clock_now_ms() - t_cut < P3_CUT_MS) {
		if (detect_ms < 0 && all_db_down())
			detect_ms = clock_now_ms() - t_cut;
		fm_sleep_ms(250);
	}
	during = fload_done(F, &l) - at;
	cb_body = p3_login(&cb_secs);
	if (strcasestr(cb_body, "temporarily unavailable") == NULL || cb_secs > P3_CB_MS / 1000.0)
		fm_violation("tmprov-callback answered in %.1f s: %.200s", cb_secs,
			     *cb_body ? cb_body : "(nothing within 15 s)");
	free(cb_body);
	wenv_assert(F->e, blackhole_cut(b, 0) == 0, "the DROP rule could not be removed");
	open_s = fm_row_seconds();
	opened = wenv_sql(F->e, "SELECT clock_timestamp()::text", NULL);
	resume_ms = p3_publishing_resumed(opened);
	free(opened);
	if (resume_ms < 0)
		fm_violation("no outcome event published within %d s of the path reopening",
			     P3_RESUME_MS / 1000);
	workers_alive("the black hole");
	if (detect_ms < 0 || detect_ms > P3_DETECT_MS)
		fm_violation("PostgreSQL black-holed: %s",
			     detect_ms < 0 ? "not detected within 20 s" : "detected too late");
	fm_check(F, &l, FM_DONE_MS, &inv);
	if (inv.failed != inv.parked)
		fm_violation("%ld commands failed besides parked creates (%s)",
			     inv.failed - inv.parked, inv.failed_sample);
	if (cbproc_stop(&P3CB) != 0)
		fm_violation("tmprov-callback did not exit 0 on SIGTERM");
	P3CB.pid = 0;
	fm_row_end(F,
		   "%zu commands, PostgreSQL black-holed %d s at %ld done (%ld done meanwhile), "
		   "detected after %ld ms, callback answered in %.1f s, events published again "
		   "%ld ms after the path reopened, all done %.1f s after it, TM calls %ld, failed "
		   "%ld, parked %ld, dup creates %ld",
		   inv.n, P3_CUT_MS / 1000, at, during, detect_ms, cb_secs, resume_ms,
		   inv.done_s - open_s, inv.calls, inv.failed, inv.parked, inv.creates_dup);
	fload_free(&l);
}

/* Pairs of TM calls for the same command whose answers overlapped (the second arrived less
 * than latency_ms after the first), and the calls beyond the first for a command. */
static void
overlaps(long latency_ms, long *concurrent, long *repeated)
{
	json_t *calls = wenv_sim_list(F->e, NULL), *last = json_object(), *call;
	size_t i;

	*concurrent = *repeated = 0;
	json_array_foreach(calls, i, call)
	{
		const json_t *p = json_object_get(call, "params");
		const char *ep = json_string_value(json_object_get(call, "endpoint"));
		const char *key = json_string_value(json_object_get(p, "company_uid"));
		long at = (long)json_integer_value(json_object_get(call, "at_ms"));
		char k[512];
		json_t *prev;

		if (key == NULL)
			key = json_string_value(json_object_get(p, "company_name"));
		if (ep == NULL || key == NULL || strncmp(key, "p5", 2) != 0)
			continue;
		/* One command per endpoint and subject in the load: the key names it. */
		snprintf(k, sizeof(k), "%s %s", ep, key);
		prev = json_object_get(last, k);
		if (prev != NULL) {
			(*repeated)++;
			*concurrent += at - (long)json_integer_value(prev) < latency_ms;
		}
		json_object_set_new(last, k, json_integer(at));
	}
	json_decref(last);
	json_decref(calls);
}

/* P5: the same commands delivered to two workers at once (a worker of a second consumer group
 * reads the same topic): no command is ever at TM twice at the same time. */
static void
test_p5_two_groups(void **state)
{
	struct fload l;
	struct fm_inv inv;
	char group[128];
	const char *extra[] = {group, NULL};
	long concurrent, repeated;
	int other, st;

	(void)state;
	fm_row_begin(F, "P5");
	snprintf(group, sizeof(group), "TMPROV_KAFKA_GROUP=%s.other", F->e->group);
	other = fm_worker_add(F, "fpg-other", extra);
	wenv_sim_faults(F->e, "latency_ms=40");
	fload_send(F, &l, "p5", "cuq", 667);
	fm_check(F, &l, FM_DONE_MS, &inv);
	/* The second group may still be reading what the first finished. */
	fm_sleep_ms(3000);
	st = fm_worker_remove(F, other);
	if (st != 0)
		fm_violation("the second group's worker exited %d on SIGTERM", st);
	overlaps(40, &concurrent, &repeated);
	if (concurrent)
		fm_violation("%ld TM calls overlapped another for the same command", concurrent);
	fm_row_end(F,
		   "%zu commands read by two groups, concurrent TM calls per command %ld, calls "
		   "repeated %ld, TM calls %ld, parked %ld, dup creates %ld",
		   inv.n, concurrent, repeated, inv.calls, inv.parked, inv.creates_dup);
	fload_free(&l);
}

/* Makes new sessions of the test database read-only (ro) or writable again, and ends the
 * current ones so that the workers' next connections get the setting. */
static long
pg_read_only(int ro)
{
	char *db = wenv_sql(F->e, "SELECT current_database()", NULL), sql[256];
	PGresult *res;
	int ok;

	snprintf(sql, sizeof(sql), "ALTER DATABASE \"%s\" %s", db,
		 ro ? "SET default_transaction_read_only = on"
		    : "RESET default_transaction_read_only");
	free(db);
	/* DDL returns no row (wenv_sql wants one) and takes no parameter. */
	res = PQexec(F->e->pg, sql);
	ok = PQresultStatus(res) == PGRES_COMMAND_OK;
	PQclear(res);
	wenv_assert(F->e, ok, "%s: %s", sql, PQerrorMessage(F->e->pg));
	return wenv_sql_long(F->e,
			     "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity WHERE "
			     "datname = current_database() AND pid <> pg_backend_pid()",
			     NULL);
}

#define P6_RO_MS 10000

/* P6: the database read-only for 10 s: writes fail as retryable, nothing ends failed, no
 * offset is committed past work not done (nothing lost). */
static void
test_p6_read_only(void **state)
{
	struct fload l;
	struct fm_inv inv;
	long at, during;

	(void)state;
	fm_row_begin(F, "P6");
	wenv_sim_faults(F->e, "latency_ms=40");
	fload_send(F, &l, "p6", "cuq", 700);
	fload_wait_done(F, &l, (long)l.n / 4, 30000);
	pg_read_only(1);
	at = fload_done(F, &l);
	fm_sleep_ms(P6_RO_MS);
	during = fload_done(F, &l) - at;
	pg_read_only(0);
	workers_alive("the read-only period");
	fm_check(F, &l, FM_DONE_MS, &inv);
	if (inv.failed != inv.parked)
		fm_violation("%ld commands failed besides parked creates (%s)",
			     inv.failed - inv.parked, inv.failed_sample);
	fm_row_end(F,
		   "%zu commands, read-only %d s at %ld done (%ld done meanwhile), TM calls %ld, "
		   "failed %ld, parked %ld, dup creates %ld, all done after %.1f s",
		   inv.n, P6_RO_MS / 1000, at, during, inv.calls, inv.failed, inv.parked,
		   inv.creates_dup, inv.done_s);
	fload_free(&l);
}

int
main(void)
{
	const struct CMUnitTest rows[] = {
	    FM_ROW(test_p1_pg_crash),
	    FM_ROW(test_p2_backends_killed),
	    FM_ROW(test_p5_two_groups),
	    FM_ROW(test_p6_read_only),
	    cmocka_unit_test_teardown(test_p3_pg_blackhole, p3_teardown),
	};

	return fm_run(&F, "fpg", NULL, rows, sizeof(rows) / sizeof(rows[0]));
}
