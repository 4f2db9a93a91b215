/* lookup: the lookups of commands ready at one moment, run as one statement (SQL_LOOKUP_BATCH)
 * by whichever of their pool threads gets there first (leader/follower); and the cmd_state of a
 * lookup's row. */
#include "lookup.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "group.h"
#include "log.h"
#include "sql.h"

/* One caller's lookup, queued in the group. */
struct lookup_req {
	struct lookup_item item;
	enum lookup_result result;
};

/* Only the group's leader uses db. */
struct lookup_batcher {
	struct group *group;
	struct db *db;
	struct dbpool *pool;
};

static const struct group_metrics lookup_metrics = {
    .runs = "tmprov_lookup_statements_total",
    .runs_help = "lookup statements run by the batcher (one per batch), by result",
    .items = "tmprov_lookup_commands_total",
    .items_help = "commands in the batcher's lookup statements, answered or not",
    .waiting = "tmprov_lookup_waiting",
    .waiting_help = "commands waiting for the next lookup batch",
    .running = "tmprov_lookup_batch_in_flight",
    .running_help = "commands in the lookup batch being run (0: none)",
};

/* Column col of row as an owned string in *out, NULL for SQL NULL (no allocation then). 0, or
 * -1 out of memory. */
static int
column_dup(const PGresult *res, int row, int col, char **out)
{
	bool null = PQgetisnull(res, row, col);

	*out = null ? NULL : strdup(PQgetvalue(res, row, col));
	return null || *out != NULL ? 0 : -1;
}

int
lookup_state(const PGresult *res, int row, const char *subject, struct cmd_state *st)
{
	memset(st, 0, sizeof(*st));
#define COL(c)	  PQgetvalue(res, row, (c))
#define ISNULL(c) PQgetisnull(res, row, (c))
	st->cmd_exists = !ISNULL(SQLL_CMD_STATUS);
	/* The schema's CHECK allows no other status; one that is not ours counts as unfinished. */
	if (!cmd_status_parse(COL(SQLL_CMD_STATUS), &st->cmd_status))
		st->cmd_status = CMD_STATUS_RECEIVED;
	snprintf(st->cmd_sha256_hex, sizeof(st->cmd_sha256_hex), "%s", COL(SQLL_CMD_SHA256_HEX));
	st->intent_open = !ISNULL(SQLL_INTENT_ATTEMPT);
	st->intent_attempt = (unsigned)strtoul(COL(SQLL_INTENT_ATTEMPT), NULL, 10);
	st->intent_max = (unsigned)strtoul(COL(SQLL_INTENT_MAX), NULL, 10);
	st->acc_exists = !ISNULL(SQLL_ACC_COMPANY_UID);
	st->acc_active = strcmp(COL(SQLL_ACC_STATUS), "active") == 0;
	snprintf(st->company_uid, sizeof(st->company_uid), "%s", COL(SQLL_ACC_COMPANY_UID));
	/* NULL without an account (cmd_state_text reads it as ""). */
	if (column_dup(res, row, SQLL_ACC_COMPANY_NAME, &st->company_name) != 0 ||
	    column_dup(res, row, SQLL_ACC_EMAIL, &st->email) != 0) {
		log_error("lookup of a command of %s: out of memory", subject);
		cmd_state_clear(st);
		return -1;
	}
	st->rooms = strtol(COL(SQLL_ACC_ROOMS), NULL, 10);
	st->participants = strtol(COL(SQLL_ACC_PARTICIPANTS), NULL, 10);
	st->user_exists = !ISNULL(SQLL_USER_STATUS);
	st->user_active = strcmp(COL(SQLL_USER_STATUS), "active") == 0;
	st->email_taken = strcmp(COL(SQLL_EMAIL_TAKEN), "t") == 0;
	st->meeting_exists = !ISNULL(SQLL_MEETING_SUBJECT);
	st->meeting_ours = strcmp(COL(SQLL_MEETING_SUBJECT), subject) == 0;
	st->subject_queued = strcmp(COL(SQLL_SUBJECT_QUEUED), "t") == 0;
#undef COL
#undef ISNULL
	return 0;
}

char *
lookup_batch_json(struct lookup_item *items, size_t n)
{
	json_t *rows = json_array(), *row;
	char *text = NULL;
	size_t sent = 0;

	if (rows == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		const char *const *p = items[i].params;

		items[i].sent = false;
		items[i].rows = 0;
		/* NULL when a value is not UTF-8 (the command's own SQL_LOOKUP will say why). */
		row = json_pack("{s:I, s:s, s:s, s:s?, s:s?, s:s?}", "k", (json_int_t)i, "id",
				p[LOOKUP_ID], "subject", p[LOOKUP_SUBJECT], "user_id",
				p[LOOKUP_USER_ID], "email", p[LOOKUP_EMAIL], "meeting_id",
				p[LOOKUP_MEETING_ID]);
		if (row == NULL)
			continue;
		if (json_array_append_new(rows, row) != 0)
			goto out;
		items[i].sent = true;
		sent++;
	}
	if (sent > 0)
		text = json_dumps(rows, JSON_COMPACT);
out:
	if (text == NULL)
		for (size_t i = 0; i < n; i++)
			items[i].sent = false;
	json_decref(rows);
	return text;
}

size_t
lookup_batch_spread(const PGresult *res, struct lookup_item *items, size_t n)
{
	size_t once = 0;
	char *end;

	if (PQnfields(res) != SQLL_COUNT + 1)
		return 0;
	for (int row = 0; row < PQntuples(res); row++) {
		const char *kv = PQgetvalue(res, row, SQLL_COUNT);
		unsigned long k = strtoul(kv, &end, 10);

		if (PQgetisnull(res, row, SQLL_COUNT) || *kv == '\0' || *end != '\0' || k >= n ||
		    !items[k].sent)
			continue;
		/* Out of memory: as a second row, not answered once (it looks itself up). */
		if (items[k].rows++ == 0 &&
		    lookup_state(res, row, items[k].params[LOOKUP_SUBJECT], items[k].st) != 0)
			items[k].rows++;
	}
	for (size_t i = 0; i < n; i++) {
		if (items[i].rows > 1)
			cmd_state_clear(items[i].st); /* not its answer after all */
		once += items[i].sent && items[i].rows == 1;
	}
	return once;
}

/* One command alone: SQL_LOOKUP on the batcher's connection. */
static void
lookup_one(struct lookup_batcher *b, struct lookup_req *r)
{
	char err[256];
	PGresult *res =
	    db_exec(b->db, SQL_LOOKUP, LOOKUP_NPARAMS, r->item.params, err, sizeof(err));

	r->result = LOOKUP_ALONE;
	if (res != NULL && PQntuples(res) == 1 &&
	    lookup_state(res, 0, r->item.params[LOOKUP_SUBJECT], r->item.st) == 0) {
		r->result = LOOKUP_DONE;
	} else if (res == NULL) {
		dbpool_scrub_error(err);
		log_warn("%s; the command looks itself up", err);
	}
	group_count(b->group, res != NULL, 1);
	PQclear(res);
}

/* The batch's one statement; every request gets LOOKUP_DONE or LOOKUP_ALONE. */
static void
lookup_many(struct lookup_batcher *b, struct lookup_req **batch, size_t n)
{
	struct lookup_item items[GROUP_MAX];
	char err[256], *text;
	PGresult *res = NULL;
	size_t done = 0;

	for (size_t i = 0; i < n; i++)
		items[i] = batch[i]->item;
	text = lookup_batch_json(items, n);
	if (text != NULL) {
		const char *params[1] = {text};

		res = db_exec(b->db, SQL_LOOKUP_BATCH, 1, params, err, sizeof(err));
		if (res == NULL) {
			dbpool_scrub_error(err);
			log_warn("lookup batch of %zu: %s; each command looks itself up", n, err);
		} else
			done = lookup_batch_spread(res, items, n);
		group_count(b->group, res != NULL, n);
	}
	for (size_t i = 0; i < n; i++)
		batch[i]->result =
		    res != NULL && items[i].sent && items[i].rows == 1 ? LOOKUP_DONE : LOOKUP_ALONE;
	if (res != NULL && done < n)
		log_warn("lookup batch of %zu: %zu command(s) not answered once; they look "
			 "themselves up",
			 n, n - done);
	PQclear(res);
	free(text);
}

/* The group's run: one statement for the lookups queued now. */
static void
lookup_run(void *ctx, struct group_req **group, size_t n)
{
	struct lookup_batcher *b = ctx;
	struct lookup_req *batch[GROUP_MAX];

	for (size_t i = 0; i < n; i++)
		batch[i] = group_req_arg(group[i]);
	if (n == 1)
		lookup_one(b, batch[0]);
	else
		lookup_many(b, batch, n);
}

enum lookup_result
lookup_batched(struct lookup_batcher *b, const char *const params[LOOKUP_NPARAMS],
	       struct cmd_state *st, const atomic_bool *stop)
{
	struct lookup_req r = {.item = {.params = params, .st = st}, .result = LOOKUP_ALONE};
	struct stop_grace g = {.stop = stop, .grace_ms = 0, .seen_ms = -1};

	/* While the database is down the pool's statements wait for it, each with its stop. */
	if (!dbpool_available(b->pool))
		return LOOKUP_ALONE;
	if (stop_requested(stop) || group_join(b->group, &r, &g) != 0)
		return LOOKUP_STOPPED;
	return r.result;
}

struct lookup_batcher *
lookup_batcher_new(const struct cfg *c, struct dbpool *pool, struct metrics *m, char *err,
		   size_t errlen)
{
	struct lookup_batcher *b = calloc(1, sizeof(*b));
	struct group_metrics gm = lookup_metrics;

	if (b == NULL)
		goto nomem;
	b->pool = pool;
	gm.m = m;
	/* A failed batch falls back to the pool, which waits: one connection attempt. */
	b->db = dbpool_session_new(c, "tmprov-worker lookups", SQL_STATEMENTS, SQL_COUNT);
	if (b->db == NULL)
		goto nomem;
	b->group = group_new(lookup_run, b, &gm);
	if (b->group == NULL)
		goto nomem;
	return b;
nomem:
	snprintf(err, errlen, "lookup: out of memory");
	lookup_batcher_free(b);
	return NULL;
}

void
lookup_batcher_free(struct lookup_batcher *b)
{
	if (b == NULL)
		return;
	group_free(b->group);
	db_free(b->db);
	free(b);
}
