/* test_deps_lint: every program the tests, the scripts they run and the programs those start
 * look up (tprog in C, need in the scripts) is one that the tasks `make check` installs provide,
 * as tools/install-deps.sh declares them; nothing runs a program around the lookup; and the
 * reader that finds all this reads what it should (a table of small texts). Text only: whether
 * the programs are on this machine is test_deps_installed's. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "../support/deplint.h"
#include "../support/deps.h"

static void
test_check_tasks(void **state)
{
	const struct deplint_fixture *f = *state;

	assert_true(f->d.ncheck >= 1);
	assert_true(deps_is_check(&f->d, "test"));
	assert_non_null(deps_find(&f->d, "system", "bash"));
}

/* What a lookup names must be provided by check's tasks (or be a base-system program); what a
 * script looks up must also be provided by the script's own task, which installs it when the
 * script runs outside `make check` (make bench, make demo). */
static void
test_lookups_declared(void **state)
{
	const struct deplint_fixture *f = *state;
	int bad = 0, n = 0;

	for (size_t i = 0; i < f->l.nuses; i++) {
		const struct deplint_use *u = &f->l.uses[i];
		bool base;

		if (u->how == DEPLINT_OPTIONAL || u->how == DEPLINT_IMPORT ||
		    u->how == DEPLINT_RUNS)
			continue;
		n++;
		base = deps_find(&f->d, "system", u->name) != NULL;
		if (!base && deps_find_check(&f->d, u->name) == NULL) {
			fprintf(stderr, "%s:%d: %s is looked up, but no task of `make check` (",
				u->file, u->line, u->name);
			for (size_t k = 0; k < f->d.ncheck; k++)
				fprintf(stderr, "%s%s", k ? " " : "", f->d.check[k]);
			fprintf(stderr, ") provides it in tools/install-deps.sh\n");
			bad++;
		}
		if (!base && u->task[0] != '\0' && deps_find(&f->d, u->task, u->name) == NULL) {
			fprintf(stderr,
				"%s: %s is looked up, but its own task %s does not provide it in "
				"tools/install-deps.sh\n",
				u->file, u->name, u->task);
			bad++;
		}
	}
	assert_true(n >= 10); /* the reader found the lookups */
	assert_int_equal(bad, 0);
}

/* A script with its own task that runs another script (demo.sh and bench.sh run stack.sh)
 * needs what that one looks up from its own task too: make demo and make bench run it. */
static void
test_callees_declared(void **state)
{
	const struct deplint_fixture *f = *state;
	int bad = 0, calls = 0;

	for (size_t i = 0; i < f->l.nuses; i++) {
		const struct deplint_use *run = &f->l.uses[i];

		bool seen = false;

		if (run->how != DEPLINT_RUNS || run->task[0] == '\0')
			continue;
		for (size_t k = 0; k < i && !seen; k++) /* a script run twice is read once */
			seen = f->l.uses[k].how == DEPLINT_RUNS &&
			       strcmp(f->l.uses[k].file, run->file) == 0 &&
			       strcmp(f->l.uses[k].name, run->name) == 0;
		if (seen)
			continue;
		calls++;
		for (size_t k = 0; k < f->l.nuses; k++) {
			const struct deplint_use *u = &f->l.uses[k];

			if (u->how != DEPLINT_NEED || strcmp(u->file, run->name) != 0 ||
			    deps_find(&f->d, run->task, u->name) != NULL ||
			    deps_find(&f->d, "system", u->name) != NULL)
				continue;
			fprintf(stderr,
				"%s runs %s, which looks up %s, but task %s does not provide it in "
				"tools/install-deps.sh\n",
				run->file, run->name, u->name, run->task);
			bad++;
		}
	}
	assert_true(calls >= 2);
	assert_int_equal(bad, 0);
}

static void
test_no_bypass(void **state)
{
	const struct deplint_fixture *f = *state;

	assert_true(f->l.nc >= 50 && f->l.nsh >= 4 && f->l.npy >= 2);
	for (size_t i = 0; i < f->l.nbypass; i++)
		fprintf(stderr, "%s\n", f->l.bypass[i]);
	assert_int_equal(f->l.nbypass, 0);
}

/* The reader on small texts: what it must find and what it must leave alone. */
static const struct {
	const char *file, *text;
	size_t bypass;	  /* runs around the lookup */
	const char *uses; /* the names looked up or imported, space-separated */
} CASES[] = {
    {"t.c", "execvp(argv[0], (char *const *)argv);", 1, ""},
    {"t.c", "FILE *f = popen(cmd, \"r\"); system(\"ls\");", 2, ""},
    {"t.c", "const char *a[] = {\"/usr/bin/env\", \"docker\", NULL};", 1, ""},
    {"t.c", "/* execvp( and popen( in a comment */ x.system(1); s->popen(2);", 0, ""},
    {"t.c", "char *s = \"execvp(\"; posix_spawn(&p, path, 0, 0, a, e);", 0, ""},
    {"t.c", "const char *w = tprog(\"wrk\"), *d = tprog_optional(\"docker\");", 0, "wrk docker"},
    {"t.c", "argv[0] = tprog_python(\"yaml, jsonschema\");", 0, "python3:yaml python3:jsonschema"},
    {"t.c", "const char *p = tprog(name);", 1, ""},
    {"t.sh", "wrk -t2 http://x/\n", 1, ""},
    {"t.sh", "jq . f.json | sort\n", 1, ""},
    {"t.sh", "w=$(need wrk)\n\"$w\" -t2 url >out 2>&1 &\n", 0, "wrk"},
    {"t.sh", "tools/stack.sh start \"$d\" pg\n\"$BIN/tmprov\" migrate\n", 0, "tools/stack.sh"},
    {"t.sh", "x=$(curl -fsS \"$(python3 -c 'import sys; print(1)')\")\n", 2, ""},
    {"t.sh", "echo \"$(basename \"$(dirname x)\") done\" >&2\n", 0, ""},
    {"t.sh", "case $m in run | up | down) ;; *) echo no >&2; exit 2 ;; esac\n", 0, ""},
    {"t.sh", "case $c in\nstart)\n\tmkdir -p d\n\t;;\n*) wrk ;;\nesac\n", 1, ""},
    {"t.sh", "cat >f <<EOF\nwrk -t2\nEOF\necho ok # wrk in a comment\n", 0, ""},
    {"t.sh", "timeout -k 10 600 wrk -d1s\n", 1, ""},
    {"t.sh", "f() {\n\tlocal i\n}\nfor ((i = 0; i < 3; i++)); do f; done\n", 0, ""},
    {"t.sh", "x=1; /usr/bin/python3 x.py\n", 1, ""},
    {"t.sh", "declare -A t=(\n\t[a]=\"b c\"\n)\nwhile IFS=$'\\t' read -r a; do :; done <f\n", 0,
     ""},
    {"t.py", "import os, yaml\nfrom jsonschema import X\nfrom . import y\n", 0,
     "python3:os python3:yaml python3:jsonschema"},
};

static void
test_reader(void **state)
{
	const struct deplint_fixture *f = *state;

	for (size_t i = 0; i < sizeof(CASES) / sizeof(CASES[0]); i++) {
		struct deplint l = {0};
		char got[512] = "";

		assert_int_equal(deplint_scan_text(&l, CASES[i].file, CASES[i].text, &f->d), 0);
		for (size_t k = 0; k < l.nuses; k++)
			snprintf(got + strlen(got), sizeof(got) - strlen(got), "%s%s", k ? " " : "",
				 l.uses[k].name);
		if (l.nbypass != CASES[i].bypass || strcmp(got, CASES[i].uses) != 0) {
			for (size_t k = 0; k < l.nbypass; k++)
				fprintf(stderr, "  %s\n", l.bypass[k]);
			fail_msg("case %zu (%s): %zu bypasses, uses \"%s\"; want %zu, \"%s\"", i,
				 CASES[i].text, l.nbypass, got, CASES[i].bypass, CASES[i].uses);
		}
		deplint_free(&l);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_check_tasks),	     cmocka_unit_test(test_reader),
	    cmocka_unit_test(test_lookups_declared), cmocka_unit_test(test_callees_declared),
	    cmocka_unit_test(test_no_bypass),
	};

	return cmocka_run_group_tests(tests, deplint_setup, deplint_teardown);
}
