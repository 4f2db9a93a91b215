/* bench_proc: the programs a benchmark round runs beside itself — tmprov-devkafka, tmprov-worker,
 * tmprov-callback, wrk — started from the directory tmprov itself lives in (or PATH), with an
 * environment of the round's choosing, their output in a log file; stopped, and what they used
 * (peak memory, threads, CPU, context switches) read from /proc. */
#ifndef TMPROV_BENCH_PROC_H
#define TMPROV_BENCH_PROC_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define BENCH_PROC_ENV_MAX 48

struct bench_proc {
	char name[32];
	pid_t pid; /* 0: not running */
	int status;
	char log[512]; /* stdout and stderr */
};

/* The scratch folder of a round ($TMPDIR/tmprov-bench.XXXXXX); 0 or -1 with err. */
int bench_proc_tmpdir(char *dir, size_t dirlen, char *err, size_t errlen);
/* Removes dir and the files in it (not sub-folders). */
void bench_proc_rmdir(const char *dir);
/* Path of program name beside the running tmprov (bin/), into out. 0, or -1 when it is not
 * there. */
int bench_proc_sibling(const char *name, char *out, size_t outlen, char *err, size_t errlen);

/* Starts argv[0] (a path: nothing is looked up in PATH) with this process's environment (so the
 * configured TMPROV_ settings, such as the hash cost, reach it) less TMSIM_ variables, with env
 * ("KEY=value", NULL-terminated) set over it; stdout and stderr to DIR/NAME.log; in a process
 * group of its own. 0, or -1 with err. */
int bench_proc_start(struct bench_proc *p, const char *name, const char *dir, char *const argv[],
		     const char *const *env, char *err, size_t errlen);
/* true while it runs (reaps it once it has exited). */
bool bench_proc_running(struct bench_proc *p);

/* SIGTERM, SIGINT and SIGHUP end tmprov-bench with its children: every process group started
 * and not yet reaped is killed (SIGKILL) before the signal takes its default course. Each
 * child has a group of its own, so a signal to tmprov-bench alone (bench.sh's timeout) would
 * otherwise leave its workers and broker running. */
void bench_proc_handle_signals(void);
/* Waits up to timeout_ms for it to exit by itself; its exit status (128 + signal when killed),
 * or -1 at the timeout. */
int bench_proc_wait(struct bench_proc *p, int timeout_ms);
/* SIGTERM, up to timeout_ms, then SIGKILL; returns as bench_proc_wait (-1: killed). Not
 * running: its status. */
int bench_proc_stop(struct bench_proc *p, int timeout_ms);
/* CPU time it has used (user + system, every thread, ended ones too), in milliseconds, or -1
 * when it cannot be read. */
double bench_proc_cpu_ms(const struct bench_proc *p);
/* Peak resident memory (VmHWM) in KiB, or -1 when it cannot be read. */
long bench_proc_peak_kib(const struct bench_proc *p);
/* Its threads now, or -1 when it cannot be read. */
long bench_proc_threads(const struct bench_proc *p);

/* What a process has used so far. Context switches are counted over its live threads only
 * (Linux keeps an ended thread's in no file a parent can read before the process exits), so a
 * difference of two readings is exact for threads that live throughout, as a pool's do. */
struct bench_usage {
	double cpu_ms;	       /* user + system of every thread (/proc/PID/stat) */
	long long vcsw, ivcsw; /* voluntary, involuntary switches (/proc/PID/task/TID/status) */
	long threads;	       /* its threads when read */
};
/* 0, or -1 when it cannot be read. */
int bench_proc_usage(const struct bench_proc *p, struct bench_usage *u);
/* The postmaster of the PostgreSQL backend whose pid is backend (PQbackendPID), when it is a
 * process of this machine named postgres; -1 otherwise. */
long bench_pg_postmaster(long backend);
/* CPU time, in milliseconds, of process pid, of the children it has reaped and of its live
 * children (for a postmaster: all of PostgreSQL, backends, autovacuum and writers included);
 * -1 when it cannot be read. */
double bench_proc_family_cpu_ms(long pid);
/* Raises this process's soft limit of open files to the hard one, for the children it starts
 * (a worker at concurrency 1024 holds over a thousand sockets). 0 or -1. */
int bench_proc_raise_nofile(void);
/* The last non-empty line of its log holding needle (NULL: any) into out ("" when none). */
void bench_proc_log_line(const struct bench_proc *p, const char *needle, char *out, size_t outlen);
/* Waits up to timeout_ms for file path to be non-empty, reads its first line into out. 0, or
 * -1 with err (also when p exits first). */
int bench_proc_wait_file(struct bench_proc *p, const char *path, int timeout_ms, char *out,
			 size_t outlen, char *err, size_t errlen);
/* Sleeps ms milliseconds. */
void bench_sleep_ms(long ms);

#endif
