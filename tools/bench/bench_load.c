/* bench_load: the worker scenarios' commands, generated from (subject, position) so that every
 * round sends the same load, and the pre-load each needs. */
#include "bench_load.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench.h"
#include "bench_db.h"

static const char *const BENCH_KIND_TYPES[BENCH_NKINDS] = {
    [BENCH_CREATE] = "account.create",	   [BENCH_UPDATE] = "account.update",
    [BENCH_UPSERT] = "user.upsert",	   [BENCH_UPSERT_PASSWORD] = "user.upsert",
    [BENCH_SCHEDULE] = "meeting.schedule", [BENCH_CANCEL] = "meeting.cancel",
};

static const char *const BENCH_KIND_NAMES[BENCH_NKINDS] = {
    [BENCH_CREATE] = "create",	   [BENCH_UPDATE] = "update",
    [BENCH_UPSERT] = "upsert",	   [BENCH_UPSERT_PASSWORD] = "upsert_password",
    [BENCH_SCHEDULE] = "schedule", [BENCH_CANCEL] = "cancel",
};

int
bench_mix_parse(const char *name, enum bench_mix *out)
{
	static const char *const names[] = {"mixed", "tm", "password", "import"};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0) {
			*out = (enum bench_mix)i;
			return 0;
		}
	return -1;
}

const char *
bench_kind_type(enum bench_kind k)
{
	return BENCH_KIND_TYPES[k];
}

const char *
bench_kind_name(enum bench_kind k)
{
	return BENCH_KIND_NAMES[k];
}

bool
bench_load_seeded(const struct bench_load *l, long s)
{
	return l->mix == BENCH_MIX_PASSWORD || (l->mix != BENCH_MIX_IMPORT && s % 2 == 1);
}

bool
bench_load_needs_tm(const struct bench_load *l)
{
	return l->mix != BENCH_MIX_PASSWORD && l->mix != BENCH_MIX_IMPORT;
}

enum bench_kind
bench_load_kind(const struct bench_load *l, long s, long k)
{
	static const enum bench_kind seeded_mixed[] = {BENCH_UPDATE, BENCH_UPSERT, BENCH_SCHEDULE,
						       BENCH_CANCEL};
	static const enum bench_kind fresh_mixed[] = {BENCH_SCHEDULE, BENCH_UPDATE, BENCH_UPSERT};

	switch (l->mix) {
	case BENCH_MIX_PASSWORD:
		return BENCH_UPSERT_PASSWORD;
	case BENCH_MIX_IMPORT:
		return k == 0 ? BENCH_CREATE : BENCH_UPDATE;
	case BENCH_MIX_TM:
		if (bench_load_seeded(l, s))
			return k % 2 == 0 ? BENCH_SCHEDULE : BENCH_UPDATE;
		return k == 0 ? BENCH_CREATE : BENCH_UPDATE;
	case BENCH_MIX_MIXED:
		break;
	}
	if (bench_load_seeded(l, s))
		return seeded_mixed[k % 4];
	if (k < 2)
		return k == 0 ? BENCH_CREATE : BENCH_UPSERT;
	return fresh_mixed[(k - 2) % 3];
}

int
bench_load_init(struct bench_load *l, enum bench_mix mix, long commands, long subjects,
		const char *tag, const struct password_opts *po, char *err, size_t errlen)
{
	char credential[160];

	memset(l, 0, sizeof(*l));
	if (commands < 1 || commands > BENCH_COMMANDS_MAX || subjects < 1 ||
	    subjects > BENCH_SUBJECTS_MAX) {
		snprintf(err, errlen, "commands must be 1..%ld and subjects 1..%ld",
			 BENCH_COMMANDS_MAX, BENCH_SUBJECTS_MAX);
		return -1;
	}
	l->mix = mix;
	l->commands = commands;
	l->subjects = subjects < commands ? subjects : commands;
	l->per_subject = (commands + l->subjects - 1) / l->subjects;
	l->meetings = mix == BENCH_MIX_MIXED ? (l->per_subject + 3) / 4 : 0;
	snprintf(l->tag, sizeof(l->tag), "%s", tag);
	if (password_credential(po, BENCH_PASSWORD, credential, sizeof(credential)) != 0 ||
	    password_verifier_new(po, credential, l->digest) != 0) {
		snprintf(err, errlen, "cannot make the users' password verifier");
		return -1;
	}
	return 0;
}

void
bench_load_counts(const struct bench_load *l, long counts[BENCH_NKINDS])
{
	memset(counts, 0, sizeof(long) * BENCH_NKINDS);
	for (long i = 0; i < l->commands; i++)
		counts[bench_load_kind(l, i % l->subjects, i / l->subjects)]++;
}

/* The "data" object of subject s's command number k. */
static int
bench_load_data(const struct bench_load *l, long s, long k, struct buf *msg)
{
	switch (bench_load_kind(l, s, k)) {
	case BENCH_CREATE:
		return buf_printf(msg,
				  "{\"company_name\":\"Company %ld\",\"email\":\"ops%ld@bench."
				  "example\",\"rooms\":2,\"participants\":25}",
				  s, s);
	case BENCH_UPDATE:
		return buf_printf(msg, "{\"company_name\":\"Company %ld v%ld\",\"rooms\":%ld}", s,
				  k, 2 + k % 3);
	case BENCH_UPSERT:
		/* A fresh subject's first upsert makes its user: with a ready verifier. */
		if (buf_printf(msg,
			       "{\"user_id\":\"u%ld\",\"email\":\"u%ld@bench.example\","
			       "\"first_name\":\"First\",\"last_name\":\"Last %ld\"",
			       s, s, k) != BUF_OK)
			return -1;
		if (!bench_load_seeded(l, s) && k == 1 &&
		    buf_printf(msg, ",\"password_digest\":\"%s\"", l->digest) != BUF_OK)
			return -1;
		return buf_appends(msg, "}");
	case BENCH_UPSERT_PASSWORD:
		return buf_printf(msg,
				  "{\"user_id\":\"p%ld-%ld\",\"email\":\"p%ld-%ld@bench.example\","
				  "\"first_name\":\"First\",\"last_name\":\"Last\","
				  "\"password\":\"%s\"}",
				  s, k, s, k, BENCH_PASSWORD);
	case BENCH_SCHEDULE:
		return buf_printf(msg,
				  "{\"user_id\":\"u%ld\",\"topic\":\"Meeting %ld\","
				  "\"start_time\":\"2031-01-%02ldT10:00:00Z\"}",
				  s, k, 1 + k % 28);
	case BENCH_CANCEL:
		/* Seeded subjects cancel every fourth command, their meetings in turn. */
		return buf_printf(msg, "{\"meeting_id\":\"m%ld-%ld\"}", s, k / 4);
	case BENCH_NKINDS:
		break;
	}
	return -1;
}

int
bench_load_message(const struct bench_load *l, long i, const char *time_rfc3339, struct buf *key,
		   struct buf *msg)
{
	long s = i % l->subjects, k = i / l->subjects;

	buf_reset(key);
	buf_reset(msg);
	if (buf_printf(key, "bench-%ld", s) != BUF_OK ||
	    buf_printf(msg,
		       "{\"specversion\":\"1.0\",\"id\":\"%s-%ld\",\"source\":\"tmprov-bench\","
		       "\"type\":\"%s\",\"subject\":\"bench-%ld\",\"time\":\"%s\","
		       "\"datacontenttype\":\"application/json\",\"data\":",
		       l->tag, i, bench_kind_type(bench_load_kind(l, s, k)), s,
		       time_rfc3339) != BUF_OK ||
	    bench_load_data(l, s, k, msg) != BUF_OK || buf_appends(msg, "}") != BUF_OK)
		return -1;
	return 0;
}

long
bench_load_index(const struct bench_load *l, const char *id)
{
	size_t n = strlen(l->tag);
	char *end;
	long i;

	if (strncmp(id, l->tag, n) != 0 || id[n] != '-' || id[n + 1] < '0' || id[n + 1] > '9')
		return -1;
	i = strtol(id + n + 1, &end, 10);
	return *end == '\0' && i < l->commands ? i : -1;
}

/* "{a,b,...}" of subjects[0..n). */
static int
bench_seed_array(struct buf *b, const long *subjects, size_t n)
{
	if (buf_appends(b, "{") != BUF_OK)
		return -1;
	for (size_t i = 0; i < n; i++)
		if (buf_printf(b, "%s%ld", i ? "," : "", subjects[i]) != BUF_OK)
			return -1;
	return buf_appends(b, "}") == BUF_OK ? 0 : -1;
}

/* "{"uid","uid",...}": company uids are printable ASCII without quotes or backslashes
 * (tmsim's, or ours). */
static int
bench_seed_uids(struct buf *b, char (*uids)[TM_COMPANY_UID_MAX + 1], const long *subjects, size_t n)
{
	if (buf_appends(b, "{") != BUF_OK)
		return -1;
	for (size_t i = 0; i < n; i++) {
		int rc = uids ? buf_printf(b, "%s\"%s\"", i ? "," : "", uids[i])
			      : buf_printf(b, "%s\"uid-%ld\"", i ? "," : "", subjects[i]);

		if (rc != BUF_OK)
			return -1;
	}
	return buf_appends(b, "}") == BUF_OK ? 0 : -1;
}

int
bench_seed(PGconn *conn, const long *subjects, size_t n, char (*uids)[TM_COMPANY_UID_MAX + 1],
	   const char *verifier, long meetings, char *err, size_t errlen)
{
	struct buf arr, uarr;
	char nmeet[24];
	const char *p[3];
	int rc = -1;

	buf_init(&arr, 64 * 1024 * 1024);
	buf_init(&uarr, 64 * 1024 * 1024);
	if (bench_seed_array(&arr, subjects, n) != 0 || bench_seed_uids(&uarr, uids, subjects, n)) {
		snprintf(err, errlen, "seed: out of memory");
		goto out;
	}
	p[0] = arr.data;
	p[1] = uarr.data;
	if (bench_db_execp(conn,
			   "INSERT INTO accounts (subject, company_uid, company_name, email, rooms,"
			   " participants) SELECT 'bench-' || s, u, 'Company ' || s,"
			   " 'ops' || s || '@bench.example', 2, 25"
			   " FROM unnest($1::bigint[], $2::text[]) AS x(s, u)",
			   2, p, err, errlen) != 0)
		goto out;
	p[1] = verifier;
	if (verifier != NULL &&
	    bench_db_execp(conn,
			   "INSERT INTO users (subject, user_id, email, first_name, last_name,"
			   " password_verifier) SELECT 'bench-' || s, 'u' || s,"
			   " 'u' || s || '@bench.example', 'First', 'Last', $2::text"
			   " FROM unnest($1::bigint[]) AS s",
			   2, p, err, errlen) != 0)
		goto out;
	snprintf(nmeet, sizeof(nmeet), "%ld", meetings);
	p[1] = nmeet;
	if (verifier != NULL && meetings > 0 &&
	    bench_db_execp(conn,
			   "INSERT INTO meetings (meeting_id, subject, user_id, topic, start_time,"
			   " join_url) SELECT 'm' || s || '-' || k, 'bench-' || s, 'u' || s,"
			   " 'Seeded ' || k, now() + (k + 1) * interval '1 day',"
			   " 'http://127.0.0.1:8090/join/m' || s || '-' || k"
			   " FROM unnest($1::bigint[]) AS s, generate_series(0, $2::int - 1) AS k",
			   2, p, err, errlen) != 0)
		goto out;
	rc = bench_db_exec(conn, "ANALYZE", err, errlen);
out:
	buf_free(&arr);
	buf_free(&uarr);
	return rc;
}

struct bench_seed_part {
	const struct tm_client_opts *tmo;
	char (*uids)[TM_COMPANY_UID_MAX + 1];
	size_t n;
	pthread_t tid;
	int rc;
	char err[256];
};

static void *
bench_seed_thread(void *arg)
{
	struct bench_seed_part *p = arg;

	p->rc = bench_tm_seed(p->tmo, p->n, p->uids, p->err, sizeof(p->err));
	return NULL;
}

/* n TM accounts made by threads parallel clients. */
static int
bench_seed_tm(const struct tm_client_opts *tmo, size_t n, char (*uids)[TM_COMPANY_UID_MAX + 1],
	      long threads, char *err, size_t errlen)
{
	struct bench_seed_part parts[16];
	size_t nt = threads < 1 ? 1 : threads > 16 ? 16 : (size_t)threads, started = 0, at = 0;
	int rc = 0;

	for (size_t t = 0; t < nt; t++) {
		size_t share = n / nt + (t < n % nt);

		parts[t] = (struct bench_seed_part){.tmo = tmo, .uids = uids + at, .n = share};
		at += share;
		if (pthread_create(&parts[t].tid, NULL, bench_seed_thread, &parts[t]) != 0) {
			snprintf(err, errlen, "seed: cannot start a thread");
			rc = -1;
			break;
		}
		started++;
	}
	for (size_t t = 0; t < started; t++) {
		pthread_join(parts[t].tid, NULL);
		if (parts[t].rc != 0 && rc == 0) {
			snprintf(err, errlen, "%s", parts[t].err);
			rc = -1;
		}
	}
	return rc;
}

int
bench_load_seed(const struct bench_load *l, PGconn *conn, const struct tm_client_opts *tmo,
		long threads, char *err, size_t errlen)
{
	char(*uids)[TM_COMPANY_UID_MAX + 1] = NULL;
	long *subjects = malloc(sizeof(long) * (size_t)l->subjects);
	size_t n = 0;
	int rc = -1;

	if (subjects == NULL) {
		snprintf(err, errlen, "seed: out of memory");
		return -1;
	}
	for (long s = 0; s < l->subjects; s++)
		if (bench_load_seeded(l, s))
			subjects[n++] = s;
	if (bench_load_needs_tm(l) && n > 0) {
		uids = calloc(n, sizeof(*uids));
		if (uids == NULL) {
			snprintf(err, errlen, "seed: out of memory");
			goto out;
		}
		if (bench_seed_tm(tmo, n, uids, threads, err, errlen) != 0)
			goto out;
	}
	rc = bench_seed(conn, subjects, n, uids, l->mix == BENCH_MIX_PASSWORD ? NULL : l->digest,
			l->meetings, err, errlen);
out:
	free(uids);
	free(subjects);
	return rc;
}
