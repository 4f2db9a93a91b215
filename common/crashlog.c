/* crashlog: the fatal-signal backtrace of a program (see crashlog.h); it is how a crash under a
 * test (a worker ending by SIGSEGV in a fault row) shows where it happened, in the log it keeps. */
#include "crashlog.h"

#include <errno.h>
#include <execinfo.h>
#include <signal.h>
#include <stdatomic.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include "clock.h"

/* Under a sanitizer its own report takes these signals: nothing of this is built. */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define CRASHLOG_ON 1

static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
static const char *crash_program = "tmprov";
static const char *_Atomic trace_why = "";
static atomic_int traced; /* set by on_trace once the backtrace is written */

/* Only async-signal-safe calls (backtrace is primed at install so that it does not load its
 * unwinder here); the handler resets itself, so the raise ends the process by sig. */
static void
on_fatal(int sig)
{
	static const char head[] = ": fatal signal, backtrace:\n";
	void *frames[64];
	int n = backtrace(frames, 64);

	(void)!write(STDERR_FILENO, crash_program, strlen(crash_program));
	(void)!write(STDERR_FILENO, head, sizeof(head) - 1);
	backtrace_symbols_fd(frames, n, STDERR_FILENO);
	raise(sig);
}

/* n in decimal into buf (at least 21 bytes), without snprintf (not async-signal-safe). */
static size_t
decimal(long n, char *buf)
{
	char tmp[21];
	size_t len = 0, i = 0;
	unsigned long u = n < 0 ? 0UL - (unsigned long)n : (unsigned long)n;

	do
		tmp[len++] = (char)('0' + u % 10);
	while ((u /= 10) != 0);
	if (n < 0)
		buf[i++] = '-';
	while (len > 0)
		buf[i++] = tmp[--len];
	return i;
}

/* The thread asked for its backtrace: writes it where it stands ("PROGRAM: why (thread TID),
 * backtrace:"), then says so; errno as it found it. */
static void
on_trace(int sig)
{
	static const char head[] = "), backtrace:\n";
	const char *why = atomic_load(&trace_why);
	int saved = errno;
	void *frames[64];
	char tid[24];
	int n = backtrace(frames, 64);

	(void)sig;
	(void)!write(STDERR_FILENO, crash_program, strlen(crash_program));
	(void)!write(STDERR_FILENO, ": ", 2);
	(void)!write(STDERR_FILENO, why, strlen(why));
	(void)!write(STDERR_FILENO, " (thread ", 9);
	(void)!write(STDERR_FILENO, tid, decimal((long)syscall(SYS_gettid), tid));
	(void)!write(STDERR_FILENO, head, sizeof(head) - 1);
	backtrace_symbols_fd(frames, n, STDERR_FILENO);
	atomic_store(&traced, 1);
	errno = saved;
}
#endif

bool
crashlog_thread_backtrace(pthread_t t, const char *why, int wait_ms)
{
#ifndef CRASHLOG_ON
	(void)t;
	(void)why;
	(void)wait_ms;
	return false;
#else
	struct sigaction sa;
	void *prime[1];
	long until = clock_now_ms() + wait_ms;

	backtrace(prime, 1); /* loads the unwinder here, not in the handler */
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_trace;
	sa.sa_flags = SA_RESTART;
	sigemptyset(&sa.sa_mask);
	if (sigaction(CRASHLOG_TRACE_SIGNAL, &sa, NULL) != 0)
		return false;
	atomic_store(&trace_why, why);
	atomic_store(&traced, 0);
	if (pthread_kill(t, CRASHLOG_TRACE_SIGNAL) != 0)
		return false;
	while (!atomic_load(&traced) && clock_now_ms() < until) {
		struct timespec ts = {0, 5 * 1000000L};

		nanosleep(&ts, NULL);
	}
	return atomic_load(&traced) != 0;
#endif
}

void
crashlog_install(const char *program)
{
#ifndef CRASHLOG_ON
	(void)program;
#else
	struct sigaction sa;
	void *prime[1];

	crash_program = program;
	backtrace(prime, 1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
#endif
}
