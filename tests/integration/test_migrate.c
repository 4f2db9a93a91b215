/* test_migrate: the migrate module and `tmprov migrate` against a real PostgreSQL, each test on
 * a fresh database and a migrations folder of its own under TMPROV_TEST_TMP. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "migrate.h"
#include "../support/testdb.h"

struct fx {
	struct testdb t;
	PGconn *conn;
	char dir[1024]; /* this test's migrations folder */
};

static int
fx_setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	const char *tmp = getenv("TMPROV_TEST_TMP");
	char err[1024];

	assert_non_null(fx);
	if (tmp == NULL)
		fail_msg("TMPROV_TEST_TMP is not set (run under tests/run-tests)");
	if (testdb_create(&fx->t, "migrate", err, sizeof(err)) != 0)
		fail_msg("%s", err);
	fx->conn = testdb_connect(&fx->t);
	assert_non_null(fx->conn);
	snprintf(fx->dir, sizeof(fx->dir), "%s/migrations.XXXXXX", tmp);
	assert_non_null(mkdtemp(fx->dir));
	*state = fx;
	return 0;
}

static int
fx_teardown(void **state)
{
	struct fx *fx = *state;
	DIR *d = opendir(fx->dir);
	struct dirent *e;
	char path[2048];

	while (d != NULL && (e = readdir(d)) != NULL) {
		if (e->d_name[0] == '.')
			continue;
		snprintf(path, sizeof(path), "%s/%s", fx->dir, e->d_name);
		unlink(path);
	}
	if (d != NULL)
		closedir(d);
	rmdir(fx->dir);
	PQfinish(fx->conn);
	testdb_drop(&fx->t);
	free(fx);
	return 0;
}

static void
put_file(const char *dir, const char *name, const char *text)
{
	char path[2048];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static void
remove_file(const char *dir, const char *name)
{
	char path[2048];

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	assert_int_equal(unlink(path), 0);
}

static int
run(const char *conninfo, const char *dir, enum migrate_mode mode, struct migrate_report *rep,
    char *err, size_t errlen)
{
	struct migrate_opts o = {.conninfo = conninfo, .dir = dir, .mode = mode};

	err[0] = '\0';
	return migrate_run(&o, rep, err, errlen);
}

static void
run_ok(struct fx *fx, struct migrate_report *rep)
{
	char err[1024];

	if (run(fx->t.conninfo, fx->dir, MIGRATE_APPLY, rep, err, sizeof(err)) != 0)
		fail_msg("migrate_run: %s", err);
}

static char *
value(struct fx *fx, const char *sql)
{
	return testdb_value(fx->conn, sql);
}

static void
assert_value(struct fx *fx, const char *sql, const char *want)
{
	char *v = value(fx, sql);

	if (want == NULL)
		assert_null(v);
	else {
		assert_non_null(v);
		assert_string_equal(v, want);
	}
	free(v);
}

static void
assert_table(struct fx *fx, const char *table, bool exists)
{
	char sql[256];

	snprintf(sql, sizeof(sql), "SELECT to_regclass('%s') IS NOT NULL", table);
	assert_value(fx, sql, exists ? "t" : "f");
}

static void
applied_versions(struct fx *fx, const char *want)
{
	assert_value(fx,
		     "SELECT coalesce(string_agg(version::text, ',' ORDER BY version), '') "
		     "FROM schema_migrations",
		     want);
}

static void
sha256_file(const char *path, char hex[65])
{
	unsigned char hash[crypto_hash_sha256_BYTES], buf[4096];
	crypto_hash_sha256_state st;
	FILE *f = fopen(path, "rb");
	size_t n;

	assert_non_null(f);
	crypto_hash_sha256_init(&st);
	while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
		crypto_hash_sha256_update(&st, buf, n);
	fclose(f);
	crypto_hash_sha256_final(&st, hash);
	sodium_bin2hex(hex, 65, hash, sizeof(hash));
}

/* The project's own migrations on an empty database: every table, and one row per file with
 * the file's sha256. */
static void
test_fresh_apply(void **state)
{
	struct fx *fx = *state;
	static const char *const tables[] = {"accounts", "users",      "meetings",
					     "commands", "tm_intents", "tm_calls",
					     "outbox",	 "sessions",   "auth_failures"};
	const char *src = getenv("TMPROV_TEST_SRC");
	struct migrate_opts o = {.conninfo = fx->t.conninfo, .mode = MIGRATE_APPLY};
	struct migrate_report rep;
	char dir[1024], path[2048], hex[65], sql[256], err[1024];

	if (src == NULL)
		fail_msg("TMPROV_TEST_SRC is not set (run under tests/run-tests)");
	snprintf(dir, sizeof(dir), "%s/migrations", src);
	o.dir = dir;
	if (migrate_run(&o, &rep, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_true(rep.files >= 1);
	assert_int_equal(rep.applied, rep.files);
	assert_int_equal(rep.pending, 0);
	for (size_t i = 0; i < sizeof(tables) / sizeof(tables[0]); i++)
		assert_table(fx, tables[i], true);
	snprintf(sql, sizeof(sql), "SELECT count(*) FROM schema_migrations");
	snprintf(hex, sizeof(hex), "%zu", rep.files);
	assert_value(fx, sql, hex);
	snprintf(path, sizeof(path), "%s/001_init.sql", dir);
	sha256_file(path, hex);
	assert_value(fx, "SELECT checksum FROM schema_migrations WHERE version = 1", hex);
	assert_value(fx, "SELECT name FROM schema_migrations WHERE version = 1", "001_init.sql");
	assert_value(fx,
		     "SELECT applied_at > now() - interval '1 minute' FROM schema_migrations "
		     "WHERE version = 1",
		     "t");

	/* Running again finds nothing to do and changes nothing. */
	if (migrate_run(&o, &rep, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(rep.applied, 0);
	assert_int_equal(rep.pending, 0);
	assert_value(fx, "SELECT count(*) = count(DISTINCT applied_at) FROM schema_migrations",
		     "t");
}

static void
test_rerun_is_noop(void **state)
{
	struct fx *fx = *state;
	struct migrate_report rep;
	char *before, *after;

	put_file(fx->dir, "001_a.sql", "CREATE TABLE a (x integer);\n");
	put_file(fx->dir, "002_b.sql", "CREATE TABLE b (x integer);\nINSERT INTO b VALUES (1);\n");
	run_ok(fx, &rep);
	assert_int_equal(rep.applied, 2);
	before = value(fx, "SELECT string_agg(applied_at::text, ',') FROM schema_migrations");
	run_ok(fx, &rep);
	assert_int_equal(rep.applied, 0);
	assert_int_equal(rep.files, 2);
	after = value(fx, "SELECT string_agg(applied_at::text, ',') FROM schema_migrations");
	assert_string_equal(before, after);
	/* 002 ran once: a second run would have inserted a second row. */
	assert_value(fx, "SELECT count(*) FROM b", "1");
	applied_versions(fx, "1,2");
	free(before);
	free(after);
}

struct racer {
	const char *conninfo, *dir;
	int rc;
	struct migrate_report rep;
	char err[1024];
};

static void *
racer_run(void *arg)
{
	struct racer *r = arg;

	r->rc = run(r->conninfo, r->dir, MIGRATE_APPLY, &r->rep, r->err, sizeof(r->err));
	return NULL;
}

/* Two runs at once, each on its own connections: the advisory lock makes one wait; it then
 * finds everything applied. A file applied twice would fail (CREATE TABLE without IF NOT
 * EXISTS) or insert twice. */
static void
test_concurrent_runs(void **state)
{
	struct fx *fx = *state;
	struct racer r[2];
	pthread_t th[2];

	put_file(fx->dir, "001_slow.sql",
		 "SELECT pg_sleep(0.4);\nCREATE TABLE slow (x integer);\nINSERT INTO slow VALUES "
		 "(1);\n");
	put_file(fx->dir, "002_next.sql", "CREATE TABLE next (x integer);\n");
	for (int i = 0; i < 2; i++) {
		r[i] = (struct racer){.conninfo = fx->t.conninfo, .dir = fx->dir};
		assert_int_equal(pthread_create(&th[i], NULL, racer_run, &r[i]), 0);
	}
	for (int i = 0; i < 2; i++)
		assert_int_equal(pthread_join(th[i], NULL), 0);
	for (int i = 0; i < 2; i++)
		if (r[i].rc != 0)
			fail_msg("run %d: %s", i, r[i].err);
	assert_int_equal(r[0].rep.applied + r[1].rep.applied, 2);
	assert_true(r[0].rep.applied == 0 || r[1].rep.applied == 0);
	assert_value(fx, "SELECT count(*) FROM slow", "1");
	applied_versions(fx, "1,2");
}

static void
test_changed_file_refused(void **state)
{
	struct fx *fx = *state;
	struct migrate_report rep;
	char err[1024];

	put_file(fx->dir, "001_a.sql", "CREATE TABLE a (x integer);\n");
	put_file(fx->dir, "002_b.sql", "CREATE TABLE b (x integer);\n");
	run_ok(fx, &rep);
	put_file(fx->dir, "001_a.sql", "CREATE TABLE a (x integer); -- edited after the fact\n");
	put_file(fx->dir, "003_c.sql", "CREATE TABLE c (x integer);\n");
	assert_int_equal(run(fx->t.conninfo, fx->dir, MIGRATE_APPLY, &rep, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "001_a.sql"));
	assert_non_null(strstr(err, "changed"));
	assert_int_equal(rep.applied, 0);
	assert_table(fx, "c", false);
	applied_versions(fx, "1,2");
	/* --status and --dry-run check too. */
	assert_int_equal(run(fx->t.conninfo, fx->dir, MIGRATE_STATUS, &rep, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "001_a.sql"));

	/* Restored, but an applied file gone: refused as well, naming it. */
	put_file(fx->dir, "001_a.sql", "CREATE TABLE a (x integer);\n");
	remove_file(fx->dir, "002_b.sql");
	assert_int_equal(run(fx->t.conninfo, fx->dir, MIGRATE_APPLY, &rep, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "002_b.sql"));
	assert_non_null(strstr(err, "missing"));
	assert_table(fx, "c", false);

	/* A renamed file (same version, same text) is a change too. */
	put_file(fx->dir, "002_renamed.sql", "CREATE TABLE b (x integer);\n");
	assert_int_equal(run(fx->t.conninfo, fx->dir, MIGRATE_APPLY, &rep, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "002_renamed.sql"));
	remove_file(fx->dir, "002_renamed.sql");
	put_file(fx->dir, "002_b.sql", "CREATE TABLE b (x integer);\n");
	run_ok(fx, &rep);
	assert_int_equal(rep.applied, 1);
	assert_table(fx, "c", true);
}

static void
test_failing_migration_rolls_back(void **state)
{
	struct fx *fx = *state;
	struct migrate_report rep;
	char err[1024];

	put_file(fx->dir, "001_ok.sql", "CREATE TABLE ok (x integer);\n");
	put_file(fx->dir, "002_bad.sql", "CREATE TABLE bad (x integer);\nSELECT 1 / 0;\n");
	put_file(fx->dir, "003_after.sql", "CREATE TABLE after (x integer);\n");
	assert_int_equal(run(fx->t.conninfo, fx->dir, MIGRATE_APPLY, &rep, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "002_bad.sql"));
	assert_non_null(strstr(err, "division by zero"));
	assert_int_equal(rep.applied, 1);
	assert_int_equal(rep.pending, 2);
	assert_table(fx, "ok", true);
	assert_table(fx, "bad", false);
	assert_table(fx, "after", false);
	applied_versions(fx, "1");

	/* Fixed, the next run picks up where it stopped. */
	put_file(fx->dir, "002_bad.sql", "CREATE TABLE bad (x integer);\n");
	run_ok(fx, &rep);
	assert_int_equal(rep.applied, 2);
	applied_versions(fx, "1,2,3");
}

/* A migration that ends the transaction itself escapes the one-transaction promise: refused and
 * not recorded. */
static void
test_migration_may_not_commit(void **state)
{
	struct fx *fx = *state;
	struct migrate_report rep;
	char err[1024];

	put_file(fx->dir, "001_commits.sql", "CREATE TABLE early (x integer);\nCOMMIT;\n");
	assert_int_equal(run(fx->t.conninfo, fx->dir, MIGRATE_APPLY, &rep, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "001_commits.sql"));
	assert_non_null(strstr(err, "ended the transaction"));
	applied_versions(fx, "");
}

static void
test_out_of_order_refused(void **state)
{
	struct fx *fx = *state;
	struct migrate_report rep;
	char err[1024];

	put_file(fx->dir, "001_a.sql", "CREATE TABLE a (x integer);\n");
	put_file(fx->dir, "003_c.sql", "CREATE TABLE c (x integer);\n");
	run_ok(fx, &rep);
	put_file(fx->dir, "002_b.sql", "CREATE TABLE b (x integer);\n");
	assert_int_equal(run(fx->t.conninfo, fx->dir, MIGRATE_APPLY, &rep, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "002_b.sql"));
	assert_table(fx, "b", false);
}

/* Each case: the files of a folder, and the name the error must give (NULL: accepted). */
static void
test_file_names(void **state)
{
	struct fx *fx = *state;
	static const struct {
		const char *files[3];
		const char *bad;
	} cases[] = {
	    {{"1_short.sql"}, "1_short.sql"},
	    {{"001-dash.sql"}, "001-dash.sql"},
	    {{"001_.sql"}, "001_.sql"},
	    {{"001_x.sq"}, "001_x.sq"},
	    {{"001_x.sql.orig"}, "001_x.sql.orig"},
	    {{"init.sql"}, "init.sql"},
	    {{"001_sp ace.sql"}, "001_sp ace.sql"},
	    {{"001_a.sql", "001_b.sql"}, "001_b.sql"},
	    {{"001_a.sql", "0001_b.sql"}, "001_a.sql"},
	    {{"001_a.sql", "README.md", ".hidden.sql"}, NULL},
	};
	struct migrate_report rep;
	char err[1024];

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		for (size_t j = 0; j < 3 && cases[i].files[j]; j++)
			put_file(fx->dir, cases[i].files[j], "SELECT 1;\n");
		int rc = run(fx->t.conninfo, fx->dir, MIGRATE_APPLY, &rep, err, sizeof(err));

		if (cases[i].bad == NULL) {
			if (rc != 0)
				fail_msg("case %zu: %s", i, err);
			applied_versions(fx, "1");
		} else {
			if (rc != -1 || strstr(err, cases[i].bad) == NULL)
				fail_msg("case %zu: rc %d, err \"%s\"", i, rc, err);
			/* Refused before the database was touched. */
			assert_table(fx, "schema_migrations", false);
		}
		for (size_t j = 0; j < 3 && cases[i].files[j]; j++)
			remove_file(fx->dir, cases[i].files[j]);
	}
}

static void
test_status_and_dry_run(void **state)
{
	struct fx *fx = *state;
	struct migrate_opts o = {.conninfo = fx->t.conninfo, .dir = fx->dir};
	struct migrate_report rep;
	char *text = NULL, err[1024];
	size_t len = 0;

	put_file(fx->dir, "001_a.sql", "CREATE TABLE a (x integer);\n");
	run_ok(fx, &rep);
	put_file(fx->dir, "002_b.sql", "CREATE TABLE b (x integer);\n");

	o.out = open_memstream(&text, &len);
	o.mode = MIGRATE_STATUS;
	assert_int_equal(migrate_run(&o, &rep, err, sizeof(err)), 0);
	fclose(o.out);
	assert_int_equal(rep.pending, 1);
	assert_non_null(strstr(text, "applied     001_a.sql 20"));
	assert_non_null(strstr(text, "pending     002_b.sql\n"));
	free(text);

	o.out = open_memstream(&text, &len);
	o.mode = MIGRATE_DRY_RUN;
	assert_int_equal(migrate_run(&o, &rep, err, sizeof(err)), 0);
	fclose(o.out);
	assert_string_equal(text, "would apply 002_b.sql\n");
	free(text);
	assert_int_equal(rep.applied, 0);
	assert_table(fx, "b", false);
	applied_versions(fx, "1");
}

/* Runs bin/tmprov with args against this test's database; returns its exit status and what it
 * wrote (stdout and stderr together) in out. */
static int
run_cli(struct fx *fx, const char *const *args, char *out, size_t outlen)
{
	const char *bin = getenv("TMPROV_TEST_BIN");
	char path[1024], *argv[8];
	int fds[2], status;
	size_t len = 0, n = 0;
	ssize_t got;
	pid_t pid;

	if (bin == NULL)
		fail_msg("TMPROV_TEST_BIN is not set (run under tests/run-tests)");
	snprintf(path, sizeof(path), "%s/tmprov", bin);
	argv[n++] = path;
	for (; args[n - 1] != NULL && n < 7; n++)
		argv[n] = (char *)args[n - 1];
	argv[n] = NULL;
	assert_int_equal(pipe(fds), 0);
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		dup2(fds[1], 1);
		dup2(fds[1], 2);
		close(fds[0]);
		setenv("TMPROV_DATABASE_URL", fx->t.conninfo, 1);
		setenv("TMPROV_DB_CONNECT_ATTEMPTS", "2", 1);
		execv(path, argv);
		_exit(127);
	}
	close(fds[1]);
	while (len + 1 < outlen && (got = read(fds[0], out + len, outlen - len - 1)) > 0)
		len += (size_t)got;
	out[len] = '\0';
	close(fds[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static void
test_cli_exit_codes(void **state)
{
	struct fx *fx = *state;
	char out[8192];

	put_file(fx->dir, "001_a.sql", "CREATE TABLE a (x integer);\n");
	assert_int_equal(
	    run_cli(fx, (const char *[]){"migrate", "--dir", fx->dir, NULL}, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "applied     001_a.sql"));
	assert_table(fx, "a", true);
	assert_int_equal(run_cli(fx,
				 (const char *[]){"migrate", "--status", "--dir", fx->dir, NULL},
				 out, sizeof(out)),
			 0);
	assert_non_null(strstr(out, "0 pending of 1"));

	put_file(fx->dir, "001_a.sql", "CREATE TABLE a (x bigint);\n");
	assert_int_equal(
	    run_cli(fx, (const char *[]){"migrate", "--dir", fx->dir, NULL}, out, sizeof(out)), 1);
	assert_non_null(strstr(out, "001_a.sql"));

	assert_int_equal(
	    run_cli(fx, (const char *[]){"migrate", "--bogus", NULL}, out, sizeof(out)), 2);
	assert_non_null(strstr(out, "--bogus"));
	assert_int_equal(run_cli(fx, (const char *[]){"migrate", "--dir", NULL}, out, sizeof(out)),
			 2);
	assert_int_equal(run_cli(fx, (const char *[]){"migrate", "--status", "--dry-run", NULL},
				 out, sizeof(out)),
			 2);
	assert_int_equal(run_cli(fx, (const char *[]){"migrate", "extra", NULL}, out, sizeof(out)),
			 2);
	assert_int_equal(run_cli(fx, (const char *[]){"no-such-command", NULL}, out, sizeof(out)),
			 2);
	assert_int_equal(run_cli(fx, (const char *[]){NULL}, out, sizeof(out)), 2);

	assert_int_equal(run_cli(fx, (const char *[]){"migrate", "--help", NULL}, out, sizeof(out)),
			 0);
	assert_non_null(strstr(out, "usage: tmprov migrate"));
	assert_int_equal(run_cli(fx, (const char *[]){"--help", NULL}, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "migrate"));
	assert_int_equal(run_cli(fx, (const char *[]){"--version", NULL}, out, sizeof(out)), 0);
	assert_true(strncmp(out, "tmprov ", 7) == 0);

	/* --print-config masks the database URL, which may hold a password. */
	assert_int_equal(
	    run_cli(fx, (const char *[]){"migrate", "--print-config", NULL}, out, sizeof(out)), 0);
	assert_non_null(strstr(out, "TMPROV_DATABASE_URL="));
	assert_null(strstr(out, fx->t.name));
}

int
main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, fx_setup, fx_teardown)
	const struct CMUnitTest tests[] = {
	    T(test_fresh_apply),
	    T(test_rerun_is_noop),
	    T(test_concurrent_runs),
	    T(test_changed_file_refused),
	    T(test_failing_migration_rolls_back),
	    T(test_migration_may_not_commit),
	    T(test_out_of_order_refused),
	    T(test_file_names),
	    T(test_status_and_dry_run),
	    T(test_cli_exit_codes),
	};
#undef T

	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests_name("migrate", tests, NULL, NULL);
}
