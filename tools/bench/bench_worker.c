/* bench_worker: the worker scenario — tmprov-worker process(es) in one group on a round's own
 * broker, database and (shared) tmsim, fed a generated load (bench_load.h), timed by the outcome
 * events read back.
 *   pre-loaded (default): every command is on the topic before the workers start; the clock runs
 *     from their start (--prestart: from the moment every worker holds partitions, the load
 *     being produced then) to the last outcome read: commands/s.
 *   --rate R: the workers are started and assigned first, then the commands are produced at R per
 *     second; each command's latency is its outcome event's Kafka timestamp less its own.
 * Every command must end in its success event: a failed or rejected one fails the round.
 * What the workers use over the clock's span is read from /proc: CPU and context switches per
 * command, peak RSS and threads; and PostgreSQL's CPU per command when the server is a local
 * process (its postmaster and children: the round has the server to itself). */
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <jansson.h>

#include "bench.h"
#include "bench_db.h"
#include "bench_kafka.h"
#include "bench_load.h"
#include "bench_proc.h"
#include "bench_stats.h"
#include "cfgkeys.h"
#include "clock.h"

#define BW_WORKERS_MAX	  16
#define BW_STALL_MS	  60000 /* no new outcome for this long: the round fails */
#define BW_ASSIGN_MS	  90000 /* workers must hold every partition by then */
#define BW_STOP_MS	  30000
#define BW_SEED_THREADS	  8
#define BW_TOPIC_COMMANDS "tm.commands"
#define BW_TOPIC_EVENTS	  "tm.events"
/* What the worker logs when it pauses for TM (tmretry.c): a round that saw it measured retries,
 * not the worker (tmsim refusing connections past its TMSIM_MAX_CONNECTIONS shows so). */
#define BW_TM_DOWN "TM looks down"

struct bench_worker_run {
	const struct bench_opts *o;
	enum bench_mix mix;
	bool prestart;
	char dir[256];
	struct bench_db db;
	struct bench_load load;
	struct bench_kafka kafka;
	struct bench_proc procs[BW_WORKERS_MAX];
	long nprocs;
	int64_t *sent_ms;    /* per command: its Kafka timestamp */
	int64_t *outcome_ms; /* per command: its outcome's Kafka timestamp, 0 while none */
	long produced, outcomes, failed, repeats;
	char first_failure[300];
	json_t *types;					 /* outcome event type -> count */
	double t_spawn, t0, t_first, t_last, t_assigned; /* monotonic ms */
	int64_t wall_spawn;				 /* t_spawn on the wall clock */
	long pg_postmaster;				 /* -1: the server is not a process here */
	/* Over the clock's span (from t0 to the last outcome read), all workers together. */
	struct bench_usage start[BW_WORKERS_MAX], used;
	double pg_start_ms, pg_cpu_ms; /* -1: unknown */
	long peak_kib, peak_threads;   /* of the largest worker */
	struct bench_samples lat;
};

static size_t
bw_discard(char *data, size_t size, size_t nmemb, void *arg)
{
	(void)data;
	(void)arg;
	return size * nmemb;
}

/* GET TMPROV_TM_URL/_sim/faults?query: tmsim's behaviour for the round. */
static int
bw_sim_faults(const struct bench_opts *o, const char *query, char *err, size_t errlen)
{
	CURL *c = curl_easy_init();
	char url[1024];
	long status = 0;
	CURLcode rc;

	if (c == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(url, sizeof(url), "%s/_sim/faults?%s", cfg_str(o->cfg, &KEY_TMPROV_TM_URL), query);
	curl_easy_setopt(c, CURLOPT_URL, url);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bw_discard);
	rc = curl_easy_perform(c);
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_cleanup(c);
	if (rc != CURLE_OK || status != 200) {
		snprintf(err, errlen, "tmsim faults %s: %s, HTTP %ld (is TMPROV_TM_URL a tmsim?)",
			 query, curl_easy_strerror(rc), status);
		return -1;
	}
	return 0;
}

/* Database, load, pre-load, broker and the reader of outcomes. */
static int
bw_setup(struct bench_worker_run *w, char *err, size_t errlen)
{
	const struct bench_opts *o = w->o;
	struct tm_client_opts tmo;
	struct password_opts po;
	char query[64];
	PGconn *conn;
	int rc;

	if (bench_proc_tmpdir(w->dir, sizeof(w->dir), err, errlen) != 0 ||
	    bench_db_create(&w->db, o->cfg, "w", err, errlen) != 0 ||
	    password_opts_from_cfg(&po, o->cfg, err, errlen) != 0 ||
	    bench_load_init(&w->load, w->mix, o->commands, o->subjects, "b", &po, err, errlen) != 0)
		return -1;
	if (tm_client_opts_from_cfg(&tmo, o->cfg) != 0) {
		snprintf(err, errlen, "TMPROV_TM_URL and TMPROV_PARTNER_ID are required");
		return -1;
	}
	/* The pre-load's TM accounts are made without added latency. */
	if (bw_sim_faults(o, "latency_ms=0", err, errlen) != 0)
		return -1;
	conn = bench_db_connect(&w->db, err, errlen);
	if (conn == NULL)
		return -1;
	rc = bench_load_seed(&w->load, conn, &tmo, BW_SEED_THREADS, err, errlen);
	w->pg_postmaster = bench_pg_postmaster((long)PQbackendPID(conn));
	PQfinish(conn);
	snprintf(query, sizeof(query), "latency_ms=%ld", o->tm_latency_ms);
	if (rc != 0 || bw_sim_faults(o, query, err, errlen) != 0)
		return -1;
	w->sent_ms = calloc((size_t)o->commands, sizeof(*w->sent_ms));
	w->outcome_ms = calloc((size_t)o->commands, sizeof(*w->outcome_ms));
	w->types = json_object();
	if (w->sent_ms == NULL || w->outcome_ms == NULL || w->types == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	if (bench_kafka_start(&w->kafka, w->dir, (int)o->partitions, err, errlen) != 0 ||
	    bench_kafka_warm(&w->kafka, BW_TOPIC_COMMANDS, err, errlen) != 0)
		return -1;
	return bench_kafka_read_start(&w->kafka, BW_TOPIC_EVENTS, err, errlen);
}

/* Produces commands up to (not including) upto. */
static int
bw_produce(struct bench_worker_run *w, long upto, char *err, size_t errlen)
{
	char now[40];
	struct buf key, msg;
	int64_t ts;
	time_t t;
	int rc = 0;

	buf_init(&key, 256);
	buf_init(&msg, 64 * 1024);
	t = time(NULL);
	strftime(now, sizeof(now), "%Y-%m-%dT%H:%M:%SZ", gmtime(&t));
	for (; rc == 0 && w->produced < upto; w->produced++) {
		if (bench_load_message(&w->load, w->produced, now, &key, &msg) != 0) {
			snprintf(err, errlen, "out of memory");
			rc = -1;
			break;
		}
		ts = bench_wall_ms();
		w->sent_ms[w->produced] = ts;
		rc = bench_kafka_produce(&w->kafka, BW_TOPIC_COMMANDS, key.data, key.len, msg.data,
					 msg.len, ts, err, errlen);
	}
	buf_free(&key);
	buf_free(&msg);
	bench_kafka_poll(&w->kafka);
	return rc;
}

static int
bw_start_workers(struct bench_worker_run *w, char *err, size_t errlen)
{
	const struct bench_opts *o = w->o;
	char exe[1024], db[BENCH_CONNINFO_MAX + 32], brokers[300], conc[64], pool[64], name[32];
	char rate[64];
	char *argv[] = {exe, NULL};
	const char *env[] = {
	    db,
	    brokers,
	    conc,
	    pool,
	    rate,
	    "TMPROV_KAFKA_PROPS=session.timeout.ms=6000,heartbeat.interval.ms=1000",
	    "TMPROV_ADMIN_LISTEN=127.0.0.1:0",
	    "TMPROV_LOG_LEVEL=info",
	    "TMPROV_TOPIC_COMMANDS=" BW_TOPIC_COMMANDS,
	    "TMPROV_TOPIC_EVENTS=" BW_TOPIC_EVENTS,
	    "TMPROV_KAFKA_GROUP=tmprov-bench",
	    NULL};

	if (bench_proc_sibling("tmprov-worker", exe, sizeof(exe), err, errlen) != 0)
		return -1;
	if (bench_proc_raise_nofile() != 0)
		fprintf(stderr, "tmprov-bench: cannot raise the open files limit\n");
	snprintf(db, sizeof(db), "TMPROV_DATABASE_URL=%s", w->db.conninfo);
	snprintf(brokers, sizeof(brokers), "TMPROV_KAFKA_BROKERS=%s", w->kafka.brokers);
	snprintf(conc, sizeof(conc), "TMPROV_WORKER_CONCURRENCY=%ld", o->concurrency);
	snprintf(pool, sizeof(pool), "TMPROV_DB_POOL=%ld", o->db_pool);
	snprintf(rate, sizeof(rate), "TMPROV_TM_RATE=%ld", o->tm_rate);
	w->t_spawn = clock_now_ms_f();
	w->wall_spawn = bench_wall_ms();
	for (; w->nprocs < o->workers; w->nprocs++) {
		snprintf(name, sizeof(name), "worker-%ld", w->nprocs + 1);
		if (bench_proc_start(&w->procs[w->nprocs], name, w->dir, argv, env, err, errlen) !=
		    0)
			return -1;
	}
	return 0;
}

/* Partitions worker p holds now, from its log: "consumer: assigned N partition(s)" and
 * "consumer: revoked N partition(s)" lines (eager or cooperative). */
static long
bw_held(const struct bench_proc *p)
{
	char line[1024];
	long held = 0, n;
	const char *at;
	FILE *f = fopen(p->log, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL) {
		if ((at = strstr(line, "consumer: assigned ")) != NULL &&
		    sscanf(at, "consumer: assigned %ld", &n) == 1)
			held += n;
		else if ((at = strstr(line, "consumer: revoked ")) != NULL &&
			 sscanf(at, "consumer: revoked %ld", &n) == 1)
			held -= n;
	}
	fclose(f);
	return held;
}

/* Wall-clock time of the first "consumer: assigned" line of worker p's log (its "ts", UTC with
 * milliseconds), or -1 when there is none yet. */
static int64_t
bw_assigned_wall(const struct bench_proc *p)
{
	char line[1024];
	int64_t ms = -1;
	struct tm tm;
	const char *ts;
	int msec;
	FILE *f = fopen(p->log, "r");

	if (f == NULL)
		return -1;
	while (ms < 0 && fgets(line, sizeof(line), f) != NULL) {
		if (strstr(line, "consumer: assigned ") == NULL ||
		    (ts = strstr(line, "\"ts\":\"")) == NULL)
			continue;
		memset(&tm, 0, sizeof(tm));
		if (sscanf(ts + 6, "%d-%d-%dT%d:%d:%d.%dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
			   &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &msec) != 7)
			continue;
		tm.tm_year -= 1900;
		tm.tm_mon -= 1;
		ms = (int64_t)timegm(&tm) * 1000 + msec;
	}
	fclose(f);
	return ms;
}

/* The threads of each worker now: their peak is sampled, as /proc keeps no high-water mark. */
static void
bw_sample_threads(struct bench_worker_run *w)
{
	for (long i = 0; i < w->nprocs; i++) {
		long n = bench_proc_threads(&w->procs[i]);

		w->peak_threads = n > w->peak_threads ? n : w->peak_threads;
	}
}

/* The start of the clock's span: the workers' usage and PostgreSQL's CPU so far (a worker not
 * started yet has used nothing). */
static void
bw_usage_start(struct bench_worker_run *w)
{
	for (long i = 0; i < w->nprocs; i++)
		if (bench_proc_usage(&w->procs[i], &w->start[i]) != 0)
			memset(&w->start[i], 0, sizeof(w->start[i]));
	w->pg_start_ms = w->pg_postmaster > 0 ? bench_proc_family_cpu_ms(w->pg_postmaster) : -1;
}

/* The end of the span: what the workers and PostgreSQL used since bw_usage_start, peak
 * memory and threads. */
static int
bw_usage_end(struct bench_worker_run *w, char *err, size_t errlen)
{
	double pg = w->pg_postmaster > 0 ? bench_proc_family_cpu_ms(w->pg_postmaster) : -1;
	struct bench_usage u;

	bw_sample_threads(w);
	w->pg_cpu_ms = pg >= 0 && w->pg_start_ms >= 0 ? pg - w->pg_start_ms : -1;
	for (long i = 0; i < w->nprocs; i++) {
		long kib = bench_proc_peak_kib(&w->procs[i]);

		if (kib < 0 || bench_proc_usage(&w->procs[i], &u) != 0) {
			snprintf(err, errlen, "%s: cannot read /proc", w->procs[i].name);
			return -1;
		}
		w->peak_kib = kib > w->peak_kib ? kib : w->peak_kib;
		w->used.cpu_ms += u.cpu_ms - w->start[i].cpu_ms;
		w->used.vcsw += u.vcsw - w->start[i].vcsw;
		w->used.ivcsw += u.ivcsw - w->start[i].ivcsw;
		w->used.threads += u.threads;
	}
	return 0;
}

static int
bw_check_alive(struct bench_worker_run *w, char *err, size_t errlen)
{
	char last[512];

	for (long i = 0; i < w->nprocs; i++)
		if (!bench_proc_running(&w->procs[i])) {
			bench_proc_log_line(&w->procs[i], NULL, last, sizeof(last));
			snprintf(err, errlen, "%s exited (%d): %s", w->procs[i].name,
				 w->procs[i].status, last);
			return -1;
		}
	return 0;
}

/* Waits until every worker holds partitions and together they hold all of them, twice in a row
 * 200 ms apart (a rebalance in progress shows as a worker holding none). */
static int
bw_wait_assigned(struct bench_worker_run *w, char *err, size_t errlen)
{
	int stable = 0;

	for (double end = clock_now_ms_f() + BW_ASSIGN_MS; clock_now_ms_f() < end;) {
		long total = 0;
		bool all = true;

		if (bw_check_alive(w, err, errlen) != 0)
			return -1;
		for (long i = 0; i < w->nprocs; i++) {
			long h = bw_held(&w->procs[i]);

			all &= h > 0;
			total += h;
		}
		stable = all && total == w->o->partitions ? stable + 1 : 0;
		if (stable == 2) {
			w->t_assigned = clock_now_ms_f();
			return 0;
		}
		bench_sleep_ms(200);
	}
	snprintf(err, errlen, "the workers did not share the %ld partitions within %d ms",
		 w->o->partitions, BW_ASSIGN_MS);
	return -1;
}

static void
bw_failure(struct bench_worker_run *w, json_t *ev, const char *type)
{
	json_t *data = json_object_get(ev, "data");
	const char *reason = json_string_value(json_object_get(data, "reason"));
	const char *ctype = json_string_value(json_object_get(data, "command_type"));

	if (w->failed++ == 0)
		snprintf(w->first_failure, sizeof(w->first_failure), "%s %s: %s",
			 ctype ? ctype : "?", type, reason ? reason : "(no reason)");
}

/* One outcome event: its command, its type, its timestamp. */
static void
bw_outcome(struct bench_worker_run *w, const rd_kafka_message_t *m)
{
	json_t *ev = json_loadb(m->payload, m->len, 0, NULL);
	const char *id = json_string_value(json_object_get(ev, "commandid"));
	const char *type = json_string_value(json_object_get(ev, "type"));
	long i = id ? bench_load_index(&w->load, id) : -1;
	json_t *count;

	if (i < 0 || type == NULL)
		goto out;
	if (w->outcome_ms[i] != 0) {
		w->repeats++; /* published again: the first one counts */
		goto out;
	}
	w->outcome_ms[i] = rd_kafka_message_timestamp(m, NULL);
	if (w->outcome_ms[i] <= 0)
		w->outcome_ms[i] = bench_wall_ms();
	w->t_last = clock_now_ms_f();
	if (w->outcomes++ == 0)
		w->t_first = w->t_last;
	count = json_object_get(w->types, type);
	json_object_set_new(w->types, type, json_integer(json_integer_value(count) + 1));
	if (strcmp(type, "command.failed") == 0 || strcmp(type, "command.rejected") == 0)
		bw_failure(w, ev, type);
out:
	json_decref(ev);
}

/* Reads outcomes until every command has one, producing the load at --rate meanwhile when it
 * has one. */
static int
bw_collect(struct bench_worker_run *w, char *err, size_t errlen)
{
	const struct bench_opts *o = w->o;
	double last_new = clock_now_ms_f(), last_check = 0, now;
	long seen = 0;

	while (w->outcomes < o->commands) {
		rd_kafka_message_t *m;

		now = clock_now_ms_f();
		if (w->produced < o->commands) {
			long due = (long)((now - w->t0) * (double)o->rate / 1000.0) + 1;

			if (bw_produce(w, due < o->commands ? due : o->commands, err, errlen) != 0)
				return -1;
		}
		m = bench_kafka_read(&w->kafka, w->produced < o->commands ? 1 : 100);
		if (m != NULL) {
			bw_outcome(w, m);
			rd_kafka_message_destroy(m);
		}
		if (w->outcomes > seen) {
			seen = w->outcomes;
			last_new = now;
		} else if (now - last_new > BW_STALL_MS && w->produced == o->commands) {
			snprintf(err, errlen, "stalled: %ld of %ld outcomes after %.0f s",
				 w->outcomes, o->commands, (now - w->t0) / 1000);
			return -1;
		}
		if (now - last_check > 1000) {
			last_check = now;
			if (bw_check_alive(w, err, errlen) != 0)
				return -1;
			bw_sample_threads(w);
		}
	}
	return 0;
}

/* Fails the round when a worker paused for TM. */
static int
bw_check_tm(struct bench_worker_run *w, char *err, size_t errlen)
{
	char line[512];

	for (long i = 0; i < w->nprocs; i++) {
		bench_proc_log_line(&w->procs[i], BW_TM_DOWN, line, sizeof(line));
		if (line[0] != '\0') {
			snprintf(err, errlen,
				 "%s took TM for down (calls failing in a row): the figures "
				 "would measure its retries (tmsim refusing connections past "
				 "TMSIM_MAX_CONNECTIONS shows so): %s",
				 w->procs[i].name, line);
			return -1;
		}
	}
	return 0;
}

static int
bw_run(struct bench_worker_run *w, char *err, size_t errlen)
{
	const struct bench_opts *o = w->o;

	if (!w->prestart) {
		if (bw_produce(w, o->commands, err, errlen) != 0 ||
		    bench_kafka_flush(&w->kafka, 60000, err, errlen) != 0)
			return -1;
		bw_usage_start(w);
		if (bw_start_workers(w, err, errlen) != 0)
			return -1;
		w->t0 = w->t_spawn;
	} else {
		if (bw_start_workers(w, err, errlen) != 0 || bw_wait_assigned(w, err, errlen) != 0)
			return -1;
		bw_usage_start(w);
		w->t0 = clock_now_ms_f();
		if (o->rate == 0 && bw_produce(w, o->commands, err, errlen) != 0)
			return -1;
	}
	if (bw_collect(w, err, errlen) != 0 || bw_usage_end(w, err, errlen) != 0)
		return -1;
	if (!w->prestart) {
		/* When the broker handed the partitions over: a new group's first join waits
		 * group.initial.rebalance.delay.ms (3 s on the mock, as on real brokers). */
		int64_t at = -1;

		for (long i = 0; i < w->nprocs; i++) {
			int64_t a = bw_assigned_wall(&w->procs[i]);

			at = a > at ? a : at;
		}
		w->t_assigned = at > 0 ? w->t_spawn + (double)(at - w->wall_spawn) : w->t0;
	}
	if (w->failed > 0) {
		snprintf(err, errlen, "%ld of %ld commands did not succeed; the first: %s",
			 w->failed, o->commands, w->first_failure);
		return -1;
	}
	return bw_check_tm(w, err, errlen);
}

static int
bw_latencies(struct bench_worker_run *w)
{
	for (long i = 0; i < w->o->commands; i++) {
		/* Kafka timestamps are whole milliseconds: a same-millisecond outcome counts
		 * as half of one, so that every figure stays a positive number. */
		double ms = (double)(w->outcome_ms[i] - w->sent_ms[i]);

		if (bench_samples_add(&w->lat, ms > 0 ? ms : 0.5) != 0)
			return -1;
	}
	return 0;
}

/* With TMPROV_BENCH_KEEP: every command's kind and timestamps into DIR/commands.tsv, to look
 * into a figure. */
static void
bw_keep(const struct bench_worker_run *w)
{
	char path[300];
	FILE *f;

	if (getenv("TMPROV_BENCH_KEEP") == NULL)
		return;
	snprintf(path, sizeof(path), "%s/commands.tsv", w->dir);
	f = fopen(path, "w");
	if (f == NULL)
		return;
	fprintf(f, "index\tkind\tsent_ms\toutcome_ms\n");
	for (long i = 0; i < w->o->commands; i++)
		fprintf(f, "%ld\t%s\t%" PRId64 "\t%" PRId64 "\n", i,
			bench_kind_name(
			    bench_load_kind(&w->load, i % w->load.subjects, i / w->load.subjects)),
			w->sent_ms[i], w->outcome_ms[i]);
	fclose(f);
}

/* figures[name] = v when v > 0 (every figure is a number > 0; one /proc could not give is left
 * out). 0, or -1 when out of memory. */
static int
bw_figure(json_t *figures, const char *name, double v)
{
	return v > 0 ? json_object_set_new(figures, name, json_real(v)) : 0;
}

/* What the workers (and PostgreSQL) used: peak RSS and threads of the largest worker, CPU and
 * context switches per command of all of them. */
static int
bw_usage_figures(const struct bench_worker_run *w, json_t *figures)
{
	double n = (double)w->outcomes;

	return bw_figure(figures, "peak_rss_mib", (double)w->peak_kib / 1024.0) != 0 ||
		       bw_figure(figures, "peak_threads", (double)w->peak_threads) != 0 ||
		       bw_figure(figures, "cpu_ms_per_command", w->used.cpu_ms / n) != 0 ||
		       bw_figure(figures, "switches_per_command",
				 (double)(w->used.vcsw + w->used.ivcsw) / n) != 0 ||
		       /* Measured, even 0 (under the clock tick of a short smoke round). */
		       (w->pg_cpu_ms >= 0 && json_object_set_new(figures, "pg_cpu_ms_per_command",
								 json_real(w->pg_cpu_ms / n)) != 0)
		   ? -1
		   : 0;
}

static int
bw_result(struct bench_worker_run *w, struct bench_result *r)
{
	const struct bench_opts *o = w->o;
	double elapsed = w->t_last - w->t0;
	long counts[BENCH_NKINDS];
	json_t *kinds = json_object();

	bench_load_counts(&w->load, counts);
	for (int k = 0; kinds != NULL && k < BENCH_NKINDS; k++)
		if (counts[k] > 0)
			json_object_set_new(kinds, bench_kind_name(k), json_integer(counts[k]));
	r->unit = "commands/s";
	r->params = json_pack(
	    "{s:s, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:i, s:b, s:o*}", "mode", o->mode,
	    "commands", (json_int_t)o->commands, "subjects", (json_int_t)w->load.subjects,
	    "workers", (json_int_t)o->workers, "partitions", (json_int_t)o->partitions,
	    "concurrency", (json_int_t)o->concurrency, "db_pool", (json_int_t)o->db_pool,
	    "tm_latency_ms", (json_int_t)o->tm_latency_ms, "rate", (json_int_t)o->rate, "tm_rate",
	    (json_int_t)o->tm_rate, "prestart", w->prestart, "kinds", kinds);
	r->counts = json_pack("{s:i, s:i, s:f, s:f, s:f, s:f, s:i, s:i, s:i, s:f, s:O}", "outcomes",
			      (json_int_t)w->outcomes, "republished", (json_int_t)w->repeats,
			      "elapsed_ms", elapsed, "first_outcome_ms", w->t_first - w->t0,
			      "assigned_ms", w->t_assigned - w->t_spawn, "worker_cpu_ms",
			      w->used.cpu_ms, "worker_voluntary_switches", (json_int_t)w->used.vcsw,
			      "worker_involuntary_switches", (json_int_t)w->used.ivcsw,
			      "worker_threads_at_end", (json_int_t)w->used.threads,
			      "postgresql_cpu_ms", w->pg_cpu_ms, "event_types", w->types);
	r->figures = json_object();
	if (r->params == NULL || r->counts == NULL || r->figures == NULL)
		return -1;
	if (o->rate > 0) {
		/* Steady load: the rate is what was offered; the latencies are the figures. */
		if (bw_latencies(w) != 0 ||
		    bench_figures_put(r->figures, (double)w->outcomes * 1e3 / elapsed, &w->lat) !=
			0)
			return -1;
	} else if (json_object_set_new(r->figures, "rate",
				       json_real((double)w->outcomes * 1e3 / elapsed)) != 0) {
		return -1;
	}
	/* Started on a pre-loaded topic: also the rate once the partitions were handed over. */
	if (!w->prestart && w->t_last > w->t_assigned &&
	    json_object_set_new(
		r->figures, "rate_assigned",
		json_real((double)w->outcomes * 1e3 / (w->t_last - w->t_assigned))) != 0)
		return -1;
	return bw_usage_figures(w, r->figures);
}

static int
bw_check(const struct bench_opts *o, char *err, size_t errlen)
{
	if (o->workers < 1 || o->workers > BW_WORKERS_MAX) {
		snprintf(err, errlen, "worker: --workers must be 1..%d", BW_WORKERS_MAX);
		return -1;
	}
	if (o->partitions < o->workers || o->partitions > 1000) {
		snprintf(err, errlen, "worker: --partitions must be --workers..1000");
		return -1;
	}
	return 0;
}

int
bench_worker(const struct bench_opts *o, struct bench_result *r, char *err, size_t errlen)
{
	struct bench_worker_run w = {.o = o, .pg_postmaster = -1, .pg_start_ms = -1};
	int rc = -1;

	bench_samples_init(&w.lat);
	if (bw_check(o, err, errlen) != 0 || bench_mix_parse(o->mode, &w.mix) != 0)
		return -1;
	w.prestart = o->prestart || o->rate > 0;
	if (bw_setup(&w, err, errlen) != 0 || bw_run(&w, err, errlen) != 0)
		goto out;
	bw_keep(&w);
	if (bw_result(&w, r) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	for (long i = 0; i < w.nprocs; i++)
		if (bench_proc_stop(&w.procs[i], BW_STOP_MS) != 0)
			fprintf(stderr, "tmprov-bench: %s did not stop cleanly (%d)\n",
				w.procs[i].name, w.procs[i].status);
	bench_kafka_stop(&w.kafka);
	bench_db_drop(&w.db);
	if (w.dir[0] != '\0' && getenv("TMPROV_BENCH_KEEP") == NULL)
		bench_proc_rmdir(w.dir);
	else if (w.dir[0] != '\0')
		fprintf(stderr, "tmprov-bench: logs kept in %s\n", w.dir);
	json_decref(w.types);
	free(w.sent_ms);
	free(w.outcome_ms);
	bench_samples_free(&w.lat);
	return rc;
}
