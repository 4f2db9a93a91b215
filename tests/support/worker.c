/* worker: tmprov-worker as a child process of a test. The child's environment is built here
 * (nothing TMPROV_ leaks in from the shared stack), it dies with the test program, and its log
 * is kept in a file so that a failing test can show what the worker said. */
#include "worker.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"
#include "clock.h"

#define ENV_VAR_MAX 2300
#define TAIL_MAX    40

extern char **environ;

struct worker {
	pid_t pid;
	int status; /* wait status once exited */
	int exited;
	int port;
	char name[64];
	char log[1024];
	char *env[WORKER_ENV_MAX + 2]; /* owned copies */
	size_t nenv;
	int explicit_admin;  /* env sets TMPROV_ADMIN_LISTEN itself */
	struct worker *next; /* in workers, the process's live ones */
};

static int seq;
static struct worker *workers; /* started and not freed, for worker_log_tail_others */

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* A loopback port nobody listens on now. The kernel could hand it out again before the worker
 * binds it, but ephemeral ports cycle through a large range, so that is rare enough. */
static int
free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int fd = socket(AF_INET, SOCK_STREAM, 0), port = -1;

	if (fd < 0)
		return -1;
	if (bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
	    getsockname(fd, (struct sockaddr *)&a, &len) == 0)
		port = ntohs(a.sin_port);
	close(fd);
	return port;
}

/* environ without TMPROV_ variables, then w->env, then the admin address. */
static char **
child_env(const struct worker *w, const char *admin)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	env = calloc(n + w->nenv + 2, sizeof(*env));
	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++)
		if (strncmp(environ[i], "TMPROV_", 7) != 0)
			env[k++] = environ[i];
	for (size_t i = 0; i < w->nenv; i++)
		env[k++] = w->env[i];
	if (admin != NULL)
		env[k++] = (char *)admin;
	return env;
}

static int
spawn(struct worker *w, char *err, size_t errlen)
{
	const char *bin = getenv("TMPROV_TEST_BIN");
	char exe[1024], admin[64];
	char *argv[] = {"tmprov-worker", NULL};
	pid_t parent = getpid();
	char **env;
	int fd;

	if (bin == NULL || *bin == '\0') {
		snprintf(err, errlen, "TMPROV_TEST_BIN is not set (the absolute path of bin/)");
		return -1;
	}
	snprintf(exe, sizeof(exe), "%s/tmprov-worker", bin);
	if (access(exe, X_OK) != 0) {
		snprintf(err, errlen, "%s: %s", exe, strerror(errno));
		return -1;
	}
	if (!w->explicit_admin) {
		w->port = free_port();
		if (w->port <= 0) {
			snprintf(err, errlen, "no free loopback port");
			return -1;
		}
	}
	snprintf(admin, sizeof(admin), "TMPROV_ADMIN_LISTEN=127.0.0.1:%d", w->port);
	env = child_env(w, w->explicit_admin ? NULL : admin);
	if (env == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	fd = open(w->log, O_WRONLY | O_CREAT | O_APPEND, 0644);
	if (fd < 0) {
		snprintf(err, errlen, "%s: %s", w->log, strerror(errno));
		free(env);
		return -1;
	}
	fflush(NULL);
	w->pid = fork();
	if (w->pid == 0) {
		/* SIGKILL: a test that dies must not leave a worker consuming behind it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
		execve(exe, argv, env);
		fprintf(stderr, "worker_start: cannot run %s: %s\n", exe, strerror(errno));
		_exit(127);
	}
	close(fd);
	free(env);
	if (w->pid < 0) {
		snprintf(err, errlen, "fork: %s", strerror(errno));
		w->pid = 0;
		return -1;
	}
	w->exited = 0;
	w->status = 0;
	return 0;
}

/* Takes the port out of a TMPROV_ADMIN_LISTEN=host:port setting. */
static void
admin_from_env(struct worker *w, const char *setting)
{
	const char *colon = strrchr(setting, ':');

	w->explicit_admin = 1;
	w->port = colon ? atoi(colon + 1) : 0;
}

int
worker_start(struct worker **out, const char *name, const char *const *env, char *err,
	     size_t errlen)
{
	const char *tmp = getenv("TMPROV_TEST_TMP");
	struct worker *w;

	*out = NULL;
	if (tmp == NULL || *tmp == '\0') {
		snprintf(err, errlen, "TMPROV_TEST_TMP is not set (a scratch folder)");
		return -1;
	}
	w = calloc(1, sizeof(*w));
	if (w == NULL) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	snprintf(w->name, sizeof(w->name), "%s", name);
	snprintf(w->log, sizeof(w->log), "%s/worker-%s-%ld-%d.log", tmp, name, (long)getpid(),
		 ++seq);
	for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
		if (w->nenv == WORKER_ENV_MAX || strlen(env[i]) > ENV_VAR_MAX) {
			snprintf(err, errlen, "more than %d settings, or one over %d bytes",
				 WORKER_ENV_MAX, ENV_VAR_MAX);
			worker_free(w);
			return -1;
		}
		if (strncmp(env[i], "TMPROV_ADMIN_LISTEN=", 20) == 0)
			admin_from_env(w, env[i]);
		w->env[w->nenv++] = strdup(env[i]);
	}
	if (spawn(w, err, errlen) != 0) {
		worker_free(w);
		return -1;
	}
	w->next = workers;
	workers = w;
	*out = w;
	return 0;
}

int
worker_restart(struct worker *w, char *err, size_t errlen)
{
	if (worker_running(w)) {
		snprintf(err, errlen, "worker %s (pid %d) is still running", w->name, (int)w->pid);
		return -1;
	}
	return spawn(w, err, errlen);
}

pid_t
worker_pid(const struct worker *w)
{
	return w->pid;
}

int
worker_admin_port(const struct worker *w)
{
	return w->port;
}

const char *
worker_log_path(const struct worker *w)
{
	return w->log;
}

int
worker_running(struct worker *w)
{
	if (w->pid <= 0 || w->exited)
		return 0;
	if (waitpid(w->pid, &w->status, WNOHANG) == w->pid) {
		w->exited = 1;
		return 0;
	}
	return 1;
}

static int
exit_code(int status)
{
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

int
worker_status(struct worker *w)
{
	if (worker_running(w) || w->pid <= 0)
		return -1;
	return exit_code(w->status);
}

int
worker_signal(struct worker *w, int sig)
{
	if (!worker_running(w))
		return -1;
	return kill(w->pid, sig) == 0 ? 0 : -1;
}

int
worker_wait(struct worker *w, int deadline_ms, long *elapsed_ms)
{
	long start = clock_now_ms();

	while (worker_running(w) && clock_now_ms() - start < deadline_ms)
		sleep_ms(10);
	if (elapsed_ms != NULL)
		*elapsed_ms = clock_now_ms() - start;
	if (w->pid <= 0)
		return -1;
	return w->exited ? exit_code(w->status) : -1;
}

int
worker_stop(struct worker *w, int deadline_ms, long *elapsed_ms)
{
	int rc;

	if (worker_signal(w, SIGTERM) != 0) {
		if (elapsed_ms != NULL)
			*elapsed_ms = 0;
		return w->exited ? exit_code(w->status) : -1;
	}
	rc = worker_wait(w, deadline_ms, elapsed_ms);
	if (rc < 0) {
		fprintf(stderr, "worker %s (pid %d) still running %d ms after SIGTERM: killed\n",
			w->name, (int)w->pid, deadline_ms);
		worker_log_tail(w, TAIL_MAX);
		worker_kill(w);
		return -1;
	}
	return rc;
}

void
worker_kill(struct worker *w)
{
	if (!worker_running(w))
		return;
	kill(w->pid, SIGKILL);
	if (waitpid(w->pid, &w->status, 0) == w->pid)
		w->exited = 1;
}

void
worker_free(struct worker *w)
{
	if (w == NULL)
		return;
	for (struct worker **link = &workers; *link != NULL; link = &(*link)->next) {
		if (*link == w) {
			*link = w->next;
			break;
		}
	}
	worker_kill(w);
	for (size_t i = 0; i < w->nenv; i++)
		free(w->env[i]);
	free(w);
}

void
log_file_tail(const char *what, const char *path, int lines)
{
	char line[2048], ring[TAIL_MAX][2048];
	long n = 0;
	FILE *f = fopen(path, "r");

	if (lines > TAIL_MAX)
		lines = TAIL_MAX;
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		snprintf(ring[n++ % TAIL_MAX], sizeof(ring[0]), "%s", line);
	fclose(f);
	fprintf(stderr, "--- end of %s log (%s) ---\n", what, path);
	for (long i = n > lines ? n - lines : 0; i < n; i++)
		fprintf(stderr, "  %s", ring[i % TAIL_MAX]);
}

void
worker_log_tail(const struct worker *w, int lines)
{
	char what[128];

	snprintf(what, sizeof(what), "worker %s", w->name);
	log_file_tail(what, w->log, lines);
}

void
worker_log_tail_others(const struct worker *w, int lines)
{
	for (const struct worker *o = workers; o != NULL; o = o->next)
		if (o != w)
			worker_log_tail(o, lines);
}

long
worker_log_count(const struct worker *w, const char *needle)
{
	char line[8192];
	long n = 0;
	FILE *f = fopen(w->log, "r");

	if (f == NULL)
		return 0;
	while (fgets(line, sizeof(line), f) != NULL)
		n += strstr(line, needle) != NULL;
	fclose(f);
	return n;
}

int
worker_admin_get(struct worker *w, const char *path, long *status, char **body)
{
	char url[256];
	struct http_res res;
	int rc;

	snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", w->port, path);
	rc = http_fetch(url, 2000, &res);
	*status = res.status;
	*body = res.body;
	res.body = NULL;
	http_res_free(&res);
	return rc == HTTP_OK ? 0 : -1;
}

int
worker_wait_ready(struct worker *w, int timeout_ms, char *err, size_t errlen)
{
	long start = clock_now_ms(), status = 0;

	while (clock_now_ms() - start < timeout_ms) {
		char *body = NULL;

		if (!worker_running(w)) {
			snprintf(err, errlen, "worker %s exited with %d before it was ready",
				 w->name, exit_code(w->status));
			worker_log_tail(w, TAIL_MAX);
			return -1;
		}
		if (worker_admin_get(w, "/readyz", &status, &body) == 0 && status == 200) {
			free(body);
			return 0;
		}
		free(body);
		sleep_ms(50);
	}
	snprintf(err, errlen, "worker %s: /readyz on port %d not 200 within %d ms (last %ld)",
		 w->name, w->port, timeout_ms, status);
	worker_log_tail(w, TAIL_MAX);
	return -1;
}

/* Whether the label part "{...}" of a sample line holds every fragment. */
static int
labels_match(const char *lbl, size_t len, const char *const *labels)
{
	for (size_t i = 0; labels != NULL && labels[i] != NULL; i++) {
		const char *hit = memmem(lbl, len, labels[i], strlen(labels[i]));

		if (hit == NULL)
			return 0;
	}
	return 1;
}

/* Adds the value of one exposition line when it is a sample of name matching labels. */
static double
sample_value(const char *line, const char *name, const char *const *labels)
{
	size_t n = strlen(name);
	const char *p = line + n, *end;
	double v;

	if (strncmp(line, name, n) != 0 || (*p != '{' && *p != ' '))
		return 0;
	if (*p == '{') {
		end = strchr(p, '}');
		if (end == NULL || !labels_match(p, (size_t)(end - p), labels))
			return 0;
		p = end + 1;
	} else if (labels != NULL && labels[0] != NULL) {
		return 0;
	}
	v = strtod(p, NULL);
	return isfinite(v) ? v : 0;
}

double
worker_metric(struct worker *w, const char *name, const char *const *labels)
{
	long status = 0;
	char *body = NULL, *save = NULL;
	double sum = 0;

	if (worker_admin_get(w, "/metrics", &status, &body) != 0 || status != 200 || !body) {
		free(body);
		return -1;
	}
	for (char *line = strtok_r(body, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (line[0] != '#')
			sum += sample_value(line, name, labels);
	free(body);
	return sum;
}
