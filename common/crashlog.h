/* crashlog: on a fatal signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT), a backtrace on stderr
 * (the program's log) before the process ends by that signal; and on demand, a stuck thread's. */
#ifndef TMPROV_CRASHLOG_H
#define TMPROV_CRASHLOG_H

#include <pthread.h>
#include <signal.h>
#include <stdbool.h>

#define CRASHLOG_TRACE_SIGNAL (SIGRTMIN + 1)

/* Installs the handler for the whole process (any thread that crashes); program names the
 * lines it writes (kept, not copied). Under a sanitizer, whose own report says more, nothing. */
void crashlog_install(const char *program);

/* Writes thread t's backtrace on stderr under the line "PROGRAM: why (thread TID), backtrace:",
 * through a signal (CRASHLOG_TRACE_SIGNAL) that t serves wherever it is (a blocking call it is
 * in may return EINTR), and waits until it is written or wait_ms passed (backtrace() may block
 * in a handler, on a loader lock the thread holds: the wait bounds that). For a thread that
 * will not come back (the exit guard's shutdown): one caller at a time, once per process; why
 * must outlive the call (a static string). Returns whether it was written; false under a
 * sanitizer (nothing is sent), when t has the signal blocked or is gone. */
bool crashlog_thread_backtrace(pthread_t t, const char *why, int wait_ms);

#endif
