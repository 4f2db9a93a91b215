/* The README's configuration tables are the programs' own: every row each program prints with
 * --help-config is in README.md as printed (the one default that is a build path is compared
 * up to it), so a setting added, renamed or changed cannot go undocumented. And every
 * subcommand `tmprov --help` lists has its section. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/clirun.h"

#define RUN_MS	   30000
#define README_MAX (1024L * 1024)

static char *readme;

static void
check_rows(const char *const *argv)
{
	const char *src = getenv("TMPROV_TEST_SRC");
	struct clirun r;
	int rows = 0, missing = 0;

	clirun(&r, argv, NULL, RUN_MS);
	assert_int_equal(r.status, 0);
	for (char *line = strtok(r.out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		char *path;

		if (strncmp(line, "| TMPROV_", 9) != 0 && strncmp(line, "| TMSIM_", 8) != 0)
			continue;
		rows++;
		/* A default that is where this tree was built: compare the row up to it. */
		path = strstr(line, src);
		if (path != NULL)
			path[-1] = '\0';
		if (strstr(readme, line) == NULL) {
			fprintf(stderr, "README.md lacks the row of %s %s:\n%s\n", argv[0], argv[1],
				line);
			missing++;
		}
	}
	clirun_free(&r);
	assert_true(rows >= 3);
	assert_int_equal(missing, 0);
}

static void
test_config_tables(void **state)
{
	const char *const progs[][3] = {
	    {"tmprov-worker", "--help-config", NULL},
	    {"tmprov-callback", "--help-config", NULL},
	    {"tmsim", "--help-config", NULL},
	    {"tmprov-devkafka", "--help-config", NULL},
	};
	const char *const cli[][4] = {
	    {"tmprov", "send", "--help-config", NULL},
	    {"tmprov", "import", "--help-config", NULL},
	    {"tmprov", "status", "--help-config", NULL},
	    {"tmprov", "replay", "--help-config", NULL},
	    {"tmprov", "events", "--help-config", NULL},
	    {"tmprov", "migrate", "--help-config", NULL},
	};

	(void)state;
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++)
		check_rows(progs[i]);
	for (size_t i = 0; i < sizeof(cli) / sizeof(cli[0]); i++)
		check_rows(cli[i]);
}

static void
test_cli_sections(void **state)
{
	const char *argv[] = {"tmprov", "--help", NULL};
	struct clirun r;
	int n = 0;

	(void)state;
	clirun(&r, argv, NULL, RUN_MS);
	assert_int_equal(r.status, 0);
	for (char *line = strtok(r.out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		char name[32], want[64];

		if (strncmp(line, "  ", 2) != 0 || sscanf(line, "%31s", name) != 1)
			continue;
		snprintf(want, sizeof(want), "`tmprov %s", name);
		if (strstr(readme, want) == NULL)
			fail_msg("README.md does not describe tmprov %s", name);
		n++;
	}
	clirun_free(&r);
	assert_true(n >= 6);
}

static int
setup(void **state)
{
	const char *src = getenv("TMPROV_TEST_SRC");
	char path[1024];
	FILE *f;
	size_t n;

	(void)state;
	if (src == NULL) {
		fprintf(stderr, "TMPROV_TEST_SRC is not set\n");
		return -1;
	}
	snprintf(path, sizeof(path), "%s/README.md", src);
	f = fopen(path, "r");
	readme = calloc(1, README_MAX + 1);
	if (f == NULL || readme == NULL)
		return -1;
	n = fread(readme, 1, README_MAX, f);
	readme[n] = '\0';
	fclose(f);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	free(readme);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_config_tables),
	    cmocka_unit_test(test_cli_sections),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
