/* clirun: fork + execve with the captures going to files (a pipe could fill up and stall a
 * chatty child); the child dies with the test (PR_SET_PDEATHSIG). */
#include "clirun.h"
#include "clock.h"

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#define CLIRUN_CAPTURE_MAX (16L * 1024 * 1024)

extern char **environ;

static int clirun_seq;

/* Whether add sets the variable of kv ("NAME=value"). */
static int
clirun_overridden(const char *kv, const char *const *add)
{
	size_t n = strcspn(kv, "=");

	for (size_t i = 0; add != NULL && add[i] != NULL; i++)
		if (strncmp(add[i], kv, n + 1) == 0)
			return 1;
	return 0;
}

static char **
clirun_env(const char *const *add)
{
	size_t n = 0, k = 0, m = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	while (add != NULL && add[m] != NULL)
		m++;
	env = calloc(n + m + 1, sizeof(*env));
	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "TMPROV_", 7) != 0 && !clirun_overridden(environ[i], add))
			env[k++] = environ[i];
	for (size_t i = 0; i < m; i++)
		env[k++] = (char *)add[i];
	return env;
}

static void
clirun_child(const char *exe, const char *const *argv, char **env, const char *in,
	     const struct clirun *r, pid_t parent)
{
	int fd0 = open(in ? in : "/dev/null", O_RDONLY);
	int fd1 = open(r->outf, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	int fd2 = open(r->errf, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if (getppid() != parent || fd0 < 0 || fd1 < 0 || fd2 < 0)
		_exit(127);
	dup2(fd0, 0);
	dup2(fd1, 1);
	dup2(fd2, 2);
	setpgid(0, 0); /* its own group: a stop reaches what it started too */
	execve(exe, (char *const *)argv, env);
	_exit(127);
}

void
clirun_start(struct clirun *r, const char *const *argv, const char *const *env,
	     const char *stdin_file)
{
	const char *bin = getenv("TMPROV_TEST_BIN"), *tmp = getenv("TMPROV_TEST_TMP");
	char exe[1024];
	pid_t parent = getpid();
	char **cenv;
	int n = ++clirun_seq;

	memset(r, 0, sizeof(*r));
	if (bin == NULL || tmp == NULL)
		fail_msg(
		    "TMPROV_TEST_BIN and TMPROV_TEST_TMP must be set (run under tests/run-tests)");
	if (argv[0][0] == '/')
		snprintf(exe, sizeof(exe), "%s", argv[0]);
	else
		snprintf(exe, sizeof(exe), "%s/%s", bin, argv[0]);
	if (access(exe, X_OK) != 0)
		fail_msg("%s: %s", exe, strerror(errno));
	snprintf(r->outf, sizeof(r->outf), "%s/clirun-%ld-%d.out", tmp, (long)parent, n);
	snprintf(r->errf, sizeof(r->errf), "%s/clirun-%ld-%d.err", tmp, (long)parent, n);
	cenv = clirun_env(env);
	if (cenv == NULL)
		fail_msg("out of memory");
	r->seconds = clock_now_s();
	r->pid = fork();
	if (r->pid < 0)
		fail_msg("fork: %s", strerror(errno));
	if (r->pid == 0)
		clirun_child(exe, argv, cenv, stdin_file, r, parent);
	free(cenv);
}

/* The file's text (at most CLIRUN_CAPTURE_MAX bytes), "" when absent; NULL out of memory. */
static char *
clirun_read(const char *path)
{
	FILE *f = fopen(path, "r");
	char *s;
	long n;

	if (f == NULL)
		return strdup("");
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	if (n < 0 || n > CLIRUN_CAPTURE_MAX)
		n = n < 0 ? 0 : CLIRUN_CAPTURE_MAX;
	rewind(f);
	s = calloc(1, (size_t)n + 1);
	if (s != NULL && fread(s, 1, (size_t)n, f) != (size_t)n)
		s[0] = '\0';
	fclose(f);
	return s;
}

static char *
clirun_slurp(const char *path)
{
	char *s = clirun_read(path);

	unlink(path);
	return s ? s : strdup("");
}

void
clirun_wait(struct clirun *r, long timeout_ms)
{
	double deadline = clock_now_s() + timeout_ms / 1000.0;
	int st = 0;
	pid_t got;

	while ((got = waitpid(r->pid, &st, WNOHANG)) == 0 && clock_now_s() < deadline) {
		struct timespec ts = {0, 20 * 1000000L};

		nanosleep(&ts, NULL);
	}
	if (got == 0) {
		kill(-r->pid, SIGKILL);
		kill(r->pid, SIGKILL);
		waitpid(r->pid, &st, 0);
		r->status = -1;
	} else if (WIFEXITED(st)) {
		r->status = WEXITSTATUS(st);
	} else {
		r->status = 128 + WTERMSIG(st);
	}
	r->seconds = clock_now_s() - r->seconds;
	r->out = clirun_slurp(r->outf);
	r->err = clirun_slurp(r->errf);
}

void
clirun(struct clirun *r, const char *const *argv, const char *const *env, long timeout_ms)
{
	clirun_start(r, argv, env, NULL);
	clirun_wait(r, timeout_ms);
}

int
clirun_wait_output(const struct clirun *r, int fd, const char *needle, long timeout_ms)
{
	double deadline = clock_now_s() + timeout_ms / 1000.0;
	struct timespec pause = {0, 20 * 1000000L};
	char *text;

	do {
		text = clirun_read(fd == 2 ? r->errf : r->outf);
		if (text != NULL && strstr(text, needle) != NULL) {
			free(text);
			return 0;
		}
		free(text);
		nanosleep(&pause, NULL);
	} while (clock_now_s() < deadline);
	return -1;
}

void
clirun_stop(struct clirun *r, long timeout_ms)
{
	kill(r->pid, SIGTERM);
	clirun_wait(r, timeout_ms);
}

void
clirun_free(struct clirun *r)
{
	free(r->out);
	free(r->err);
	r->out = r->err = NULL;
}

int
clirun_lines(const char *text, const char *needle)
{
	int n = 0;

	for (const char *p = text; p != NULL && *p;) {
		const char *nl = strchr(p, '\n');
		size_t len = nl ? (size_t)(nl - p) : strlen(p);
		char *line = strndup(p, len);

		if (line != NULL && strstr(line, needle) != NULL)
			n++;
		free(line);
		p = nl ? nl + 1 : NULL;
	}
	return n;
}

void
clirun_dump(const struct clirun *r, const char *what)
{
	fprintf(stderr, "---- %s: status %d after %.1f s\n---- stdout:\n%s---- stderr:\n%s----\n",
		what, r->status, r->seconds, r->out ? r->out : "", r->err ? r->err : "");
}

void
clirun_expect_status(const struct clirun *r, int want, const char *what)
{
	if (r->status != want) {
		clirun_dump(r, what);
		fail_msg("%s: exit status %d, want %d", what, r->status, want);
	}
}

void
clirun_expect_in(const struct clirun *r, const char *text, const char *needle, const char *what)
{
	if (strstr(text, needle) == NULL) {
		clirun_dump(r, what);
		fail_msg("%s: no \"%s\"", what, needle);
	}
}
