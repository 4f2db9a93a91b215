/* worker: runs $TMPROV_TEST_BIN/tmprov-worker as a child of the test with an environment of the
 * test's choosing, on a free admin port; stops it with SIGTERM (exit status and time), kills it
 * with SIGKILL, restarts it, and reads its /readyz and /metrics. */
#ifndef TMPROV_TEST_WORKER_H
#define TMPROV_TEST_WORKER_H

#include <stddef.h>
#include <sys/types.h>

#define WORKER_ENV_MAX 64

struct worker;

/* Starts tmprov-worker. env: NULL-terminated "KEY=value" settings. The child gets the test's
 * environment without any TMPROV_ variable, plus env, plus TMPROV_ADMIN_LISTEN on a free
 * loopback port unless env sets it. Its stderr goes to $TMPROV_TEST_TMP/worker-NAME-PID-N.log.
 * Returns 0, or -1 with err (TMPROV_TEST_BIN unset, the binary missing, fork failing). Does not
 * wait for readiness: see worker_wait_ready. */
int worker_start(struct worker **out, const char *name, const char *const *env, char *err,
		 size_t errlen);
/* Starts the stopped (or killed) worker again with the same settings and a new admin port. */
int worker_restart(struct worker *w, char *err, size_t errlen);

/* Waits until GET /readyz answers 200. Returns 0, or -1 with err when the worker exits or
 * timeout_ms passes. */
int worker_wait_ready(struct worker *w, int timeout_ms, char *err, size_t errlen);

pid_t worker_pid(const struct worker *w);
int worker_admin_port(const struct worker *w);
const char *worker_log_path(const struct worker *w);
/* 1 while the child runs; 0 once it has exited (it is reaped here, its status kept). */
int worker_running(struct worker *w);

/* -1 while the child runs; once it has exited, its exit status (0-255) or 128 + the signal
 * that ended it. */
int worker_status(struct worker *w);

/* Sends sig (e.g. SIGTERM) without waiting. 0, or -1 when it is not running. */
int worker_signal(struct worker *w, int sig);
/* Waits up to deadline_ms for the child to exit. Returns its exit status (0-255), 128 + the
 * signal that ended it, or -1 when it still runs at the deadline. *elapsed_ms (may be NULL)
 * gets the time waited. */
int worker_wait(struct worker *w, int deadline_ms, long *elapsed_ms);
/* SIGTERM, then worker_wait(deadline_ms); a worker still running at the deadline is killed
 * with SIGKILL and -1 returned. */
int worker_stop(struct worker *w, int deadline_ms, long *elapsed_ms);
/* SIGKILL, and reaps it. */
void worker_kill(struct worker *w);
/* Kills a running child, frees w. NULL: no-op. */
void worker_free(struct worker *w);

/* Prints the last lines of the worker's log on stderr, to explain a failure. */
void worker_log_tail(const struct worker *w, int lines);
/* The same for every other worker started and not freed (a failure's other witnesses). */
void worker_log_tail_others(const struct worker *w, int lines);
/* The same for any log file: its last lines (at most 40) on stderr under "--- end of what log". */
void log_file_tail(const char *what, const char *path, int lines);
/* Counts the log lines containing needle. */
long worker_log_count(const struct worker *w, const char *needle);

/* GET http://127.0.0.1:PORT/path. 0 with *status and *body (malloc'd, may be NULL), or -1 when
 * there was no answer. */
int worker_admin_get(struct worker *w, const char *path, long *status, char **body);
/* The sum of the samples of metric name in /metrics whose label set contains every
 * NULL-terminated "label=\"value\"" fragment of labels (NULL: all samples). -1 when /metrics
 * does not answer 200; 0 when no sample matches. */
double worker_metric(struct worker *w, const char *name, const char *const *labels);

#endif
