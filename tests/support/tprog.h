/* tprog: the one way a test finds a program from outside this tree (python3, pg_ctl, bash,
 * docker, ...): where its Debian package puts it, never what else PATH holds; a missing one
 * fails the test naming the tools/install-deps.sh task and package that must install it.
 * tests/unit/test_deps_lint checks that every name passed here is provided by the tasks
 * `make check` installs, and that no test runs a program around it. */
#ifndef TMPROV_TEST_TPROG_H
#define TMPROV_TEST_TPROG_H

/* The path of program name; fails the test ("wrk is missing: tools/install-deps.sh test must
 * install it (package wrk)") when it is not there. The string lives as long as the test. */
const char *tprog(const char *name);
/* The same for a program a test does without when it is absent (it skips that check, and no
 * task need install it): NULL then. */
const char *tprog_optional(const char *name);
/* python3's path, once the modules of the comma-separated list import in it; fails the test
 * naming the package of the first one that does not. */
const char *tprog_python(const char *modules);

#endif
