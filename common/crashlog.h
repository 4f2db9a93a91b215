/* crashlog: on a fatal signal (SIGSEGV, SIGBUS, SIGILL, SIGFPE, SIGABRT), a backtrace on stderr
 * (the program's log) before the process ends by that signal, as it would have. */
#ifndef TMPROV_CRASHLOG_H
#define TMPROV_CRASHLOG_H

/* Installs the handler for the whole process (any thread that crashes); program names the
 * lines it writes (kept, not copied). Under a sanitizer, whose own report says more, nothing. */
void crashlog_install(const char *program);

#endif
