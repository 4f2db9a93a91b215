/* Unit tests of workers/worker/exitguard: a guard left armed past its bound calls its exit
 * function once, with the status given, naming the step under way, after the backtrace of the
 * thread that armed it; a guard disarmed in time never does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "../../workers/worker/exitguard.h"
#include "clock.h"

static atomic_int calls, last_status = -1;

static void
fake_exit(int status)
{
	atomic_fetch_add(&calls, 1);
	atomic_store(&last_status, status);
}

static void
sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};

	nanosleep(&ts, NULL);
}

static void
test_expires_once(void **state)
{
	struct exitguard *g;
	long deadline;

	(void)state;
	atomic_store(&calls, 0);
	g = exitguard_arm(clock_now_ms() + 50, 3, fake_exit);
	assert_non_null(g);
	exitguard_step(g, "the consumer's close");
	deadline = clock_now_ms() + 5000;
	while (atomic_load(&calls) == 0 && clock_now_ms() < deadline)
		sleep_ms(10);
	assert_int_equal(atomic_load(&calls), 1);
	assert_int_equal(atomic_load(&last_status), 3); /* the status given */
	assert_true(exitguard_expired(g));
	exitguard_disarm(g);
	assert_int_equal(atomic_load(&calls), 1);
}

/* Reads the file at path whole (NUL-terminated; the caller frees). */
static char *
slurp(const char *path)
{
	FILE *f = fopen(path, "r");
	char *text = calloc(1, 65536);
	size_t n;

	assert_non_null(f);
	assert_non_null(text);
	n = fread(text, 1, 65535, f);
	text[n] = '\0';
	fclose(f);
	return text;
}

/* The thread that armed the guard (here: this one, "stuck" in its wait loop) writes where it
 * is into the log (stderr) before the exit: the header naming it, then its frames. */
static void
test_backtrace_of_stuck_thread(void **state)
{
	char head[128], path[] = "/tmp/test_exitguard.XXXXXX";
	int fd = mkstemp(path), saved = dup(STDERR_FILENO);
	struct exitguard *g;
	long deadline;
	char *text, *at;

	(void)state;
	/* This thread's, not the guard's own: the signal went to the thread that armed it. */
	snprintf(head, sizeof(head),
		 "the shutdown's thread past its bound (thread %ld), backtrace:\n",
		 (long)syscall(SYS_gettid));
	assert_true(fd >= 0 && saved >= 0);
	assert_true(dup2(fd, STDERR_FILENO) >= 0);
	atomic_store(&calls, 0);
	g = exitguard_arm(clock_now_ms() + 50, 0, fake_exit);
	assert_non_null(g);
	deadline = clock_now_ms() + 5000;
	while (atomic_load(&calls) == 0 && clock_now_ms() < deadline)
		sleep_ms(10);
	exitguard_disarm(g);
	fflush(stderr);
	assert_true(dup2(saved, STDERR_FILENO) >= 0);
	close(saved);
	close(fd);
	text = slurp(path);
	unlink(path);
	assert_int_equal(atomic_load(&calls), 1);
	at = strstr(text, head);
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
	/* The sanitizer's own reports own the signals: nothing is sent (crashlog.h). */
	assert_null(at);
#else
	if (at == NULL)
		fail_msg("no backtrace in the log: %s", text);
	at += strlen(head);
	/* At least one frame line follows the header. */
	assert_true(at[0] != '\0' && strchr(at, '\n') != NULL && strchr(at, '\n') > at);
#endif
	free(text);
}

static void
test_disarmed_in_time(void **state)
{
	struct exitguard *g;

	(void)state;
	atomic_store(&calls, 0);
	g = exitguard_arm(clock_now_ms() + 300, 0, fake_exit);
	assert_non_null(g);
	sleep_ms(20);
	assert_false(exitguard_expired(g));
	exitguard_disarm(g);
	sleep_ms(400);
	assert_int_equal(atomic_load(&calls), 0);
}

static void
test_null_is_noop(void **state)
{
	(void)state;
	exitguard_step(NULL, "x");
	assert_false(exitguard_expired(NULL));
	exitguard_disarm(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_expires_once),
	    cmocka_unit_test(test_backtrace_of_stuck_thread),
	    cmocka_unit_test(test_disarmed_in_time),
	    cmocka_unit_test(test_null_is_noop),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
