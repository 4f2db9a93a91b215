/* tprog: programs looked up where tools/need.sh looks, the answer kept for the test's life,
 * and failures explained from tools/install-deps.sh's declarations (see tprog.h). */
#include "tprog.h"

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cmocka.h>

#include "deps.h"

#define TPROG_MAX 32

static struct {
	char name[64];
	char path[320];
} tprog_found[TPROG_MAX];
static size_t tprog_n;

/* "NAME is missing: <what install-deps.sh says>" */
static void
tprog_missing(const char *name, const char *what)
{
	const char *src = getenv("TMPROV_TEST_SRC");
	struct deps d;
	char err[256], who[256];

	if (src == NULL || deps_load(&d, src, err, sizeof(err)) != 0) {
		fail_msg("%s is missing: tools/install-deps.sh test must install it (%s)", what,
			 src == NULL ? "TMPROV_TEST_SRC is not set" : err);
		return;
	}
	deps_who(&d, name, who, sizeof(who));
	deps_free(&d);
	fail_msg("%s is missing: %s", what, who);
}

const char *
tprog_optional(const char *name)
{
	char path[320];

	for (size_t i = 0; i < tprog_n; i++)
		if (strcmp(tprog_found[i].name, name) == 0)
			return tprog_found[i].path;
	if (deps_locate(name, path, sizeof(path)) != 0)
		return NULL;
	if (tprog_n == TPROG_MAX)
		fail_msg("tprog: more than %d programs", TPROG_MAX);
	snprintf(tprog_found[tprog_n].name, sizeof(tprog_found[0].name), "%s", name);
	snprintf(tprog_found[tprog_n].path, sizeof(tprog_found[0].path), "%s", path);
	return tprog_found[tprog_n++].path;
}

const char *
tprog(const char *name)
{
	const char *path = tprog_optional(name);

	if (path == NULL)
		tprog_missing(name, name);
	return path;
}

const char *
tprog_python(const char *modules)
{
	const char *python = tprog("python3");
	char list[256], code[300], key[128];

	snprintf(list, sizeof(list), "%s", modules);
	for (char *save = NULL, *m = strtok_r(list, ", ", &save); m != NULL;
	     m = strtok_r(NULL, ", ", &save)) {
		int status = -1;
		pid_t pid;

		snprintf(code, sizeof(code), "import %s", m);
		fflush(NULL);
		pid = fork();
		if (pid == 0) {
			const char *argv[] = {python, "-c", code, NULL};

			if (freopen("/dev/null", "w", stderr) == NULL)
				_exit(127);
			execv(python, (char *const *)argv);
			_exit(127);
		}
		if (pid < 0 || waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			char what[160];

			snprintf(key, sizeof(key), "python3:%s", m);
			snprintf(what, sizeof(what), "python3 module %s", m);
			tprog_missing(key, what);
		}
	}
	return python;
}
