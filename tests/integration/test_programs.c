/* What every program keeps to, one table of programs looped over (issue 13, item 9): --version
 * and --help answer on stdout with exit 0 (every tmprov subcommand too); every configuration
 * error exits 2 naming the key (a bad TMPROV_KAFKA_PROPS, an unreadable secret file, ...); a
 * secret given as NAME_FILE is used and NAME with NAME_FILE refused; Kafka's client.id is the
 * program's name and host; with no TMPROV_DATABASE_URL, PGDATABASE and the other PG* variables
 * say where to connect. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <libpq-fe.h>

#include "../support/clirun.h"
#include "../support/http.h"
#include "../support/testdb.h"

#define RUN_MS	 20000
#define START_MS 30000

struct prog {
	const char *name;	/* what --version starts with */
	const char *argv[6];	/* a run that gets as far as loading the configuration */
	const char *version[3]; /* the program (and subcommand) before --version / --help */
};

static const struct prog progs[] = {
    {"tmprov", {NULL}, {"tmprov", NULL}},
    {"tmprov migrate", {"tmprov", "migrate", NULL}, {"tmprov", "migrate", NULL}},
    {"tmprov send", {"tmprov", "send", "/dev/null", NULL}, {"tmprov", "send", NULL}},
    {"tmprov import", {"tmprov", "import", "/dev/null", NULL}, {"tmprov", "import", NULL}},
    {"tmprov status", {"tmprov", "status", "c-1", NULL}, {"tmprov", "status", NULL}},
    {"tmprov replay", {"tmprov", "replay", "--id", "c-1", NULL}, {"tmprov", "replay", NULL}},
    {"tmprov events", {"tmprov", "events", NULL}, {"tmprov", "events", NULL}},
    {"tmprov-worker", {"tmprov-worker", NULL}, {"tmprov-worker", NULL}},
    {"tmprov-callback", {"tmprov-callback", NULL}, {"tmprov-callback", NULL}},
    {"tmsim", {"tmsim", NULL}, {"tmsim", NULL}},
    {"tmprov-devkafka", {"tmprov-devkafka", NULL}, {"tmprov-devkafka", NULL}},
    {"tmprov-bench", {"tmprov-bench", "hash", "--calls", "1", NULL}, {"tmprov-bench", NULL}},
};

/* argv of p with one more argument. */
static void
with_arg(const struct prog *p, const char *arg, const char **argv)
{
	size_t n = 0;

	while (p->version[n] != NULL)
		argv[n] = p->version[n], n++;
	argv[n++] = arg;
	argv[n] = NULL;
}

static void
test_version_everywhere(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		const char *argv[5];
		char want[64];
		struct clirun r;

		with_arg(&progs[i], "--version", argv);
		clirun(&r, argv, NULL, RUN_MS);
		snprintf(want, sizeof(want), "%s ", progs[i].name);
		if (r.status != 0 || strncmp(r.out, want, strlen(want)) != 0 ||
		    strchr(r.out, '\n') != r.out + strlen(r.out) - 1) {
			clirun_dump(&r, progs[i].name);
			fail_msg("%s --version: exit %d, stdout \"%s\" (want one line \"%s...\")",
				 progs[i].name, r.status, r.out, want);
		}
		clirun_free(&r);
	}
}

static void
test_help_everywhere(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		const char *argv[5];
		struct clirun r;

		with_arg(&progs[i], "--help", argv);
		clirun(&r, argv, NULL, RUN_MS);
		if (r.status != 0 || strstr(r.out, "usage: ") == NULL) {
			clirun_dump(&r, progs[i].name);
			fail_msg("%s --help: exit %d, no usage on stdout", progs[i].name, r.status);
		}
		clirun_free(&r);
	}
}

/* The program's --help-config table (caller frees). */
static char *
settings_of(const struct prog *p)
{
	const char *argv[5];
	struct clirun r;
	char *out;

	with_arg(p, "--help-config", argv);
	clirun(&r, argv, NULL, RUN_MS);
	if (r.status != 0)
		clirun_dump(&r, p->name);
	assert_int_equal(r.status, 0);
	out = strdup(r.out);
	clirun_free(&r);
	return out;
}

static bool
knows(const char *settings, const char *key)
{
	char cell[128];

	snprintf(cell, sizeof(cell), "| %s |", key);
	return strstr(settings, cell) != NULL;
}

/* Each bad setting, for each program whose table has its key: exit 2, the key named. */
static void
test_config_errors_exit_2(void **state)
{
	static const struct {
		const char *key, *setting, *named, *setting2;
	} bad[] = {
	    {"TMPROV_LOG_LEVEL", "TMPROV_LOG_LEVEL=loud", "TMPROV_LOG_LEVEL", NULL},
	    {"TMPROV_KAFKA_PROPS", "TMPROV_KAFKA_PROPS=no.such.property=x", "TMPROV_KAFKA_PROPS",
	     NULL},
	    {"TMPROV_KAFKA_PROPS_FILE", "TMPROV_KAFKA_PROPS_FILE=/nonexistent/kafka.properties",
	     "/nonexistent/kafka.properties", NULL},
	    {"TMPROV_DB_CONNECT_ATTEMPTS", "TMPROV_DB_CONNECT_ATTEMPTS=many",
	     "TMPROV_DB_CONNECT_ATTEMPTS", NULL},
	    {"TMPROV_PARTNER_ID", "TMPROV_PARTNER_ID_FILE=/nonexistent/partner",
	     "TMPROV_PARTNER_ID_FILE: cannot read /nonexistent/partner", NULL},
	    {"TMPROV_DATABASE_URL", "TMPROV_DATABASE_URL_FILE=/nonexistent/url",
	     "TMPROV_DATABASE_URL_FILE: cannot read /nonexistent/url", NULL},
	    /* settings that are wrong only together */
	    {"TMPROV_RETRY_BASE", "TMPROV_RETRY_BASE=10s", "TMPROV_RETRY_BASE",
	     "TMPROV_RETRY_CAP=1s"},
	    {"TMPROV_JOIN_URL_TEMPLATE", "TMPROV_JOIN_URL_TEMPLATE=http://x/join",
	     "TMPROV_JOIN_URL_TEMPLATE", NULL},
	};
	int checked = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		char *settings;

		if (progs[i].argv[0] == NULL)
			continue;
		settings = settings_of(&progs[i]);
		for (size_t b = 0; b < sizeof(bad) / sizeof(bad[0]); b++) {
			/* TMPROV_PARTNER_ID_FILE stands in for the worker's required partner id */
			const char *env[] = {bad[b].setting, "TMPROV_TM_URL=http://127.0.0.1:1",
					     bad[b].setting2 ? bad[b].setting2 : "TMPROV_X=1",
					     strncmp(bad[b].setting, "TMPROV_PARTNER_ID", 17)
						 ? "TMPROV_PARTNER_ID=p"
						 : NULL,
					     NULL};
			struct clirun r;

			if (!knows(settings, bad[b].key))
				continue;
			clirun(&r, progs[i].argv, env, RUN_MS);
			if (r.status != 2 || strstr(r.err, bad[b].named) == NULL) {
				clirun_dump(&r, progs[i].name);
				fail_msg("%s with %s: exit %d (want 2, naming %s)", progs[i].name,
					 bad[b].setting, r.status, bad[b].named);
			}
			clirun_free(&r);
			checked++;
		}
		free(settings);
	}
	assert_true(checked >= 20);
}

/* A secret as NAME_FILE is used (tmsim's partner id, which its answers check); NAME and
 * NAME_FILE together are refused by every program that has the key. */
static void
test_secret_file(void **state)
{
	char path[600], setting[700];
	FILE *f;
	int checked = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/partner-id", getenv("TMPROV_TEST_TMP"));
	f = fopen(path, "w");
	assert_non_null(f);
	fputs("partner-from-file\n", f);
	fclose(f);
	snprintf(setting, sizeof(setting), "TMPROV_PARTNER_ID_FILE=%s", path);
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		char *settings;

		if (progs[i].argv[0] == NULL)
			continue;
		settings = settings_of(&progs[i]);
		if (knows(settings, "TMPROV_PARTNER_ID")) {
			const char *both[] = {setting, "TMPROV_PARTNER_ID=inline",
					      "TMPROV_TM_URL=http://127.0.0.1:1", NULL};
			const char *argv[] = {progs[i].argv[0], progs[i].argv[1], "--print-config",
					      NULL};
			const char *one[] = {setting, "TMPROV_TM_URL=http://127.0.0.1:1", NULL};
			struct clirun r;

			clirun(&r, progs[i].argv, both, RUN_MS);
			if (r.status != 2 || strstr(r.err, "TMPROV_PARTNER_ID and "
							   "TMPROV_PARTNER_ID_FILE are both "
							   "set") == NULL) {
				clirun_dump(&r, progs[i].name);
				fail_msg("%s: PARTNER_ID and PARTNER_ID_FILE: exit %d",
					 progs[i].name, r.status);
			}
			clirun_free(&r);
			/* --print-config shows it set (masked), never the value */
			if (progs[i].argv[1] == NULL || progs[i].argv[1][0] == '-')
				argv[1] = "--print-config", argv[2] = NULL;
			clirun(&r, argv, one, RUN_MS);
			if (r.status != 0 ||
			    strstr(r.out, "TMPROV_PARTNER_ID=********\n") == NULL ||
			    strstr(r.out, "partner-from-file") != NULL) {
				clirun_dump(&r, progs[i].name);
				fail_msg("%s --print-config with TMPROV_PARTNER_ID_FILE",
					 progs[i].name);
			}
			clirun_free(&r);
			checked++;
		}
		free(settings);
	}
	assert_true(checked >= 3);
	unlink(path);
}

/* The partner id tmsim checks every call against, from TMPROV_PARTNER_ID_FILE: the file's
 * value (without its newline) is the one it accepts. */
static void
test_secret_file_used(void **state)
{
	const char *tmp = getenv("TMPROV_TEST_TMP");
	char path[600], portfile[600], setting[700], url[256];
	const char *argv[] = {"tmsim", "--listen", "127.0.0.1:0", "--port-file", portfile, NULL};
	const char *env[] = {setting, NULL};
	static const struct {
		const char *partner;
		bool accepted;
	} calls[] = {{"partner-from-file", true}, {"partner-from-file%0A", false}, {"p", false}};
	struct clirun r;
	FILE *f;
	int port = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/tmsim-partner", tmp);
	snprintf(portfile, sizeof(portfile), "%s/tmsim-secret.port", tmp);
	unlink(portfile);
	assert_non_null(f = fopen(path, "w"));
	fputs("partner-from-file\n", f);
	fclose(f);
	snprintf(setting, sizeof(setting), "TMPROV_PARTNER_ID_FILE=%s", path);
	clirun_start(&r, argv, env, NULL);
	if (clirun_wait_output(&r, 2, "listening", RUN_MS) != 0 ||
	    (f = fopen(portfile, "r")) == NULL) {
		clirun_stop(&r, RUN_MS);
		clirun_dump(&r, "tmsim");
		fail_msg("tmsim did not start");
	}
	assert_int_equal(fscanf(f, "%d", &port), 1);
	fclose(f);
	for (size_t i = 0; i < sizeof(calls) / sizeof(calls[0]); i++) {
		char *body = NULL;
		long status = 0;

		snprintf(url, sizeof(url),
			 "http://127.0.0.1:%d/as/wapi/service/create_account?service_company_uid="
			 "%s&company_name=A&email=a%%40b.example&number_of_meeting_room=1&"
			 "number_of_participant=2",
			 port, calls[i].partner);
		assert_int_equal(http_get(url, &status, &body, NULL), 0);
		if ((strstr(body, "not a partner") == NULL) != calls[i].accepted)
			fail_msg("partner %s: %s", calls[i].partner, body);
		free(body);
	}
	clirun_stop(&r, RUN_MS);
	assert_int_equal(r.status, 0);
	clirun_free(&r);
	unlink(path);
}

/* client.id: "program@host", seen in the line each program logs as it creates a handle. */
static void
test_client_id(void **state)
{
	static const struct {
		const char *argv[4], *name;
	} runs[] = {
	    {{"tmprov-worker", NULL}, "tmprov-worker"},
	    {{"tmprov", "events", NULL}, "tmprov"},
	};
	const char *brokers = getenv("TMPROV_KAFKA_BROKERS");
	char host[256] = "", set_brokers[512], want[400], set_db[2100], err[256];
	struct testdb db;

	(void)state;
	assert_non_null(brokers);
	assert_int_equal(gethostname(host, sizeof(host) - 1), 0);
	assert_int_equal(testdb_create(&db, "programs", err, sizeof(err)), 0);
	assert_int_equal(testdb_migrate(&db, err, sizeof(err)), 0);
	snprintf(set_brokers, sizeof(set_brokers), "TMPROV_KAFKA_BROKERS=%s", brokers);
	snprintf(set_db, sizeof(set_db), "TMPROV_DATABASE_URL=%s", db.conninfo);
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		const char *env[] = {set_brokers,
				     set_db,
				     "TMPROV_TM_URL=http://127.0.0.1:1",
				     "TMPROV_PARTNER_ID=p",
				     "TMPROV_ADMIN_LISTEN=127.0.0.1:0",
				     "TMPROV_LOG_LEVEL=info",
				     "TMPROV_KAFKA_GROUP=test-programs",
				     "TMPROV_TOPIC_COMMANDS=test-programs.commands",
				     NULL};
		struct clirun r;

		snprintf(want, sizeof(want), "client.id %s@%s", runs[i].name, host);
		clirun_start(&r, runs[i].argv, env, NULL);
		if (clirun_wait_output(&r, 2, want, START_MS) != 0) {
			clirun_stop(&r, START_MS);
			clirun_dump(&r, runs[i].name);
			fail_msg("%s: no \"%s\" in its log", runs[i].name, want);
		}
		clirun_stop(&r, START_MS);
		clirun_free(&r);
	}
	testdb_drop(&db);
}

/* The value of keyword in a key=value conninfo (a static copy). */
static const char *
conninfo_value(const char *conninfo, const char *keyword)
{
	static char value[256];
	PQconninfoOption *opts = PQconninfoParse(conninfo, NULL);

	value[0] = '\0';
	for (PQconninfoOption *o = opts; o != NULL && o->keyword != NULL; o++)
		if (strcmp(o->keyword, keyword) == 0 && o->val != NULL)
			snprintf(value, sizeof(value), "%s", o->val);
	PQconninfoFree(opts);
	return value;
}

/* With no TMPROV_DATABASE_URL, PG* variables alone: tmprov migrate migrates PGDATABASE, and the
 * worker and the callback connect to it. */
static void
test_pgdatabase(void **state)
{
	static const struct {
		const char *argv[3], *app, *wait;
	} runs[] = {
	    {{"tmprov", "migrate", NULL}, NULL, NULL},
	    {{"tmprov-callback", NULL}, "tmprov-callback%", "listening"},
	    {{"tmprov-worker", NULL}, "tmprov-worker%", "started"},
	};
	char pghost[300], pgport[300], pguser[300], pgdb[300], brokers[512], err[256];
	struct testdb db;
	PGconn *pg;

	(void)state;
	assert_int_equal(testdb_create(&db, "pgdatabase", err, sizeof(err)), 0);
	snprintf(pghost, sizeof(pghost), "PGHOST=%s", conninfo_value(db.conninfo, "host"));
	snprintf(pgport, sizeof(pgport), "PGPORT=%s", conninfo_value(db.conninfo, "port"));
	snprintf(pguser, sizeof(pguser), "PGUSER=%s", conninfo_value(db.conninfo, "user"));
	snprintf(pgdb, sizeof(pgdb), "PGDATABASE=%s", db.name);
	snprintf(brokers, sizeof(brokers), "TMPROV_KAFKA_BROKERS=%s",
		 getenv("TMPROV_KAFKA_BROKERS"));
	pg = testdb_connect(&db);
	assert_non_null(pg);
	for (size_t i = 0; i < sizeof(runs) / sizeof(runs[0]); i++) {
		const char *env[] = {pghost,
				     pgport,
				     pguser,
				     pgdb,
				     brokers,
				     "TMPROV_DB_CONNECT_ATTEMPTS=2",
				     "TMPROV_TM_URL=http://127.0.0.1:1",
				     "TMPROV_PARTNER_ID=p",
				     "TMPROV_ADMIN_LISTEN=127.0.0.1:0",
				     "TMPROV_CALLBACK_LISTEN=127.0.0.1:0",
				     "TMPROV_KAFKA_GROUP=test-pgdatabase",
				     "TMPROV_TOPIC_COMMANDS=test-pgdatabase.commands",
				     NULL};
		struct clirun r;
		char sql[256], *n;

		if (runs[i].app == NULL) {
			clirun(&r, runs[i].argv, env, START_MS);
			if (r.status != 0)
				clirun_dump(&r, "tmprov migrate");
			assert_int_equal(r.status, 0);
			clirun_free(&r);
			n = testdb_value(pg, "SELECT count(*) > 0 FROM schema_migrations");
			assert_string_equal(n, "t");
			free(n);
			continue;
		}
		clirun_start(&r, runs[i].argv, env, NULL);
		if (clirun_wait_output(&r, 2, runs[i].wait, START_MS) != 0) {
			clirun_stop(&r, START_MS);
			clirun_dump(&r, runs[i].argv[0]);
			fail_msg("%s did not start on PGDATABASE=%s", runs[i].argv[0], db.name);
		}
		snprintf(sql, sizeof(sql),
			 "SELECT count(*) > 0 FROM pg_stat_activity WHERE datname = '%s' AND "
			 "application_name LIKE '%s'",
			 db.name, runs[i].app);
		n = testdb_value(pg, sql);
		clirun_stop(&r, START_MS);
		if (strcmp(n, "t") != 0)
			clirun_dump(&r, runs[i].argv[0]);
		assert_string_equal(n, "t");
		free(n);
		clirun_free(&r);
	}
	PQfinish(pg);
	testdb_drop(&db);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_version_everywhere),	 cmocka_unit_test(test_help_everywhere),
	    cmocka_unit_test(test_config_errors_exit_2), cmocka_unit_test(test_secret_file),
	    cmocka_unit_test(test_secret_file_used),	 cmocka_unit_test(test_client_id),
	    cmocka_unit_test(test_pgdatabase),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
