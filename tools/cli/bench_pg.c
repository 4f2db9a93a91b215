/* bench_pg: the pg-reference scenario — pgbench running the SQL script of one provisioning
 * command against a fresh, migrated database: the transactions per second PostgreSQL allows on
 * this machine, the reference the worker's throughput is held against. */
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
#include "bench_stats.h"
#include "migrate.h"

extern char **environ;

#define BENCH_PG_CONNECTIONS_MAX 1000
#define BENCH_PG_CONNINFO_MAX	 4096
#define BENCH_PG_LINE_MAX	 1024

struct bench_pg {
	const struct bench_opts *o;
	char dbname[64];
	char conninfo[BENCH_PG_CONNINFO_MAX]; /* the fresh database */
	char dir[256];			      /* pgbench's output and per-transaction logs */
	long threads;
	double tps, latency_avg_ms;
	long transactions, failed;
	struct bench_samples lat;
};

/* key='value' with ' and \ escaped, as libpq's connection strings want. */
static int
bench_pg_append(char *out, size_t outlen, size_t *len, const char *key, const char *val)
{
	int n = snprintf(out + *len, outlen - *len, "%s%s='", *len ? " " : "", key);

	if (n < 0 || (size_t)n >= outlen - *len)
		return -1;
	*len += (size_t)n;
	for (const char *p = val; *p; p++) {
		if (*len + 3 >= outlen)
			return -1;
		if (*p == '\'' || *p == '\\')
			out[(*len)++] = '\\';
		out[(*len)++] = *p;
	}
	if (*len + 2 >= outlen)
		return -1;
	out[(*len)++] = '\'';
	out[*len] = '\0';
	return 0;
}

/* The settings of base (URI or key=value) with dbname replaced. */
static int
bench_pg_conninfo(struct bench_pg *b, const char *base, char *err, size_t errlen)
{
	PQconninfoOption *opts;
	char *msg = NULL;
	size_t len = 0;
	int rc = 0;

	opts = PQconninfoParse(base, &msg);
	if (opts == NULL) {
		snprintf(err, errlen, "TMPROV_DATABASE_URL: %s", msg ? msg : "unparseable");
		PQfreemem(msg);
		return -1;
	}
	b->conninfo[0] = '\0';
	for (PQconninfoOption *p = opts; p->keyword != NULL && rc == 0; p++)
		if (p->val != NULL && strcmp(p->keyword, "dbname") != 0)
			rc = bench_pg_append(b->conninfo, sizeof(b->conninfo), &len, p->keyword,
					     p->val);
	if (rc == 0)
		rc = bench_pg_append(b->conninfo, sizeof(b->conninfo), &len, "dbname", b->dbname);
	if (rc != 0)
		snprintf(err, errlen, "TMPROV_DATABASE_URL: connection string too long");
	PQconninfoFree(opts);
	return rc;
}

static void
bench_pg_quiet(void *arg, const char *msg)
{
	(void)arg;
	(void)msg;
}

/* Runs "DROP DATABASE IF EXISTS" or "CREATE DATABASE" on b->dbname through the server
 * TMPROV_DATABASE_URL names. */
static int
bench_pg_admin(struct bench_pg *b, const char *verb, char *err, size_t errlen)
{
	PGconn *conn = PQconnectdb(cfg_str(b->o->cfg, "TMPROV_DATABASE_URL"));
	PGresult *res = NULL;
	char sql[256];
	int rc = -1;

	if (PQstatus(conn) != CONNECTION_OK) {
		snprintf(err, errlen, "database: %s", PQerrorMessage(conn));
		goto out;
	}
	PQsetNoticeProcessor(conn, bench_pg_quiet, NULL); /* "does not exist, skipping" */
	/* dbname is ours ("tmprov_bench_" and a number): no quoting needed. */
	snprintf(sql, sizeof(sql), "%s %s", verb, b->dbname);
	res = PQexec(conn, sql);
	if (PQresultStatus(res) != PGRES_COMMAND_OK) {
		snprintf(err, errlen, "%s: %s", sql, PQresultErrorMessage(res));
		goto out;
	}
	rc = 0;
out:
	PQclear(res);
	PQfinish(conn);
	return rc;
}

static int
bench_pg_create(struct bench_pg *b, char *err, size_t errlen)
{
	struct migrate_opts mo = {.dir = cfg_str(b->o->cfg, "TMPROV_MIGRATIONS_DIR"),
				  .mode = MIGRATE_APPLY};

	snprintf(b->dbname, sizeof(b->dbname), "tmprov_bench_%ld", (long)getpid());
	if (bench_pg_conninfo(b, cfg_str(b->o->cfg, "TMPROV_DATABASE_URL"), err, errlen) != 0 ||
	    bench_pg_admin(b, "DROP DATABASE IF EXISTS", err, errlen) != 0 ||
	    bench_pg_admin(b, "CREATE DATABASE", err, errlen) != 0)
		return -1;
	mo.conninfo = b->conninfo;
	return migrate_run(&mo, NULL, err, errlen);
}

/* pgbench's command line; argv's strings live in bufs. */
static void
bench_pg_argv(struct bench_pg *b, char *argv[], char bufs[][BENCH_PG_CONNINFO_MAX + 32])
{
	const struct bench_opts *o = b->o;
	int i = 0, k = 0;

	argv[i++] = (char *)o->pgbench;
	argv[i++] = "--no-vacuum";	   /* the script uses its own tables, not pgbench's */
	argv[i++] = "--protocol=prepared"; /* as the worker: prepared statements */
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
	snprintf(bufs[k], sizeof(bufs[k]), "--file=%s", o->script);
	argv[i++] = bufs[k++];
	argv[i++] = b->conninfo; /* pgbench takes a connection string where the dbname goes */
	argv[i] = NULL;
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
	char bufs[8][BENCH_PG_CONNINFO_MAX + 32], out[300], errf[300], last[BENCH_PG_LINE_MAX];
	char *argv[20];
	posix_spawn_file_actions_t fa;
	int status = 0, rc;
	pid_t pid;

	bench_pg_argv(b, argv, bufs);
	snprintf(out, sizeof(out), "%s/stdout", b->dir);
	snprintf(errf, sizeof(errf), "%s/stderr", b->dir);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 1, out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_addopen(&fa, 2, errf, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	rc = posix_spawnp(&pid, b->o->pgbench, &fa, NULL, argv, environ);
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
	r->unit = "tx/s";
	r->params =
	    json_pack("{s:i, s:i, s:i, s:s, s:s}", "connections", (json_int_t)b->o->connections,
		      "pgbench_threads", (json_int_t)b->threads, "subjects",
		      (json_int_t)b->o->subjects, "script", b->o->script, "protocol", "prepared");
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
	/* The script gives each client subjects / clients subjects of its own. */
	if (o->subjects < o->connections) {
		snprintf(err, errlen, "pg-reference: --subjects must be at least --connections");
		return -1;
	}
	if (access(o->script, R_OK) != 0) {
		snprintf(err, errlen, "pg-reference: script %s: %s", o->script, strerror(errno));
		return -1;
	}
	return 0;
}

int
bench_pg_reference(const struct bench_opts *o, struct bench_result *r, char *err, size_t errlen)
{
	struct bench_pg b = {.o = o};
	const char *tmp = getenv("TMPDIR");
	bool created = false;
	char derr[256];
	int rc = -1;

	bench_samples_init(&b.lat);
	if (bench_pg_check(o, err, errlen) != 0)
		return -1;
	b.threads = o->cpus < o->connections ? o->cpus : o->connections;
	snprintf(b.dir, sizeof(b.dir), "%s/tmprov-pgbench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(b.dir) == NULL) {
		snprintf(err, errlen, "mkdtemp %s: %s", b.dir, strerror(errno));
		return -1;
	}
	created = true;
	if (bench_pg_create(&b, err, errlen) != 0 || bench_pg_spawn(&b, err, errlen) != 0 ||
	    bench_pg_summary(&b, err, errlen) != 0 || bench_pg_logs(&b, err, errlen) != 0)
		goto out;
	if (bench_pg_result(&b, r) != 0) {
		snprintf(err, errlen, "out of memory");
		goto out;
	}
	rc = 0;
out:
	if (b.dbname[0] != '\0' &&
	    bench_pg_admin(&b, "DROP DATABASE IF EXISTS", derr, sizeof(derr)) != 0)
		fprintf(stderr, "tmprov bench: %s\n", derr);
	if (created)
		bench_pg_rmdir(b.dir);
	bench_samples_free(&b.lat);
	return rc;
}
