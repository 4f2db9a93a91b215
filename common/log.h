/* log: structured logging, one JSON object per line on stderr.
 * Callers never pass secrets: they redact before formatting. */
#ifndef TMPROV_LOG_H
#define TMPROV_LOG_H

#include <stdbool.h>

enum log_level { LOG_DEBUG = 0, LOG_INFO, LOG_WARN, LOG_ERROR };

/* program: name in every line; level: lines below it are dropped. */
void log_init(const char *program, enum log_level level);
/* Changes the level (a reload); safe while other threads log. */
void log_set_level(enum log_level level);
/* Parses "debug", "info", "warn", "error"; returns 0 or -1. */
int log_level_parse(const char *name, enum log_level *out);
/* Whether lines of level are written: for a caller whose line costs work to prepare. */
bool log_enabled(enum log_level level);

void log_debug(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_warn(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void log_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* The context of the calling thread's lines: what it is working on, written as fields of every
 * JSON line it logs ("command_id", "subject", "type", "partition", "offset", "trace_id") until
 * log_ctx_clear. Strings are borrowed: they must live until the context is cleared or replaced.
 * NULL strings and a partition below 0 are left out. A pool thread sets it when it takes a job
 * and clears it after; the consumer thread sets the position while it handles a message. */
struct log_ctx {
	const char *command_id;
	const char *subject;
	const char *type;
	const char *trace_id;
	int partition; /* < 0: unknown (offset is then left out too) */
	long long offset;
};
void log_ctx_set(const struct log_ctx *ctx);
/* The calling thread's context (a fiber keeps its own across a park: fiber.h). */
void log_ctx_get(struct log_ctx *out);
/* Only the Kafka position, nothing else known yet. */
void log_ctx_position(int partition, long long offset);
void log_ctx_clear(void);

/* Start-up failure: logs at error level and exits 1. */
void fatal(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

#endif
