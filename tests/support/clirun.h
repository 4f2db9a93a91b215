/* clirun: runs a program (bin/tmprov unless an absolute path is given) as a child of the test
 * with an environment of the test's choosing, stdin from a file or /dev/null, stdout and stderr
 * captured, and a deadline; or starts it in the background and stops it later. */
#ifndef TMPROV_TEST_CLIRUN_H
#define TMPROV_TEST_CLIRUN_H

#include <stddef.h>
#include <sys/types.h>

struct clirun {
	pid_t pid;
	int status;	 /* exit status (0-255), 128 + a signal, -1 killed at the deadline */
	char *out, *err; /* what it wrote, NUL-terminated (never NULL once finished) */
	double seconds;
	char outf[600], errf[600]; /* capture files under $TMPROV_TEST_TMP */
};

/* argv[0]: a program of $TMPROV_TEST_BIN ("tmprov") or an absolute path. env: NULL-terminated
 * "KEY=value" settings added to the test's environment, from which every TMPROV_ variable is
 * removed first (so that nothing of the shared stack leaks in), or NULL. stdin_file: NULL for
 * /dev/null. Fails the test when the program cannot be started. */
void clirun_start(struct clirun *r, const char *const *argv, const char *const *env,
		  const char *stdin_file);
/* Waits up to timeout_ms (then SIGKILL, status -1) and reads the captures. */
void clirun_wait(struct clirun *r, long timeout_ms);
/* Both: runs the program to its end. */
void clirun(struct clirun *r, const char *const *argv, const char *const *env, long timeout_ms);
/* Waits up to timeout_ms for a started program's output (fd 1: stdout, 2: stderr) to contain
 * needle. 0, or -1. */
int clirun_wait_output(const struct clirun *r, int fd, const char *needle, long timeout_ms);
/* SIGTERM to a started program, then clirun_wait. */
void clirun_stop(struct clirun *r, long timeout_ms);
void clirun_free(struct clirun *r);

/* Lines of text containing needle. */
int clirun_lines(const char *text, const char *needle);
/* Prints the command's status and captures on stderr, to explain a failed assertion. */
void clirun_dump(const struct clirun *r, const char *what);
/* Fails the test (after clirun_dump) unless the command exited with want. */
void clirun_expect_status(const struct clirun *r, int want, const char *what);
/* Fails the test (after clirun_dump) unless text (one of r's captures) contains needle. */
void clirun_expect_in(const struct clirun *r, const char *text, const char *needle,
		      const char *what);

#endif
