/* test_deps_installed: what the tasks `make check` installs (tools/install-deps.sh) is on this
 * machine: every program and Python module they declare, the packages they come from, and the
 * base-system programs the scripts run by name (from packages of Priority required); every
 * program the tests and scripts look up is here; and every module the test and bench Python
 * files import is in Python's standard library or declared and importable. Run without the
 * install step, it names what is missing and the task that must install it. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <cmocka.h>

#include "../support/clirun.h"
#include "../support/deplint.h"
#include "../support/deps.h"
#include "../support/tprog.h"

#define RUN_MS 30000

/* Whether python3 imports module (a name, not "python3:name"). */
static bool
importable(const char *module)
{
	const char *python = tprog("python3");
	char code[128];
	const char *argv[] = {python, "-c", code, NULL};
	struct clirun r;
	bool ok;

	snprintf(code, sizeof(code), "import %s", module);
	clirun(&r, argv, NULL, RUN_MS);
	ok = r.status == 0;
	clirun_free(&r);
	return ok;
}

/* dpkg-query's FIELD of package, "" when it knows none. */
static void
dpkg_field(const char *package, const char *field, char *out, size_t outlen)
{
	char fmt[64];
	const char *argv[] = {tprog("dpkg-query"), "-W", fmt, package, NULL};
	struct clirun r;

	snprintf(fmt, sizeof(fmt), "-f=${%s}", field);
	clirun(&r, argv, NULL, RUN_MS);
	snprintf(out, outlen, "%s", r.status == 0 ? r.out : "");
	clirun_free(&r);
}

/* Whether the entry's program or module is here; says what is missing otherwise. */
static bool
present(const struct deplint_fixture *f, const struct deps_entry *e)
{
	char path[320], who[256];
	bool ok;

	if (strncmp(e->name, "python3:", 8) == 0)
		ok = importable(e->name + 8);
	else
		ok = deps_locate(e->name, path, sizeof(path)) == 0;
	if (!ok) {
		deps_who(&f->d, e->name, who, sizeof(who));
		fprintf(stderr, "%s is missing: %s\n", e->name, who);
	}
	return ok;
}

static void
test_provided(void **state)
{
	const struct deplint_fixture *f = *state;
	int missing = 0, n = 0;

	for (size_t i = 0; i < f->d.n; i++) {
		const struct deps_entry *e = &f->d.v[i];
		char status[128];

		if (!deps_is_check(&f->d, e->task))
			continue;
		n++;
		missing += !present(f, e);
		dpkg_field(e->package, "Status", status, sizeof(status));
		if (strstr(status, "ok installed") == NULL) {
			fprintf(stderr,
				"package %s (%s) is not installed: tools/install-deps.sh %s "
				"must install it\n",
				e->package, e->name, e->task);
			missing++;
		}
	}
	assert_true(n >= 10);
	assert_int_equal(missing, 0);
}

/* The base system: what the scripts run by name comes from packages every Debian has. */
static void
test_system(void **state)
{
	const struct deplint_fixture *f = *state;
	int bad = 0;

	for (size_t i = 0; i < f->d.n; i++) {
		const struct deps_entry *e = &f->d.v[i];
		char prio[64];

		if (strcmp(e->task, "system") != 0)
			continue;
		bad += !present(f, e);
		dpkg_field(e->package, "Priority", prio, sizeof(prio));
		if (strcmp(prio, "required") != 0) {
			fprintf(
			    stderr,
			    "%s: its package %s has Priority \"%s\", not required: a fresh "
			    "machine may lack it; declare it under a task and find it with need\n",
			    e->name, e->package, prio);
			bad++;
		}
	}
	assert_int_equal(bad, 0);
}

/* Every lookup in the tree finds its program (test_deps_lint: and check's tasks provide it). */
static void
test_lookups(void **state)
{
	const struct deplint_fixture *f = *state;
	int missing = 0;

	for (size_t i = 0; i < f->l.nuses; i++) {
		const struct deplint_use *u = &f->l.uses[i];
		const struct deps_entry *e;
		struct deps_entry anon;

		if (u->how == DEPLINT_OPTIONAL || u->how == DEPLINT_IMPORT ||
		    u->how == DEPLINT_RUNS)
			continue;
		e = deps_find_check(&f->d, u->name);
		if (e == NULL)
			e = deps_find(&f->d, "system", u->name);
		if (e == NULL) {
			memset(&anon, 0, sizeof(anon));
			snprintf(anon.name, sizeof(anon.name), "%.63s", u->name);
			e = &anon;
		}
		if (!present(f, e)) {
			fprintf(stderr, "  (looked up by %s)\n", u->file);
			missing++;
		}
	}
	assert_int_equal(missing, 0);
}

/* Imports of the Python files: the standard library, a module beside the file, or a module
 * check's tasks declare (python3:MODULE) and that imports here. */
static void
test_python_imports(void **state)
{
	const struct deplint_fixture *f = *state;
	const char *argv[] = {tprog("python3"), "-c",
			      "import sys; print('\\n'.join(sorted(sys.stdlib_module_names)))",
			      NULL};
	struct clirun r;
	char *stdlib;
	int bad = 0, n = 0;

	clirun(&r, argv, NULL, RUN_MS);
	assert_int_equal(r.status, 0);
	stdlib = malloc(strlen(r.out) + 3);
	assert_non_null(stdlib);
	sprintf(stdlib, "\n%s\n", r.out);
	clirun_free(&r);
	for (size_t i = 0; i < f->l.nuses; i++) {
		const struct deplint_use *u = &f->l.uses[i];
		const char *m = u->name + 8;
		char key[96], beside[1400];
		struct stat st;
		const char *slash = strrchr(u->file, '/');

		if (u->how != DEPLINT_IMPORT)
			continue;
		n++;
		snprintf(key, sizeof(key), "\n%s\n", m);
		if (strstr(stdlib, key) != NULL)
			continue;
		snprintf(beside, sizeof(beside), "%s/%.*s/%s.py", f->src,
			 (int)(slash ? slash - u->file : 0), u->file, m);
		if (stat(beside, &st) == 0)
			continue;
		if (deps_find_check(&f->d, u->name) == NULL) {
			fprintf(stderr,
				"%s:%d: imports %s, which no task of `make check` provides "
				"(declare python3:%s=PACKAGE in tools/install-deps.sh)\n",
				u->file, u->line, m, m);
			bad++;
		} else if (!importable(m)) {
			char who[256];

			deps_who(&f->d, u->name, who, sizeof(who));
			fprintf(stderr, "%s:%d: python3 module %s is missing: %s\n", u->file,
				u->line, m, who);
			bad++;
		}
	}
	free(stdlib);
	assert_true(n >= 5);
	assert_int_equal(bad, 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_provided),
	    cmocka_unit_test(test_system),
	    cmocka_unit_test(test_lookups),
	    cmocka_unit_test(test_python_imports),
	};

	return cmocka_run_group_tests(tests, deplint_setup, deplint_teardown);
}
