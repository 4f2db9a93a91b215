/* `make demo` as a test: runs tools/demo.sh (what `make demo` runs after building) with a
 * scratch state folder and checks its output — the import and meeting summaries, a SUCCEED
 * login and the meeting list with the expected topics — its time, and that nothing it started
 * is left running; then `demo.sh up` (left running, as `make up`) and `demo.sh down`. */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/clirun.h"
#include "../support/tprog.h"

#define DEMO_MS	     120000
#define DEMO_SECONDS 60.0 /* the bound */

static char script[1024], dir[1024], dirvar[1100], binvar[1100];

static void
expect_in(const struct clirun *r, const char *needle)
{
	if (strstr(r->out, needle) == NULL) {
		clirun_dump(r, "demo.sh");
		fail_msg("no \"%s\" in the demo's output", needle);
	}
}

/* Processes whose command line mentions the demo's state folder (PostgreSQL's -D, the port
 * and bootstrap files, the worker's --config): the demo's own. */
/* Whether pid has ended: gone, or a zombie waiting for the init process (which here may reap
 * orphans a second or more late) to collect it. */
static bool
ended(long pid)
{
	char path[64], buf[512], *p;
	size_t len;
	FILE *f;

	if (kill((pid_t)pid, 0) == -1 && errno == ESRCH)
		return true;
	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	if ((f = fopen(path, "r")) == NULL)
		return true;
	len = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[len] = '\0';
	p = strrchr(buf, ')');
	return p != NULL && p[1] == ' ' && p[2] == 'Z';
}

static int
processes_of_demo(bool report)
{
	DIR *d = opendir("/proc");
	struct dirent *e;
	int n = 0;

	assert_non_null(d);
	while ((e = readdir(d)) != NULL) {
		char path[300], buf[8192];
		size_t len;
		FILE *f;

		if (!isdigit((unsigned char)e->d_name[0]) || atol(e->d_name) == (long)getpid())
			continue;
		snprintf(path, sizeof(path), "/proc/%s/cmdline", e->d_name);
		f = fopen(path, "r");
		if (f == NULL)
			continue;
		len = fread(buf, 1, sizeof(buf) - 1, f);
		fclose(f);
		for (size_t i = 0; i < len; i++)
			if (buf[i] == '\0')
				buf[i] = ' ';
		buf[len] = '\0';
		if (strstr(buf, dir) != NULL) {
			if (report)
				fprintf(stderr, "# still running: %s: %s\n", e->d_name, buf);
			n++;
		}
	}
	closedir(d);
	return n;
}

/* The pids the demo printed ("pid N"). */
static size_t
demo_pids(const char *out, long *pids, size_t max)
{
	size_t n = 0;

	for (const char *p = strstr(out, " pid "); p != NULL && n < max; p = strstr(p + 1, " pid "))
		pids[n++] = atol(p + 5);
	return n;
}

static void
run(struct clirun *r, const char *mode)
{
	const char *argv[] = {tprog("bash"), script, mode, NULL};
	const char *const env[] = {dirvar, binvar, NULL};

	clirun(r, argv, env, DEMO_MS);
}

static void
test_demo(void **state)
{
	struct clirun r;
	long pids[8];
	size_t n;
	struct stat st;

	(void)state;
	run(&r, "run");
	if (r.status != 0) {
		clirun_dump(&r, "demo.sh");
		fail_msg("demo.sh exited with %d", r.status);
	}
	fprintf(stderr, "# demo.sh took %.1f s\n", r.seconds);
	assert_true(r.seconds < DEMO_SECONDS);
	expect_in(&r, "examples/customers.csv: 4 rows: 4 good, 0 repeated, 0 bad");
	expect_in(&r, "outcomes of 7 commands: 7 succeeded, 0 failed, 0 rejected");
	expect_in(&r, "outcomes of 3 commands: 3 succeeded, 0 failed, 0 rejected");
	expect_in(&r, "<__Status__>SUCCEED</__Status__>");
	expect_in(&r, "<__UserID__>ann</__UserID__>");
	expect_in(&r, "<__MeetingTopic__>Quarterly review</__MeetingTopic__>");
	expect_in(&r, "<__MeetingTopic__>Onboarding call with Globex</__MeetingTopic__>");
	expect_in(&r, "<__ScheduledStartTime__>2030/03/04 09:00</__ScheduledStartTime__>");
	/* Gina's meeting is not Ann's. */
	assert_null(strstr(r.out, "Design sync</__MeetingTopic__>"));
	n = demo_pids(r.out, pids, 8);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		assert_true(ended(pids[i]));
	assert_int_equal(processes_of_demo(true), 0);
	assert_int_equal(stat(dir, &st), -1);
	clirun_free(&r);
}

static void
test_up_down(void **state)
{
	struct clirun r;
	long pids[8];
	size_t n;

	(void)state;
	run(&r, "up");
	if (r.status != 0) {
		clirun_dump(&r, "demo.sh up");
		fail_msg("demo.sh up exited with %d", r.status);
	}
	expect_in(&r, "demo: running; state in");
	n = demo_pids(r.out, pids, 8);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++)
		assert_int_equal(kill((pid_t)pids[i], 0), 0);
	/* PostgreSQL, devkafka, tmsim, worker, callback at least. */
	assert_true(processes_of_demo(false) >= 5);
	clirun_free(&r);
	run(&r, "down");
	assert_int_equal(r.status, 0);
	expect_in(&r, "demo: stopped");
	for (size_t i = 0; i < n; i++)
		assert_true(ended(pids[i]));
	assert_int_equal(processes_of_demo(true), 0);
	clirun_free(&r);
}

static int
setup(void **state)
{
	const char *src = getenv("TMPROV_TEST_SRC"), *tmp = getenv("TMPROV_TEST_TMP"),
		   *bin = getenv("TMPROV_TEST_BIN");

	(void)state;
	if (src == NULL || tmp == NULL || bin == NULL) {
		fprintf(stderr,
			"TMPROV_TEST_SRC, TMPROV_TEST_TMP and TMPROV_TEST_BIN must be set\n");
		return -1;
	}
	snprintf(script, sizeof(script), "%s/tools/demo.sh", src);
	snprintf(dir, sizeof(dir), "%s/demo-%ld", tmp, (long)getpid());
	snprintf(dirvar, sizeof(dirvar), "TMPROV_DEMO_DIR=%s", dir);
	snprintf(binvar, sizeof(binvar), "BIN=%s", bin);
	return 0;
}

/* Whatever a failed assertion left behind. */
static int
teardown(void **state)
{
	struct clirun r;

	(void)state;
	if (processes_of_demo(false) > 0) {
		run(&r, "down");
		clirun_free(&r);
	}
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_demo),
	    cmocka_unit_test(test_up_down),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
