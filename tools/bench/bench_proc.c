/* bench_proc: child processes of a benchmark round, with posix_spawn and a process group each,
 * so that a stop reaches whatever they start themselves. */
#include "bench_proc.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

#define BENCH_PROC_ENVIRON_MAX 512
#define BENCH_PROC_LINE_MAX    2048
#define BENCH_PROC_GROUPS_MAX  64

/* The children's process groups (their pids), 0 for a free place: read by the signal handler,
 * hence lock-free atomics. */
static atomic_int groups[BENCH_PROC_GROUPS_MAX];

static void
groups_add(pid_t pid)
{
	for (size_t i = 0; i < BENCH_PROC_GROUPS_MAX; i++) {
		int free_place = 0;

		if (atomic_compare_exchange_strong(&groups[i], &free_place, (int)pid))
			return;
	}
}

static void
groups_remove(pid_t pid)
{
	for (size_t i = 0; i < BENCH_PROC_GROUPS_MAX; i++) {
		int mine = (int)pid;

		if (atomic_compare_exchange_strong(&groups[i], &mine, 0))
			return;
	}
}

static void
on_fatal_signal(int sig)
{
	for (size_t i = 0; i < BENCH_PROC_GROUPS_MAX; i++) {
		int pid = atomic_load(&groups[i]);

		if (pid > 0)
			kill(-(pid_t)pid, SIGKILL);
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

void
bench_proc_handle_signals(void)
{
	static const int sigs[] = {SIGTERM, SIGINT, SIGHUP};
	struct sigaction sa;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal_signal;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
		sigaction(sigs[i], &sa, NULL);
}

void
bench_sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
bench_proc_tmpdir(char *dir, size_t dirlen, char *err, size_t errlen)
{
	const char *tmp = getenv("TMPDIR");

	snprintf(dir, dirlen, "%s/tmprov-bench.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (mkdtemp(dir) == NULL) {
		snprintf(err, errlen, "mkdtemp %s: %s", dir, strerror(errno));
		return -1;
	}
	return 0;
}

void
bench_proc_rmdir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[1024];

	if (d == NULL)
		return;
	while ((e = readdir(d)) != NULL)
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			unlink(path);
		}
	closedir(d);
	rmdir(dir);
}

int
bench_proc_sibling(const char *name, char *out, size_t outlen, char *err, size_t errlen)
{
	char self[1024];
	ssize_t n = readlink("/proc/self/exe", self, sizeof(self) - 1);
	char *slash;

	if (n <= 0) {
		snprintf(err, errlen, "/proc/self/exe: %s", strerror(errno));
		return -1;
	}
	self[n] = '\0';
	slash = strrchr(self, '/');
	if (slash != NULL)
		*slash = '\0';
	snprintf(out, outlen, "%s/%s", self, name);
	if (access(out, X_OK) != 0) {
		snprintf(err, errlen, "%s: %s (make all)", out, strerror(errno));
		return -1;
	}
	return 0;
}

/* Whether the environment entry e sets one of env's keys. */
static bool
bench_proc_overridden(const char *e, const char *const *env)
{
	for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
		size_t n = strcspn(env[i], "=");

		if (strncmp(e, env[i], n) == 0 && e[n] == '=')
			return true;
	}
	return false;
}

static int
bench_proc_environ(char **out, size_t max, const char *const *env)
{
	size_t n = 0;

	for (char **e = environ; *e != NULL; e++) {
		if (strncmp(*e, "TMSIM_", 6) == 0 || bench_proc_overridden(*e, env))
			continue;
		if (n + 1 >= max)
			return -1;
		out[n++] = *e;
	}
	for (size_t i = 0; env != NULL && env[i] != NULL; i++) {
		if (n + 1 >= max)
			return -1;
		out[n++] = (char *)env[i];
	}
	out[n] = NULL;
	return 0;
}

int
bench_proc_start(struct bench_proc *p, const char *name, const char *dir, char *const argv[],
		 const char *const *env, char *err, size_t errlen)
{
	char *envp[BENCH_PROC_ENVIRON_MAX];
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	int rc;

	memset(p, 0, sizeof(*p));
	snprintf(p->name, sizeof(p->name), "%s", name);
	snprintf(p->log, sizeof(p->log), "%s/%s.log", dir, name);
	if (bench_proc_environ(envp, BENCH_PROC_ENVIRON_MAX, env) != 0) {
		snprintf(err, errlen, "%s: environment too large", name);
		return -1;
	}
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 1, p->log, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	posix_spawn_file_actions_adddup2(&fa, 1, 2);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);
	rc = posix_spawn(&p->pid, argv[0], &fa, &attr, argv, envp);
	posix_spawnattr_destroy(&attr);
	posix_spawn_file_actions_destroy(&fa);
	if (rc != 0) {
		p->pid = 0;
		snprintf(err, errlen, "cannot start %s: %s", argv[0], strerror(rc));
		return -1;
	}
	groups_add(p->pid);
	return 0;
}

static void
bench_proc_reaped(struct bench_proc *p, int status)
{
	p->status = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	groups_remove(p->pid);
	p->pid = 0;
}

bool
bench_proc_running(struct bench_proc *p)
{
	int status;

	if (p->pid == 0)
		return false;
	if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
		bench_proc_reaped(p, status);
		return false;
	}
	return true;
}

int
bench_proc_wait(struct bench_proc *p, int timeout_ms)
{
	for (int waited = 0; bench_proc_running(p); waited += 10) {
		if (waited >= timeout_ms)
			return -1;
		bench_sleep_ms(10);
	}
	return p->status;
}

int
bench_proc_stop(struct bench_proc *p, int timeout_ms)
{
	int rc;

	if (!bench_proc_running(p))
		return p->status;
	kill(-p->pid, SIGTERM);
	rc = bench_proc_wait(p, timeout_ms);
	if (rc >= 0)
		return rc;
	kill(-p->pid, SIGKILL);
	bench_proc_wait(p, 5000);
	return -1;
}

/* The fields of /proc/PID/stat read here. */
struct bench_stat {
	char comm[32];
	long ppid;
	unsigned long long utime, stime; /* clock ticks: every thread, ended ones too */
	long long cutime, cstime;	 /* clock ticks of the children it has reaped */
};

static int
bench_stat_read(long pid, struct bench_stat *s)
{
	char path[64], buf[1024], *open, *close;
	size_t n;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
	f = pid > 0 ? fopen(path, "r") : NULL;
	if (f == NULL)
		return -1;
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name (field 2) may hold blanks and parentheses: it ends at the last ")".
	 * ppid is field 4; utime, stime, cutime, cstime fields 14 to 17. */
	open = strchr(buf, '(');
	close = strrchr(buf, ')');
	if (open == NULL || close == NULL || close < open)
		return -1;
	snprintf(s->comm, sizeof(s->comm), "%.*s", (int)(close - open - 1), open + 1);
	return sscanf(close + 1, " %*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
		      &s->ppid, &s->utime, &s->stime, &s->cutime, &s->cstime) == 5
		   ? 0
		   : -1;
}

static double
bench_ticks_ms(long long ticks)
{
	long tick = sysconf(_SC_CLK_TCK);

	return tick > 0 ? (double)ticks * 1000.0 / (double)tick : -1;
}

double
bench_proc_cpu_ms(const struct bench_proc *p)
{
	struct bench_stat s;

	if (bench_stat_read((long)p->pid, &s) != 0)
		return -1;
	return bench_ticks_ms((long long)(s.utime + s.stime));
}

/* The number after key (e.g. "VmHWM:") in the "Key: value" file path, or -1. */
static long long
bench_status_field(const char *path, const char *key)
{
	char line[256];
	long long v = -1;
	size_t klen = strlen(key);
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, key, klen) == 0) {
			v = strtoll(line + klen, NULL, 10);
			break;
		}
	fclose(f);
	return v;
}

/* A "Key: value" line of /proc/PID/status, or -1. */
static long
bench_proc_status(const struct bench_proc *p, const char *key)
{
	char path[64];

	if (p->pid == 0)
		return -1;
	snprintf(path, sizeof(path), "/proc/%ld/status", (long)p->pid);
	return (long)bench_status_field(path, key);
}

long
bench_proc_peak_kib(const struct bench_proc *p)
{
	return bench_proc_status(p, "VmHWM:");
}

long
bench_proc_threads(const struct bench_proc *p)
{
	return bench_proc_status(p, "Threads:");
}

/* Adds the context switches of the live threads of pid (/proc/PID/task/TID/status) to u. */
static int
bench_usage_switches(long pid, struct bench_usage *u)
{
	char path[300];
	struct dirent *e;
	DIR *d;

	snprintf(path, sizeof(path), "/proc/%ld/task", pid);
	d = opendir(path);
	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL) {
		long long v, iv;

		if (e->d_name[0] < '0' || e->d_name[0] > '9')
			continue;
		snprintf(path, sizeof(path), "/proc/%ld/task/%.32s/status", pid, e->d_name);
		v = bench_status_field(path, "voluntary_ctxt_switches:");
		iv = bench_status_field(path, "nonvoluntary_ctxt_switches:");
		if (v < 0 || iv < 0)
			continue; /* the thread ended meanwhile */
		u->vcsw += v;
		u->ivcsw += iv;
		u->threads++;
	}
	closedir(d);
	return 0;
}

int
bench_proc_usage(const struct bench_proc *p, struct bench_usage *u)
{
	memset(u, 0, sizeof(*u));
	u->cpu_ms = bench_proc_cpu_ms(p);
	if (u->cpu_ms < 0 || bench_usage_switches((long)p->pid, u) != 0)
		return -1;
	return 0;
}

long
bench_pg_postmaster(long backend)
{
	struct bench_stat s, parent;

	if (bench_stat_read(backend, &s) != 0 || bench_stat_read(s.ppid, &parent) != 0)
		return -1;
	/* A server elsewhere (another host, a container's pid namespace) would name some
	 * unrelated local process here: only a postgres process counts. */
	return strncmp(parent.comm, "postgres", 8) == 0 || strcmp(parent.comm, "postmaster") == 0
		   ? s.ppid
		   : -1;
}

double
bench_proc_family_cpu_ms(long pid)
{
	struct bench_stat root, s;
	long long ticks;
	struct dirent *e;
	DIR *d;

	if (bench_stat_read(pid, &root) != 0 || (d = opendir("/proc")) == NULL)
		return -1;
	ticks = (long long)(root.utime + root.stime) + root.cutime + root.cstime;
	while ((e = readdir(d)) != NULL) {
		char *end;
		long child = strtol(e->d_name, &end, 10);

		if (*end == '\0' && child > 0 && bench_stat_read(child, &s) == 0 && s.ppid == pid)
			ticks += (long long)(s.utime + s.stime) + s.cutime + s.cstime;
	}
	closedir(d);
	return bench_ticks_ms(ticks);
}

int
bench_proc_raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return -1;
	rl.rlim_cur = rl.rlim_max;
	return setrlimit(RLIMIT_NOFILE, &rl);
}

void
bench_proc_log_line(const struct bench_proc *p, const char *needle, char *out, size_t outlen)
{
	char line[BENCH_PROC_LINE_MAX];
	FILE *f = fopen(p->log, "r");

	snprintf(out, outlen, "%s", "");
	if (f == NULL)
		return;
	while (fgets(line, sizeof(line), f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] != '\0' && (needle == NULL || strstr(line, needle) != NULL))
			snprintf(out, outlen, "%s", line);
	}
	fclose(f);
}

int
bench_proc_wait_file(struct bench_proc *p, const char *path, int timeout_ms, char *out,
		     size_t outlen, char *err, size_t errlen)
{
	char last[512];

	for (int waited = 0; waited < timeout_ms; waited += 20) {
		FILE *f = fopen(path, "r");

		if (f != NULL) {
			bool ok = fgets(out, (int)outlen, f) != NULL;

			fclose(f);
			out[strcspn(out, "\n")] = '\0';
			if (ok && out[0] != '\0')
				return 0;
		}
		if (!bench_proc_running(p)) {
			bench_proc_log_line(p, NULL, last, sizeof(last));
			snprintf(err, errlen, "%s exited (%d) before writing %s: %s", p->name,
				 p->status, path, last);
			return -1;
		}
		bench_sleep_ms(20);
	}
	snprintf(err, errlen, "%s did not write %s within %d ms", p->name, path, timeout_ms);
	return -1;
}
