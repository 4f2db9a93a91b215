/* The manual pages in man/ are the programs' reference: each holds exactly the key list its
 * program generates (--help-config=mdoc, between the BEGIN KEYS and END KEYS marks that
 * `make man` rewrites), every key each program reads and every subcommand `tmprov --help`
 * lists are documented, and `mandoc -Tlint` finds nothing to say. And every TMPROV_ or TMSIM_
 * setting the README names is one a program knows. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "../support/clirun.h"
#include "../support/tprog.h"

#define RUN_MS	 30000
#define TEXT_MAX (1024L * 1024)
#define ARGS_MAX 8

static const char *const pages[] = {"tmprov.1", "tmprov-worker.8", "tmprov-callback.8"};

/* The file under the source tree, NUL-terminated; fails the test when it cannot be read. */
static char *
slurp(const char *rel)
{
	const char *src = getenv("TMPROV_TEST_SRC");
	char path[1024], *text = calloc(1, TEXT_MAX + 1);
	FILE *f;
	size_t n;

	assert_non_null(src);
	assert_non_null(text);
	snprintf(path, sizeof(path), "%s/%s", src, rel);
	if ((f = fopen(path, "r")) == NULL)
		fail_msg("cannot read %s", path);
	n = fread(text, 1, TEXT_MAX, f);
	fclose(f);
	text[n] = '\0';
	return text;
}

/* Runs argv to its end and returns its standard output (caller frees); exit status 0 wanted. */
static char *
output_of(const char *const *argv)
{
	struct clirun r;
	char *out;

	clirun(&r, argv, NULL, RUN_MS);
	if (r.status != 0)
		clirun_dump(&r, argv[0]);
	assert_int_equal(r.status, 0);
	out = strdup(r.out);
	clirun_free(&r);
	assert_non_null(out);
	return out;
}

/* The page's generated key list (the lines between the marks) and the command of its BEGIN
 * mark, split at spaces into argv (pointing into cmd). */
static char *
keys_block(const char *page, char *cmd, size_t cmdlen, const char **argv)
{
	static const char begin[] = ".\\\" BEGIN KEYS ", end[] = "\n.\\\" END KEYS\n";
	const char *b = strstr(page, begin), *e, *nl;
	size_t argc = 0;
	char *block;

	assert_non_null(b);
	b += strlen(begin);
	nl = strchr(b, '\n');
	assert_non_null(nl);
	assert_true((size_t)(nl - b) < cmdlen);
	memcpy(cmd, b, (size_t)(nl - b));
	cmd[nl - b] = '\0';
	for (char *t = strtok(cmd, " "); t != NULL && argc < ARGS_MAX; t = strtok(NULL, " "))
		argv[argc++] = t;
	argv[argc] = NULL;
	assert_true(argc >= 1);
	e = strstr(nl, end);
	assert_non_null(e);
	block = strndup(nl + 1, (size_t)(e + 1 - (nl + 1)));
	assert_non_null(block);
	return block;
}

static void
test_key_lists_are_generated(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		char rel[64], cmd[256], *page, *block, *want;
		const char *argv[ARGS_MAX + 1];

		snprintf(rel, sizeof(rel), "man/%s", pages[i]);
		page = slurp(rel);
		block = keys_block(page, cmd, sizeof(cmd), argv);
		want = output_of(argv);
		if (strcmp(block, want) != 0)
			fail_msg("%s: the key list differs from what %s prints: run make man", rel,
				 argv[0]);
		free(want);
		free(block);
		free(page);
	}
}

/* Every "| NAME |" row that argv's --help-config prints has its item in page. */
static int
check_keys(const char *page, const char *pagename, const char *const *argv)
{
	char *out = output_of(argv);
	int rows = 0, missing = 0;

	for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		char name[128], want[160];

		if (sscanf(line, "| %127[A-Z0-9_] |", name) != 1 ||
		    (strncmp(name, "TMPROV_", 7) != 0 && strncmp(name, "TMSIM_", 6) != 0))
			continue;
		rows++;
		snprintf(want, sizeof(want), "\n.It Ev %s\n", name);
		if (strstr(page, want) == NULL) {
			fprintf(stderr, "%s does not document %s (%s %s)\n", pagename, name,
				argv[0], argv[1]);
			missing++;
		}
	}
	free(out);
	assert_true(rows >= 3);
	return missing;
}

static void
test_every_key_documented(void **state)
{
	const char *const worker[] = {"tmprov-worker", "--help-config", NULL};
	const char *const callback[] = {"tmprov-callback", "--help-config", NULL};
	static const char *const subcommands[] = {"send",   "import", "status",
						  "replay", "events", "migrate"};
	char *page;
	int missing = 0;

	(void)state;
	page = slurp("man/tmprov-worker.8");
	missing += check_keys(page, "tmprov-worker.8", worker);
	free(page);
	page = slurp("man/tmprov-callback.8");
	missing += check_keys(page, "tmprov-callback.8", callback);
	free(page);
	page = slurp("man/tmprov.1");
	for (size_t i = 0; i < sizeof(subcommands) / sizeof(subcommands[0]); i++) {
		const char *const argv[] = {"tmprov", subcommands[i], "--help-config", NULL};

		missing += check_keys(page, "tmprov.1", argv);
	}
	free(page);
	assert_int_equal(missing, 0);
}

static void
test_every_subcommand_documented(void **state)
{
	const char *const argv[] = {"tmprov", "--help", NULL};
	char *out, *page = slurp("man/tmprov.1");
	int n = 0;

	(void)state;
	out = output_of(argv);
	for (char *line = strtok(out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
		char name[32], want[64];

		if (strncmp(line, "  ", 2) != 0 || sscanf(line, "%31s", name) != 1)
			continue;
		snprintf(want, sizeof(want), "\n.Ss %s\n", name);
		if (strstr(page, want) == NULL)
			fail_msg("tmprov.1 has no section on tmprov %s", name);
		snprintf(want, sizeof(want), "\n.Cm %s\n", name);
		if (strstr(page, want) == NULL)
			fail_msg("tmprov.1's synopsis lacks tmprov %s", name);
		n++;
	}
	free(out);
	free(page);
	assert_true(n >= 6);
}

/* mandoc -Tlint says nothing, but that the pages' references to one another are not among the
 * installed manuals: it looks for them only under /usr/share/man. */
static void
test_mandoc_lint(void **state)
{
	const char *mandoc = tprog("mandoc"), *src = getenv("TMPROV_TEST_SRC");

	(void)state;
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++) {
		char path[1024];
		const char *const argv[] = {mandoc, "-Tlint", path, NULL};
		struct clirun r;
		int said = 0;

		snprintf(path, sizeof(path), "%s/man/%s", src, pages[i]);
		clirun(&r, argv, NULL, RUN_MS);
		for (char *line = strtok(r.out, "\n"); line != NULL; line = strtok(NULL, "\n")) {
			if (strstr(line, "STYLE: referenced manual not found: Xr tmprov") != NULL)
				continue;
			fprintf(stderr, "%s\n", line);
			said++;
		}
		if (said > 0 || (r.status != 0 && r.status != 1) || r.err[0] != '\0')
			clirun_dump(&r, "mandoc -Tlint");
		assert_int_equal(said, 0);
		assert_true(r.status == 0 || r.status == 1); /* 1: only the references above */
		assert_string_equal(r.err, "");
		clirun_free(&r);
	}
}

/* Every setting the README names is in some program's table. Names ending in '_' are families
 * (TMPROV_TOPIC_*); the benchmark script's own variables are no program's. */
static void
test_readme_names_known_keys(void **state)
{
	static const char *const scripts[] = {"TMPROV_BENCH_KEEP"};
	const char *const progs[][3] = {
	    {"tmprov-worker", "--help-config", NULL},	{"tmprov-callback", "--help-config", NULL},
	    {"tmprov", "--help-config", NULL},		{"tmsim", "--help-config", NULL},
	    {"tmprov-devkafka", "--help-config", NULL},
	};
	char *known = calloc(1, TEXT_MAX), *readme = slurp("README.md");
	size_t used = 0;
	int unknown = 0;

	(void)state;
	assert_non_null(known);
	for (size_t i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
		char *out = output_of(progs[i]);
		size_t n = strlen(out);

		assert_true(used + n < TEXT_MAX);
		memcpy(known + used, out, n);
		used += n;
		free(out);
	}
	for (const char *p = readme; (p = strpbrk(p, "T")) != NULL; p++) {
		char name[128], row[160];
		bool script = false;

		if ((p > readme && (p[-1] == '_' || (p[-1] >= 'A' && p[-1] <= 'Z'))) ||
		    sscanf(p, "%127[A-Z0-9_]", name) != 1 ||
		    (strncmp(name, "TMPROV_", 7) != 0 && strncmp(name, "TMSIM_", 6) != 0) ||
		    name[strlen(name) - 1] == '_')
			continue;
		for (size_t i = 0; i < sizeof(scripts) / sizeof(scripts[0]); i++)
			script |= strcmp(name, scripts[i]) == 0;
		snprintf(row, sizeof(row), "| %s |", name);
		if (!script && strstr(known, row) == NULL) {
			fprintf(stderr, "README.md names %s, which no program's table holds\n",
				name);
			unknown++;
		}
	}
	free(readme);
	free(known);
	assert_int_equal(unknown, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_key_lists_are_generated),
	    cmocka_unit_test(test_every_key_documented),
	    cmocka_unit_test(test_every_subcommand_documented),
	    cmocka_unit_test(test_mandoc_lint),
	    cmocka_unit_test(test_readme_names_known_keys),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
