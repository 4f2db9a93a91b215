/* crashlog: on a fatal signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT), a backtrace on
 * stderr (the broker's log) before the process ends by that signal, as it would have. */
#ifndef TMPROV_DEVKAFKA_CRASHLOG_H
#define TMPROV_DEVKAFKA_CRASHLOG_H

/* Installs the handler for the whole process (any thread that crashes). */
void crashlog_install(void);

#endif
