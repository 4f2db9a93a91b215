/* wenv: one isolated world per worker test binary. The worker gets its own consumer group and
 * its own three topics on a private broker, so nothing another test program sends can reach
 * it, and the tests read events and DLQ copies with collectors that never join a group. */
#include "wenv.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "clock.h"
#include "cmdjson.h"
#include "evcheck.h"
#include "tprog.h"

#define SQL_PARAMS_MAX 16
#define SETTING_MAX    2300

/* The workers' settings before a test's own: fast retries and timeouts so that fault tests
 * take seconds, cheap argon2 so that user.upsert does not dominate, and the session timeout
 * tmprov-devkafka asks group members for (its rebalances wait for it). No group rate limit:
 * tests of other things must not wait for tokens (the rate tests set their own). */
static const char *const defaults[] = {
    "TMPROV_TM_RATE=0",
    "TMPROV_KAFKA_PROPS=" WENV_KAFKA_PROPS,
    "TMPROV_ARGON2_OPSLIMIT=1",
    "TMPROV_ARGON2_MEMLIMIT=8192",
    "TMPROV_PASSWORD_SCHEME=sha256-hex",
    "TMPROV_RETRY_BASE=50ms",
    "TMPROV_RETRY_CAP=500ms",
    "TMPROV_TM_TIMEOUT=1s",
    "TMPROV_TM_CONNECT_TIMEOUT=1s",
    "TMPROV_TM_RETRY_AFTER_MAX=5s",
    "TMPROV_DRAIN_TIMEOUT=15s",
    "TMPROV_PUBLIC_URL=http://join.test.example:8090",
    "TMPROV_LOG_LEVEL=info",
    NULL,
};

void
wenv_fail(struct wenv *e, const char *what, const char *file, int line)
{
	fprintf(stderr, "assertion failed: %s\n", what);
	if (e != NULL && e->w != NULL) {
		int st = worker_status(e->w);

		if (st >= 0)
			fprintf(stderr, "the worker is not running: it ended with %s %d\n",
				st > 128 ? "signal" : "exit status", st > 128 ? st - 128 : st);
		worker_log_tail(e->w, 25);
		worker_log_tail_others(e->w, 25);
	}
	_fail(file, line);
}

/* Whether v is the string s. */
static int
str_is(const json_t *v, const char *s)
{
	return json_is_string(v) && s != NULL && strcmp(json_string_value(v), s) == 0;
}

/* Adds or replaces (by name) one KEY=value setting. */
static int
setting_put(struct wenv *e, const char *kv)
{
	size_t name = strcspn(kv, "=");

	if (kv[name] != '=' || strlen(kv) > SETTING_MAX)
		return -1;
	for (size_t i = 0; i < e->nsettings; i++) {
		if (strncmp(e->settings[i], kv, name + 1) == 0) {
			free(e->settings[i]);
			e->settings[i] = strdup(kv);
			return 0;
		}
	}
	if (e->nsettings == WORKER_ENV_MAX)
		return -1;
	e->settings[e->nsettings++] = strdup(kv);
	e->settings[e->nsettings] = NULL;
	return 0;
}

static int
settings_build(struct wenv *e, const char *const *extra)
{
	char kv[SETTING_MAX];
	int rc = 0;

#define PUT(...)                                                                                   \
	(rc |= snprintf(kv, sizeof(kv), __VA_ARGS__) >= (int)sizeof(kv) ? -1 : setting_put(e, kv))
	PUT("TMPROV_DATABASE_URL=%s", e->db.conninfo);
	PUT("TMPROV_KAFKA_BROKERS=%s", e->dk.bootstrap);
	PUT("TMPROV_KAFKA_GROUP=%s", e->group);
	PUT("TMPROV_TOPIC_COMMANDS=%s", e->tcmd);
	PUT("TMPROV_TOPIC_EVENTS=%s", e->tevt);
	PUT("TMPROV_TOPIC_DLQ=%s", e->tdlq);
	PUT("TMPROV_TM_URL=%s", sim_url(e->sim));
	PUT("TMPROV_PARTNER_ID=%s", sim_partner(e->sim));
	for (size_t i = 0; defaults[i] != NULL; i++)
		rc |= setting_put(e, defaults[i]);
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
		rc |= setting_put(e, extra[i]);
	/* A developer chasing a failure can make the workers talk more. */
	if (getenv("TMPROV_TEST_LOG_LEVEL") != NULL)
		PUT("TMPROV_LOG_LEVEL=%s", getenv("TMPROV_TEST_LOG_LEVEL"));
#undef PUT
	return rc;
}

static int
kafka_setup(struct wenv *e, int partitions, char *err, size_t errlen)
{
	char np[16];
	const char *args[] = {"--partitions", np,	 "--topic", e->tcmd, "--topic",
			      e->tevt,	      "--topic", e->tdlq,   NULL};

	snprintf(np, sizeof(np), "%d", partitions > 0 ? partitions : 4);

	if (ku_devkafka_start(&e->dk, args, err, errlen) != 0)
		return -1;
	if (kprod_new(&e->prod, e->dk.bootstrap, err, errlen) != 0 ||
	    kcoll_start(&e->events, e->dk.bootstrap, e->tevt, kcoll_key_commandid, err, errlen) ||
	    kcoll_start(&e->dlq, e->dk.bootstrap, e->tdlq, kcoll_key_origin, err, errlen))
		return -1;
	return 0;
}

static int
db_setup(struct wenv *e, char *err, size_t errlen)
{
	if (testdb_create(&e->db, e->tag, err, errlen) != 0 ||
	    testdb_migrate(&e->db, err, errlen) != 0)
		return -1;
	e->pg = testdb_connect(&e->db);
	if (e->pg == NULL) {
		snprintf(err, errlen, "cannot connect to %s", e->db.name);
		return -1;
	}
	return 0;
}

int
wenv_setup(struct wenv **out, const char *tag, const char *const *extra, char *err, size_t errlen)
{
	return wenv_setup_opts(out, tag, NULL, extra, err, errlen);
}

int
wenv_setup_opts(struct wenv **out, const char *tag, const struct wenv_opts *opts,
		const char *const *extra, char *err, size_t errlen)
{
	const struct wenv_opts none = {0};
	const struct sim_opts so = {.env = opts ? opts->sim_env : NULL};
	struct wenv *e = calloc(1, sizeof(*e));
	long pid = (long)getpid();

	*out = NULL;
	if (e == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(e->tag, sizeof(e->tag), "%s", tag);
	snprintf(e->group, sizeof(e->group), "g.%s.%ld", tag, pid);
	snprintf(e->tcmd, sizeof(e->tcmd), "c.%s.%ld", tag, pid);
	snprintf(e->tevt, sizeof(e->tevt), "e.%s.%ld", tag, pid);
	snprintf(e->tdlq, sizeof(e->tdlq), "d.%s.%ld", tag, pid);
	if (opts == NULL)
		opts = &none;
	if (db_setup(e, err, errlen) != 0 || kafka_setup(e, opts->partitions, err, errlen) != 0)
		goto fail;
	if (sim_start_opts(&e->sim, &so) != 0) {
		snprintf(err, errlen, "tmsim did not start (see above)");
		goto fail;
	}
	if (settings_build(e, extra) != 0) {
		snprintf(err, errlen, "bad or too many worker settings");
		goto fail;
	}
	if (worker_start(&e->w, tag, (const char *const *)e->settings, err, errlen) != 0 ||
	    worker_wait_ready(e->w, WENV_READY_MS, err, errlen) != 0)
		goto fail;
	*out = e;
	return 0;
fail:
	wenv_teardown(e);
	return -1;
}

int
wenv_teardown(struct wenv *e)
{
	int rc = 0;

	if (e == NULL)
		return 0;
	if (e->w != NULL && worker_running(e->w)) {
		int st = worker_stop(e->w, WENV_STOP_MS, NULL);

		if (st != 0) {
			fprintf(stderr, "wenv: worker ended with %d on SIGTERM, not 0\n", st);
			worker_log_tail(e->w, 40);
			rc = -1;
		}
	}
	worker_free(e->w);
	kcoll_stop(e->events);
	kcoll_stop(e->dlq);
	kprod_free(e->prod);
	if (sim_stop_status(e->sim) != 0)
		rc = -1;
	ku_devkafka_stop(&e->dk);
	if (e->pg != NULL)
		PQfinish(e->pg);
	testdb_drop(&e->db);
	for (size_t i = 0; i < e->nsettings; i++)
		free(e->settings[i]);
	free(e);
	return rc;
}

int
wenv_worker_start_unready(struct wenv *e, const char *name, const char *const *extra,
			  struct worker **out, char *err, size_t errlen)
{
	char *saved[WORKER_ENV_MAX + 1];
	size_t nsaved = e->nsettings;
	int rc;

	/* The extra settings apply to this worker only: put them, start, restore. */
	for (size_t i = 0; i < nsaved; i++)
		saved[i] = strdup(e->settings[i]);
	for (size_t i = 0; extra != NULL && extra[i] != NULL; i++)
		setting_put(e, extra[i]);
	rc = worker_start(out, name, (const char *const *)e->settings, err, errlen);
	for (size_t i = 0; i < e->nsettings; i++)
		free(e->settings[i]);
	for (size_t i = 0; i < nsaved; i++)
		e->settings[i] = saved[i];
	e->nsettings = nsaved;
	e->settings[nsaved] = NULL;
	return rc;
}

int
wenv_worker_start(struct wenv *e, const char *name, const char *const *extra, struct worker **out,
		  char *err, size_t errlen)
{
	int rc = wenv_worker_start_unready(e, name, extra, out, err, errlen);

	if (rc == 0 && worker_wait_ready(*out, WENV_READY_MS, err, errlen) != 0) {
		worker_free(*out);
		*out = NULL;
		rc = -1;
	}
	return rc;
}

void
wenv_worker_restart(struct wenv *e, struct worker *w)
{
	char err[512];

	if (worker_restart(w, err, sizeof(err)) != 0 ||
	    worker_wait_ready(w, WENV_READY_MS, err, sizeof(err)) != 0)
		wenv_assert(e, 0, "restart: %s", err);
}

/* ---- sending ---- */

void
wenv_send_raw(struct wenv *e, const char *key, const void *val, size_t len, struct kdelivery *d)
{
	char err[512];

	if (kprod_send(e->prod, e->tcmd, key, key ? strlen(key) : 0, val, len, d, err,
		       sizeof(err)) != 0)
		wenv_assert(e, 0, "send: %s", err);
}

void
wenv_send_headers(struct wenv *e, const char *key, const void *val, size_t len,
		  rd_kafka_headers_t *hdrs, struct kdelivery *d)
{
	char err[512];

	if (kprod_send_headers(e->prod, e->tcmd, key, key ? strlen(key) : 0, val, len, hdrs, d, err,
			       sizeof(err)) != 0)
		wenv_assert(e, 0, "send: %s", err);
}

void
wenv_send(struct wenv *e, const char *id, const char *type, const char *subject, json_t *data)
{
	char *text = cmdjson_text(id, type, subject, data);

	wenv_assert(e, text != NULL, "cmdjson_text(%s) failed", id);
	wenv_send_raw(e, subject, text, strlen(text), NULL);
	free(text);
}

void
wenv_flush(struct wenv *e)
{
	char err[512];

	if (kprod_flush(e->prod, 30000, err, sizeof(err)) != 0)
		wenv_assert(e, 0, "flush: %s", err);
}

/* ---- outcomes ---- */

size_t
wenv_wait_outcomes(struct wenv *e, const char *const *ids, size_t n, int timeout_ms)
{
	return kcoll_wait_keys(e->events, ids, n, timeout_ms);
}

size_t
wenv_outcome_messages(struct wenv *e, const char *id, size_t *distinct)
{
	const struct kmsg *m[64];
	size_t n = kcoll_find(e->events, id, m, 64), k = n < 64 ? n : 64, d = 0;

	for (size_t i = 0; i < k; i++) {
		const char *eid = json_string_value(json_object_get(m[i]->json, "id"));
		size_t j = 0;

		while (j < i && !str_is(json_object_get(m[j]->json, "id"), eid))
			j++;
		d += j == i;
	}
	if (distinct != NULL)
		*distinct = d;
	return n;
}

size_t
wenv_outcomes_of_type(struct wenv *e, const char *prefix, const char *type)
{
	size_t n = kcoll_count(e->events), hits = 0, plen = strlen(prefix);

	for (size_t i = 0; i < n; i++) {
		const struct kmsg *m = kcoll_at(e->events, i);
		const char *cid = json_string_value(json_object_get(m->json, "commandid"));
		const char *t = json_string_value(json_object_get(m->json, "type"));

		hits += cid && t && strncmp(cid, prefix, plen) == 0 && strcmp(t, type) == 0;
	}
	return hits;
}

/* Checks the shared contract of an outcome event; fails the test otherwise. */
static void
outcome_check(struct wenv *e, const struct kmsg *m, const char *id, const char *subject,
	      const char *type)
{
	const json_t *ev = m->json;
	const char *evid = json_string_value(json_object_get(ev, "id"));
	char err[512], *outbox_id;

	wenv_assert(e, ev != NULL, "outcome of %s is not JSON: %.200s", id, m->value);
	wenv_assert(e, m->key != NULL && strcmp(m->key, subject) == 0,
		    "outcome of %s: Kafka key %s, want %s", id, m->key ? m->key : "(none)",
		    subject);
	wenv_assert(e, str_is(json_object_get(ev, "subject"), subject),
		    "outcome of %s: subject is not %s", id, subject);
	wenv_assert(e, str_is(json_object_get(ev, "commandid"), id),
		    "outcome of %s: commandid is not %s", id, id);
	wenv_assert(e, str_is(json_object_get(ev, "source"), "tmprov"),
		    "outcome of %s: source is not tmprov", id);
	wenv_assert(e, str_is(json_object_get(ev, "specversion"), "1.0"),
		    "outcome of %s: specversion is not 1.0", id);
	wenv_assert(e, evcheck_event(ev, err, sizeof(err)) == 0,
		    "outcome of %s breaks schemas/event.schema.json: %s\n%.600s", id, err,
		    m->value);
	if (type != NULL)
		wenv_assert(e, str_is(json_object_get(ev, "type"), type),
			    "outcome of %s: type %s, want %s\n%.600s", id,
			    json_string_value(json_object_get(ev, "type")), type, m->value);
	outbox_id = wenv_sql(e,
			     "SELECT event_id FROM outbox WHERE command_id = $1 AND type <> "
			     "'command.held'",
			     id, NULL);
	wenv_assert(e, outbox_id && evid && strcmp(outbox_id, evid) == 0,
		    "outcome of %s: event id %s, outbox row has %s", id, evid ? evid : "(none)",
		    outbox_id ? outbox_id : "(no row)");
	free(outbox_id);
}

const json_t *
wenv_outcome(struct wenv *e, const char *id, const char *subject, const char *type)
{
	const struct kmsg *m = NULL;
	size_t distinct;

	wenv_assert(e, wenv_wait_outcomes(e, &id, 1, WENV_TIMEOUT_MS) == 1,
		    "no outcome event for command %s within %d ms", id, WENV_TIMEOUT_MS);
	kcoll_find(e->events, id, &m, 1);
	outcome_check(e, m, id, subject, type);
	wenv_outcome_messages(e, id, &distinct);
	wenv_assert(e, distinct == 1, "command %s has %zu distinct outcome event ids", id,
		    distinct);
	return m->json;
}

const struct kmsg *
wenv_dlq_wait(struct wenv *e, const struct kdelivery *d, int timeout_ms)
{
	char key[64];
	const char *keys[] = {key};
	const struct kmsg *m = NULL;
	const char *topic;

	snprintf(key, sizeof(key), "%d:%lld", (int)d->partition, (long long)d->offset);
	if (kcoll_wait_keys(e->dlq, keys, 1, timeout_ms) != 1)
		return NULL;
	kcoll_find(e->dlq, key, &m, 1);
	topic = json_string_value(json_object_get(m->headers, "tmprov.origin.topic"));
	wenv_assert(e, topic && strcmp(topic, e->tcmd) == 0,
		    "DLQ copy of %s has tmprov.origin.topic %s, want %s", key,
		    topic ? topic : "(none)", e->tcmd);
	return m;
}

size_t
wenv_dlq_count(struct wenv *e, const struct kdelivery *d)
{
	char key[64];

	snprintf(key, sizeof(key), "%d:%lld", (int)d->partition, (long long)d->offset);
	return kcoll_find(e->dlq, key, NULL, 0);
}

/* ---- SQL ---- */

static PGresult *
sql_exec(struct wenv *e, const char *sql, const char *const *params, int n)
{
	PGresult *res = PQexecParams(e->pg, sql, n, NULL, params, NULL, NULL, 0);

	if (PQstatus(e->pg) != CONNECTION_OK) {
		/* PostgreSQL was restarted under us: one reconnect, then the query again. */
		PQclear(res);
		for (int i = 0; i < 100; i++) {
			PQreset(e->pg);
			if (PQstatus(e->pg) == CONNECTION_OK)
				break;
			usleep(100000);
		}
		res = PQexecParams(e->pg, sql, n, NULL, params, NULL, NULL, 0);
	}
	return res;
}

static char *
sql_value(struct wenv *e, const char *sql, va_list ap)
{
	const char *params[SQL_PARAMS_MAX];
	const char *p;
	int n = 0;
	PGresult *res;
	char *v = NULL;

	while ((p = va_arg(ap, const char *)) != NULL && n < SQL_PARAMS_MAX)
		params[n++] = p;
	res = sql_exec(e, sql, params, n);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		fprintf(stderr, "wenv_sql: %s: %s", sql, PQresultErrorMessage(res));
		PQclear(res);
		wenv_assert(e, 0, "SQL failed");
	}
	if (PQntuples(res) > 0 && !PQgetisnull(res, 0, 0))
		v = strdup(PQgetvalue(res, 0, 0));
	PQclear(res);
	return v;
}

char *
wenv_sql(struct wenv *e, const char *sql, ...)
{
	va_list ap;
	char *v;

	va_start(ap, sql);
	v = sql_value(e, sql, ap);
	va_end(ap);
	return v;
}

long
wenv_sql_long(struct wenv *e, const char *sql, ...)
{
	va_list ap;
	char *v;
	long n;

	va_start(ap, sql);
	v = sql_value(e, sql, ap);
	va_end(ap);
	n = v ? strtol(v, NULL, 10) : -1;
	free(v);
	return n;
}

long
wenv_outbox_wait(struct wenv *e, const char *like, long n, int timeout_ms)
{
	long deadline = clock_now_ms() + timeout_ms, have;
	const struct timespec pause = {0, 5000000L};

	while (
	    (have = wenv_sql_long(
		 e,
		 "SELECT count(*) FROM outbox WHERE command_id LIKE $1 AND type <> 'command.held'",
		 like, NULL)) < n &&
	    clock_now_ms() < deadline)
		nanosleep(&pause, NULL);
	return have;
}

/* ---- tmsim ---- */

json_t *
wenv_sim_list(struct wenv *e, const char *endpoint)
{
	json_t *doc = NULL, *out = json_array(), *call;
	size_t i;

	wenv_assert(e, sim_calls(e->sim, &doc) == 0, "tmsim /_sim/calls did not answer");
	json_array_foreach(json_object_get(doc, "calls"), i, call)
	{
		const char *ep = json_string_value(json_object_get(call, "endpoint"));

		if (endpoint == NULL || (ep && strcmp(ep, endpoint) == 0))
			json_array_append(out, call);
	}
	json_decref(doc);
	return out;
}

static long
sim_calls_count(struct wenv *e, const char *endpoint, const char *param, const char *value,
		int effective_only)
{
	json_t *list = wenv_sim_list(e, endpoint), *call;
	long n = 0;
	size_t i;

	json_array_foreach(list, i, call)
	{
		const json_t *v =
		    json_object_get(json_object_get(call, "params"), param ? param : "");
		const char *fault = json_string_value(json_object_get(call, "fault"));
		int replaced = fault && (strcmp(fault, "error") == 0 || strcmp(fault, "html") == 0);

		if (effective_only && replaced)
			continue;
		n += param == NULL || str_is(v, value);
	}
	json_decref(list);
	return n;
}

long
wenv_sim_calls(struct wenv *e, const char *endpoint, const char *param, const char *value)
{
	return sim_calls_count(e, endpoint, param, value, 0);
}

long
wenv_sim_effective(struct wenv *e, const char *endpoint, const char *param, const char *value)
{
	return sim_calls_count(e, endpoint, param, value, 1);
}

json_t *
wenv_sim_effective_by(struct wenv *e, const char *endpoint, const char *param)
{
	json_t *list = wenv_sim_list(e, endpoint), *call, *counts = json_object();
	size_t i;

	json_array_foreach(list, i, call)
	{
		const char *v =
		    json_string_value(json_object_get(json_object_get(call, "params"), param));
		const char *fault = json_string_value(json_object_get(call, "fault"));

		if (v == NULL ||
		    (fault && (strcmp(fault, "error") == 0 || strcmp(fault, "html") == 0)))
			continue;
		json_object_set_new(counts, v, json_integer(wenv_count_of(counts, v) + 1));
	}
	json_decref(list);
	return counts;
}

long
wenv_count_of(const json_t *counts, const char *value)
{
	const json_t *n = json_object_get(counts, value);

	return n ? (long)json_integer_value(n) : 0;
}

void
wenv_sim_faults(struct wenv *e, const char *query)
{
	wenv_assert(e, sim_faults(e->sim, query) == 0, "tmsim refused faults %s", query);
}

/* ---- PostgreSQL ---- */

int
wenv_pg_ctl(const char *action, char *err, size_t errlen)
{
	return wenv_pg_ctl_mode(action, "fast", err, errlen);
}

int
wenv_pg_ctl_mode(const char *action, const char *mode, char *err, size_t errlen)
{
	const char *data = getenv("TMPROV_PG_DATA"), *tmp = getenv("TMPROV_TEST_TMP");
	const char *pg_ctl = tprog("pg_ctl");
	char log[1100], out[1100];
	const char *argv[16];
	int n = 0, status = 0, fd;
	pid_t pid;

	if (!data || !*data || !tmp) {
		snprintf(err, errlen, "TMPROV_PG_DATA and TMPROV_TEST_TMP must be set");
		return -1;
	}
	/* The server log beside the data directory, where tools/stack.sh started it. */
	snprintf(log, sizeof(log), "%.*s/server.log", (int)(strrchr(data, '/') - data), data);
	snprintf(out, sizeof(out), "%s/pg_ctl-%ld.out", tmp, (long)getpid());
	if (geteuid() == 0) {
		argv[n++] = tprog("runuser");
		argv[n++] = "-u";
		argv[n++] = "postgres";
		argv[n++] = "--";
	}
	argv[n++] = pg_ctl;
	argv[n++] = "-D";
	argv[n++] = data;
	argv[n++] = "-l";
	argv[n++] = log;
	argv[n++] = "-w";
	argv[n++] = "-t";
	argv[n++] = "60";
	argv[n++] = "-m";
	argv[n++] = mode;
	argv[n++] = action;
	argv[n] = NULL;
	fflush(NULL);
	pid = fork();
	if (pid == 0) {
		fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd >= 0) {
			dup2(fd, STDOUT_FILENO);
			dup2(fd, STDERR_FILENO);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
	    WEXITSTATUS(status) != 0) {
		snprintf(err, errlen, "pg_ctl %s failed (status %d); see %s", action, status, out);
		return -1;
	}
	return 0;
}
