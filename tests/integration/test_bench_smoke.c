/* test_bench_smoke: `BENCH_SMOKE=1 tools/bench/bench.sh` completes every case on its own stack and
 * writes well-formed figures and ratios (never a timing threshold: speed is make bench's to
 * judge), and `tmprov-bench` refuses bad usage, fails a round in which calls fail and ends the
 * processes it started when it is signalled. The smoke run also keeps the pg-reference scripts
 * in step with the programs' SQL: they are made from workers/worker/sql.c and
 * workers/callback/sql.c, and a statement whose parameters changed without its script fails the
 * pg-reference case. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dirent.h>
#include <jansson.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "../support/sim.h"

/* Every scenario tmprov-bench has today; bench.sh must run each at least once. */
static const char *const SCENARIOS[] = {"tmsim-capacity", "tm-client", "hash",
					"pg-reference",	  "worker",    "callback"};
#define NSCENARIOS (sizeof(SCENARIOS) / sizeof(SCENARIOS[0]))
/* Latency figures: all three or none, in this order. */
static const char *const LATENCIES[] = {"p50_ms", "p99_ms", "max_ms"};
/* Every case of these scenarios has these figures besides its rate (the worker's what it used,
 * read from /proc: the private stack's PostgreSQL is a local process). */
static const struct {
	const char *scenario, *figure;
} REQUIRED[] = {
    {"tmsim-capacity", "p99_ms"},
    {"tm-client", "p99_ms"},
    {"hash", "p99_ms"},
    {"pg-reference", "p99_ms"},
    {"worker", "peak_rss_mib"},
    {"worker", "peak_threads"},
    {"worker", "switches_per_command"},
    {"worker", "cpu_ms_per_command"},
    {"worker", "pg_cpu_ms_per_command"},
    {"callback", "p99_ms"},
    {"callback", "peak_rss_mib"},
    {"callback", "rss_bound_mib"},
};
/* Cases the smoke run must have besides one per scenario: TM's latency is held against these
 * (the TM-instant rate of the same commands) and the footprint at concurrency 1024. */
static const char *const CASES[] = {"worker/tm0-c64", "worker/tm50-c64", "worker/tm50-c1024"};
/* The ratios the smoke run must report (cases it leaves out have theirs left out too). */
static const char *const RATIOS[] = {"worker / database (2)",
				     "passwords / hash (2b)",
				     "TM 50 ms, c64 / 1280 (3)",
				     "TM 50 ms / TM instant, c64 (3)",
				     "latency p99 ms (4)",
				     "callback meetings / database (6a)",
				     "callback meetings p99 ms (6a)",
				     "logins / hash verify (6c)",
				     "worker peak RSS MiB, c1024 (7)",
				     "callback peak RSS / bound (7)"};

static const char *
env_or_fail(const char *name)
{
	const char *v = getenv(name);

	if (v == NULL || *v == '\0')
		fail_msg("%s is not set (run under tests/run-tests)", name);
	return v;
}

/* Runs argv with extra "KEY=value" settings (NULL-terminated; "KEY=" unsets KEY), stdout and
 * stderr to out_path, in its own process group, killed after timeout_s. Returns the exit code,
 * or -1 when killed or signalled. */
static int
run(const char *const argv[], const char *const extra[], const char *out_path, int timeout_s)
{
	time_t deadline = time(NULL) + timeout_s;
	int status = 0;
	pid_t pid = fork();

	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		for (size_t i = 0; extra != NULL && extra[i] != NULL; i++) {
			const char *eq = strchr(extra[i], '=');
			char key[128];

			snprintf(key, sizeof(key), "%.*s", (int)(eq - extra[i]), extra[i]);
			if (eq[1] == '\0')
				unsetenv(key);
			else
				setenv(key, eq + 1, 1);
		}
		if (freopen(out_path, "w", stdout) == NULL || dup2(fileno(stdout), 2) < 0)
			_exit(126);
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	while (waitpid(pid, &status, WNOHANG) == 0) {
		if (time(NULL) > deadline) {
			kill(-pid, SIGTERM);
			sleep(5);
			kill(-pid, SIGKILL);
			waitpid(pid, &status, 0);
			print_error("# %s killed after %d s\n", argv[0], timeout_s);
			return -1;
		}
		usleep(100 * 1000);
	}
	return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *buf = NULL;
	size_t len = 0;

	assert_non_null(f);
	assert_int_equal(getdelim(&buf, &len, '\0', f) >= 0, 1);
	fclose(f);
	return buf;
}

static void
print_file(const char *path)
{
	char *text = slurp(path);

	/* Not print_error: cmocka cuts its messages at 1 KiB, and the reason is at the end. */
	fputs(text, stderr);
	fputc('\n', stderr);
	free(text);
}

/* Figures that may be 0 in a sound round (tools/bench/report.py's ZERO_OK): a hash in memory
 * kept between hashes can spend no system time at all. */
static const char *const ZERO_OK[] = {"cpu_sys_ms"};

static bool
zero_ok(const char *fname)
{
	for (size_t i = 0; i < sizeof(ZERO_OK) / sizeof(ZERO_OK[0]); i++)
		if (strcmp(ZERO_OK[i], fname) == 0)
			return true;
	return false;
}

/* Whether ratio r may be 0: its numerator ("case:figure") is a figure that may be. */
static bool
ratio_zero_ok(json_t *r)
{
	const char *num = json_string_value(json_object_get(r, "numerator"));
	const char *fig = num != NULL ? strrchr(num, ':') : NULL;

	return fig != NULL && zero_ok(fig + 1);
}

/* A figure is {"median", "min", "max", "rounds": [...]}: numbers > 0 (>= 0 for ZERO_OK) in
 * that order. */
static double
check_figure(const char *cname, const char *fname, json_t *fig, json_int_t rounds)
{
	double med = json_number_value(json_object_get(fig, "median"));
	double lo = json_number_value(json_object_get(fig, "min"));
	double hi = json_number_value(json_object_get(fig, "max"));
	json_t *per_round = json_object_get(fig, "rounds");
	bool low_ok = zero_ok(fname) ? lo >= 0 : lo > 0;

	if (!json_is_number(json_object_get(fig, "median")) || !low_ok || !(lo <= med) ||
	    !(med <= hi))
		fail_msg("%s %s: min %g, median %g, max %g", cname, fname, lo, med, hi);
	assert_true(json_is_array(per_round));
	assert_int_equal(json_array_size(per_round), rounds);
	return med;
}

static void
check_case(json_t *c, json_int_t rounds)
{
	const char *name = json_string_value(json_object_get(c, "name"));
	const char *scenario = json_string_value(json_object_get(c, "scenario"));
	json_t *figures = json_object_get(c, "figures"), *fig;
	const char *key;
	double med[3];
	size_t nlat = 0;

	assert_non_null(name);
	assert_non_null(scenario);
	if (!json_is_true(json_object_get(c, "ok")))
		fail_msg("case %s failed: %s", name,
			 json_dumps(json_object_get(c, "errors"), JSON_COMPACT));
	assert_non_null(json_string_value(json_object_get(c, "unit")));
	if (json_object_get(figures, "rate") == NULL)
		fail_msg("case %s has no rate", name);
	for (size_t i = 0; i < sizeof(REQUIRED) / sizeof(REQUIRED[0]); i++)
		if (strcmp(REQUIRED[i].scenario, scenario) == 0 &&
		    json_object_get(figures, REQUIRED[i].figure) == NULL)
			fail_msg("case %s has no figure %s", name, REQUIRED[i].figure);
	/* Every figure is well-formed. */
	json_object_foreach(figures, key, fig) check_figure(name, key, fig, rounds);
	for (size_t i = 0; i < 3; i++)
		if ((fig = json_object_get(figures, LATENCIES[i])) != NULL)
			med[nlat++] = json_number_value(json_object_get(fig, "median"));
	if (nlat != 0 && nlat != 3)
		fail_msg("case %s has %zu of the three latency figures", name, nlat);
	/* p50 <= p99 <= max of one round's samples; with one round the medians are those. */
	if (nlat == 3 && rounds == 1 && !(med[0] <= med[1] && med[1] <= med[2]))
		fail_msg("case %s: p50 %g, p99 %g, max %g out of order", name, med[0], med[1],
			 med[2]);
}

/* The ratio called name is there, with a median > 0 and, when it has a target, met or
 * missed: the run reports a missed target, it never fails on one. */
static void
check_ratio(json_t *ratios, const char *name)
{
	size_t i;
	json_t *r;

	json_array_foreach(ratios, i, r)
	{
		if (strcmp(json_string_value(json_object_get(r, "name")), name) != 0)
			continue;
		if (!(json_number_value(json_object_get(r, "median")) > 0))
			fail_msg("ratio %s has no median > 0", name);
		if (json_is_number(json_object_get(r, "target")) &&
		    !json_is_boolean(json_object_get(r, "met")))
			fail_msg("ratio %s has a target but no met/missed", name);
		return;
	}
	fail_msg("no ratio %s in the results", name);
}

/* Whether a case's field ("scenario", "name") is value. */
static bool
has_case(json_t *cases, const char *field, const char *value)
{
	size_t i;
	json_t *c;

	json_array_foreach(cases, i, c)
	{
		const char *s = json_string_value(json_object_get(c, field));

		if (s != NULL && strcmp(s, value) == 0)
			return true;
	}
	return false;
}

static void
test_smoke_run(void **state)
{
	const char *src = env_or_fail("TMPROV_TEST_SRC"), *bin = env_or_fail("TMPROV_TEST_BIN");
	const char *tmp = env_or_fail("TMPROV_TEST_TMP");
	char script[1024], results[1024], out[1024], env_results[1100], env_bin[1100];
	const char *argv[] = {script, NULL};
	const char *extra[] = {"BENCH_SMOKE=1", env_results,   env_bin,
			       "BENCH_ROUNDS=", "BENCH_ONLY=", NULL};
	json_error_t jerr;
	json_t *doc, *cases, *ratios, *c;
	char *table;
	size_t i;
	int rc;

	(void)state;
	snprintf(script, sizeof(script), "%s/tools/bench/bench.sh", src);
	snprintf(results, sizeof(results), "%s/bench-smoke-%ld.json", tmp, (long)getpid());
	snprintf(out, sizeof(out), "%s/bench-smoke-%ld.out", tmp, (long)getpid());
	snprintf(env_results, sizeof(env_results), "BENCH_RESULTS=%s", results);
	snprintf(env_bin, sizeof(env_bin), "BIN=%s", bin);
	rc = run(argv, extra, out, 240);
	if (rc != 0) {
		print_file(out);
		fail_msg("bench.sh exited %d", rc);
	}
	doc = json_load_file(results, 0, &jerr);
	if (doc == NULL)
		fail_msg("%s: %s", results, jerr.text);
	assert_true(json_is_true(json_object_get(doc, "smoke")));
	assert_true(json_is_true(json_object_get(doc, "ok")));
	assert_int_equal(json_integer_value(json_object_get(doc, "rounds")), 1);
	cases = json_object_get(doc, "cases");
	assert_true(json_array_size(cases) >= NSCENARIOS);
	for (i = 0; i < NSCENARIOS; i++)
		if (!has_case(cases, "scenario", SCENARIOS[i]))
			fail_msg("no case ran scenario %s", SCENARIOS[i]);
	for (i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++)
		if (!has_case(cases, "name", CASES[i]))
			fail_msg("no case %s", CASES[i]);
	table = slurp(out);
	json_array_foreach(cases, i, c)
	{
		check_case(c, 1);
		/* The table has a row for it. */
		assert_non_null(strstr(table, json_string_value(json_object_get(c, "name"))));
	}
	ratios = json_object_get(doc, "ratios");
	json_array_foreach(ratios, i, c)
	{
		double med = json_number_value(json_object_get(c, "median"));

		if (!json_is_number(json_object_get(c, "median")) ||
		    !(ratio_zero_ok(c) ? med >= 0 : med > 0))
			fail_msg("ratio %s has no median > 0",
				 json_string_value(json_object_get(c, "name")));
	}
	for (i = 0; i < sizeof(RATIOS) / sizeof(RATIOS[0]); i++) {
		check_ratio(ratios, RATIOS[i]);
		/* The table has a row for it, with its target's verdict. */
		assert_non_null(strstr(table, RATIOS[i]));
	}
	assert_true(strstr(table, " met") != NULL || strstr(table, " MISSED") != NULL);
	/* The workers' use per command has its table. */
	assert_non_null(strstr(table, "switches/command"));
	free(table);
	json_decref(doc);
	unlink(results);
	unlink(out);
}

/* tmprov-bench ARGS with extra settings; returns the exit code, output in *text. */
static int
bench(const char *const args[], const char *const extra[], char **text)
{
	const char *bin = env_or_fail("TMPROV_TEST_BIN"), *tmp = env_or_fail("TMPROV_TEST_TMP");
	char exe[1024], out[1024];
	const char *argv[16] = {exe};
	size_t n = 1;
	int rc;

	snprintf(exe, sizeof(exe), "%s/tmprov-bench", bin);
	snprintf(out, sizeof(out), "%s/bench-cli-%ld.out", tmp, (long)getpid());
	for (size_t i = 0; args[i] != NULL && n < 15; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	rc = run(argv, extra, out, 60);
	*text = slurp(out);
	unlink(out);
	return rc;
}

static void
test_usage(void **state)
{
	static const struct {
		const char *args[6];
		int rc;
		const char *says;
	} cases[] = {
	    {{"--help"}, 0, "tmsim-capacity"},
	    {{NULL}, 2, "which scenario"},
	    {{"no-such-scenario"}, 2, "unknown scenario no-such-scenario"},
	    {{"hash", "--threads", "many"}, 2, "--threads"},
	    {{"hash", "--duration", "soon"}, 2, "--duration"},
	    {{"tmsim-capacity", "--concurrency", "0"},
	     2,
	     "--concurrency: 0 is not a positive count"},
	    {{"tm-client", "--bogus"}, 2, "unknown option --bogus"},
	    {{"pg-reference", "--mode", "everything"}, 2, "takes --mode worker|callback"},
	    {{"worker", "--mode", "fast"}, 2, "takes --mode mixed|tm|password|import"},
	    {{"worker", "--tm-latency", "soon"}, 2, "--tm-latency"},
	    {{"callback", "--mode", "admin"}, 2, "takes --mode meetings|fail|login"},
	    {{"tm-client", "--mode", "delete"}, 2, "takes --mode query|create"},
	    {{"tmsim-capacity", "--mode", "query"}, 2, "takes --mode (none)"},
	};
	char *text;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int rc = bench(cases[i].args, NULL, &text);

		if (rc != cases[i].rc || strstr(text, cases[i].says) == NULL)
			fail_msg("case %zu: exit %d (want %d), output: %s", i, rc, cases[i].rc,
				 text);
		free(text);
	}
}

/* One round with calls failing must fail, not report the failures' speed. */
static void
test_failed_calls_fail_the_round(void **state)
{
	const char *args[] = {"tm-client", "--mode",  "query", "--threads",
			      "2",	   "--calls", "50",    NULL};
	char env_url[256], env_partner[256];
	const char *extra[] = {env_url, env_partner, NULL};
	struct sim *s;
	json_t *obj;
	char *text;
	int rc;

	(void)state;
	/* create_account (the seeding) works; every query_account answers 503. */
	if (sim_start(&s, "error_rate=1&only=query_account") != 0)
		fail_msg("cannot start tmsim");
	snprintf(env_url, sizeof(env_url), "TMPROV_TM_URL=%s", sim_url(s));
	snprintf(env_partner, sizeof(env_partner), "TMPROV_PARTNER_ID=%s", sim_partner(s));
	rc = bench(args, extra, &text);
	if (rc != 1 || strstr(text, "calls failed") == NULL || text[0] == '{')
		fail_msg("exit %d, output: %s", rc, text);
	free(text);
	/* The same scenario with the fault gone completes and prints one JSON object. */
	assert_int_equal(sim_faults(s, "reset=1"), 0);
	rc = bench(args, extra, &text);
	obj = json_loads(text, JSON_DISABLE_EOF_CHECK, NULL);
	if (rc != 0 || !json_is_object(json_object_get(obj, "figures")))
		fail_msg("exit %d, output: %s", rc, text);
	json_decref(obj);
	free(text);
	sim_stop(s);
}

/* The pids of pid's children (/proc), at most max. */
static size_t
children_of(pid_t pid, pid_t *out, size_t max)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	size_t n = 0;

	while (d != NULL && n < max && (e = readdir(d)) != NULL) {
		char path[64], line[512], *rp, st;
		pid_t p = (pid_t)atol(e->d_name);
		FILE *f;
		int ppid;

		snprintf(path, sizeof(path), "/proc/%ld/stat", (long)p);
		if (p <= 0 || (f = fopen(path, "r")) == NULL)
			continue;
		if (fgets(line, sizeof(line), f) != NULL && (rp = strrchr(line, ')')) != NULL &&
		    sscanf(rp + 1, " %c %d", &st, &ppid) == 2 && ppid == pid)
			out[n++] = p;
		fclose(f);
	}
	if (d != NULL)
		closedir(d);
	return n;
}

/* Whether pid still runs (a zombie nobody reaped does not). */
static bool
alive(pid_t pid)
{
	char path[64], line[512], *rp, st = 'X';
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return false;
	if (fgets(line, sizeof(line), f) != NULL && (rp = strrchr(line, ')')) != NULL)
		sscanf(rp + 1, " %c", &st);
	fclose(f);
	return st != 'Z' && st != 'X';
}

static bool
any_alive(const pid_t *pids, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (alive(pids[i]))
			return true;
	return false;
}

/* SIGTERM to tmprov-bench alone — what bench.sh's timeout sends — ends the broker and workers
 * it started too: each has a process group of its own, which that signal does not reach. */
static void
test_signal_ends_children(void **state)
{
	const char *bin = env_or_fail("TMPROV_TEST_BIN"), *tmp = env_or_fail("TMPROV_TEST_TMP");
	char exe[1024], out[1024];
	const char *argv[] = {exe,	"worker",     "--mode", "tm",		"--commands",
			      "500000", "--subjects", "1000",	"--tm-latency", "50ms",
			      NULL};
	pid_t kids[8], pid;
	size_t n = 0, left;
	int status = 0;

	(void)state;
	snprintf(exe, sizeof(exe), "%s/tmprov-bench", bin);
	snprintf(out, sizeof(out), "%s/bench-signal-%ld.out", tmp, (long)getpid());
	pid = fork();
	assert_true(pid >= 0);
	if (pid == 0) {
		setpgid(0, 0);
		if (freopen(out, "w", stdout) == NULL || dup2(fileno(stdout), 2) < 0)
			_exit(126);
		execv(exe, (char *const *)argv);
		_exit(127);
	}
	/* The broker first, then the worker. */
	for (int i = 0; i < 600 && n < 2; i++) {
		usleep(100 * 1000);
		n = children_of(pid, kids, sizeof(kids) / sizeof(kids[0]));
	}
	kill(pid, SIGTERM);
	for (int i = 0; i < 100 && waitpid(pid, &status, WNOHANG) == 0; i++)
		usleep(100 * 1000);
	for (int i = 0; i < 50 && any_alive(kids, n); i++)
		usleep(100 * 1000);
	left = 0;
	for (size_t i = 0; i < n; i++) {
		left += alive(kids[i]);
		kill(-kids[i], SIGKILL); /* whatever the outcome, nothing stays behind */
	}
	if (left > 0)
		fail_msg("%zu of the %zu children of tmprov-bench still ran after its SIGTERM",
			 left, n);
	if (n < 2) {
		kill(-pid, SIGKILL);
		print_file(out);
		fail_msg("tmprov-bench started %zu processes in 60 s", n);
	}
	unlink(out);
	assert_true(WIFSIGNALED(status) && WTERMSIG(status) == SIGTERM);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_usage),
	    cmocka_unit_test(test_failed_calls_fail_the_round),
	    cmocka_unit_test(test_signal_ends_children),
	    cmocka_unit_test(test_smoke_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
