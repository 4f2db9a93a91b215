/* crashlog: the fatal-signal backtrace of tmprov-devkafka (see crashlog.h); it is how a crash
 * of librdkafka's mock cluster under a test shows where it happened. */
#include "crashlog.h"

#include <execinfo.h>
#include <signal.h>
#include <string.h>
#include <unistd.h>

static const int fatal[] = {SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT};

/* Only async-signal-safe calls (backtrace is primed at install so that it does not load its
 * unwinder here); the handler resets itself, so the raise ends the process by sig. */
static void
on_fatal(int sig)
{
	static const char head[] = "tmprov-devkafka: fatal signal, backtrace:\n";
	void *frames[64];
	int n = backtrace(frames, 64);

	(void)!write(STDERR_FILENO, head, sizeof(head) - 1);
	backtrace_symbols_fd(frames, n, STDERR_FILENO);
	raise(sig);
}

void
crashlog_install(void)
{
	struct sigaction sa;
	void *prime[1];

	backtrace(prime, 1);
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_fatal;
	sa.sa_flags = SA_RESETHAND;
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(fatal) / sizeof(fatal[0]); i++)
		sigaction(fatal[i], &sa, NULL);
}
