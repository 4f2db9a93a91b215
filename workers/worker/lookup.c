/* lookup: the lookups of commands ready at one moment, run as one statement (SQL_LOOKUP_BATCH)
 * by whichever of their pool threads gets there first (leader/follower); and the cmd_state of a
 * lookup's row. */
#include "lookup.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cfgkeys.h"
#include "deadline.h"
#include "log.h"
#include "sql.h"

enum req_state { REQ_QUEUED, REQ_TAKEN, REQ_DONE };

struct lookup_req {
	struct lookup_item item;
	enum req_state state;
	enum lookup_result result;
	pthread_cond_t wake; /* its batch is answered, or it is the head and may lead */
	struct lookup_req *next;
};

/* Only the leader (leading set, under lock) uses db. */
struct lookup_batcher {
	pthread_mutex_t lock;
	struct lookup_req *head, **tail;
	bool leading;
	size_t queued; /* requests in the queue */
	struct db *db;
	struct dbpool *pool;
	struct metrics *metrics;
};

static const struct {
	const char *name, *type, *help;
} lookup_metrics[] = {
    {"tmprov_lookup_statements_total", "counter",
     "lookup statements run by the batcher (one per batch), by result"},
    {"tmprov_lookup_commands_total", "counter",
     "commands in the batcher's lookup statements, answered or not"},
    {"tmprov_lookup_batch_in_flight", "gauge", "commands in the lookup batch being run (0: none)"},
    {"tmprov_lookup_waiting", "gauge", "commands waiting for the next lookup batch"},
};

void
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
	snprintf(st->company_name, sizeof(st->company_name), "%s", COL(SQLL_ACC_COMPANY_NAME));
	snprintf(st->email, sizeof(st->email), "%s", COL(SQLL_ACC_EMAIL));
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
		if (items[k].rows++ == 0)
			lookup_state(res, row, items[k].params[LOOKUP_SUBJECT], items[k].st);
	}
	for (size_t i = 0; i < n; i++)
		once += items[i].sent && items[i].rows == 1;
	return once;
}

static void
lookup_count(struct lookup_batcher *b, const char *result, size_t commands)
{
	char labels[32];

	if (b->metrics == NULL)
		return;
	snprintf(labels, sizeof(labels), "result=\"%s\"", result);
	metrics_add(b->metrics, "tmprov_lookup_statements_total", labels, 1);
	metrics_add(b->metrics, "tmprov_lookup_commands_total", "", (double)commands);
}

/* Called locked, after b->queued changed. */
static void
lookup_queued(struct lookup_batcher *b, long delta)
{
	b->queued = (size_t)((long)b->queued + delta);
	if (b->metrics != NULL)
		metrics_set(b->metrics, "tmprov_lookup_waiting", "", (double)b->queued);
}

/* One command alone: SQL_LOOKUP on the batcher's connection. */
static void
lookup_one(struct lookup_batcher *b, struct lookup_req *r)
{
	char err[256];
	PGresult *res = db_exec(b->db, SQL_LOOKUP, LOOKUP_NPARAMS, r->item.params, err, sizeof(err));

	r->result = LOOKUP_ALONE;
	if (res != NULL && PQntuples(res) == 1) {
		lookup_state(res, 0, r->item.params[LOOKUP_SUBJECT], r->item.st);
		r->result = LOOKUP_DONE;
	} else if (res == NULL) {
		dbpool_scrub_error(err);
		log_warn("lookup: %s; the command looks itself up", err);
	}
	lookup_count(b, res != NULL ? "ok" : "failed", 1);
	PQclear(res);
}

/* The batch's one statement; every request gets LOOKUP_DONE or LOOKUP_ALONE. */
static void
lookup_many(struct lookup_batcher *b, struct lookup_req **batch, size_t n)
{
	struct lookup_item items[LOOKUP_BATCH_MAX];
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
		lookup_count(b, res != NULL ? "ok" : "failed", n);
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

/* Takes what is queued now (at most LOOKUP_BATCH_MAX), runs it, hands out the answers and wakes
 * the next leader. Called locked, by a queued request's thread while no one leads. */
static void
lookup_lead(struct lookup_batcher *b)
{
	struct lookup_req *batch[LOOKUP_BATCH_MAX];
	size_t n = 0;

	while (b->head != NULL && n < LOOKUP_BATCH_MAX) {
		struct lookup_req *r = b->head;

		b->head = r->next;
		r->state = REQ_TAKEN;
		batch[n++] = r;
	}
	if (b->head == NULL)
		b->tail = &b->head;
	lookup_queued(b, -(long)n);
	b->leading = true;
	pthread_mutex_unlock(&b->lock);
	if (b->metrics != NULL)
		metrics_set(b->metrics, "tmprov_lookup_batch_in_flight", "", (double)n);
	if (n == 1)
		lookup_one(b, batch[0]);
	else
		lookup_many(b, batch, n);
	if (b->metrics != NULL)
		metrics_set(b->metrics, "tmprov_lookup_batch_in_flight", "", 0);
	pthread_mutex_lock(&b->lock);
	for (size_t i = 0; i < n; i++) {
		batch[i]->state = REQ_DONE;
		pthread_cond_signal(&batch[i]->wake);
	}
	b->leading = false;
	if (b->head != NULL)
		pthread_cond_signal(&b->head->wake);
}

/* Takes r out of the queue (it is queued). Called locked. */
static void
lookup_withdraw(struct lookup_batcher *b, struct lookup_req *r)
{
	struct lookup_req **pp = &b->head;

	while (*pp != r)
		pp = &(*pp)->next;
	*pp = r->next;
	if (b->tail == &r->next)
		b->tail = pp;
	lookup_queued(b, -1);
	/* It may have been woken to lead: the next one leads instead. */
	if (!b->leading && b->head != NULL)
		pthread_cond_signal(&b->head->wake);
}

enum lookup_result
lookup_batched(struct lookup_batcher *b, const char *const params[LOOKUP_NPARAMS],
	       struct cmd_state *st, const atomic_bool *stop)
{
	struct lookup_req r = {.item = {.params = params, .st = st}, .state = REQ_QUEUED};
	struct timespec until;

	/* While the database is down the pool's statements wait for it, each with its stop. */
	if (!dbpool_available(b->pool))
		return LOOKUP_ALONE;
	if (stop_requested(stop))
		return LOOKUP_STOPPED;
	pthread_cond_init(&r.wake, NULL);
	pthread_mutex_lock(&b->lock);
	*b->tail = &r;
	b->tail = &r.next;
	lookup_queued(b, 1);
	while (r.state != REQ_DONE) {
		if (r.state == REQ_QUEUED && stop_requested(stop)) {
			lookup_withdraw(b, &r);
			r.result = LOOKUP_STOPPED;
			break;
		}
		if (r.state == REQ_QUEUED && !b->leading) {
			lookup_lead(b); /* r is in the batch unless LOOKUP_BATCH_MAX were before it */
			continue;
		}
		/* Timed, so that a stop request is seen without a broadcast for it. */
		deadline_after(&until, 100);
		pthread_cond_timedwait(&r.wake, &b->lock, &until);
	}
	pthread_mutex_unlock(&b->lock);
	pthread_cond_destroy(&r.wake);
	return r.result;
}

struct lookup_batcher *
lookup_batcher_new(const struct cfg *c, struct dbpool *pool, struct metrics *m, char *err,
		   size_t errlen)
{
	struct lookup_batcher *b = calloc(1, sizeof(*b));
	struct db_options o;

	if (b == NULL)
		goto nomem;
	b->pool = pool;
	b->metrics = m;
	b->tail = &b->head;
	b->db = db_new(cfg_str(c, &KEY_TMPROV_DATABASE_URL), SQL_STATEMENTS, SQL_COUNT);
	db_options_from_cfg(&o, c, "tmprov-worker lookups");
	o.connect_attempts = 1; /* a failed batch falls back to the pool, which waits */
	if (b->db == NULL || db_set_options(b->db, &o) != 0)
		goto nomem;
	for (size_t i = 0; m != NULL && i < sizeof(lookup_metrics) / sizeof(lookup_metrics[0]);
	     i++)
		if (metrics_declare(m, lookup_metrics[i].name, lookup_metrics[i].type,
				    lookup_metrics[i].help, NULL, 0) != 0)
			goto nomem;
	if (m != NULL) {
		metrics_touch(m, "tmprov_lookup_statements_total", "result=\"ok\"");
		metrics_touch(m, "tmprov_lookup_statements_total", "result=\"failed\"");
		metrics_touch(m, "tmprov_lookup_commands_total", "");
		metrics_set(m, "tmprov_lookup_batch_in_flight", "", 0);
		metrics_set(m, "tmprov_lookup_waiting", "", 0);
	}
	pthread_mutex_init(&b->lock, NULL);
	return b;
nomem:
	snprintf(err, errlen, "lookup: out of memory");
	if (b != NULL)
		db_free(b->db);
	free(b);
	return NULL;
}

void
lookup_batcher_free(struct lookup_batcher *b)
{
	if (b == NULL)
		return;
	pthread_mutex_destroy(&b->lock);
	db_free(b->db);
	free(b);
}
