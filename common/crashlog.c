/* crashlog: the fatal-signal backtrace of a program (see crashlog.h); it is how a crash under a
 * test (a worker ending by SIGSEGV in a fault row) shows where it happened, in the log it keeps. */
#include "crashlog.h"

#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

/* Under a sanitizer its own report takes these signals: nothing of this is built. */
#if !defined(__SANITIZE_ADDRESS__) && !defined(__SANITIZE_THREAD__)
#define CRASHLOG_ON 1

static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};
static const char *crash_program = "tmprov";

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
#endif

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
