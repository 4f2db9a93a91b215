/* bench_pg: the pg-reference scenario — pgbench running the statements a program runs (made
 * from its own statement table, bench_sql.h) against a fresh, migrated, pre-loaded database:
 * the transactions per second PostgreSQL allows on this machine, the reference the worker's and
 * the callback's throughput are held against.
 *   --mode worker:   one transaction per command, its kind drawn with the weights of the mixed
 *                    load of --commands over --subjects (bench_load.h)
 *   --mode callback: the meeting list of one of --subjects users */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <spawn.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <libpq-fe.h>

#include "bench.h"
#include "bench_db.h"
#include "bench_sql.h"
#include "bench_stats.h"
#include "db.h"

extern char **environ;

#define BENCH_PG_CONNECTIONS_MAX 1000
#define BENCH_PG_LINE_MAX	 1024
#define BENCH_PG_ARGS_MAX	 (16 + BENCH_SCRIPTS_MAX + 2 * BENCH_DEFINES_MAX)
/* Meetings per user in --mode callback: a short list, as most users have. */
#define BENCH_PG_CB_MEETINGS 5

struct bench_pg {
	const struct bench_opts *o;
	bool callback; /* --mode callback */
	struct bench_db db;
	struct bench_sqlset set;
	char dir[256]; /* scripts, pgbench's output and per-transaction logs */
	long threads;
	double tps, latency_avg_ms;
	long transactions, failed;
	struct bench_samples lat;
};

/* Subjects 0..n-1, pre-loaded with a user and meetings meetings each. */
static int
bench_pg_seed(struct bench_pg *b, const char *verifier, long meetings, char *err, size_t errlen)
{
	size_t n = (size_t)b->o->subjects;
	long *subjects = malloc(n * sizeof(*subjects));
	PGconn *conn = NULL;
	int rc = -1;

	if (subjects == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		subjects[i] = (long)i;
	conn = bench_db_connect(&b->db, err, errlen);
	if (conn != NULL)
		rc = bench_seed(conn, subjects, n, NULL, verifier, meetings, err, errlen);
	PQfinish(conn);
	free(subjects);
	return rc;
}

/* The scripts of the mode, their variables, and the rows they need. */
static int
bench_pg_prepare(struct bench_pg *b, char *err, size_t errlen)
{
	struct password_opts po;
	struct bench_load l;
	char v[32];
	long meetings;

	if (password_opts_from_cfg(&po, b->o->cfg, err, errlen) != 0 ||
	    bench_load_init(&l, BENCH_MIX_MIXED, b->o->commands, b->o->subjects, "pg", &po, err,
			    errlen) != 0)
		return -1;
	if (b->callback) {
		meetings = BENCH_PG_CB_MEETINGS;
		if (bench_sql_callback(&b->set, b->o->subjects, err, errlen) != 0)
			return -1;
	} else {
		meetings = l.meetings > 0 ? l.meetings : 1;
		if (bench_sql_worker(&b->set, &l, err, errlen) != 0)
			return -1;
	}
	snprintf(v, sizeof(v), "%ld", meetings);
	if (bench_sqlset_define(&b->set, "meetings", v) != 0) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	return bench_pg_seed(b, l.digest, meetings, err, errlen);
}

/* Writes script i to DIR/script-i.sql; path gets its name. */
static int
bench_pg_write_script(struct bench_pg *b, size_t i, char *path, size_t pathlen, char *err,
		      size_t errlen)
{
	FILE *f;
	int rc;

	snprintf(path, pathlen, "%s/script-%zu.sql", b->dir, i);
	f = fopen(path, "w");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	rc = fputs(b->set.scripts[i].text, f) < 0;
	rc |= fclose(f) != 0;
	if (rc != 0)
		snprintf(err, errlen, "%s: cannot write", path);
	return rc ? -1 : 0;
}

/* pgbench's command line into argv; its strings live in bufs (one per argument at most). */
static int
bench_pg_argv(struct bench_pg *b, char *argv[], char (*bufs)[512], char *err, size_t errlen)
{
	const struct bench_opts *o = b->o;
	char path[400];
	int i = 0, k = 0;

	argv[i++] = (char *)o->pgbench;
	argv[i++] = "--no-vacuum";	   /* the scripts use their own tables, not pgbench's */
	argv[i++] = "--protocol=prepared"; /* as the programs: prepared statements */
	argv[i++] = "--log";		   /* per-transaction latencies, for p50/p99 */
	snprintf(bufs[k], sizeof(bufs[k]), "--log-prefix=%s/tx", b->dir);
	argv[i++] = bufs[k++];
	snprintf(bufs[k], sizeof(bufs[k]), "--client=%ld", o->connections);
	argv[i++] = bufs[k++];
	snprintf(bufs[k], sizeof(bufs[k]), "--jobs=%ld", b->threads);
	argv[i++] = bufs[k++];
	if (o->duration_ms > 0)
		snprintf(bufs[k], sizeof(bufs[k]), "--time=%ld", (o->duration_ms + 999) / 1000);
	else
		snprintf(bufs[k], sizeof(bufs[k]), "--transactions=%ld",
			 (o->calls + o->connections - 1) / o->connections);
	argv[i++] = bufs[k++];
	snprintf(bufs[k], sizeof(bufs[k]), "--define=clients=%ld", o->connections);
	argv[i++] = bufs[k++];
	snprintf(bufs[k], sizeof(bufs[k]), "--define=subjects=%ld", o->subjects);
	argv[i++] = bufs[k++];
	argv[i++] = "--define=n=0";
	for (size_t d = 0; d < b->set.ndefines; d++) {
		argv[i++] = "--define";
		argv[i++] = b->set.defines[d];
	}
	for (size_t s = 0; s < b->set.nscripts; s++) {
		if (bench_pg_write_script(b, s, path, sizeof(path), err, errlen) != 0)
			return -1;
		snprintf(bufs[k], sizeof(bufs[k]), "--file=%s@%ld", path, b->set.scripts[s].weight);
		argv[i++] = bufs[k++];
	}
	argv[i++] = b->db.conninfo; /* pgbench takes a connection string where the dbname goes */
	argv[i] = NULL;
	return 0;
}

/* Why pgbench failed: the first "error:" line of its stderr (later ones only say that the run
 * was aborted), else the last line. */
static void
bench_pg_failure(const struct bench_pg *b, char *out, size_t outlen)
{
	char path[300], line[BENCH_PG_LINE_MAX];
	bool found = false;
	FILE *f;

	snprintf(out, outlen, "no message");
	snprintf(path, sizeof(path), "%s/stderr", b->dir);
	f = fopen(path, "r");
	if (f == NULL)
		return;
	while (!found && fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		found = strstr(line, "error:") != NULL;
		if (line[0] != '\0')
			snprintf(out, outlen, "%s", line);
	}
	fclose(f);
}

/* Runs pgbench with stdout and stderr in b->dir; 0 when it exited 0. */
static int
bench_pg_spawn(struct bench_pg *b, char *err, size_t errlen)
{
	char bufs[BENCH_PG_ARGS_MAX][512], out[300], errf[300], last[BENCH_PG_LINE_MAX];
	char *argv[BENCH_PG_ARGS_MAX];
	posix_spawn_file_actions_t fa;
	int status = 0, rc;
	pid_t pid;

	/* Run by its path, never looked up on PATH: bench.sh finds it with need (tools/need.sh). */
	if (b->o->pgbench == NULL) {
		snprintf(err, errlen, "pg-reference needs --pgbench PATH");
		return -1;
	}
	if (bench_pg_argv(b, argv, bufs, err, errlen) != 0)
		return -1;
	/* pgbench's sessions plan as the programs' do (common/db.h). */
	if (db_planner_pgoptions(out, sizeof(out)) != 0 || setenv("PGOPTIONS", out, 1) != 0) {
		snprintf(err, errlen, "cannot set PGOPTIONS for pgbench");
		return -1;
	}
	snprintf(out, sizeof(out), "%s/stdout", b->dir);
	snprintf(errf, sizeof(errf), "%s/stderr", b->dir);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, errf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	rc = posix_spawn(&pid, b->o->pgbench, &fa, NULL, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		snprintf(err, errlen, "cannot run %s: %s", b->o->pgbench, strerror(rc));
		return -1;
	}
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR) {
			snprintf(err, errlen, "waitpid: %s", strerror(errno));
			return -1;
		}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return 0;
	bench_pg_failure(b, last, sizeof(last));
	snprintf(err, errlen, "pgbench failed (wait status %d): %s", status, last);
	return -1;
}

/* Reads the summary pgbench prints: transactions, failures, average latency and tps. */
static int
bench_pg_summary(struct bench_pg *b, char *err, size_t errlen)
{
	char path[300], line[BENCH_PG_LINE_MAX];
	FILE *f;

	snprintf(path, sizeof(path), "%s/stdout", b->dir);
	f = fopen(path, "r");
	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	b->tps = -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		sscanf(line, "number of transactions actually processed: %ld", &b->transactions);
		sscanf(line, "number of failed transactions: %ld", &b->failed);
		sscanf(line, "latency average = %lf ms", &b->latency_avg_ms);
		sscanf(line, "tps = %lf (without initial connection time)", &b->tps);
	}
	fclose(f);
	if (b->tps <= 0 || b->transactions <= 0) {
		snprintf(err, errlen, "no tps or transaction count in pgbench's output (%s)", path);
		return -1;
	}
	if (b->failed > 0) {
		snprintf(err, errlen, "%ld of %ld pgbench transactions failed", b->failed,
			 b->transactions + b->failed);
		return -1;
	}
	return 0;
}

/* One log line: client_id transaction_no latency_us script_no epoch epoch_us. */
static int
bench_pg_log_file(struct bench_pg *b, const char *path, char *err, size_t errlen)
{
	char line[BENCH_PG_LINE_MAX];
	long client, tx, us;
	int rc = 0;
	FILE *f = fopen(path, "r");

	if (f == NULL) {
		snprintf(err, errlen, "%s: %s", path, strerror(errno));
		return -1;
	}
	while (rc == 0 && fgets(line, sizeof(line), f) != NULL)
		if (sscanf(line, "%ld %ld %ld", &client, &tx, &us) == 3)
			rc = bench_samples_add(&b->lat, (double)us / 1e3);
	fclose(f);
	if (rc != 0)
		snprintf(err, errlen, "%s", bench_samples_strerror(rc));
	return rc;
}

static int
bench_pg_logs(struct bench_pg *b, char *err, size_t errlen)
{
	DIR *d = opendir(b->dir);
	struct dirent *e;
	char path[600];
	int rc = 0;

	if (d == NULL) {
		snprintf(err, errlen, "%s: %s", b->dir, strerror(errno));
		return -1;
	}
	while (rc == 0 && (e = readdir(d)) != NULL)
		if (strncmp(e->d_name, "tx.", 3) == 0) {
			snprintf(path, sizeof(path), "%s/%s", b->dir, e->d_name);
			rc = bench_pg_log_file(b, path, err, errlen);
		}
	closedir(d);
	if (rc == 0 && b->lat.n == 0) {
		snprintf(err, errlen, "pgbench wrote no per-transaction log in %s", b->dir);
		rc = -1;
	}
	return rc;
}

static void
bench_pg_rmdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[600];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.') {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(dir);
}

static int
bench_pg_result(struct bench_pg *b, struct bench_result *r)
{
	json_t *scripts = json_object();

	r->unit = "tx/s";
	for (size_t i = 0; scripts != NULL && i < b->set.nscripts; i++)
		json_object_set_new(scripts, b->set.scripts[i].name,
				    json_integer(b->set.scripts[i].weight));
	r->params = json_pack("{s:s, s:i, s:i, s:i, s:o*, s:s}", "mode", b->o->mode, "connections",
			      (json_int_t)b->o->connections, "pgbench_threads",
			      (json_int_t)b->threads, "subjects", (json_int_t)b->o->subjects,
			      "script_weights", scripts, "protocol", "prepared");
	r->counts = json_pack("{s:i, s:f}", "transactions", (json_int_t)b->transactions,
			      "latency_avg_ms", b->latency_avg_ms);
	r->figures = json_object();
	if (r->params == NULL || r->counts == NULL || r->figures == NULL)
		return -1;
	return bench_figures_put(r->figures, b->tps, &b->lat);
}

static int
bench_pg_check(const struct bench_opts *o, char *err, size_t errlen)
{
	if (o->connections < 1 || o->connections > BENCH_PG_CONNECTIONS_MAX) {
		snprintf(err, errlen, "pg-reference: --connections must be 1..%d",
			 BENCH_PG_CONNECTIONS_MAX);
		return -1;
	}
	/* The worker scripts give each client subjects / clients subjects of its own. */
	if (o->subjects < o->connections) {
		snprintf(err, errlen, "pg-reference: --subjects must be at least --connections");
		return -1;
	}
	return 0;
}

int
bench_pg_reference(const struct bench_opts *o, struct bench_result *r, char *err, size_t errlen)
{
	struct bench_pg b = {.o = o, .callback = strcmp(o->mode, "callback") == 0};
	const char *tmp = getenv("TMPDIR");
	bool created = false;
	int rc = -1;

	bench_samples_init(&b.lat);
	bench_sqlset_init(&b.set);
	if (bench_pg_check(o, err, errlen) != 0)
		return -1;
	b.threads = o->cpus < o->connections ? o->cpus : o->connections;
	snprintf(b.dir, sizeof(b.dir), "%s/tmprov-pgbench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(b.dir) == NULL) {
		snprintf(err, errlen, "mkdtemp %s: %s", b.dir, strerror(errno));
		return -1;
	}
	created = true;
	if (bench_db_create(&b.db, o->cfg, b.callback ? "pgcb" : "pgw", err, errlen) != 0 ||
	    bench_pg_prepare(&b, err, errlen) != 0 || bench_pg_spawn(&b, err, errlen) != 0 ||
	    bench_pg_summary(&b, err, errlen) != 0 || bench_pg_logs(&b, err, errlen) != 0)
		goto out;
	if (bench_pg_result(&b, r) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	bench_db_drop(&b.db);
	if (created && getenv("TMPROV_BENCH_KEEP") == NULL)
		bench_pg_rmdir(b.dir);
	else if (created)
		fprintf(stderr, "tmprov-bench: scripts and logs kept in %s\n", b.dir);
	bench_sqlset_free(&b.set);
	bench_samples_free(&b.lat);
	return rc;
}
