/* fmatrix: the fault matrix's world, load, worker control, invariants and verdict lines (see
 * fmatrix.h). A row collects violations instead of stopping at the first, so its FAIL line
 * names every invariant it broke, with the figures. */
#include "fmatrix.h"

#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "clock.h"
#include "cmdjson.h"

#define VIOLATIONS_MAX 2048
#define SHOWN_MAX      5 /* ids named per violation, the rest counted */

/* The row running now: cmocka's tear-down takes no argument. */
static struct {
	struct fm *f;
	char name[16];
	long start_ms;
	long calls0;
	char viol[VIOLATIONS_MAX];
	int nviol, started, ended;
} row;

static struct {
	struct fm **out;
	const char *tag;
	const struct fm_opts *opts;
	int teardown_failed;
} group;

static unsigned long long rng_state;

void
fm_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

long
fm_rand(long lo, long hi)
{
	if (rng_state == 0) {
		const char *s = getenv("TMPROV_TEST_SEED");

		rng_state = s ? strtoull(s, NULL, 10) : (unsigned long long)clock_now_ns();
		rng_state |= 1;
		printf("# fault matrix seed %llu (TMPROV_TEST_SEED repeats it)\n", rng_state);
	}
	/* xorshift64: enough for choosing moments; the seed makes a run repeatable. */
	rng_state ^= rng_state << 13;
	rng_state ^= rng_state >> 7;
	rng_state ^= rng_state << 17;
	return lo + (long)(rng_state % (unsigned long long)(hi - lo + 1));
}

/* ---- world ---- */

static int
group_setup(void **state)
{
	const struct wenv_opts wo = {.partitions = FM_PARTITIONS,
				     .sim_env = group.opts ? group.opts->sim_env : NULL};
	struct fm *f = calloc(1, sizeof(*f));
	char err[1024];

	(void)state;
	if (f == NULL || sodium_init() < 0)
		return -1;
	*group.out = f;
	if (wenv_setup_opts(&f->e, group.tag, &wo, group.opts ? group.opts->extra : NULL, err,
			    sizeof(err)) != 0) {
		fprintf(stderr, "setup: %s\n", err);
		return -1;
	}
	f->w[0] = f->e->w;
	f->nw = 1;
	while (f->nw < FM_WORKERS) {
		char name[32];

		snprintf(name, sizeof(name), "%s-w%d", group.tag, f->nw + 1);
		if (wenv_worker_start(f->e, name, NULL, &f->w[f->nw], err, sizeof(err)) != 0) {
			fprintf(stderr, "setup: worker %d: %s\n", f->nw + 1, err);
			return -1;
		}
		f->nw++;
	}
	return 0;
}

static int
group_teardown(void **state)
{
	struct fm *f = *group.out;

	(void)state;
	if (f == NULL)
		return 0;
	for (int i = 1; i < f->nw; i++)
		worker_free(f->w[i]);
	group.teardown_failed = wenv_teardown(f->e) != 0;
	free(f);
	*group.out = NULL;
	return group.teardown_failed ? -1 : 0;
}

int
fm_run(struct fm **out, const char *tag, const struct fm_opts *opts, const struct CMUnitTest *rows,
       size_t n)
{
	int rc;

	group.out = out;
	group.tag = tag;
	group.opts = opts;
	if (getenv("TMPROV_TEST_FILTER") != NULL)
		cmocka_set_test_filter(getenv("TMPROV_TEST_FILTER"));
	rc = _cmocka_run_group_tests(tag, rows, n, group_setup, group_teardown);
	return rc || group.teardown_failed ? 1 : 0;
}

/* ---- rows ---- */

void
fm_violation(const char *fmt, ...)
{
	size_t used = strlen(row.viol);
	va_list ap;

	if (used + 8 >= sizeof(row.viol))
		return;
	if (row.nviol++ > 0)
		used += (size_t)snprintf(row.viol + used, sizeof(row.viol) - used, "; ");
	va_start(ap, fmt);
	vsnprintf(row.viol + used, sizeof(row.viol) - used, fmt, ap);
	va_end(ap);
}

double
fm_row_seconds(void)
{
	return (double)(clock_now_ms() - row.start_ms) / 1000.0;
}

/* API keys a row pushed errors for on tmprov-devkafka: the next row clears what is left of
 * them (K7's unconsumed OffsetCommit errors once made K9's workers miss their coordinator). */
#define FM_API_KEYS 128
static bool pushed_api[FM_API_KEYS];

static void fm_kafka_send(struct fm *f, const char *line);

static void
clear_pushed_errors(struct fm *f)
{
	char line[32];

	for (int api = 0; api < FM_API_KEYS; api++) {
		if (!pushed_api[api])
			continue;
		snprintf(line, sizeof(line), "clear %d", api);
		fm_kafka_send(f, line);
		pushed_api[api] = false;
	}
}

void
fm_row_begin(struct fm *f, const char *name)
{
	char err[512];

	memset(&row, 0, sizeof(row));
	row.f = f;
	snprintf(row.name, sizeof(row.name), "%s", name);
	row.started = 1;
	wenv_sim_faults(f->e, "reset=1");
	wenv_assert(f->e, sim_mx(f->e->sim, "reset=1") == 0, "tmsim /_sim/mx refused reset=1");
	clear_pushed_errors(f);
	for (int i = 0; i < f->nw; i++) {
		if (!worker_running(f->w[i]))
			wenv_worker_restart(f->e, f->w[i]);
		else if (worker_wait_ready(f->w[i], WENV_READY_MS, err, sizeof(err)) != 0)
			wenv_assert(f->e, 0, "%s: worker %d not ready: %s", name, i, err);
	}
	row.calls0 = sim_count(f->e->sim, NULL);
	row.start_ms = clock_now_ms();
	printf("# %s begins\n", name);
	fflush(stdout);
}

/* SIGTERM to every running worker at once, then each must exit 0 in time. An exit by the exit
 * guard (a shutdown step past its bound, the process ended all the same) is no violation here
 * (K8 and K10 hold the bounds themselves): a NOTE line says so, with the worker's last lines,
 * where its guard wrote the stuck thread's backtrace. */
static void
stop_all(struct fm *f)
{
	long guarded[FM_WORKERS_MAX];

	for (int i = 0; i < f->nw; i++) {
		guarded[i] = worker_log_count(f->w[i], "past its bound");
		if (worker_running(f->w[i]))
			worker_signal(f->w[i], SIGTERM);
	}
	for (int i = 0; i < f->nw; i++) {
		long ms = 0;
		int st = worker_wait(f->w[i], WENV_STOP_MS, &ms);

		if (st == 0 && worker_log_count(f->w[i], "past its bound") > guarded[i]) {
			printf("NOTE %s: worker %d was ended by its exit guard at the row's stop, "
			       "after %ld ms\n",
			       row.name, i + 1, ms);
			fflush(stdout);
			worker_log_tail(f->w[i], 40);
		}

		if (st == -1 || st == 128 + SIGKILL) {
			if (st == -1)
				worker_kill(f->w[i]);
			fm_violation("worker %d did not exit on SIGTERM within %d ms", i + 1,
				     WENV_STOP_MS);
			worker_log_tail(f->w[i], 20);
		} else if (st != 0) {
			fm_violation("worker %d exited %d on SIGTERM", i + 1, st);
			worker_log_tail(f->w[i], 20);
		}
	}
}

/* The end of fm_row_end and fm_row_end_skip: unchecked NULL, or why the row cannot pass. */
static void __attribute__((format(printf, 3, 0)))
row_finish(struct fm *f, const char *unchecked, const char *fmt, va_list ap)
{
	char figures[1024];

	vsnprintf(figures, sizeof(figures), fmt, ap);
	stop_all(f);
	row.ended = 1;
	if (row.nviol != 0)
		printf("FAIL %s: %s; %s (%.1f s)\n", row.name, row.viol, figures, fm_row_seconds());
	else if (unchecked != NULL)
		printf("SKIP %s: %s; %s (%.1f s)\n", row.name, unchecked, figures,
		       fm_row_seconds());
	else
		printf("PASS %s: %s (%.1f s)\n", row.name, figures, fm_row_seconds());
	fflush(stdout);
	if (row.nviol != 0)
		fail_msg("%s: %s", row.name, row.viol);
	if (unchecked != NULL)
		skip();
}

void
fm_row_end(struct fm *f, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	row_finish(f, NULL, fmt, ap);
	va_end(ap);
}

void
fm_row_end_skip(struct fm *f, const char *unchecked, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	row_finish(f, unchecked, fmt, ap);
	va_end(ap);
}

void
fm_row_skip(const char *fmt, ...)
{
	char reason[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(reason, sizeof(reason), fmt, ap);
	va_end(ap);
	row.ended = 1;
	printf("SKIP %s: %s\n", row.name, reason);
	fflush(stdout);
	skip();
}

int
fm_row_teardown(void **state)
{
	(void)state;
	if (row.started && !row.ended && row.f != NULL) {
		printf("FAIL %s: aborted after %.1f s (see the assertion above)%s%s\n", row.name,
		       fm_row_seconds(), row.nviol ? "; " : "", row.viol);
		fflush(stdout);
		/* The next row starts from fresh workers, whatever state this one left. */
		for (int i = 0; i < row.f->nw; i++)
			if (worker_running(row.f->w[i]))
				worker_kill(row.f->w[i]);
	}
	row.started = 0;
	return 0;
}

/* ---- load ---- */

void
fload_subject(const struct fload *l, int i, char *buf, size_t len)
{
	snprintf(buf, len, "%s-%05d", l->prefix, i);
}

void
fload_build(struct fload *l, const char *prefix, const char *pattern, int nsubj)
{
	size_t plen = strlen(pattern), k = 0;

	memset(l, 0, sizeof(*l));
	snprintf(l->prefix, sizeof(l->prefix), "%s", prefix);
	l->pattern = pattern;
	l->nsubj = nsubj;
	l->n = plen * (size_t)nsubj;
	l->ids = calloc(l->n, sizeof(*l->ids));
	l->idp = calloc(l->n, sizeof(*l->idp));
	l->subj = calloc(l->n, sizeof(*l->subj));
	l->kind = calloc(l->n, 1);
	assert_true(l->ids && l->idp && l->subj && l->kind);
	/* Index pos * nsubj + subject: the order they are sent in. */
	for (size_t pos = 0; pos < plen; pos++) {
		for (int i = 0; i < nsubj; i++, k++) {
			snprintf(l->ids[k], sizeof(l->ids[k]), "%s-%05d-%zu%c", prefix, i, pos,
				 pattern[pos]);
			l->idp[k] = l->ids[k];
			l->subj[k] = i;
			l->kind[k] = pattern[pos];
		}
	}
}

/* The data of command k (new reference, NULL for none). */
static json_t *
command_data(const struct fload *l, size_t k)
{
	char name[64], email[96], user[48];
	int i = l->subj[k];

	snprintf(user, sizeof(user), "%s-u%05d", l->prefix, i);
	switch (l->kind[k]) {
	case 'c':
		snprintf(name, sizeof(name), "%s company %05d", l->prefix, i);
		snprintf(email, sizeof(email), "ops@%s-%05d.example", l->prefix, i);
		return json_pack("{s:s, s:s, s:i, s:i}", "company_name", name, "email", email,
				 "rooms", 1, "participants", 5);
	case 'u':
		return json_pack("{s:i}", "rooms", 100 + (int)(k / (size_t)l->nsubj));
	case 'p':
		snprintf(email, sizeof(email), "%s@users.example", user);
		return json_pack("{s:s, s:s, s:s, s:s, s:s}", "user_id", user, "email", email,
				 "first_name", "Ada", "last_name", "Lovelace", "password",
				 "correct horse");
	case 's':
		return json_pack("{s:s, s:s, s:s}", "user_id", user, "topic", "fault matrix",
				 "start_time", "2030-01-02T03:04:05Z");
	default:
		return NULL;
	}
}

static const char *
command_type(char kind)
{
	switch (kind) {
	case 'c':
		return "account.create";
	case 'u':
		return "account.update";
	case 'q':
		return "account.query";
	case 'p':
		return "user.upsert";
	case 's':
		return "meeting.schedule";
	default:
		return "account.delete";
	}
}

void
fload_send_range(struct fm *f, struct fload *l, size_t from, size_t to)
{
	char s[48];

	for (size_t k = from; k < to && k < l->n; k++) {
		fload_subject(l, l->subj[k], s, sizeof(s));
		wenv_send(f->e, l->ids[k], command_type(l->kind[k]), s, command_data(l, k));
	}
	wenv_flush(f->e);
}

void
fload_send(struct fm *f, struct fload *l, const char *prefix, const char *pattern, int nsubj)
{
	fload_build(l, prefix, pattern, nsubj);
	fload_send_range(f, l, 0, l->n);
}

void
fload_free(struct fload *l)
{
	free(l->ids);
	free(l->idp);
	free(l->subj);
	free(l->kind);
	memset(l, 0, sizeof(*l));
}

long
fload_done(struct fm *f, const struct fload *l)
{
	char like[40];

	snprintf(like, sizeof(like), "%s-%%", l->prefix);
	return wenv_sql_long(f->e,
			     "SELECT count(*) FROM commands WHERE id LIKE $1 AND status NOT IN "
			     "('received', 'in_progress')",
			     like, NULL);
}

long
fload_wait_done(struct fm *f, const struct fload *l, long n, int timeout_ms)
{
	long deadline = clock_now_ms() + timeout_ms, have;

	while ((have = fload_done(f, l)) < n && clock_now_ms() < deadline)
		fm_sleep_ms(20);
	return have;
}

/* ---- workers ---- */

int
fm_worker_add(struct fm *f, const char *name, const char *const *extra)
{
	char err[512];

	wenv_assert(f->e, f->nw < FM_WORKERS_MAX, "more than %d workers", FM_WORKERS_MAX);
	wenv_assert(f->e, wenv_worker_start(f->e, name, extra, &f->w[f->nw], err, sizeof(err)) == 0,
		    "worker %s: %s", name, err);
	return f->nw++;
}

int
fm_worker_remove(struct fm *f, int i)
{
	long ms = 0;
	int st;

	wenv_assert(f->e, i == f->nw - 1 && i > 0, "only the last added worker can be removed");
	st = worker_stop(f->w[i], WENV_STOP_MS, &ms);
	worker_free(f->w[i]);
	f->w[i] = NULL;
	f->nw--;
	return st;
}

static void
fm_kafka_send(struct fm *f, const char *line)
{
	char err[512];
	int broker;

	if (ku_devkafka_fault(&f->e->dk, line, err, sizeof(err)) == 0)
		return;
	broker = ku_devkafka_exited(&f->e->dk);
	if (broker >= 0)
		log_file_tail("tmprov-devkafka", f->e->dk.log, 30);
	wenv_assert(f->e, broker < 0, "%s: tmprov-devkafka itself ended (status %d)", line, broker);
	wenv_assert(f->e, false, "%s: %s", line, err);
}

/* The suite's words translated for tmprov-devkafka's control socket (tools/devkafka/control.c):
 * its one broker (id 1) down or up; N errors of an API pushed at most 50 a command (the socket
 * takes 63 words a line). */
void
fm_kafka_fault(struct fm *f, const char *cmd)
{
	char line[512];
	int api, code, n;

	if (strcmp(cmd, "down") == 0 || strcmp(cmd, "up") == 0) {
		snprintf(line, sizeof(line), "broker-%s 1", cmd);
		fm_kafka_send(f, line);
		return;
	}
	if (sscanf(cmd, "rtt %d", &n) == 1 && n >= 0) {
		snprintf(line, sizeof(line), "rtt 1 %d", n);
		fm_kafka_send(f, line);
		return;
	}
	wenv_assert(f->e,
		    sscanf(cmd, "errors %d %d %d", &api, &code, &n) == 3 && n > 0 && api >= 0 &&
			api < FM_API_KEYS,
		    "fm_kafka_fault: bad command %s", cmd);
	pushed_api[api] = true;
	while (n > 0) {
		int k = n < 50 ? n : 50, len = snprintf(line, sizeof(line), "errors %d", api);

		for (int i = 0; i < k; i++)
			len += snprintf(line + len, sizeof(line) - (size_t)len, " %d", code);
		fm_kafka_send(f, line);
		n -= k;
	}
}

/* ---- invariants ---- */

void
fm_mark_take(struct fm *f, const struct fload *l, struct fm_mark *m)
{
	char like[40];
	const char *params[1] = {like};
	PGresult *res;

	/* The done set first: a command in it was done before the call count is read, so any
	 * call for it after that count is a re-send. */
	m->done = json_object();
	snprintf(like, sizeof(like), "%s-%%", l->prefix);
	wenv_sql_long(f->e, "SELECT 1", NULL); /* reconnects after a PostgreSQL restart */
	res = PQexecParams(f->e->pg,
			   "SELECT id FROM commands WHERE id LIKE $1 AND status NOT IN "
			   "('received', 'in_progress')",
			   1, NULL, params, NULL, NULL, 0);
	wenv_assert(f->e, PQresultStatus(res) == PGRES_TUPLES_OK, "mark: %s",
		    PQresultErrorMessage(res));
	for (int r = 0; r < PQntuples(res); r++)
		json_object_set_new(m->done, PQgetvalue(res, r, 0), json_true());
	PQclear(res);
	m->seq = sim_count(f->e->sim, NULL);
}

void
fm_mark_free(struct fm_mark *m)
{
	json_decref(m->done);
	m->done = NULL;
}

/* The pattern letter of a TM endpoint. */
static char
endpoint_kind(const char *ep)
{
	static const struct {
		const char *ep;
		char kind;
	} map[] = {{"create_account", 'c'},
		   {"update_account", 'u'},
		   {"query_account", 'q'},
		   {"remote_schedule", 's'},
		   {"delete_account", 'd'}};

	for (size_t i = 0; ep && i < sizeof(map) / sizeof(map[0]); i++)
		if (strcmp(map[i].ep, ep) == 0)
			return map[i].kind;
	return 0;
}

/* company_uid -> subject number, for l's accounts (new reference). */
static json_t *
uid_subjects(struct fm *f, const struct fload *l)
{
	char like[40];
	const char *params[1] = {like};
	json_t *map = json_object();
	size_t plen = strlen(l->prefix) + 1;
	PGresult *res;

	snprintf(like, sizeof(like), "%s-%%", l->prefix);
	wenv_sql_long(f->e, "SELECT 1", NULL);
	res = PQexecParams(f->e->pg,
			   "SELECT company_uid, subject FROM accounts WHERE subject LIKE $1", 1,
			   NULL, params, NULL, NULL, 0);
	wenv_assert(f->e, PQresultStatus(res) == PGRES_TUPLES_OK, "accounts: %s",
		    PQresultErrorMessage(res));
	for (int r = 0; r < PQntuples(res); r++)
		json_object_set_new(map, PQgetvalue(res, r, 0),
				    json_integer(atoi(PQgetvalue(res, r, 1) + plen)));
	PQclear(res);
	return map;
}

/* The subject number a TM call was made for, -1 when it is not l's. */
static int
call_subject(const struct fload *l, const json_t *call, const json_t *uids)
{
	const json_t *params = json_object_get(call, "params");
	const char *name = json_string_value(json_object_get(params, "company_name"));
	const char *uid = json_string_value(json_object_get(params, "company_uid"));
	char head[48];
	size_t hlen;

	if (uid != NULL) {
		const json_t *s = json_object_get(uids, uid);

		return s ? (int)json_integer_value(s) : -1;
	}
	hlen = (size_t)snprintf(head, sizeof(head), "%s company ", l->prefix);
	if (name == NULL || strncmp(name, head, hlen) != 0)
		return -1;
	return atoi(name + hlen);
}

long
fm_resent(struct fm *f, const struct fload *l, const struct fm_mark *m)
{
	json_t *calls = wenv_sim_list(f->e, NULL), *uids = uid_subjects(f, l), *call;
	char shown[256] = "";
	long resent = 0;
	size_t i;

	json_array_foreach(calls, i, call)
	{
		long seq = (long)json_integer_value(json_object_get(call, "seq"));
		char kind = endpoint_kind(json_string_value(json_object_get(call, "endpoint")));
		const char *pos = kind ? strchr(l->pattern, kind) : NULL;
		int s;
		const char *id;

		if (seq <= m->seq || pos == NULL || (s = call_subject(l, call, uids)) < 0 ||
		    s >= l->nsubj)
			continue;
		id = l->ids[(size_t)(pos - l->pattern) * (size_t)l->nsubj + (size_t)s];
		if (json_object_get(m->done, id) == NULL)
			continue;
		if (resent++ < SHOWN_MAX)
			snprintf(shown + strlen(shown), sizeof(shown) - strlen(shown), " %s", id);
	}
	if (resent)
		fm_violation("%ld TM calls for commands already done (%s)", resent, shown);
	json_decref(calls);
	json_decref(uids);
	return resent;
}

/* The first outcome message of id, NULL when none. */
static const struct kmsg *
first_outcome(struct fm *f, const char *id)
{
	const struct kmsg *m = NULL;

	return kcoll_find(f->e->events, id, &m, 1) ? m : NULL;
}

static int
data_flag(const json_t *ev, const char *flag)
{
	return json_is_true(json_object_get(json_object_get(ev, "data"), flag));
}

static const char *
ev_type(const json_t *ev)
{
	const char *t = json_string_value(json_object_get(ev, "type"));

	return t ? t : "";
}

/* Outcomes: lost, more than one event id, types counted. */
static void
check_outcomes(struct fm *f, const struct fload *l, struct fm_inv *inv)
{
	char lost[256] = "", multi[256] = "";
	size_t first_lost = 0;

	for (size_t k = 0; k < l->n; k++) {
		const struct kmsg *m = first_outcome(f, l->idp[k]);
		size_t distinct = 0;

		if (m == NULL) {
			if (inv->lost == 0)
				first_lost = k;
			if (inv->lost++ < SHOWN_MAX)
				snprintf(lost + strlen(lost), sizeof(lost) - strlen(lost), " %s",
					 l->idp[k]);
			continue;
		}
		wenv_outcome_messages(f->e, l->idp[k], &distinct);
		if (distinct != 1 && inv->multi_id++ < SHOWN_MAX)
			snprintf(multi + strlen(multi), sizeof(multi) - strlen(multi), " %s",
				 l->idp[k]);
		if (strcmp(ev_type(m->json), "command.failed") == 0) {
			if (inv->failed == 0)
				snprintf(inv->failed_sample, sizeof(inv->failed_sample), "%s: %s",
					 l->idp[k],
					 json_string_value(json_object_get(
					     json_object_get(m->json, "data"), "reason")));
			inv->failed++;
			inv->parked += l->kind[k] == 'c' && data_flag(m->json, "outcome_unknown");
		}
		inv->possible_dup += data_flag(m->json, "possible_duplicate");
	}
	if (inv->lost) {
		char *st;

		/* Where the first lost one stopped: no command row, no outbox row, or an outbox
		 * row published or not. */
		st = wenv_sql(f->e,
			      "SELECT c.status || ', outbox ' || coalesce(CASE WHEN o.seq IS NULL "
			      "THEN 'none' WHEN o.published_at IS NULL THEN 'unpublished' ELSE "
			      "'published' END, '') FROM commands c LEFT JOIN outbox o ON "
			      "o.command_id = c.id WHERE c.id = $1",
			      l->idp[first_lost], NULL);
		fm_violation("lost %zu (no outcome event:%s; %s: %s)", inv->lost, lost,
			     l->idp[first_lost], st ? st : "no command row");
		free(st);
	}
	if (inv->multi_id)
		fm_violation("%zu commands with more than one outcome event id (%s)", inv->multi_id,
			     multi);
}

/* Per subject, the outcomes leave in command order (first copies: a re-publish may repeat
 * an earlier one later). */
static void
check_order(struct fm *f, const struct fload *l, struct fm_inv *inv)
{
	size_t plen = strlen(l->pattern);
	char shown[256] = "";

	for (int i = 0; i < l->nsubj; i++) {
		int64_t last = -1;

		for (size_t pos = 0; pos < plen; pos++) {
			const struct kmsg *m = first_outcome(f, l->idp[pos * (size_t)l->nsubj + i]);

			if (m == NULL)
				continue;
			if (m->offset < last && inv->misorder++ < SHOWN_MAX)
				snprintf(shown + strlen(shown), sizeof(shown) - strlen(shown),
					 " %s", l->idp[pos * (size_t)l->nsubj + i]);
			last = m->offset;
		}
	}
	if (inv->misorder)
		fm_violation("%zu subjects' events out of command order (%s)", inv->misorder,
			     shown);
}

static void
check_creates(struct fm *f, const struct fload *l, struct fm_inv *inv)
{
	json_t *counts = wenv_sim_effective_by(f->e, "create_account", "company_name");
	char name[64], shown[256] = "";

	for (int i = 0; i < l->nsubj; i++) {
		long c;

		snprintf(name, sizeof(name), "%s company %05d", l->prefix, i);
		c = wenv_count_of(counts, name);
		if (c > 1 && inv->creates_dup++ < SHOWN_MAX)
			snprintf(shown + strlen(shown), sizeof(shown) - strlen(shown), " %s x%ld",
				 name, c);
	}
	json_decref(counts);
	if (inv->creates_dup)
		fm_violation("%ld accounts created more than once at TM (%s)", inv->creates_dup,
			     shown);
}

void
fm_check(struct fm *f, const struct fload *l, int timeout_ms, struct fm_inv *inv)
{
	char like[40];
	int broker;

	memset(inv, 0, sizeof(*inv));
	inv->n = l->n;
	wenv_wait_outcomes(f->e, l->idp, l->n, timeout_ms);
	inv->done_s = fm_row_seconds();
	/* The test's broker dying (librdkafka's mock) explains every loss after it: say so first.
	 */
	broker = ku_devkafka_exited(&f->e->dk);
	if (broker >= 0) {
		fm_violation("tmprov-devkafka itself ended (status %d): the broker, not tmprov",
			     broker);
		log_file_tail("tmprov-devkafka", f->e->dk.log, 30);
	}
	check_outcomes(f, l, inv);
	check_order(f, l, inv);
	check_creates(f, l, inv);
	snprintf(like, sizeof(like), "%s-%%", l->prefix);
	inv->open = (size_t)wenv_sql_long(f->e,
					  "SELECT count(*) FROM commands WHERE id LIKE $1 AND "
					  "status IN ('received', 'in_progress')",
					  like, NULL);
	if (inv->open)
		fm_violation("%zu commands not in a terminal state", inv->open);
	inv->calls = sim_count(f->e->sim, NULL) - row.calls0;
}

long
fm_outcomes(struct fm *f, const struct fload *l, char kind, const char *type, const char *flag)
{
	long n = 0;

	for (size_t k = 0; k < l->n; k++) {
		const struct kmsg *m;

		if (kind && l->kind[k] != kind)
			continue;
		m = first_outcome(f, l->idp[k]);
		if (m == NULL || (type && strcmp(ev_type(m->json), type) != 0))
			continue;
		n += flag == NULL || data_flag(m->json, flag);
	}
	return n;
}

const json_t *
fm_outcome_of(struct fm *f, const struct fload *l, int subj, char kind)
{
	const char *pos = strchr(l->pattern, kind);
	const struct kmsg *m;

	if (pos == NULL)
		return NULL;
	m = first_outcome(f, l->idp[(size_t)(pos - l->pattern) * (size_t)l->nsubj + subj]);
	return m ? m->json : NULL;
}

const char *
fm_outcome_type(struct fm *f, const char *id)
{
	const struct kmsg *m = first_outcome(f, id);

	return m ? ev_type(m->json) : "";
}
