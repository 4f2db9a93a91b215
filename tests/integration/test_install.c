/* Tests for `make install` and `make install-devtools` into a staging folder (DESTDIR): the
 * production programs, their man pages and the migrations go in, the development tools only with
 * install-devtools, and an installed tmprov finds its migrations under ../share/tmprov beside its
 * own folder (never the source tree), or says clearly that it found none. */
#include <limits.h>
#include <setjmp.h>
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
#include "../support/testdb.h"
#include "../support/tprog.h"

#define RUN_MS 120000

static char src[1024], bin[1024], tmp[1024];

static bool exists(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static bool
exists(const char *fmt, ...)
{
	char path[PATH_MAX * 2];
	struct stat st;
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(path, sizeof(path), fmt, ap);
	va_end(ap);
	return stat(path, &st) == 0;
}

/* make TARGET... DESTDIR=root PREFIX=prefix, of the programs already built in $TMPROV_TEST_BIN
 * (`-o all`: nothing is rebuilt). */
static void
make_install(const char *root, const char *prefix, const char *const *targets)
{
	char destdir[PATH_MAX + 16], pfx[PATH_MAX + 16], binvar[PATH_MAX + 8];
	const char *argv[16] = {tprog("make"), "--no-print-directory", "-s", "-C", src, "-o",
				"all"};
	static const char *const env[] = {"MAKEFLAGS=", "MAKELEVEL=", "MFLAGS=", NULL};
	size_t n = 7;
	struct clirun r;

	snprintf(destdir, sizeof(destdir), "DESTDIR=%s", root);
	snprintf(pfx, sizeof(pfx), "PREFIX=%s", prefix);
	snprintf(binvar, sizeof(binvar), "BIN=%s", bin);
	for (size_t i = 0; targets[i] != NULL && n < 12; i++)
		argv[n++] = targets[i];
	argv[n++] = destdir;
	argv[n++] = pfx;
	argv[n++] = binvar;
	argv[n] = NULL;
	clirun(&r, argv, env, RUN_MS);
	if (r.status != 0) {
		clirun_dump(&r, "make install");
		fail_msg("make install exited %d", r.status);
	}
	clirun_free(&r);
}

static void
root_for(char *out, size_t outlen, const char *tag)
{
	snprintf(out, outlen, "%s/install-%s-%ld", tmp, tag, (long)getpid());
}

static void
test_install(void **state)
{
	static const char *const targets[] = {"install", NULL};
	static const char *const production[] = {"tmprov", "tmprov-worker", "tmprov-callback"};
	static const char *const devtools[] = {"tmsim", "tmprov-devkafka", "tmprov-bench"};
	static const char *const pages[] = {"man1/tmprov.1", "man8/tmprov-worker.8",
					    "man8/tmprov-callback.8"};
	char root[PATH_MAX];

	(void)state;
	root_for(root, sizeof(root), "prod");
	make_install(root, "/usr/local", targets);
	for (size_t i = 0; i < sizeof(production) / sizeof(production[0]); i++)
		if (!exists("%s/usr/local/bin/%s", root, production[i]))
			fail_msg("make install did not install %s", production[i]);
	for (size_t i = 0; i < sizeof(devtools) / sizeof(devtools[0]); i++)
		if (exists("%s/usr/local/bin/%s", root, devtools[i]))
			fail_msg("make install installed the development tool %s", devtools[i]);
	for (size_t i = 0; i < sizeof(pages) / sizeof(pages[0]); i++)
		if (exists("%s/man/%s", src, strchr(pages[i], '/') + 1) &&
		    !exists("%s/usr/local/share/man/%s", root, pages[i]))
			fail_msg("make install did not install the man page %s", pages[i]);
	assert_true(exists("%s/usr/local/share/tmprov/migrations/001_init.sql", root));
	assert_true(exists("%s/usr/local/share/tmprov/schemas/command.schema.json", root));
}

static void
test_install_devtools(void **state)
{
	static const char *const targets[] = {"install-devtools", NULL};
	static const char *const devtools[] = {"tmsim", "tmprov-devkafka", "tmprov-bench"};
	char root[PATH_MAX];

	(void)state;
	root_for(root, sizeof(root), "dev");
	make_install(root, "/opt/tmprov", targets);
	for (size_t i = 0; i < sizeof(devtools) / sizeof(devtools[0]); i++)
		if (!exists("%s/opt/tmprov/bin/%s", root, devtools[i]))
			fail_msg("make install-devtools did not install %s", devtools[i]);
	assert_false(exists("%s/opt/tmprov/bin/tmprov-worker", root));
}

/* `tmprov migrate --status` of the installed program on a fresh database, with no
 * TMPROV_MIGRATIONS_DIR: it lists the installed files, one of them found only there. */
static void
test_installed_finds_migrations(void **state)
{
	static const char *const targets[] = {"install", NULL};
	char root[PATH_MAX], exe[PATH_MAX + 32], url[2200], err[512], marker[PATH_MAX + 64];
	const char *argv[] = {exe, "migrate", "--status", NULL};
	const char *env[] = {url, NULL};
	struct testdb db;
	struct clirun r;
	FILE *f;

	(void)state;
	root_for(root, sizeof(root), "mig");
	make_install(root, "/srv/tmprov", targets);
	snprintf(marker, sizeof(marker), "%s/srv/tmprov/share/tmprov/migrations/900_installed.sql",
		 root);
	f = fopen(marker, "w");
	assert_non_null(f);
	fputs("SELECT 1;\n", f);
	assert_int_equal(fclose(f), 0);
	if (testdb_create(&db, "install", err, sizeof(err)) != 0)
		fail_msg("%s", err);
	snprintf(url, sizeof(url), "TMPROV_DATABASE_URL=%s", db.conninfo);
	snprintf(exe, sizeof(exe), "%s/srv/tmprov/bin/tmprov", root);
	clirun(&r, argv, env, RUN_MS);
	if (r.status != 0 || strstr(r.out, "001_init.sql") == NULL ||
	    strstr(r.out, "900_installed.sql") == NULL) {
		clirun_dump(&r, "installed tmprov migrate --status");
		fail_msg("the installed tmprov did not list its migrations");
	}
	clirun_free(&r);
	testdb_drop(&db);
}

/* A program with no migrations beside it (and none configured) says so and fails. */
static void
test_no_migrations_beside(void **state)
{
	char dir[PATH_MAX], exe[PATH_MAX + 32], copy[PATH_MAX * 2 + 64];
	const char *argv[] = {exe, "migrate", "--status", NULL};
	const char *cp[] = {tprog("cp"), copy, exe, NULL};
	static const char *const env[] = {"TMPROV_DATABASE_URL=postgresql://127.0.0.1:1/none",
					  NULL};
	struct clirun r;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/lonely-%ld/x/bin", tmp, (long)getpid());
	for (char *p = dir + strlen(tmp) + 1; (p = strchr(p, '/')) != NULL; p++) {
		*p = '\0';
		mkdir(dir, 0755);
		*p = '/';
	}
	assert_int_equal(mkdir(dir, 0755), 0);
	snprintf(exe, sizeof(exe), "%s/tmprov", dir);
	snprintf(copy, sizeof(copy), "%s/tmprov", bin);
	cp[1] = copy;
	clirun(&r, cp, NULL, RUN_MS);
	assert_int_equal(r.status, 0);
	clirun_free(&r);
	clirun(&r, argv, env, RUN_MS);
	if (r.status == 0 || strstr(r.err, "no migrations directory") == NULL ||
	    strstr(r.err, "TMPROV_MIGRATIONS_DIR") == NULL) {
		clirun_dump(&r, "tmprov migrate with no migrations beside it");
		fail_msg("expected a clear failure");
	}
	clirun_free(&r);
}

static int
setup(void **state)
{
	const char *s = getenv("TMPROV_TEST_SRC"), *b = getenv("TMPROV_TEST_BIN"),
		   *t = getenv("TMPROV_TEST_TMP");

	(void)state;
	if (s == NULL || b == NULL || t == NULL) {
		fprintf(stderr, "TMPROV_TEST_SRC, _BIN and _TMP must be set (tests/run-tests)\n");
		return -1;
	}
	snprintf(src, sizeof(src), "%s", s);
	snprintf(bin, sizeof(bin), "%s", b);
	snprintf(tmp, sizeof(tmp), "%s", t);
	return 0;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_install),
	    cmocka_unit_test(test_install_devtools),
	    cmocka_unit_test(test_installed_finds_migrations),
	    cmocka_unit_test(test_no_migrations_beside),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
