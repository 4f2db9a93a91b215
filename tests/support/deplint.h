/* deplint: reads the tree's C files, shell scripts and Python files for what they run: the
 * programs they look up (tprog, tprog_optional and tprog_python in C; need in the scripts), the
 * Python modules they import, and every run of a program that goes around the lookup. Text
 * only: test_deps_lint holds the lookups against tools/install-deps.sh's declarations,
 * test_deps_installed against the machine. */
#ifndef TMPROV_TEST_DEPLINT_H
#define TMPROV_TEST_DEPLINT_H

#include <stdbool.h>
#include <stddef.h>

#include "deps.h"

enum deplint_how {
	DEPLINT_TPROG,	  /* tprog("NAME") in C */
	DEPLINT_OPTIONAL, /* tprog_optional("NAME"): the test does without it */
	DEPLINT_PYMOD,	  /* tprog_python("MOD,..."): name is "python3:MOD" */
	DEPLINT_NEED,	  /* need NAME in a script */
	DEPLINT_IMPORT,	  /* import MOD in a .py file: name is "python3:MOD", stdlib or not */
	DEPLINT_RUNS,	  /* a script runs another of the tree's: name is its path */
};

struct deplint_use {
	char file[256]; /* relative to the tree */
	int line;
	enum deplint_how how;
	char name[80];
	char task[32]; /* a script's own install-deps task (`tools/install-deps.sh TASK`), or "" */
};

struct deplint {
	struct deplint_use *uses;
	size_t nuses;
	char **bypass; /* "FILE:LINE: what runs around the lookup" */
	size_t nbypass;
	size_t nc, nsh, npy; /* files read, by kind */
};

/* Reads every .c/.h under common, workers, tools and tests, every shell script under tools and
 * tests (*.sh, or a #! line naming sh or bash) and every .py file there. d gives the
 * base-system programs scripts may run by name and the declared ones they must not. 0, or -1
 * with err. */
int deplint_scan(struct deplint *l, const char *src, const struct deps *d, char *err,
		 size_t errlen);
/* Reads one text as the file rel (its kind from its name: .c/.h, .py, else shell), adding to
 * l (zeroed before the first call). 0, or -1 (out of memory). */
int deplint_scan_text(struct deplint *l, const char *rel, const char *text, const struct deps *d);
void deplint_free(struct deplint *l);
/* The tests' group fixture: *state a deplint_fixture with the declarations of the tree
 * $TMPROV_TEST_SRC names and what its files run. 0, or -1 with the reason on stderr. */
struct deplint_fixture {
	const char *src;
	struct deps d;
	struct deplint l;
};
int deplint_setup(void **state);
int deplint_teardown(void **state);

#endif
