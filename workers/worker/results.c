/* results: the result statements (SQL_FINISH*) of commands finished at one moment, committed
 * together in one transaction by whichever of their pool threads gets there first (group.h). */
#include "results.h"

#include <stdio.h>
#include <stdlib.h>

#include "group.h"
#include "log.h"
#include "sql.h"

struct result_req {
	struct db_call call;
	PGresult *res;
	enum results_rc rc;
};

/* Only the group's leader uses db. */
struct results {
	struct group *group;
	struct db *db;
	struct dbpool *pool;
};

static const struct group_metrics results_metrics = {
    .runs = "tmprov_result_commits_total",
    .runs_help = "transactions of the result writer (commands finished at one moment), by result",
    .items = "tmprov_result_commands_total",
    .items_help = "results in the result writer's transactions",
    .waiting = "tmprov_result_waiting",
    .waiting_help = "results waiting for the next transaction",
    .running = "tmprov_result_group_in_flight",
    .running_help = "results in the result writer's transaction being run (0: none)",
};

/* The group's run: one transaction (a pipeline committed at its sync) for the results queued
 * now; a single one is simply run. */
static void
results_run(void *ctx, struct group_req **group, size_t n)
{
	struct results *rs = ctx;
	struct result_req *batch[GROUP_MAX];
	struct db_call calls[GROUP_MAX];
	PGresult *out[GROUP_MAX];
	char err[256];
	bool ok;

	for (size_t i = 0; i < n; i++) {
		batch[i] = group_req_arg(group[i]);
		calls[i] = batch[i]->call;
		batch[i]->rc = RESULTS_ALONE;
	}
	if (n == 1) {
		out[0] = db_exec(rs->db, calls[0].stmt, calls[0].nparams, calls[0].params, err,
				 sizeof(err));
		ok = out[0] != NULL;
	} else
		ok = db_exec_atomic(rs->db, calls, n, out, err, sizeof(err)) == 0;
	group_count(rs->group, ok, n);
	if (!ok) {
		dbpool_scrub_error(err);
		log_warn("results of %zu command(s) not committed together: %s; each is written "
			 "alone",
			 n, err);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		batch[i]->res = out[i]; /* ownership passes to the caller */
		batch[i]->rc = RESULTS_DONE;
	}
}

enum results_rc
results_commit(struct results *rs, int stmt, int nparams, const char *const *params,
	       struct stop_grace *stop, PGresult **res)
{
	struct result_req r = {.call = {stmt, nparams, params}, .rc = RESULTS_ALONE};

	*res = NULL;
	/* While the database is down the pool's statements wait for it, each with its stop. */
	if (!dbpool_available(rs->pool))
		return RESULTS_ALONE;
	if (stop_grace_over(stop) || group_join(rs->group, &r, stop) != 0)
		return RESULTS_STOPPED;
	*res = r.res;
	return r.rc;
}

struct results *
results_new(const struct cfg *c, struct dbpool *pool, struct metrics *m, char *err, size_t errlen)
{
	struct results *rs = calloc(1, sizeof(*rs));
	struct group_metrics gm = results_metrics;

	if (rs == NULL)
		goto nomem;
	rs->pool = pool;
	gm.m = m;
	/* A failed group falls back to the pool, which waits: one connection attempt. */
	rs->db = dbpool_session_new(c, "tmprov-worker results", SQL_STATEMENTS, SQL_COUNT);
	if (rs->db == NULL)
		goto nomem;
	rs->group = group_new(results_run, rs, &gm);
	if (rs->group == NULL)
		goto nomem;
	return rs;
nomem:
	snprintf(err, errlen, "results: out of memory");
	results_free(rs);
	return NULL;
}

void
results_free(struct results *rs)
{
	if (rs == NULL)
		return;
	group_free(rs->group);
	db_free(rs->db);
	free(rs);
}
