/* exec: runs one command to a durable result — idempotency by command id, the per-type logic
 * (cmd_types.h), TM calls with intents and retries, one transaction for the result and its
 * outcome event, DLQ copies of what cannot be processed. The loop only hands it jobs. */
#include "exec.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cmd.h"
#include "cmd_meeting.h"
#include "cmd_types.h"
#include "dbpool.h"
#include "dlq.h"
#include "dlqdef.h"
#include "guard.h"
#include "intent.h"
#include "log.h"
#include "lookup.h"
#include "outcome.h"
#include "password.h"
#include "results.h"
#include "sql.h"
#include "tm_client.h"
#include "tm_loop.h"
#include "tmgate.h"
#include "tmretry.h"
#include "wconfig.h"

struct exec_ctx {
	const struct cfg *cfg;
	struct metrics *metrics;
	struct dbpool *pool;
	struct intent_writer *intents;
	struct lookup_batcher *lookups;
	struct results *results;
	struct tmhealth *health;
	struct tmgate *gate;
	struct tmretry retry;
	struct tm_loop *tm_loop; /* every TM call of the commands: one thread, shared connections */
	struct dlq *dlq;
	struct tm_client_opts tm;
	struct password_opts password;
	struct guard_opts guard;
	struct fsem hash_slots;
	bool hash_slots_ok;
	struct fsem intent_slots; /* cmd_env.intent_slots */
	bool intent_slots_ok;
	const char *public_url;
	const char *join_template;
	void (*on_commit)(void *);
	void *on_commit_arg;
	long record_grace_ms; /* how long a stop lets the writes after a TM call wait */
};

struct exec_thread {
	struct exec_ctx *ctx;
	/* How exec_sql reads the job's stop: at once, or (once a TM call may have acted, while
	 * its result and audit are written) after ctx->record_grace_ms. */
	struct stop_grace grace;
	/* Set while the thread runs the head of a subject's queue (exec_queue), which must not
	 * queue itself; approved: an operator approved it, so the guard lets it through. */
	bool head, head_approved;
};

static int
exec_policies(struct exec_ctx *ctx, const struct cfg *c, char *err, size_t errlen)
{
	char probe[64];

	ctx->retry.policy = (struct tmretry_policy){
	    .backoff = {cfg_int(c, &KEY_TMPROV_RETRY_BASE), cfg_int(c, &KEY_TMPROV_RETRY_CAP)},
	    .budget = (unsigned)cfg_int(c, &KEY_TMPROV_RETRY_BUDGET),
	    .pause_after = (unsigned)cfg_int(c, &KEY_TMPROV_TM_PAUSE_AFTER),
	    .create = strcmp(cfg_str(c, &KEY_TMPROV_UNKNOWN_CREATE), "retry") == 0
			  ? TMRETRY_UNKNOWN_RETRY
			  : TMRETRY_UNKNOWN_PARK,
	    .schedule = strcmp(cfg_str(c, &KEY_TMPROV_UNKNOWN_SCHEDULE), "park") == 0
			    ? TMRETRY_UNKNOWN_PARK
			    : TMRETRY_UNKNOWN_RETRY,
	};
	guard_opts_from_cfg(&ctx->guard, c);
	ctx->public_url = cfg_str(c, &KEY_TMPROV_PUBLIC_URL);
	ctx->join_template = cfg_str(c, &KEY_TMPROV_JOIN_URL_TEMPLATE);
	if (ctx->retry.policy.backoff.base_ms > ctx->retry.policy.backoff.cap_ms) {
		snprintf(err, errlen, "TMPROV_RETRY_BASE: larger than TMPROV_RETRY_CAP");
		return -1;
	}
	/* Bad templates fail at start-up, not at the first meeting. */
	if (strstr(ctx->join_template, "{meeting_id}") == NULL ||
	    cmd_join_url(ctx->join_template, ctx->public_url, "m", probe, sizeof(probe)) != 0 ||
	    (strncmp(probe, "http://", 7) != 0 && strncmp(probe, "https://", 8) != 0)) {
		snprintf(err, errlen,
			 "TMPROV_JOIN_URL_TEMPLATE: must give an http(s) URL and contain "
			 "{meeting_id}");
		return -1;
	}
	if (tm_client_opts_from_cfg(&ctx->tm, c) != 0) {
		snprintf(err, errlen, "TMPROV_TM_URL and TMPROV_PARTNER_ID are required");
		return -1;
	}
	return password_opts_from_cfg(&ctx->password, c, err, errlen);
}

int
exec_cfg_check(const struct cfg *c, char *err, size_t errlen)
{
	struct exec_ctx *ctx = calloc(1, sizeof(*ctx));
	int rc;

	if (ctx == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	rc = exec_policies(ctx, c, err, errlen);
	free(ctx);
	return rc;
}

long
exec_hash_concurrency(const struct cfg *c)
{
	long n = cfg_int(c, &KEY_TMPROV_HASH_CONCURRENCY);

	if (n == 0)
		n = sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n;
}

/* The hashes (TMPROV_HASH_CONCURRENCY) at once, and the commands with an intent open
 * (TMPROV_WORKER_CONCURRENCY, cmd.h); the TM calls pass the gate (tmgate.h). */
static void
exec_slots(struct exec_ctx *ctx, const struct cfg *c)
{
	long intents = cfg_int(c, &KEY_TMPROV_WORKER_CONCURRENCY);

	fsem_init(&ctx->hash_slots, (unsigned)exec_hash_concurrency(c));
	ctx->hash_slots_ok = true;
	fsem_init(&ctx->intent_slots, (unsigned)intents);
	ctx->intent_slots_ok = true;
}

struct exec_ctx *
exec_new(const struct cfg *c, struct metrics *m, char *err, size_t errlen)
{
	struct exec_ctx *ctx = calloc(1, sizeof(*ctx));

	if (ctx == NULL) {
		snprintf(err, errlen, "exec: out of memory");
		return NULL;
	}
	ctx->cfg = c;
	ctx->metrics = m;
	/* As long as a statement may take; a database that never answers: 10 s. */
	ctx->record_grace_ms = cfg_int(c, &KEY_TMPROV_DB_STATEMENT_TIMEOUT);
	if (ctx->record_grace_ms <= 0)
		ctx->record_grace_ms = 10000;
	if (exec_policies(ctx, c, err, errlen) != 0)
		goto fail;
	exec_slots(ctx, c);
	ctx->health = tmhealth_new(ctx->retry.policy.pause_after, m);
	ctx->retry.health = ctx->health;
	ctx->retry.metrics = m;
	ctx->pool = dbpool_new(c, (unsigned)cfg_int(c, &KEY_TMPROV_DB_POOL), SQL_STATEMENTS,
			       SQL_COUNT, m, err, errlen);
	if (ctx->health == NULL || ctx->pool == NULL)
		goto fail;
	/* TM calls in flight (adaptive, up to TMPROV_WORKER_CONCURRENCY) and the group's rate. */
	ctx->gate = tmgate_new(c, ctx->pool, m, err, errlen);
	if (ctx->gate == NULL)
		goto fail;
	ctx->retry.gate = ctx->gate;
	ctx->tm_loop = tm_loop_new(&ctx->tm, err, errlen);
	if (ctx->tm_loop == NULL)
		goto fail;
	ctx->intents = intent_writer_new(c, ctx->pool, err, errlen);
	if (ctx->intents == NULL)
		goto fail;
	ctx->lookups = lookup_batcher_new(c, ctx->pool, m, err, errlen);
	if (ctx->lookups == NULL)
		goto fail;
	ctx->results = results_new(c, ctx->pool, m, err, errlen);
	if (ctx->results == NULL)
		goto fail;
	ctx->dlq = dlq_new(c, m, err, errlen);
	if (ctx->dlq == NULL)
		goto fail;
	return ctx;
fail:
	if (ctx->health == NULL && err[0] == '\0')
		snprintf(err, errlen, "exec: out of memory");
	exec_free(ctx);
	return NULL;
}

void
exec_free(struct exec_ctx *ctx)
{
	exec_free_within(ctx, DLQ_FREE_FLUSH_MS);
}

void
exec_free_within(struct exec_ctx *ctx, int dlq_flush_ms)
{
	if (ctx == NULL)
		return;
	dlq_free_within(ctx->dlq, dlq_flush_ms);
	results_free(ctx->results);
	lookup_batcher_free(ctx->lookups);
	intent_writer_free(ctx->intents);
	tm_loop_free(ctx->tm_loop);
	tmgate_free(ctx->gate);
	dbpool_free(ctx->pool);
	tmhealth_free(ctx->health);
	if (ctx->hash_slots_ok)
		fsem_destroy(&ctx->hash_slots);
	if (ctx->intent_slots_ok)
		fsem_destroy(&ctx->intent_slots);
	free(ctx);
}

void
exec_set_lease(struct exec_ctx *ctx, const struct lease *lease)
{
	ctx->retry.lease = lease;
}

void
exec_set_on_commit(struct exec_ctx *ctx, void (*fn)(void *), void *arg)
{
	ctx->on_commit = fn;
	ctx->on_commit_arg = arg;
}

struct exec_thread *
exec_thread_new(struct exec_ctx *ctx, char *err, size_t errlen)
{
	struct exec_thread *t = calloc(1, sizeof(*t));

	if (t == NULL) {
		snprintf(err, errlen, "exec: out of memory");
		return NULL;
	}
	t->ctx = ctx;
	t->grace = (struct stop_grace){.stop = NULL, .grace_ms = 0, .seen_ms = -1};
	return t;
}

void
exec_thread_free(struct exec_thread *t)
{
	if (t == NULL)
		return;
	free(t);
}

bool
exec_tm_available(struct exec_ctx *ctx)
{
	return tmhealth_available(ctx->health);
}

struct tmhealth *
exec_tm_health(struct exec_ctx *ctx)
{
	return ctx->health;
}

struct tmgate *
exec_tm_gate(struct exec_ctx *ctx)
{
	return ctx->gate;
}

struct dbpool *
exec_db_pool(struct exec_ctx *ctx)
{
	return ctx->pool;
}

bool
exec_db_available(struct exec_ctx *ctx)
{
	return dbpool_available(ctx->pool);
}

bool
exec_dlq_failed(struct exec_ctx *ctx)
{
	return dlq_failed(ctx->dlq);
}

/* Failures that waiting cures: the connection (08), the server shutting down or cancelling
 * (57: admin shutdown, statement timeout), resources (53), a deadlock or serialization failure
 * (40), a system error (58), and a database that is read-only for now (25006: a standby not yet
 * promoted, default_transaction_read_only). A constraint violation (23) is not among them. */
static bool
exec_sql_transient(const char *sqlstate)
{
	static const char *const prefixes[] = {"08", "40", "53", "57", "58", "25006"};

	for (size_t i = 0; i < sizeof(prefixes) / sizeof(prefixes[0]); i++)
		if (strncmp(sqlstate, prefixes[i], strlen(prefixes[i])) == 0)
			return true;
	return false;
}

/* Runs stmt on a pooled connection, waiting out database outages. NULL when stopped (past
 * t->grace; *permanent false, err says so) or on an error a repeat will not cure (*permanent
 * true, err set). */
static PGresult *
exec_sql(struct exec_thread *t, int stmt, int nparams, const char *const *params,
	 const atomic_bool *stop, bool *permanent, char *err, size_t errlen)
{
	struct exec_ctx *ctx = t->ctx;
	char state[6];
	PGresult *res;
	struct db *db;
	bool lost;

	*permanent = false;
	t->grace.stop = stop;
	snprintf(err, errlen, "stopped");
	for (unsigned attempt = 0;; attempt++) {
		db = dbpool_get_grace(ctx->pool, &t->grace);
		if (db == NULL)
			return NULL;
		res = db_exec(db, stmt, nparams, params, err, errlen);
		if (res == NULL)
			dbpool_scrub_error(err);
		lost = res == NULL && db_connection_lost(db);
		snprintf(state, sizeof(state), "%s", db_sqlstate(db));
		dbpool_report(ctx->pool, db, res != NULL);
		dbpool_put(ctx->pool, db);
		if (res != NULL)
			return res;
		if (!lost && !exec_sql_transient(state)) {
			*permanent = true;
			return NULL;
		}
		if (attempt == 0 || attempt % 20 == 0)
			log_warn("database: %s; retrying", err);
		for (long ms = backoff_delay_ms(&backoff_db_statement, attempt);
		     ms > 0 && !stop_grace_over(&t->grace); ms -= 50)
			tmretry_sleep(ms < 50 ? ms : 50, NULL);
		if (stop_grace_over(&t->grace))
			return NULL;
	}
}

/* tmprov_commands_total's outcome label: a final status's name (cmd_status_name), or one of
 * these for a command that got no result of its own. */
enum exec_outcome { EXEC_OUTCOME_ID_CONFLICT, EXEC_OUTCOME_DUPLICATE, EXEC_OUTCOME_COUNT };
static const char *const exec_outcomes[EXEC_OUTCOME_COUNT] = {"id_conflict", "duplicate"};

const char *
exec_outcome_name(size_t i)
{
	for (int s = 0; s < CMD_STATUS_COUNT; s++)
		if (cmd_status_final((enum cmd_status)s) && i-- == 0)
			return cmd_status_name((enum cmd_status)s);
	return i < EXEC_OUTCOME_COUNT ? exec_outcomes[i] : NULL;
}

static void
exec_count(struct exec_ctx *ctx, const struct job *job, const char *outcome)
{
	const char *type = job->cmd ? cmd_type_name(job->cmd->kind) : NULL;
	char labels[128];

	if (ctx->metrics == NULL)
		return;
	snprintf(labels, sizeof(labels), "type=\"%s\",outcome=\"%s\"", type ? type : "unknown",
		 outcome);
	metrics_add(ctx->metrics, "tmprov_commands_total", labels, 1);
}

static void
exec_sha256_hex(const char *buf, size_t len, char out[65])
{
	unsigned char digest[crypto_hash_sha256_BYTES];

	crypto_hash_sha256(digest, (const unsigned char *)buf, len);
	sodium_bin2hex(out, 65, digest, sizeof(digest));
}

static int
exec_dlq(struct exec_thread *t, const struct job *job, const char *reason, const char *error,
	 const atomic_bool *stop)
{
	char traceparent[TRACEPARENT_LEN + 1];
	struct dlq_copy copy = {
	    .payload = job->payload, /* the value as read, also in binary mode */
	    .len = job->len,
	    .key = job->key,
	    .keylen = job->keylen,
	    .origin_topic = job->topic,
	    .origin_partition = job->partition,
	    .origin_offset = job->offset,
	    .reason = reason,
	    .error = error,
	    .headers = job->headers,
	    .traceparent = traceparent,
	};
	char err[256];

	job_traceparent(job, traceparent);
	if (dlq_send(t->ctx->dlq, &copy, stop, err, sizeof(err)) != 0) {
		log_warn("%s/%" PRId32 "@%" PRId64 ": %s", job->topic, job->partition, job->offset,
			 err);
		return -1;
	}
	return 0;
}

/* SQL_LOOKUP for the command, with what its type's row asks for (cmd_spec.lookup): in a batch
 * with the lookups of other commands ready now (lookup.h), or alone when the batch could not
 * answer it; st (zeroed, or an earlier lookup's) is filled in. 0, or -1 when stopped. A
 * permanent failure alone is a bug or a broken schema, and memory running out is not the
 * command's fault: either is logged and waited on like an outage, since no result can be
 * written either. */
static __attribute__((noinline)) int
exec_lookup(struct exec_thread *t, const struct command *cmd, struct cmd_state *st,
	    const atomic_bool *stop)
{
	const struct cmd_spec *spec = cmd_types_get(cmd->kind);
	unsigned lookup = spec != NULL ? spec->lookup : 0;
	const char *params[LOOKUP_NPARAMS] = {cmd->id, cmd->subject, NULL, NULL, NULL};
	char err[512];
	bool permanent;
	PGresult *res;

	if (lookup & CMD_LOOKUP_USER)
		params[LOOKUP_USER_ID] = cmd_str(cmd, "user_id");
	if (lookup & CMD_LOOKUP_EMAIL)
		params[LOOKUP_EMAIL] = cmd_str(cmd, "email");
	if (lookup & CMD_LOOKUP_MEETING)
		params[LOOKUP_MEETING_ID] = cmd_str(cmd, "meeting_id");
	cmd_state_clear(st); /* an earlier lookup's */
	switch (lookup_batched(t->ctx->lookups, params, st, stop)) {
	case LOOKUP_DONE:
		return 0;
	case LOOKUP_STOPPED:
		return -1;
	case LOOKUP_ALONE:
	default:
		break;
	}
	for (unsigned attempt = 0;; attempt++) {
		res = exec_sql(t, SQL_LOOKUP, LOOKUP_NPARAMS, params, stop, &permanent, err,
			       sizeof(err));
		if (res != NULL && lookup_state(res, 0, cmd->subject, st) == 0) {
			PQclear(res);
			return 0;
		}
		if (res == NULL && !permanent)
			return -1;
		if (res == NULL) /* else lookup_state logged running out of memory */
			log_error("command %s: lookup: %s", cmd->id, err);
		PQclear(res);
		if (!tmretry_sleep(backoff_delay_ms(&backoff_db_statement, attempt), stop))
			return -1;
	}
}

/* How a step of exec (writing a result, one round of a command) ended. */
enum exec_step {
	EXEC_STEP_DONE,	   /* the result is written, or the command needs no more work */
	EXEC_STEP_AGAIN,   /* the command had its result already, or must be looked up again */
	EXEC_STEP_FAILED,  /* exec_write: the statement failed for good (err) */
	EXEC_STEP_STOPPED, /* *stop was set first */
};

/* The text of the SQL_FINISH* parameters that neither the job nor the result holds. */
struct exec_text {
	char attempts[16], partition[16], offset[24];
	char event_id[OUTCOME_EVENT_ID_LEN];
	char *payload; /* the outcome event: owned */
	char *calls;   /* r->calls as JSON: owned */
};

/* The tm_calls rows of a run as JSON, each with the job's trace id (the audit's trace_id
 * column). NULL when out of memory. */
static char *
exec_calls_text(const struct job *job, json_t *calls)
{
	size_t i;
	json_t *row;

	json_array_foreach(calls, i, row)
	{
		if (json_object_set_new(row, "trace_id", json_string(job->trace.trace_id)) != 0)
			return NULL;
	}
	return json_dumps(calls, JSON_COMPACT);
}

/* Fills params (SQL_FINISH_NPARAMS + r->nparams) for r's statement, with x holding their text.
 * 0, or -1 when out of memory; the caller frees x->payload and x->calls either way. */
static int
exec_params(const struct job *job, const char *sha, const struct cmd_result *r, struct exec_text *x,
	    const char **params)
{
	const struct command *cmd = job->cmd;
	char traceparent[TRACEPARENT_LEN + 1];
	struct timespec now;
	json_t *ev;

	clock_gettime(CLOCK_REALTIME, &now);
	ev = outcome_event(cmd->id, cmd->subject, outcome_type_name(r->event), json_incref(r->data),
			   &now);
	job_traceparent(job, traceparent);
	if (ev != NULL && outcome_set_traceparent(ev, traceparent) != 0) {
		json_decref(ev);
		ev = NULL;
	}
	x->payload = ev ? json_dumps(ev, JSON_COMPACT) : NULL;
	x->calls = exec_calls_text(job, r->calls);
	json_decref(ev);
	if (x->payload == NULL || x->calls == NULL)
		return -1;
	snprintf(x->attempts, sizeof(x->attempts), "%u", r->attempts);
	snprintf(x->partition, sizeof(x->partition), "%" PRId32, job->partition);
	snprintf(x->offset, sizeof(x->offset), "%" PRId64, job->offset);
	outcome_event_id(cmd->id, x->event_id);
	params[SQLF_ID] = cmd->id;
	params[SQLF_SUBJECT] = cmd->subject;
	params[SQLF_TYPE] = cmd->type;
	params[SQLF_SHA256_HEX] = sha;
	params[SQLF_STATUS] = cmd_status_name(r->status);
	params[SQLF_ATTEMPTS] = x->attempts;
	params[SQLF_LAST_ERROR] = r->last_error[0] ? r->last_error : NULL;
	params[SQLF_RETRYABLE] = r->retryable < 0 ? NULL : r->retryable ? "true" : "false";
	params[SQLF_TOPIC] = job->topic;
	params[SQLF_PARTITION] = x->partition;
	params[SQLF_OFFSET] = x->offset;
	params[SQLF_CALLS] = x->calls;
	params[SQLF_EVENT_ID] = x->event_id;
	params[SQLF_EVENT_TYPE] = outcome_type_name(r->event);
	params[SQLF_PAYLOAD] = x->payload;
	params[SQLF_BODY] = job->body;
	for (int i = 0; i < r->nparams; i++)
		params[SQL_FINISH_NPARAMS + i] = r->params[i];
	return 0;
}

/* Writes r with its SQL_FINISH* statement (after its DLQ copy, if any): EXEC_STEP_DONE when
 * written, AGAIN when the command had its result already, FAILED when the statement failed for
 * good (err), STOPPED. */
static enum exec_step
exec_write(struct exec_thread *t, const struct job *job, const char *sha, struct cmd_result *r,
	   const atomic_bool *stop, char *err, size_t errlen)
{
	const char *params[SQL_FINISH_NPARAMS + CMD_PARAMS_MAX];
	struct exec_text x = {.payload = NULL};
	PGresult *res;
	bool permanent;
	enum exec_step step = EXEC_STEP_FAILED;

	if (r->overflow || r->data == NULL || r->calls == NULL) {
		snprintf(err, errlen, "result too large or out of memory");
		return EXEC_STEP_FAILED;
	}
	if (r->dlq_reason != NULL && exec_dlq(t, job, r->dlq_reason, r->dlq_error, stop) != 0)
		return EXEC_STEP_STOPPED;
	if (exec_params(job, sha, r, &x, params) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	/* With the results of the commands finished now, in one transaction; alone if that
	 * transaction fails. */
	t->grace.stop = stop;
	switch (results_commit(t->ctx->results, r->stmt, SQL_FINISH_NPARAMS + r->nparams, params,
			       &t->grace, &res)) {
	case RESULTS_DONE:
		break;
	case RESULTS_STOPPED:
		step = EXEC_STEP_STOPPED;
		goto out;
	case RESULTS_ALONE:
	default:
		res = exec_sql(t, r->stmt, SQL_FINISH_NPARAMS + r->nparams, params, stop,
			       &permanent, err, errlen);
		break;
	}
	if (res == NULL) {
		step = permanent ? EXEC_STEP_FAILED : EXEC_STEP_STOPPED;
		goto out;
	}
	/* The statement's one value: whether it wrote the result ("1"), or found one there. */
	step = strcmp(PQgetvalue(res, 0, 0), "1") == 0 ? EXEC_STEP_DONE : EXEC_STEP_AGAIN;
	PQclear(res);
	if (step == EXEC_STEP_DONE) {
		exec_count(t->ctx, job, cmd_status_name(r->status));
		if (t->ctx->on_commit != NULL)
			t->ctx->on_commit(t->ctx->on_commit_arg);
	}
out:
	free(x.payload);
	free(x.calls);
	return step;
}

/* A result that could not be stored (a constraint the lookup could not foresee, such as a
 * company_uid TM handed out twice) becomes command.failed, kept as long as it takes: the TM
 * call it follows must not be made again. */
static enum exec_step
exec_write_failure(struct exec_thread *t, const struct job *job, const char *sha,
		   struct cmd_result *r, const char *why, const atomic_bool *stop)
{
	bool acted = r->tm_may_have_acted && cmd_types_may_create(job->cmd->kind);
	char reason[600], err[512];
	enum exec_step step;

	snprintf(reason, sizeof(reason), "result could not be stored: %s", why);
	r->dlq_reason = NULL;
	/* A re-send is safe unless TM may have created something we did not record. */
	cmd_fail(r, job->cmd, reason, !acted, NULL);
	for (unsigned attempt = 0;; attempt++) {
		step = exec_write(t, job, sha, r, stop, err, sizeof(err));
		if (step != EXEC_STEP_FAILED)
			return step;
		log_error("command %s: cannot store its failure either: %s", job->cmd->id, err);
		if (!tmretry_sleep(backoff_delay_ms(&backoff_db_statement, attempt), stop))
			return EXEC_STEP_STOPPED;
	}
}

/* The same id, another body: no event (the id has its outcome, or is being worked on), a DLQ
 * copy for operators. */
static enum exec_status
exec_conflict(struct exec_thread *t, const struct job *job, const char *reason,
	      const atomic_bool *stop)
{
	log_warn("command %s: id already used by another message: %s/%" PRId32 "@%" PRId64
		 " goes to the DLQ",
		 job->cmd->id, job->topic, job->partition, job->offset);
	if (exec_dlq(t, job, reason, "command id already used by another message", stop) != 0)
		return EXEC_ABANDONED;
	exec_count(t->ctx, job, exec_outcomes[EXEC_OUTCOME_ID_CONFLICT]);
	return EXEC_DONE;
}

/* A message that is not a valid command (reason: the DLQ reason, errs its errors): its DLQ copy,
 * then (when it has an id and a subject) command.rejected. */
static enum exec_status
exec_reject(struct exec_thread *t, struct job *job, const char *sha, const char *reason,
	    const struct validate_errors *errs, const atomic_bool *stop)
{
	const char *error;
	struct cmd_state st = {0};
	struct cmd_result r;
	char err[512];
	enum exec_step step;

	if (reason == NULL)
		reason = "invalid";
	error = errs->n > 0 ? errs->msg[0] : reason;
	if (job->cmd == NULL) {
		if (exec_dlq(t, job, reason, error, stop) != 0)
			return EXEC_ABANDONED;
		exec_count(t->ctx, job, cmd_status_name(CMD_STATUS_REJECTED));
		return EXEC_DONE;
	}
	if (exec_lookup(t, job->cmd, &st, stop) != 0)
		return EXEC_ABANDONED;
	cmd_state_clear(&st); /* what follows reads none of its strings */
	if (st.cmd_exists) {
		/* Redelivered: its copy went out before the rejection was committed. */
		if (strcmp(st.cmd_sha256_hex, sha) == 0)
			return EXEC_DONE;
		return exec_conflict(t, job, reason, stop);
	}
	cmd_result_init(&r);
	r.status = CMD_STATUS_REJECTED;
	r.event = OUTCOME_COMMAND_REJECTED;
	r.data = outcome_rejected_data(reason, errs);
	r.dlq_reason = reason;
	snprintf(r.dlq_error, sizeof(r.dlq_error), "%s", error);
	snprintf(r.last_error, sizeof(r.last_error), "%s", error);
	step = exec_write(t, job, sha, &r, stop, err, sizeof(err));
	if (step == EXEC_STEP_FAILED) {
		log_error("command %s: rejection not stored: %s", job->cmd->id, err);
		step = exec_write_failure(t, job, sha, &r, "rejection", stop);
	}
	cmd_result_clear(&r);
	log_info("command %s rejected (%s): %s", job->cmd->id, reason, error);
	return step == EXEC_STEP_STOPPED ? EXEC_ABANDONED : EXEC_DONE;
}

static void
exec_env(struct exec_thread *t, const struct job *job, const char *sha, const atomic_bool *stop,
	 struct cmd_env *env)
{
	struct exec_ctx *ctx = t->ctx;

	*env = (struct cmd_env){
	    .spec = cmd_types_get(job->cmd->kind),
	    .retry = &ctx->retry,
	    .tm = ctx->tm_loop,
	    .intents = ctx->intents,
	    .pool = ctx->pool,
	    .password = &ctx->password,
	    .hash_slots = &ctx->hash_slots,
	    .intent_slots = &ctx->intent_slots,
	    .public_url = ctx->public_url,
	    .join_template = ctx->join_template,
	    .cmd = job->cmd,
	    .sha256_hex = sha,
	    .topic = job->topic,
	    .partition = job->partition,
	    .offset = job->offset,
	    .stop = stop,
	};
}

static void
exec_log_result(const struct job *job, const struct cmd_result *r)
{
	if (r->status == CMD_STATUS_SUCCEEDED)
		log_debug("command %s (%s): %s after %u TM attempt(s)", job->cmd->id,
			  job->cmd->type, outcome_type_name(r->event), r->attempts);
	else
		log_info("command %s (%s): %s: %s", job->cmd->id, job->cmd->type,
			 cmd_status_name(r->status), r->last_error);
}

/* The tm_calls rows of a run whose result was not written — the command got its result
 * elsewhere (the partition's new owner parked the create or repeated the call) or the job was
 * stopped — so that TM's answers are recorded whoever owns the partition now. A success's
 * answer (the company_uid or meeting_id TM handed out, which nothing else records) goes into
 * the last row's reason. One try: the run is over either way. */
static __attribute__((noinline)) void
exec_keep_calls(struct exec_thread *t, const struct job *job, struct cmd_result *r,
		const atomic_bool *stop)
{
	json_t *last = json_array_get(r->calls, json_array_size(r->calls) - 1);
	char *calls = NULL, *answer = NULL, reason[1024], err[512];
	const char *params[2] = {job->cmd->id, NULL};
	bool permanent;
	PGresult *res;

	if (last == NULL)
		return;
	if (r->status == CMD_STATUS_SUCCEEDED && r->data != NULL &&
	    (answer = json_dumps(r->data, JSON_COMPACT)) != NULL) {
		snprintf(reason, sizeof(reason),
			 "answer not applied (the command had its result "
			 "already): %s",
			 answer);
		json_object_set_new(last, "reason", json_string(reason));
	}
	log_warn("command %s: %zu TM attempt(s) whose result was not written%s%s", job->cmd->id,
		 json_array_size(r->calls), answer ? "; TM answered: " : "", answer ? answer : "");
	params[1] = calls = exec_calls_text(job, r->calls);
	res = calls ? exec_sql(t, SQL_CALLS_KEEP, 2, params, stop, &permanent, err, sizeof(err))
		    : NULL;
	if (res == NULL)
		log_error("command %s: audit of its TM attempts not stored: %s", job->cmd->id,
			  calls ? err : "out of memory");
	PQclear(res);
	free(calls);
	free(answer);
}

/* Writes the result cmd_types_run made. A local command that lost a race (an email taken
 * meanwhile) is simply looked at again; after a TM call, or too often, the result becomes a
 * failure. EXEC_STEP_DONE, AGAIN or STOPPED. */
static __attribute__((noinline)) enum exec_step
exec_finish(struct exec_thread *t, const struct job *job, const char *sha, unsigned round,
	    struct cmd_result *r, const atomic_bool *stop)
{
	char err[512];
	enum exec_step step = exec_write(t, job, sha, r, stop, err, sizeof(err));

	if (step == EXEC_STEP_FAILED && (json_array_size(r->calls) > 0 || round >= 3)) {
		log_error("command %s: result not stored: %s", job->cmd->id, err);
		step = exec_write_failure(t, job, sha, r, "database constraint", stop);
	} else if (step == EXEC_STEP_FAILED) {
		log_warn("command %s: result not stored (%s); looking again", job->cmd->id, err);
		step = EXEC_STEP_AGAIN;
	}
	if (step == EXEC_STEP_DONE)
		exec_log_result(job, r);
	return step;
}

/* ---- the mass-delete guard (guard.h, migrations/006_delete_guard.sql) ---- */

static enum exec_status exec_rounds(struct exec_thread *t, struct job *job, const char *sha,
				    const atomic_bool *stop);

/* exec_sql for a statement of the guard, waiting out a permanent failure (a bug or a broken
 * schema: logged) as exec_lookup does. NULL only when stopped. */
static PGresult *
exec_guard_sql(struct exec_thread *t, const struct job *job, int stmt, int nparams,
	       const char *const *params, const atomic_bool *stop)
{
	char err[512];
	bool permanent;
	PGresult *res;

	for (unsigned attempt = 0;; attempt++) {
		res = exec_sql(t, stmt, nparams, params, stop, &permanent, err, sizeof(err));
		if (res != NULL || !permanent)
			return res;
		log_error("command %s: %s: %s", job->cmd->id, SQL_STATEMENTS[stmt].name, err);
		if (!tmretry_sleep(backoff_delay_ms(&backoff_db_statement, attempt), stop))
			return NULL;
	}
}

/* SQL_GUARD_HOLD or SQL_GUARD_WAIT's parameters for job, kept in x. */
static void
exec_guard_params(const struct job *job, const char *sha, const char *body, struct exec_text *x,
		  const char **params)
{
	snprintf(x->partition, sizeof(x->partition), "%" PRId32, job->partition);
	snprintf(x->offset, sizeof(x->offset), "%" PRId64, job->offset);
	params[SQLH_ID] = job->cmd->id;
	params[SQLH_SUBJECT] = job->cmd->subject;
	params[SQLH_TYPE] = job->cmd->type;
	params[SQLH_SHA256_HEX] = sha;
	params[SQLH_TOPIC] = job->topic;
	params[SQLH_PARTITION] = x->partition;
	params[SQLH_OFFSET] = x->offset;
	params[SQLH_BODY] = body;
}

/* Holds the delete job: its row (with its message) and command.held, in one statement. 0, or
 * -1 when stopped. */
static int
exec_hold(struct exec_thread *t, const struct job *job, const char *sha, long deletions,
	  const atomic_bool *stop)
{
	const char *params[SQLH_COUNT];
	struct exec_text x = {.payload = NULL};
	char traceparent[TRACEPARENT_LEN + 1];
	struct timespec now;
	PGresult *res = NULL;
	json_t *ev;
	int rc = -1;

	clock_gettime(CLOCK_REALTIME, &now);
	ev = outcome_event(job->cmd->id, job->cmd->subject, "command.held",
			   guard_held_data(&t->ctx->guard, job->cmd->type, deletions), &now);
	guard_held_event_id(job->cmd->id, x.event_id);
	job_traceparent(job, traceparent);
	if (ev == NULL || json_object_set_new(ev, "id", json_string(x.event_id)) != 0 ||
	    outcome_set_traceparent(ev, traceparent) != 0 ||
	    (x.payload = json_dumps(ev, JSON_COMPACT)) == NULL) {
		log_error("command %s: out of memory", job->cmd->id);
		goto out;
	}
	exec_guard_params(job, sha, job->body, &x, params);
	params[SQLH_EVENT_ID] = x.event_id;
	params[SQLH_PAYLOAD] = x.payload;
	res = exec_guard_sql(t, job, SQL_GUARD_HOLD, SQLH_COUNT, params, stop);
	if (res == NULL)
		goto out;
	rc = 0;
	log_warn("command %s (%s, subject %s) held: %ld account deletions within %ld s, "
		 "TMPROV_DELETE_GUARD is %ld; `tmprov approve` or `tmprov reject` it",
		 job->cmd->id, job->cmd->type, job->cmd->subject, deletions,
		 t->ctx->guard.window_ms / 1000, t->ctx->guard.max);
	exec_count(t->ctx, job, "held");
	if (t->ctx->on_commit != NULL)
		t->ctx->on_commit(t->ctx->on_commit_arg);
out:
	PQclear(res);
	json_decref(ev);
	free(x.payload);
	return rc;
}

/* Takes one of the guard's deletions for the delete job: 0 taken (it runs), 1 held, -1
 * stopped. An approved head is let through, and counted. */
static __attribute__((noinline)) int
exec_guard_take(struct exec_thread *t, const struct job *job, const char *sha,
		const atomic_bool *stop)
{
	char window[24], max[24];
	const char *params[4] = {job->cmd->id, window, max, t->head_approved ? "true" : "false"};
	PGresult *res;
	bool taken;
	long deletions;

	snprintf(window, sizeof(window), "%ld", t->ctx->guard.window_ms);
	snprintf(max, sizeof(max), "%ld", t->ctx->guard.max);
	res = exec_guard_sql(t, job, SQL_GUARD_TAKE, 4, params, stop);
	if (res == NULL)
		return -1;
	taken = strcmp(PQgetvalue(res, 0, 0), "t") == 0;
	deletions = strtol(PQgetvalue(res, 0, 1), NULL, 10);
	PQclear(res);
	if (taken)
		return 0;
	return exec_hold(t, job, sha, deletions, stop) == 0 ? 1 : -1;
}

/* Keeps job as waiting behind its subject's queue. 0, or -1 when stopped. */
static int
exec_enqueue(struct exec_thread *t, const struct job *job, const char *sha, const atomic_bool *stop)
{
	struct exec_ctx *ctx = t->ctx;
	const char *params[SQLH_EVENT_ID];
	struct exec_text x = {.payload = NULL};
	char err[256], *body = NULL;
	PGresult *res = NULL;
	int rc;

	for (unsigned attempt = 0;; attempt++) {
		rc = guard_queue_body(job->cmd, job->body, job->bodylen, &ctx->password,
				      &ctx->hash_slots, stop, &body, err, sizeof(err));
		if (rc != -1)
			break;
		log_error("command %s: cannot keep its message: %s", job->cmd->id, err);
		if (!tmretry_sleep(backoff_delay_ms(&backoff_db_statement, attempt), stop))
			return -1;
	}
	if (rc != 0)
		return -1;
	exec_guard_params(job, sha, body, &x, params);
	res = exec_guard_sql(t, job, SQL_GUARD_WAIT, SQLH_EVENT_ID, params, stop);
	free(body);
	if (res == NULL)
		return -1;
	PQclear(res);
	log_info("command %s (%s) waits behind a held command of subject %s", job->cmd->id,
		 job->cmd->type, job->cmd->subject);
	exec_count(ctx, job, "waiting");
	return 0;
}

/* The job of a queued command from its row (SQL_GUARD_HEAD's): its kept message, where it was
 * read, keyed by its subject. NULL when out of memory or not a command (logged). */
static struct job *
exec_head_job(const PGresult *res, const char *subject)
{
	struct job *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	atomic_init(&j->stop, false);
	j->len = (size_t)PQgetlength(res, 0, SQLG_BODY);
	j->payload = strndup(PQgetvalue(res, 0, SQLG_BODY), j->len);
	j->key = strdup(subject);
	j->keylen = strlen(subject);
	j->topic = strdup(PQgetvalue(res, 0, SQLG_TOPIC));
	j->order_key = strdup(subject);
	j->partition = (int32_t)strtol(PQgetvalue(res, 0, SQLG_PARTITION), NULL, 10);
	j->offset = strtoll(PQgetvalue(res, 0, SQLG_OFFSET), NULL, 10);
	if (j->payload == NULL || j->key == NULL || j->topic == NULL || j->order_key == NULL)
		goto fail;
	/* The kept message is the structured text (job.h body) of the command; its trace went with
	 * the message it came in: it runs under a new one. */
	j->body = j->payload;
	j->bodylen = j->len;
	trace_new(&j->trace);
	j->vstatus = command_parse(j->body, j->bodylen, &j->cmd, NULL);
	if (j->vstatus == VALIDATE_OK && j->cmd != NULL)
		return j;
	log_error("queued command %s: its kept message is not a valid command",
		  PQgetvalue(res, 0, SQLG_ID));
fail:
	job_free(j);
	return NULL;
}

/* Runs the runnable head of the subject's queue (res: SQL_GUARD_HEAD's row) as the head: the
 * job itself (own) or the command kept in the row. 0, or -1 when stopped or it could not. */
static int
exec_run_head(struct exec_thread *t, struct job *job, const PGresult *res, bool own,
	      const atomic_bool *stop)
{
	struct job *head = own ? job : exec_head_job(res, job->cmd->subject);
	const char *id = PQgetvalue(res, 0, SQLG_ID);
	PGresult *claim;
	enum exec_status st = EXEC_ABANDONED;

	if (head == NULL)
		return -1;
	claim = exec_guard_sql(t, job, SQL_GUARD_CLAIM, 1, &id, stop);
	if (claim != NULL) {
		PQclear(claim);
		t->head = true;
		t->head_approved = strcmp(PQgetvalue(res, 0, SQLG_APPROVED), "t") == 0;
		job_log_ctx(head); /* its lines are about the head, then about job again */
		st = exec_rounds(t, head, PQgetvalue(res, 0, SQLG_SHA256_HEX), stop);
		job_log_ctx(job);
		t->head = t->head_approved = false;
	}
	if (!own)
		job_free(head);
	return st == EXEC_DONE ? 0 : -1;
}

/* The subject of job has a queue: its runnable heads run first, in order, until the queue is
 * empty (EXEC_STEP_AGAIN: look again, then run job as usual) or its head is held (job waits
 * behind it, or is in the queue already: EXEC_STEP_DONE). STOPPED. */
static __attribute__((noinline)) enum exec_step
exec_queue(struct exec_thread *t, struct job *job, const char *sha, const atomic_bool *stop)
{
	const char *params[2] = {job->cmd->subject, job->cmd->id};
	struct guard_view v;
	enum guard_action action;
	PGresult *res;
	int rc;

	for (unsigned round = 0;; round++) {
		if (round > 0 && round % 1000 == 0)
			log_warn("subject %s: queue still running after %u commands",
				 job->cmd->subject, round);
		res = exec_guard_sql(t, job, SQL_GUARD_HEAD, 2, params, stop);
		if (res == NULL)
			return EXEC_STEP_STOPPED;
		v = (struct guard_view){
		    .head = !PQgetisnull(res, 0, SQLG_ID),
		    .head_held = strcmp(PQgetvalue(res, 0, SQLG_STATUS), "held") == 0,
		    .head_is_own = strcmp(PQgetvalue(res, 0, SQLG_ID), job->cmd->id) == 0,
		    .own_recorded = strcmp(PQgetvalue(res, 0, SQLG_OWN_RECORDED), "t") == 0,
		};
		action = guard_decide(&v);
		if (action == GUARD_RUN_HEAD || action == GUARD_RUN_OWN)
			rc = exec_run_head(t, job, res, action == GUARD_RUN_OWN, stop);
		else if (action == GUARD_ENQUEUE)
			rc = exec_enqueue(t, job, sha, stop);
		else
			rc = 0;
		PQclear(res);
		if (rc != 0) {
			/* A head that cannot run (a bug: logged) is tried again later. */
			if (!tmretry_sleep(backoff_delay_ms(&backoff_db_statement, round), stop))
				return EXEC_STEP_STOPPED;
			continue;
		}
		if (action == GUARD_GO)
			return EXEC_STEP_AGAIN;
		if (action == GUARD_ENQUEUE || action == GUARD_NOTHING)
			return EXEC_STEP_DONE;
	}
}

/* exec_round's, with the lookup's view in st. Its frame is on the stack of every command in
 * flight, parked or not: the steps with buffers of their own (lookup, finish, queue, guard,
 * keep_calls) are not inlined into it (tests/layout/check_stack.py holds the path to a TM
 * wait under a page). */
static enum exec_step
exec_round_in(struct exec_thread *t, struct job *job, const char *sha, unsigned round,
	      const atomic_bool *stop, enum exec_status *status, struct cmd_state *st)
{
	struct cmd_result r;
	struct cmd_env env;
	enum cmd_verdict verdict;
	enum exec_step step;

	if (exec_lookup(t, job->cmd, st, stop) != 0)
		return EXEC_STEP_STOPPED;
	if (st->cmd_exists && strcmp(st->cmd_sha256_hex, sha) != 0) {
		*status = exec_conflict(t, job, dlq_reason_name(DLQ_REASON_ID_CONFLICT), stop);
		return EXEC_STEP_DONE;
	}
	if (st->subject_queued && !t->head) {
		/* Behind a held command of its subject (guard.h): its heads first. */
		step = exec_queue(t, job, sha, stop);
		if (step != EXEC_STEP_AGAIN)
			return step;
		if (exec_lookup(t, job->cmd, st, stop) != 0)
			return EXEC_STEP_STOPPED;
	}
	if (st->cmd_exists && cmd_status_final(st->cmd_status)) {
		/* A redelivery or a re-send: the outcome exists, nothing more to do. */
		log_debug("command %s: already %s", job->cmd->id, cmd_status_name(st->cmd_status));
		exec_count(t->ctx, job, exec_outcomes[EXEC_OUTCOME_DUPLICATE]);
		*status = EXEC_DONE;
		return EXEC_STEP_DONE;
	}
	if (guard_applies(&t->ctx->guard, job->cmd->kind, st->acc_active)) {
		int held = exec_guard_take(t, job, sha, stop);

		if (held != 0)
			return held > 0 ? EXEC_STEP_DONE : EXEC_STEP_STOPPED;
	}
	exec_env(t, job, sha, stop, &env);
	cmd_result_init(&r);
	verdict = cmd_types_run(&env, st, &r);
	/* A TM call may have acted: what the job knows is written even past a stop, for a while
	 * (the stop only forbids starting calls), lest a restart take it for an unknown outcome. */
	if (json_array_size(r.calls) > 0)
		t->grace = (struct stop_grace){stop, t->ctx->record_grace_ms, -1};
	switch (verdict) {
	case CMD_DONE:
		step = exec_finish(t, job, sha, round, &r, stop);
		break;
	case CMD_LOOK_AGAIN:
		step = EXEC_STEP_AGAIN;
		break;
	case CMD_STOPPED:
	case CMD_GO_ON: /* cmd_call's alone: no handler returns it */
	default:
		step = EXEC_STEP_STOPPED;
		break;
	}
	if (step != EXEC_STEP_DONE && json_array_size(r.calls) > 0)
		exec_keep_calls(t, job, &r, stop);
	t->grace = (struct stop_grace){stop, 0, -1};
	cmd_result_clear(&r);
	if (step == EXEC_STEP_DONE)
		*status = EXEC_DONE;
	return step;
}

/* One round: look the command up, run its logic, write the result. EXEC_STEP_DONE with *status
 * set, AGAIN (go round again) or STOPPED. */
static enum exec_step
exec_round(struct exec_thread *t, struct job *job, const char *sha, unsigned round,
	   const atomic_bool *stop, enum exec_status *status)
{
	struct cmd_state st = {0};
	enum exec_step step = exec_round_in(t, job, sha, round, stop, status, &st);

	cmd_state_clear(&st);
	return step;
}

/* Per-subject order rests on the Kafka key being the subject: a command keyed otherwise (or
 * not at all) may run beside its subject's other commands on another partition. false, with
 * the error in errs (when not NULL), for such a command. */
static bool
exec_key_ok(const struct job *job, struct validate_errors *errs)
{
	size_t len = strlen(job->cmd->subject);

	if (job->key != NULL && job->keylen == len && memcmp(job->key, job->cmd->subject, len) == 0)
		return true;
	if (errs == NULL)
		return false;
	errs->n = 1;
	errs->more = 0;
	/* The key is not quoted: errors never repeat a value of the message. */
	snprintf(errs->msg[0], sizeof(errs->msg[0]), "key: %s",
		 job->key == NULL ? "is absent; the Kafka key must equal subject"
				  : "must equal subject");
	return false;
}

/* A command keyed otherwise than by its subject, rejected. Apart from exec_job, so that its
 * errors' pages are not on the stack of every command. */
static __attribute__((noinline)) enum exec_status
exec_reject_key(struct exec_thread *t, struct job *job, const char *sha, const atomic_bool *stop)
{
	struct validate_errors key_errs;

	exec_key_ok(job, &key_errs);
	return exec_reject(t, job, sha, dlq_reason_name(DLQ_REASON_KEY_MISMATCH), &key_errs, stop);
}

static enum exec_status
exec_job(struct exec_thread *t, struct job *job, const atomic_bool *stop)
{
	static const struct validate_errors none; /* a job whose errors found no memory */
	char sha[65];

	exec_sha256_hex(job->body, job->bodylen, sha);
	if (job->vstatus != VALIDATE_OK || job->cmd == NULL)
		return exec_reject(t, job, sha, validate_status_name(job->vstatus),
				   job->errs != NULL ? job->errs : &none, stop);
	if (!exec_key_ok(job, NULL))
		return exec_reject_key(t, job, sha, stop);
	return exec_rounds(t, job, sha, stop);
}

/* Rounds of exec_round until the job is done; sha: of the message as first received. */
static enum exec_status
exec_rounds(struct exec_thread *t, struct job *job, const char *sha, const atomic_bool *stop)
{
	enum exec_status status = EXEC_DONE;
	enum exec_step step;

	for (unsigned round = 0;; round++) {
		if (round > 0 &&
		    !tmretry_sleep(backoff_delay_ms(&backoff_db_statement, round - 1), stop))
			return EXEC_ABANDONED;
		step = exec_round(t, job, sha, round, stop, &status);
		if (step == EXEC_STEP_STOPPED)
			return EXEC_ABANDONED;
		if (step == EXEC_STEP_DONE)
			return status;
	}
}

enum exec_status
exec_run(struct exec_thread *t, struct job *job, const atomic_bool *stop)
{
	enum exec_status status;

	/* Every line about the job carries its id, subject, type, position and trace id. */
	job_log_ctx(job);
	status = exec_job(t, job, stop);
	log_ctx_clear();
	return status;
}
