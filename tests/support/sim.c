/* sim: starts and stops a private tmsim for a test and wraps its control API. The child gets
 * an environment of its own (partner id, log level, no inherited TMSIM_ settings) and dies
 * with the test program, so a crashed test leaves no simulator behind. */
#include "sim.h"

#include <errno.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "http.h"

#define START_WAIT_MS 10000
#define STOP_WAIT_MS  10000
#define EXTRA_ENV_MAX 16

extern char **environ;

struct sim {
	pid_t pid;
	int port;
	char dir[512];
	char port_file[600];
	char log_file[600];
	char url[64];
	char partner[256];
};

static void
sleep_ms(long ms)
{
	struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

/* Prints the last lines of tmsim's log, to explain a failure. */
static void
log_tail(const struct sim *s)
{
	char line[1024], ring[20][1024];
	size_t n = 0;
	FILE *f = fopen(s->log_file, "r");

	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL)
		snprintf(ring[n++ % 20], sizeof(ring[0]), "%s", line);
	fclose(f);
	fprintf(stderr, "--- end of tmsim log (%s) ---\n", s->log_file);
	for (size_t i = n > 20 ? n - 20 : 0; i < n; i++)
		fprintf(stderr, "  %s", ring[i % 20]);
}

static void
files_remove(struct sim *s)
{
	unlink(s->port_file);
	unlink(s->log_file);
	rmdir(s->dir);
}

/* environ without the settings we set, plus ours; the strings are borrowed or from set. */
static char **
child_env(const char *const *set, size_t nset)
{
	size_t n = 0, k = 0;
	char **env;

	while (environ[n] != NULL)
		n++;
	env = calloc(n + nset + 1, sizeof(*env));
	if (env == NULL)
		return NULL;
	for (size_t i = 0; i < n; i++) {
		int drop = strncmp(environ[i], "TMSIM_", 6) == 0;

		for (size_t j = 0; j < nset && !drop; j++) {
			size_t len = strcspn(set[j], "=") + 1;

			drop = strncmp(environ[i], set[j], len) == 0;
		}
		if (!drop)
			env[k++] = environ[i];
	}
	for (size_t j = 0; j < nset; j++)
		env[k++] = (char *)set[j];
	return env;
}

static pid_t
spawn(struct sim *s, const char *bin, const struct sim_opts *o, char *const *env)
{
	char exe[1024];
	const char *argv[8] = {"tmsim", "--listen", o->listen ? o->listen : "127.0.0.1:0",
			       "--port-file", s->port_file};
	pid_t parent = getpid(), pid;
	int argc = 5;

	snprintf(exe, sizeof(exe), "%s/tmsim", bin);
	if (o->faults != NULL) {
		argv[argc++] = "--faults";
		argv[argc++] = o->faults;
	}
	fflush(NULL);
	pid = fork();
	if (pid != 0)
		return pid;
	/* The child: die with the test program, write the log to a file, become tmsim. */
	prctl(PR_SET_PDEATHSIG, SIGTERM);
	if (getppid() != parent)
		_exit(127);
	if (freopen(s->log_file, "w", stdout) == NULL || dup2(fileno(stdout), 2) < 0)
		_exit(127);
	execve(exe, (char *const *)argv, env);
	fprintf(stderr, "sim_start: cannot run %s: %s\n", exe, strerror(errno));
	_exit(127);
}

/* Waits for the port file; fails early if tmsim exits. */
static int
wait_port(struct sim *s)
{
	for (long waited = 0; waited < START_WAIT_MS; waited += 10) {
		FILE *f = fopen(s->port_file, "r");
		int status;

		if (f != NULL) {
			int ok = fscanf(f, "%d", &s->port) == 1 && s->port > 0;

			fclose(f);
			if (ok)
				return 0;
		}
		if (waitpid(s->pid, &status, WNOHANG) == s->pid) {
			fprintf(stderr, "sim_start: tmsim exited before listening (status %d)\n",
				status);
			s->pid = 0;
			return -1;
		}
		sleep_ms(10);
	}
	fprintf(stderr, "sim_start: tmsim wrote no port file within %d ms\n", START_WAIT_MS);
	return -1;
}

int
sim_start_opts(struct sim **out, const struct sim_opts *opts)
{
	const char *bin = getenv("TMPROV_TEST_BIN"), *tmp = getenv("TMPROV_TEST_TMP");
	const char *partner = opts->partner ? opts->partner : getenv("TMPROV_PARTNER_ID");
	const char *level = opts->log_level ? opts->log_level : getenv("TMPROV_LOG_LEVEL");
	char partner_env[300], level_env[64];
	const char *set[2 + EXTRA_ENV_MAX] = {partner_env, level_env};
	size_t nset = 2;
	struct sim *s;
	char **env;

	*out = NULL;
	if (bin == NULL || *bin == '\0') {
		fprintf(stderr, "sim_start: TMPROV_TEST_BIN is not set (the absolute path of bin/, "
				"where tmsim is)\n");
		return -1;
	}
	for (size_t i = 0; opts->env != NULL && opts->env[i] != NULL; i++) {
		if (nset == 2 + EXTRA_ENV_MAX) {
			fprintf(stderr, "sim_start: more than %d settings\n", EXTRA_ENV_MAX);
			return -1;
		}
		set[nset++] = opts->env[i];
	}
	s = calloc(1, sizeof(*s));
	if (s == NULL)
		return -1;
	snprintf(s->partner, sizeof(s->partner), "%s",
		 partner && *partner ? partner : "partner-test");
	snprintf(partner_env, sizeof(partner_env), "TMPROV_PARTNER_ID=%s", s->partner);
	snprintf(level_env, sizeof(level_env), "TMPROV_LOG_LEVEL=%s",
		 level && *level ? level : "info");
	snprintf(s->dir, sizeof(s->dir), "%s/tmsim.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(s->dir) == NULL) {
		fprintf(stderr, "sim_start: mkdtemp %s: %s\n", s->dir, strerror(errno));
		free(s);
		return -1;
	}
	snprintf(s->port_file, sizeof(s->port_file), "%s/port", s->dir);
	snprintf(s->log_file, sizeof(s->log_file), "%s/log", s->dir);
	env = child_env(set, nset);
	s->pid = env ? spawn(s, bin, opts, env) : -1;
	free(env);
	if (s->pid < 0 || wait_port(s) != 0) {
		log_tail(s);
		sim_stop_status(s);
		return -1;
	}
	snprintf(s->url, sizeof(s->url), "http://127.0.0.1:%d", s->port);
	*out = s;
	return 0;
}

int
sim_start(struct sim **out, const char *faults)
{
	struct sim_opts opts = {.faults = faults};

	return sim_start_opts(out, &opts);
}

const char *
sim_url(const struct sim *s)
{
	return s->url;
}

const char *
sim_partner(const struct sim *s)
{
	return s->partner;
}

int
sim_port(const struct sim *s)
{
	return s->port;
}

pid_t
sim_pid(const struct sim *s)
{
	return s->pid;
}

const char *
sim_log_path(const struct sim *s)
{
	return s->log_file;
}

/* GET {url}{path_query}, expecting 200 and (if out) a JSON body. */
static int
control_get(struct sim *s, const char *path_query, json_t **out)
{
	char url[4096];
	char *body = NULL;
	long status = 0;
	int rc;

	if (snprintf(url, sizeof(url), "%s%s", s->url, path_query) >= (int)sizeof(url)) {
		fprintf(stderr, "sim: control URL too long\n");
		return -1;
	}
	rc = http_get(url, &status, &body, NULL);
	if (rc != HTTP_OK || status != 200) {
		fprintf(stderr, "sim: GET %s: %s %ld %s\n", path_query,
			rc == HTTP_OK ? "status" : "no answer", status, body ? body : "");
		free(body);
		return -1;
	}
	if (out != NULL) {
		*out = json_loads(body, 0, NULL);
		if (*out == NULL) {
			fprintf(stderr, "sim: GET %s: not JSON\n", path_query);
			free(body);
			return -1;
		}
	}
	free(body);
	return 0;
}

int
sim_faults(struct sim *s, const char *query)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "/_sim/faults?%s", query) >= (int)sizeof(path)) {
		fprintf(stderr, "sim_faults: query too long\n");
		return -1;
	}
	return control_get(s, path, NULL);
}

int
sim_mx(struct sim *s, const char *query)
{
	char path[4096];

	if (snprintf(path, sizeof(path), "/_sim/mx?%s", query) >= (int)sizeof(path)) {
		fprintf(stderr, "sim_mx: query too long\n");
		return -1;
	}
	return control_get(s, path, NULL);
}

long
sim_count(struct sim *s, const char *endpoint)
{
	json_t *stats, *n;
	long count = -1;

	if (control_get(s, "/_sim/stats", &stats) != 0)
		return -1;
	n = endpoint ? json_object_get(json_object_get(stats, "by_endpoint"), endpoint)
		     : json_object_get(stats, "total");
	if (json_is_integer(n))
		count = (long)json_integer_value(n);
	else if (endpoint != NULL)
		fprintf(stderr, "sim_count: no endpoint \"%s\"\n", endpoint);
	json_decref(stats);
	return count;
}

int
sim_calls(struct sim *s, json_t **out)
{
	return control_get(s, "/_sim/calls", out);
}

int
sim_accounts(struct sim *s, json_t **out)
{
	return control_get(s, "/_sim/accounts", out);
}

int
sim_reset(struct sim *s)
{
	return control_get(s, "/_sim/reset", NULL);
}

char *
sim_tm_url(const struct sim *s, const char *endpoint, ...)
{
	const char *pre[] = {"service_company_uid", s->partner, NULL};
	char path[128];
	va_list ap;
	char *url;

	snprintf(path, sizeof(path), "/as/wapi/service/%s", endpoint);
	va_start(ap, endpoint);
	url = http_urlv(s->url, path, pre, ap);
	va_end(ap);
	return url;
}

/* Waits for the child; 0 with its status, or -1 if it is still running after ms. */
static int
reap(pid_t pid, long ms, int *status)
{
	for (long waited = 0; waited <= ms; waited += 5) {
		pid_t r = waitpid(pid, status, WNOHANG);

		if (r == pid || (r < 0 && errno == ECHILD))
			return r == pid ? 0 : -1;
		sleep_ms(5);
	}
	return -1;
}

int
sim_stop_status(struct sim *s)
{
	int status = 0, rc = 0;

	if (s == NULL)
		return 0;
	if (s->pid > 0) {
		kill(s->pid, SIGTERM);
		if (reap(s->pid, STOP_WAIT_MS, &status) != 0) {
			fprintf(stderr,
				"sim_stop: tmsim (pid %d) still running after %d ms: killed\n",
				(int)s->pid, STOP_WAIT_MS);
			kill(s->pid, SIGKILL);
			waitpid(s->pid, &status, 0);
			rc = -1;
		} else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
			fprintf(stderr, "sim_stop: tmsim ended with %s %d\n",
				WIFEXITED(status) ? "exit status" : "signal",
				WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status));
			rc = -1;
		}
		if (rc != 0)
			log_tail(s);
	}
	files_remove(s);
	free(s);
	return rc;
}

void
sim_stop(struct sim *s)
{
	if (sim_stop_status(s) != 0) {
		fprintf(stderr, "sim_stop: tmsim did not stop cleanly; failing the test program\n");
		exit(1);
	}
}
