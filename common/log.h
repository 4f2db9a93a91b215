/* log: structured logging, one JSON object per line on stderr.
 * Callers never pass secrets: they redact before formatting. */
#ifndef TMPROV_LOG_H
#define TMPROV_LOG_H

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* program: name in every line; level: lines below it are dropped. */
void log_init(const char *program, enum log_level level);
/* Changes the level (a reload); safe while other threads log. */
void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn", "error"; returns 0 or -1. */
int log_level_parse(const char *name, enum log_level *out);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Start-up failure: logs at error level and exits 1. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
